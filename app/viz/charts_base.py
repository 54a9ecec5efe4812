"""Small pyqtgraph building blocks shared by the dashboards: a time plot, stacked areas, a second y axis,
a "now" marker and horizontal bars with labels. They take numpy arrays (times in epoch seconds, UTC)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

DASH = Qt.PenStyle.DashLine
# The dark theme's chart colours, set when pyqtgraph is first loaded: every chart module imports this one, and the
# window's first frame loads none of them (issue 17).
pg.setConfigOptions(background="#0f1318", foreground="#c9d4df", antialias=False)


class ClockAxis(pg.AxisItem):
    """Hours of the site's day (``06:00``), with the weekday and date at midnight (``Mon 21``): a day reads as
    hours, a week as days."""

    STEPS_S = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400)

    def __init__(self, zone: tzinfo | None = None, **kw: object) -> None:
        super().__init__("bottom", **kw)
        self.zone = zone

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802,N803 - pyqtgraph's API
        span = max(maxVal - minVal, 1e-6)
        fits = max(2, int(size / 70))  # a label every ~70 pixels
        step = float(next((s for s in self.STEPS_S if span / s <= fits), 86400 * (int(span / 86400 / fits) + 1)))
        offset = self._offset(minVal)  # steps fall on the site's whole hours and midnights, not UTC's
        first = (int((minVal + offset) // step) + 1) * step - offset
        return [(step, [first + i * step for i in range(int((maxVal - first) // step) + 1)])]

    def _offset(self, ts: float) -> float:
        try:
            off = datetime.fromtimestamp(ts, UTC).astimezone(self.zone).utcoffset()
        except (OverflowError, OSError, ValueError):
            return 0.0
        return off.total_seconds() if off is not None else 0.0

    def tickStrings(self, values: list, scale: float, spacing: float) -> list[str]:  # noqa: N802 - pyqtgraph's API
        out = []
        for v in values:
            try:
                local = datetime.fromtimestamp(v, UTC).astimezone(self.zone)
            except (OverflowError, OSError, ValueError):
                out.append("")
                continue
            if (local.hour, local.minute, local.second) == (0, 0, 0):
                out.append(f"{local:%a} {local.day}")
            else:
                out.append(f"{local:%H:%M:%S}" if spacing < 60 else f"{local:%H:%M}")
        return out


def time_plot(title: str, unit: str, legend: bool = True, zone: tzinfo | None = None) -> pg.PlotWidget:
    w = pg.PlotWidget(axisItems={"bottom": ClockAxis(zone)})
    w.setTitle(title, size="11pt")
    w.setLabel("left", unit)
    w.getAxis("left").enableAutoSIPrefix(False)  # a price axis labelled "x0.001" reads as nonsense
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMouseEnabled(x=True, y=False)
    if legend:
        w.addLegend(offset=(6, 6), labelTextSize="9pt")
    w.setMinimumHeight(130)
    return w


def brush(colour: str, alpha: int = 150) -> pg.QtGui.QBrush:
    c = pg.mkColor(colour)
    c.setAlpha(alpha)
    return pg.mkBrush(c)


class StackedAreas:
    """Areas stacked in the given order (first at the bottom); ``set`` replaces the data of every layer."""

    def __init__(self, plot: pg.PlotWidget, names: Sequence[str], colours: Sequence[str]) -> None:
        self.plot = plot
        self.names = list(names)
        self.tops: list[pg.PlotDataItem] = []
        self.fills: list[pg.FillBetweenItem] = []
        self.base = pg.PlotDataItem(pen=None)
        plot.addItem(self.base)
        below = self.base
        for name, colour in zip(names, colours, strict=True):
            top = pg.PlotDataItem(pen=pg.mkPen(colour, width=1), name=name)
            plot.addItem(top)
            fill = pg.FillBetweenItem(below, top, brush=brush(colour))
            plot.addItem(fill)
            self.tops.append(top)
            self.fills.append(fill)
            below = top

    def set(self, t: np.ndarray, layers: Sequence[np.ndarray]) -> None:
        acc = np.zeros_like(t, dtype=np.float64)
        self.base.setData(t, acc.copy())
        for top, y in zip(self.tops, layers, strict=True):
            acc = acc + np.clip(np.asarray(y, dtype=np.float64), 0.0, None)
            top.setData(t, acc.copy())

    def totals(self) -> np.ndarray:
        """Height of the whole stack (for tests and tooltips)."""
        _x, y = self.tops[-1].getData()
        return np.asarray(y if y is not None else [])


class RightAxis:
    """A second y axis on the right with its own view box, x-linked to the plot."""

    def __init__(self, plot: pg.PlotWidget, label: str) -> None:
        self.plot = plot
        pi = plot.getPlotItem()
        self.view = pg.ViewBox()
        pi.showAxis("right")
        pi.scene().addItem(self.view)
        pi.getAxis("right").linkToView(self.view)
        pi.getAxis("right").setLabel(label)
        self.view.setXLink(pi.vb)
        pi.vb.sigResized.connect(self._sync)
        self._sync()

    def _sync(self) -> None:
        self.view.setGeometry(self.plot.getPlotItem().vb.sceneBoundingRect())
        self.view.linkedViewChanged(self.plot.getPlotItem().vb, self.view.XAxis)

    def add(self, item: pg.GraphicsObject) -> None:
        self.view.addItem(item)


def now_line(plot: pg.PlotWidget) -> pg.InfiniteLine:
    line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#8b949e", width=1, style=DASH),
                           label="now", labelOpts={"position": 0.95, "color": "#8b949e"})
    plot.addItem(line)
    return line


class HBars:
    """Horizontal bars, largest on top, with a text label per bar."""

    def __init__(self, plot: pg.PlotWidget, colour: str) -> None:
        self.plot = plot
        self.colour = colour
        self.bars: pg.BarGraphItem | None = None
        self.labels: list[pg.TextItem] = []
        plot.invertY(True)
        plot.getAxis("left").setStyle(showValues=False)

    def set(self, names: Sequence[str], values: Sequence[float], texts: Sequence[str] | None = None) -> None:
        if self.bars is not None:
            self.plot.removeItem(self.bars)
        for lab in self.labels:
            self.plot.removeItem(lab)
        self.labels = []
        v = np.asarray(values, dtype=np.float64)
        y = np.arange(len(v), dtype=np.float64)
        self.bars = pg.BarGraphItem(x0=np.zeros_like(v), y=y, height=0.7, width=v, brush=brush(self.colour, 190))
        self.plot.addItem(self.bars)
        for i, name in enumerate(names):
            # the label sits over its bar, from the left edge: it stays inside the chart however long the bar
            text = f"{name}  {texts[i] if texts else f'{v[i]:.2f}'}"
            lab = pg.TextItem(text, anchor=(0, 0.5), color="#e6edf3")
            lab.setPos(0, y[i])
            self.plot.addItem(lab)
            self.labels.append(lab)
        self.plot.setYRange(-0.6, max(len(v), 1) - 0.4, padding=0)
        self.plot.setXRange(0, float(v.max()) * 1.05 if len(v) and v.max() > 0 else 1.0, padding=0)
