"""Energy tables: flows per step and usage per machine/job/part/day (SQLAlchemy Core, SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.core.energy.accounting import Usage, UsageKey
from app.core.energy.manager import StepRecord
from app.core.store import schema_energy as te


@dataclass(frozen=True, slots=True)
class FlowRow:
    at: float
    dt_s: float
    load_kw: float
    solar_kw: float
    curtailed_kw: float
    battery_kw: float
    grid_kw: float
    fuel_kw: float
    unserved_kw: float
    soc: float | None
    price: float
    carbon: float
    cost: float
    co2_g: float


def flow_row(rec: StepRecord) -> dict:
    f = rec.flows
    return {"at": rec.at.timestamp(), "dt_s": rec.dt_s, "load_kw": f.load, "solar_kw": f.solar,
            "curtailed_kw": f.solar_curtailed, "battery_kw": f.battery_net, "grid_kw": f.grid,
            "fuel_kw": f.fuel_to_load, "unserved_kw": f.unserved, "soc": rec.soc, "price": rec.price,
            "carbon": rec.carbon, "cost": rec.cost, "co2_g": rec.co2_g}


def week_days(day: date) -> tuple[str, str]:
    """First and last day (ISO, Monday to Sunday) of the week holding ``day``."""
    monday = day - timedelta(days=day.weekday())
    return monday.isoformat(), (monday + timedelta(days=6)).isoformat()


class EnergyRepo:
    def add_flows(self, conn: Connection, rows: Sequence[dict]) -> None:
        if rows:
            conn.execute(te.energy_flows.insert(), list(rows))

    def flows(self, conn: Connection, start: float | None = None, end: float | None = None) -> list[FlowRow]:
        t = te.energy_flows
        q = sa.select(t).order_by(t.c.at)
        if start is not None:
            q = q.where(t.c.at > start)
        if end is not None:
            q = q.where(t.c.at <= end)
        return [FlowRow(*r) for r in conn.execute(q)]

    def last_flow(self, conn: Connection) -> FlowRow | None:
        t = te.energy_flows
        r = conn.execute(sa.select(t).order_by(t.c.at.desc()).limit(1)).first()
        return None if r is None else FlowRow(*r)

    def add_usage(self, conn: Connection, usage: dict[UsageKey, Usage]) -> None:
        """Add to the stored totals (one row per kind, id and day)."""
        if not usage:
            return
        u = te.energy_usage
        days = sorted({k[2] for k in usage})
        existing: set[UsageKey] = set()
        for d in days:
            q = sa.select(u.c.kind, u.c.ref_id, u.c.day).where(u.c.day == d)
            existing.update((r[0], r[1], r[2]) for r in conn.execute(q))
        new = [{"kind": k[0], "ref_id": k[1], "day": k[2], "kwh": v.kwh, "cost": v.cost, "co2_g": v.co2_g}
               for k, v in usage.items() if k not in existing]
        if new:
            conn.execute(u.insert(), new)
        upd = [{"k_kind": k[0], "k_ref": k[1], "k_day": k[2], "d_kwh": v.kwh, "d_cost": v.cost, "d_co2": v.co2_g}
               for k, v in usage.items() if k in existing]
        if upd:
            stmt = (u.update().where(u.c.kind == sa.bindparam("k_kind"), u.c.ref_id == sa.bindparam("k_ref"),
                                     u.c.day == sa.bindparam("k_day"))
                    .values(kwh=u.c.kwh + sa.bindparam("d_kwh"), cost=u.c.cost + sa.bindparam("d_cost"),
                            co2_g=u.c.co2_g + sa.bindparam("d_co2")))
            conn.execute(stmt, upd)

    def usage(self, conn: Connection, kind: str, ref_id: str | None = None, first_day: str | None = None,
              last_day: str | None = None) -> dict[str, Usage]:
        """Totals per id of one kind over a range of days (inclusive)."""
        u = te.energy_usage
        q = sa.select(u.c.ref_id, sa.func.sum(u.c.kwh), sa.func.sum(u.c.cost), sa.func.sum(u.c.co2_g)).where(
            u.c.kind == kind).group_by(u.c.ref_id)
        if ref_id is not None:
            q = q.where(u.c.ref_id == ref_id)
        if first_day is not None:
            q = q.where(u.c.day >= first_day)
        if last_day is not None:
            q = q.where(u.c.day <= last_day)
        return {r[0]: Usage(float(r[1] or 0), float(r[2] or 0), float(r[3] or 0)) for r in conn.execute(q)}

    def source_totals(self, conn: Connection, start: float, end: float) -> dict[str, float]:
        """kWh per source, cost and CO2 between two times, from the stored flows."""
        t = te.energy_flows
        h = t.c.dt_s / 3600.0
        q = sa.select(sa.func.sum(t.c.load_kw * h), sa.func.sum(t.c.solar_kw * h),
                      sa.func.sum(t.c.battery_kw * h), sa.func.sum(t.c.grid_kw * h), sa.func.sum(t.c.fuel_kw * h),
                      sa.func.sum(t.c.unserved_kw * h), sa.func.sum(t.c.cost), sa.func.sum(t.c.co2_g)).where(
            t.c.at > start, t.c.at <= end)
        r = conn.execute(q).one()
        keys = ("load_kwh", "solar_kwh", "battery_net_kwh", "grid_kwh", "fuel_kwh", "unserved_kwh", "cost",
                "co2_g")
        return {k: float(v or 0.0) for k, v in zip(keys, r, strict=True)}

    def prune_flows(self, conn: Connection, before: float) -> int:
        return int(conn.execute(te.energy_flows.delete().where(te.energy_flows.c.at < before)).rowcount or 0)
