"""The energy dashboard's charts: power by source (stacked), battery state of charge, site load against the
cap, price and carbon with the forecast ahead, and the per-machine ranking. Fed with numpy arrays only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QWidget

from app.viz.charts_base import DASH, HBars, RightAxis, StackedAreas, brush, now_line, time_plot

SOURCES = ("solar", "battery", "fuel cell", "grid")
COLOURS = {"solar": "#f2cc60", "battery": "#7ee787", "fuel cell": "#d2a8ff", "grid": "#79c0ff",
           "load": "#ff7b72", "cap": "#f85149", "price": "#ffa657", "carbon": "#8b949e", "soc": "#7ee787"}


class EnergyCharts(QWidget):
    """Five charts in a grid; the four time charts share one x axis."""

    def __init__(self, parent: QWidget | None = None, *, sources: Sequence[str] = SOURCES,
                 zone: tzinfo | None = None, currency: str = "") -> None:
        """``sources``: the ones this site has (the legend names no source it does not have)."""
        super().__init__(parent)
        self.source_names = [s for s in SOURCES if s in sources]
        self.sources = time_plot("Power by source", "kW", zone=zone)
        self.stack = StackedAreas(self.sources, self.source_names, [COLOURS[s] for s in self.source_names])
        self.load_on_sources = self.sources.plot(name="load", pen=pg.mkPen(COLOURS["load"], width=2))
        # ahead of now, the solar the forecast expects: the chart covers its whole window, not just the past
        self.solar_ahead = pg.PlotDataItem(pen=pg.mkPen(COLOURS["solar"], width=1, style=DASH))
        self.solar_zero = pg.PlotDataItem(pen=None)
        self.sources.addItem(self.solar_ahead)
        self.sources.addItem(self.solar_zero)
        self.sources.addItem(pg.FillBetweenItem(self.solar_zero, self.solar_ahead, brush=brush(COLOURS["solar"], 60)))

        self.soc = time_plot("Battery state of charge", "%", legend=False, zone=zone)
        self.soc.setYRange(0, 100, padding=0.02)
        self.soc_curve = self.soc.plot(pen=pg.mkPen(COLOURS["soc"], width=2))
        self.soc_ahead = self.soc.plot(pen=pg.mkPen(COLOURS["soc"], width=2, style=DASH))

        self.load = time_plot("Site load and cap", "kW", zone=zone)
        self.load_curve = self.load.plot(name="load", pen=pg.mkPen(COLOURS["load"], width=2))
        self.cap_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(COLOURS["cap"], width=2, style=DASH),
                                        label="cap {value:.1f} kW", labelOpts={"position": 0.72})  # clear of the legend, never cut at the edge
        self.cap_line.setVisible(False)
        self.load.addItem(self.cap_line)

        self.prices = time_plot("Price and CO₂", f"{currency or 'price'} / kWh", zone=zone)
        self.price_curve = self.prices.plot(name="price", pen=pg.mkPen(COLOURS["price"], width=2), stepMode=None)
        self.price_ahead = self.prices.plot(pen=pg.mkPen(COLOURS["price"], width=2, style=DASH))
        # a short title: the plot item is at least as wide as it, and wider than its column on a 1366 screen cut
        # the right axis' figures (400 g read as "40")
        self.prices.setToolTip("Price (left axis) and carbon intensity (right axis, g CO₂ per kWh); dashed: the "
                               "forecast")
        self.carbon_axis = RightAxis(self.prices, "g CO2 / kWh")
        self.carbon_curve = pg.PlotDataItem(pen=pg.mkPen(COLOURS["carbon"], width=2))
        self.carbon_ahead = pg.PlotDataItem(pen=pg.mkPen(COLOURS["carbon"], width=2, style=DASH))
        self.carbon_axis.add(self.carbon_curve)
        self.carbon_axis.add(self.carbon_ahead)
        self.prices.getPlotItem().legend.addItem(self.carbon_curve, "carbon")

        self.now_lines = [now_line(p) for p in (self.sources, self.soc, self.load, self.prices)]
        for p in (self.soc, self.load, self.prices):
            p.setXLink(self.sources)

        self.ranking = pg.PlotWidget()
        self.ranking.setTitle("Consumption by machine", size="11pt")
        self.ranking.setLabel("bottom", "kWh")
        self.ranking.getAxis("bottom").enableAutoSIPrefix(False)  # "kWh (x0.001)" reads as nonsense: Wh instead
        self.ranking.setMouseEnabled(x=False, y=False)
        self.bars = HBars(self.ranking, COLOURS["grid"])

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.sources, 0, 0)
        grid.addWidget(self.load, 0, 1)
        grid.addWidget(self.soc, 1, 0)
        self.soc.setVisible("battery" in self.source_names)
        grid.addWidget(self.prices, 1, 1)
        grid.addWidget(self.ranking, 0, 2, 2, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 3)  # machine names and their Wh read in full

    # -------------------------------------------------------------------------------- updates
    def set_window(self, start_ts: float, end_ts: float, now_ts: float) -> None:
        for p in (self.sources, self.soc, self.load, self.prices):  # linked, but set all: no autorange race
            p.setXRange(start_ts, end_ts, padding=0)
        for line in self.now_lines:
            line.setValue(now_ts)

    def set_flows(self, t: np.ndarray, solar: np.ndarray, battery: np.ndarray, fuel: np.ndarray,
                  grid: np.ndarray, load: np.ndarray, soc: np.ndarray | None) -> None:
        """Past flows (kW); battery is net (+ discharging), only its discharge is a source in the stack."""
        layers = {"solar": solar, "battery": np.clip(battery, 0, None), "fuel cell": fuel, "grid": grid}
        self.stack.set(t, [layers[s] for s in self.source_names])
        self.load_on_sources.setData(t, load)
        self.load_curve.setData(t, load)
        if soc is not None:
            self.soc_curve.setData(t, soc * 100.0)

    def set_cap(self, cap_kw: float | None) -> None:
        self.cap_line.setVisible(cap_kw is not None)
        if cap_kw is not None:
            self.cap_line.setValue(cap_kw)

    def set_prices(self, t: np.ndarray, price: np.ndarray, carbon: np.ndarray, t_ahead: np.ndarray,
                   price_ahead: np.ndarray, carbon_ahead: np.ndarray, soc_ahead: np.ndarray | None) -> None:
        self.price_curve.setData(t, price)
        self.carbon_curve.setData(t, carbon)
        self.price_ahead.setData(t_ahead, price_ahead)
        self.carbon_ahead.setData(t_ahead, carbon_ahead)
        if soc_ahead is not None:
            self.soc_ahead.setData(t_ahead, soc_ahead * 100.0)
        both = np.concatenate([carbon, carbon_ahead]) if len(carbon) or len(carbon_ahead) else np.zeros(1)
        self.carbon_axis.view.setYRange(0, float(both.max()) * 1.1 or 1.0, padding=0)

    def set_solar_ahead(self, t_ahead: np.ndarray, solar_kw: np.ndarray) -> None:
        if "solar" not in self.source_names:
            return
        self.solar_ahead.setData(t_ahead, solar_kw)
        self.solar_zero.setData(t_ahead, np.zeros_like(solar_kw))

    def set_ranking(self, names: Sequence[str], kwh: Sequence[float], texts: Sequence[str]) -> None:
        """Bars in kWh, or in Wh when every value is under 1 kWh (never an axis scaled "x0.001")."""
        values = np.asarray(kwh, dtype=np.float64)
        small = len(values) > 0 and float(values.max()) < 1.0
        self.ranking.setLabel("bottom", "Wh" if small else "kWh")
        self.bars.set(names, values * 1000.0 if small else values, texts)
