"""Add machine: network printers found on the network (zeroconf, SSDP) or typed in; the operator picks one, gives
its key or access code once, and it is registered with what it reports about itself."""

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
    QVBoxLayout,
    QWidget,
)

from app.core.domain.errors import ImeweError
from app.ui.ports import FoundMachineView, MachinesPort
from app.ui.tasks import spawn

log = logging.getLogger(__name__)
# What each secret is called on screen, and whether to hide what is typed.
FIELDS = {"api_key": ("API key", True), "access_code": ("Access code", True), "serial": ("Serial number", False),
          "user": ("User", False), "password": ("Password", True)}
COLUMNS = ["Name", "Kind", "Model", "Version", "Address"]


class AddMachineDialog(QDialog):
    added = Signal(object)  # the registered node

    def __init__(self, machines: MachinesPort, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.machines = machines
        self.setWindowTitle("Add machine")
        self.resize(820, 560)
        self._found: list[FoundMachineView] = []

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

        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.none_found)
        lay.addWidget(refresh, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.refresh()
        self._show_fields()

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
