"""Energy tables (migration 0002_energy): the site's flows per step and kWh/cost/CO2 per machine, job, part
and day, plus two time indexes on the telemetry tables. Times are UTC epoch seconds; days are local dates
(YYYY-MM-DD) of the site's grid time zone."""

from __future__ import annotations

import sqlalchemy as sa

from app.core.store.schema import ID, metadata, telemetry_raw, telemetry_rollup

energy_flows = sa.Table(
    "energy_flows", metadata,
    sa.Column("at", sa.Double, primary_key=True),  # end of the step
    sa.Column("dt_s", sa.Double, nullable=False),
    sa.Column("load_kw", sa.Double, nullable=False),
    sa.Column("solar_kw", sa.Double, nullable=False),  # to load and battery
    sa.Column("curtailed_kw", sa.Double, nullable=False),
    sa.Column("battery_kw", sa.Double, nullable=False),  # + discharging, - charging
    sa.Column("grid_kw", sa.Double, nullable=False),  # to load and battery
    sa.Column("fuel_kw", sa.Double, nullable=False),
    sa.Column("unserved_kw", sa.Double, nullable=False),
    sa.Column("soc", sa.Double),
    sa.Column("price", sa.Double, nullable=False),
    sa.Column("carbon", sa.Double, nullable=False),
    sa.Column("cost", sa.Double, nullable=False),
    sa.Column("co2_g", sa.Double, nullable=False),
)

energy_usage = sa.Table(
    "energy_usage", metadata,
    sa.Column("kind", sa.String(8), primary_key=True),  # site, node, job, part
    sa.Column("ref_id", ID, primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("kwh", sa.Double, nullable=False),
    sa.Column("cost", sa.Double, nullable=False),
    sa.Column("co2_g", sa.Double, nullable=False),
)

# Added by 0002_energy to the telemetry tables of 0001 (retention by time, rollup merges by minute).
ix_telemetry_raw_ts = sa.Index("ix_telemetry_raw_ts", telemetry_raw.c.ts)
ix_telemetry_rollup_minute = sa.Index("ix_telemetry_rollup_minute", telemetry_rollup.c.minute)
