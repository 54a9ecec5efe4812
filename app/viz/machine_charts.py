"""Live charts of one machine: temperatures with their targets, power, vibration and job progress.

Plain pyqtgraph widgets fed with numpy arrays (times in epoch seconds); they know nothing of the core.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

PALETTE = ["#ff7b72", "#ffa657", "#79c0ff", "#d2a8ff", "#7ee787", "#f2cc60"]
Series = tuple[np.ndarray, np.ndarray]


def _plot(title: str, unit: str) -> pg.PlotWidget:
    w = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(utcOffset=0)})
    w.setTitle(title, size="12pt")
    w.setLabel("left", unit)
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMouseEnabled(x=True, y=False)
    w.addLegend(offset=(6, 6), labelTextSize="10pt")
    w.setMinimumHeight(120)
    return w


class MachineCharts(QWidget):
    """Four stacked charts sharing one time axis."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.temps = _plot("Temperatures", "°C")
        self.power = _plot("Power", "W")
        self.vibration = _plot("Vibration", "mm/s")
        self.progress = _plot("Job progress", "%")
        self.progress.setYRange(0, 100, padding=0.02)
        for w in (self.power, self.vibration, self.progress):
            w.setXLink(self.temps)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.temps, self.power, self.vibration, self.progress):
            lay.addWidget(w)
        self._curves: dict[tuple[str, str], pg.PlotDataItem] = {}

    def _curve(self, plot: pg.PlotWidget, key: str, colour: str, dashed: bool = False) -> pg.PlotDataItem:
        item = self._curves.get((plot.objectName() or str(id(plot)), key))
        if item is None:
            style = pg.QtCore.Qt.PenStyle.DashLine if dashed else pg.QtCore.Qt.PenStyle.SolidLine
            item = plot.plot(name=key, pen=pg.mkPen(colour, width=2, style=style), connect="finite")
            self._curves[(plot.objectName() or str(id(plot)), key)] = item
        return item

    def clear(self) -> None:
        for plot in (self.temps, self.power, self.vibration, self.progress):
            plot.clear()
        self._curves.clear()

    def update_series(self, temps: dict[str, Series], targets: dict[str, Series], power: Series | None,
                      vibration: Series | None, progress: Series | None) -> None:
        for i, (name, (t, v)) in enumerate(sorted(temps.items())):
            colour = PALETTE[i % len(PALETTE)]
            self._curve(self.temps, name, colour).setData(t, v)
            if name in targets:
                tt, tv = targets[name]
                self._curve(self.temps, f"{name} target", colour, dashed=True).setData(tt, tv)
        for plot, series, key, colour in ((self.power, power, "power", "#f2cc60"),
                                          (self.vibration, vibration, "vibration", "#d2a8ff"),
                                          (self.progress, progress, "progress", "#3fb950")):
            if series is not None:
                self._curve(plot, key, colour).setData(*series)
            # a machine without a heater or a spindle gets no empty chart taking room
            plot.setVisible(series is not None)
        self.temps.setVisible(bool(temps))

    def set_window(self, start_ts: float, end_ts: float) -> None:
        self.temps.setXRange(start_ts, end_ts, padding=0)

    def curve_count(self) -> int:
        return len(self._curves)
