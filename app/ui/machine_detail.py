"""One machine: live charts with time ranges, capabilities and configuration, maintenance and state history,
and the actions its capabilities and state allow (e-stop always one click away, then confirmed).

The live charts (pyqtgraph) are built after the window's first frame, or when first asked for (issue 17)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.domain.entities import Job, Node, Part
from app.core.domain.enums import NodeState, ProcessType
from app.core.domain.errors import AuthError, ImeweError, PermissionDenied
from app.core.fleet.service import FleetService
from app.core.jobs.eta import duration_label, finish_label
from app.ui.actions import MachineControl, allowed_actions
from app.ui.confirm import confirm
from app.ui.eta_view import node_eta
from app.ui.live_data import (
    LiveData,
    is_target,
    progress_fraction,
    target_of,
    temperature_label,
    temperatures,
)
from app.ui.review_estimates import ANALYTIC_MARK, analytic_tip
from app.ui.tasks import spawn
from app.ui.theme import NODE_COLOURS
from app.ui.words import node_state_word, process_word

if TYPE_CHECKING:
    from app.viz.machine_charts import MachineCharts

# States in which a machine has no work on it (an error or a lost link keeps showing what it was running)
DONE_WITH_WORK = (NodeState.IDLE, NodeState.COMPLETED, NodeState.MAINTENANCE, NodeState.DECOMMISSIONED,
                  NodeState.REGISTERED, NodeState.CONFIGURED)
WORK_FIELDS = [("file", "Now running"), ("layer", "Layer"), ("progress", "This part"), ("elapsed", "Elapsed"),
               ("left", "Time left"), ("finish", "Finish at"), ("takes", "Part takes")]


def material_unit(process: ProcessType) -> str:
    """Every driver and simulator reports ``material_remaining`` in grams (resin too: app/devices/simulator.py,
    the planner's ``estimated_material_g``), so the panel says g for every process."""
    return "g"


def readout_text(metrics: dict[str, float]) -> str:
    """``nozzle 214 → 215 °C   bed 60 → 60 °C   power 180 W``: current and target side by side."""
    bits = []
    for name, value in sorted(temperatures(metrics).items()):
        target = next((v for k, v in metrics.items() if is_target(k) and target_of(k) == name), None)
        label = temperature_label(name)
        if target is not None and target > 0:
            bits.append(f"{label} {value:.0f} → {target:.0f} °C")
        else:  # no target: the heater is off (or the machine sends none)
            bits.append(f"{label} {value:.0f} °C" + (" (off)" if target is not None else ""))
    if "power_w" in metrics:
        bits.append(f"power {metrics['power_w']:.0f} W")
    return "   ".join(bits)

log = logging.getLogger(__name__)
RANGES = [("1 min", 60), ("10 min", 600), ("1 hour", 3600), ("all", 0)]


class MachineDetail(QWidget):
    message = Signal(str)  # status-bar feedback
    refused = Signal(str)  # a command the person at the window may not give (shown where it cannot be missed)

    def __init__(self, fleet: FleetService, live: LiveData, control: MachineControl | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fleet = fleet
        self.live = live
        self.control = control
        self.node_id: UUID | None = None
        self.confirm_box: QMessageBox | None = None

        self.title = QLabel("Select a machine")
        self.title.setObjectName("title")
        self.state = QLabel()
        self.state.setObjectName("title")
        self.estop = QPushButton("EMERGENCY STOP")
        self.estop.setObjectName("estop")
        self.estop.setToolTip("Stop this machine now (asks once to confirm)")
        self.pause = QPushButton("Pause")
        self.resume = QPushButton("Resume")
        self.cancel = QPushButton("Cancel job")
        self.maint = QPushButton("Maintenance")
        self.maint.setToolTip("Take the machine out of the plan for maintenance")
        self.maint_done = QPushButton("Back in service")
        self.maint_done.setToolTip("Maintenance is done: the machine takes work again")
        self.decommission = QPushButton("Decommission")
        # The name on its own line (a long one is cut, never widening the panel), state and e-stop below it: the
        # panel stays narrow enough for a 1366-pixel screen.
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head = QHBoxLayout()
        head.addWidget(self.state)
        head.addStretch(1)
        head.addWidget(self.estop)
        self.job_line = QLabel("")
        self.job_line.setObjectName("jobLine")
        self.job_line.setToolTip("The whole job's progress and which of its parts this is; the machine's own time left "
                                 "next to the planner's")
        # Two short rows keep the dock narrow enough to leave the fleet most of the screen.
        actions = QVBoxLayout()
        for group in ((self.pause, self.resume, self.cancel), (self.maint, self.maint_done, self.decommission)):
            row = QHBoxLayout()
            for b in group:
                row.addWidget(b)
            row.addStretch(1)
            actions.addLayout(row)
        self.range = QComboBox()
        for label, secs in RANGES:
            self.range.addItem(label, secs)
        self.range.setCurrentIndex(1)
        self.range.setToolTip("How much of the recent past the charts show")

        # What runs now, in the words a printer's own screen uses: file, layer, elapsed, left, finish at.
        self.work: dict[str, QLabel] = {}
        work = QGridLayout()
        work.setHorizontalSpacing(14)
        for i, (key, text) in enumerate(WORK_FIELDS):
            name, value = QLabel(text), QLabel("–")
            name.setStyleSheet("color: #8b949e;")
            value.setObjectName(f"work_{key}")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(key in ("left", "takes"))  # "1 h 05 min (58 min – 1 h 15 min)" in a narrow dock
            self.work[key] = value
            work.addWidget(name, i // 3 * 2, i % 3)
            work.addWidget(value, i // 3 * 2 + 1, i % 3)
        self.readouts = QLabel("")
        self.readouts.setObjectName("readouts")
        self.readouts.setWordWrap(True)
        self._charts: MachineCharts | None = None
        self.live_tab = QWidget()  # the charts go here when built
        self._live_lay = QVBoxLayout(self.live_tab)
        self._live_lay.setContentsMargins(0, 0, 0, 0)
        self.caps = QPlainTextEdit(readOnly=True)
        self.history = QTableWidget(0, 4)
        self.history.setHorizontalHeaderLabels(["When", "What", "Detail", "By"])
        self.history.horizontalHeader().setStretchLastSection(True)
        self.history.verticalHeader().setVisible(False)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.live_tab, "Live")
        self.tabs.addTab(self.caps, "Capabilities")
        self.tabs.addTab(self.history, "History")
        self.tabs.setTabToolTip(2, "Maintenance and history: what was done to this machine, when and by whom")
        # Short titles, never cut nor hidden behind scroll arrows: in a 1366-pixel window the panel is about 410 px
        # wide, and "Maintenance & history" beside the chart range did not fit ("Live | Capabilities | Mainten ◂ ▸").
        bar = self.tabs.tabBar()
        bar.setElideMode(Qt.TextElideMode.ElideNone)
        bar.setUsesScrollButtons(False)
        bar.setExpanding(False)
        self.tabs.setCornerWidget(self.range)

        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addLayout(head)
        lay.addWidget(self.job_line)
        lay.addLayout(actions)
        lay.addLayout(work)
        lay.addWidget(self.readouts)
        lay.addWidget(self.tabs, 1)

        self.estop.clicked.connect(self.ask_emergency_stop)
        self.pause.clicked.connect(lambda: self._drive("pause"))
        self.resume.clicked.connect(lambda: self._drive("resume"))
        self.cancel.clicked.connect(lambda: self._ask("Cancel the job on this machine?", lambda: self._drive("cancel")))
        self.maint.clicked.connect(lambda: self._fleet("start_maintenance"))
        self.maint_done.clicked.connect(lambda: self._fleet("complete_maintenance"))
        self.decommission.clicked.connect(lambda: self._ask(
            "Take this machine out of service for good? This cannot be undone.",
            lambda: self._fleet("decommission")))
        self.range.currentIndexChanged.connect(lambda _: self.update_charts())
        self._update_buttons(None)

    @property
    def charts(self) -> MachineCharts:
        """The live charts, built on first use."""
        if self._charts is None:
            from app.viz.machine_charts import MachineCharts

            self._charts = MachineCharts(zone=self.live.zone)
            self._live_lay.addWidget(self._charts)
            self.update_charts()
        return self._charts

    def build_charts(self) -> None:
        self.charts  # noqa: B018 - built now (the window calls this after its first frame)

    # ------------------------------------------------------------ showing a machine
    def node(self) -> Node | None:
        if self.node_id is None:
            return None
        try:
            return self.fleet.get(self.node_id)
        except ImeweError:
            return None

    def show_node(self, node_id: UUID) -> None:
        changed = node_id != self.node_id
        self.node_id = node_id
        if changed and self._charts is not None:
            self._charts.clear()
            self.refresh_history()
        self.refresh()

    def refresh(self) -> None:
        node = self.node()
        self._update_buttons(node)
        if node is None:
            return
        version = f"  ·  software {node.software_version}" if node.software_version else ""
        self.title.setText(f"{node.name}  ·  {process_word(node.process)}{version}")
        self.state.setText(node_state_word(node.state, node.process)
                           + ("  (paused)" if node.id in self.live.paused else ""))
        self.state.setStyleSheet(f"color: {NODE_COLOURS.get(node.state, '#8b949e')};")
        caps = node.capabilities
        lines = [f"Process: {process_word(caps.process)}", f"Area: {node.location or '-'}",
                 f"Address: {node.address or '-'}  (driver {node.driver})",
                 f"Build volume: {' x '.join(f'{v:g}' for v in caps.build_volume_mm)} mm",
                 f"Materials: {', '.join(sorted(caps.materials)) or 'any for the process'}",
                 f"Loaded: {caps.loaded_material or '-'}", f"Nozzle/tool: {caps.nozzle_mm or '-'} mm",
                 f"Max power: {caps.max_power_w:g} W, idle {caps.idle_power_w:g} W",
                 f"Features: {', '.join(sorted(caps.features)) or '-'}",
                 f"Material left: {', '.join(f'{k} {v:,.0f} {material_unit(caps.process)}' for k, v in node.material_levels.items()) or '-'}",
                 f"Software: {node.software_version or '-'}",
                 f"Last maintenance: {node.last_maintenance or '-'}", f"Id: {node.id}"]
        self.caps.setPlainText("\n".join(lines))
        self.refresh_work()

    def refresh_work(self) -> None:
        """The running work's file, layer, elapsed, left and finish time, and the heaters' current → target."""
        node = self.node()
        values = dict.fromkeys(self.work, "–")
        tips: dict[str, str] = {}
        if node is not None:
            # A machine that is no longer at work runs nothing, even in the moment before its job's end reaches us
            held = self.live.running.get(node.id) if node.state not in DONE_WITH_WORK else None
            metrics = self.live.latest(node.id)
            if held is not None:
                job, part = held
                values["file"] = Path(part.file_path).name if part.file_path else f"{job.name} / {part.name}"
                eta = node_eta(self.live, node)
                est = self.live.estimate(part)
                if est is not None:  # the narrow dock: an analytic time is marked *, the reason in its tooltip
                    values["takes"] = est.label() if est.learned else duration_label(est.value_s) + ANALYTIC_MARK
                    tips["takes"] = ("learned from this site's history on this machine: 80 % of such jobs took a "
                                     "time in the bracket") if est.learned else analytic_tip(est.note)
                if eta is not None:
                    now = self.live.now()
                    values["left"] = (duration_label(eta.left_s) + ANALYTIC_MARK if eta.learned is False
                                      else eta.label())
                    tips["left"] = tips.get("takes", "")
                    if eta.machine_left_s is not None:
                        values["left"] += f" (machine: {duration_label(eta.machine_left_s)})"
                    values["finish"] = finish_label(eta.finish_at, now, self.live.zone)
                    if eta.elapsed_s is not None:
                        values["elapsed"] = duration_label(eta.elapsed_s)
            if "layer" in metrics:
                total = metrics.get("layers_total")
                values["layer"] = f"{metrics['layer']:.0f}" + (f" / {total:.0f}" if total else "")
            fraction = self.live.current_progress(node.id)
            if held is not None and fraction is not None:
                values["progress"] = f"{fraction * 100:.0f} %"
            self.readouts.setText(readout_text(metrics))
        else:
            self.readouts.setText("")
        for key, label in self.work.items():
            label.setText(values[key])
            label.setToolTip(tips.get(key, ""))

    def _update_buttons(self, node: Node | None) -> None:
        buttons = (self.pause, self.resume, self.cancel, self.estop, self.maint, self.maint_done, self.decommission)
        if node is None:
            for b in buttons:
                b.setEnabled(False)
            return
        allowed = allowed_actions(node, self.control is not None, node.id in self.live.paused)
        for b, ok in zip(buttons, (allowed.pause, allowed.resume, allowed.cancel, allowed.emergency_stop,
                                   allowed.start_maintenance, allowed.complete_maintenance,
                                   allowed.decommission), strict=True):
            b.setEnabled(ok)
        if self.control is None:
            self.estop.setToolTip("No driver is connected to this machine: use its physical stop button")

    def update_charts(self) -> None:
        ring = self.live.rings.get(self.node_id) if self.node_id is not None else None
        node = self.node()
        working = node is not None and node.state not in DONE_WITH_WORK
        running = self.live.running.get(node.id) if working and node is not None else None
        self.job_line.setText(job_line(ring.latest, running, self.live.current_progress(node.id))
                              if working and node is not None and ring is not None and ring.job_id is not None
                              else "")
        if self.node_id is None or not self.isVisible() or self.tabs.currentWidget() is not self.live_tab:
            return
        if ring is None or ring.count == 0:
            self.charts.show_empty()
            return
        secs = int(self.range.currentData() or 0)
        last = float(np.nanmax(ring.t))
        since = last - secs if secs else None
        temps, targets = {}, {}
        names = ring.metric_names()
        shown = set(temperatures(dict.fromkeys(names, 0.0)))
        for name in names:
            if name in shown:
                temps[temperature_label(name)] = ring.series(name, since)
            elif is_target(name) and target_of(name) in shown:
                targets[temperature_label(target_of(name))] = ring.series(name, since)
        progress = None
        if "progress" in ring.values:  # a fraction from the drivers; the chart shows percent
            t, v = ring.series("progress", since)
            progress = (t, v * 100.0)
        elif "progress_pct" in ring.values:
            progress = ring.series("progress_pct", since)
        vib = next((n for n in names if n.startswith("vibration")), None)
        self.charts.update_series(temps, targets,
                                  ring.series("power_w", since) if "power_w" in ring.values else None,
                                  ring.series(vib, since) if vib else None, progress)
        if since is not None:
            self.charts.set_window(since, last)

    def refresh_history(self) -> None:
        node_id = self.node_id
        if node_id is None:
            return

        async def load() -> list[tuple[str, str, str, str]]:
            rows = [(m.scheduled_date.strftime("%Y-%m-%d %H:%M"), f"maintenance ({m.type.value})",
                     ("done " + m.completed_date.strftime("%Y-%m-%d %H:%M") if m.completed_date else "open")
                     + (f": {m.notes}" if m.notes else ""), "")
                    for m in await self.fleet.maintenance(node_id)]
            rows += [(c.at.strftime("%Y-%m-%d %H:%M:%S"), f"{c.from_state or '-'} → {c.to_state}", c.reason, c.actor)
                     for c in await self.fleet.timeline(node_id)]
            return sorted(rows, reverse=True)

        def show(rows: list[tuple[str, str, str, str]]) -> None:
            if node_id != self.node_id:
                return
            self.history.setRowCount(len(rows))
            for r, row in enumerate(rows):
                for c, text in enumerate(row):
                    self.history.setItem(r, c, QTableWidgetItem(text))
            self.history.resizeColumnsToContents()

        spawn(load(), show, lambda e: self.message.emit(str(e)))

    # ------------------------------------------------------------ actions
    def _ask(self, text: str, then: Any) -> None:
        self.confirm_box = confirm(self, "Please confirm", text, then)

    def ask_emergency_stop(self) -> None:
        node = self.node()
        if node is None:
            return
        self.confirm_box = confirm(
            self, "Emergency stop", f"Stop {node.name} NOW?\nThe running job is lost; the machine needs an "
            "operator before it runs again.", lambda: self._drive("emergency_stop"), danger=True,
            yes_text="STOP NOW")

    def _drive(self, verb: str) -> None:
        node = self.node()
        if node is None or self.control is None:
            return
        fn = getattr(self.control, f"request_{verb}")
        words = verb.replace("_", " ")

        def ok(_: object) -> None:
            if verb == "pause":
                self.live.paused.add(node.id)
            elif verb in ("resume", "cancel", "emergency_stop"):
                self.live.paused.discard(node.id)
            self.message.emit(f"{words} sent to {node.name}")
            self.refresh()

        def failed(e: Exception) -> None:
            if isinstance(e, PermissionDenied | AuthError):
                more = " Someone allowed to may sign in: File > Switch person…" if isinstance(e, PermissionDenied) \
                    else ""
                text = f"{node.name}: {words} refused: {e}.{more}"
                self.refused.emit(text)
            else:
                text = f"{node.name}: {words} failed: {e}"
            self.message.emit(text)

        spawn(fn(node.id), ok, failed)

    def _fleet(self, verb: str) -> None:
        node = self.node()
        if node is None:
            return
        words = verb.replace("_", " ")

        def ok(_: object) -> None:
            self.message.emit(f"{node.name}: {words} done")
            self.refresh()
            self.refresh_history()

        spawn(getattr(self.fleet, verb)(node.id, actor="operator"), ok,
              lambda e: self.message.emit(f"{node.name}: {e}"))

    def focus_estop(self) -> None:
        self.estop.setFocus(Qt.FocusReason.ShortcutFocusReason)


def _minutes(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def job_progress_text(job: Job, part: Part, part_fraction: float | None) -> str:
    """``Job: 73 % (part 3 of 4)``: the whole job's progress (parts weighted by quantity, the running one at its
    live progress), and which of the job's parts the machine runs. The running part's own progress is shown as
    "This part" beside it."""
    weights = [max(p.quantity, 1) for p in job.parts]
    done = [max(p.progress, 100 * part_fraction) if p.id == part.id and part_fraction is not None else p.progress
            for p in job.parts]
    percent = sum(d * w for d, w in zip(done, weights, strict=True)) / sum(weights) if job.parts else 0.0
    which = next((i for i, p in enumerate(job.parts, 1) if p.id == part.id), None)
    return f"Job: {percent:.0f} %" + (f" (part {which} of {len(job.parts)})" if which else "")


def job_line(latest: dict[str, float], running: tuple[Job, Part] | None = None,
             part_fraction: float | None = None) -> str:
    """One line on the running work: the job's progress and which of its parts runs (else, with no job known, the
    progress the machine reports for what it runs), layer, and the machine's time left next to the planner's."""
    parts = []
    if running is not None:
        parts.append(job_progress_text(*running, part_fraction if part_fraction is not None
                                       else progress_fraction(latest)))
    elif (fraction := progress_fraction(latest)) is not None:
        parts.append(f"This part: {100 * fraction:.0f} %")
    if "layer" in latest:
        total = latest.get("layers_total")
        parts.append(f"layer {latest['layer']:.0f}" + (f" of {total:.0f}" if total else ""))
    left = [f"{_minutes(latest[k])} ({who})" for k, who in (("time_left_s", "machine"), ("time_left_est_s", "plan"))
            if k in latest]
    if left:
        parts.append("time left " + " / ".join(left))
    return "  ·  ".join(parts)
