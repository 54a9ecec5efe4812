"""Design review notes (issue 13): a reviewer's remark pinned to a point on a part.

A note belongs to the part's file (``part_key``, the SHA-256 of its bytes, so reopening the same file finds its
notes wherever it lies) and, once the part is sent to production, to the stored part and its job as well.
Same ``metadata`` as the core schema."""

from __future__ import annotations

import sqlalchemy as sa

from app.core.store.schema import ID, metadata

part_notes = sa.Table(
    "part_notes", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("part_key", sa.String(64), nullable=False, index=True),
    sa.Column("file_name", sa.String(300), nullable=False, default=""),
    sa.Column("part_id", ID, sa.ForeignKey("parts.id", ondelete="SET NULL"), index=True),
    sa.Column("job_id", ID, sa.ForeignKey("jobs.id", ondelete="SET NULL")),
    # the point in the file's own coordinates and units (so it stays on the part in any orientation)
    sa.Column("x", sa.Double, nullable=False),
    sa.Column("y", sa.Double, nullable=False),
    sa.Column("z", sa.Double, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),  # open | resolved
    sa.Column("resolved_at", sa.Double),
    sa.Column("resolved_by", sa.String(100)),
)
