"""What-if scenarios of the production service: try a change (a machine down for a while, a job rushed, a lower
power cap) on a copy of the open work, with the digital twin's odds before and after; and, on the operator's
confirmation, apply it to the live plan (kept in the store, ``overrides.py``, until it expires or is cleared).

Plain functions of the service, bound on ``ProductionService`` like its other groups of work.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from app.core import audit
from app.core.auth.permissions import Action
from app.core.auth.principal import ActorLike, authorize
from app.core.domain.entities import Job
from app.core.domain.errors import ValidationError
from app.core.events import ReplanRequested
from app.core.production import overrides as stored
from app.core.production.overrides import Overrides
from app.core.production.runs import OPEN
from app.core.production.whatif import TWIN_SIGMA, compare, summary, twin_odds
from app.core.scheduling import build_problem, optimize

if TYPE_CHECKING:
    from app.core.production.service import ProductionService


def with_overrides(ov: Overrides, todo: list[Job], now: datetime, down: UUID | None = None,
                   down_for_s: float = 0.0, rush: UUID | None = None) -> tuple[
        list[Job], dict[UUID, list[tuple[datetime, datetime]]], bool]:
    """The open work and closed machines under the applied changes plus (for a what-if) one more: the jobs with
    rushed ones due and first, each held machine's window, and whether anything is rushed."""
    ov.down = {n: u for n, u in ov.down.items() if u > now}  # a hold that has ended is gone
    open_ids = {j.id for j in todo}
    ov.rushed = {j: t for j, t in ov.rushed.items() if j in open_ids}  # a rushed job that is done is gone
    closed = {n: [(now, u)] for n, u in ov.down.items()}
    if down is not None:
        closed.setdefault(down, []).append((now, now + timedelta(seconds=down_for_s)))
    rushed = dict(ov.rushed)
    if rush is not None:
        rushed[rush] = now
    out = [replace(j, priority=10, due_at=min(j.due_at or rushed[j.id], rushed[j.id])) if j.id in rushed else j
           for j in todo]
    return out, closed, bool(rushed)


async def whatif(self: ProductionService, *, down: UUID | None = None, down_for_s: float = 4 * 3600,
                 rush: UUID | None = None, cap_w: float | None = None, replays: int = 1000) -> dict[str, Any]:
    """The plan this site would make if ``down`` were out for ``down_for_s`` from now, ``rush`` were due now at
    top priority (planned for least lateness) or the power cap were ``cap_w``, next to the live plan, with the
    twin's odds (``replays`` simulated runs of each plan) of every job ending by its due date. Nothing live or
    stored changes."""
    async with self._turn:  # a consistent view of the open work and what runs
        jobs = await self._jobs.list(OPEN, limit=5000)
        if self._excluded is not None:
            away = await self._excluded()
            jobs = [j for j in jobs if j.id not in away]
        nodes = self._fleet.list()
        now = self._clock.now()
        todo, alias = self._open_work(jobs)
        live_model = self._live_model
    if rush is not None and not any(j.id == rush for j in todo):
        raise ValidationError("that job has no open work to rush", "job")
    todo, closed, rushed = with_overrides(self.overrides, todo, now, down, down_for_s, rush)
    usable = [n for n in nodes if n.id in self._drivers]
    objective = self._objective_for(rushed)
    forecast = self._forecast_for(now) if self._forecast_for else None
    cap = cap_w if cap_w is not None else self._cap_now()
    built = build_problem(todo, usable, now, forecast=forecast, power_cap_w=cap, objective=objective,
                          maintenance=await self._maintenance_windows(), closed=closed or None,
                          durations=self._durations, energies=self._energies, staffed=self._staffed)
    loop = asyncio.get_running_loop()
    plan = await loop.run_in_executor(None, functools.partial(optimize, built.problem, min(self._budget, 1.0), 0))
    due = {j.id: j.due_at for j in jobs}  # the jobs' own due dates, a rushed one's too
    parts = {p.id: p for j in todo for p in j.parts}
    nodes_by_id = {n.id: n for n in nodes}
    sig_after, learned = _sigmas(self, built, plan, parts, nodes_by_id)
    odds_after = await loop.run_in_executor(None, functools.partial(twin_odds, built, plan, due, replays, sig_after))
    odds_before = {}
    if live_model is not None:
        sig_before, _ = _sigmas(self, live_model[0], live_model[1], parts, nodes_by_id)
        odds_before = await loop.run_in_executor(
            None, functools.partial(twin_odds, *live_model, due, replays, sig_before))
    job_of = {j.id: j for j in jobs}
    rows = [(a.job_id, job_of[a.job_id].name if a.job_id in job_of else "?", alias.get(a.part_id, a.part_id),
             a.node_id, a.start, a.end) for a in built.assignments(plan)]
    changes = compare(self.plan, rows, due)
    out_jobs = []
    for c in changes:
        after, before = odds_after.get(c.job_id, {}), odds_before.get(c.job_id, {})
        out_jobs.append({"job": str(c.job_id), "name": c.name, "end_before": c.end_before, "end_after": c.end_after,
                         "late_before_s": c.late_before_s, "late_after_s": c.late_after_s, "moved": c.moved,
                         "due": due.get(c.job_id), "on_time_before": before.get("on_time"),
                         "on_time_after": after.get("on_time"), "finish_p10": after.get("finish_p10"),
                         "finish_p50": after.get("finish_p50"), "finish_p90": after.get("finish_p90")})
    return {"made_at": now, **summary(changes), "replays": replays, "learned_spread_ops": learned,
            "ops": built.problem.n_ops,
            "skipped": {str(k): v for k, v in built.skipped.items()}, "jobs": out_jobs}


