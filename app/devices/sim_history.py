"""N finished jobs of a simulated fleet, for the tests, the benchmark and the demo (issue 15).

Each job gets a part (box-like, with a random fill and surface), settings, and the real analytic estimates of
``app.core.estimation.preslice`` (FDM, resin, CNC). What "really" happened comes from the machine's
``MachineBehaviour`` (sim_profiles): work slower or faster than planned (more so on small parts), bed soak by bed
size, occasional pauses, and failures whose risk grows with wear and with a hidden "trouble" state that shows
in the telemetry. The estimates never see those numbers, so a model has something honest to learn.

Simulated, not measured: the figures say what the method can find in data shaped like this, not what a real farm
will show. The G-code planner's time here is the "slicer's plan" plus 1 % noise (the planner is within 1 % of
the slicer on real files); the mesh estimate is the real rule of thumb run on the part's figures.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass

from app.core.domain.enums import ProcessType
from app.core.estimation.preslice import estimate_cnc, estimate_fdm, estimate_resin
from app.core.learning.records import JobRecord
from app.devices.sim_profiles import (
    MachineBehaviour,
    behaviour_for,
    failure_hazard_per_h,
    profile_for,
    soak_s,
    work_factor,
)

AMBIENT_C = 21.0


@dataclass(slots=True)
class SimMachine:
    name: str
    process: ProcessType
    bed_mm: tuple[float, float, float]
    materials: tuple[str, ...]
    behaviour: MachineBehaviour
    max_speed_mm_s: float = 0.0
    hours_since_maintenance: float = 0.0
    trouble: int = 0  # jobs left in a hidden trouble episode (a loose belt, a failing heater...)
    free_at: float = 0.0
    energy_factor: float = 1.0  # its drives' efficiency next to the profile's

    @property
    def bed_dm2(self) -> float:
        return self.bed_mm[0] * self.bed_mm[1] / 10_000.0

    @property
    def rated_power_w(self) -> float:
        p = profile_for(self.process)
        return p.work_power_w + sum(h.power_w for h in p.heaters) * max(1.0, self.bed_dm2 / 4.84)


FLEET_SPEC = (
    ("prusa-mk4-a", ProcessType.FDM, (250, 210, 220), ("pla", "petg"), 200),
    ("prusa-mk4-b", ProcessType.FDM, (250, 210, 220), ("pla", "petg", "asa"), 200),
    ("voron-350", ProcessType.FDM, (350, 350, 340), ("abs", "asa", "petg"), 300),
    ("ender-mini", ProcessType.FDM, (180, 180, 180), ("pla",), 120),
    ("bambu-x1", ProcessType.FDM, (256, 256, 256), ("pla", "petg", "pla-cf"), 400),
    ("form-3", ProcessType.SLA, (145, 145, 185), ("resin-standard", "resin-tough"), 0),
    ("mars-4", ProcessType.SLA, (153, 77, 165), ("resin-standard",), 0),
    ("shapeoko", ProcessType.CNC_MILL, (400, 400, 75), ("aluminium", "pom", "mdf"), 0),
    ("nomad-3", ProcessType.CNC_MILL, (200, 200, 75), ("aluminium", "brass", "hdpe"), 0),
)


def sim_fleet(seed: int = 0) -> list[SimMachine]:
    rng = random.Random(seed)
    return [SimMachine(n, p, bed, mats, behaviour_for(n, seed), speed,
                       hours_since_maintenance=rng.uniform(0, 150), energy_factor=rng.uniform(0.85, 1.15))
            for n, p, bed, mats, speed in FLEET_SPEC]


def simulate_history(n: int, seed: int = 0, start_at: float = 1.7e9,
                     fleet: list[SimMachine] | None = None) -> list[JobRecord]:
    """``n`` finished jobs in start order, reproducible from ``seed``."""
    rng = random.Random(seed)
    machines = fleet or sim_fleet(seed)
    for m in machines:
        m.free_at = start_at
    out: list[JobRecord] = []
    for _ in range(n):
        m = machines[rng.randrange(len(machines))]
        start = m.free_at + rng.expovariate(1 / 1800.0)
        out.append(_one_job(rng, m, start))
        m.free_at = out[-1].finished_at
    out.sort(key=lambda r: r.started_at)
    return out


def _part(rng: random.Random, m: SimMachine) -> tuple[tuple[float, float, float], float, float]:
    """A part's bounding box, volume and area: a box-like solid with a random fill and surface detail."""
    lim = [max(10.0, s * 0.9) for s in m.bed_mm]
    dims = tuple(min(lim[i], math.exp(rng.uniform(math.log(8), math.log(160)))) for i in range(3))
    if m.process is ProcessType.CNC_MILL:
        dims = (dims[0], dims[1], min(dims[2], 40.0))
    fill = rng.uniform(0.25, 0.95)
    volume = dims[0] * dims[1] * dims[2] * fill
    box_area = 2 * (dims[0] * dims[1] + dims[1] * dims[2] + dims[0] * dims[2])
    area = box_area * rng.uniform(1.0, 2.5)  # ribs, holes and fillets add surface
    return dims, volume, area  # type: ignore[return-value]


