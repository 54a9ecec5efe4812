"""Training data (issue 15): one row per finished job, with what was known before it started and what happened.
Same ``metadata`` as the core schema."""

from __future__ import annotations

import sqlalchemy as sa

from app.core.store.schema import metadata

learning_jobs = sa.Table(
    "learning_jobs", metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("machine", sa.String(200), nullable=False, index=True),
    sa.Column("process", sa.String(32), nullable=False),
    sa.Column("material", sa.String(64), nullable=False),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("finished_at", sa.Double, nullable=False, index=True),
    sa.Column("duration_s", sa.Double, nullable=False),
    sa.Column("energy_kwh", sa.Double, nullable=False),
    sa.Column("material_g", sa.Double, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("features", sa.JSON, nullable=False),  # known before start, see app/core/learning/features.py
    sa.Column("telemetry", sa.JSON, nullable=False),  # summary of the run
    sa.Column("source", sa.String(16), nullable=False),  # site | simulated
)
