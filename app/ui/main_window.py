"""The control room: fleet, jobs, timeline and alerts in one window on the embedded core.

The window receives a running ``Core`` (and optionally a ``MachineControl``); it never builds services.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QTabWidget, QToolBar, QWidget

from app.core.domain.enums import Severity
from app.ui.about import show_about
from app.ui.actions import MachineControl, control_for
from app.ui.alerts_panel import AlertsPanel, Toast
from app.ui.bridge import CoreBridge
from app.ui.fleet_model import FleetModel
from app.ui.fleet_panel import FleetPanel
from app.ui.jobs_panel import JobsPanel
from app.ui.live_data import LiveData
from app.ui.machine_detail import MachineDetail
from app.ui.status_bar import StatusBar
from app.ui.timeline_panel import TimelinePanel

log = logging.getLogger(__name__)
SETTINGS_ORG, SETTINGS_APP = "Imewe", "Imewe Control Room"
MAX_TOASTS = 3
LIVE_MS = 500  # live values (temperatures, power, progress) repaint at most twice a second
SHORTCUTS = [
    ("Ctrl+1 … Ctrl+6", "switch tab (fleet, jobs, timeline, alerts, energy, sites)"),
    ("Ctrl+N", "new job"), ("Ctrl+F", "search machines"), ("Ctrl+D", "show or hide the machine detail"),
    ("Ctrl+Shift+X", "emergency stop of the selected machine (asks to confirm)"),
    ("Ctrl+K", "acknowledge the selected alerts"), ("F5", "refresh everything"), ("F11", "full screen"),
    ("Ctrl+Q", "quit"),
]


def _service(core: Any, name: str) -> Any:
    """An optional service of the core: ``core.<name>``, ``core.service(name)`` or the kernel's."""
    svc = getattr(core, name, None)
    if svc is None and callable(getattr(core, "service", None)):
        svc = core.service(name)
    if svc is None:
        try:
            svc = core.kernel.service(name)
        except (KeyError, AttributeError):
            svc = None
    return svc


def _optional_panel(module: str, cls: str, arg: Any) -> QWidget | None:
    """Panels other teams write (energy, sites): shown when they import and build, skipped otherwise."""
    try:
        factory = getattr(importlib.import_module(module), cls)
        return factory(arg)
    except Exception:  # noqa: BLE001 - an optional tab must never keep the control room from opening
        log.info("optional panel %s.%s not available", module, cls, exc_info=True)
        return None


