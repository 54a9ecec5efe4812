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


def _drawn_colours(view: ToolpathView) -> dict[str, float]:
    """Share of the plot's non-background pixels in each colour (colours under 1 % left out: the axes gizmo)."""
    import numpy as np

    img = view.plotter.screenshot(return_img=True)[..., :3].reshape(-1, 3)
    img = img[(img != img[0]).any(axis=1)]
    cols, counts = np.unique(img, axis=0, return_counts=True)
    share = counts / counts.sum()
    return {"#{:02x}{:02x}{:02x}".format(*c): float(s) for c, s in zip(cols, share, strict=True) if s >= 0.01}


def test_cnc_legend_names_the_colour_on_screen(qtbot, view: ToolpathView, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app.viz.toolpath_scene import FEATURE_COLOURS, feature_colour, feature_lookup_table
    from app.viz.toolpath_view import feature_legend

    plate = tmp_path / "plate.nc"
    plate.write_text("G21 G90\nM3 S12000\nG0 Z5\nG0 X0 Y0\nG1 Z-1 F300\nG1 X60 Y0 F800\nG1 X60 Y25\nG1 X0 Y25\n"
                     "G1 X0 Y0\nG1 X60 Y25\nG0 Z5\nM5\n")
    _load(qtbot, view, plate)
    legend = feature_legend(view.scene)
    assert [name for name, _ in legend] == ["cut"]
    cut = legend[0][1]
    assert cut == feature_colour(4) and f"color:{cut}" in view.legend.text()
    drawn = _drawn_colours(view)
    # the lines on screen are the legend's colour itself, not a shade or a blend of it
    assert max(drawn, key=drawn.get) == cut and drawn[cut] > 0.8, drawn  # the rest: the axes gizmo
    # the renderer's table gives every feature value the table's colour (no interpolation between neighbours)
    lut = feature_lookup_table(25)
    for k in (0, 4, 19, 24):
        rgb = lut.map_value(k)[:3]
        assert "#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in rgb)) == FEATURE_COLOURS[k % 20]


@needs_shared
def test_printer_legend_colours_are_the_colours_drawn(qtbot, view: ToolpathView) -> None:  # type: ignore[no-untyped-def]
    _load(qtbot, view, GCODE / "octoprint_bp_case_cura14.gcode")
    legend = dict((c, n) for n, c in __import__("app.viz.toolpath_view", fromlist=["x"]).feature_legend(view.scene))
    drawn = _drawn_colours(view)
    assert set(drawn) <= set(legend), (drawn, legend)  # every colour drawn is one the legend names


def test_printer_legend_reads_in_words(qtbot, view: ToolpathView, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Cura's feature names in the legend as an operator says them ("WALL-INNER" read as a raw name)."""
    from app.viz.toolpath_view import feature_legend, feature_word

    gcode = tmp_path / "cura.gcode"
    lines = ["G21", "G90", "M82", "G1 Z0.2 F600"]
    e = 0.0
    for kind in ("SKIRT", "WALL-OUTER", "WALL-INNER", "FILL"):
        lines.append(f";TYPE:{kind}")
        for x, y in ((10, 10), (40, 10), (40, 40), (10, 40)):
            e += 0.5
            lines.append(f"G1 X{x} Y{y} E{e:.2f} F1800")
    gcode.write_text("\n".join(lines) + "\n")
    _load(qtbot, view, gcode)
    names = [name for name, _ in feature_legend(view.scene)]
    assert {"skirt / brim", "outer wall", "inner wall", "infill"} <= set(names), names
    assert not any(n.isupper() for n in names) and "WALL-INNER" not in view.legend.text()
    assert feature_word("External perimeter") == "External perimeter"  # other slicers' own words stay
    assert feature_word("SUPPORT_MATERIAL") == "support material"
