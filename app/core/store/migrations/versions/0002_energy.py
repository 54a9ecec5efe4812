"""energy flows and usage

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


def downgrade() -> None:
    op.drop_table("energy_usage")
    op.drop_table("energy_flows")
