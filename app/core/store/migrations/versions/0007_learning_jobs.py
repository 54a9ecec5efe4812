"""training data for the learned estimates (issue 15)

Revision ID: 0007_learning_jobs
Revises: 0006_part_notes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_learning_jobs"
down_revision = "0006_part_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learning_jobs",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("machine", sa.String(length=200), nullable=False),
        sa.Column("process", sa.String(length=32), nullable=False),
        sa.Column("material", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("finished_at", sa.Double(), nullable=False),
        sa.Column("duration_s", sa.Double(), nullable=False),
        sa.Column("energy_kwh", sa.Double(), nullable=False),
        sa.Column("material_g", sa.Double(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("telemetry", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )
    op.create_index("ix_learning_jobs_machine", "learning_jobs", ["machine"])
    op.create_index("ix_learning_jobs_finished_at", "learning_jobs", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_learning_jobs_finished_at", table_name="learning_jobs")
    op.drop_index("ix_learning_jobs_machine", table_name="learning_jobs")
    op.drop_table("learning_jobs")
