"""Tables of part files sent over site links and of the marketplace between linked sites (issue 18).
Same ``metadata`` as the core schema."""

from __future__ import annotations

import sqlalchemy as sa

from app.core.store.schema import ID, metadata
from app.core.store.schema_sites import KEY, SITE_ID

# Pieces of part files received from a linked site, kept until the offload that names the file arrives; then the
# file is put together, checked against its SHA-256 and written to the home's received/ folder.
site_file_chunks = sa.Table(
    "site_file_chunks", metadata,
    sa.Column("peer_id", SITE_ID, primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),  # of the whole file
    sa.Column("pos", sa.BigInteger, primary_key=True),  # byte offset of the piece
    sa.Column("size", sa.BigInteger, nullable=False),  # of the whole file
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("received_at", sa.Double, nullable=False),
)

# What a site offers (its own rows: site_id is ours, to_sites says to whom) and what linked sites offer it.
market_offers = sa.Table(
    "market_offers", metadata,
    sa.Column("site_id", SITE_ID, primary_key=True),  # the site that offers it
    sa.Column("id", ID, primary_key=True),
    sa.Column("kind", sa.String(12), nullable=False),  # capacity, template or playbook
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("process", sa.String(40), nullable=False, default=""),
    sa.Column("material", sa.String(40), nullable=False, default=""),
    sa.Column("price_per_hour", sa.Double),
    sa.Column("price_per_part", sa.Double),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("lead_time_h", sa.Double),  # promised time from order to done
    sa.Column("item", sa.JSON, nullable=False),  # the template or playbook itself; {} for capacity
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("to_sites", sa.JSON, nullable=False),  # our own offers: the sites they are published to
    sa.Column("withdrawn", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index("ix_market_offers_kind", "kind"),
)

# One order (and the quote before it) as each side sees it: "buy" at the buyer, "sell" at the seller.
market_orders = sa.Table(
    "market_orders", metadata,
    sa.Column("key", KEY, primary_key=True),  # the quote's key: the same at both sites
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("peer_id", SITE_ID, nullable=False, index=True),
    sa.Column("offer_id", ID, nullable=False),
    sa.Column("offer_name", sa.String(200), nullable=False),
    sa.Column("job_id", ID),  # the buyer's job (buy) or the job made here (sell, once ordered)
    sa.Column("job_name", sa.String(200), nullable=False, default=""),
    sa.Column("parts", sa.Integer, nullable=False),
    sa.Column("hours", sa.Double, nullable=False),
    # QUOTE_ASKED, QUOTED, REFUSED, ORDERED, then the offload's state (COMPLETED, FAILED, CANCELLED, REJECTED)
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("amount", sa.Double),
    sa.Column("currency", sa.String(8), nullable=False, default=""),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("valid_until", sa.Double),
    sa.Column("due_at", sa.Double),
    sa.Column("offload_key", KEY, index=True),
    sa.Column("rating", sa.Integer),
    sa.Column("rating_note", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

# Amounts owed, one entry per order and event, at both sites: positive is owed by the buyer to the seller.
market_ledger = sa.Table(
    "market_ledger", metadata,
    sa.Column("order_key", KEY, primary_key=True),
    sa.Column("entry", sa.String(12), primary_key=True),  # ordered, reversed
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("peer_id", SITE_ID, nullable=False),
    sa.Column("amount", sa.Double, nullable=False),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
)

# Comments on what two sites share in the marketplace (an offer, an order), from either side: who and when.
market_comments = sa.Table(
    "market_comments", metadata,
    sa.Column("key", KEY, primary_key=True),
    sa.Column("subject", sa.String(80), nullable=False, index=True),  # "offer:<offer id>" or "order:<key>"
    sa.Column("site_id", SITE_ID, nullable=False),  # the site it was written at
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
)
