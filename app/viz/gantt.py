"""A Gantt chart of a plan: one row per machine, one bar per operation, a now-line, zoom and pan.

All bars are painted by one graphics item from a cached picture, so thousands of bars stay cheap; a click
is mapped back to its bar and reported with the bar's key (the UI opens the job).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPicture
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.viz.charts_base import ClockAxis
from app.viz.gantt_shades import SETUP, SETUP_COLOUR, SHADE_COLOURS, SHADE_WORDS, Shade, ShadesItem

BAR_HEIGHT = 0.72
NOW_LANE = 1.35  # the fitted view starts this far above row 0: an empty lane for the "now" label over the bars


@dataclass(frozen=True, slots=True)
class Bar:
    row: int
    start_ts: float  # epoch seconds
    end_ts: float
    key: Any = None  # what a click reports (a job id)
    label: str = ""
    state: str = ""
    group: str = ""  # what "colour by job" hashes (the job id as text)
    tip: str = ""  # the tooltip: job, part, machine, start, end


def hashed_colour(text: str) -> QColor:
    h = int(hashlib.blake2s(text.encode(), digest_size=2).hexdigest(), 16)
    return QColor.fromHsv(h % 360, 150, 220)


class BarsItem(pg.GraphicsObject):
    def __init__(self, on_click: Callable[[Bar], None]) -> None:
        super().__init__()
        self._bars: list[Bar] = []
        self._colours: dict[str, str] = {}
        self._by_state = False
        self._picture = QPicture()
        self._rect = QRectF()
        self._on_click = on_click
        self.shade_tip: Callable[[float, float], str] | None = None  # the tooltip where no bar is
        self.setAcceptHoverEvents(True)

    def set_bars(self, bars: list[Bar], state_colours: dict[str, str], by_state: bool) -> None:
        self._bars = list(bars)
        self._colours = state_colours
        self._by_state = by_state
        self.prepareGeometryChange()
        self._draw()
        self.update()

    def colour_of(self, bar: Bar) -> QColor:
        if bar.state == SETUP:  # a material change reads the same whichever way work is coloured
            return QColor(SETUP_COLOUR)
        if self._by_state:
            return QColor(self._colours.get(bar.state, "#8b949e"))
        return hashed_colour(bar.group or str(bar.key))

    def _draw(self) -> None:
        pic = QPicture()
        p = QPainter(pic)
        pen = QPen(QColor("#0f1318"))
        pen.setCosmetic(True)
        p.setPen(pen)
        for bar in self._bars:
            p.setBrush(self.colour_of(bar))
            p.drawRect(QRectF(bar.start_ts, bar.row - BAR_HEIGHT / 2, max(bar.end_ts - bar.start_ts, 1.0),
                              BAR_HEIGHT))
        p.end()
        self._picture = pic
        if self._bars:
            x0 = min(b.start_ts for b in self._bars)
            x1 = max(b.end_ts for b in self._bars)
            y1 = max(b.row for b in self._bars)
            self._rect = QRectF(x0, -1, max(x1 - x0, 1.0), y1 + 2)
        else:
            self._rect = QRectF()

    def paint(self, p: QPainter, *args: Any) -> None:
        p.drawPicture(0, 0, self._picture)
        self._paint_labels(p)

    def _paint_labels(self, p: QPainter) -> None:
        """Each bar's label inside it where it fits (in screen pixels: the view's scale is not the text's)."""
        if not self._bars:
            return
        to_screen = p.transform()
        view = self.getViewBox()
        visible = view.viewRect() if view is not None else None
        p.save()
        p.resetTransform()
        metrics = p.fontMetrics()
        for bar in self._bars:
            if not bar.label or (visible is not None and (bar.end_ts < visible.left()
                                                          or bar.start_ts > visible.right())):
                continue
            rect = to_screen.mapRect(QRectF(bar.start_ts, bar.row - BAR_HEIGHT / 2, bar.end_ts - bar.start_ts,
                                            BAR_HEIGHT)).adjusted(4, 0, -4, 0)
            if rect.width() < 40 or rect.height() < metrics.height():
                continue
            text = metrics.elidedText(bar.label, Qt.TextElideMode.ElideRight, int(rect.width()))
            if text == "…":
                continue
            fill = self.colour_of(bar)
            p.setPen(QColor("#0d1116") if fill.lightnessF() > 0.6 else QColor("#ffffff"))  # readable on any bar
            p.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text)
        p.restore()

    def hoverEvent(self, ev: Any) -> None:
        if ev.isExit():
            self.setToolTip("")
            return
        pos = ev.pos()
        bar = self.bar_at(pos.x(), pos.y())
        if bar is None and self.shade_tip is not None:
            self.setToolTip(self.shade_tip(pos.x(), pos.y()))
            return
        self.setToolTip(bar.tip or bar.label if bar is not None else "")

    def boundingRect(self) -> QRectF:
        return self._rect

    def bar_at(self, x: float, y: float) -> Bar | None:
        for bar in reversed(self._bars):
            if bar.start_ts <= x <= max(bar.end_ts, bar.start_ts + 1.0) and abs(y - bar.row) <= BAR_HEIGHT / 2:
                return bar
        return None

    def mouseClickEvent(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        pos = ev.pos()
        bar = self.bar_at(pos.x(), pos.y())
        if bar is not None:
            ev.accept()
            self._on_click(bar)

    def bars(self) -> list[Bar]:
        return list(self._bars)


class GanttWidget(QWidget):
    bar_clicked = Signal(object)  # the bar's key

    def __init__(self, state_colours: dict[str, str] | None = None, parent: QWidget | None = None, *,
                 state_words: dict[str, str] | None = None, zone: tzinfo | None = None) -> None:
        super().__init__(parent)
        self.state_colours = state_colours or {}
        self.state_words = state_words or {}
        self.zone = zone
        self.by_state = True  # the legend explains the colours; "colour by job" tells jobs apart
        self.plot = pg.PlotWidget(axisItems={"bottom": ClockAxis(zone)})
        self.plot.showGrid(x=True, y=False, alpha=0.25)
        self.plot.invertY(True)
        self.plot.setMouseEnabled(x=True, y=True)
        self.plot.getViewBox().setLimits(yMin=-1.5)
        self.shades = ShadesItem()
        self.plot.addItem(self.shades)
        self.items = BarsItem(lambda bar: self.bar_clicked.emit(bar.key))
        self.items.shade_tip = self._shade_tip
        self.plot.addItem(self.items)
        self.now_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#ff7b72", width=2))
        self.plot.addItem(self.now_line)
        # "now" at the top edge of the chart, in the lane the fitted view leaves above the first row (it sat on the
        # first bar); on the chart's own dark background, so it reads even where the operator pans bars under it.
        self.now_label = pg.TextItem("now", color="#ff7b72", anchor=(0.5, 0.0), fill=pg.mkBrush("#12161c"),
                                     border=pg.mkPen("#ff7b72"))
        self.now_label.setZValue(20)
        self.plot.addItem(self.now_label, ignoreBounds=True)
        self.rows: list[str] = []
        self.fit_btn = QPushButton("Fit")
        self.now_btn = QPushButton("Now")
        self.colour_btn = QPushButton("Colour by job")
        self.colour_btn.setCheckable(True)
        self.legend = QLabel()
        self.legend.setObjectName("ganttLegend")
        self.day = QLabel()
        self.day.setObjectName("ganttDay")
        self.day.setStyleSheet("color: #c9d4df; font-weight: bold;")
        tools = QHBoxLayout()
        for b in (self.fit_btn, self.now_btn, self.colour_btn):
            tools.addWidget(b)
        tools.addWidget(self.day)
        tools.addStretch(1)
        tools.addWidget(self.legend)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(tools)
        lay.addWidget(self.plot, 1)
        self.fit_btn.clicked.connect(self.fit)
        self.now_btn.clicked.connect(self.centre_now)
        self.colour_btn.toggled.connect(lambda on: self.set_colour_by_state(not on))
        self.plot.getViewBox().sigXRangeChanged.connect(lambda *_: self._show_days())
        self.plot.getViewBox().sigRangeChanged.connect(lambda *_: self._place_now_label())
        self._fitted = False
        self._show_legend()

    def _show_legend(self) -> None:
        if not self.by_state:
            self.legend.setText("&nbsp;&nbsp;".join(["<span style='color:#8b949e'>one colour per job</span>"]
                                                    + self._extra_legend({b.state for b in self.items.bars()})))
            return
        states = {b.state for b in self.items.bars()}
        shown = [s for s in self.state_colours if s in states] or list(self.state_colours)
        self.legend.setText("&nbsp;&nbsp;".join(
            [f"<span style='color:{self.state_colours[s]}'>■</span> {self.state_words.get(s, s)}" for s in shown]
            + self._extra_legend(states)))

    def _extra_legend(self, states: set[str]) -> list[str]:
        out = [f"<span style='color:{SETUP_COLOUR}'>■</span> Setup"] if SETUP in states else []
        kinds = self.shades.kinds()
        out += [f"<span style='color:{SHADE_COLOURS[k]}'>▨</span> {SHADE_WORDS[k]}" for k in SHADE_WORDS if k in kinds]
        return out

    def _show_days(self) -> None:
        """The date(s) on screen above the axis (its ticks show the hours)."""
        (x0, x1), _ = self.plot.getViewBox().viewRange()
        try:
            d0 = datetime.fromtimestamp(x0, UTC).astimezone(self.zone)
            d1 = datetime.fromtimestamp(x1, UTC).astimezone(self.zone)
        except (OverflowError, OSError, ValueError):
            return
        text = f"{d0:%a} {d0.day} {d0:%b %Y}"
        if d1.date() != d0.date():
            text += f" – {d1:%a} {d1.day} {d1:%b}"
        self.day.setText(text)

    def set_rows(self, names: list[str]) -> None:
        self.rows = list(names)
        self.plot.getAxis("left").setTicks([[(i, n) for i, n in enumerate(self.rows)]])

    def set_bars(self, bars: list[Bar]) -> None:
        self.items.set_bars(bars, self.state_colours, self.by_state)
        self._show_legend()
        if not self._fitted and bars:
            self._fitted = True
            self.fit()

    def _shade_tip(self, x: float, y: float) -> str:
        shade = self.shades.shade_at(x, int(round(y)))
        return shade.tip if shade is not None else ""

    def set_shades(self, shades: list[Shade]) -> None:
        """Maintenance windows (on their machine's row) and closed hours (across the floor), under the bars."""
        self.shades.set_shades(shades, len(self.rows))
        self._show_legend()

    def set_colour_by_state(self, on: bool) -> None:
        self.by_state = on
        self.items.set_bars(self.items.bars(), self.state_colours, on)
        self._show_legend()

    def set_now(self, ts: float) -> None:
        self.now_line.setValue(ts)
        self._place_now_label()

    def _place_now_label(self) -> None:
        """The "now" label on the now-line at the top of what is on screen."""
        _, (y0, y1) = self.plot.getViewBox().viewRange()
        self.now_label.setPos(float(self.now_line.value()), min(y0, y1))  # the top: the y axis runs downwards

    def fit(self) -> None:
        bars = self.items.bars()
        now = float(self.now_line.value())
        # a now-line not placed yet sits at 0 (1 Jan 1970): fitting it in would show decades of empty chart
        marks = [now] if now > 0 else []
        if not bars and not marks:
            return
        x0 = min([b.start_ts for b in bars] + marks)
        x1 = max([b.end_ts for b in bars] + [m + 60 for m in marks])
        self.plot.setXRange(x0, x1, padding=0.02)
        self.plot.setYRange(-NOW_LANE, max(len(self.rows), 1) - 0.2, padding=0)

    def centre_now(self) -> None:
        (x0, x1), _ = self.plot.getViewBox().viewRange()
        now = float(self.now_line.value())
        half = (x1 - x0) / 2
        self.plot.setXRange(now - half * 0.3, now + half * 1.7, padding=0)

    def scene_point_of(self, bar: Bar) -> QPointF:
        """Where a bar's middle is on screen (for tests and tooltips)."""
        vb = self.plot.getViewBox()
        return vb.mapViewToScene(QPointF((bar.start_ts + bar.end_ts) / 2, bar.row))
