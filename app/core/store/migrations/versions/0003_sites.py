"""site links: allow list, outbox, inbox, offloads, shared items, comments, summaries

Revision ID: 0003_sites
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_sites"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

SITE_ID = sa.String(length=72)
KEY = sa.String(length=64)
ID = sa.String(length=36)


def upgrade() -> None:
    op.create_table(
        "site_peers",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("cert_der", sa.LargeBinary(), nullable=True),
        sa.Column("added_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.Double(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("site_id"),
    )
    op.create_index("ix_site_peers_state", "site_peers", ["state"])
    op.create_table(
        "site_outbox",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("peer_id", SITE_ID, nullable=False),
        sa.Column("key", KEY, nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("acked_at", sa.Double(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_site_outbox_peer_acked", "site_outbox", ["peer_id", "acked_at"])
    op.create_table(
        "site_inbox",
        sa.Column("peer_id", SITE_ID, nullable=False),
        sa.Column("key", KEY, nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("peer_id", "key"),
    )
    op.create_table(
        "site_offloads",
        sa.Column("key", KEY, nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("peer_id", SITE_ID, nullable=False),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("remote_job_id", ID, nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("part_states", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_site_offloads_peer_id", "site_offloads", ["peer_id"])
    op.create_index("ix_site_offloads_job", "site_offloads", ["job_id"])
    op.create_table(
        "site_shared",
        sa.Column("peer_id", SITE_ID, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("item_id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("peer_id", "kind", "item_id"),
    )
    op.create_table(
        "site_comments",
        sa.Column("key", KEY, nullable=False),
        sa.Column("offload_key", KEY, nullable=False),
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_site_comments_offload_key", "site_comments", ["offload_key"])
    op.create_table(
        "site_summaries",
        sa.Column("peer_id", SITE_ID, nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("peer_id"),
    )


def downgrade() -> None:
    for name in ("site_summaries", "site_comments", "site_shared", "site_offloads", "site_inbox", "site_outbox",
                 "site_peers"):
        op.drop_table(name)