class ControlRoom(QMainWindow):
    closed = Signal()

    def __init__(self, core: Any, control: MachineControl | None = None, settings: QSettings | None = None,
                 alerts: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.control = control if control is not None else control_for(core)
        self.settings = settings or QSettings(SETTINGS_ORG, SETTINGS_APP)
        self.live = LiveData()
        self.bridge = CoreBridge(core.bus, self.live, self)
        self.setWindowTitle(f"Imewe — {core.config.site_name}")
        self.resize(1600, 960)

        self.fleet_model = FleetModel(core.fleet.list, self.live, self)
        self.fleet = FleetPanel(self.fleet_model)
        self.jobs = JobsPanel(core, self.live)
        self.timeline = TimelinePanel(core, self.live)
        self.alerts = AlertsPanel(core, self.live, alerts)
        self.detail = MachineDetail(core, self.live, self.control)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.addTab(self.fleet, "Fleet")
        self.tabs.addTab(self.jobs, "Jobs")
        self.tabs.addTab(self.timeline, "Timeline")
        self.tabs.addTab(self.alerts, "Alerts")
        self.energy = _optional_panel("app.ui.energy_panel", "EnergyPanel", core)
        if self.energy is not None:
            self.tabs.addTab(self.energy, "Energy")
        self.sites = _optional_panel("app.ui.sites_panel", "SitesPanel", _service(core, "sites"))
        if self.sites is not None:
            self.tabs.addTab(self.sites, "Sites")
        self.setCentralWidget(self.tabs)
        self.detail_dock = QDockWidget("Machine", self)
        self.detail_dock.setObjectName("machineDock")
        self.detail_dock.setWidget(self.detail)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.detail_dock)
        self.resizeDocks([self.detail_dock], [520], Qt.Orientation.Horizontal)
        self.status = StatusBar(core, self)
        self.setStatusBar(self.status)
        self.toasts: list[Toast] = []
        self._build_actions()
        self._wire()

        self._live_ids: set = set()
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_MS)
        self._live_timer.timeout.connect(self._live_flush)
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick)
        self._tick.start()
        self.restore_layout()
        self.jobs.reload()
        self._on_tick()

    # ------------------------------------------------------------ wiring
    def _build_actions(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        self.addToolBar(tb)

        def act(text: str, keys: str | QKeySequence.StandardKey | None, fn: Any, *, bar: bool = False) -> QAction:
            a = QAction(text, self)
            if keys is not None:
                a.setShortcut(QKeySequence(keys))
                a.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
            a.triggered.connect(fn)
            self.addAction(a)
            if bar:
                tb.addAction(a)
            return a

        self.new_job_action = act("New job…", "Ctrl+N", self.jobs.open_submit, bar=True)
        self.estop_action = act("EMERGENCY STOP", "Ctrl+Shift+X", self.emergency_stop_selected, bar=True)
        tb.widgetForAction(self.estop_action).setObjectName("estop")
        self.estop_action.setToolTip("Emergency stop of the selected machine (asks once to confirm)")
        act("Search", "Ctrl+F", self._focus_search)
        act("Toggle machine detail", "Ctrl+D", lambda: self.detail_dock.setVisible(not self.detail_dock.isVisible()))
        act("Acknowledge alerts", "Ctrl+K", self.alerts.acknowledge_selected)
        act("Refresh", "F5", self.refresh_all, bar=True)
        act("Full screen", "F11", lambda: self.showNormal() if self.isFullScreen() else self.showFullScreen())
        act("Quit", "Ctrl+Q", self.close)
        for i in range(6):
            act(f"Tab {i + 1}", f"Ctrl+{i + 1}", lambda _=False, i=i: self.tabs.setCurrentIndex(i)
                if i < self.tabs.count() else None)
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.new_job_action)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("Quit")
        quit_action.triggered.connect(self.close)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction("Keyboard shortcuts").triggered.connect(self.show_shortcuts)
        help_menu.addAction("About Imewe").triggered.connect(lambda: show_about(self, self.core))

    def _wire(self) -> None:
        b = self.bridge
        b.fleet_changed.connect(self._fleet_changed)
        b.nodes_changed.connect(self._nodes_changed)
        b.telemetry.connect(self._telemetry)
        b.jobs_changed.connect(self.jobs.on_jobs_changed)
        b.alerts_changed.connect(self._alerts_changed)
        b.plan_updated.connect(self.timeline.set_plan)
        self.jobs.loaded.connect(self._jobs_loaded)
        self.fleet.machine_selected.connect(lambda n: self.detail.show_node(n.id))
        self.fleet.machine_opened.connect(self.open_machine)
        self.timeline.job_clicked.connect(self.open_job)
        self.alerts.machine_clicked.connect(lambda nid: self.open_machine(self.core.fleet.get(nid)))
        self.alerts.count_changed.connect(self.status.set_alerts)
        self.status.alerts_clicked.connect(lambda: self.tabs.setCurrentWidget(self.alerts))
        for panel in (self.detail, self.jobs, self.alerts):
            panel.message.connect(self.notify)
        self.alerts.refresh()

    def _fleet_changed(self) -> None:
        self.fleet_model.reload()
        self.timeline.redraw()

    def _nodes_changed(self, ids: set) -> None:
        self.fleet_model.refresh(ids)
        if self.detail.node_id in ids:
            self.detail.refresh()

    def _telemetry(self, ids: set) -> None:
        # Live readings arrive once a second per machine: tiles and charts repaint twice a second, which
        # reads as live and leaves the loop free (state changes still show within 100 ms).
        self._live_ids |= ids
        if not self._live_timer.isActive():
            self._live_timer.start()

    def _live_flush(self) -> None:
        ids, self._live_ids = self._live_ids, set()
        self.fleet_model.refresh(ids)
        if self.detail.node_id in ids and self.detail_dock.isVisible():
            self.detail.update_charts()

    def _jobs_loaded(self) -> None:
        self.timeline.set_jobs(self.jobs.model.jobs())
        self.fleet_model.refresh(None)

    def _alerts_changed(self, new: list) -> None:
        self.alerts.refresh()
        for alert in new:
            if alert.severity is Severity.CRITICAL and not alert.acknowledged:
                self.show_toast(f"CRITICAL · {self.alerts._source(alert)}: {alert.message}")

    def _on_tick(self) -> None:
        self.status.refresh()
        self.timeline.tick()

    # ------------------------------------------------------------ operator actions
    def notify(self, text: str) -> None:
        self.status.showMessage(text, 8000)

    def show_toast(self, text: str) -> Toast:
        """At most three notices at once, newest at the bottom; older ones make room."""
        self.toasts = [t for t in self.toasts if t.isVisible()]
        while len(self.toasts) >= MAX_TOASTS:
            self.toasts.pop(0).close()
        toast = Toast(self, text)
        toast.gone.connect(self._restack_toasts)
        self.toasts.append(toast)
        self._restack_toasts()
        return toast

    def _restack_toasts(self) -> None:
        """Bottom-right, above the status bar: never over the toolbar or the machine's e-stop."""
        self.toasts = [t for t in self.toasts if t.isVisible()]
        y = self.height() - self.status.height() - 16
        for t in reversed(self.toasts):
            y -= t.height()
            t.move(self.width() - t.width() - 24, y)
            y -= 8

    def _focus_search(self) -> None:
        self.tabs.setCurrentWidget(self.fleet)
        self.fleet.search.setFocus()
        self.fleet.search.selectAll()

    def open_machine(self, node: Any) -> None:
        self.detail_dock.show()
        self.detail.show_node(node.id)
        self.fleet.select(node.id)

    def open_job(self, job_id: Any) -> None:
        self.tabs.setCurrentWidget(self.jobs)
        self.jobs.open_job(job_id)

    def emergency_stop_selected(self) -> None:
        node = self.fleet.selected_node()
        if node is None and self.detail.node_id is None:
            self.notify("Select a machine first, then press EMERGENCY STOP again")
            return
        if node is not None:
            self.detail.show_node(node.id)
        self.detail_dock.show()
        self.detail.ask_emergency_stop()

    def show_tab(self, name: str) -> None:
        """Switch to a tab by its title (case-insensitive); unknown names raise a clear error."""
        titles = [self.tabs.tabText(i).lower() for i in range(self.tabs.count())]
        if name.lower() not in titles:
            from app.core.domain.errors import ValidationError

            raise ValidationError(f"no tab {name!r}; tabs: {', '.join(titles)}", "tab")
        self.tabs.setCurrentIndex(titles.index(name.lower()))

    def follow_busiest(self) -> None:
        """Show the machine with the most recent telemetry that is working (what a screenshot should show)."""
        from app.core.domain.enums import NodeState

        nodes = [n for n in self.core.fleet.list() if n.state is NodeState.EXECUTING]
        nodes = nodes or self.core.fleet.list()
        if nodes:
            self.detail.show_node(nodes[0].id)
            self.fleet.select(nodes[0].id)

    def refresh_all(self) -> None:
        self.fleet_model.reload()
        self.jobs.reload()
        self.alerts.refresh()
        self.timeline.redraw()
        self.detail.refresh()
        self.detail.refresh_history()

    def show_shortcuts(self) -> QMessageBox:
        rows = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in SHORTCUTS)
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts", f"<table cellspacing='6'>{rows}</table>",
                          QMessageBox.StandardButton.Ok, self)
        box.finished.connect(lambda _r: box.deleteLater())
        box.open()
        return box

    # ------------------------------------------------------------ layout memory
    def restore_layout(self) -> None:
        s = self.settings
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        tab = s.value("window/tab")
        if tab is not None:
            self.tabs.setCurrentIndex(min(int(tab), self.tabs.count() - 1))
        self.fleet.restore_state(s)
        self.jobs.restore_state(s)

    def save_layout(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/tab", self.tabs.currentIndex())
        self.fleet.save_state(s)
        self.jobs.save_state(s)
        s.sync()

    def shutdown(self) -> None:
        """Stop listening to the core (before the core shuts down)."""
        self._tick.stop()
        self._live_timer.stop()
        self.bridge.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.shutdown()
        super().closeEvent(event)
        self.closed.emit()
