"""How each machine of the fleet would make a reviewed part: fit, time, material, energy, cost, CO2 and the
earliest finish the current plan allows.

Figures rest on the estimation code (pre-slice rules of thumb for a mesh, the planner for G-code), the
machine's rated power (as the scheduler assumes) and the energy forecast's marginal price and carbon over the
hours the part would run. Machines of another process are listed with why they cannot make it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from app.core.domain.entities import Node
from app.core.domain.enums import ProcessType
from app.core.domain.words import process_word
from app.core.estimation.orientation import fitting_machines
from app.core.estimation.preslice import estimate_cnc, estimate_fdm, estimate_resin
from app.core.jobs.eta import DurationEstimate

Rates = Callable[[datetime, datetime], tuple[float, float] | None]  # (price per kWh, g CO2 per kWh) over a window
# (machine, analytic time s, material, grams or None, size mm) -> the learned time on it, or the analytic one
Learned = Callable[[Node, float, str, float | None, tuple[float, float, float]], DurationEstimate | None]


@dataclass(frozen=True, slots=True)
class PartFacts:
    """What is known of the part under review: a mesh analysis or a G-code analysis, and the file-unit scale."""

    kind: str  # "mesh" or "gcode"
    analysis: Any  # PartAnalysis or GcodeAnalysis
    scale: float = 1.0
    flavor: str = ""  # G-code: printer, cnc or laser
    poses: Mapping[UUID, Any] | None = None  # mesh: the recommended Pose on each machine (how it fits)


@dataclass(frozen=True, slots=True)
class Candidate:
    node_id: UUID
    machine: str
    process: ProcessType
    fits: bool
    how: str  # "fits as drawn", "wrong process (cnc_mill)", ...
    time_s: float | None = None
    material: str = ""
    material_g: float | None = None
    energy_kwh: float | None = None
    cost: float | None = None
    co2_g: float | None = None
    earliest_start: datetime | None = None
    earliest_finish: datetime | None = None
    basis: str = ""
    learned: bool | None = None  # None: no learning port asked; False: the analytic estimate (``note`` says why)
    low_s: float | None = None  # the learned time's 80 % interval
    high_s: float | None = None
    note: str = ""

    @property
    def usable(self) -> bool:
        return self.fits and self.time_s is not None


def average_rates(points: Sequence[Any], start: datetime, end: datetime) -> tuple[float, float] | None:
    """Mean marginal price and carbon of the forecast hours overlapping [start, end] (points have ``at``,
    ``marginal_price``, ``marginal_carbon``, one per hour); None when the forecast does not cover the window."""
    if not points:
        return None
    hour = timedelta(hours=1)
    weights = []
    for p in points:
        overlap = (min(p.at + hour, end) - max(p.at, start)).total_seconds()
        if overlap > 0:
            weights.append((overlap, p.marginal_price, p.marginal_carbon))
    if not weights:
        # a window past the forecast: the last hour's figures are the best guess left
        last = points[-1]
        return (float(last.marginal_price), float(last.marginal_carbon)) if end > last.at else None
    total = sum(w for w, _, _ in weights)
    return (sum(w * p for w, p, _ in weights) / total, sum(w * c for w, _, c in weights) / total)


def _process_ok(process: ProcessType, facts: PartFacts) -> bool:
    if facts.kind == "gcode":
        if facts.flavor == "printer":
            return process is ProcessType.FDM
        if facts.flavor == "laser":
            return process is ProcessType.LASER
        return process in (ProcessType.CNC_MILL, ProcessType.LASER) if facts.flavor == "cnc" else False
    return process in (ProcessType.FDM, ProcessType.SLA, ProcessType.SLS, ProcessType.MJF, ProcessType.CNC_MILL)


def _material(node: Node, wanted: str | None) -> str:
    caps = node.capabilities
    if wanted and caps.can_use(wanted):
        return wanted
    return caps.loaded_material or (sorted(caps.materials)[0] if caps.materials else "")


def _mesh_estimate(node: Node, facts: PartFacts, material: str) -> tuple[float, float, str]:
    a, s = facts.analysis, facts.scale
    vol, area = abs(a.volume_mm3) * s**3, a.area_mm2 * s**2
    bbox = tuple(v * s for v in a.bbox_mm)
    p = node.capabilities.process
    if p is ProcessType.CNC_MILL:
        e = estimate_cnc(vol, area, bbox, material or "aluminium")  # type: ignore[arg-type]
    elif p is ProcessType.FDM:
        e = estimate_fdm(vol, area, bbox[2], material or "pla")
    else:  # resin and powder beds: time by height, material by volume
        e = estimate_resin(vol, bbox[2], material or "resin-standard")
    return e.time_s, e.material_g, e.basis


def candidates(nodes: Iterable[Node], facts: PartFacts, now: datetime, *, material: str | None = None,
               busy_until: Mapping[UUID, datetime] | None = None, rates: Rates | None = None,
               learned: Learned | None = None) -> list[Candidate]:
    """One row per machine, the ones that can make the part first (earliest finish first). ``learned`` gives the
    machine's learned time for the part (issue 15); where it is learned, it is the row's time and finish."""
    busy = busy_until or {}
    out: list[Candidate] = []
    for node in nodes:
        caps = node.capabilities
        base = {"node_id": node.id, "machine": node.name, "process": caps.process}
        if not _process_ok(caps.process, facts):
            out.append(Candidate(**base, fits=False, how=f"{process_word(caps.process)}, another process"))
            continue
        if facts.kind == "mesh" and facts.poses and node.id in facts.poses:
            pose = facts.poses[node.id]
            fits, how = pose.fits, pose.reason
        elif facts.kind == "mesh":
            fit = fitting_machines(facts.analysis, [(node.name, caps)], scale=facts.scale)[0]
            fits, how = fit.fits, fit.reason
        else:
            size = tuple(facts.analysis.bbox_mm)
            fits = caps.fits(size, rotate=False)  # type: ignore[arg-type]
            how = "fits" if fits else "{:.0f} x {:.0f} x {:.0f} mm toolpath is larger than its work area".format(*size)
        if not node.state.in_service:
            out.append(Candidate(**base, fits=False, how=f"{how}; the machine is {node.state.value.lower()}"))
            continue
        mat = _material(node, material)
        if facts.kind == "mesh":
            time_s, grams, basis = _mesh_estimate(node, facts, mat)
        else:
            g = facts.analysis
            time_s, grams, basis = g.estimated_time_s, (g.filament_g if facts.flavor == "printer" else None), \
                g.time_basis
        extra: dict[str, Any] = {}
        if learned is not None and time_s and time_s > 0:
            size = tuple(v * (facts.scale if facts.kind == "mesh" else 1.0) for v in facts.analysis.bbox_mm)
            est = learned(node, time_s, mat, grams, size)  # type: ignore[arg-type]
            if est is not None and est.learned:
                time_s = est.value_s
                basis = f"learned from this machine's history (the analytic estimate: {basis})"
                extra = {"learned": True, "low_s": est.low_s, "high_s": est.high_s}
            elif est is not None:
                extra = {"learned": False, "note": est.note}
        kwh = caps.max_power_w * time_s / 3.6e6 if caps.max_power_w > 0 else None
        start = max(now, busy.get(node.id, now))
        end = start + timedelta(seconds=time_s)
        price = rates(start, end) if rates is not None and kwh is not None else None
        cost, co2 = (kwh * price[0], kwh * price[1]) if price is not None and kwh is not None else (None, None)
        out.append(Candidate(**base, fits=fits, how=how, time_s=time_s, material=mat, material_g=grams,
                             energy_kwh=kwh, cost=cost, co2_g=co2, earliest_start=start if fits else None,
                             earliest_finish=end if fits else None, basis=basis, **extra))
    far = datetime.max.replace(tzinfo=now.tzinfo)
    return sorted(out, key=lambda c: (not c.usable, c.earliest_finish or far, c.machine))
