"""Live charts of one machine: temperatures with their targets, power, vibration and job progress.

Plain pyqtgraph widgets fed with numpy arrays (times in epoch seconds); they know nothing of the core.
"""

from __future__ import annotations

from datetime import tzinfo

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.viz.charts_base import ClockAxis

MUTED = "#8b949e"
PALETTE = ["#ff7b72", "#ffa657", "#79c0ff", "#d2a8ff", "#7ee787", "#f2cc60"]
Series = tuple[np.ndarray, np.ndarray]


def _plot(title: str, unit: str, zone: tzinfo | None) -> pg.PlotWidget:
    w = pg.PlotWidget(axisItems={"bottom": ClockAxis(zone)})
    w.setTitle(title, size="11pt")
    w.setLabel("left", unit)
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMouseEnabled(x=True, y=False)
    w.setMinimumHeight(110)
    w.setProperty("chart_title", title)
    return w


def _title_with_keys(plot: pg.PlotWidget, keys: list[tuple[str, str, bool]]) -> None:
    """The legend in the title line, above the curves instead of over them: ``Temperatures — bed — nozzle - - target``.
    Each curve once in its colour; its target dashed in the same colour, so one grey ``- - target`` says so for all
    (a key per target did not fit the machine panel at 1366 x 768: "- - targe")."""
    bits = [f"<span style='color:{c}'>— {name}</span>" for name, c, dashed in keys if not dashed]
    if any(dashed for _n, _c, dashed in keys):
        bits.append(f"<span style='color:{MUTED}'>- - target</span>")
    plot.setTitle(f"{plot.property('chart_title')}&nbsp;&nbsp;" + "&nbsp;&nbsp;".join(bits), size="11pt")


class MachineCharts(QWidget):
    """Four stacked charts sharing one time axis."""

    def __init__(self, parent: QWidget | None = None, zone: tzinfo | None = None) -> None:
        super().__init__(parent)
        self.temps = _plot("Temperatures", "°C", zone)
        self.power = _plot("Power", "W", zone)
        self.vibration = _plot("Vibration", "mm/s", zone)
        self.progress = _plot("Job progress", "%", zone)
        self.progress.setYRange(0, 100, padding=0.02)
        self.progress.enableAutoRange(y=False)
        self.empty = QLabel("No data yet: the charts fill in as the machine reports its temperatures, power and "
                            "progress.")
        self.empty.setObjectName("chartsEmpty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #8b949e; font-size: 13pt; padding: 24px;")
        for w in (self.power, self.vibration, self.progress):
            w.setXLink(self.temps)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.empty, 1)
        for w in (self.temps, self.power, self.vibration, self.progress):
            lay.addWidget(w)
        self._curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.show_empty()

    def show_empty(self) -> None:
        """"No data yet" instead of four empty charts with made-up axes."""
        self.empty.setVisible(True)
        for plot in (self.temps, self.power, self.vibration, self.progress):
            plot.setVisible(False)

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
            plot.setTitle(plot.property("chart_title"), size="11pt")
        self._curves.clear()
        self.show_empty()

    def update_series(self, temps: dict[str, Series], targets: dict[str, Series], power: Series | None,
                      vibration: Series | None, progress: Series | None) -> None:
        keys = []
        for i, (name, (t, v)) in enumerate(sorted(temps.items())):
            colour = PALETTE[i % len(PALETTE)]
            self._curve(self.temps, name, colour).setData(t, v)
            keys.append((name, colour, False))
            if name in targets:
                tt, tv = targets[name]
                self._curve(self.temps, f"{name} target", colour, dashed=True).setData(tt, tv)
                keys.append(("target", colour, True))
        if keys:
            _title_with_keys(self.temps, keys)
        for plot, series, key, colour in ((self.power, power, "power", "#f2cc60"),
                                          (self.vibration, vibration, "vibration", "#d2a8ff"),
                                          (self.progress, progress, "progress", "#3fb950")):
            if series is not None:
                self._curve(plot, key, colour).setData(*series)
                if plot is not self.progress:  # power and vibration read from 0, not from the last wiggle
                    top = float(np.nanmax(series[1])) if len(series[1]) and np.isfinite(series[1]).any() else 1.0
                    plot.setYRange(0.0, max(top * 1.12, 1.0), padding=0)
            # a machine without a heater or a spindle gets no empty chart taking room
            plot.setVisible(series is not None)
        self.temps.setVisible(bool(temps))
        self.empty.setVisible(not temps and power is None and vibration is None and progress is None)

    def set_window(self, start_ts: float, end_ts: float) -> None:
        self.temps.setXRange(start_ts, end_ts, padding=0)

    def curve_count(self) -> int:
        return len(self._curves)
