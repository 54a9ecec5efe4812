"""Tables of the site links (issue 8): allow list, persistent outbox, inbox dedup, offloads, shared items,
comments and the last summary each linked site published. Same ``metadata`` as the core schema."""

from __future__ import annotations

import sqlalchemy as sa

from app.core.store.schema import ID, metadata

SITE_ID = sa.String(72)  # the grouped, check-charactered form of a certificate fingerprint
KEY = sa.String(64)  # idempotency keys

site_peers = sa.Table(
    "site_peers", metadata,
    sa.Column("site_id", SITE_ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("address", sa.String(300), nullable=False, default=""),
    # allowed: may connect; pending: tried to connect, not accepted yet; revoked: refused for good
    sa.Column("state", sa.String(12), nullable=False, index=True),
    sa.Column("cert_der", sa.LargeBinary),  # pinned once seen; its SHA-256 is the site id
    sa.Column("added_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("last_seen", sa.Double),
    sa.Column("latency_ms", sa.Double),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_attempt_at", sa.Double),
    sa.Column("last_error", sa.Text, nullable=False, default=""),
)

site_outbox = sa.Table(
    "site_outbox", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("peer_id", SITE_ID, nullable=False),
    sa.Column("key", KEY, nullable=False, unique=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("acked_at", sa.Double),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Index("ix_site_outbox_peer_acked", "peer_id", "acked_at"),
)

site_inbox = sa.Table(
    "site_inbox", metadata,
    sa.Column("peer_id", SITE_ID, primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("received_at", sa.Double, nullable=False),
)

site_offloads = sa.Table(
    "site_offloads", metadata,
    sa.Column("key", KEY, primary_key=True),
    sa.Column("direction", sa.String(3), nullable=False),  # "out": we sent it; "in": we run it
    sa.Column("peer_id", SITE_ID, nullable=False, index=True),
    sa.Column("job_id", ID),  # our job: the original (out) or the one made here (in)
    sa.Column("remote_job_id", ID),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("parts", sa.JSON, nullable=False),  # part indices sent
    sa.Column("state", sa.String(20), nullable=False),  # PENDING, REJECTED or a JobState value
    sa.Column("part_states", sa.JSON, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("version", sa.Integer, nullable=False, default=0),  # status version, grows on the running side
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index("ix_site_offloads_job", "job_id"),
)

site_shared = sa.Table(
    "site_shared", metadata,
    sa.Column("peer_id", SITE_ID, primary_key=True),  # who shared it (our own id for what we shared)
    sa.Column("kind", sa.String(12), primary_key=True),  # template or playbook
    sa.Column("item_id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("received_at", sa.Double, nullable=False),
)

site_comments = sa.Table(
    "site_comments", metadata,
    sa.Column("key", KEY, primary_key=True),
    sa.Column("offload_key", KEY, nullable=False, index=True),
    sa.Column("site_id", SITE_ID, nullable=False),  # the site that wrote it
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
)

site_summaries = sa.Table(
    "site_summaries", metadata,
    sa.Column("peer_id", SITE_ID, primary_key=True),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("received_at", sa.Double, nullable=False),
)

# Differential privacy of what a site publishes (issue 11): each noisy quantity is drawn once per period and kept,
# so publishing it again (to any site, after any restart) reveals nothing new ...
site_dp_values = sa.Table(
    "site_dp_values", metadata,
    sa.Column("quantity", sa.String(120), primary_key=True),  # e.g. "machines:fdm:IDLE"
    sa.Column("period", sa.Integer, primary_key=True),  # index of the period (0 for values kept for good)
    sa.Column("value", sa.JSON, nullable=False),  # the noisy value as published (a number, or [lat, lon])
    sa.Column("epsilon", sa.Double, nullable=False),
    sa.Column("drawn_at", sa.Double, nullable=False),
)

# ... and each linked site's daily epsilon budget is charged once for each value it is shown.
site_dp_spent = sa.Table(
    "site_dp_spent", metadata,
    sa.Column("peer_id", SITE_ID, primary_key=True),
    sa.Column("quantity", sa.String(120), primary_key=True),
    sa.Column("period", sa.Integer, primary_key=True),
    sa.Column("day", sa.Integer, nullable=False),  # UTC day number the budget is charged to
    sa.Column("epsilon", sa.Double, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Index("ix_site_dp_spent_peer_day", "peer_id", "day"),
)
