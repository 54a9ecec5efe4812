"""differential privacy of site summaries: noisy values kept per period, epsilon spent per linked site and day

Revision ID: 0005_site_privacy
Revises: 0004_merge_heads
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_site_privacy"
down_revision = "0004_merge_heads"
branch_labels = None
depends_on = None

SITE_ID = sa.String(length=72)


def upgrade() -> None:
    op.create_table(
        "site_dp_values",
        sa.Column("quantity", sa.String(length=120), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("epsilon", sa.Double(), nullable=False),
        sa.Column("drawn_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("quantity", "period"),
    )
    op.create_table(
        "site_dp_spent",
        sa.Column("peer_id", SITE_ID, nullable=False),
        sa.Column("quantity", sa.String(length=120), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("epsilon", sa.Double(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("peer_id", "quantity", "period"),
    )
    op.create_index("ix_site_dp_spent_peer_day", "site_dp_spent", ["peer_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_site_dp_spent_peer_day", table_name="site_dp_spent")
    op.drop_table("site_dp_spent")
    op.drop_table("site_dp_values")
