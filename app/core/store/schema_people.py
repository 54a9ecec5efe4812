"""People tables (issue 14): API keys (stored as a hash, never in clear) and the head of the audit hash chain."""

from __future__ import annotations

import sqlalchemy as sa

from app.core.store.schema import ID, metadata

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),  # shown in lists so a person can tell keys apart
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double),
    sa.Column("revoked_at", sa.Double),
    sa.Column("last_used_at", sa.Double),
)

# One row: the hash of the newest audit record. Writers lock it (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
# BEGIN IMMEDIATE already serialises writers) so the chain stays one line under concurrent writers, and removing
# the newest records shows as a head that no record carries.
audit_chain_head = sa.Table(
    "audit_chain_head", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
)
