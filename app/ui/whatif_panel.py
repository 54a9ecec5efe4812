"""The What-if tab: try a change (a machine down for some hours, a job rushed, a lower power cap) and see the plan
the site would make next to the live one: jobs that move, ends and lateness, and the digital twin's chance of each
job ending by its due date. The live plan changes only when the operator applies the change and confirms it."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any
from uuid import UUID

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.clock import Clock
from app.core.domain.enums import JobState
from app.core.domain.errors import ImeweError
from app.core.fleet.service import FleetService
from app.core.jobs.eta import finish_label
from app.core.jobs.service import JobService
from app.ui.confirm import confirm
from app.ui.ports import WhatIfPort
from app.ui.tasks import spawn

OPEN = {JobState.VALIDATED, JobState.SCHEDULED, JobState.ASSIGNED, JobState.IN_PROGRESS, JobState.PAUSED}
COLUMNS = ("Job", "Ends now", "Would end", "Likely (10–90 %)", "Late now → after", "On time now → after", "")
DOWN, RUSH, CAP = "A machine is down", "Rush a job", "Lower the power cap"
WORSE, BETTER = "#f85149", "#3fb950"


def _pct(v: float | None) -> str:
    return "no due date" if v is None else f"{100 * v:.0f} %"


def _late(seconds: float) -> str:
    return "on time" if seconds < 30 else f"{seconds / 60:.0f} min"


class WhatIfPanel(QWidget):
    message = Signal(str)

    def __init__(self, port: WhatIfPort | None, fleet: FleetService, jobs: JobService, clock: Clock,
                 zone: tzinfo | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.port, self.fleet, self.jobs, self.clock, self.zone = port, fleet, jobs, clock, zone
        self.answer: dict[str, Any] | None = None
        self.tried: dict[str, Any] = {}
        self.kind = QComboBox()
        self.kind.addItems([DOWN, RUSH, CAP])
        self.machine = QComboBox()
        # The box follows its longest name ("Bambu X1 Carbon", not "Bambu X"): the machines come after the first
        # show, when Qt's default policy has already sized the box for an empty list. The chosen name in the tooltip.
        self.machine.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.machine.setMinimumContentsLength(12)
        self.machine.currentTextChanged.connect(self.machine.setToolTip)
        self.hours = QDoubleSpinBox()
        self.hours.setRange(0.25, 24 * 14)
        self.hours.setValue(4.0)
        self.hours.setSuffix(" h")
        self.job = QComboBox()
        self.job.setMinimumContentsLength(18)
        self.cap = QDoubleSpinBox()
        self.cap.setRange(0.1, 10_000)
        self.cap.setValue(20.0)
        self.cap.setSuffix(" kW")
        self.try_btn = QPushButton("Try it")
        self.apply_btn = QPushButton("Apply to the live plan…")
        self.apply_btn.setEnabled(False)
        self.clear_btn = QPushButton("Clear applied changes")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.applied = QLabel()
        self.applied.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.empty = QLabel("Pick a change above and press Try it: the plan the site would make appears here, next "
                            "to the live plan. Nothing changes until you apply it.")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #8b949e; font-size: 14px;")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.table)
        self.what = QStackedWidget()  # the inputs of the chosen change
        for widgets in ((QLabel("Machine"), self.machine, QLabel("for"), self.hours), (QLabel("Job"), self.job),
                        (QLabel("Cap"), self.cap)):
            page = QWidget()
            row = QHBoxLayout(page)
            row.setContentsMargins(0, 0, 0, 0)
            for w in widgets:
                row.addWidget(w)
            row.addStretch(1)
            self.what.addWidget(page)
        top = QHBoxLayout()
        top.addWidget(QLabel("What if"))
        top.addWidget(self.kind)
        top.addWidget(self.what, 1)
        top.addWidget(self.try_btn)
        actions = QHBoxLayout()
        actions.addWidget(self.applied, 1)
        actions.addWidget(self.clear_btn)
        actions.addWidget(self.apply_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addLayout(top)
        lay.addWidget(self.status)
        lay.addWidget(self.stack, 1)
        lay.addLayout(actions)
        self.kind.currentIndexChanged.connect(self.what.setCurrentIndex)
        self.try_btn.clicked.connect(self.try_it)
        self.apply_btn.clicked.connect(self.ask_apply)
        self.clear_btn.clicked.connect(self.clear)
        if port is None:
            self.status.setText("What-if plans are made by the site's owner: start imewe serve or the control room "
                                "on this site's home.")
            for w in (self.try_btn, self.apply_btn, self.clear_btn):
                w.setEnabled(False)
        self.refresh()

    # ------------------------------------------------------------ inputs
    def refresh(self) -> None:
        """Machines and open jobs to choose from, and what is applied now."""
        spawn(self._load())

    async def _load(self) -> None:
        nodes = [n for n in self.fleet.list() if n.state.in_service]
        self._fill(self.machine, [(n.name, n.id) for n in nodes])
        jobs = await self.jobs.list(OPEN, limit=500)
        self._fill(self.job, [(j.name, j.id) for j in sorted(jobs, key=lambda j: j.name)])
        self._show_applied()

    @staticmethod
    def _fill(box: QComboBox, items: list[tuple[str, UUID]]) -> None:
        keep = box.currentData()
        box.clear()
        for name, key in items:
            box.addItem(name, key)
        if keep is not None and (i := box.findData(keep)) >= 0:
            box.setCurrentIndex(i)

    def change(self) -> dict[str, Any]:
        kind = self.kind.currentText()
        if kind == DOWN:
            return {"down": self.machine.currentData(), "down_for_s": self.hours.value() * 3600}
        if kind == RUSH:
            return {"rush": self.job.currentData()}
        return {"cap_w": self.cap.value() * 1000}

    def _words(self, change: dict[str, Any]) -> str:
        if change.get("down") is not None:
            return f"{self.machine.currentText()} down for {self.hours.value():g} h"
        if change.get("rush") is not None:
            return f"{self.job.currentText()} rushed (due now, top priority)"
        return f"a power cap of {change['cap_w'] / 1000:g} kW"

    # ------------------------------------------------------------ try, apply
    def try_it(self) -> None:
        if self.port is None:
            return
        change = self.change()
        if change.get("down", 0) is None or change.get("rush", 0) is None:
            self.status.setText("Nothing to choose: add a machine or submit a job first.")
            return
        self.try_btn.setEnabled(False)
        self.apply_btn.setEnabled(False)
        self.status.setText(f"Planning with {self._words(change)}…")
        self.tried = change
        spawn(self.port.whatif(**change), on_done=self.show_answer, on_error=self._failed)

    def _failed(self, exc: Exception) -> None:
        self.try_btn.setEnabled(True)
        self.status.setText(f"Could not plan it: {exc}" if isinstance(exc, ImeweError) else
                            "Could not plan it: see the log for details.")

    def show_answer(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.try_btn.setEnabled(True)
        jobs = answer.get("jobs", [])
        now = self.clock.now()
        moved = answer.get("jobs_moved", 0)
        self.status.setText(
            f"With {self._words(self.tried)}: {moved} job{'s' if moved != 1 else ''} move; lateness "
            f"{answer.get('late_before_s', 0) / 60:.0f} → {answer.get('late_after_s', 0) / 60:.0f} min in all. "
            f"On time: the share of {answer.get('replays', 0):,} simulated runs of each plan that end by the due "
            f"date (durations drawn from learned intervals for {answer.get('learned_spread_ops', 0)} of "
            f"{answer.get('ops', 0)} operations, ±20 % for the rest). The live plan is unchanged.")
        self.table.setRowCount(len(jobs))
        for r, j in enumerate(jobs):
            after = j.get("end_after")
            cells = [j["name"], finish_label(j.get("end_before"), now, self.zone) or "not planned",
                     finish_label(after, now, self.zone) or "not planned",
                     (f"{finish_label(j['finish_p10'], now, self.zone)} – {finish_label(j['finish_p90'], now, self.zone)}"
                      if j.get("finish_p10") else ""),
                     f"{_late(j['late_before_s'])} → {_late(j['late_after_s'])}",
                     f"{_pct(j.get('on_time_before'))} → {_pct(j.get('on_time_after'))}"
                     if j.get("on_time_after") is not None or j.get("on_time_before") is not None else "no due date",
                     "moves" if j.get("moved") else ""]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 4 and j["late_after_s"] != j["late_before_s"]:
                    item.setForeground(QColor(WORSE if j["late_after_s"] > j["late_before_s"] else BETTER))
                if c == 5 and None not in (j.get("on_time_before"), j.get("on_time_after")) and \
                        abs(j["on_time_after"] - j["on_time_before"]) >= 0.05:
                    item.setForeground(QColor(WORSE if j["on_time_after"] < j["on_time_before"] else BETTER))
                self.table.setItem(r, c, item)
        self.stack.setCurrentWidget(self.table if jobs else self.empty)
        if not jobs:
            self.empty.setText("No open work to plan: submit a job, then try again.")
        self.apply_btn.setEnabled(bool(jobs))

    def ask_apply(self) -> None:
        if self.port is None or not self.tried:
            return
        change = dict(self.tried)
        confirm(self, "Apply to the live plan",
                f"Plan the floor with {self._words(change)} from now on?\n\nThe site replans at once and machines "
                "start what the new plan gives them. Clear applied changes undoes it.",
                lambda: spawn(self.port.apply_whatif(**change, actor="operator"),  # type: ignore[union-attr]
                              on_done=self._applied, on_error=self._failed), yes_text="Apply")

    def _applied(self, words: list[str]) -> None:
        self.apply_btn.setEnabled(False)
        self.message.emit("Applied to the live plan: " + "; ".join(words))
        self._show_applied()

    def clear(self) -> None:
        if self.port is not None:
            spawn(self.port.clear_whatif(actor="operator"), on_done=lambda _: self._show_applied(),
                  on_error=self._failed)

    def _show_applied(self) -> None:
        words = self.port.applied_whatif() if self.port is not None else []
        self.applied.setText("Applied now: " + "; ".join(words) if words else "Nothing applied: the live plan follows "
                             "the site's own settings.")
        self.clear_btn.setEnabled(bool(words))
