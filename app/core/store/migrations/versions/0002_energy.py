"""energy flows and usage; time indexes for telemetry retention and rollup merges

Revision ID: 0002_energy
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_energy"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "energy_flows",
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("dt_s", sa.Double(), nullable=False),
        sa.Column("load_kw", sa.Double(), nullable=False),
        sa.Column("solar_kw", sa.Double(), nullable=False),
        sa.Column("curtailed_kw", sa.Double(), nullable=False),
        sa.Column("battery_kw", sa.Double(), nullable=False),
        sa.Column("grid_kw", sa.Double(), nullable=False),
        sa.Column("fuel_kw", sa.Double(), nullable=False),
        sa.Column("unserved_kw", sa.Double(), nullable=False),
        sa.Column("soc", sa.Double(), nullable=True),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("carbon", sa.Double(), nullable=False),
        sa.Column("cost", sa.Double(), nullable=False),
        sa.Column("co2_g", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("at"),
    )
    op.create_table(
        "energy_usage",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("ref_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("kwh", sa.Double(), nullable=False),
        sa.Column("cost", sa.Double(), nullable=False),
        sa.Column("co2_g", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref_id", "day"),
    )


    # Retention deletes by time and rollup merges look up by minute: without these both scan whole tables
    # (the existing indexes start with node_id).
    op.create_index("ix_telemetry_raw_ts", "telemetry_raw", ["ts"])
    op.create_index("ix_telemetry_rollup_minute", "telemetry_rollup", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_telemetry_rollup_minute", table_name="telemetry_rollup")
    op.drop_index("ix_telemetry_raw_ts", table_name="telemetry_raw")
    op.drop_table("energy_usage")
    op.drop_table("energy_flows")
