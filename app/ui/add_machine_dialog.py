"""Add machine: network printers found on the network (zeroconf, SSDP) or typed in; the operator picks one, gives
its key or access code once, and it is registered with what it reports about itself. Further pages add a simulated
machine (pick its process), a Marlin or GRBL board the serial scan finds (the scan runs off the UI thread), and
list the node agents heard on the network (they join by themselves), so an empty site needs no command line."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.domain.enums import ProcessType
from app.core.domain.errors import ImeweError, ValidationError
from app.core.drivers import SerialFind
from app.ui.agents_page import AgentsPage
from app.ui.ports import FoundMachineView, LocalMachinesPort, MachinesPort
from app.ui.tasks import spawn
from app.ui.words import process_word

log = logging.getLogger(__name__)
# What each secret is called on screen, and whether to hide what is typed.
FIELDS = {"api_key": ("API key", True), "access_code": ("Access code", True), "serial": ("Serial number", False),
          "user": ("User", False), "password": ("Password", True)}
COLUMNS = ["Name", "Kind", "Model", "Version", "Address"]
SERIAL_GUESS = {"marlin": "fdm", "grbl": "cnc_mill"}  # what such a board most often drives


class _NoNetwork:
    """This site adds no network printers (no discovery): the network page shows nothing and is disabled."""

    def found(self) -> list:
        return []

    def kinds(self) -> dict:
        return {}

    async def add(self, name: str, kind: str, address: str, secrets: dict) -> None:
        raise ValidationError("this site cannot add network printers", "kind")


class AddMachineDialog(QDialog):
    added = Signal(object)  # the registered node

    def __init__(self, machines: MachinesPort | None, parent: QWidget | None = None,
                 local: LocalMachinesPort | None = None) -> None:
        super().__init__(parent)
        self.machines = machines or _NoNetwork()
        self.local = local
        self.setWindowTitle("Add machine")
        self.resize(820, 560)
        self.setMinimumSize(560, 420)
        self._found: list[FoundMachineView] = []
        self._serial: list[SerialFind] = []

        intro = QLabel("Printers found on the network are listed below. Pick one (or type its address), give its "
                       "key or access code once, and Imewe registers it with the build volume, nozzle and "
                       "material it reports.")
        intro.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("foundMachines")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._picked)
        self.none_found = QLabel("Nothing found on the network yet: type the machine's address below.")
        self.none_found.setObjectName("noneFound")
        self.none_found.setStyleSheet("color: #8b949e;")
        refresh = QPushButton("Look again")
        refresh.clicked.connect(self.refresh)

        self.kind = QComboBox()
        for kind, (label, _asks) in machines.kinds().items():
            self.kind.addItem(label, kind)
        self.kind.currentIndexChanged.connect(lambda _: self._show_fields())
        self.name = QLineEdit(placeholderText="e.g. Prusa MK4 bay 2")
        self.address = QLineEdit(placeholderText="http://192.168.1.40")
        form = QFormLayout()
        form.addRow("Kind", self.kind)
        form.addRow("Name", self.name)
        form.addRow("Address", self.address)
        self.fields: dict[str, QLineEdit] = {}
        for key, (text, hidden) in FIELDS.items():
            edit = QLineEdit()
            edit.setObjectName(f"secret_{key}")
            if hidden:
                edit.setEchoMode(QLineEdit.EchoMode.Password)
            self.fields[key] = edit
            form.addRow(text, edit)
        self._form = form
        self.error = QLabel("")
        self.error.setObjectName("addError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #f85149;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton("Add machine", QDialogButtonBox.ButtonRole.AcceptRole)
        self.add_button.setObjectName("addMachine")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)

        network = QWidget()
        net_lay = QVBoxLayout(network)
        net_lay.addWidget(intro)
        net_lay.addWidget(self.table, 1)
        net_lay.addWidget(self.none_found)
        net_lay.addWidget(refresh, 0, Qt.AlignmentFlag.AlignLeft)
        net_lay.addLayout(form)
        self.pages = QTabWidget()
        self.pages.setObjectName("addMachinePages")
        self.pages.addTab(network, "Network printer")
        if local is not None:
            self.pages.addTab(self._simulated_page(local), "Simulated")
            self.pages.addTab(self._serial_page(), "USB / serial")
            self.pages.addTab(self._agents_page(), "Node agent")
        self.pages.currentChanged.connect(self._page_changed)
        lay = QVBoxLayout(self)
        lay.addWidget(self.pages, 1)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.refresh()
        self._show_fields()
        if isinstance(self.machines, _NoNetwork) and local is not None:
            self.pages.setTabEnabled(0, False)
            self.pages.setCurrentIndex(1)

    # ------------------------------------------------------------ the other pages
    def _simulated_page(self, local: LocalMachinesPort) -> QWidget:
        page = QWidget()
        note = QLabel("A simulated machine behaves like a real one of its kind: it heats, runs jobs, draws power "
                      "and reports telemetry. Use it to try a plan or to train before the real machine arrives.")
        note.setWordWrap(True)
        self.sim_process = QComboBox()
        self.sim_process.setObjectName("simProcess")
        for process in local.processes():
            self.sim_process.addItem(process_word(process), process.value)
        self.sim_name = QLineEdit(placeholderText="e.g. Sim FDM 1")
        self.sim_name.setObjectName("simName")
        self.sim_location = QLineEdit(placeholderText="e.g. Bay A (optional)")
        form = QFormLayout()
        form.addRow("Kind of machine", self.sim_process)
        form.addRow("Name", self.sim_name)
        form.addRow("Area", self.sim_location)
        lay = QVBoxLayout(page)
        lay.addWidget(note)
        lay.addLayout(form)
        lay.addStretch(1)
        return page

    def _serial_page(self) -> QWidget:
        page = QWidget()
        note = QLabel("Printers and mills on this computer's USB ports: Imewe asks each port what answers "
                      "(Marlin or GRBL firmware). Ports a machine already uses are left alone.")
        note.setWordWrap(True)
        self.scan_button = QPushButton("Scan USB / serial ports")
        self.scan_button.setObjectName("scanSerial")
        self.scan_button.clicked.connect(self.scan_serial)
        self.serial_table = QTableWidget(0, 3)
        self.serial_table.setObjectName("serialFound")
        self.serial_table.setHorizontalHeaderLabels(["Port", "Firmware", "Description"])
        self.serial_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.serial_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.serial_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.serial_table.verticalHeader().setVisible(False)
        self.serial_table.horizontalHeader().setStretchLastSection(True)
        self.serial_status = QLabel("Not scanned yet.")
        self.serial_status.setObjectName("serialStatus")
        self.serial_status.setStyleSheet("color: #8b949e;")
        self.serial_name = QLineEdit(placeholderText="e.g. Ender 3 on USB")
        self.serial_process = QComboBox()
        for process in ProcessType:
            self.serial_process.addItem(process_word(process), process.value)
        form = QFormLayout()
        form.addRow("Name", self.serial_name)
        form.addRow("It is a", self.serial_process)
        self.serial_table.itemSelectionChanged.connect(self._serial_picked)
        lay = QVBoxLayout(page)
        lay.addWidget(note)
        lay.addWidget(self.scan_button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.serial_table, 1)
        lay.addWidget(self.serial_status)
        lay.addLayout(form)
        return page

    def _agents_page(self) -> QWidget:
        self.agents = AgentsPage(self.local, self.error.setText)
        self.agents_table = self.agents.table
        return self.agents

    def refresh_agents(self) -> None:
        self.agents.refresh()

    def page(self) -> str:
        return ("network", "simulated", "serial", "agent")[self.pages.currentIndex()]

    def _page_changed(self, _index: int) -> None:
        self.error.setText("")
        page = self.page()
        self.add_button.setEnabled(page != "agent")
        if page == "agent":
            self.refresh_agents()

    def scan_serial(self) -> None:
        if self.local is None:
            return
        self.scan_button.setEnabled(False)
        self.serial_status.setText("Asking every port… (a few seconds)")
        spawn(self.local.scan_serial(), self._scanned, self._scan_failed)

    def _scanned(self, finds: list[SerialFind]) -> None:
        self.scan_button.setEnabled(True)
        self._serial = list(finds)
        self.serial_table.setRowCount(len(finds))
        for row, f in enumerate(finds):
            for col, text in enumerate([f.port, f.firmware or f.protocol, f.description]):
                self.serial_table.setItem(row, col, QTableWidgetItem(text))
        self.serial_status.setText(f"{len(finds)} machine(s) answered." if finds else
                                   "Nothing answered: is the machine on and its USB cable in? Then scan again.")
        if finds:
            self.serial_table.selectRow(0)

    def _scan_failed(self, exc: Exception) -> None:
        self.scan_button.setEnabled(True)
        self.serial_status.setText(f"The scan failed: {exc}")

    def _serial_picked(self) -> None:
        rows = {i.row() for i in self.serial_table.selectedItems()}
        if not rows:
            return
        found = self._serial[min(rows)]
        guess = SERIAL_GUESS.get(found.protocol)
        if guess is not None:
            self.serial_process.setCurrentIndex(max(0, self.serial_process.findData(guess)))

    # ------------------------------------------------------------ what was found
    def refresh(self) -> None:
        try:
            self._found = list(self.machines.found())
        except ImeweError as exc:
            self._found = []
            self.error.setText(str(exc))
        self.table.setRowCount(len(self._found))
        for row, m in enumerate(self._found):
            for col, text in enumerate([m.name, m.label, m.model or "-", m.version or "-", m.address]):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.none_found.setVisible(not self._found)
        if self._found and not self.table.selectedItems():
            self.table.selectRow(0)

    def _picked(self) -> None:
        rows = {i.row() for i in self.table.selectedItems()}
        if not rows:
            return
        m = self._found[min(rows)]
        self.kind.setCurrentIndex(max(0, self.kind.findData(m.kind)))
        self.name.setText(m.name)
        self.address.setText(m.address)
        self.fields["serial"].setText(m.serial)
        self._show_fields(m.asks_for)

    def _show_fields(self, asks: tuple[str, ...] | None = None) -> None:
        kind = self.kind.currentData()
        if asks is None:
            asks = self.machines.kinds().get(kind, ("", ()))[1]
        for key, edit in self.fields.items():
            self._form.setRowVisible(edit, key in asks)

    # ------------------------------------------------------------ adding
    def values(self) -> tuple[str, str, str, dict[str, str]]:
        kind = str(self.kind.currentData() or "")
        shown = {k: e.text() for k, e in self.fields.items() if self._form.isRowVisible(e) and e.text().strip()}
        if self.fields["serial"].text().strip():
            shown["serial"] = self.fields["serial"].text().strip()
        return self.name.text(), kind, self.address.text(), shown

    def submit(self) -> None:
        page = self.page()
        if page == "simulated" and self.local is not None:
            self.error.setText("Adding…")
            self.add_button.setEnabled(False)
            spawn(self.local.add_simulated(self.sim_name.text(), str(self.sim_process.currentData()),
                                           self.sim_location.text()), self._done, self._failed)
            return
        if page == "serial" and self.local is not None:
            rows = sorted({i.row() for i in self.serial_table.selectedItems()})
            if not rows:
                self.error.setText("Scan the ports and pick the machine first.")
                return
            self.error.setText("Adding…")
            self.add_button.setEnabled(False)
            spawn(self.local.add_serial(self.serial_name.text(), self._serial[rows[0]],
                                        str(self.serial_process.currentData())), self._done, self._failed)
            return
        name, kind, address, secrets = self.values()
        self.error.setText("Asking the machine…")
        self.add_button.setEnabled(False)
        spawn(self.machines.add(name, kind, address, secrets), self._done, self._failed)

    def _done(self, node: Any) -> None:
        self.add_button.setEnabled(True)
        for edit in self.fields.values():
            edit.clear()  # secrets do not linger in the widget
        self.error.setText("")
        self.added.emit(node)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self.add_button.setEnabled(True)
        self.error.setText(str(exc) if isinstance(exc, ImeweError) else f"could not add it: {type(exc).__name__}")
