"""G2/G3 arcs as chains of short straight moves, the way firmware executes them."""

from __future__ import annotations

import numpy as np

ARC_TOLERANCE_MM = 0.01  # chord error, as GRBL's default $12 = 0.002 inch-ish and Marlin's MM_PER_ARC_SEGMENT
MAX_SEGMENTS = 2000


def arc_segments(
    start: np.ndarray, end: np.ndarray, centre_off: np.ndarray, radius: np.ndarray, clockwise: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split arcs into chords.

    start, end: (k, 3); centre_off: (k, 2) I/J offsets from the start (NaN when R is given);
    radius: (k,) R word or NaN. Returns (points (s, 3), owner arc of each point, fraction along the arc).
    """
    s, e = start[:, :2], end[:, :2]
    centre = s + np.nan_to_num(centre_off)
    use_r = np.isnan(centre_off).all(axis=1) & ~np.isnan(radius)
    if use_r.any():
        centre[use_r] = _centre_from_radius(s[use_r], e[use_r], radius[use_r], clockwise[use_r])
    r = np.hypot(*(s - centre).T)
    a0 = np.arctan2(s[:, 1] - centre[:, 1], s[:, 0] - centre[:, 0])
    a1 = np.arctan2(e[:, 1] - centre[:, 1], e[:, 0] - centre[:, 0])
    sweep = a1 - a0
    full = np.hypot(*(e - s).T) < 1e-9
    sweep = np.where(clockwise, np.where(sweep >= 0, sweep - 2 * np.pi, sweep), np.where(sweep <= 0, sweep + 2 * np.pi, sweep))
    sweep = np.where(full, np.where(clockwise, -2 * np.pi, 2 * np.pi), sweep)
    with np.errstate(invalid="ignore", divide="ignore"):
        step = 2 * np.arccos(np.clip(1 - ARC_TOLERANCE_MM / np.maximum(r, 1e-9), -1, 1))
        nseg = np.clip(np.ceil(np.abs(sweep) / np.maximum(step, 1e-6)), 1, MAX_SEGMENTS).astype(np.int64)
    nseg[~np.isfinite(r) | (r < 1e-9)] = 1
    owner = np.repeat(np.arange(len(start)), nseg)
    first = np.cumsum(nseg) - nseg
    frac = (np.arange(len(owner)) - first[owner] + 1) / nseg[owner]
    ang = a0[owner] + sweep[owner] * frac
    pts = np.empty((len(owner), 3))
    pts[:, 0] = centre[owner, 0] + r[owner] * np.cos(ang)
    pts[:, 1] = centre[owner, 1] + r[owner] * np.sin(ang)
    pts[:, 2] = start[owner, 2] + (end[owner, 2] - start[owner, 2]) * frac
    last = first + nseg - 1
    pts[last] = end  # land exactly on the programmed end point
    return pts, owner, frac


def _centre_from_radius(s: np.ndarray, e: np.ndarray, r: np.ndarray, cw: np.ndarray) -> np.ndarray:
    """R-form arcs: the centre on the chord's bisector; negative R picks the longer arc."""
    mid = (s + e) / 2
    chord = e - s
    d = np.hypot(*chord.T)
    h = np.sqrt(np.maximum(r * r - (d / 2) ** 2, 0.0))
    perp = np.stack([-chord[:, 1], chord[:, 0]], axis=1) / np.maximum(d, 1e-12)[:, None]
    side = np.where(cw, -1.0, 1.0) * np.sign(r)
    return mid + perp * (h * side)[:, None]
