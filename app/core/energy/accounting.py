"""Accounting: kWh from measured power per machine, attributed to the job (and part) it was running, priced
at the site's blended cost and carbon of the step in which it was used, per day.

Power is held from one sample to the next (what a meter integrating the reported power does), for at most
``max_gap_s``: a machine that stops reporting is not billed for the silence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from uuid import UUID

PartResolver = Callable[[UUID, UUID | None], UUID | None]


@dataclass(slots=True)
class Usage:
    kwh: float = 0.0
    cost: float = 0.0
    co2_g: float = 0.0

    def add(self, kwh: float, cost: float, co2: float) -> None:
        self.kwh += kwh
        self.cost += cost
        self.co2_g += co2


UsageKey = tuple[str, str, str]  # kind (site/node/job/part), ref id, day (YYYY-MM-DD local)


class EnergyLedger:
    def __init__(self, tz: tzinfo = UTC, part_of: PartResolver | None = None, max_gap_s: float = 300.0) -> None:
        self.tz = tz
        self.part_of = part_of
        self.max_gap_s = max_gap_s
        self._last: dict[UUID, tuple[float, float, UUID | None]] = {}  # node -> (ts, power_w, job)
        self._interval: dict[tuple[UUID, UUID | None, str], float] = {}  # (node, job, day) -> kWh this step
        self._usage: dict[UsageKey, Usage] = {}  # priced, waiting to be stored
        self.machine_kwh = 0.0  # everything measured, for the energy balance

    def day_of(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.tz).date().isoformat()

    def add_sample(self, node_id: UUID, ts: float, power_w: float, job_id: UUID | None = None) -> None:
        prev = self._last.get(node_id)
        self._last[node_id] = (ts, max(0.0, power_w), job_id)
        if prev is None:
            return
        t0, p0, job0 = prev
        dt = min(ts - t0, self.max_gap_s)
        if dt <= 0 or p0 <= 0:
            return
        kwh = p0 * dt / 3.6e6
        key = (node_id, job0, self.day_of(t0))
        self._interval[key] = self._interval.get(key, 0.0) + kwh
        self.machine_kwh += kwh

    def power_w(self) -> dict[UUID, float]:
        """Latest reported draw per machine."""
        return {n: p for n, (_t, p, _j) in self._last.items()}

    def interval_kwh(self) -> float:
        return sum(self._interval.values())

    def close_interval(self, cost_per_kwh: float, co2_per_kwh: float, site_day: str, site_kwh: float,
                       site_cost: float, site_co2: float) -> float:
        """Price this step's machine energy at the step's blended rate; returns the machine kWh of the step."""
        total = 0.0
        for (node, job, day), kwh in self._interval.items():
            cost, co2 = kwh * cost_per_kwh, kwh * co2_per_kwh
            self._bump(("node", str(node), day), kwh, cost, co2)
            if job is not None:
                self._bump(("job", str(job), day), kwh, cost, co2)
                part = self.part_of(node, job) if self.part_of else None
                if part is not None:
                    self._bump(("part", str(part), day), kwh, cost, co2)
            total += kwh
        self._interval.clear()
        self._bump(("site", "site", site_day), site_kwh, site_cost, site_co2)
        return total

    def take_usage(self) -> dict[UsageKey, Usage]:
        out, self._usage = self._usage, {}
        return out

    def _bump(self, key: UsageKey, kwh: float, cost: float, co2: float) -> None:
        u = self._usage.get(key)
        if u is None:
            u = self._usage[key] = Usage()
        u.add(kwh, cost, co2)