def _one_job(rng: random.Random, m: SimMachine, start: float) -> JobRecord:
    b = m.behaviour
    bbox, volume, area = _part(rng, m)
    material = rng.choice(m.materials)
    f: dict[str, float] = {"bed_area_dm2": m.bed_dm2, "rated_power_w": m.rated_power_w,
                           "max_speed_mm_s": float(m.max_speed_mm_s)}
    layer_mm, infill, bed_c = 0.0, 0.0, 0.0
    if m.process is ProcessType.FDM:
        layer_mm, infill = rng.choice((0.1, 0.15, 0.2, 0.28)), rng.uniform(0.1, 0.5)
        bed_c = {"abs": 100.0, "asa": 100.0, "petg": 80.0}.get(material, 60.0)
        est = estimate_fdm(volume, area, bbox[2], material, layer_mm=layer_mm, infill=infill)
    elif m.process is ProcessType.SLA:
        layer_mm = rng.choice((0.025, 0.05, 0.1))
        est = estimate_resin(volume, bbox[2], material, layer_mm=layer_mm)
    else:
        est = estimate_cnc(volume, area, bbox, material)
    # The slicer's plan differs from the rule of thumb by the part's shape; the G-code planner is within 1 % of
    # the slicer, so with G-code the estimate is the plan itself.
    plan_s = est.time_s * math.exp(rng.gauss(0.0, 0.18))
    has_gcode = rng.random() < 0.6
    planner_s = plan_s * (1 + rng.gauss(0.0, 0.01)) if has_gcode else 0.0
    mean_size = sum(bbox) / 3.0
    f.update(volume_cm3=volume / 1000.0, area_cm2=area / 100.0, height_mm=bbox[2], bbox_x_mm=bbox[0],
             bbox_y_mm=bbox[1], bbox_z_mm=bbox[2], mean_size_mm=mean_size,
             layers=float(math.ceil(bbox[2] / layer_mm)) if layer_mm else 0.0, layer_mm=layer_mm, infill=infill,
             planner_s=planner_s, has_gcode=float(has_gcode), mesh_estimate_s=est.time_s,
             analytic_s=planner_s if has_gcode else est.time_s, est_material_g=est.material_g, bed_target_c=bed_c)
    # The hidden trouble state and wear show in the window of telemetry before the start.
    if m.trouble == 0 and rng.random() < 0.03:
        m.trouble = rng.randint(5, 25)
    trouble = m.trouble > 0
    m.trouble = max(0, m.trouble - 1)
    vib0 = profile_for(m.process).vibration_mm_s or 0.3
    vib = vib0 * (1 + 10 * b.wear_per_h * m.hours_since_maintenance) * (1.4 if trouble else 1.0)
    f.update(hours_since_maintenance=m.hours_since_maintenance, vib_mean_1h=vib * rng.uniform(0.9, 1.1),
             vib_max_1h=vib * rng.uniform(1.2, 1.8), vib_slope_24h=vib0 * 10 * b.wear_per_h * rng.uniform(0.5, 1.5),
             temp_ripple_c=abs(rng.gauss(0.4, 0.15)) + (rng.uniform(0.8, 2.5) if trouble else 0.0),
             power_std_w=rng.uniform(5, 15) * (1.5 if trouble else 1.0))
    # What really happens.
    warm_s = 90.0 + 60.0 * (bed_c > 0) if profile_for(m.process).heaters else 0.0
    soak = soak_s(b, m.bed_dm2, bed_c, AMBIENT_C) if bed_c else 0.0
    work_s = plan_s * work_factor(b, mean_size) * math.exp(rng.gauss(0.0, 0.03))
    pauses_s, n_pauses = 0.0, 0
    for _ in range(_poisson(rng, b.pause_rate_per_h * work_s / 3600.0)):
        pauses_s += rng.expovariate(1.0 / max(b.pause_mean_s, 1.0))
        n_pauses += 1
    hazard = failure_hazard_per_h(b, m.hours_since_maintenance) * (5.0 if trouble else 1.0)
    failed = rng.random() < 1.0 - math.exp(-hazard * work_s / 3600.0)
    done = rng.uniform(0.05, 0.95) if failed else 1.0
    work_s *= done
    pauses_s *= done
    duration = warm_s + soak + work_s + pauses_s
    p = profile_for(m.process)
    heat_w = sum(h.power_w * h.target_c / h.max_c for h in p.heaters) * max(1.0, m.bed_dm2 / 4.84)
    energy_j = (p.work_power_w * m.energy_factor * work_s + heat_w * (work_s + pauses_s + soak)
                + sum(h.power_w for h in p.heaters) * warm_s + p.idle_power_w * pauses_s)
    m.hours_since_maintenance += (work_s + pauses_s) / 3600.0
    if failed and rng.random() < 0.6 or m.hours_since_maintenance > rng.uniform(250, 450):
        m.hours_since_maintenance = 0.0  # maintenance after a failure, or when due
        m.trouble = 0
    return JobRecord(
        job_id=str(uuid.UUID(int=rng.getrandbits(128))), machine=m.name, process=m.process.value,
        material=material, started_at=start, finished_at=start + duration, features=f, duration_s=duration,
        energy_kwh=energy_j / 3.6e6, material_g=est.material_g * done * rng.uniform(0.98, 1.06),
        outcome="failed" if failed else "completed",
        telemetry={"mean_power_w": energy_j / max(duration, 1.0), "pauses": float(n_pauses),
                   "pause_s": pauses_s, "heatup_s": warm_s + soak,
                   "vib_mean": f["vib_mean_1h"], "temp_ripple_c": f["temp_ripple_c"]},
        source="simulated")


def _poisson(rng: random.Random, lam: float) -> int:
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
