"""3D preview of a part on the build plate of a chosen machine (pyvista in Qt).

Embed ``PartView`` and call ``load(path)``; reading and analysing happen on a worker thread while a
progress bar runs, so a big file never freezes the window. ``set_machine(capabilities, name)`` draws
that machine's plate and build volume and says whether (and how) the part fits. ``set_rotation(matrix)``
shows the part in another pose (overhangs recomputed off the UI thread); ``pick_at(x, y)`` and, with
``set_pick_mode(True)``, a left click report the point of the part under the cursor in the file's own
coordinates (``picked``); ``set_markers`` pins numbered markers (review notes) to such points.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pyvista as pv
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget
from vtkmodules.vtkCommonMath import vtkMatrix4x4  # not `import vtk` (every VTK module: +0.3 s)

from app.core.domain.capabilities import Capabilities
from app.core.estimation import PartAnalysis, fitting_machines
from app.core.estimation.mesh_analysis import UNIT_MM
from app.viz.background import BackgroundLoading, BackgroundTask
from app.viz.note_pins import NotePins
from app.viz.part_scene import (
    OBJECT_COLOURS,
    OVERHANG_COLOUR,
    PartScene,
    analyse_scene,
    build_part_scene,
    overhang_flags,
    placement,
    plate_and_volume,
    posed_bounds,
    proxies,
)
from app.viz.turning import REST_MS, TurningInteractor

log = logging.getLogger(__name__)

VIEW_PRESETS = ("iso", "top", "front", "side")
STILL_MS = REST_MS  # the full mesh comes back this long after the last turn or zoom (a quick second drag pays nothing)
# Colours for the dark theme (app/ui/theme.py): the view's background as the toolpath view's, a mid-grey plate and a
# light outline of the build volume that stand out from it, the parts' light colours (part_scene) in front.
BACKGROUND = "#101418"
PLATE_COLOUR = "#3d4856"
VOLUME_COLOUR = "#8b949e"


class PartView(NotePins, BackgroundLoading, QWidget):
    failure_text = "cannot show this part"
    shown = Signal(float)  # seconds from load() to the first frame
    loaded = Signal(object)  # PartAnalysis, once the full analysis is done
    failed = Signal(str)
    picked = Signal(object)  # (x, y, z) on the part, in the file's own coordinates and units
    posed = Signal()  # a new rotation is on screen
    turning = Signal(bool)  # True while the operator turns or zooms the view, False once it is still again

    def __init__(self, parent: QWidget | None = None, overhang_deg: float = 45.0) -> None:
        super().__init__(parent)
        self.overhang_deg = overhang_deg
        self.scene: PartScene | None = None
        self.machine: Capabilities | None = None
        self.machine_name = ""
        self.scale = 1.0
        self.first_frame_s: float | None = None
        self._tasks: list[BackgroundTask] = []
        self._t0 = 0.0
        self._part_actors: list[Any] = []
        self._machine_actors: list[Any] = []
        self._show_overhangs = True
        self.rotation = np.eye(3)  # file coordinates -> the pose shown
        self._posed_bounds: tuple[np.ndarray, np.ndarray] | None = None
        self._matrix = np.eye(4)  # file coordinates -> world (plate) coordinates
        # No timed re-rendering: it would redraw a million triangles 5 times a second for nothing; the
        # interactor renders on mouse input and we render after each change.
        self._turning = False  # the coarse proxy is drawn instead of the part (the view turns)
        # While the view turns it paces its frames and draws them smaller (app/viz/turning.py).
        self.plotter = TurningInteractor(self, auto_update=False)
        self.plotter.set_background(BACKGROUND)
        # No multisampling: in software OpenGL it multiplies the cost of every frame (2-4x measured); FXAA smooths
        # the edges in one pass over the pixels instead, whatever the part's size.
        self.plotter.ren_win.SetMultiSamples(0)
        self.plotter.enable_anti_aliasing("fxaa")
        self.plotter.add_axes()
        # Levels of detail: a big part's first frame is a proxy, and while the view turns it draws a coarse one;
        # the full mesh once it is still. Off (before a load): the full mesh always, as a reference.
        self.lod = True
        self._preview_actors: list[Any] = []
        self._coarse_actors: list[Any] = []
        self.plotter.turn_started.connect(self._start_turning)
        self.plotter.came_to_rest.connect(self._show_still)
        self.plotter.turn_started.connect(lambda: self.turning.emit(True))
        self.plotter.came_to_rest.connect(lambda: self.turning.emit(False))
        self.info = QLabel("no part loaded")
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.overhang_box = QCheckBox("overhangs")
        self.overhang_box.setChecked(True)
        self.overhang_box.toggled.connect(self.set_overhangs_visible)
        bar = QHBoxLayout()
        fit = QPushButton("Fit")
        fit.clicked.connect(self.fit_view)
        bar.addWidget(fit)
        for preset in VIEW_PRESETS:
            b = QPushButton(preset.capitalize())
            b.clicked.connect(lambda _=False, p=preset: self.set_view(p))
            bar.addWidget(b)
        bar.addWidget(self.overhang_box)
        bar.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self._native_frame(), 1)
        lay.addWidget(self.progress)
        lay.addWidget(self.info)
        self._init_pins(0.0005)

    def _native_frame(self) -> QWidget:
        """The 3D view in a native window of its own. A QOpenGLWidget makes Qt compose the window it is in through
        OpenGL; in its own native window, each frame of the turning view is composed and shown as that small window,
        not as the whole control room (measured with 500 machines while a part turns, software GL: the loop's
        latency p50 30 -> 7 ms, p95 ~200 -> 55-70 ms). The GL widget is made first and moved in: made inside it,
        Qt 6.11 never shows it (a black view)."""
        frame = QWidget(self)
        frame.setAttribute(Qt.WidgetAttribute.WA_NativeWindow)
        frame.setAttribute(Qt.WidgetAttribute.WA_DontCreateNativeAncestors)
        inner = QVBoxLayout(frame)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.plotter.interactor)
        return frame

    # --- public API -------------------------------------------------------------------------------
    @property
    def analysis(self) -> PartAnalysis | None:
        return self.scene.analysis if self.scene else None

    def load(self, path: str) -> None:
        """Start loading ``path`` in the background; ``loaded`` or ``failed`` tells the outcome."""
        self._t0 = time.perf_counter()
        self.first_frame_s = None
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat(f"loading {path} ... %p%")
        self.progress.setVisible(True)
        levels = self.lod
        task = self._start(lambda report: build_part_scene(str(path), self.overhang_deg, report, levels),
                           self._on_shown)
        task.progress.connect(self._on_progress)

    def set_machine(self, capabilities: Capabilities | None, name: str = "") -> None:
        """Show this machine's plate and build volume (None: no machine) and re-place the part."""
        self.machine = capabilities
        self.machine_name = name or (capabilities.process.value if capabilities else "")
        for actor in self._machine_actors:
            self.plotter.remove_actor(actor, render=False)
        self._machine_actors = []
        if capabilities and any(capabilities.build_volume_mm):
            plate, outline = plate_and_volume(capabilities.build_volume_mm)
            self._machine_actors.append(self.plotter.add_mesh(plate, color=PLATE_COLOUR, name="plate", pickable=False,
                                                              render=False))
            self._machine_actors.append(self.plotter.add_mesh(outline, color=VOLUME_COLOUR, line_width=2, name="volume",
                                                              render=False))
        self._place()
        self._update_info()
        self.plotter.render()

    def fit_view(self) -> None:
        self.plotter.renderer.reset_camera(render=False)
        self.plotter.render()

    def set_view(self, preset: str) -> None:
        views = {"iso": self.plotter.view_isometric, "top": self.plotter.view_xy, "front": self.plotter.view_xz,
                 "side": self.plotter.view_yz}
        if preset not in views:
            raise ValueError(f"unknown view {preset!r}; use one of {', '.join(VIEW_PRESETS)}")
        views[preset](render=False)
        self.plotter.renderer.reset_camera(render=False)
        self.plotter.render()

    def set_overhangs_visible(self, on: bool) -> None:
        self._show_overhangs = bool(on)
        for actor in self._all_part_actors():
            actor.mapper.scalar_visibility = self._show_overhangs
        self.plotter.render()

    @property
    def drawn_cells(self) -> int:
        """Triangles of the part drawn now: the full mesh, or a proxy while the view turns or the first frame."""
        return sum(a.GetMapper().GetInput().GetNumberOfCells() for a in self._all_part_actors() if a.GetVisibility())

    def set_units(self, units: str) -> None:
        """'mm', 'inch' or 'auto' (the analysis' guess): how file units map to the machine's mm."""
        a = self.analysis
        unit = a.units_guess if units == "auto" and a is not None else units
        self.scale = UNIT_MM.get(unit, 1.0)
        self._place()
        self._update_info()
        self.plotter.render()

    def set_rotation(self, rotation: Any) -> None:
        """Show the part turned by this 3 x 3 rotation (file coordinates -> pose); its overhangs are worked out
        again off the UI thread, then ``posed`` is emitted."""
        rot = np.asarray(rotation, dtype=float).reshape(3, 3)
        scene = self.scene
        if scene is None:
            self.rotation = rot
            return
        deg = self.overhang_deg

        def work(report: Any) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], list[np.ndarray]]:
            lo, hi = posed_bounds(scene, rot)
            inv = bool(scene.analysis is not None and scene.analysis.inverted)
            return rot, (lo, hi), [overhang_flags(t, rot, deg, float(lo[2]), inv)
                                   for t in [o.triangles for o in scene.part.objects]
                                   + [p.triangles for p in proxies(scene)]]

        self._start(work, self._on_posed)

    def world_point(self, local: tuple[float, float, float]) -> tuple[float, float, float]:
        """Where a point of the file lies on the plate now (mm)."""
        w = self._matrix @ np.append(np.asarray(local, dtype=float), 1.0)
        return (float(w[0]), float(w[1]), float(w[2]))

    def _pick_actors(self) -> list[Any]:
        return self._part_actors if self.scene is not None else []

    def _file_point(self, world: np.ndarray) -> tuple[float, float, float]:
        local = np.linalg.inv(self._matrix) @ np.append(world, 1.0)
        return (float(local[0]), float(local[1]), float(local[2]))

    def _marker_radius(self, pts: np.ndarray) -> float:
        assert self.scene is not None
        lo, hi = self._posed_bounds or (np.array(self.scene.bbox_min), np.array(self.scene.bbox_max))
        return max(float(np.max(hi - lo)) * self.scale * 0.015, 0.4)

    # --- internals ---------------------------------------------------------------------------------
    def _on_posed(self, result: tuple[np.ndarray, tuple[np.ndarray, np.ndarray], list[np.ndarray]]) -> None:
        rot, bounds, flags = result
        if self.scene is None:
            return
        self.rotation = rot
        self._posed_bounds = bounds
        for mesh, f in zip([*self.scene.meshes, *(p.mesh for p in proxies(self.scene))], flags, strict=True):
            mesh.cell_data["overhang"] = f
        self._place()
        self._update_info()
        self.plotter.renderer.reset_camera(render=False)
        self.plotter.render()
        self.posed.emit()

    def _all_part_actors(self) -> list[Any]:
        return [*self._part_actors, *self._preview_actors, *self._coarse_actors]

    def _add_part(self, meshes: list[pv.PolyData], name: str, visible: bool) -> list[Any]:
        actors = []
        for i, mesh in enumerate(meshes):
            colour = OBJECT_COLOURS[i % len(OBJECT_COLOURS)]
            actor = self.plotter.add_mesh(mesh, scalars="overhang", cmap=[colour, OVERHANG_COLOUR], clim=(0, 1),
                                          show_scalar_bar=False, name=f"{name}-{i}", smooth_shading=False,
                                          render=False, pickable=name == "object")
            actor.mapper.scalar_visibility = self._show_overhangs
            actor.SetVisibility(visible)
            actors.append(actor)
        return actors

    def _start_turning(self) -> None:
        """The view starts turning (or zooming): draw the coarse proxy until it is still again."""
        if not self.lod or not self._coarse_actors or self._turning:
            return
        self._turning = True
        for actor in self._part_actors + self._preview_actors:
            actor.SetVisibility(False)
        for actor in self._coarse_actors:
            actor.SetVisibility(True)

    def _show_still(self) -> None:
        """The view is at rest: the part again (the interactor draws the frame right after)."""
        if not self._turning:
            return
        self._turning = False
        for actor in self._coarse_actors:
            actor.SetVisibility(False)
        for actor in self._preview_actors or self._part_actors:
            actor.SetVisibility(True)

    def _show_full(self) -> None:
        """After a big part's first frame (its proxy): the full mesh, once the window has shown that frame."""
        for actor in self._preview_actors:
            self.plotter.remove_actor(actor, render=False)
        self._preview_actors = []
        if self._turning:
            return  # the coarse proxy is up; the full mesh comes back when the view is still
        for actor in self._part_actors:
            actor.SetVisibility(True)
        self.plotter.render()

    def _on_shown(self, scene: PartScene) -> None:
        for actor in self._all_part_actors():
            self.plotter.remove_actor(actor, render=False)
        self.scene = scene
        self.rotation = np.eye(3)
        self._posed_bounds = None
        self._turning = False
        self._part_actors = self._add_part(scene.meshes, "object", visible=not scene.preview)
        self._preview_actors = self._add_part([p.mesh for p in scene.preview or []], "preview", visible=True)
        self._coarse_actors = self._add_part([p.mesh for p in scene.coarse or []], "coarse", visible=False)
        self.scale = UNIT_MM.get(scene.units_guess, 1.0)
        self._place()
        lo, hi = (np.array(v) * self.scale for v in (scene.bbox_min, scene.bbox_max))
        w, d, h = hi - lo
        self.info.setText(f"{w:.1f} x {d:.1f} x {h:.1f} mm  |  analysing ...")
        # One render for the first frame: each pyvista call renders by default, and a software-GL
        # render of a million triangles costs most of a second.
        self.plotter.view_isometric(render=False)
        self.plotter.renderer.reset_camera(render=False)
        self.plotter.render()
        self.first_frame_s = time.perf_counter() - self._t0
        if self._preview_actors:
            QTimer.singleShot(0, self._show_full)
        self.progress.setRange(0, 0)
        self.progress.setFormat("analysing ...")
        self.shown.emit(self.first_frame_s)
        self._start(lambda report: analyse_scene(scene, self.overhang_deg), self._on_analysed)

    def _on_analysed(self, analysis: PartAnalysis) -> None:
        if self.scene is None:
            return
        self.scene.analysis = analysis
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self._update_info()
        if analysis.inverted:
            self.plotter.render()
        self.loaded.emit(analysis)

    def _place(self) -> None:
        """File coordinates -> plate: turn (pose), scale (file units to mm), centre on the plate, lowest point on it."""
        if self.scene is None:
            return
        size = self.machine.build_volume_mm if self.machine else None
        lo, hi = self._posed_bounds or (np.array(self.scene.bbox_min), np.array(self.scene.bbox_max))
        shift = np.array(placement(tuple(lo), tuple(hi))) * self.scale  # type: ignore[arg-type]
        if size and any(size):
            shift[:2] += (size[0] / 2, size[1] / 2)
        m = np.eye(4)
        m[:3, :3] = self.rotation * self.scale
        m[:3, 3] = shift
        self._matrix = m
        vm = vtkMatrix4x4()
        for r in range(4):
            for c in range(4):
                vm.SetElement(r, c, float(m[r, c]))
        for actor in self._all_part_actors():
            actor.SetUserMatrix(vm)
        self._draw_markers()

    def _update_info(self) -> None:
        a = self.analysis
        if a is None:
            return
        s = self.scale
        size = (self._posed_bounds[1] - self._posed_bounds[0]) if self._posed_bounds else a.bbox_mm
        w, d, h = (float(v) * s for v in size)
        nb = "\u00a0"  # a number never wraps away from its unit
        parts = [f"{w:.1f} x {d:.1f} x {h:.1f} mm", f"volume {abs(a.volume_mm3) * s**3 / 1000:.2f}{nb}cm³"]
        if s != 1.0:
            parts.append(f"file units read as {'inches' if s == UNIT_MM['inch'] else 'metres' if s == 1000 else s}")
        parts.append("watertight" if a.watertight else f"NOT watertight ({a.holes} holes)")
        if len(a.objects) > 1:
            parts.append(f"{len(a.objects)} objects")
        turned = "" if np.allclose(self.rotation, np.eye(3)) else " as drawn"
        parts.append(f"overhangs{turned} {a.overhang_area_mm2 * s * s:.0f}{nb}mm² steeper than {a.overhang_angle_deg:g}°")
        if self.machine is not None:
            fit = fitting_machines(a, [(self.machine_name, self.machine)], scale=s)[0]
            parts.append(f"{self.machine_name}: {fit.reason}")
        self.info.setText("  |  ".join(parts))
