"""Differential privacy of what a site publishes to its linked sites, made to hold over time.

The noise is the project's Laplace and geo mechanisms (``app.core.privacy``); this module decides when a fresh
draw may happen and what it costs:

- A published quantity is drawn **once per period** (``[sites] privacy_period_s``, an hour by default) and the
  noisy value is kept in the store. Every publication in that period, to any linked site, from any process and
  after any restart, repeats the same value: repeating it reveals nothing new, so averaging publications gains
  nothing. The value is fixed for the period even if the true value moves (keeping only the noise and adding it
  to a moving true value would leak the changes exactly).
- Quantities come in **groups** of disjoint counts (machines by process and state, jobs by state, free machines
  by process) or a few readings (energy). A group costs ``epsilon`` per period (parallel composition over the
  bins of a histogram; the energy readings share it), charged to the linked site the first time it is shown that
  period's values.
- Each linked site has a **daily budget** (``[sites] epsilon_per_day``, per UTC day, sequential composition).
  When a group would overspend it, no new value is drawn for that site until the next day: it keeps getting the
  values it was last charged for (costing nothing), and the summary says so (``privacy.exhausted``).
- The site's location, when configured, is moved by geo-indistinguishable noise once and kept for good; it costs
  its level (ln 4 within ``location_radius_m``) once per linked site.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.core import privacy
from app.core.sites.repo import dialect_insert
from app.core.store import schema_sites as t

DAY_S = 86_400
FOREVER = 0  # the period index of values kept for good (the location)
GEO_LEVEL = math.log(4)  # points within the radius are ln(4)-indistinguishable (Andrés et al.)


@dataclass(frozen=True, slots=True)
class Group:
    """Values published together: ``bins`` name -> (true value, sensitivity); ``count`` ones stay whole, >= 0."""

    name: str
    bins: dict[str, tuple[float, float]]
    count: bool = True
    # Bins over disjoint sets of records (each record moves one bin only): the group costs epsilon once (parallel
    # composition). None: as ``count`` (a histogram's counts are; a few readings of one state are not).
    disjoint: bool | None = None
    digits: int = 1  # what a non-count value is rounded to

    @property
    def parallel(self) -> bool:
        return self.count if self.disjoint is None else self.disjoint


@dataclass(frozen=True, slots=True)
class Budget:
    """What one linked site has been charged today."""

    peer_id: str
    day: int
    spent: float
    total: float

    @property
    def left(self) -> float:
        return max(0.0, self.total - self.spent)


class PrivacyLedger:
    """Noisy values kept per (quantity, period) and epsilon charged per (linked site, group, period).

    Methods take a Connection: the caller runs them in one transaction, so two processes publishing at once
    agree on one draw (the first insert wins; the other reads it) and charge a site once.
    """

    def __init__(self, epsilon: float, period_s: float, budget_per_day: float, seed: int | None = None) -> None:
        if not (epsilon > 0 and period_s > 0 and budget_per_day > 0):
            raise ValueError("the privacy epsilon, period and daily budget of a site must be positive numbers")
        self.epsilon = epsilon
        self.period_s = period_s
        self.budget_per_day = budget_per_day
        self._rng = np.random.default_rng(seed)

    def period(self, now: float) -> int:
        return 1 + int(now // self.period_s)  # 0 is FOREVER

    # ------------------------------------------------------------ budget
    def budget(self, conn: Connection, peer_id: str, now: float) -> Budget:
        day = int(now // DAY_S)
        c = t.site_dp_spent.c
        spent = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(c.epsilon), 0.0))
                             .where(c.peer_id == peer_id, c.day == day)).scalar_one()
        return Budget(peer_id, day, float(spent), self.budget_per_day)

    def _charge(self, conn: Connection, peer_id: str, quantity: str, period: int, epsilon: float,
                now: float) -> bool:
        """Charge the site for this quantity and period, once. False when its budget for today cannot pay."""
        c = t.site_dp_spent.c
        paid = conn.execute(sa.select(c.epsilon).where(c.peer_id == peer_id, c.quantity == quantity,
                                                       c.period == period)).first()
        if paid is not None:
            return True
        if self.budget(conn, peer_id, now).spent + epsilon > self.budget_per_day + 1e-9:
            return False
        ins = dialect_insert(conn, t.site_dp_spent).values(peer_id=peer_id, quantity=quantity, period=period,
                                                   day=int(now // DAY_S), epsilon=epsilon, at=now)
        conn.execute(ins.on_conflict_do_nothing(index_elements=["peer_id", "quantity", "period"]))
        return True

    def _last_paid(self, conn: Connection, peer_id: str, quantity: str) -> int | None:
        c = t.site_dp_spent.c
        return conn.execute(sa.select(sa.func.max(c.period)).where(c.peer_id == peer_id,
                                                                   c.quantity == quantity)).scalar_one()

    # ------------------------------------------------------------ values
    def _kept(self, conn: Connection, quantity: str, period: int, draw: Any, now: float) -> Any:
        """The value kept for (quantity, period), drawn now by ``draw()`` if there is none yet."""
        c = t.site_dp_values.c
        where = (c.quantity == quantity, c.period == period)
        row = conn.execute(sa.select(c.value).where(*where)).first()
        if row is not None:
            return row[0]
        ins = dialect_insert(conn, t.site_dp_values).values(quantity=quantity, period=period, value=draw(),
                                                    epsilon=self.epsilon, drawn_at=now)
        conn.execute(ins.on_conflict_do_nothing(index_elements=["quantity", "period"]))
        return conn.execute(sa.select(c.value).where(*where)).scalar_one()  # ours, or the one drawn first

    def _stored(self, conn: Connection, prefix: str, period: int) -> dict[str, Any]:
        c = t.site_dp_values.c
        q = sa.select(c.quantity, c.value).where(c.period == period, c.quantity.startswith(prefix, autoescape=True))
        return {name[len(prefix):]: value for name, value in conn.execute(q)}

    def publish(self, conn: Connection, peer_id: str, group: Group, now: float) -> tuple[dict[str, Any], bool]:
        """The noisy values of a group as ``peer_id`` may see them now, and whether they are fresh (False: the
        site's budget for today is spent; these are the values it was last charged for, possibly none)."""
        period = self.period(now)
        prefix = f"{group.name}:"
        if not self._charge(conn, peer_id, group.name, period, self.epsilon, now):
            last = self._last_paid(conn, peer_id, group.name)
            return (self._stored(conn, prefix, last) if last is not None else {}), False
        share = self.epsilon / (1 if group.parallel else max(1, len(group.bins)))
        out = {}
        for name, (true, sensitivity) in group.bins.items():
            def draw(true: float = true, sensitivity: float = sensitivity) -> float:
                v = privacy.laplace(float(true), sensitivity=sensitivity, epsilon=share, rng=self._rng)
                return max(0, round(v)) if group.count else round(v, group.digits)

            out[name] = self._kept(conn, prefix + name, period, draw, now)
        return out, True

    def location(self, conn: Connection, peer_id: str, lat: float, lon: float, radius_m: float,
                 now: float) -> dict[str, float] | None:
        """The site's location moved by geo noise, drawn once and kept for good; None if the site's budget
        cannot pay for its first showing today."""
        where = f"location:{lat:.6f},{lon:.6f}"
        if not self._charge(conn, peer_id, where, FOREVER, GEO_LEVEL, now):
            return None
        eps_m = privacy.epsilon_for_radius(radius_m, GEO_LEVEL)

        def draw() -> list[float]:
            return list(privacy.geo_noise(lat, lon, epsilon_per_m=eps_m, rng=self._rng))

        noisy = self._kept(conn, where, FOREVER, draw, now)
        return {"lat": round(float(noisy[0]), 5), "lon": round(float(noisy[1]), 5), "radius_m": radius_m}


def spent_today(conn: Connection, now: float) -> dict[str, float]:
    """Epsilon charged to each linked site today (UTC), for ``imewe sites status`` and the Sites view."""
    c = t.site_dp_spent.c
    q = sa.select(c.peer_id, sa.func.sum(c.epsilon)).where(c.day == int(now // DAY_S)).group_by(c.peer_id)
    return {p: float(e) for p, e in conn.execute(q)}
