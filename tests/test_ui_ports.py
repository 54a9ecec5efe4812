"""The window gets typed ports from the composition root: every tab shows, each panel gets its own port, and a
panel that fails to build shows its error (and where the log is) in its tab instead of disappearing."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

from app.bootstrap import build_core, wire_site_services
from app.core.config import load_config
from app.core.domain.enums import Severity
from app.ui.actions import MachineControl
from app.ui.energy_panel import EnergyPanel
from app.ui.error_panel import ErrorPanel
from app.ui.main_window import ControlRoom
from app.ui.ports import AlertsPort, EnergyPort, HealthPort, SiteIdentityPort, SitesAdminPort, SitesPort
from app.ui.sites_panel import SitesPanel
from app.window_ports import ui_ports
from tests import test_ui_support as ui
from tests.test_ui_support import FDM, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture
TABS = ["Fleet", "Jobs", "Timeline", "Alerts", "Energy", "Sites", "Design review", "What if", "Catalogue",
        "Admin"]


class UnreadableEnergy:
    """The site's energy service whose history cannot be read (a locked or damaged store)."""

    def __init__(self, real: Any) -> None:
        self.clock, self.site = real.clock, real.site

    def recent(self, since: Any) -> list:
        raise RuntimeError("energy history unreadable: database is locked")


def _mismatches(proto: type, obj: Any) -> list[str]:
    """What ``obj`` lacks of ``proto`` (no type checker runs here): every member, each method's parameters by
    name, and async where the port is async."""
    out = []
    for name, member in vars(proto).items():
        if name.startswith("_"):
            continue
        if not hasattr(obj, name):
            out.append(f"{type(obj).__name__} has no {name}")
            continue
        if isinstance(member, property) or not callable(member):
            continue
        impl = getattr(obj, name)
        if inspect.iscoroutinefunction(member) != inspect.iscoroutinefunction(impl):
            out.append(f"{type(obj).__name__}.{name}: async differs")
        theirs = inspect.signature(impl).parameters
        for pname in list(inspect.signature(member).parameters)[1:]:
            if pname not in theirs and not any(p.kind is p.VAR_KEYWORD for p in theirs.values()):
                out.append(f"{type(obj).__name__}.{name} takes no {pname}")
    return out


def _titles(win: ControlRoom) -> list[str]:
    return [win.tabs.tabText(i) for i in range(win.tabs.count())]


def test_a_port_that_raises_shows_its_error_in_the_tab(qloop, qtbot, tmp_path: Path, caplog) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("FDM-A", FDM, bring_up=True)
            with caplog.at_level(logging.ERROR, logger="app.ui.main_window"):
                win = ControlRoom(ports_of(core, energy=UnreadableEnergy(core.energy)),
                                  settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                assert _titles(win) == TABS  # the broken tab is still there
                win.show_tab("energy")
                panel = win.tabs.currentWidget()
                assert isinstance(panel, ErrorPanel) and panel is win.panels["energy"]
                assert panel.isVisible()
                text = panel.label.text()
                assert "The Energy view could not be opened" in text
                assert "energy history unreadable: database is locked" in text
                assert str(core.config.paths.logs / "imewe.log") in text
                # the traceback went to the log the panel names
                assert any("Energy tab could not be built" in r.getMessage() and r.exc_info for r in caplog.records)
                # the other tabs work
                assert isinstance(win.panels["sites"], SitesPanel)
                win.show_tab("fleet")
                assert win.fleet.proxy.rowCount() == 1
            finally:
                win.close()

    qloop.run_until_complete(scenario())


class UnloadableAlerts:
    """The site's alert service whose open alerts cannot be read at start; new alerts still come on the bus."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def open_alerts(self) -> list:
        raise RuntimeError("alerts table unreadable")

    async def acknowledge(self, alert_id: Any, by: str) -> bool:
        return await self.real.acknowledge(alert_id, by)


def test_alerts_that_cannot_load_say_so_on_top_of_the_working_panel(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            node = await core.fleet.register("FDM-A", FDM, bring_up=True)
            real = core.telemetry.alerts
            win = ControlRoom(ports_of(core, alerts=UnloadableAlerts(real)), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                assert _titles(win) == TABS
                win.show_tab("alerts")
                banner = win.alerts.findChild(ErrorPanel)
                assert banner is not None and banner.isVisible()
                assert "alerts table unreadable" in banner.label.text()
                assert str(core.config.paths.logs / "imewe.log") in banner.label.text()
                await real.raise_alert(str(node.id), "thermal_runaway", Severity.CRITICAL, "hot end rising",
                                       node_id=node.id)
                await until(lambda: win.alerts.table.rowCount() == 1, what="a new alert in the list")
                assert win.alerts.table.item(0, 2).text() == "FDM-A"
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_each_tab_gets_its_port_from_the_composition_root(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        config = load_config(home=str(tmp_path / "home"))
        config.raw.setdefault("sites", {})["port"] = 0  # a free port on this machine
        core = build_core(config, connect_machines=False)
        wire_site_services(core, discovery=False)
        await core.kernel.boot()
        try:
            node = await core.fleet.register("FDM-A", FDM, bring_up=True)
            ports = ui_ports(core)
            assert ports.energy is core.energy and ports.alerts is core.telemetry.alerts
            assert ports.sites is core.sites and ports.control is core.production
            assert ports.sites is not None
            for proto, obj in [(EnergyPort, ports.energy), (AlertsPort, ports.alerts), (SitesPort, ports.sites),
                               (SitesAdminPort, ports.sites.admin), (SiteIdentityPort, ports.sites.identity),
                               (HealthPort, ports.health), (MachineControl, ports.control)]:
                assert _mismatches(proto, obj) == [], proto.__name__
            assert _mismatches(EnergyPort, UnreadableEnergy(core.energy))  # the check can fail
            win = ControlRoom(ports, settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                assert _titles(win) == TABS
                energy, sites = win.panels["energy"], win.panels["sites"]
                assert isinstance(energy, EnergyPanel) and energy.source is core.energy and energy.charts is not None
                assert energy.name_of(str(node.id)) == "FDM-A"  # machines by name, not id
                assert energy.name_of("no-such-machine") == "no-such-"
                # the changing ports reach the core's services through the person at the window (app/ui/acting.py)
                assert isinstance(sites, SitesPanel) and sites.sites.inner is core.sites
                assert win.alerts.service.inner is core.telemetry.alerts
                assert win.detail.control.inner is core.production
                assert _mismatches(MachineControl, win.detail.control) == []
                assert win.windowTitle() == f"Imewe — {core.config.site_name}"
            finally:
                win.close()
        finally:
            await core.kernel.shutdown()

    qloop.run_until_complete(scenario())


def test_without_optional_services_the_tabs_say_so(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            win = ControlRoom(ports_of(core, energy=None, sites=None, alerts=None), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            try:
                assert _titles(win) == TABS
                assert win.panels["energy"].charts is None  # "the energy service is not running ..."
                assert win.panels["sites"].sites is None
                assert win.alerts.service is None
            finally:
                win.close()

    qloop.run_until_complete(scenario())
