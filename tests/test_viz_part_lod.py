"""Levels of detail in the part view (real X server: xvfb-run, QT_QPA_PLATFORM=xcb): a big part's first frame is a
proxy and the full mesh follows at once; while the view is dragged round it draws the coarse proxy, the full mesh
again once it is still; the analysis always reads the full mesh. The clustering itself keeps the shape."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import trimesh

from app.viz.part_lod import FIRST_FRAME_CELLS, INTERACTIVE_CELLS, cluster


def test_clustering_keeps_the_shape_and_the_budget() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=7, radius=40.0)  # 327,680 triangles
    for target in (INTERACTIVE_CELLS, FIRST_FRAME_CELLS):
        v, f = cluster(sphere.vertices, sphere.faces, target)
        assert target * 0.5 <= len(f) <= target * 1.15, (target, len(f))
        proxy = trimesh.Trimesh(v, f, process=False)
        assert proxy.volume == pytest.approx(sphere.volume, rel=0.02)  # positive: the faces still point outwards
        assert np.allclose(proxy.bounds, sphere.bounds, atol=1.0)
    small = trimesh.creation.box((10, 10, 10))
    v, f = cluster(small.vertices, small.faces, 100)
    assert len(f) == 12  # under the budget: untouched


if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("QtInteractor needs an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.viz.part_view import STILL_MS, PartView  # noqa: E402


def _mouse(widget, kind: QEvent.Type, x: float, y: float, pressed: bool) -> None:  # type: ignore[no-untyped-def]
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    held = Qt.MouseButton.LeftButton if pressed else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, QPointF(x, y), widget.mapToGlobal(QPointF(x, y)), button, held,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def _count_renders(view: PartView) -> dict[str, int]:
    renders = {"n": 0}
    view.plotter.ren_win.AddObserver("StartEvent", lambda *_a: renders.__setitem__("n", renders["n"] + 1))
    return renders


@pytest.mark.gui
def test_a_big_part_turns_as_a_proxy_and_rests_in_full(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "sphere.stl"
    trimesh.creation.icosphere(subdivisions=7, radius=40.0).export(path)  # 327,680 triangles: past both limits
    view = PartView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    try:
        seen: list[int] = []
        view.shown.connect(lambda _s: seen.append(view.drawn_cells))  # what the first frame drew
        with qtbot.waitSignal(view.loaded, timeout=120_000):
            view.load(str(path))
        assert seen and seen[0] <= FIRST_FRAME_CELLS * 1.15  # the first frame: the proxy
        qtbot.waitUntil(lambda: view.drawn_cells == 327_680, timeout=10_000)  # then the full mesh, unasked
        assert view.analysis is not None and view.analysis.triangles == 327_680  # analysis: the full mesh

        widget = view.plotter.interactor
        cam = view.plotter.camera.position
        _mouse(widget, QEvent.Type.MouseButtonPress, 320, 240, True)
        for k in range(1, 6):
            _mouse(widget, QEvent.Type.MouseMove, 320 + 12 * k, 240, True)
            assert 0 < view.drawn_cells <= INTERACTIVE_CELLS * 1.15  # turning: the coarse proxy
        assert view.plotter.camera.position != cam  # the drag did turn the view
        renders = _count_renders(view)
        view.plotter.repaint()  # the window around it repaints: it shows the last frame, draws no new one
        assert renders["n"] == 0
        _mouse(widget, QEvent.Type.MouseButtonRelease, 380, 240, False)
        assert view.drawn_cells <= INTERACTIVE_CELLS * 1.15  # a quick second drag would pay nothing
        qtbot.waitUntil(lambda: view.drawn_cells == 327_680, timeout=STILL_MS + 5000)  # still: full again

        view.lod = False  # no levels of detail: the full mesh turns
        _mouse(widget, QEvent.Type.MouseButtonPress, 320, 240, True)
        _mouse(widget, QEvent.Type.MouseMove, 340, 240, True)
        assert view.drawn_cells == 327_680
        _mouse(widget, QEvent.Type.MouseButtonRelease, 340, 240, False)
    finally:
        view.close_view()
