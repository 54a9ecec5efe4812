"""The control room: fleet, jobs, timeline and alerts in one window on the embedded core.

The window receives ``Ports`` (``app/ui/ports.py``) from the composition root; it never builds or looks up services,
and each panel gets only its own port.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QBoxLayout,
    QDockWidget,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QTabWidget,
    QToolBar,
    QWidget,
)

from app.core.domain.enums import Severity
from app.core.domain.errors import ImeweError
from app.core.jobs.eta import site_zone
from app.ui.about import show_about
from app.ui.acting import acting_ports
from app.ui.add_machine_dialog import AddMachineDialog
from app.ui.alerts_panel import AlertsPanel, Toast
from app.ui.bridge import CoreBridge
from app.ui.error_panel import ErrorPanel
from app.ui.first_frame import FirstFrame
from app.ui.fleet_model import FleetModel
from app.ui.fleet_panel import FleetPanel
from app.ui.jobs_panel import JobsPanel
from app.ui.lazy_tabs import LazyTabs
from app.ui.live_data import LiveData
from app.ui.machine_detail import MachineDetail
from app.ui.person_menu import PersonMenu
from app.ui.ports import Ports
from app.ui.review_panel import ReviewPanel, reviewable
from app.ui.session import InputWatch, WindowSession
from app.ui.sites_panel import SitesPanel
from app.ui.status_bar import StatusBar
from app.ui.tasks import spawn
from app.ui.timeline_panel import TimelinePanel

log = logging.getLogger(__name__)
SETTINGS_ORG, SETTINGS_APP = "Imewe", "Imewe Control Room"
MAX_TOASTS = 3
MIN_SIZE = (1024, 640)  # well inside 1366 x 768 with a title bar and a task bar
LIVE_MS = 500  # live values (temperatures, power, progress) repaint at most twice a second
SHORTCUTS = [
    ("Ctrl+1 … Ctrl+7", "switch tab (fleet, jobs, timeline, alerts, energy, sites, design review)"),
    ("Ctrl+N", "new job"), ("Ctrl+Shift+A", "add a machine"), ("Ctrl+O", "open a part file in Design review"),
    ("Ctrl+F", "search machines"), ("Ctrl+D", "show or hide the machine panel"),
    ("Ctrl+Shift+X", "emergency stop of the selected machine (asks to confirm)"),
    ("Ctrl+K", "acknowledge the selected alerts"), ("F5", "refresh everything"), ("F11", "full screen"),
    ("Ctrl+Q", "quit"),
]


@dataclass(frozen=True, slots=True)
class TabSpec:
    """A tab after the four core ones: its title and how to build its panel from the ports."""

    title: str
    build: Callable[[Ports, ControlRoom], QWidget]


def _energy_tab(ports: Ports, win: ControlRoom) -> QWidget:
    from app.ui.energy_panel import EnergyPanel  # charts: pyqtgraph, not needed for the first frame

    return EnergyPanel(ports.energy, name_of=win.node_name, zone=win.live.zone)


def _sites_tab(ports: Ports, win: ControlRoom) -> QWidget:
    panel = SitesPanel(ports.sites)
    panel.message.connect(win.notify)
    return panel


def _whatif_tab(ports: Ports, win: ControlRoom) -> QWidget:
    from app.ui.whatif_panel import WhatIfPanel

    panel = WhatIfPanel(ports.whatif, ports.fleet, ports.jobs, ports.clock, zone=win.live.zone)
    panel.message.connect(win.notify)
    return panel


def _admin_tab(ports: Ports, win: ControlRoom) -> QWidget:
    from app.ui.admin_panel import AdminPanel

    panel = AdminPanel(ports.admin, session=win.session)
    spawn(panel.start(), on_error=panel._show_error)  # noqa: SLF001 - the panel's own error line
    return panel


def _review_tab(ports: Ports, win: ControlRoom) -> QWidget:
    panel = ReviewPanel(ports.fleet, ports.jobs, ports.clock, ports.notes, ports.plan, ports.energy,
                        learning=ports.learning, zone=win.live.zone)
    panel.message.connect(win.notify)
    panel.turning.connect(win.bridge.set_view_turning)  # live figures slow down while a part is turned
    panel.submitted.connect(lambda _job: win.jobs.reload())
    win.fleet_changed_hooks.append(panel.reload_machines)
    if win.session.actor is not None:  # built after the person signed in: their notes are signed by them
        panel.author.setText(win.session.actor.name)
    return panel


def _catalogue_tab(ports: Ports, win: ControlRoom) -> QWidget:
    from app.ui.catalogue_panel import CataloguePanel

    if ports.catalogue is None:
        raise ImeweError("this site has no catalogue")
    panel = CataloguePanel(ports.catalogue)
    panel.message.connect(win.notify)
    panel.preview.connect(win.open_file)  # a template made with its parameters, with its estimates, no job yet
    panel.reload()
    return panel


class ControlRoom(QMainWindow):
    closed = Signal()

    # Tabs after fleet, jobs, timeline and alerts (which the window wires together); add new panels here.
    EXTRA_TABS: tuple[TabSpec, ...] = (TabSpec("Energy", _energy_tab), TabSpec("Sites", _sites_tab),
                                       TabSpec("Design review", _review_tab), TabSpec("What if", _whatif_tab),
                                       TabSpec("Catalogue", _catalogue_tab),
                                       TabSpec("Admin", _admin_tab))

    def __init__(self, ports: Ports, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Who is working: every changing call the panels make goes out as this person (app/ui/acting.py).
        self.session = WindowSession(ports.admin, lambda: ports.clock.now().timestamp(), self)
        ports = acting_ports(ports, self.session)
        self.ports = ports
        self.settings = settings or QSettings(SETTINGS_ORG, SETTINGS_APP)
        self.live = LiveData(zone=site_zone(ports.site.time_zone), now=ports.clock.now,
                             estimate_of=ports.learning.estimates if ports.learning is not None else None)
        self.bridge = CoreBridge(ports.bus, self.live, self)
        self.setWindowTitle(f"Imewe — {ports.site.name}")
        # A 1366 x 768 laptop is the smallest screen a shop floor has: the window and every tab fit it (the
        # machine panel folds away with Ctrl+D or its toolbar button).
        self.setMinimumSize(MIN_SIZE[0], MIN_SIZE[1])
        self.resize(1600, 960)
        self.setAcceptDrops(True)  # part files dropped anywhere open in Design review
        self.fleet_changed_hooks: list[Callable[[], None]] = []

        self.fleet_model = FleetModel(ports.fleet.list, self.live, self)
        self.fleet = FleetPanel(self.fleet_model)
        self.jobs = JobsPanel(ports.jobs, ports.fleet, self.live)
        self.timeline = TimelinePanel(ports.fleet, ports.clock, self.live)
        self.alerts = AlertsPanel(ports.alerts, self.live, ports.bus, self.node_name)
        self.detail = MachineDetail(ports.fleet, self.live, ports.control)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.addTab(self.fleet, "Fleet")
        self.tabs.addTab(self.jobs, "Jobs")
        self.tabs.addTab(self.timeline, "Timeline")
        self.tabs.addTab(self.alerts, "Alerts")
        # built when first shown or asked for (app/ui/lazy_tabs.py): the first frame does not wait for them
        self.panels: LazyTabs[TabSpec] = LazyTabs(
            self.tabs, {spec.title.lower(): (spec.title, spec) for spec in self.EXTRA_TABS}, self._build_tab)
        self.setCentralWidget(self.tabs)
        self.detail_dock = QDockWidget("Machine", self)
        self.detail_dock.setObjectName("machineDock")
        self.detail_dock.setWidget(self.detail)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.detail_dock)
        self.resizeDocks([self.detail_dock], [520], Qt.Orientation.Horizontal)
        self.detail_dock.setMinimumWidth(300)
        self.status = StatusBar(ports.site.name, ports.health, ports.fleet, ports.jobs, ports.clock, self,
                                zone=self.live.zone, live=self.live)
        self.setStatusBar(self.status)
        self.person = PersonMenu(self.session, self)
        self.status.insertPermanentWidget(0, self.person)
        self.session.changed.connect(self._person_changed)
        self.toasts: list[Toast] = []
        self.add_dialog: AddMachineDialog | None = None
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
        # the frame first: the machine panel's charts (pyqtgraph) right after it (app/ui/first_frame.py)
        self.first_frame = FirstFrame(self)
        self.first_frame.done.connect(self.detail.build_charts)
        self.jobs.reload()
        self._on_tick()
        spawn(self.session.start(), on_error=lambda e: self.notify(f"who is working could not be read: {e}"))

    def _build_tab(self, spec: TabSpec) -> QWidget:
        try:
            panel = spec.build(self.ports, self)
        except Exception as exc:  # noqa: BLE001 - one broken view must not keep the control room from opening
            log.exception("the %s tab could not be built", spec.title)
            panel = ErrorPanel(spec.title, exc, self.ports.site.log_file)
        return panel

    def _first_load(self, title: str, panel: QWidget, load: Callable[[], None]) -> None:
        """A core panel's first read of its port: on failure the panel stays (live updates still reach it) with
        the error on top."""
        try:
            load()
        except Exception as exc:  # noqa: BLE001 - shown in the panel; the window must still open
            log.exception("the %s tab could not load", title)
            banner = ErrorPanel(title, exc, self.ports.site.log_file, headline=f"{title}: not everything could be loaded")
            cast(QBoxLayout, panel.layout()).insertWidget(0, banner)

    def node_name(self, node_id: UUID | str) -> str:
        """A machine's name for panels that hold ids (a short id once the machine is gone)."""
        try:
            return self.ports.fleet.get(node_id if isinstance(node_id, UUID) else UUID(node_id)).name
        except (ImeweError, ValueError):
            return str(node_id)[:8]

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
        self.add_machine_action = act("Add machine…", "Ctrl+Shift+A", self.open_add_machine)
        self.add_machine_action.setEnabled(self.ports.machines is not None or self.ports.local_machines is not None)
        self.estop_action = act("EMERGENCY STOP", "Ctrl+Shift+X", self.emergency_stop_selected, bar=True)
        tb.widgetForAction(self.estop_action).setObjectName("estop")
        self.estop_action.setToolTip("Emergency stop of the selected machine (asks once to confirm)")
        act("Search", "Ctrl+F", self._focus_search)
        self.panel_action = self.detail_dock.toggleViewAction()
        self.panel_action.setText("Machine panel")
        self.panel_action.setShortcut(QKeySequence("Ctrl+D"))
        self.panel_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.panel_action.setToolTip("Show or hide the machine panel (Ctrl+D): more room for the tabs")
        self.addAction(self.panel_action)
        tb.addAction(self.panel_action)
        act("Acknowledge alerts", "Ctrl+K", self.alerts.acknowledge_selected)
        act("Refresh", "F5", self.refresh_all, bar=True)
        # The site's clock (and the demo's speed) at the toolbar's right end, where there is room: beside the
        # person, site, machines, jobs and alerts the status bar cannot hold it on a 1366-pixel screen.
        self.status.removeWidget(self.status.scale)  # (that hides it)
        self.status.scale.setObjectName("siteClock")
        right = QWidget()  # everything right of the buttons, the clock at its end
        right.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout(right)
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        row.addWidget(self.status.scale)
        self.status.scale.show()
        tb.addWidget(right)
        act("Full screen", "F11", lambda: self.showNormal() if self.isFullScreen() else self.showFullScreen())
        act("Quit", "Ctrl+Q", self.close)
        for i in range(7):
            act(f"Tab {i + 1}", f"Ctrl+{i + 1}", lambda _=False, i=i: self.tabs.setCurrentIndex(i)
                if i < self.tabs.count() else None)
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.open_action = act("Open part…", QKeySequence.StandardKey.Open, self.browse_part)
        self.open_action.setToolTip("Open a part or G-code file in Design review (Ctrl+O)")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.new_job_action)
        file_menu.addAction(self.add_machine_action)
        file_menu.addSeparator()
        file_menu.addAction(self.person.switch_action)
        file_menu.addAction(self.person.sign_out_action)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("Quit")
        quit_action.triggered.connect(self.close)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction("Keyboard shortcuts").triggered.connect(self.show_shortcuts)
        help_menu.addAction("About Imewe").triggered.connect(lambda: show_about(self, self.ports.site))

    def _wire(self) -> None:
        b = self.bridge
        b.fleet_changed.connect(self._fleet_changed)
        b.nodes_changed.connect(self._nodes_changed)
        b.telemetry.connect(self._telemetry)
        b.jobs_changed.connect(self.jobs.on_jobs_changed)
        b.alerts_changed.connect(self._alerts_changed)
        b.plan_updated.connect(self.timeline.set_plan)
        b.plan_updated.connect(lambda plan: self.live.set_plan(plan))  # LiveData has slots: no weakref
        b.open_requested.connect(self._open_requested)
        self.jobs.loaded.connect(self._jobs_loaded)
        self.fleet.machine_selected.connect(lambda n: self.detail.show_node(n.id))
        self.fleet.machine_opened.connect(self.open_machine)
        self.fleet.add_machine_requested.connect(self.open_add_machine)
        self.fleet.agents_review_requested.connect(self.review_agents)
        self.timeline.job_clicked.connect(self.open_job)
        self.alerts.machine_clicked.connect(lambda nid: self.open_machine(self.ports.fleet.get(nid)))
        self.alerts.count_changed.connect(self.status.set_alerts)
        self.status.alerts_clicked.connect(lambda: self.tabs.setCurrentWidget(self.alerts))
        for panel in (self.detail, self.jobs, self.alerts):
            panel.message.connect(self.notify)
        self.detail.refused.connect(self.show_toast)  # a refused machine command is not a passing status line
        self.session.refused.connect(self.show_toast)  # nor is any other refused action
        self.session.notice.connect(self.notify)
        self._input_watch = InputWatch(self.session)  # key presses and clicks keep a switched-in kiosk person
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self._input_watch)
        self._first_load("Alerts", self.alerts, self.alerts.load_open)

    def _fleet_changed(self) -> None:
        self.fleet_model.reload()
        self.timeline.redraw()
        for hook in self.fleet_changed_hooks:
            hook()

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
                self.show_toast(f"CRITICAL · {self.alerts.source_of(alert)}: {alert.message}")

    def _on_tick(self) -> None:
        if self.session.grant is not None:
            spawn(self.session.check())
        self.status.refresh()
        self.timeline.tick()
        self.jobs.table.viewport().update()  # time left counts down between store changes
        if self.detail_dock.isVisible():
            self.detail.refresh_work()
        local = self.ports.local_machines
        if local is not None:
            self.fleet.set_waiting_agents([a.name for a in local.agents() if a.state in ("pending", "changed")])

    def _person_changed(self) -> None:
        actor = self.session.actor
        who = f" — {actor.name}" if actor is not None else ""
        self.setWindowTitle(f"Imewe — {self.ports.site.name}{who}")
        review = self.panels.built("design review")
        if actor is not None and isinstance(review, ReviewPanel):
            review.author.setText(actor.name)  # notes are signed by the person

    # ------------------------------------------------------------ design review
    @property
    def review(self) -> ReviewPanel | None:
        panel = self.panels.get("design review")
        return panel if isinstance(panel, ReviewPanel) else None

    def browse_part(self) -> None:
        if self.review is not None:
            self.tabs.setCurrentWidget(self.review)
            self.review.browse()

    def open_file(self, path: str) -> None:
        """Show a part or G-code file in Design review; a file it cannot show is refused in one line."""
        review = self.review
        if review is None:
            self.notify("Design review is not available (see its tab)")
            return
        self.tabs.setCurrentWidget(review)
        try:
            review.open(path)
        except ImeweError as exc:
            self.notify(str(exc))

    def _open_requested(self, path: str | None) -> None:
        """Another ``imewe open`` (a double-click on a part file) handed its file to this window."""
        if self.isMinimized():
            self.showNormal()
        self.raise_()
        self.activateWindow()
        if path:
            self.open_file(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(u.isLocalFile() and reviewable(u.toLocalFile()) for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile() and reviewable(u.toLocalFile())]
        if paths:
            self.open_file(paths[0])
            event.acceptProposedAction()

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

        nodes = [n for n in self.ports.fleet.list() if n.state is NodeState.EXECUTING]
        nodes = nodes or self.ports.fleet.list()
        if nodes:
            self.detail.show_node(nodes[0].id)
            self.fleet.select(nodes[0].id)

    def open_add_machine(self) -> AddMachineDialog | None:
        """The Add machine dialog (network printers found, or typed in); None when this site cannot add them."""
        if self.ports.machines is None and self.ports.local_machines is None:
            return None
        dialog = AddMachineDialog(self.ports.machines, self, local=self.ports.local_machines)
        self.add_dialog = dialog
        dialog.added.connect(lambda _node: self.fleet_model.reload())
        dialog.open()
        return dialog

    def review_agents(self) -> AddMachineDialog | None:
        """The Add machine dialog on its Node agent page, where waiting keys are accepted or refused."""
        dialog = self.open_add_machine()
        if dialog is not None and dialog.local is not None:
            dialog.pages.setCurrentIndex(dialog.pages.indexOf(dialog.agents))
        return dialog

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
    def fit_small_screen(self, width: int, height: int) -> None:
        """Lay out for a small screen: the window at that size, the machine panel narrower."""
        self.resize(width, height)
        dock = max(360, min(520, width * 3 // 10))
        self.resizeDocks([self.detail_dock], [dock], Qt.Orientation.Horizontal)
        # once shown, the layout has its real size: apply the width again (before, Qt may keep its own guess)
        QTimer.singleShot(0, lambda: self.resizeDocks([self.detail_dock], [dock], Qt.Orientation.Horizontal))

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
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self._input_watch)
        self.bridge.close()
        self.jobs.detail.close_views()
        review = self.panels.built("design review")
        if isinstance(review, ReviewPanel):
            review.close_views()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.shutdown()
        super().closeEvent(event)
        self.closed.emit()
