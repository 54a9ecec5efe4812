"""design review notes pinned to a point on a part (issue 13)

Revision ID: 0006_part_notes
Revises: 0005_site_privacy
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_part_notes"
down_revision = "0005_site_privacy"
branch_labels = None
depends_on = None

ID = sa.String(length=36)


def upgrade() -> None:
    op.create_table(
        "part_notes",
        sa.Column("id", ID, nullable=False),
        sa.Column("part_key", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=False),
        sa.Column("part_id", ID, nullable=True),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("x", sa.Double(), nullable=False),
        sa.Column("y", sa.Double(), nullable=False),
        sa.Column("z", sa.Double(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["part_id"], ["parts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_part_notes_part_key", "part_notes", ["part_key"])
    op.create_index("ix_part_notes_part_id", "part_notes", ["part_id"])


def downgrade() -> None:
    op.drop_index("ix_part_notes_part_id", table_name="part_notes")
    op.drop_index("ix_part_notes_part_key", table_name="part_notes")
    op.drop_table("part_notes")
