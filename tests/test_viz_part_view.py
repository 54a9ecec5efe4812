"""PartView on a real X server (run under ``xvfb-run -a`` with QT_QPA_PLATFORM=xcb)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("QtInteractor needs an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

from PySide6.QtCore import QTimer  # noqa: E402

from app.core.domain import Capabilities, ProcessType  # noqa: E402
from app.viz.part_view import PartView  # noqa: E402

from .shared_data import MESHES, needs_shared

pytestmark = pytest.mark.gui


@pytest.fixture
def view(qtbot):  # type: ignore[no-untyped-def]
    v = PartView()
    qtbot.addWidget(v)
    v.resize(640, 480)
    v.show()
    yield v
    v.close_view()


def _load(qtbot, view: PartView, path: Path):  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(view.loaded, timeout=120_000) as sig:
        view.load(str(path))
    return sig.args[0]


@needs_shared
def test_cube_on_the_plate(qtbot, view: PartView) -> None:  # type: ignore[no-untyped-def]
    a = _load(qtbot, view, MESHES / "20mm-xyz-cube.stl")
    assert a.watertight and len(view._part_actors) == 1
    assert view.first_frame_s is not None and view.first_frame_s > 0
    view.set_machine(Capabilities(ProcessType.FDM, (220, 220, 250)), "ender")
    assert len(view._machine_actors) == 2
    assert np.allclose(view._machine_actors[1].GetBounds(), (0, 220, 0, 220, 0, 250))
    xmin, xmax, ymin, ymax, zmin, zmax = view._part_actors[0].GetBounds()
    assert (xmin + xmax) / 2 == pytest.approx(110, abs=0.01) and (ymin + ymax) / 2 == pytest.approx(110, abs=0.01)
    assert zmin == pytest.approx(0, abs=1e-4) and zmax == pytest.approx(20, abs=1e-3)
    assert "ender: fits" in view.info.text() and "20.0 x 20.0 x 20.0 mm" in view.info.text()
    img = view.plotter.screenshot(return_img=True)
    assert (img != img[0, 0]).any(axis=2).mean() > 0.01  # something besides background is drawn


@needs_shared
def test_presets_fit_and_overhangs(qtbot, view: PartView) -> None:  # type: ignore[no-untyped-def]
    _load(qtbot, view, MESHES / "teapot.stl")
    view.set_view("top")
    top = np.array(view.plotter.camera_position[0])
    view.set_view("front")
    front = np.array(view.plotter.camera_position[0])
    assert not np.allclose(top, front)
    view.fit_view()
    with pytest.raises(ValueError, match="unknown view"):
        view.set_view("underneath")
    assert view._part_actors[0].mapper.scalar_visibility
    assert view.scene is not None and view.scene.meshes[0].cell_data["overhang"].sum() > 0
    view.overhang_box.setChecked(False)
    assert not view._part_actors[0].mapper.scalar_visibility


@needs_shared
def test_several_objects_of_a_3mf(qtbot, view: PartView) -> None:  # type: ignore[no-untyped-def]
    a = _load(qtbot, view, MESHES / "pyramids.3mf")
    assert len(view._part_actors) == len(a.objects) == 12
    colours = {tuple(act.mapper.lookup_table.GetTableValue(0)[:3]) for act in view._part_actors}
    assert len(colours) > 1
    assert "12 objects" in view.info.text()
    view.set_machine(Capabilities(ProcessType.FDM, (220, 220, 250)), "ender")
    assert "exceeds the build volume" in view.info.text()


@needs_shared
def test_inch_part_is_scaled(qtbot, view: PartView) -> None:  # type: ignore[no-untyped-def]
    _load(qtbot, view, MESHES / "featuretype.STL")
    assert view.scale == 25.4 and "inches" in view.info.text()
    view.set_units("mm")
    assert view.scale == 1.0 and "5.0 x 2.5" in view.info.text()


@needs_shared
def test_broken_file_then_a_good_one(qtbot, view: PartView) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(view.failed, timeout=60_000) as sig:
        view.load(str(MESHES / "empty.stl"))
    assert "no triangles" in sig.args[0] and "no triangles" in view.info.text()
    assert not view.progress.isVisible()
    _load(qtbot, view, MESHES / "20mm-xyz-cube.stl")


def test_loading_keeps_the_window_responsive(qtbot, view: PartView, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import trimesh

    big = tmp_path / "sphere.stl"
    trimesh.creation.icosphere(subdivisions=7, radius=40).export(big)  # 327,680 triangles
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    with qtbot.waitSignal(view.loaded, timeout=120_000):
        view.load(str(big))
        assert view.busy and view.progress.isVisible()
    timer.stop()
    assert len(ticks) >= 2  # the UI thread kept running its timers while the worker loaded the file
    assert not view.progress.isVisible()


def test_closing_while_the_analysis_runs_does_not_hang(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import time

    big = tmp_path / "many.stl"
    import trimesh

    trimesh.creation.icosphere(subdivisions=7).export(big)  # ~330k faces: the analysis takes a while
    v = PartView()
    qtbot.addWidget(v)
    v.show()
    with qtbot.waitSignal(v.shown, timeout=120_000):
        v.load(str(big))
    t0 = time.monotonic()
    v.close_view()  # the full analysis is still running in its thread
    assert time.monotonic() - t0 < 60
