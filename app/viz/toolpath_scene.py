"""Line-segment meshes of a toolpath (built on the worker thread), split into working and travel moves.

Moves stay in file order, which is layer order, so "layers up to k" is always a prefix of each set:
the layer slider only has to cut arrays, never to search or threshold a mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyvista as pv

from app.core.estimation.gcode_model import MoveKind, Toolpath
from app.core.estimation.gcode_parser import parse_gcode_file

# The one table of feature colours: the renderer's lookup table and the legend both read it, so what the legend
# names is the colour on screen (the 20 colours of matplotlib's "tab20", repeated for files with more features).
FEATURE_COLOURS = ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
                   "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7",
                   "#bcbd22", "#dbdb8d", "#17becf", "#9edae5")
# Above this many working segments the view joins neighbouring segments of the same path (every
# k-th point kept, path ends always kept): software OpenGL draws ~1M lines a second, and at screen
# resolution a 50 MB file's 1.5 mm moves are not told apart anyway.
MAX_DRAWN_SEGMENTS = 600_000


@dataclass(slots=True)
class MoveSet:
    """One family of moves: cells are [2, a, b] lines into the shared points."""

    lines: np.ndarray  # (m, 3) int64
    feature: np.ndarray  # (m,)
    speed: np.ndarray  # (m,) mm/s
    layer_end: np.ndarray  # (layers,) number of cells up to and including each layer

    def mesh(self, points: np.ndarray, upto_layer: int | None = None) -> pv.PolyData:
        count = len(self.lines) if upto_layer is None else int(self.layer_end[min(upto_layer, len(self.layer_end) - 1)])
        mesh = pv.PolyData(points, lines=self.lines[:count].ravel() if count else None)
        if count:
            mesh.cell_data["feature"] = self.feature[:count]
            mesh.cell_data["speed"] = self.speed[:count]
        return mesh


@dataclass(slots=True)
class ToolpathScene:
    toolpath: Toolpath
    points: np.ndarray  # (n + 1, 3) float32
    work: MoveSet
    travel: MoveSet
    layers: int
    layer_z: np.ndarray  # height of each layer (first working move)


def feature_colour(feature: int) -> str:
    """The colour a feature (or, for CNC and laser jobs, a move kind) is drawn in."""
    return FEATURE_COLOURS[int(feature) % len(FEATURE_COLOURS)]


def feature_lookup_table(features: int) -> pv.LookupTable:
    """One colour per feature value 0 .. features-1, exactly (no interpolation between neighbours)."""
    n = max(int(features), len(FEATURE_COLOURS))
    rgba = np.empty((n, 4), dtype=np.uint8)
    for i in range(n):
        h = feature_colour(i)
        rgba[i] = (int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16), 255)
    lut = pv.LookupTable(values=rgba)
    lut.scalar_range = (-0.5, n - 0.5)  # value k falls in the middle of entry k
    return lut


def build_toolpath_scene(path: str, flavor: str | None = None, progress=None) -> ToolpathScene:  # type: ignore[no-untyped-def]
    report = progress or (lambda pct, text: None)
    report(5, "reading G-code")
    tp = parse_gcode_file(path, flavor)
    report(60, "building line segments")
    return scene_from_toolpath(tp)


def scene_from_toolpath(tp: Toolpath) -> ToolpathScene:
    points = np.ascontiguousarray(tp.points, dtype=np.float32)
    layer = np.maximum.accumulate(np.maximum(tp.layer, 0)).astype(np.int64)
    layers = int(layer.max()) + 1 if len(layer) else 0
    working = (tp.kind == MoveKind.EXTRUDE) | (tp.kind == MoveKind.CUT)
    moving = (tp.kind == MoveKind.TRAVEL) | (tp.kind == MoveKind.RAPID)
    if tp.flavor != "printer" and not (tp.feature > 0).any():
        feature = tp.kind.astype(np.int16)  # CNC/laser: colour by what the tool does
    else:
        feature = tp.feature
    speed = np.nan_to_num(tp.feed, nan=float(np.nanmax(tp.feed)) if np.isfinite(tp.feed).any() else 0.0)

    def subset(mask: np.ndarray, limit: int | None = None) -> MoveSet:
        idx = np.flatnonzero(mask)
        a, b = (idx, idx + 1) if limit is None else _joined(idx, feature, layer, limit)
        first = a
        lines = np.empty((len(a), 3), dtype=np.int64)
        lines[:, 0] = 2
        lines[:, 1] = a
        lines[:, 2] = b
        layer_end = np.searchsorted(layer[first], np.arange(max(layers, 1)), "right")
        return MoveSet(lines, feature[first].astype(np.int32), speed[first].astype(np.float32), layer_end)

    work = subset(working, MAX_DRAWN_SEGMENTS)
    z = np.zeros(max(layers, 1))
    if working.any():
        wi = np.flatnonzero(working)
        first = np.searchsorted(layer[wi], np.arange(max(layers, 1)))
        valid = first < len(wi)
        z[valid] = points[wi[first[valid]] + 1, 2]
    return ToolpathScene(tp, points, work, subset(moving), max(layers, 1), z)


def _joined(idx: np.ndarray, feature: np.ndarray, layer: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end points of drawn segments: runs of consecutive moves (same feature and layer)
    drawn with every k-th point so that about ``limit`` segments remain."""
    n = len(idx)
    k = -(-n // limit)
    if k <= 1:
        return idx, idx + 1
    brk = np.ones(n, dtype=bool)
    brk[1:] = (idx[1:] != idx[:-1] + 1) | (feature[idx[1:]] != feature[idx[:-1]]) | (layer[idx[1:]] != layer[idx[:-1]])
    run_id = np.cumsum(brk) - 1
    run_start = np.flatnonzero(brk)
    pos = np.arange(n) - run_start[run_id]
    kept = np.flatnonzero(pos % k == 0)
    run_end = np.append(run_start[1:], n)
    stop = np.minimum(np.append(kept[1:], n), run_end[run_id[kept]])
    return idx[kept], idx[stop - 1] + 1
