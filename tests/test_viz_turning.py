"""Turning the part view (real X server: xvfb-run, QT_QPA_PLATFORM=xcb): a burst of mouse moves is drawn as a few
paced frames, not one each; the frames are drawn at a quarter of the pixels and the screen shows them; the turn
follows the mouse as at full resolution; at rest the full mesh is drawn again at full resolution."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import trimesh

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("QtInteractor needs an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget  # noqa: E402
from vtkmodules.vtkRenderingCore import vtkCamera  # noqa: E402

from app.viz.part_lod import INTERACTIVE_CELLS  # noqa: E402
from app.viz.part_view import PartView  # noqa: E402
from app.viz.turning import FRAME_MS, REST_MS, TURN_SCALE  # noqa: E402

pytestmark = pytest.mark.gui


def _mouse(widget, kind: QEvent.Type, x: float, y: float, pressed: bool) -> None:  # type: ignore[no-untyped-def]
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    held = Qt.MouseButton.LeftButton if pressed else Qt.MouseButton.NoButton
    QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(x, y), widget.mapToGlobal(QPointF(x, y)), button, held,
                                               Qt.KeyboardModifier.NoModifier))


def _on_screen(widget) -> np.ndarray:  # type: ignore[no-untyped-def]
    """What the X server shows where the view is (not the widget's own buffer: what the operator sees)."""
    QApplication.processEvents()
    top_left = widget.mapToGlobal(widget.rect().topLeft())
    image = QApplication.primaryScreen().grabWindow(0, top_left.x(), top_left.y(), widget.width(),
                                                    widget.height()).toImage()
    return np.frombuffer(image.constBits(), dtype=np.uint8).copy()


def _eye(camera) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Where the camera looks from, seen from what it looks at."""
    return np.array(camera.GetPosition()) - np.array(camera.GetFocalPoint())


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(math.acos(float(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


@pytest.fixture
def view(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    # A bar with a dome: not symmetric, so a turn shows; 81,932 triangles, so the view turns a coarse proxy.
    part = trimesh.util.concatenate([trimesh.creation.box((80, 20, 10)),
                                     trimesh.creation.icosphere(subdivisions=6, radius=10.0)])
    path = tmp_path / "bar.stl"
    part.export(path)
    window = QWidget()  # the view inside a window, as in the control room (its 3D part has a native window)
    qtbot.addWidget(window)
    v = PartView(window)
    QVBoxLayout(window).addWidget(v)
    window.resize(660, 500)
    window.show()
    with qtbot.waitSignal(v.loaded, timeout=120_000):
        v.load(str(path))
    qtbot.waitUntil(lambda: v.drawn_cells == len(part.faces), timeout=10_000)
    qtbot.wait(300)
    yield v
    v.close_view()


def test_a_burst_of_moves_is_drawn_as_a_few_paced_frames(qtbot, view: PartView) -> None:  # type: ignore[no-untyped-def]
    plotter = view.plotter
    widget = plotter.interactor
    full_size = tuple(plotter.ren_win.GetSize())
    renders: list[tuple[int, int]] = []
    plotter.ren_win.AddObserver("StartEvent", lambda *_a: renders.append(tuple(plotter.ren_win.GetSize())))
    before = _on_screen(widget)
    camera = plotter.renderer.GetActiveCamera()  # (pyvista's ``camera`` would reset it and draw)
    start = vtkCamera()
    start.DeepCopy(camera)

    _mouse(widget, QEvent.Type.MouseButtonPress, 200, 240, True)
    for k in range(1, 21):  # a burst of moves queued while the loop was busy: they move the camera, draw nothing
        _mouse(widget, QEvent.Type.MouseMove, 200 + 3 * k, 240, True)
    assert plotter.turning and 0 < view.drawn_cells <= INTERACTIVE_CELLS * 1.15  # the coarse proxy turns
    assert renders == [] and not np.allclose(_eye(camera), _eye(start))
    qtbot.wait(2 * FRAME_MS)
    assert len(renders) == 1  # ... and one frame shows where they went

    moves, t0 = 20, time.perf_counter()
    for k in range(21, 21 + moves):  # a drag: a move every 10 ms, the loop running between them
        _mouse(widget, QEvent.Type.MouseMove, 200 + 3 * k, 240, True)
        qtbot.wait(10)
    qtbot.wait(2 * FRAME_MS)  # the last moves' frame
    took_ms = (time.perf_counter() - t0) * 1000
    drawn = len(renders) - 1
    assert 2 <= drawn <= took_ms / FRAME_MS + 1, f"{drawn} frames for {moves} moves in {took_ms:.0f} ms"
    assert drawn < moves  # one a move would be 20
    assert len(renders) == plotter.frames_drawn
    assert all(size == (round(full_size[0] * TURN_SCALE), round(full_size[1] * TURN_SCALE)) for size in renders)
    assert (_on_screen(widget) != before).mean() > 0.02  # the operator sees the part turn while dragging it

    renders.clear()
    widget.repaint()  # a repaint of the window around the view while it turns: no new frame
    assert renders == []
    _mouse(widget, QEvent.Type.MouseButtonRelease, 320, 240, False)
    assert plotter.turning  # a quick second drag would still be cheap
    dome_top = (0.0, 0.0, 10.0)
    turning_at = view.display_point(dome_top)  # where a note's marker is: in the view's pixels, small frames or not
    qtbot.waitUntil(lambda: not plotter.turning, timeout=REST_MS + 5000)
    assert np.allclose(view.display_point(dome_top), turning_at, atol=2)
    qtbot.waitUntil(lambda: bool(renders) and renders[-1] == full_size, timeout=5000)  # at rest: full resolution
    assert view.drawn_cells > INTERACTIVE_CELLS * 1.15  # ... and the full mesh
    assert plotter.renderer.GetUseFXAA()
    qtbot.wait(200)
    assert renders.count(full_size) == 1  # one frame at rest, not one to draw and a second to show it

    # The turn follows the mouse as at full resolution (the mouse is read in the smaller frame's pixels; read in
    # the view's, the same drag would turn the part half as far).
    turned = _eye(camera)
    assert _angle_deg(_eye(start), turned) > 20
    camera.DeepCopy(start)
    plotter.turn_scale = 1.0
    _mouse(widget, QEvent.Type.MouseButtonPress, 200, 240, True)
    for k in range(1, 41):
        _mouse(widget, QEvent.Type.MouseMove, 200 + 3 * k, 240, True)
    _mouse(widget, QEvent.Type.MouseButtonRelease, 320, 240, False)
    assert _angle_deg(_eye(camera), turned) < 1.0
