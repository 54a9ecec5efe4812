"""Build a scheduling problem from the shop's jobs, parts and nodes (and map a plan back to them)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from app.core.domain.entities import Job, Node, NodeMaintenance, Part
from app.core.domain.enums import JobState, NodeState, ProcessType
from app.core.domain.errors import ValidationError
from app.core.scheduling.forecast import EnergyForecast, FlatForecast
from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import INF, MachinePower, Objective, Problem
from app.core.scheduling.staffing import StaffedHours, attend_flags

log = logging.getLogger(__name__)

IN_SERVICE = frozenset({NodeState.CONFIGURED, NodeState.IDLE, NodeState.ASSIGNED, NodeState.EXECUTING,
                        NodeState.COMPLETED})
DONE_STATES = frozenset({JobState.COMPLETED, JobState.CANCELLED, JobState.FAILED})
DEFAULT_DURATION_S = 3600
DEFAULT_MAINTENANCE_S = 4 * 3600

DurationFn = Callable[[Part, Node], int | None]
EnergyFn = Callable[[Part, Node], float | None]  # learned kWh of a part on a machine; None: the analytic draw


@dataclass(slots=True)
class OpRef:
    part_id: UUID
    job_id: UUID
    copy: int  # which copy of a part with quantity > 1
    step: int  # 0 = the part's own process, then its follow-up steps
    process: ProcessType


@dataclass(slots=True)
class Assignment:
    part_id: UUID
    job_id: UUID
    node_id: UUID
    copy: int
    step: int
    start: datetime
    end: datetime


@dataclass(slots=True)
class BuiltProblem:
    problem: Problem
    origin: datetime
    ops: list[OpRef]
    nodes: list[UUID]
    skipped: dict[UUID, str] = field(default_factory=dict)  # part -> why no machine can take it
    materials: list[str] = field(default_factory=list)  # material family number -> its name

    def assignments(self, plan: Plan) -> list[Assignment]:
        out = []
        for o, ref in enumerate(self.ops):
            out.append(Assignment(ref.part_id, ref.job_id, self.nodes[plan.machine[o]], ref.copy, ref.step,
                                  self.origin + timedelta(seconds=plan.start[o]),
                                  self.origin + timedelta(seconds=plan.end[o])))
        return out


def node_can_run(node: Node, process: ProcessType, material: str, size_mm: tuple[float, float, float],
                 tags: Iterable[str] = (), *, part: Part | None = None) -> str | None:
    """None when the node can run it, else the reason it cannot (for the operator). With ``part``, its file is
    checked too (a network printer needs a sliced file)."""
    caps = node.capabilities
    if node.state not in IN_SERVICE:
        return f"{node.name} is {node.state.value}"
    if caps.process != process:
        return f"{node.name} does {caps.process.value}, not {process.value}"
    if material and not caps.can_use(material):
        return f"{node.name} cannot use {material}"
    if not caps.fits(size_mm):
        return f"{node.name}'s build volume is too small"
    missing = set(tags) - set(caps.tags)
    if missing:
        return f"{node.name} lacks {', '.join(sorted(missing))}"
    if part is not None and not caps.takes_file(part.file_path):
        return f"{node.name} prints {', '.join(sorted(caps.file_kinds()))} files only"
    return None


def machine_power(node: Node) -> MachinePower | None:
    """The machine's own draw profile from its capabilities; None when it states no power (then the part's
    energy estimate, if any, is its draw)."""
    peak, heatup_s, steady, idle = node.capabilities.job_power()
    if peak <= 0:
        return None
    return MachinePower(steady_w=steady, peak_w=peak, peak_s=int(round(heatup_s)), idle_w=idle)


def learned_steady_w(mp: MachinePower | None, kwh: float, duration_s: int) -> float:
    """The steady draw above idle that makes a run of ``duration_s`` use ``kwh`` on this machine: the heat-up
    peak (a physical limit) and the idle draw stay as the profile states them; what the history adds or takes
    away is in the steady part. Never below zero (a model saying less than idle and heat-up keeps those)."""
    d = max(int(duration_s), 1)
    total_ws = max(kwh, 0.0) * 3.6e6
    if mp is None:
        return total_ws / d
    peak_s = min(max(mp.peak_s, 0), d)
    above_peak = (max(mp.peak_w, mp.steady_w) - mp.idle_w) * peak_s
    rest = total_ws - mp.idle_w * d - above_peak
    # and never above what the machine can draw (its stated peak): a cap check must be able to trust the profile
    return min(max(0.0, rest / max(d - peak_s, 1)), max(mp.peak_w, mp.steady_w) - mp.idle_w)


def _under_cap(mp: MachinePower | None, cap_w: float | None, base_w: float) -> bool:
    return cap_w is None or mp is None or max(mp.peak_w, mp.steady_w) - mp.idle_w <= cap_w - base_w + 1e-6


def _default_duration(part: Part, node: Node, ref_speed: float) -> int:
    base = part.estimated_duration_s or DEFAULT_DURATION_S
    sp = node.capabilities.max_speed_mm_s
    factor = ref_speed / sp if sp > 0 and ref_speed > 0 and part.process.additive else 1.0
    return max(1, int(round(base * factor)))


def build_problem(jobs: Sequence[Job], nodes: Sequence[Node], now: datetime, *,
                  durations: DurationFn | None = None, energies: EnergyFn | None = None,
                  follow_up: Mapping[ProcessType, Sequence[tuple[ProcessType, int]]] | None = None,
                  maintenance: Sequence[NodeMaintenance] = (),
                  closed: Mapping[UUID, Sequence[tuple[datetime, datetime]]] | None = None,
                  setup_s: int = 900, power_cap_w: float | None = None,
                  forecast: EnergyForecast | None = None, objective: Objective | None = None,
                  staffed: StaffedHours | None = None) -> BuiltProblem:
    """Operations for every unfinished part (times ``quantity``, plus follow-up steps such as wash and cure),
    eligible on the in-service nodes that match process, material, build volume and required tags
    (``job.metadata["tags"]``). Parts in progress are pinned to their node for their remaining time.
    Parts that no node can take are listed in ``skipped`` with the reason, not silently dropped.
    With ``staffed`` hours, work starts and/or ends only when someone is there (the site's default, or the job's
    ``metadata["attend"]``: start, end, both or none).
    """
    origin = now
    node_list = list(nodes)
    nidx = {n.id: i for i, n in enumerate(node_list)}
    speeds = sorted(n.capabilities.max_speed_mm_s for n in node_list if n.capabilities.max_speed_mm_s > 0)
    ref_speed = speeds[len(speeds) // 2] if speeds else 0.0
    materials: dict[str, int] = {}
    for n in node_list:
        if n.capabilities.loaded_material:
            materials.setdefault(n.capabilities.loaded_material, len(materials))
    follow_up = follow_up or {}
    profiles = [machine_power(n) for n in node_list]
    base_w = sum(mp.idle_w for mp in profiles if mp is not None)
    p_op_job: list[int] = []
    alts: list[list[tuple[int, int]]] = []
    preds: list[list[int]] = []
    names: list[str] = []
    release: list[int] = []
    family: list[int] = []
    power: list[float] = []
    refs: list[OpRef] = []
    fixed: dict[int, tuple[int, int]] = {}
    attend: list[int] = []
    job_names: list[str] = []
    job_weight: list[float] = []
    job_due: list[int] = []
    skipped: dict[UUID, str] = {}
    learned_part: dict[tuple[UUID, int], float] = {}  # (part, machine) -> learned steady draw above idle
    learned_w: dict[tuple[int, int], float] = {}  # (op, machine) -> the same, per operation
    last_ops: dict[UUID, list[int]] = {}
    pending_deps: list[tuple[int, UUID]] = []
    for job in jobs:
        if job.state in DONE_STATES:
            continue
        j = len(job_names)
        job_names.append(job.name)
        job_weight.append(float(min(max(job.priority, 1), 10)))
        job_due.append(max(0, int((job.due_at - origin).total_seconds())) if job.due_at else INF)
        rel = max(0, int((job.submitted_at - origin).total_seconds())) if job.submitted_at else 0
        tags = tuple(job.metadata.get("tags", ()))
        needs = _job_attend(job, staffed)
        for part in job.parts:
            if part.state in DONE_STATES:
                continue
            reasons = []
            elig: list[tuple[int, int]] = []
            for n in node_list:
                why = node_can_run(n, part.process, part.material_type, part.size_mm, tags, part=part)
                if why:
                    reasons.append(why)
                    continue
                d = durations(part, n) if durations else None
                elig.append((nidx[n.id], d if d is not None else _default_duration(part, n, ref_speed)))
                kwh = energies(part, n) if energies else None
                if kwh is not None:
                    learned_part[(part.id, nidx[n.id])] = learned_steady_w(profiles[nidx[n.id]], kwh, elig[-1][1])
            for m, _d in list(elig):  # a machine that alone would break the cap can never take it
                if not _under_cap(profiles[m], power_cap_w, base_w):
                    reasons.append(f"{node_list[m].name} draws {profiles[m].peak_w:.0f} W, above what the "  # type: ignore[union-attr]
                                   f"site cap of {power_cap_w:.0f} W leaves")
                    elig.remove((m, _d))
            if not elig:
                skipped[part.id] = "; ".join(reasons) or "no machines"
                continue
            fam = materials.setdefault(part.material_type, len(materials)) if part.material_type else -1
            # the part's own estimate is the draw only on a machine that states no power profile
            avg_w = (part.estimated_energy_kwh * 3.6e6 / max(part.estimated_duration_s, 1)
                     if part.estimated_energy_kwh and part.estimated_duration_s else 0.0)
            tails: list[int] = []
            for c in range(max(part.quantity, 1)):
                op = len(p_op_job)
                started = part.state in (JobState.IN_PROGRESS, JobState.PAUSED) and part.assigned_node in nidx \
                    and c == 0
                if started:
                    m = nidx[part.assigned_node]  # type: ignore[index]
                    full = dict(elig).get(m) or _default_duration(part, node_list[m], ref_speed)
                    left = max(1, int(full * (1 - part.progress / 100)))
                    alts.append([(m, left)])
                    fixed[op] = (m, 0)
                else:
                    alts.append(list(elig))
                preds.append([])
                p_op_job.append(j)
                names.append(f"{job.name}/{part.name}#{c + 1}")
                release.append(0 if started else rel)
                attend.append(0 if started else needs)
                family.append(fam)
                power.append(avg_w)
                for m, _d in alts[-1]:
                    if (part.id, m) in learned_part:
                        learned_w[(op, m)] = learned_part[(part.id, m)]
                refs.append(OpRef(part.id, job.id, c, 0, part.process))
                prev = op
                for s, (proc, dur_s) in enumerate(follow_up.get(part.process, ()), start=1):
                    cands = [(nidx[n.id], dur_s) for n in node_list
                             if node_can_run(n, proc, "", (0.0, 0.0, 0.0), ()) is None
                             and _under_cap(profiles[nidx[n.id]], power_cap_w, base_w)]
                    if not cands:
                        skipped[part.id] = f"no machine for the {proc.value} step"
                        break
                    op2 = len(p_op_job)
                    alts.append(cands)
                    preds.append([prev])
                    p_op_job.append(j)
                    names.append(f"{job.name}/{part.name}#{c + 1}:{proc.value}")
                    release.append(rel)
                    attend.append(needs)
                    family.append(-1)
                    power.append(0.0)
                    refs.append(OpRef(part.id, job.id, c, s, proc))
                    prev = op2
                tails.append(prev)
                for dep in part.depends_on:
                    pending_deps.append((op, dep))
            last_ops[part.id] = tails
    for op, dep in pending_deps:  # assembly waits for every copy of every part it needs (a sync point)
        if dep in last_ops:
            preds[op].extend(last_ops[dep])
    n_m = len(node_list)
    unavailable: list[list[tuple[int, int]]] = [[] for _ in range(n_m)]
    for mt in maintenance:
        if mt.completed_date is None and mt.node_id in nidx:
            a = int((mt.scheduled_date - origin).total_seconds())
            if a + DEFAULT_MAINTENANCE_S > 0:
                unavailable[nidx[mt.node_id]].append((max(a, 0), a + DEFAULT_MAINTENANCE_S))
    for nid, wins in (closed or {}).items():
        if nid in nidx:
            for a_dt, b_dt in wins:
                a, b = int((a_dt - origin).total_seconds()), int((b_dt - origin).total_seconds())
                if b > 0 and b > a:
                    unavailable[nidx[nid]].append((max(a, 0), b))
    setup = [[0 if a == b else setup_s for b in range(len(materials))] for a in range(len(materials))]
    if not p_op_job:
        raise ValidationError("nothing to plan: no unfinished part can run on a machine in service")
    machine_family = [materials.get(n.capabilities.loaded_material or "", -1) for n in node_list]
    for op, (m, _s) in fixed.items():
        # running work keeps its machine busy (and its material loaded) before any window may start
        busy_until = alts[op][0][1]
        unavailable[m] = [(max(a, busy_until), b) for a, b in unavailable[m] if b > busy_until]
        if family[op] >= 0:
            machine_family[m] = family[op]
    problem = Problem(
        n_machines=n_m, op_job=p_op_job, alts=alts, preds=preds,
        machine_names=[n.name for n in node_list], op_names=names, job_names=job_names,
        job_weight=job_weight, job_due=job_due, release=release, family=family, setup_time=setup,
        machine_family=machine_family,
        unavailable=unavailable, power_w=power, machine_power=profiles, power_cap_w=power_cap_w, learned_w=learned_w,
        forecast=forecast or FlatForecast(), objective=objective or Objective(), fixed=fixed,
        staffed=staffed.plan_windows(origin) if staffed is not None else None, attend=attend,
    )
    if skipped:
        log.info("%d part(s) have no machine: %s", len(skipped), next(iter(skipped.values())))
    return BuiltProblem(problem, origin, refs, [n.id for n in node_list], skipped,
                        sorted(materials, key=materials.__getitem__))


def _job_attend(job: Job, staffed: StaffedHours | None) -> int:
    """What the job's work needs a person for: its own ``metadata["attend"]``, else the site's default."""
    if staffed is None:
        return 0
    word = job.metadata.get("attend")
    if word is None:
        return staffed.attend
    try:
        return attend_flags(word)
    except ValidationError:
        log.warning("job %s: attend %r is not start, end, both or none; the site's default applies", job.name, word)
        return staffed.attend
