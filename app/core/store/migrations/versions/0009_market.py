"""part files sent with offloads, and the marketplace between linked sites (issue 18): offers, orders with their
quotes, and the ledger of amounts owed

Revision ID: 0009_market
Revises: 0008_people
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_market"
down_revision = "0008_people"
branch_labels = None
depends_on = None

ID = sa.String(length=36)
SITE_ID = sa.String(length=72)
KEY = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "site_file_chunks",
        sa.Column("peer_id", SITE_ID, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pos", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("peer_id", "sha256", "pos"),
    )
    op.create_table(
        "market_offers",
        sa.Column("site_id", SITE_ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("process", sa.String(length=40), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("price_per_hour", sa.Double(), nullable=True),
        sa.Column("price_per_part", sa.Double(), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("lead_time_h", sa.Double(), nullable=True),
        sa.Column("item", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("to_sites", sa.JSON(), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "id"),
    )
    op.create_index("ix_market_offers_kind", "market_offers", ["kind"])
    op.create_table(
        "market_orders",
        sa.Column("key", KEY, nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("peer_id", SITE_ID, nullable=False),
        sa.Column("offer_id", ID, nullable=False),
        sa.Column("offer_name", sa.String(length=200), nullable=False),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("job_name", sa.String(length=200), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("hours", sa.Double(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Double(), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("valid_until", sa.Double(), nullable=True),
        sa.Column("due_at", sa.Double(), nullable=True),
        sa.Column("offload_key", KEY, nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_market_orders_peer_id", "market_orders", ["peer_id"])
    op.create_index("ix_market_orders_offload_key", "market_orders", ["offload_key"])
    op.create_table(
        "market_ledger",
        sa.Column("order_key", KEY, nullable=False),
        sa.Column("entry", sa.String(length=12), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("peer_id", SITE_ID, nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("order_key", "entry"),
    )


def downgrade() -> None:
    op.drop_table("market_ledger")
    op.drop_index("ix_market_orders_offload_key", table_name="market_orders")
    op.drop_index("ix_market_orders_peer_id", table_name="market_orders")
    op.drop_table("market_orders")
    op.drop_index("ix_market_offers_kind", table_name="market_offers")
    op.drop_table("market_offers")
    op.drop_table("site_file_chunks")
