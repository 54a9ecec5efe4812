"""A part file's 3D preview where jobs are (the New job dialog, the job detail): a mesh on the plate of a machine
that can make it, or a G-code toolpath. The 3D view is made on first use (it costs a GL context) and loads in the
background (``app/viz/background.py``), so adding or selecting a file never blocks the window.

Qt's ``offscreen`` platform has no OpenGL for VTK: there the pane says so in words instead of drawing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from app.core.domain.capabilities import Capabilities
from app.ui.part_files import GCODE_SUFFIXES, MESH_SUFFIXES

log = logging.getLogger(__name__)


def can_draw_3d() -> bool:
    return QGuiApplication.platformName() not in ("offscreen", "minimal")


class PreviewPane(QWidget):
    def __init__(self, empty_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.part_view: Any = None
        self.toolpath_view: Any = None
        self.placeholder = QLabel(empty_text)
        self.placeholder.setObjectName("emptyState")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack)

    def say(self, text: str) -> None:
        self.placeholder.setText(text)
        self.stack.setCurrentWidget(self.placeholder)

    def show_file(self, path: str | Path | None, machine: tuple[str, Capabilities] | None = None) -> None:
        """Show this file (None: the placeholder); a mesh stands on ``machine``'s plate when given."""
        if path is None:
            self.path = None
            self.say("No file to show for this part (it was given by size only).")
            return
        p = Path(path)
        self.path = p
        if not p.is_file():
            self.say(f"{p.name}: the file is no longer at {p.parent}")
            return
        if not can_draw_3d():
            self.say(f"{p.name}: no 3D drawing on this display (Qt platform {QGuiApplication.platformName()})")
            return
        suffix = p.suffix.lower()
        if suffix in GCODE_SUFFIXES:
            view = self._toolpath()
            self.stack.setCurrentWidget(view)
            view.load(str(p))
        elif suffix in MESH_SUFFIXES or suffix == ".glb":
            view = self._part()
            self.stack.setCurrentWidget(view)
            if machine is not None:
                view.set_machine(machine[1], machine[0])
            view.load(str(p))
        else:
            self.say(f"{p.name}: no preview for this kind of file")

    def _part(self) -> Any:
        if self.part_view is None:
            from app.viz.part_view import PartView

            self.part_view = PartView(self)
            self.stack.addWidget(self.part_view)
        return self.part_view

    def _toolpath(self) -> Any:
        if self.toolpath_view is None:
            from app.viz.toolpath_view import ToolpathView

            self.toolpath_view = ToolpathView(self)
            self.stack.addWidget(self.toolpath_view)
        return self.toolpath_view

    def close_views(self) -> None:
        for v in (self.part_view, self.toolpath_view):
            if v is not None:
                v.close_view()
