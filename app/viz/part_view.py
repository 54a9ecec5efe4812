"""3D preview of a part on the build plate of a chosen machine (pyvista in Qt).

Embed ``PartView`` and call ``load(path)``; reading and analysing happen on a worker thread while a
progress bar runs, so a big file never freezes the window. ``set_machine(capabilities, name)`` draws
that machine's plate and build volume and says whether (and how) the part fits.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget
from pyvistaqt import QtInteractor

from app.core.domain.capabilities import Capabilities
from app.core.estimation import PartAnalysis, fitting_machines
from app.viz.background import BackgroundLoading, BackgroundTask
from app.viz.part_scene import (
    OBJECT_COLOURS,
    OVERHANG_COLOUR,
    PartScene,
    analyse_scene,
    build_part_scene,
    placement,
    plate_and_volume,
)

log = logging.getLogger(__name__)

VIEW_PRESETS = ("iso", "top", "front", "side")


class PartView(BackgroundLoading, QWidget):
    failure_text = "cannot show this part"
    shown = Signal(float)  # seconds from load() to the first frame
    loaded = Signal(object)  # PartAnalysis, once the full analysis is done
    failed = Signal(str)

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
        # No timed re-rendering: it would redraw a million triangles 5 times a second for nothing; the
        # interactor renders on mouse input and we render after each change.
        self.plotter = QtInteractor(self, auto_update=False)
        self.plotter.set_background("#f4f5f7")
        self.plotter.add_axes()
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
        lay.addWidget(self.plotter.interactor, 1)
        lay.addWidget(self.progress)
        lay.addWidget(self.info)

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
        task = self._start(lambda report: build_part_scene(str(path), self.overhang_deg, report), self._on_shown)
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
            self._machine_actors.append(self.plotter.add_mesh(plate, color="#d9dde3", name="plate", pickable=False,
                                                              render=False))
            self._machine_actors.append(self.plotter.add_mesh(outline, color="#4a5a6a", line_width=2, name="volume",
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
        for actor in self._part_actors:
            actor.mapper.scalar_visibility = self._show_overhangs
        self.plotter.render()

    def set_units(self, units: str) -> None:
        """'mm', 'inch' or 'auto' (the analysis' guess): how file units map to the machine's mm."""
        a = self.analysis
        inch = units == "inch" or (units == "auto" and a is not None and a.units_guess == "inch")
        self.scale = 25.4 if inch else 1.0
        self._place()
        self._update_info()
        self.plotter.render()

    # --- internals ---------------------------------------------------------------------------------
    def _on_shown(self, scene: PartScene) -> None:
        for actor in self._part_actors:
            self.plotter.remove_actor(actor, render=False)
        self.scene = scene
        self._part_actors = []
        for i, mesh in enumerate(scene.meshes):
            colour = OBJECT_COLOURS[i % len(OBJECT_COLOURS)]
            actor = self.plotter.add_mesh(mesh, scalars="overhang", cmap=[colour, OVERHANG_COLOUR], clim=(0, 1),
                                          show_scalar_bar=False, name=f"object-{i}", smooth_shading=False,
                                          render=False)
            actor.mapper.scalar_visibility = self._show_overhangs
            self._part_actors.append(actor)
        self.scale = 25.4 if scene.units_guess == "inch" else 1.0
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
        if self.scene is None:
            return
        size = self.machine.build_volume_mm if self.machine else None
        shift = placement(self.scene.bbox_min, self.scene.bbox_max)
        dx, dy, dz = (s * self.scale for s in shift)
        if size and any(size):
            dx += size[0] / 2
            dy += size[1] / 2
        for actor in self._part_actors:
            actor.SetScale(self.scale, self.scale, self.scale)
            actor.SetPosition(dx, dy, dz)

    def _update_info(self) -> None:
        a = self.analysis
        if a is None:
            return
        s = self.scale
        w, d, h = (v * s for v in a.bbox_mm)
        parts = [f"{w:.1f} x {d:.1f} x {h:.1f} mm", f"volume {abs(a.volume_mm3) * s**3 / 1000:.2f} cm3"]
        if s != 1.0:
            parts.append("file units read as inches")
        parts.append("watertight" if a.watertight else f"NOT watertight ({a.holes} holes)")
        if len(a.objects) > 1:
            parts.append(f"{len(a.objects)} objects")
        parts.append(f"overhangs {a.overhang_area_mm2 * s * s:.0f} mm2 > {a.overhang_angle_deg:g} deg")
        if self.machine is not None:
            fit = fitting_machines(a, [(self.machine_name, self.machine)], scale=s)[0]
            parts.append(f"{self.machine_name}: {fit.reason}")
        self.info.setText("  |  ".join(parts))
