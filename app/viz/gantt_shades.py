"""Shaded spans behind a Gantt's bars: a machine's maintenance window on its own row, and the hours nobody is on
the floor across every row. Painted once into a picture, under the bars, never taking a click."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPicture

MAINTENANCE = "maintenance"
CLOSED = "closed"
SHADE_COLOURS = {MAINTENANCE: "#d29922", CLOSED: "#6e7681"}
SHADE_WORDS = {MAINTENANCE: "Maintenance", CLOSED: "Nobody on the floor"}
SETUP = "SETUP"  # the state of a setup bar (a material change before the work that needs it)
SETUP_COLOUR = "#bc8cff"


@dataclass(frozen=True, slots=True)
class Shade:
    start_ts: float
    end_ts: float
    kind: str  # MAINTENANCE or CLOSED
    row: int | None = None  # None: every row (the whole floor)
    tip: str = ""  # what hovering over it says


class ShadesItem(pg.GraphicsObject):
    def __init__(self) -> None:
        super().__init__()
        self._shades: list[Shade] = []
        self._rows = 0
        self._picture = QPicture()
        self._rect = QRectF()
        self.setZValue(-10)  # under the bars and the grid's labels
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_shades(self, shades: list[Shade], rows: int) -> None:
        self._shades = [s for s in shades if s.end_ts > s.start_ts]
        self._rows = rows
        self.prepareGeometryChange()
        pic = QPicture()
        p = QPainter(pic)
        p.setPen(Qt.PenStyle.NoPen)
        for s in sorted(self._shades, key=lambda x: x.row is not None):  # the floor first, machines on top
            colour = QColor(SHADE_COLOURS.get(s.kind, "#6e7681"))
            if s.row is None:
                colour.setAlpha(70)
                p.setBrush(colour)
                p.drawRect(QRectF(s.start_ts, -1.0, s.end_ts - s.start_ts, rows + 1.0))
            else:
                colour.setAlpha(90)
                p.setBrush(QBrush(colour, Qt.BrushStyle.BDiagPattern))
                p.drawRect(QRectF(s.start_ts, s.row - 0.5, s.end_ts - s.start_ts, 1.0))
                colour.setAlpha(40)
                p.setBrush(colour)
                p.drawRect(QRectF(s.start_ts, s.row - 0.5, s.end_ts - s.start_ts, 1.0))
        p.end()
        self._picture = pic
        if self._shades:
            x0 = min(s.start_ts for s in self._shades)
            x1 = max(s.end_ts for s in self._shades)
            self._rect = QRectF(x0, -1, max(x1 - x0, 1.0), rows + 1)
        else:
            self._rect = QRectF()
        self.update()

    def shades(self) -> list[Shade]:
        return list(self._shades)

    def kinds(self) -> set[str]:
        return {s.kind for s in self._shades}

    def shade_at(self, x: float, row: int) -> Shade | None:
        """The shade at time ``x`` on ``row`` (a machine's own window before the floor's closed hours)."""
        hits = [s for s in self._shades if s.start_ts <= x < s.end_ts and s.row in (row, None)]
        hits.sort(key=lambda s: s.row is None)
        return hits[0] if hits else None

    def paint(self, p: QPainter, *args: Any) -> None:
        p.drawPicture(0, 0, self._picture)

    def boundingRect(self) -> QRectF:
        return self._rect