def _sigmas(self: ProductionService, built: Any, plan: Any, parts: dict[UUID, Any],
            nodes: dict[UUID, Any]) -> tuple[list[float], int]:
    """Per operation the log-spread its duration is drawn with in the twin: the learned one of its part on the
    machine the plan gave it where a model covers it, else ``TWIN_SIGMA``; and how many were learned."""
    out, learned = [], 0
    for o, ref in enumerate(built.ops):
        sigma = None
        part, node = parts.get(ref.part_id), nodes.get(built.nodes[plan.machine[o]])
        if self._spreads is not None and ref.step == 0 and part is not None and node is not None:
            sigma = self._spreads(part, node)
        learned += sigma is not None
        out.append(TWIN_SIGMA if sigma is None else sigma)
    return out, learned


async def apply_whatif(self: ProductionService, *, down: UUID | None = None, down_for_s: float = 4 * 3600,
                       rush: UUID | None = None, cap_w: float | None = None,
                       actor: ActorLike = "operator") -> list[str]:
    """Make a what-if change live (the operator confirmed it): the machine is held out of the plan until then,
    the job is planned as due now at top priority until it is done, or plans keep under the lower cap. The site
    replans at once. Returns the changes now applied, in words."""
    actor = authorize(actor, Action.PRIORITY)
    if down is None and rush is None and cap_w is None:
        raise ValidationError("say what to apply: a machine down, a job to rush or a power cap", "whatif")
    if cap_w is not None and cap_w <= 0:
        raise ValidationError("a power cap must be above zero", "cap")
    now = self._clock.now()
    name = (await self._jobs.get(rush)).name if rush is not None else ""
    async with self._turn:
        stored.merge(self.overrides, now, down=down, down_for_s=down_for_s, rush=rush, rush_name=name, cap_w=cap_w)
        await _keep(self, actor, "plan.whatif_apply", stored.detail(down, down_for_s, rush, cap_w))
    self._bus.publish(ReplanRequested("what-if applied"))
    self._wake.set()
    return self.overrides.describe(self._names())


async def clear_whatif(self: ProductionService, actor: ActorLike = "operator") -> None:
    """Drop every applied what-if change; the site plans as configured again."""
    actor = authorize(actor, Action.PRIORITY)
    async with self._turn:
        self.overrides = Overrides()
        await _keep(self, actor, "plan.whatif_clear", {})
    self._wake.set()


async def load_applied(self: ProductionService) -> None:
    """The changes applied before this process started (by an earlier owner, or by a command with none)."""
    if self._store is None:
        return

    def read() -> Overrides:
        with self._store.begin() as conn:
            return stored.load(conn)

    self.overrides = await self._store.run(read)


def applied(self: ProductionService) -> list[str]:
    """The what-if changes the live plan follows now, in words (empty: none)."""
    return self.overrides.describe(self._names()) if self.overrides.active(self._clock.now()) else []


async def _keep(self: ProductionService, actor: str, action: str, detail: dict[str, Any]) -> None:
    """Store the applied changes as they are now, and audit the change, in one transaction."""
    if self._store is None:
        return
    now, ov = self._clock.now(), self.overrides

    def write() -> None:
        with self._store.begin() as conn:
            stored.save(conn, ov)
            audit.record(conn, now, actor, action, "plan", None, detail)

    await self._store.run(write)
