"""Review notes pinned to a 3D view: a left click (in pick mode) reports the point of the drawn object under the
cursor, and numbered markers stand at such points. Shared by the part view (meshes) and the toolpath view
(G-code): each says which actors can be picked, how a file point maps to the scene, and how big a marker is.

A view using it has ``plotter`` (a pyvistaqt ``QtInteractor``), a ``picked`` signal, and calls
``_init_pins(tolerance)`` once its plotter exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvista as pv
from PySide6.QtCore import Qt
from vtkmodules.vtkRenderingCore import vtkCellPicker  # not `import vtk`: that loads every VTK module

Point = tuple[float, float, float]


class NotePins:
    plotter: Any
    picked: Any  # Signal(object): (x, y, z) in the file's own coordinates

    def _init_pins(self, tolerance: float) -> None:
        self._markers: list[tuple[Point, str]] = []
        self._marker_actors: list[Any] = []
        self._pick_mode = False
        self._picker = vtkCellPicker()
        self._picker.SetTolerance(tolerance)  # a share of the window's diagonal: lines need more than surfaces
        self.plotter.iren.add_observer("LeftButtonPressEvent", self._on_left_press)

    # --- what each view says ----------------------------------------------------------------------
    def _pick_actors(self) -> list[Any]:
        raise NotImplementedError

    def world_point(self, local: Point) -> Point:
        """Where a point of the file is drawn now (mm)."""
        raise NotImplementedError

    def _file_point(self, world: np.ndarray) -> Point:
        raise NotImplementedError

    def _marker_radius(self, pts: np.ndarray) -> float:
        raise NotImplementedError

    # --- shared -----------------------------------------------------------------------------------
    def set_pick_mode(self, on: bool) -> None:
        """While on, a left click on the object reports the point (``picked``) instead of turning the view."""
        self._pick_mode = bool(on)
        self.plotter.interactor.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    def pick_at(self, x: int, y: int) -> Point | None:
        """The point of the object under widget pixel (x, y) (Qt coordinates, origin top left), in the file's
        own coordinates; None when nothing is there. Emits ``picked`` when it hits."""
        actors = [a for a in self._pick_actors() if a is not None]
        if not actors:
            return None
        ratio = self._pixel_ratio()
        height = self.plotter.render_window.GetSize()[1]
        self._picker.InitializePickList()
        for actor in actors:
            self._picker.AddPickList(actor)
        self._picker.PickFromListOn()
        if not self._picker.Pick(x * ratio, height - 1 - y * ratio, 0, self.plotter.renderer):
            return None
        point = self._file_point(np.array(self._picker.GetPickPosition(), dtype=float))
        self.picked.emit(point)
        return point

    def display_point(self, local: Point) -> tuple[int, int]:
        """Widget pixel (Qt coordinates) where a point of the file is drawn now."""
        r = self.plotter.renderer
        r.SetWorldPoint(*self.world_point(local), 1.0)
        r.WorldToDisplay()
        dx, dy, _ = r.GetDisplayPoint()
        ratio = self._pixel_ratio()
        height = self.plotter.render_window.GetSize()[1]
        return int(round(dx / ratio)), int(round((height - 1 - dy) / ratio))

    def set_markers(self, markers: list[tuple[Point, str]]) -> None:
        """Numbered markers (e.g. review notes) at points of the file; each ``(point, colour)``."""
        self._markers = list(markers)
        self._draw_markers()
        self.plotter.render()

    @property
    def marker_count(self) -> int:
        return len(self._markers) if self._marker_actors else 0

    def _pixel_ratio(self) -> float:
        """Render-window pixels per widget pixel (fewer while the part view turns: it draws smaller frames)."""
        ratio = getattr(self.plotter, "pixel_ratio", self.plotter.interactor.devicePixelRatioF)
        return float(ratio())

    def _on_left_press(self, obj: Any, event: Any) -> None:
        if not self._pick_mode:
            return
        x, y = self.plotter.iren.get_event_position()  # VTK display pixels, origin bottom left
        ratio = self._pixel_ratio()
        height = self.plotter.render_window.GetSize()[1]
        self.pick_at(int(round(x / ratio)), int(round((height - 1 - y) / ratio)))

    def _draw_markers(self) -> None:
        for actor in self._marker_actors:
            self.plotter.remove_actor(actor, render=False)
        self._marker_actors = []
        if not self._markers or not self._pick_actors():
            return
        pts = np.array([self.world_point(p) for p, _ in self._markers])
        radius = self._marker_radius(pts)
        for i, (p, colour) in enumerate(self._markers):
            sphere = pv.Sphere(radius=radius, center=self.world_point(p))
            self._marker_actors.append(self.plotter.add_mesh(sphere, color=colour, name=f"note-{i}", pickable=False,
                                                             render=False))
        labels = self.plotter.add_point_labels(pts, [str(i + 1) for i in range(len(pts))], name="note-labels",
                                               font_size=14, point_size=1, shape_opacity=0.8, text_color="white",
                                               shape_color="#30363d", always_visible=True, render=False)
        self._marker_actors.append(labels)
