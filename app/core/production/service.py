"""Production: the path a job takes once validated (DESIGN flows 2 and 3).

Plan the open work on the machines in service, publish the plan, hand each idle machine the next operation the
plan gives it once what it waits for is done, follow progress, and close parts and jobs. When a machine fails or
drops its link mid-job, its parts are moved back to the planner (self-healing) and the fleet is replanned; nothing
acknowledged is lost. Operator commands to machines (pause, resume, cancel, emergency stop) go through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID, uuid4

from app.core import audit
from app.core.auth.permissions import Action
from app.core.auth.principal import ActorLike, authorize
from app.core.bus import EventBus, Overflow
from app.core.clock import Clock
from app.core.device_events import DeviceJobFinished, DeviceJobProgress, DeviceJobRecord
from app.core.domain.entities import Job, Node, NodeMaintenance, Part
from app.core.domain.enums import JobState, NodeState
from app.core.domain.errors import ConfigError, DeviceError, ImeweError, NotFoundError, ValidationError
from app.core.drivers import FabricationDevice
from app.core.events import NodeUpdated, PlanUpdated, ReplanRequested, StateChanged
from app.core.fleet.service import FleetService
from app.core.jobs.service import JobService
from app.core.production import dispatching, outcomes, reconcile, scenarios
from app.core.production.in_doubt import InDoubt
from app.core.production.plan_shading import shading
from app.core.production.plan_view import PlanRow, PlanView, free_capacity
from app.core.production.runs import DISPATCH_SLACK_S, GONE, OPEN, S
from app.core.production.runs import Running as _Running
from app.core.scheduling import (
    Objective,
    Plan,
    Problem,
    build_problem,
    critical_path,
    metrics,
    objective_value,
    optimize,
    tabu_steps,
)
from app.core.scheduling.builder import DurationFn, EnergyFn
from app.core.scheduling.forecast import EnergyForecast
from app.core.scheduling.plan import power_profile
from app.core.scheduling.staffing import StaffedHours

log = logging.getLogger(__name__)

OBJECTIVES = ("makespan", "tardiness")


def plan_objective(name: str, energy_weight: float = 0.0, setup_weight: float = 0.0) -> Objective | None:
    """The plan's cost for ``[scheduler] objective``. Tardiness keeps a small makespan weight: among plans equally
    late it prefers the one that ends soonest (and lets the graph search work on it). ``setup_weight``
    (``[scheduler] setup_weight``): what each second spent changing material costs, in the objective's units
    (seconds of makespan, or priority-weighted seconds late): plans then group work by material even where the
    makespan or lateness does not gain from it."""
    if setup_weight < 0 or energy_weight < 0:
        raise ConfigError("[scheduler] energy_weight and setup_weight must not be negative")
    if name == "tardiness":
        return Objective(makespan=0.01, tardiness=1.0, energy=energy_weight, setups=setup_weight)
    return Objective(makespan=1.0, energy=energy_weight, setups=setup_weight) if energy_weight or setup_weight \
        else None


class Owned(Protocol):
    @property
    def held(self) -> bool: ...


class ProductionService:
    name = "production"

    def __init__(self, fleet: FleetService, jobs: JobService, bus: EventBus, clock: Clock,
                 drivers: Mapping[UUID, FabricationDevice], *, store=None, plan_budget_s: float = 0.3,
                 tick_s: float = 30.0, forecast_for: Callable[[datetime], EnergyForecast] | None = None,
                 power_cap_w: Callable[[], float | None] | None = None, energy_weight: float = 0.0,
                 objective: str = "makespan", setup_weight: float = 0.0,
                 mode: str = "plan", min_interval_s: float = 0.2, ownership: Owned | None = None,
                 in_doubt_grace_s: float = 120.0,
                 durations: DurationFn | None = None, energies: EnergyFn | None = None,
                 before_start: Callable[[Node, Job, Part], Awaitable[object]] | None = None,
                 staffed: StaffedHours | None = None,
                 spreads: Callable[[Part, Node], float | None] | None = None,
                 ) -> None:
        """``ownership``: the site's lock; production (and its crash recovery) starts only while it is held.
        ``mode``: "plan" starts what the optimiser's plan gives each machine next; "dispatch" lets each
        machine that frees up take the ready part the spec's weighted node score gives it (the plan is still made
        and shown). ``in_doubt_grace_s``: how long a machine that went out of reach mid-job keeps its work before
        the work is planned elsewhere (the operator is told with a FaultReported on the bus, which the alert
        service stores). ``staffed``: the site's staffed hours (``[site.staffed]``); work
        that needs a person at its start or end is planned and started only when someone is there.
        ``setup_weight``: the cost of a second of material change in the objective (see ``plan_objective``). ``spreads``:
        a part's learned duration spread on a machine (what-if replays draw durations with it)."""
        if objective not in OBJECTIVES:
            raise ConfigError(f"[scheduler] objective {objective!r} is not one of {', '.join(OBJECTIVES)}")
        self._objective = objective
        plan_objective(objective, energy_weight, setup_weight)  # a bad weight is refused at start
        self._setup_weight = setup_weight
        if mode not in ("plan", "dispatch"):
            raise ValueError(f"unknown production mode {mode!r}; use plan or dispatch")
        self.mode = mode
        self._ownership = ownership
        self._fleet = fleet
        self._jobs = jobs
        self._bus = bus
        self._clock = clock
        self._drivers = drivers
        self._store = store
        self._budget = plan_budget_s
        self._tick_s = tick_s
        self._forecast_for = forecast_for
        self._energy_weight = energy_weight
        self._power_cap = power_cap_w or (lambda: None)
        self._wake = asyncio.Event()
        # Event handlers and planning rounds take turns: a round must never see a machine free whose finished
        # work is only half booked.
        self._turn = asyncio.Lock()
        self._min_interval_s = min_interval_s
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._running: dict[UUID, _Running] = {}  # node -> what it runs
        self._done_copies: dict[UUID, int] = {}
        self._attempts: dict[UUID, int] = {}
        self._last_progress: dict[UUID, float] = {}
        self.plan: PlanView | None = None
        self._excluded: Callable[[], Awaitable[set[UUID]]] | None = None
        self.doubt = InDoubt(in_doubt_grace_s)
        self._resumed: dict[UUID, float] = {}  # node -> when it said (after a drop) that it still runs its copy
        self._cancelled_copies: dict[UUID, _Running] = {}  # node -> a copy reconciling cancelled, until it ends
        # Learned estimates (issue 15): the planner's duration source, and a risk check before each start.
        self._durations = durations
        self._energies = energies  # learned kWh (issue 15): the energy planner's draw where a model covers it
        self._before_start = before_start
        self.cycles = 0
        self.last_error = ""
        # A round publishes the constructive plan at once and improves it in the background for plan_budget_s;
        # the better plan replaces it only if no newer round began and nothing started meanwhile.
        self._round = 0
        self._starts = 0
        self._improve_stop: threading.Event | None = None
        self._improve_task: asyncio.Task | None = None
        self._maintenance: list[NodeMaintenance] | None = None  # open maintenance records, read again on change
        self._staffed = staffed
        self._spreads = spreads  # learned duration spreads (log, from the 80 % interval) for the digital twin
        self.overrides = scenarios.Overrides()  # what-if changes the operator applied to the live plan
        self._live_model: tuple[Any, Plan] | None = None  # the published plan's problem and plan (for the twin)

    # ------------------------------------------------------------ life cycle
    async def start(self) -> None:
        if self._ownership is not None and not self._ownership.held:
            # Recovery resets work a crash interrupted; in a process that does not own the site that work is
            # running somewhere else, and resetting it would make the part twice.
            raise ImeweError("production runs only in the process that owns the site")
        self._bus.subscribe((ReplanRequested, DeviceJobFinished, DeviceJobRecord, StateChanged), self._on_event,
                            name="production", maxsize=10_000, overflow=Overflow.DROP_OLDEST)
        self._bus.subscribe(DeviceJobProgress, self._on_progress, name="production.progress", maxsize=2_000)
        self._bus.subscribe(NodeUpdated, self._on_node_updated, name="production.maintenance", maxsize=2_000)
        if not tabu_steps.compiled():
            log.warning("the planner runs its Python search steps (25-33 x slower per step): the compiled "
                        "_tabu_step extension is not built here (re-run ./dev setup with a C compiler) or "
                        "IMEWE_SCHED_PURE=1 is set")
        await self._recover_interrupted()
        await scenarios.load_applied(self)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="production")
        self._wake.set()

    async def _recover_interrupted(self) -> None:
        """Work that was on a machine when this site last stopped goes back to the planner; finished copies of
        a part (from its progress) are kept."""
        for job in await self._jobs.list({S.ASSIGNED, S.IN_PROGRESS, S.PAUSED, S.SCHEDULED}, limit=5000):
            moved = {}
            for p in job.parts:
                q = max(p.quantity, 1)
                self._done_copies[p.id] = min(int(p.progress * q / 100.0 + 1e-9), q)
                if p.state in (S.ASSIGNED, S.IN_PROGRESS, S.PAUSED):
                    moved[p.id] = p.state
            if not moved:
                continue
            reason = "interrupted: the site stopped while this was on a machine"
            pause = {pid: S.PAUSED for pid, st in moved.items() if st is S.IN_PROGRESS}
            if pause:
                job = await self._jobs.transition(job.id, job.state, reason, parts=pause)
            target = S.VALIDATED if job.state in (S.SCHEDULED, S.ASSIGNED, S.PAUSED) else job.state
            if job.state is S.IN_PROGRESS:
                target = S.PAUSED
            await self._jobs.transition(job.id, target, reason, parts={pid: S.VALIDATED for pid in moved},
                                        assign={pid: None for pid in moved})

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._cancel_improvement()
        if self._improve_task is not None:
            self._improve_task.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 10)

    def health(self) -> str:
        return "ok" if not self.last_error else f"degraded: {self.last_error}"

    def exclude_jobs(self, source: Callable[[], Awaitable[set[UUID]]]) -> None:
        """Jobs this site must not plan or run (e.g. offloaded to a linked site)."""
        self._excluded = source

    def request_replan(self) -> None:
        self._wake.set()

    def free_capacity(self, horizon_h: float = 24.0) -> list[dict]:
        """Per process, when machines are free in the current plan (for linked sites)."""
        return free_capacity(self.plan, self._fleet.list(), self._clock.now(), horizon_h)

    def run_on(self, node_id: UUID) -> tuple[UUID, UUID, str] | None:
        """(job, part, run id) of the copy a machine is making or holds in doubt, if any."""
        run = self._running.get(node_id)
        return None if run is None else (run.job_id, run.part_id, run.run_id)

    def part_of(self, node_id: UUID, job_id: UUID | None) -> UUID | None:
        """The part a machine is making for ``job_id`` now (energy accounting per part)."""
        run = self._running.get(node_id)
        return run.part_id if run is not None and run.job_id == job_id else None

    # ------------------------------------------------------------ operator commands
    def _driver(self, node_id: UUID) -> FabricationDevice:
        driver = self._drivers.get(node_id)
        if driver is None:
            raise DeviceError(f"machine {self._name(node_id)} has no connected driver")
        return driver

    async def request_pause(self, node_id: UUID, actor: ActorLike = "operator") -> None:
        actor = authorize(actor, Action.PAUSE)
        await self._driver(node_id).pause()
        await self._audit(actor, "node.pause", node_id)

    async def request_resume(self, node_id: UUID, actor: ActorLike = "operator") -> None:
        actor = authorize(actor, Action.PAUSE)
        await self._driver(node_id).resume()
        await self._audit(actor, "node.resume", node_id)

    async def request_cancel(self, node_id: UUID, actor: ActorLike = "operator") -> None:
        actor = authorize(actor, Action.CANCEL)
        await self._driver(node_id).cancel()
        await self._audit(actor, "node.cancel", node_id)

    async def request_emergency_stop(self, node_id: UUID, actor: ActorLike = "operator") -> None:
        actor = authorize(actor, Action.ESTOP)  # refused before anything moves; allowed, the stop goes at once
        # The stop goes out first; bookkeeping can wait.
        await self._driver(node_id).emergency_stop()
        await self._audit(actor, "node.emergency_stop", node_id)

    async def _audit(self, actor: str, action: str, node_id: UUID) -> None:
        if self._store is None:
            return
        now = self._clock.now()

        def write() -> None:
            with self._store.begin() as conn:
                audit.record(conn, now, actor, action, f"node:{node_id}")

        await self._store.run(write)

    # ------------------------------------------------------------ events
    async def _on_event(self, event: object) -> None:
        if isinstance(event, DeviceJobFinished):
            async with self._turn:
                await self._finished(event)
        elif isinstance(event, DeviceJobRecord):
            async with self._turn:
                await self._on_record(event)
        elif isinstance(event, StateChanged):
            c = event.change
            if c.kind == "node":
                self._maintenance = None  # e.g. maintenance completed: its window no longer holds the machine
            relevant = (c.kind == "node" and c.to_state in {s.value for s in GONE | {NodeState.IDLE}}) or (
                c.kind == "job" and c.to_state == S.CANCELLED.value)
            if not relevant:
                return
            if c.kind == "job":
                async with self._turn:
                    await self._cancel_running(c.obj_id)
        self._wake.set()

    async def _on_node_updated(self, event: NodeUpdated) -> None:
        if event.what == "maintenance":  # a window was scheduled: the plan keeps its machine free then
            self._maintenance = None
            self._wake.set()

    async def _maintenance_windows(self) -> list[NodeMaintenance]:
        if self._maintenance is None:
            self._maintenance = await self._fleet.open_maintenance()
        return self._maintenance

    async def _on_progress(self, event: DeviceJobProgress) -> None:
        run = self._running.get(event.node_id)
        if run is None or event.job_id != run.job_id:
            return
        run.fraction = min(max(event.fraction, 0.0), 1.0)
        pct = 100.0 * (self._done_copies.get(run.part_id, 0) + run.fraction) / run.quantity
        if pct - self._last_progress.get(run.part_id, -100.0) >= 2.0 or pct >= 100.0:
            self._last_progress[run.part_id] = pct
            await self._jobs.update_progress(run.part_id, pct)

    async def _cancel_running(self, job_id: UUID) -> None:
        for node_id, run in list(self._running.items()):
            if run.job_id == job_id:
                self._running.pop(node_id, None)
                with contextlib.suppress(ImeweError, KeyError):
                    await self._driver(node_id).cancel()

    def _name(self, node_id: UUID) -> str:
        try:
            return self._fleet.get(node_id).name
        except NotFoundError:
            return str(node_id)[:8]

    # ------------------------------------------------------------ the planning loop
    async def _loop(self) -> None:
        while not self._stopping:
            try:
                async with asyncio.timeout(max(self._tick_s / self._clock_scale(), 0.05)):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.cycle()
                self.last_error = ""
                # Bursts of events (a fleet coming online) make one round, not dozens.
                await asyncio.sleep(self._min_interval_s)
            except asyncio.CancelledError:
                raise
            except ImeweError as exc:
                self.last_error = str(exc)
                log.warning("production cycle: %s", exc)
            except Exception as exc:  # keep the floor running; the log has the details
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("production cycle failed")

    def _clock_scale(self) -> float:
        scale = getattr(self._clock, "scale", 1.0)
        return scale if scale and scale != float("inf") else 1.0

    async def cycle(self) -> PlanView:
        """One round: rescue parts from machines that left service, plan, publish, dispatch."""
        async with self._turn:
            return await self._cycle()

    async def _cycle(self) -> PlanView:
        self.cycles += 1
        self._round += 1
        self._cancel_improvement()  # its problem is out of date now
        await self._rescue()
        jobs = await self._jobs.list(OPEN, limit=5000)
        if self._excluded is not None:
            away = await self._excluded()
            jobs = [j for j in jobs if j.id not in away]
        nodes = self._fleet.list()
        view, first_ops, improvable = await self._plan(jobs, nodes)
        view = await self._publish(view, first_ops, jobs, nodes)
        if improvable is not None and self._budget > 0 and not self._stopping:
            self._improve_later(jobs, nodes, *improvable)
        return view

    async def _publish(self, view: PlanView, first_ops: dict[UUID, tuple[UUID, UUID, int]], jobs: list[Job],
                       nodes: list[Node]) -> PlanView:
        view = self._show_in_doubt(view, jobs, nodes)
        self.plan = view
        self._bus.publish(PlanUpdated(view, view.made_at))
        await self._mark_scheduled(jobs, view)
        if self.mode == "plan":
            await self._dispatch(first_ops)
        else:
            await self._dispatch_by_score()
        return view

    def _cancel_improvement(self) -> None:
        if self._improve_stop is not None:
            self._improve_stop.set()
            self._improve_stop = None

    def _improve_later(self, jobs: list[Job], nodes: list[Node], problem: Problem, quick: Plan,
                       render: Callable[[Plan], tuple[PlanView, dict[UUID, tuple[UUID, UUID, int]]]]) -> None:
        stop = threading.Event()
        self._improve_stop = stop
        self._improve_task = asyncio.get_running_loop().create_task(
            self._improve(jobs, nodes, problem, quick, render, stop, self._round, self._starts),
            name="production.improve")

    async def _improve(self, jobs: list[Job], nodes: list[Node], problem: Problem, quick: Plan,
                       render: Callable[[Plan], tuple[PlanView, dict[UUID, tuple[UUID, UUID, int]]]],
                       stop: threading.Event, round_no: int, starts: int) -> None:
        try:
            plan = await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(optimize, problem, self._budget, 0, stop=stop))
            if stop.is_set() or objective_value(problem, plan) >= objective_value(problem, quick):
                return
            async with self._turn:
                # A newer round, or a machine started work the search did not know of: the better plan is stale.
                if stop.is_set() or self._stopping or round_no != self._round or starts != self._starts:
                    return
                view, first_ops = render(plan)
                await self._publish(view, first_ops, jobs, nodes)
        except asyncio.CancelledError:
            raise
        except Exception:  # the constructive plan stands; the log has the details
            log.exception("background plan improvement failed")

    def _wake_in(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(max(seconds / self._clock_scale(), 0.01) + 0.01, self._wake.set)

    async def _finished_like(self, node_id: UUID, run: _Running, message: str) -> None:
        self._running[node_id] = run
        await self._finished(DeviceJobFinished(node_id, run.job_id, "paused", message))

    async def _plan(self, jobs: list[Job], nodes: list[Node]) -> tuple[
            PlanView, dict[UUID, tuple[UUID, UUID, int]], tuple[Problem, Plan, Callable] | None]:
        """The constructive plan (in a few tens of milliseconds) and, when it is not proven optimal, what the
        background search needs to improve it."""
        now = self._clock.now()
        self._live_model = None
        todo, alias = self._open_work(jobs)
        usable = [n for n in nodes if n.id in self._drivers]
        if not todo or not usable:
            return PlanView(now, [], {}, {}, "empty"), {}, None
        todo, closed, rushed = scenarios.with_overrides(self.overrides, todo, now)
        try:
            forecast = self._forecast_for(now) if self._forecast_for else None
            built = build_problem(todo, usable, now, durations=self._durations, energies=self._energies,
                                  forecast=forecast, power_cap_w=self._cap_now(), objective=self._objective_for(rushed),
                                  maintenance=await self._maintenance_windows(), closed=closed or None,
                                  staffed=self._staffed)
        except ValidationError as exc:  # nothing can run now (e.g. every fitting machine is down)
            return PlanView(now, [], {}, {p.id: str(exc) for j in todo for p in j.parts}, "empty"), {}, None
        if not built.ops:
            return PlanView(now, [], {}, built.skipped, "empty"), {}, None
        problem = built.problem
        plan = await asyncio.get_running_loop().run_in_executor(None, optimize, problem, 0.0, 0)
        render = functools.partial(self._render, now, built, problem, jobs, nodes, alias)
        view, first_ops = render(plan)
        return view, first_ops, None if plan.stats.get("optimal") else (problem, plan, render)

    def _render(self, now: datetime, built, problem: Problem, jobs: list[Job], nodes: list[Node],
                alias: dict[UUID, UUID], plan: Plan) -> tuple[PlanView, dict[UUID, tuple[UUID, UUID, int]]]:
        self._live_model = (built, plan)
        names = {n.id: n.name for n in nodes}
        job_names = {j.id: j.name for j in jobs}
        part_info = {p.id: p for j in jobs for p in j.parts}
        crit = set(critical_path(problem, plan))
        rows = []
        first_ops: dict[UUID, tuple[UUID, UUID, int]] = {}
        seen: set[UUID] = set()
        capped = problem.power_cap_w is not None
        later: list[float] = []
        pairs = sorted(zip(built.assignments(plan), range(len(built.ops)), strict=True), key=lambda x: x[0].start)
        for a, o in pairs:
            pid = alias.get(a.part_id, a.part_id)
            part = part_info[pid]
            peak_w, peak_s, steady_w = problem.planned_w(o, plan.machine[o])
            rows.append(PlanRow(a.node_id, names.get(a.node_id, "?"), a.job_id, job_names.get(a.job_id, "?"),
                                pid, f"{job_names.get(a.job_id, '?')}/{part.name}", a.start, a.end,
                                "RUNNING" if a.part_id in alias else part.state.value, o in crit,
                                peak_w=peak_w, peak_s=peak_s, steady_w=steady_w,
                                energy_learned=(o, plan.machine[o]) in problem.learned_w))
            if a.node_id in first_ops or (capped and a.node_id in seen):
                continue  # under a cap only a machine's very next planned work may start now
            seen.add(a.node_id)
            if a.step == 0 and a.part_id not in alias and a.node_id not in self._running:
                # Under a power cap a start is held to its planned instant (the cap staggers starts); without
                # one, the machine's next work starts as soon as it is free (a planned setup gap is the
                # operator's to take, not a reason to idle).
                # Work the plan put after a maintenance window waits for it too: started now it would run into it.
                m = plan.machine[o]
                # So does work that needs a person at its start or end: the plan put it in staffed hours.
                held = capped or any(ws < plan.start[o] and we > 0 for ws, we in problem.unavailable[m]) or (
                    problem.staffed is not None and problem.attend[o] != 0)
                wait_s = (a.start - now).total_seconds() if held else 0.0
                if wait_s <= DISPATCH_SLACK_S:
                    first_ops[a.node_id] = (pid, a.job_id, a.copy)
                else:
                    later.append(wait_s)
        if later:
            self._wake_in(min(later))
        quality = {k: plan.stats[k] for k in ("optimal", "gap_to_bound", "lower_bound") if k in plan.stats}
        setups, blocked, unstaffed = shading(now, built, problem, plan, names, self._staffed)
        return PlanView(now, rows, {**metrics(problem, plan).to_dict(), **quality}, built.skipped, plan.source,
                        power=[(now + timedelta(seconds=t), w) for t, w in power_profile(problem, plan)],
                        power_cap_w=problem.power_cap_w, setups=setups, blocked=blocked,
                        unstaffed=unstaffed), first_ops

    def _objective_for(self, rushed: bool) -> Objective | None:
        """The configured objective; least lateness while a job is rushed (it is due now)."""
        return plan_objective("tardiness" if rushed else self._objective, self._energy_weight, self._setup_weight)

    def _cap_now(self) -> float | None:
        """The site cap, or a lower one the operator applied from a what-if."""
        cap = self._power_cap()
        if self.overrides.cap_w is not None:
            return self.overrides.cap_w if cap is None else min(cap, self.overrides.cap_w)
        return cap

    def _names(self) -> dict[UUID, str]:
        return {n.id: n.name for n in self._fleet.list()}

    # What if: try a change on a copy, apply it on the operator's word (scenarios).
    whatif = scenarios.whatif
    apply_whatif = scenarios.apply_whatif
    clear_whatif = scenarios.clear_whatif
    applied_whatif = scenarios.applied

    def _open_work(self, jobs: list[Job]) -> tuple[list[Job], dict[UUID, UUID]]:
        """What is left to make: copies not yet done and not running are free to place; each running copy is
        pinned to its machine for its remaining time (as a stand-in part mapped back by ``alias``)."""
        running: dict[UUID, list[tuple[UUID, _Running]]] = {}
        for node_id, r in self._running.items():
            running.setdefault(r.part_id, []).append((node_id, r))
        alias: dict[UUID, UUID] = {}
        todo = []
        for job in jobs:
            parts = []
            for p in job.parts:
                if p.state in (S.COMPLETED, S.CANCELLED, S.FAILED):
                    continue
                runs = running.get(p.id, [])
                for node_id, r in runs:
                    if self.doubt.pending(node_id):
                        continue  # its machine is out of reach: held, not planned (the copy stays counted)
                    stand_in = replace(p, id=uuid4(), quantity=1, state=S.IN_PROGRESS, assigned_node=node_id,
                                       progress=100.0 * r.fraction, depends_on=[])
                    alias[stand_in.id] = p.id
                    parts.append(stand_in)
                left = max(p.quantity, 1) - self._done_copies.get(p.id, 0) - len(runs)
                if left > 0:
                    parts.append(replace(p, quantity=left, state=S.VALIDATED, assigned_node=None))
            if parts:
                todo.append(replace(job, parts=parts))
        return todo, alias

    async def _mark_scheduled(self, jobs: list[Job], view: PlanView) -> None:
        planned = {r.part_id for r in view.rows}
        for job in jobs:
            moves = {p.id: S.SCHEDULED for p in job.parts if p.id in planned and p.state is S.VALIDATED}
            if not moves:
                continue
            target = S.SCHEDULED if job.state is S.VALIDATED else job.state
            await self._jobs.transition(job.id, target, "planned", parts=moves)

    @staticmethod
    def _part_state(job: Job, part_id: UUID) -> JobState | None:
        return next((p.state for p in job.parts if p.id == part_id), None)

    # Groups of the service's work kept in their own modules; each is a plain function of the service.
    # The machine ends a run: book it (outcomes).
    _finished = outcomes.finished
    _tell = outcomes.tell
    _close_part = outcomes.close_part
    # A machine out of reach, and back from it (reconcile).
    _rescue = reconcile.rescue
    _show_in_doubt = reconcile.show_in_doubt
    _on_record = reconcile.on_record
    _late_finish = reconcile.late_finish
    _settle_apart = reconcile.settle_apart
    _cancel_copy = reconcile.cancel_copy
    _part_label = reconcile.part_label
    # Starting work on machines (dispatching).
    _dispatch_by_score = dispatching.dispatch_by_score
    _startable = dispatching.startable
    _dispatch = dispatching.start_planned
    _start = dispatching.start
    _book_on_machine = dispatching.book_on_machine
