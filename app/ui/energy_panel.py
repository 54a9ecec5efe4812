"""The energy dashboard: power by source, battery, site load against the cap, price and carbon with the
forecast ahead, the machines that used most, and totals for today and this week; a day/week switch.

It reads its ``EnergyPort`` (the site's energy service) on a timer: recent flows come
from the service's memory and the totals from small grouped queries, so a refresh stays well under 50 ms.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.ui.ports import EnergyPort
from app.viz.charts_energy import EnergyCharts

log = logging.getLogger(__name__)
SPAN = {"day": timedelta(hours=24), "week": timedelta(days=7)}


def _short_id(node_id: str) -> str:
    return node_id[:8]


def _totals_text(label: str, t: dict[str, float]) -> str:
    load = t.get("load_kwh", 0.0)
    solar_share = (t.get("solar_kwh", 0.0) / load * 100) if load > 0 else 0.0
    return (f"<b>{label}</b>: {load:,.1f} kWh · cost {t.get('cost', 0.0):,.2f} · "
            f"CO2 {t.get('co2_g', 0.0) / 1000:,.1f} kg · solar {solar_share:.0f} %")


class EnergyPanel(QWidget):
    def __init__(self, source: EnergyPort | None, name_of: Callable[[str], str] | None = None,
                 interval_ms: int = 2000, parent: QWidget | None = None) -> None:
        """``source``: the site's energy service (None: the tab says how to set one up); ``name_of``: a machine's
        name from its id (short ids when not given). A source that fails on the first read fails the build, so
        the window shows the error in the tab instead of empty charts."""
        super().__init__(parent)
        self.setObjectName("energyPanel")
        self.source = source
        self.name_of = name_of or _short_id
        self.period = "day"
        self.last_refresh_ms = 0.0
        self.failure = ""  # the last refresh error shown, empty while refreshes succeed
        lay = QVBoxLayout(self)
        if self.source is None:
            msg = QLabel("The energy service is not running on this site. Describe the site's sources in "
                         "[energy] of config.toml (see the manual) and restart.")
            msg.setWordWrap(True)
            lay.addWidget(msg)
            self.charts = None
            return
        top = QHBoxLayout()
        self.now_label = QLabel()
        self.now_label.setObjectName("energyNow")
        top.addWidget(self.now_label, 1)
        self.buttons = QButtonGroup(self)
        for i, which in enumerate(("day", "week")):
            b = QPushButton(which.capitalize())
            b.setCheckable(True)
            b.setChecked(which == "day")
            b.setObjectName(f"energy_{which}")
            self.buttons.addButton(b, i)
            top.addWidget(b)
        self.buttons.idClicked.connect(lambda i: self.set_period(("day", "week")[i]))
        lay.addLayout(top)
        totals = QHBoxLayout()
        self.today_label = QLabel()
        self.week_label = QLabel()
        totals.addWidget(self.today_label)
        totals.addWidget(self.week_label)
        lay.addLayout(totals)
        self.charts = EnergyCharts()
        lay.addWidget(self.charts, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.refresh)
        self._refresh()
        self.timer.start()

    def set_period(self, which: str) -> None:
        if which not in SPAN:
            raise ValueError("the dashboard shows a 'day' or a 'week'")
        self.period = which
        self.buttons.button(0 if which == "day" else 1).setChecked(True)
        self.refresh()

    def refresh(self) -> None:
        if self.charts is None:
            return
        t0 = time.perf_counter()
        try:
            self._refresh()
        except Exception as exc:  # noqa: BLE001 - a failed read must not take the window down; the next tick retries
            self._show_failure(exc)
        else:
            if self.failure:
                self.failure = ""
                self.now_label.setStyleSheet("")
        self.last_refresh_ms = (time.perf_counter() - t0) * 1000

    def _show_failure(self, exc: Exception) -> None:
        """Say so on the dashboard (stale charts must not pass for live ones); log each new error once, not
        every tick."""
        text = str(exc) or type(exc).__name__
        if text != self.failure:
            log.error("energy dashboard refresh failed", exc_info=exc)
        self.failure = text
        self.now_label.setText(f"The energy figures could not be refreshed ({text}); retrying. Details in the log.")
        self.now_label.setStyleSheet("color: #f85149; font-weight: bold;")

    def _refresh(self) -> None:
        src, charts = self.source, self.charts
        assert charts is not None
        now = src.clock.now()
        start = now - SPAN[self.period]
        rows = src.recent(start)
        t = np.array([r.at for r in rows], dtype=np.float64)

        def col(name: str) -> np.ndarray:
            return np.array([getattr(r, name) for r in rows], dtype=np.float64)

        soc = (np.array([r.soc if r.soc is not None else np.nan for r in rows], dtype=np.float64)
               if src.site.battery is not None else None)
        charts.set_flows(t, col("solar_kw"), col("battery_kw"), col("fuel_kw"), col("grid_kw"), col("load_kw"), soc)
        cap = src.site.grid_cap_kw
        charts.set_cap(cap)
        ahead = src.forecast(24, now)
        ta = np.array([p.at.timestamp() for p in ahead], dtype=np.float64)
        soc_ahead = (np.array([p.soc for p in ahead], dtype=np.float64) if src.site.battery is not None else None)
        charts.set_prices(t, col("price"), col("carbon"), ta, np.array([p.price for p in ahead]),
                          np.array([p.carbon for p in ahead]), soc_ahead)
        end = now + timedelta(hours=24)
        charts.set_window(start.timestamp(), end.timestamp(), now.timestamp())
        ranking = src.ranking(self.period)[:15]
        charts.set_ranking([self.name_of(n) for n, _u in ranking], [u.kwh for _n, u in ranking],
                           [f"{u.kwh:.2f} kWh · {u.cost:.2f} · {u.co2_g / 1000:.2f} kg" for _n, u in ranking])
        self.today_label.setText(_totals_text("Today", src.totals("day", now)))
        self.week_label.setText(_totals_text("This week", src.totals("week", now)))
        st = src.status()
        parts = [f"policy {st['policy']}"]
        if st.get("solar_kw") is not None:
            parts.append(f"solar {st['solar_kw']:.1f} kW")
        if st.get("battery_soc") is not None:
            parts.append(f"battery {st['battery_soc'] * 100:.0f} %")
        parts.append(f"grid {st['price']:.3f}/kWh, {st['carbon_g_per_kwh']:.0f} g/kWh")
        if cap is not None:
            load = rows[-1].load_kw if rows else 0.0
            parts.append(f"load {load:.1f} of {cap:.1f} kW cap")
        self.now_label.setText(" · ".join(parts))
