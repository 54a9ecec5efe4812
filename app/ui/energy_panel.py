"""The energy dashboard: power by source, battery, site load against the cap, price and carbon with the
forecast ahead, the machines that used most, and totals for today and this week; a day/week switch.

It reads its ``EnergyPort`` (the site's energy service) on a timer: recent flows come
from the service's memory and the totals from small grouped queries, so a refresh stays well under 50 ms.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta, tzinfo

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.ui.ports import EnergyPort
from app.viz.charts_energy import EnergyCharts

log = logging.getLogger(__name__)
SPAN = {"day": timedelta(hours=24), "week": timedelta(days=7)}


def _short_id(node_id: str) -> str:
    return node_id[:8]


POLICY_WORDS = {"spec": "spec default", "solar_priority": "solar first", "peak_shaving": "peak shaving"}
CURRENCY_SIGNS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF ", "INR": "₹"}


def energy_label(kwh: float) -> str:
    """``1.2 kWh``, or ``350 Wh`` under one kWh (never ``0.00 kWh`` for a machine that used 3 Wh)."""
    if abs(kwh) < 1.0:
        return f"{kwh * 1000:,.0f} Wh"
    return f"{kwh:,.1f} kWh" if abs(kwh) < 100 else f"{kwh:,.0f} kWh"


def money_label(amount: float, currency: str) -> str:
    sign = CURRENCY_SIGNS.get(currency.upper())
    return f"{sign}{amount:,.2f}" if sign else f"{amount:,.2f} {currency}"


def co2_label(grams: float) -> str:
    return f"{grams:,.0f} g" if abs(grams) < 1000 else f"{grams / 1000:,.1f} kg"


def solar_split(t: dict[str, float]) -> tuple[float, float]:
    """(percent of the load solar covered, never above 100; kWh of solar beyond the load: stored or exported)."""
    load, solar = t.get("load_kwh", 0.0), t.get("solar_kwh", 0.0)
    used = min(solar, load)
    return (used / load * 100.0 if load > 0 else 0.0), max(0.0, solar - load)


def _totals_text(label: str, t: dict[str, float], currency: str = "EUR") -> str:
    share, surplus = solar_split(t)
    text = (f"<b>{label}</b>: {energy_label(t.get('load_kwh', 0.0))} · {money_label(t.get('cost', 0.0), currency)}"
            f" · CO2 {co2_label(t.get('co2_g', 0.0))} · solar {share:.0f} % of the load")
    if surplus > 0:
        text += f" · surplus {energy_label(surplus)} stored or exported"
    return text


class EnergyPanel(QWidget):
    def __init__(self, source: EnergyPort | None, name_of: Callable[[str], str] | None = None,
                 interval_ms: int = 2000, parent: QWidget | None = None, zone: tzinfo | None = None) -> None:
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
        self.today_label = QLabel()
        self.week_label = QLabel()
        for label in (self.now_label, self.today_label, self.week_label):
            label.setWordWrap(True)  # the whole sentence on a narrow screen, never cut
        lay.addWidget(self.today_label)
        lay.addWidget(self.week_label)
        site = source.site
        self.currency = getattr(site, "currency", "EUR")
        have = ["grid"] + [name for name, part in (("solar", site.solar), ("battery", site.battery),
                                                   ("fuel cell", site.fuel_cell)) if part is not None]
        self.charts = EnergyCharts(sources=have, zone=zone, currency=self.currency)
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
        charts.set_solar_ahead(ta, np.array([p.solar_kw for p in ahead], dtype=np.float64))
        end = now + timedelta(hours=24)
        # the window starts where the record does (a new site has no yesterday to show as an empty band)
        first = float(t[0]) - 600.0 if len(t) else now.timestamp() - 3600.0
        charts.set_window(max(start.timestamp(), first), end.timestamp(), now.timestamp())
        ranking = src.ranking(self.period)[:15]
        charts.set_ranking([self.name_of(n) for n, _u in ranking], [u.kwh for _n, u in ranking],
                           [energy_label(u.kwh) for _n, u in ranking])
        self.charts.ranking.setToolTip("\n".join(
            f"{self.name_of(n)}: {energy_label(u.kwh)} · {money_label(u.cost, self.currency)} · CO2 {co2_label(u.co2_g)}"
            for n, u in ranking))
        self.today_label.setText(_totals_text("Today", src.totals("day", now), self.currency))
        self.week_label.setText(_totals_text("This week", src.totals("week", now), self.currency))
        st = src.status()
        parts = [f"policy: {POLICY_WORDS.get(str(st['policy']), str(st['policy']))}"]
        if st.get("solar_kw") is not None:
            parts.append(f"solar {st['solar_kw']:.1f} kW")
        if st.get("battery_soc") is not None:
            parts.append(f"battery {st['battery_soc'] * 100:.0f} %")
        parts.append(f"grid {money_label(st['price'], self.currency)}/kWh, {st['carbon_g_per_kwh']:.0f} g CO2/kWh")
        if cap is not None:
            load = rows[-1].load_kw if rows else 0.0
            parts.append(f"load {load:.1f} kW of {cap:.1f} kW cap")
        self.now_label.setText(" · ".join(parts))
