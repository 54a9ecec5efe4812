"""Candidate orientations of a part and the machines it fits in them.

The part is tried standing as drawn, then on each of its other sides, each turned about the vertical
in 5 (as drawn) or 15 degree steps; the extents for each pose are kept in the analysis, so checking a machine later is
a few comparisons and needs no geometry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core.domain.capabilities import Capabilities, MachineProfile

# (label, axes that become X, Y, Z, turning step in degrees): fine steps on the plate as drawn,
# coarser ones for the less likely poses, to keep big meshes fast.
UPS = (("as drawn", (0, 1, 2), 5), ("on its side (X up)", (1, 2, 0), 15), ("on its front (Y up)", (2, 0, 1), 15))


@dataclass(slots=True, frozen=True)
class Orientation:
    label: str
    rotate_z_deg: int
    size_mm: tuple[float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "rotate_z_deg": self.rotate_z_deg, "size_mm": list(self.size_mm)}


@dataclass(slots=True, frozen=True)
class MachineFit:
    machine: str
    fits: bool
    orientation: Orientation | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "fits": self.fits,
            "orientation": self.orientation.to_dict() if self.orientation else None,
            "reason": self.reason,
        }


def orientation_candidates(vertices: np.ndarray) -> list[Orientation]:
    """Extents for every pose: projections of all points on the few directions the poses need."""
    pts = np.asarray(vertices, dtype=np.float32)
    dirs: list[np.ndarray] = []
    plan: list[tuple[str, list[int], int, int]] = []  # label, degrees, first direction, height direction
    for label, (ax, ay, az), step in UPS:
        degs = list(range(0, 90, step))
        first = len(dirs)
        for deg in degs + [d + 90 for d in degs]:
            d = np.zeros(3)
            d[ax], d[ay] = np.cos(np.radians(deg)), np.sin(np.radians(deg))
            dirs.append(d)
        d = np.zeros(3)
        d[az] = 1.0
        dirs.append(d)
        plan.append((label, degs, first, len(dirs) - 1))
    dmat = np.asarray(dirs, dtype=np.float32).T  # (3, k)
    lo = np.full(dmat.shape[1], np.inf, dtype=np.float32)
    hi = np.full(dmat.shape[1], -np.inf, dtype=np.float32)
    for start in range(0, len(pts), 65536):  # chunks keep the (n, k) product small
        proj = pts[start : start + 65536] @ dmat
        np.minimum(lo, proj.min(axis=0), out=lo)
        np.maximum(hi, proj.max(axis=0), out=hi)
    width = (hi - lo).astype(float)
    out: list[Orientation] = []
    for label, degs, first, up in plan:
        for k, deg in enumerate(degs):
            size = (float(width[first + k]), float(width[first + k + len(degs)]), float(width[up]))
            out.append(Orientation(label, deg, size))
    return out


def fitting_machines(
    analysis: Any, machines: Iterable[Capabilities | MachineProfile | tuple[str, Capabilities]], scale: float = 1.0
) -> list[MachineFit]:
    """For each machine: does the part fit, in which orientation, and why not if it does not.

    ``analysis`` is a ``PartAnalysis``; ``scale`` converts file units to mm (25.4 for an inch part).
    """
    orients: Sequence[Orientation] = analysis.orientations
    fits: list[MachineFit] = []
    for i, m in enumerate(machines):
        name, caps = _name_caps(m, i)
        fits.append(_fit_one(name, caps, orients, scale))
    return fits


def _fit_one(name: str, caps: Capabilities, orients: Sequence[Orientation], scale: float) -> MachineFit:
    vol = caps.build_volume_mm
    if not any(vol):
        return MachineFit(name, True, orients[0] if orients else None, "machine has no build volume limit")
    for o in orients:
        size = tuple(s * scale for s in o.size_mm)
        if caps.fits(size, rotate=False):  # type: ignore[arg-type]
            how = o.label + (f", turned {o.rotate_z_deg} deg about Z" if o.rotate_z_deg else "")
            return MachineFit(name, True, o, f"fits {how}")
        if caps.fits((size[1], size[0], size[2]), rotate=False):
            turned = Orientation(o.label, o.rotate_z_deg + 90, (size[1] / scale, size[0] / scale, size[2] / scale))
            return MachineFit(name, True, turned, f"fits {o.label}, turned {turned.rotate_z_deg} deg about Z")
    base = tuple(s * scale for s in orients[0].size_mm) if orients else (0.0, 0.0, 0.0)
    return MachineFit(
        name,
        False,
        None,
        "part {:.1f} x {:.1f} x {:.1f} mm exceeds the build volume {:.0f} x {:.0f} x {:.0f} mm in every "
        "orientation tried".format(*base, *vol),
    )


def _name_caps(m: Capabilities | MachineProfile | tuple[str, Capabilities], i: int) -> tuple[str, Capabilities]:
    if isinstance(m, MachineProfile):
        return m.name, m.capabilities
    if isinstance(m, tuple):
        return str(m[0]), m[1]
    return f"machine {i + 1}", m
