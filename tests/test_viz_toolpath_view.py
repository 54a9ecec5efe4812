"""ToolpathView on a real X server (run under ``xvfb-run -a`` with QT_QPA_PLATFORM=xcb)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("QtInteractor needs an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

from app.viz.toolpath_view import ToolpathView  # noqa: E402

from .shared_data import GCODE, needs_shared

pytestmark = pytest.mark.gui


@pytest.fixture
def view(qtbot):  # type: ignore[no-untyped-def]
    v = ToolpathView()
    qtbot.addWidget(v)
    v.resize(640, 480)
    v.show()
    yield v
    v.close_view()


def _load(qtbot, view: ToolpathView, path: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignals([view.loaded, view.analysed], timeout=120_000):
        view.load(str(path))


@needs_shared
def test_printer_layers_travel_and_colours(qtbot, view: ToolpathView) -> None:  # type: ignore[no-untyped-def]
    _load(qtbot, view, GCODE / "gcode-preview_vase_prusaslicer2.7.4_ender.gcode")
    scene = view.scene
    assert scene is not None and scene.layers == 334
    assert view.slider.maximum() == 333 and view.slider.isEnabled()
    all_work, hidden_travel = view.visible_cells()
    assert all_work == len(scene.work.lines) and hidden_travel == 0
    view.set_layer(9)
    assert view.visible_cells()[0] == scene.work.layer_end[9] < all_work
    assert "layer 10/334" in view.layer_label.text()
    view.set_travel_visible(True)
    assert view.visible_cells()[1] > 0
    view.set_color_mode("speed")
    assert view._work_actor.mapper.array_name == "speed"
    with pytest.raises(ValueError):
        view.set_color_mode("rainbow")
    assert view.analysis is not None and abs(view.analysis.slicer_difference) < 0.02
    assert "slicer's estimate" in view.info.text()
    img = view.plotter.screenshot(return_img=True)
    assert (img != img[0, 0]).any(axis=2).mean() > 0.01


@needs_shared
def test_slider_drag_is_debounced(qtbot, view: ToolpathView) -> None:  # type: ignore[no-untyped-def]
    _load(qtbot, view, GCODE / "octoprint_bp_case_cura14.gcode")
    view.slider.setValue(4)
    qtbot.waitUntil(lambda: view.visible_cells()[0] == view.scene.work.layer_end[4], timeout=5000)


@needs_shared
def test_cnc_paths(qtbot, view: ToolpathView) -> None:  # type: ignore[no-untyped-def]
    _load(qtbot, view, GCODE / "grbl-sim_HelloWorld.nc")
    assert view.scene.toolpath.flavor == "cnc"
    assert view.visible_cells()[0] > 900
    view.set_travel_visible(True)
    assert view.visible_cells()[1] > 0  # rapids
    assert "cnc" in view.info.text()


def test_bad_file(qtbot, view: ToolpathView, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.gcode"
    bad.write_text("; nothing here\nM104 S200\n")
    with qtbot.waitSignal(view.failed, timeout=60_000) as sig:
        view.load(str(bad))
    assert "no motion" in sig.args[0] and "cannot show" in view.info.text()
