"""The energy dashboard on a real energy service with twelve simulated hours of a sunny day behind it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from app.core.bus import EventBus
from app.core.clock import ManualClock
from app.core.energy.config import demo_site
from app.core.energy.service import EnergyService
from app.core.store.db import open_store
from app.ui.energy_panel import EnergyPanel

pytestmark = pytest.mark.gui
START = datetime(2026, 6, 20, 22, 0, tzinfo=UTC)  # local midnight in Berlin
NODES = [uuid.UUID(int=500 + i) for i in range(8)]


@pytest.fixture
def service(tmp_path: Path):
    store = open_store(f"sqlite:///{tmp_path / 'e.sqlite3'}")
    clock = ManualClock(START)
    svc = EnergyService(store, EventBus(), clock, demo_site())

    async def go():
        svc._last_tick = START
        for s in range(0, 14 * 3600 + 1, 60):
            at = START + timedelta(seconds=s)
            for i, n in enumerate(NODES):
                svc.record(n, at, 300.0 + 150 * i if (s // 3600 + i) % 3 else 15.0)
            if s % 300 == 0 and s:
                await svc.tick(at)
        clock.advance(14 * 3600)

    asyncio.run(go())
    yield svc
    store.close()


def test_dashboard_shows_sources_battery_cap_prices_and_ranking(qtbot, service: EnergyService) -> None:
    names = {str(n): f"printer-{i}" for i, n in enumerate(NODES)}
    panel = EnergyPanel(service, name_of=names.get, interval_ms=60_000)
    qtbot.addWidget(panel)
    panel.resize(1400, 800)
    panel.show()
    ch = panel.charts
    rows = list(service.history)
    load = np.array([r.load_kw for r in rows])
    stack = ch.stack.totals()
    assert len(stack) == len(rows) == 14 * 12
    assert np.all(stack >= load - 1e-9)  # sources cover the load (plus what charges the battery)
    expected = np.array([r.solar_kw + max(r.battery_kw, 0) + r.fuel_kw + r.grid_kw for r in rows])
    assert np.allclose(stack, expected)
    _x, soc = ch.soc_curve.getData()
    assert np.allclose(soc, [r.soc * 100 for r in rows]) and soc.max() > soc.min() + 5  # the battery moved
    assert ch.cap_line.isVisible() and ch.cap_line.value() == pytest.approx(30.0)
    now = service.clock.now().timestamp()
    xa, pa = ch.price_ahead.getData()
    assert xa[0] <= now < xa[0] + 3600 and xa[-1] >= now + 22 * 3600 and set(pa) <= {0.12, 0.25, 0.40, 0.18}
    assert ch.now_lines[0].value() == pytest.approx(now)
    assert len(ch.bars.labels) == len(NODES)
    assert ch.bars.labels[0].toPlainText().startswith("printer-7")  # the biggest consumer on top
    today = service.totals("day")
    assert f"{today['load_kwh']:,.1f} kWh" in panel.today_label.text()
    assert "battery" in panel.now_label.text() and "30.0 kW cap" in panel.now_label.text()
    # the window runs from where the record starts (14 h here, less than the day) to a day ahead
    (lo, hi), _ = ch.sources.getViewBox().viewRange()
    assert lo == pytest.approx(rows[0].at - 600, abs=60) and hi == pytest.approx(now + 24 * 3600, abs=60)
    xs, solar_ahead = ch.solar_ahead.getData()
    assert xs[-1] >= now + 22 * 3600 and solar_ahead.max() > 0  # the forecast fills the window ahead

    qtbot.mouseClick(panel.buttons.button(1), pg_left())
    assert panel.period == "week"
    (lo, hi), _ = ch.sources.getViewBox().viewRange()
    assert lo == pytest.approx(rows[0].at - 600, abs=60) and hi == pytest.approx(now + 24 * 3600, abs=60)
    assert panel.last_refresh_ms < 250, panel.last_refresh_ms


def pg_left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_panel_without_an_energy_service_says_so(qtbot) -> None:
    panel = EnergyPanel(None)
    qtbot.addWidget(panel)
    assert panel.charts is None
    assert "energy service is not running" in panel.findChild(type(panel.layout().itemAt(0).widget())).text()


def test_a_source_that_fails_its_first_read_fails_the_build(qtbot, service: EnergyService) -> None:
    """So the window shows the error in the tab instead of empty charts (see test_ui_ports)."""

    class Broken:
        clock, site = service.clock, service.site

        def recent(self, since):
            raise OSError("energy history unreadable")

    with pytest.raises(OSError, match="energy history unreadable"):
        EnergyPanel(Broken(), interval_ms=60_000)


def test_a_failed_refresh_is_shown_on_the_dashboard_until_one_succeeds(qtbot, service: EnergyService, caplog) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.fail = False

        def __getattr__(self, name):
            if name == "recent" and self.fail:
                raise OSError("database is locked")
            return getattr(service, name)

    source = Flaky()
    panel = EnergyPanel(source, interval_ms=60_000)
    qtbot.addWidget(panel)
    live = panel.now_label.text()
    assert "battery" in live and panel.failure == ""
    source.fail = True
    with caplog.at_level("ERROR", logger="app.ui.energy_panel"):
        panel.refresh()
        panel.refresh()
    assert "could not be refreshed (database is locked)" in panel.now_label.text()
    assert panel.failure == "database is locked"
    assert sum("refresh failed" in r.getMessage() for r in caplog.records) == 1  # logged once, not every tick
    source.fail = False
    panel.refresh()
    assert panel.failure == "" and "battery" in panel.now_label.text() and panel.now_label.styleSheet() == ""


def test_labels_read_right_share_units_currency_and_legend(qtbot, tmp_path: Path) -> None:
    """Solar share never above 100 % (the surplus said apart), Wh under a kWh, the site's currency, and only the
    sources the site has in the legend."""
    from app.core.energy.config import SiteEnergy
    from app.ui.energy_panel import _totals_text, energy_label, solar_split

    assert solar_split({"load_kwh": 2.0, "solar_kwh": 5.0}) == (100.0, 3.0)
    assert solar_split({"load_kwh": 4.0, "solar_kwh": 1.0}) == (25.0, 0.0)
    text = _totals_text("Today", {"load_kwh": 0.477, "solar_kwh": 0.896, "cost": 1.5, "co2_g": 20}, "EUR")
    assert "477 Wh" in text and "€1.50" in text and "solar 100 % of the load" in text and "surplus 419 Wh" in text
    assert energy_label(0.003) == "3 Wh" and energy_label(12.34) == "12.3 kWh"
    assert "$2.00" in _totals_text("Today", {"cost": 2.0}, "USD")

    store = open_store(f"sqlite:///{tmp_path / 'g.sqlite3'}")
    clock = ManualClock(START)
    grid_only = SiteEnergy()
    grid_only.currency = "GBP"
    svc = EnergyService(store, EventBus(), clock, grid_only)

    async def go() -> None:
        svc._last_tick = START
        for s in range(0, 3600 + 1, 60):
            at = START + timedelta(seconds=s)
            svc.record(NODES[0], at, 40.0)  # a small machine: 40 W for an hour is 40 Wh
            svc.record(NODES[1], at, 10.0)
            if s % 300 == 0 and s:
                await svc.tick(at)
        clock.advance(3600)

    asyncio.run(go())
    try:
        panel = EnergyPanel(svc, interval_ms=60_000)
        qtbot.addWidget(panel)
        ch = panel.charts
        legend = [label.text for _item, label in ch.sources.getPlotItem().legend.items]
        assert legend == ["grid", "load"]  # no solar, battery or fuel cell on this site
        assert not ch.soc.isVisible() or not ch.soc.isVisibleTo(panel)
        assert ch.ranking.getAxis("bottom").labelText == "Wh"  # not "kWh (x0.001)"
        assert ch.bars.labels[0].toPlainText().endswith("Wh") and "0.0" not in ch.bars.labels[0].toPlainText()
        assert "£" in panel.today_label.text() and "£" in panel.now_label.text()
        assert "solar 0 %" in panel.today_label.text()
        assert "policy: solar first" in panel.now_label.text()
    finally:
        store.close()


def test_dashboard_words_fit_a_1366_screen(qtbot, service: EnergyService) -> None:
    """At the width the Energy tab has on a 1366 x 768 screen beside the machine panel (about 890 px, the window's
    theme), no chart is wider than its place (the price chart's long title made it 36 px wider: its title was cut
    to "Price and carbon (forecast das" and its right axis' 400 g CO2/kWh read "40"), and the load has its unit."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from app.ui.theme import apply_theme

    apply_theme(QApplication.instance())
    panel = EnergyPanel(service, name_of=lambda _n: "printer", interval_ms=60_000)
    qtbot.addWidget(panel)
    panel.resize(890, 600)
    panel.show()
    qtbot.waitUntil(lambda: panel.charts.prices.width() > 0)
    assert " kW of 30.0 kW cap" in panel.now_label.text()
    ch = panel.charts
    for plot in (ch.sources, ch.load, ch.soc, ch.prices):
        least = plot.getPlotItem().effectiveSizeHint(Qt.SizeHint.MinimumSize).width()
        assert least <= plot.width(), (plot.getPlotItem().titleLabel.text, least, plot.width())
    assert "forecast" in ch.prices.toolTip()
