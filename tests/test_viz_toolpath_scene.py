"""Toolpath meshes without a window: layer prefixes and the joining of segments for huge files."""

from __future__ import annotations

import numpy as np

from app.core.estimation.gcode_parser import parse_gcode
from app.viz import toolpath_scene
from app.viz.toolpath_scene import _joined, scene_from_toolpath


def test_joined_keeps_path_ends_and_breaks() -> None:
    idx = np.array([0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 20])
    feature = np.zeros(30, dtype=int)
    layer = np.zeros(30, dtype=int)
    layer[5:] = 1
    a, b = _joined(idx, feature, layer, 4)
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 3), (3, 5), (5, 7), (10, 13), (20, 21)]
    a, b = _joined(idx, feature, layer, 100)
    assert np.array_equal(a, idx) and np.array_equal(b, idx + 1)


def test_layer_prefixes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    layers = b"".join(b";LAYER_CHANGE\nG1 Z%.1f F600\n" % (0.2 * (k + 1)) + b"".join(
        b"G1 X%d Y%d E0.1 F1200\n" % (x, k) for x in range(1, 41)) + b"G1 X0 Y0 F6000\n" for k in range(5))
    scene = scene_from_toolpath(parse_gcode(b"M83\n" + layers))
    assert scene.layers == 5 and scene.work.layer_end.tolist() == [40, 80, 120, 160, 200]
    assert scene.work.mesh(scene.points, 1).n_cells == 80
    assert np.allclose(scene.layer_z, [0.2, 0.4, 0.6, 0.8, 1.0])
    monkeypatch.setattr(toolpath_scene, "MAX_DRAWN_SEGMENTS", 50)
    joined = scene_from_toolpath(parse_gcode(b"M83\n" + layers))
    assert len(joined.work.lines) <= 55 and joined.work.layer_end[-1] == len(joined.work.lines)
    # The drawn path still starts and ends where the printed one does.
    assert joined.work.lines[0, 1] == scene.work.lines[0, 1] and joined.work.lines[-1, 2] == scene.work.lines[-1, 2]
