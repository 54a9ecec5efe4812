"""Toolpath preview: G-code moves as line segments coloured by feature or speed, with a layer slider
and a travel toggle; printers, CNC routers and lasers alike.

Embed ``ToolpathView`` and call ``load(path)``. Parsing runs on a worker thread; the geometry shows
first and the planner's time estimate follows in the info line when it is ready. A legend under the toolbar
names the colours (features, or the speed scale); flat CNC and laser jobs open seen from the top. As in the part
view, ``set_pick_mode(True)`` and a click on a working move report its point (``picked``) and ``set_markers`` pins
numbered review notes to such points.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)
from pyvistaqt import QtInteractor

from app.core.estimation.gcode_analysis import GcodeAnalysis, summarize
from app.core.estimation.gcode_model import MoveKind
from app.viz.background import BackgroundLoading, BackgroundTask
from app.viz.note_pins import NotePins
from app.viz.toolpath_scene import ToolpathScene, build_toolpath_scene, feature_colour, feature_lookup_table

log = logging.getLogger(__name__)

COLOR_MODES = ("feature", "speed")
TRAVEL_COLOUR = "#7fa7d9"
FLAT_SHARE = 0.1  # a toolpath whose height is under this share of its width is a flat job: shown from the top
KIND_WORDS = {MoveKind.TRAVEL: "travel", MoveKind.EXTRUDE: "extrude", MoveKind.CUT: "cut", MoveKind.RAPID: "rapid"}


def _hex(rgba: Any) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(round(c * 255)) for c in rgba[:3]))


# Cura's ;TYPE: names in the words an operator uses (other slicers already write words: "External perimeter")
CURA_WORDS = {"WALL-OUTER": "outer wall", "WALL-INNER": "inner wall", "SKIN": "top/bottom skin", "FILL": "infill",
              "SKIRT": "skirt / brim", "SUPPORT": "support", "SUPPORT-INTERFACE": "support interface",
              "PRIME-TOWER": "prime tower"}


def feature_word(name: str) -> str:
    """``WALL-INNER`` → ``inner wall``; a name in capitals → lower case words; a slicer's own words stay."""
    if name in CURA_WORDS:
        return CURA_WORDS[name]
    return name.replace("-", " ").replace("_", " ").lower() if name.isupper() else name


def feature_legend(scene: ToolpathScene) -> list[tuple[str, str]]:
    """(name, colour) of each feature drawn, from the same table the renderer's lookup table is built from."""
    names = scene.toolpath.feature_names
    by_kind = scene.toolpath.flavor != "printer" and not (scene.toolpath.feature > 0).any()
    out = []
    for f in sorted({int(v) for v in np.unique(scene.work.feature)}):
        if by_kind:
            name = KIND_WORDS.get(MoveKind(f), str(f)) if f in MoveKind._value2member_map_ else str(f)
        else:
            name = feature_word(names[f]) if 0 <= f < len(names) else f"feature {f}"
        out.append((name or "unnamed", feature_colour(f)))
    return out


