"""The fixed feature order every model takes, and the simple baselines each model must beat.

All features are known before a job starts: the machine, process and material (as codes), the part analysis
(volume, area, height, bounding box, layers), the G-code planner's time and material when there is G-code, the
mesh-based estimate when there is not, the settings, and a window of the machine's recent telemetry (wear,
vibration, temperature ripple). ``analytic_s`` is the estimate the planner would use without learning.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from app.core.domain.enums import ProcessType
from app.core.domain.materials import KNOWN_MATERIALS
from app.core.learning.records import JobRecord

# Part analysis, estimates and settings (read from JobRecord.features; a missing one reads as 0).
PART = ("volume_cm3", "area_cm2", "height_mm", "bbox_x_mm", "bbox_y_mm", "bbox_z_mm", "mean_size_mm", "layers",
        "layer_mm", "infill", "analytic_s", "planner_s", "has_gcode", "mesh_estimate_s", "est_material_g",
        "bed_target_c")
MACHINE = ("bed_area_dm2", "rated_power_w", "max_speed_mm_s")
# A window of the machine's telemetry before the start (the last hour, and the trend over a day).
WINDOW = ("hours_since_maintenance", "vib_mean_1h", "vib_max_1h", "vib_slope_24h", "temp_ripple_c", "power_std_w")
CODES = ("process_code", "material_code", "machine_code", "machine_ratio")
FEATURES: tuple[str, ...] = CODES + MACHINE + PART + WINDOW

_PROCESSES = [p.value for p in ProcessType]
_MATERIALS = sorted(KNOWN_MATERIALS)


def analytic_s(r: JobRecord) -> float:
    """The estimate without learning: the G-code planner's time when there is G-code, else the mesh estimate."""
    return max(1.0, float(r.features.get("analytic_s") or r.features.get("mesh_estimate_s") or 1.0))


def machine_ratios(records: Iterable[JobRecord]) -> dict[str, float]:
    """Per machine, the median of real / estimated duration over its completed jobs: the PrintTimeGenius-style
    correction (the baseline), and a feature the models may use."""
    by: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if not r.failed and r.duration_s > 0:
            by[r.machine].append(r.duration_s / analytic_s(r))
    return {m: float(np.median(v)) for m, v in by.items()}


def vectorize(records: Sequence[JobRecord], machines: Sequence[str], ratios: dict[str, float]) -> np.ndarray:
    """Rows in ``FEATURES`` order, float32 (what the ONNX models take). Unknown codes read as -1."""
    mindex = {m: i for i, m in enumerate(machines)}
    out = np.zeros((len(records), len(FEATURES)), dtype=np.float32)
    for i, r in enumerate(records):
        f = r.features
        row = [
            float(_PROCESSES.index(r.process)) if r.process in _PROCESSES else -1.0,
            float(_MATERIALS.index(r.material)) if r.material in _MATERIALS else -1.0,
            float(mindex.get(r.machine, -1)),
            ratios.get(r.machine, 1.0),
        ]
        row += [_num(f.get(k)) for k in MACHINE + PART + WINDOW]
        out[i] = row
    # Times spread over orders of magnitude: the models see their logarithm.
    for k in ("analytic_s", "planner_s", "mesh_estimate_s"):
        j = FEATURES.index(k)
        out[:, j] = np.log1p(np.maximum(out[:, j], 0.0))
    return out


def _num(v: object) -> float:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def rated_energy_kwh(r: JobRecord, duration_s: float | None = None) -> float:
    """The baseline energy figure: the machine's rated power x the estimated (or given) duration."""
    d = analytic_s(r) if duration_s is None else duration_s
    return float(r.features.get("rated_power_w", 0.0)) * d / 3.6e6


def energy_base_kwh(r: JobRecord) -> float:
    """What the energy model scales: rated power x estimated duration (a nominal 100 W when the machine states
    no rated power), so one network serves a 20 Wh and a 20 kWh job."""
    return rated_energy_kwh(r) or 100.0 * analytic_s(r) / 3.6e6


GCODE_SUFFIXES = (".gcode", ".gco", ".g", ".bgcode")


def prestart_features(size_mm: Sequence[float], estimate_s: float, material_g: float, file_path: str | None,
                      caps: dict) -> dict[str, float]:
    """The features a part on a machine has before it starts, from what the store keeps of both (the part's
    size, estimate, material and file; the machine's capabilities as stored)."""
    bv = caps.get("build_volume_mm") or [0, 0, 0]
    gcode = bool(file_path and str(file_path).lower().endswith(GCODE_SUFFIXES))
    x, y, z = (float(s) for s in size_mm)
    est = float(estimate_s or 0)
    return {"bed_area_dm2": float(bv[0]) * float(bv[1]) / 10_000.0,
            "rated_power_w": float(caps.get("max_power_w") or 0), "max_speed_mm_s": float(caps.get("max_speed_mm_s") or 0),
            "bbox_x_mm": x, "bbox_y_mm": y, "bbox_z_mm": z, "height_mm": z, "mean_size_mm": (x + y + z) / 3.0,
            "analytic_s": est, "planner_s": est if gcode else 0.0, "has_gcode": float(gcode),
            "mesh_estimate_s": 0.0 if gcode else est, "est_material_g": float(material_g or 0)}
