"""The Add machine dialog's Node agent page: the agents heard on the network, each with its key fingerprint and
whether a person accepted it. A new agent waits until someone compares its fingerprint with the one the agent
prints at start and accepts it; only then does it get the pairing token and join the fleet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.domain.errors import ImeweError
from app.core.fleet.agent_package import is_older
from app.ui.ports import FoundAgentView, LocalMachinesPort
from app.ui.tasks import spawn

STATE_WORDS = {"pending": "Waiting for you", "accepted": "Accepted", "changed": "Key changed: refused",
               "refused": "Refused", "": "Reading its key…"}


def state_text(agent: FoundAgentView) -> str:
    if agent.state == "accepted":
        return "Accepted, in the fleet" if agent.registered else "Accepted, joining…"
    return STATE_WORDS.get(agent.state, agent.state)


def grouped(fingerprint: str) -> str:
    """The fingerprint in groups of four, as the agent prints it to compare by eye."""
    return " ".join(fingerprint[i:i + 4] for i in range(0, len(fingerprint), 4)) or "-"


class AgentsPage(QWidget):
    def __init__(self, local: LocalMachinesPort | None, on_error: Callable[[str], None]) -> None:
        super().__init__()
        self.local = local
        self._on_error = on_error
        self._agents: list[FoundAgentView] = []
        note = QLabel("Imewe node agents ('imewe node' on a small computer beside a machine) announce themselves on "
                      "the network. A new one waits here until you accept its key: compare the fingerprint with "
                      "the one the agent printed when it started. Only then is it sent the pairing token.")
        note.setWordWrap(True)
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("agentsFound")
        self.table.setHorizontalHeaderLabels(["Agent", "Address", "Key fingerprint", "Version", "State"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        for col in (0, 1, 2):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._picked)
        self.none = QLabel("No agent heard yet. On the machine's computer run 'imewe node --driver marlin "
                           "--port /dev/ttyUSB0' (same network), and it appears here for you to accept.")
        self.none.setWordWrap(True)
        self.none.setStyleSheet("color: #8b949e;")
        self.replace = QCheckBox("This machine was reinstalled: replace its old key")
        self.replace.setVisible(False)
        self.accept_button = QPushButton("Accept key")
        self.accept_button.setObjectName("acceptAgent")
        self.refuse_button = QPushButton("Refuse")
        self.refuse_button.setObjectName("refuseAgent")
        again = QPushButton("Look again")
        self.update_button = QPushButton("Update")
        self.update_button.setObjectName("updateAgent")
        self.update_button.setToolTip("Send this site's version to the agent, signed with the site key; it "
                                      "restarts into it and goes back to its old version if it does not come up")
        self.update_all_button = QPushButton("Update all older")
        self.update_all_button.setObjectName("updateAllAgents")
        self.update_all_button.setToolTip("One agent first, the others once it came back healthy")
        self.update_button.clicked.connect(lambda: self._update(one=True))
        self.update_all_button.clicked.connect(lambda: self._update(one=False))
        self.accept_button.clicked.connect(lambda: self._decide(True))
        self.refuse_button.clicked.connect(lambda: self._decide(False))
        again.clicked.connect(self.refresh)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (self.accept_button, self.refuse_button, self.update_button, self.update_all_button, again):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(note)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.none)
        lay.addWidget(self.replace)
        lay.addLayout(buttons)
        lay.addWidget(self.status)
        self.rollout = QLabel("")
        self.rollout.setObjectName("agentRollout")
        self.rollout.setWordWrap(True)
        lay.addWidget(self.rollout)
        self._timer = QTimer(self)
        self._timer.setInterval(1500)
        self._timer.timeout.connect(self._follow)
        self._picked()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._timer.start()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self._timer.stop()
        super().hideEvent(event)

    def _older(self, a: FoundAgentView) -> bool:
        mine = self.local.site_version() if self.local is not None else ""
        return a.state == "accepted" and a.registered and bool(a.version) and is_older(a.version, mine)

    def _follow(self) -> None:
        """While the page shows: the agents' states and versions, and the latest rollout step by step."""
        if self.local is None:
            return
        picked = self.selected()
        self.refresh()
        if picked is not None:
            self.select(picked.name)
        rollouts = self.local.rollouts()
        if not rollouts:
            self.rollout.setText("")
            return
        r = rollouts[0]
        steps = "; ".join(f"{s.name}: {s.state}" + (f" ({s.message})" if s.state in ("rolled back", "failed")
                                                      else "") for s in r.steps)
        self.rollout.setText(f"Update to {r.version}: {r.state}" + (f" — {steps}" if steps else "")
                             + (f". {r.message}" if r.message and r.state == "done" else ""))
    def refresh(self) -> None:
        self._agents = list(self.local.agents()) if self.local is not None else []
        self.table.setRowCount(len(self._agents))
        for row, a in enumerate(self._agents):
            cells = [a.name, a.address, grouped(a.fingerprint), a.version or "-", state_text(a)]
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.none.setVisible(not self._agents)
        self._picked()

    def selected(self) -> FoundAgentView | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        return self._agents[min(rows)] if rows and min(rows) < len(self._agents) else None

    def select(self, name: str) -> None:
        for row, a in enumerate(self._agents):
            if a.name == name:
                self.table.selectRow(row)
                return

    def _picked(self) -> None:
        a = self.selected()
        waiting = a is not None and a.state in ("pending", "changed", "refused")
        self.accept_button.setEnabled(waiting)
        self.refuse_button.setEnabled(a is not None and a.state in ("pending", "changed", "accepted"))
        self.replace.setVisible(a is not None and a.state == "changed")
        mine = self.local.site_version() if self.local is not None else ""
        self.update_button.setEnabled(a is not None and self._older(a))
        self.update_button.setText(f"Update to {mine}" if mine else "Update")
        self.update_all_button.setEnabled(any(self._older(x) for x in self._agents))
        if a is not None and a.state == "changed":
            self.status.setText(f"{a.name} shows a different key from the one accepted before. Someone else may "
                                "be answering under its name: accept only if you reinstalled that machine.")
        else:
            self.status.setText("")

    def _decide(self, accept: bool) -> None:
        a = self.selected()
        if a is None or self.local is None:
            return
        if accept and a.state == "changed" and not self.replace.isChecked():
            self._on_error("tick 'This machine was reinstalled' to replace the key accepted before")
            return
        self.accept_button.setEnabled(False)
        self.refuse_button.setEnabled(False)
        spawn(self.local.decide_agent(a.fingerprint, accept, self.replace.isChecked()),
              lambda key, name=a.name, accept=accept: self._decided(name, accept, key), self._failed)

    def _update(self, one: bool) -> None:
        a = self.selected()
        if self.local is None or (one and a is None):
            return
        self.update_button.setEnabled(False)
        self.update_all_button.setEnabled(False)
        node_id = a.node_id if one and a is not None else None
        spawn(self.local.update_agents(node_id), lambda r: self._follow(), self._failed)

    def _decided(self, name: str, accept: bool, _key: Any) -> None:
        self.replace.setChecked(False)
        self.refresh()
        self.select(name)
        self.status.setText(f"{name} accepted: it joins the fleet in a moment." if accept else f"{name} refused.")

    def _failed(self, exc: BaseException) -> None:
        self._picked()
        self._on_error(str(exc) if isinstance(exc, ImeweError) else f"could not decide: {exc}")
