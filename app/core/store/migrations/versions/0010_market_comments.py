"""comments on marketplace offers and orders, from either linked site (issue 18)

Revision ID: 0010_market_comments
Revises: 0009_market
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_market_comments"
down_revision = "0009_market"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_comments",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("site_id", sa.String(length=72), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_market_comments_subject", "market_comments", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_market_comments_subject", table_name="market_comments")
    op.drop_table("market_comments")