class ToolpathView(NotePins, BackgroundLoading, QWidget):
    failure_text = "cannot show this G-code"
    loaded = Signal(object)  # ToolpathScene, as soon as the geometry is on screen
    analysed = Signal(object)  # GcodeAnalysis, once the planner has run
    failed = Signal(str)
    picked = Signal(object)  # (x, y, z) on a working move, in mm (the toolpath's own coordinates)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene: ToolpathScene | None = None
        self.analysis: GcodeAnalysis | None = None
        self.color_mode = "feature"
        self.view_preset = "iso"
        self.layer = 0
        self.travel_visible = False
        self.first_frame_s: float | None = None
        self._t0 = 0.0
        self._tasks: list[BackgroundTask] = []
        self._work_actor: Any = None
        self._travel_actor: Any = None
        # No timed re-rendering: it would redraw a million triangles 5 times a second for nothing; the
        # interactor renders on mouse input and we render after each change.
        self.plotter = QtInteractor(self, auto_update=False)
        self.plotter.set_background("#101418")
        # No multisampling: a 1-px line drawn with 4 samples is mostly a blend of its colour and the background, so
        # the lines would read darker than the legend says (and software OpenGL fills 4 samples per pixel).
        self.plotter.ren_win.SetMultiSamples(0)
        self.plotter.add_axes()
        self._init_pins(0.005)  # lines are thin: a click within half a percent of the diagonal is on them
        self.slider = QSlider(Qt.Orientation.Vertical)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._on_slider)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(40)  # rebuild at most ~25 times a second while dragging
        self._debounce.timeout.connect(self._apply_layer)
        self.mode_box = QComboBox()
        self.mode_box.addItems(COLOR_MODES)
        self.mode_box.currentTextChanged.connect(self.set_color_mode)
        self.travel_box = QCheckBox("travel")
        self.travel_box.toggled.connect(self.set_travel_visible)
        fit = QPushButton("Fit")
        fit.clicked.connect(self.fit_view)
        self.layer_label = QLabel("")
        self.legend = QLabel("")
        self.legend.setObjectName("toolpathLegend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.info = QLabel("no toolpath loaded")
        self.info.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        bar = QHBoxLayout()
        for w in (QLabel("colour by"), self.mode_box, self.travel_box, fit, self.layer_label):
            bar.addWidget(w)
        bar.addStretch(1)
        body = QHBoxLayout()
        body.addWidget(self.plotter.interactor, 1)
        body.addWidget(self.slider)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.legend)
        lay.addLayout(body, 1)
        lay.addWidget(self.progress)
        lay.addWidget(self.info)

    # --- public API -------------------------------------------------------------------------------
    def load(self, path: str, flavor: str | None = None) -> None:
        self._t0 = time.perf_counter()
        self.first_frame_s = None
        self.analysis = None
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        task = self._start(lambda report: build_toolpath_scene(str(path), flavor, report), self._on_loaded)
        task.progress.connect(self._on_progress)

    def set_layer(self, layer: int) -> None:
        """Show every layer up to ``layer`` (0-based)."""
        if self.scene is None:
            return
        self.layer = max(0, min(int(layer), self.scene.layers - 1))
        if self.slider.value() != self.layer:
            self.slider.blockSignals(True)
            self.slider.setValue(self.layer)
            self.slider.blockSignals(False)
        self._apply_layer()

    def set_travel_visible(self, on: bool) -> None:
        self.travel_visible = bool(on)
        if self.travel_box.isChecked() != self.travel_visible:
            self.travel_box.setChecked(self.travel_visible)
        if self._travel_actor is not None:
            self._travel_actor.SetVisibility(self.travel_visible)
            self.plotter.render()

    def set_color_mode(self, mode: str) -> None:
        if mode not in COLOR_MODES:
            raise ValueError(f"unknown colour mode {mode!r}; use one of {', '.join(COLOR_MODES)}")
        self.color_mode = mode
        if self.mode_box.currentText() != mode:
            self.mode_box.setCurrentText(mode)
        self._apply_layer()
        self._update_legend()

    def visible_cells(self) -> tuple[int, int]:
        """(working, travel) segments currently drawn; travel counts 0 when hidden."""
        w = self._work_actor.mapper.GetInput().GetNumberOfCells() if self._work_actor else 0
        t = self._travel_actor.mapper.GetInput().GetNumberOfCells() if self._travel_actor and self.travel_visible else 0
        return int(w), int(t)

    def fit_view(self) -> None:
        self._fit_camera()
        self.plotter.render()

    def set_view(self, preset: str) -> None:
        """'iso' or 'top' (flat jobs open in the top view)."""
        if preset not in ("iso", "top"):
            raise ValueError(f"unknown view {preset!r}; use iso or top")
        self.view_preset = preset
        (self.plotter.view_xy if preset == "top" else self.plotter.view_isometric)(render=False)
        self._fit_camera()
        self.plotter.render()

    def _fit_camera(self) -> None:
        """Reset the camera; seen from the top, also zoom so the job's outline fills the view. VTK fits the bounding
        sphere to the view's height, which leaves a long flat plate a thin strip in a wide, low view."""
        r = self.plotter.renderer
        r.reset_camera(render=False)
        s = self.scene
        if s is None or self.view_preset != "top" or not len(s.points):
            return
        cam = r.GetActiveCamera()
        w_px, h_px = r.GetSize()
        lo, hi = s.points.min(axis=0), s.points.max(axis=0)
        w, h = max(float(hi[0] - lo[0]), 1e-6), max(float(hi[1] - lo[1]), 1e-6)
        seen_h = 2.0 * cam.GetDistance() * np.tan(np.radians(cam.GetViewAngle()) / 2.0)
        seen_w = seen_h * w_px / max(h_px, 1)
        zoom = 0.8 * min(seen_w / w, seen_h / h)
        if zoom > 1.0:
            cam.Zoom(zoom)

    def world_point(self, local: tuple[float, float, float]) -> tuple[float, float, float]:
        """The toolpath is drawn in its own coordinates (mm): a note's point is where it is drawn."""
        return (float(local[0]), float(local[1]), float(local[2]))

    def _pick_actors(self) -> list[Any]:
        return [self._work_actor] if self.scene is not None and self._work_actor is not None else []

    def _file_point(self, world: np.ndarray) -> tuple[float, float, float]:
        return (float(world[0]), float(world[1]), float(world[2]))

    def _marker_radius(self, pts: np.ndarray) -> float:
        assert self.scene is not None
        extent = float(np.ptp(self.scene.points, axis=0).max()) if len(self.scene.points) else 1.0
        return max(extent * 0.012, 0.3)

    @property
    def flat(self) -> bool:
        """A CNC or laser job whose toolpath is much wider than high (a sheet, a plate, an engraving)."""
        s = self.scene
        if s is None or s.toolpath.flavor == "printer" or not len(s.points):
            return False
        size = np.ptp(s.points, axis=0)
        return bool(size[2] <= FLAT_SHARE * max(size[0], size[1], 1e-9))

    def _update_legend(self) -> None:
        s = self.scene
        if s is None:
            self.legend.setText("")
            return
        if self.color_mode == "feature":
            items = feature_legend(s)
            # a name never breaks across lines ("inner" at the end of one, "wall" on the next)
            items.append(("travel (when shown)", TRAVEL_COLOUR))
            swatches = "&nbsp; ".join(f"<span style='white-space:nowrap'><span style='color:{c}'>&#9632;</span> {n}"
                                      "</span>" for n, c in items)
            self.legend.setText(f"Colours: {swatches}")
        else:
            top = float(s.work.speed.max()) if len(s.work.speed) else 0.0
            from matplotlib import colormaps

            cmap = colormaps["viridis"]
            bar = "".join(f"<span style='color:{_hex(cmap(i / 7))}'>&#9632;</span>" for i in range(8))
            self.legend.setText(f"Speed: 0 mm/s {bar} {top:.0f} mm/s (slow to fast)")

    # --- internals ---------------------------------------------------------------------------------
    def _on_loaded(self, scene: ToolpathScene) -> None:
        self.scene = scene
        self.layer = scene.layers - 1
        self.slider.blockSignals(True)
        self.slider.setRange(0, scene.layers - 1)
        self.slider.setValue(self.layer)
        self.slider.blockSignals(False)
        self.slider.setEnabled(scene.layers > 1)
        self._apply_layer(reset_camera=True)
        if self._markers:  # notes that arrived while the file was read
            self._draw_markers()
            self.plotter.render()
        self._update_legend()
        self.first_frame_s = time.perf_counter() - self._t0
        self.progress.setRange(0, 0)  # busy: the planner runs next
        self.progress.setFormat("estimating time ...")
        tp = scene.toolpath
        self.info.setText(f"{tp.flavor}: {tp.moves} moves, {scene.layers} layers; estimating time ...")
        self.loaded.emit(scene)
        self._start(lambda report: summarize(tp), self._on_analysed)

    def _on_analysed(self, analysis: GcodeAnalysis) -> None:
        self.analysis = analysis
        self.progress.setVisible(False)
        a = analysis
        h, m = divmod(int(round(a.estimated_time_s / 60)), 60)
        layers = f"{a.layers} layer" + ("" if a.layers == 1 else "s")
        nb = "\u00a0"  # a number never wraps away from its unit ("0.9" at a line's end, "g" on the next)
        text = f"{a.flavor}: {h}{nb}h{nb}{m:02d}{nb}min, {layers}, {a.moves} moves"
        if a.flavor == "printer":
            text += f", filament {a.filament_mm / 1000:.2f}{nb}m / {a.filament_g:.1f}{nb}g"
        if a.slicer_difference is not None:
            text += f" (slicer's estimate {a.slicer_difference:+.1%})"
        self.info.setText(text)
        self.analysed.emit(analysis)

    def _on_slider(self, value: int) -> None:
        self.layer = int(value)
        self._debounce.start()

    def _apply_layer(self, reset_camera: bool = False) -> None:
        s = self.scene
        if s is None:
            return
        work = s.work.mesh(s.points, self.layer)
        travel = s.travel.mesh(s.points, self.layer)
        if self.color_mode == "feature":
            top = max(len(s.toolpath.feature_names), int(s.work.feature.max(initial=0)) + 1)
            lut = feature_lookup_table(top)
            kw: dict[str, Any] = {"scalars": "feature", "cmap": lut, "clim": lut.scalar_range,
                                  "show_scalar_bar": False}
        else:
            top = float(s.work.speed.max()) if len(s.work.speed) else 1.0
            kw = {"scalars": "speed", "cmap": "viridis", "clim": (0.0, top), "show_scalar_bar": False}
        if work.n_cells:
            self._work_actor = self.plotter.add_mesh(work, name="work", line_width=1, render=False,
                                                     lighting=False, **kw)
        elif self._work_actor is not None:
            self.plotter.remove_actor(self._work_actor, render=False)
            self._work_actor = None
        if travel.n_cells:
            self._travel_actor = self.plotter.add_mesh(travel, name="travel", color=TRAVEL_COLOUR, line_width=1,
                                                       opacity=0.5, lighting=False, render=False)
            self._travel_actor.SetVisibility(self.travel_visible)
        z = s.layer_z[min(self.layer, len(s.layer_z) - 1)]
        self.layer_label.setText(f"layer {self.layer + 1}/{s.layers}  z {z:.2f} mm")
        if reset_camera:
            self.view_preset = "top" if self.flat else "iso"
            (self.plotter.view_xy if self.view_preset == "top" else self.plotter.view_isometric)(render=False)
            self._fit_camera()
        self.plotter.render()
