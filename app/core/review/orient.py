"""The orientation Imewe recommends for printing a part, and the part's pose on a machine's plate.

Each of the six sides may face down; the one needing the least support (overhang area steeper than the
overhang angle, not counting faces on the plate) wins, ties going to the lower part and then to the pose as
drawn. It is then turned about the vertical in 5 degree steps until it fits the chosen machine's build volume.
Rotations are proper (no mirroring), so the placed part is the part that will be made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.core.domain.capabilities import Capabilities

# (label, rotation taking file coordinates to the pose, before turning about Z)
_UPS: tuple[tuple[str, tuple[tuple[float, ...], ...]], ...] = (
    ("as drawn", ((1, 0, 0), (0, 1, 0), (0, 0, 1))),
    ("upside down", ((1, 0, 0), (0, -1, 0), (0, 0, -1))),
    ("on its side (X up)", ((0, 1, 0), (0, 0, 1), (1, 0, 0))),
    ("on its other side (X down)", ((0, 1, 0), (0, 0, -1), (-1, 0, 0))),
    ("on its front (Y up)", ((0, 0, 1), (1, 0, 0), (0, 1, 0))),
    ("on its back (Y down)", ((0, 0, -1), (1, 0, 0), (0, -1, 0))),
)
TURN_STEP_DEG = 5
TIE_SHARE = 0.02  # overhang areas within 2 % of the surface count as equal


@dataclass(frozen=True, slots=True)
class Pose:
    label: str
    rotate_z_deg: int
    rotation: tuple[tuple[float, float, float], ...]  # 3 x 3, file coordinates -> pose
    size_mm: tuple[float, float, float]  # after the file-unit scale
    overhang_mm2: float
    fits: bool
    reason: str

    @property
    def matrix(self) -> np.ndarray:
        return np.asarray(self.rotation, dtype=float)

    def describe(self) -> str:
        turn = f", turned {self.rotate_z_deg} deg about Z" if self.rotate_z_deg else ""
        return f"{self.label}{turn}"


def _rz(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _overhang_area(tris: np.ndarray, cross: np.ndarray, norm: np.ndarray, up: np.ndarray, sin_a: float) -> float:
    z = tris @ up  # (n, 3) heights of each corner
    on_plate = z.max(axis=1) <= z.min() + 1e-3
    with np.errstate(invalid="ignore", divide="ignore"):
        nz = np.where(norm > 0, (cross @ up) / norm, 0.0)
    return float(norm[(nz < -sin_a) & ~on_plate].sum() / 2.0)


def _turn(verts: np.ndarray, rot: np.ndarray, caps: Capabilities | None, scale: float
          ) -> tuple[int, tuple[float, float, float], bool]:
    """The smallest turn about Z that fits the machine (0 when nothing fits or the machine has no limit)."""
    p = verts @ rot.T * scale
    height = float(np.ptp(p[:, 2])) if len(p) else 0.0
    vol = caps.build_volume_mm if caps else (0.0, 0.0, 0.0)
    degs = np.arange(0, 180, TURN_STEP_DEG)
    rad = np.radians(degs)
    dirs = np.stack([np.cos(rad), np.sin(rad)])  # (2, k)
    proj = p[:, :2] @ dirs
    width = proj.max(axis=0) - proj.min(axis=0)  # extent along each direction
    k90 = len(degs) // 2
    for i in range(len(degs)):
        size = (float(width[i]), float(width[(i + k90) % len(degs)]), height)
        if caps is None or not any(vol) or caps.fits(size, rotate=False):
            return int(degs[i]), size, True
    return 0, (float(width[0]), float(width[k90]), height), False


def _hull_points(points: np.ndarray) -> np.ndarray:
    """The convex hull's corners: the same extents in every direction as all the points, a thousand times fewer."""
    try:
        from scipy.spatial import ConvexHull, QhullError

        try:
            return points[ConvexHull(points).vertices]
        except (QhullError, ValueError):  # flat or degenerate: every point then
            return points
    except ImportError:
        return points


def pose_of(triangles: np.ndarray, label: str, caps: Capabilities | None, scale: float = 1.0,
            overhang_deg: float = 45.0) -> Pose:
    """One named pose (e.g. "as drawn", the file's own orientation) on this machine."""
    if label not in {name for name, _ in _UPS}:
        raise ValueError(f"unknown pose {label!r}")
    return PoseFinder(triangles, scale, overhang_deg).poses(caps, only=label)[0]


def recommend_pose(triangles: np.ndarray, caps: Capabilities | None, scale: float = 1.0,
                   overhang_deg: float = 45.0) -> Pose:
    """The pose to print in: least support, then lowest, then as drawn; one that fits the machine if any does."""
    return PoseFinder(triangles, scale, overhang_deg).recommend(caps)


class PoseFinder:
    """The geometry work done once per part (face normals, support per side down, hull); each machine after
    that costs a few hundred projections."""

    def __init__(self, triangles: np.ndarray, scale: float = 1.0, overhang_deg: float = 45.0) -> None:
        tris = np.asarray(triangles, dtype=np.float64).reshape(-1, 3, 3)
        cross = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
        norm = np.linalg.norm(cross, axis=1)
        self.scale = scale
        self.total_mm2 = float(norm.sum() / 2.0) * scale * scale
        self.verts = _hull_points(tris.reshape(-1, 3))
        sin_a = math.sin(math.radians(overhang_deg))
        self._recommended: dict[tuple[float, ...] | None, Pose] = {}
        self.support_mm2 = [_overhang_area(tris, cross, norm, np.asarray(rows, dtype=float)[2], sin_a) * scale**2
                            for _, rows in _UPS]

    def recommend(self, caps: Capabilities | None) -> Pose:
        """Machines of one build volume share the answer: a fleet of 500 alike costs one search, not 500."""
        key = tuple(caps.build_volume_mm) if caps is not None else None
        if key not in self._recommended:
            poses = self.poses(caps)
            self._recommended[key] = next((p for p in poses if p.fits), poses[0])
        return self._recommended[key]

    def poses(self, caps: Capabilities | None, only: str | None = None) -> list[Pose]:
        scored = []
        for i, (label, rows) in enumerate(_UPS):
            if only is not None and label != only:
                continue
            base = np.asarray(rows, dtype=float)
            over = self.support_mm2[i]
            deg, size, fits = _turn(self.verts, base, caps, self.scale)
            rot = _rz(-deg) @ base  # turning the part by -deg brings the fitting direction onto X
            rot[np.abs(rot) < 1e-12] = 0.0
            if fits:
                reason = f"fits {label}" + (f", turned {deg} deg about Z" if deg else "")
            else:
                vol = caps.build_volume_mm if caps else (0.0, 0.0, 0.0)
                reason = "{:.1f} x {:.1f} x {:.1f} mm does not fit {:.0f} x {:.0f} x {:.0f} mm".format(*size, *vol)
            pose = Pose(label, deg, tuple(tuple(float(v) for v in r) for r in rot), size, over, fits, reason)
            tie = round(over / max(self.total_mm2 * TIE_SHARE, 1e-9))
            scored.append(((tie, round(size[2], 1), i), pose))
        return [p for _, p in sorted(scored, key=lambda t: t[0])]
