"""Submitting a job: drop part files (one part per file), set process, material, quantity, size, priority and
due date; the core validates, and each error appears beside the field it is about.

Each file is read as it is added (off the UI thread): its size fills in, the machines it fits are named, and a
file that is empty or broken is refused there and then. The last file added (or the one whose "fits" button
is pressed) shows in the 3D preview beside the list."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDateTime, Qt, QTimeZone, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.domain.entities import Node
from app.core.domain.enums import ProcessType
from app.core.domain.errors import ImeweError, ValidationError
from app.core.domain.materials import KNOWN_MATERIALS, MATERIALS_BY_PROCESS
from app.ui.part_files import ACCEPTED, PartGuess, accepts, inspect_file, part_name
from app.ui.preview_pane import PreviewPane
from app.ui.tasks import spawn

log = logging.getLogger(__name__)
_FIELD = re.compile(r"^parts\[(\d+)\](?:\.(\w+))?")


@dataclass(slots=True)
class PartRow:
    path: Path
    name: QLineEdit
    process: QComboBox
    material: QComboBox
    quantity: QSpinBox
    size: QLineEdit
    fit: QPushButton
    error: QLabel
    remove: QPushButton

    def widgets(self) -> tuple[QWidget, ...]:
        return (self.name, self.process, self.material, self.quantity, self.size, self.fit, self.error, self.remove)

    def fields(self) -> dict[str, QWidget]:
        return {"name": self.name, "process": self.process, "material": self.material,
                "quantity": self.quantity, "size": self.size}


def materials_for(all_nodes: list[Node], process: ProcessType) -> list[str]:
    """Materials loaded on this site's machines of the process first, then what they take, then the rest."""
    nodes = [n for n in all_nodes if n.process is process]
    loaded = sorted({n.capabilities.loaded_material for n in nodes if n.capabilities.loaded_material})
    taken = sorted({m for n in nodes for m in n.capabilities.materials} - set(loaded))
    rest = sorted(set(MATERIALS_BY_PROCESS[process] or KNOWN_MATERIALS) - set(loaded) - set(taken))
    return loaded + taken + rest


def due_zone(zone: tzinfo | None) -> QTimeZone:
    """The site's zone for Qt (by its IANA name); this computer's when the site names none, UTC when Qt does
    not know it."""
    key = getattr(zone, "key", None)
    if key:
        qzone = QTimeZone(key.encode())
        if qzone.isValid():
            return qzone
    return QTimeZone.utc() if zone is not None else QTimeZone.systemTimeZone()


def _mark(widget: QWidget, bad: bool) -> None:
    widget.setProperty("invalid", bad)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


class SubmitDialog(QDialog):
    submitted = Signal(object)  # the stored Job

    def __init__(self, jobs: Any, nodes: Callable[[], list[Node]] | None = None,
                 parent: QWidget | None = None, *, now: Callable[[], datetime] | None = None,
                 zone: tzinfo | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self._nodes = nodes or list
        self.setWindowTitle("New job")
        self.setAcceptDrops(True)
        self.resize(1240, 660)
        self.rows: list[PartRow] = []
        self.refused: list[str] = []  # files refused when added (empty, broken, moving nothing)

        self.name = QLineEdit(placeholderText="e.g. Bracket batch for line 2")
        self.name_error = self._error_label()
        self.priority = QSpinBox(minimum=1, maximum=10, value=5)
        self.priority_error = self._error_label()
        self.has_due = QCheckBox("due by")
        # the site's clock and zone (the demo's clock runs on its own day), as every other time in the window
        when = (now or (lambda: datetime.now(UTC)))() + timedelta(days=2)
        qzone = due_zone(zone)
        self.due = QDateTimeEdit(QDateTime.fromSecsSinceEpoch(int(when.timestamp()), qzone))
        self.due.setTimeZone(qzone)
        self.due.setDisplayFormat("yyyy-MM-dd HH:mm t")
        self.due.setCalendarPopup(True)
        self.due.setEnabled(False)
        self.has_due.toggled.connect(self.due.setEnabled)
        self.due_error = self._error_label()
        form = QFormLayout()
        form.addRow("Job name", self._with_error(self.name, self.name_error))
        form.addRow("Priority (10 = most urgent)", self._with_error(self.priority, self.priority_error))
        due_row = QWidget()
        due_lay = QGridLayout(due_row)
        due_lay.setContentsMargins(0, 0, 0, 0)
        due_lay.addWidget(self.has_due, 0, 0)
        due_lay.addWidget(self.due, 0, 1)
        due_lay.addWidget(self.due_error, 0, 2)
        form.addRow("Due date", due_row)

        self.drop = QLabel("Drop part files here: STL, OBJ, PLY, 3MF or G-code (one part per file)")
        self.drop.setObjectName("dropZone")
        self.drop.setAlignment(Qt.AlignmentFlag.AlignCenter)
        browse = QPushButton("Add files…")
        browse.clicked.connect(self._browse)
        self.parts_error = self._error_label()
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        for c, h in enumerate(["Part", "Process", "Material", "Qty", "Size x y z (mm)", "Fits", "", ""]):
            self.grid.addWidget(QLabel(f"<b>{h}</b>"), 0, c)
        self.grid.setColumnStretch(0, 3)
        self.grid.setColumnStretch(6, 3)
        rows_host = QWidget()  # the rows from the top, under their header (not spread over the empty list)
        rows_lay = QVBoxLayout(rows_host)
        rows_lay.setContentsMargins(0, 0, 0, 0)
        rows_lay.addWidget(self.grid_host)
        rows_lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(rows_host)

        self.error = self._error_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.submit_btn = self.buttons.addButton("Submit job", QDialogButtonBox.ButtonRole.AcceptRole)
        self.submit_btn.setObjectName("submitJob")
        self.submit_btn.clicked.connect(self.submit)
        self.buttons.rejected.connect(self.reject)

        self.preview = PreviewPane("The part's 3D preview shows here as files are added")
        self.preview.setMinimumWidth(300)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(form)
        lay.addWidget(self.drop)
        lay.addWidget(browse, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.parts_error)
        lay.addWidget(scroll, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.preview)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        outer = QVBoxLayout(self)
        outer.addWidget(split, 1)
        outer.addWidget(self.error)
        outer.addWidget(self.buttons)
        self.finished.connect(lambda _r: self.preview.close_views())

    @staticmethod
    def _error_label() -> QLabel:
        label = QLabel()
        label.setObjectName("fieldError")
        label.setWordWrap(True)
        label.hide()
        return label

    @staticmethod
    def _with_error(widget: QWidget, error: QLabel) -> QWidget:
        host = QWidget()
        lay = QGridLayout(host)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(widget, 0, 0)
        lay.addWidget(error, 0, 1)
        lay.setColumnStretch(0, 2)
        lay.setColumnStretch(1, 3)
        return host

    # ------------------------------------------------------------ files in
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(u.isLocalFile() and accepts(u.toLocalFile()) for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        self.add_files(paths)
        event.acceptProposedAction()

    def _browse(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(ACCEPTED))
        dlg = QFileDialog(self, "Part files", "", f"Part files ({patterns})")
        dlg.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dlg.filesSelected.connect(lambda files: self.add_files([Path(f) for f in files]))
        dlg.open()

    def add_files(self, paths: list[Path]) -> None:
        self.parts_error.hide()
        rejected = [p.name for p in paths if not accepts(p)]
        if rejected:
            self._show(self.parts_error, f"not part files (use STL, OBJ, PLY, 3MF or G-code): {', '.join(rejected)}")
        for p in paths:
            if accepts(p):
                row = self._add_row(p, PartGuess(p, part_name(p), ProcessType.FDM, None, "reading…"))
                self._guess_later(row)
        if not self.name.text().strip() and self.rows:
            self.name.setText(self.rows[0].name.text())

    def _guess_later(self, row: PartRow) -> None:
        async def read() -> PartGuess:
            return await asyncio.get_running_loop().run_in_executor(None, inspect_file, row.path)

        def fill(g: PartGuess) -> None:
            if row not in self.rows:
                return
            self._set_process(row, g.process)
            if g.size_mm and not row.size.text().strip():
                row.size.setText(" x ".join(f"{v:g}" for v in g.size_mm))
            row.name.setToolTip(f"{g.path}\n{g.note}")
            self._update_fit(row)
            self.show_preview(row)

        def refuse(exc: Exception) -> None:
            # an empty or broken file never becomes a row: the operator learns now, not at submit
            if row in self.rows:
                self.remove_row(row)
            text = str(exc) if isinstance(exc, ImeweError) else f"{row.path.name}: cannot be read ({type(exc).__name__})"
            self.refused.append(text)
            self._show(self.parts_error, "Refused: " + "; ".join(self.refused[-3:]))

        spawn(read(), fill, refuse)

    def _fitting(self, row: PartRow) -> list[Node]:
        try:
            size = tuple(float(v) for v in re.split(r"[x,; ]+", row.size.text().strip()) if v)
        except ValueError:
            return []
        if len(size) != 3:
            return []
        process = ProcessType(row.process.currentData())
        return [n for n in self._nodes() if n.process is process and n.state.in_service
                and n.capabilities.fits(size)]  # type: ignore[arg-type]

    def _update_fit(self, row: PartRow) -> None:
        if not row.size.text().strip():
            row.fit.setText("reading…")
            return
        fitting = self._fitting(row)
        process = row.process.currentData()
        if not fitting:
            row.fit.setText(f"no {process} machine here")
        elif len(fitting) == 1:
            row.fit.setText(f"fits {fitting[0].name}")
        else:
            row.fit.setText(f"fits {len(fitting)} machines")
        row.fit.setToolTip("\n".join(n.name for n in fitting) + ("\n" if fitting else "") + "Press to preview")

    def show_preview(self, row: PartRow) -> None:
        fitting = self._fitting(row)
        machine = (fitting[0].name, fitting[0].capabilities) if fitting else None
        self.preview.show_file(row.path, machine)

    def _add_row(self, path: Path, guess: PartGuess) -> PartRow:
        process = QComboBox()
        for p in ProcessType:
            process.addItem(p.value, p.value)
        material = QComboBox()
        material.setEditable(True)  # an operator may type a material; the core says if it is unknown
        row = PartRow(path, QLineEdit(guess.name), process, material, QSpinBox(minimum=1, maximum=10_000),
                      QLineEdit(placeholderText="20 x 20 x 20"), QPushButton(guess.note), self._error_label(),
                      QPushButton("Remove"))
        row.fit.setFlat(True)
        row.fit.clicked.connect(lambda: self.show_preview(row))
        r = len(self.rows) + 1
        for c, w in enumerate(row.widgets()):
            self.grid.addWidget(w, r, c)
        self.rows.append(row)
        self._set_process(row, guess.process)
        process.currentIndexChanged.connect(lambda _: self._set_process(row, ProcessType(process.currentData())))
        process.currentIndexChanged.connect(lambda _: self._update_fit(row))
        row.size.editingFinished.connect(lambda: self._update_fit(row))
        row.remove.clicked.connect(lambda: self.remove_row(row))
        return row

    def _set_process(self, row: PartRow, process: ProcessType) -> None:
        i = row.process.findData(process.value)
        row.process.blockSignals(True)
        row.process.setCurrentIndex(i)
        row.process.blockSignals(False)
        current = row.material.currentText()
        row.material.clear()
        for m in self.materials_for(process):
            row.material.addItem(m)
        j = row.material.findText(current)
        if j >= 0:
            row.material.setCurrentIndex(j)

    def materials_for(self, process: ProcessType) -> list[str]:
        return materials_for(self._nodes(), process)

    def remove_row(self, row: PartRow) -> None:
        self.rows.remove(row)
        for w in row.widgets():
            self.grid.removeWidget(w)
            w.deleteLater()

    # ------------------------------------------------------------ submit
    def spec(self) -> dict[str, Any]:
        """The job as the core's submit() takes it."""
        due = None
        if self.has_due.isChecked():
            due = self.due.dateTime().toUTC().toString(Qt.DateFormat.ISODate)
        parts = []
        for row in self.rows:
            parts.append({"name": row.name.text(), "process": row.process.currentData(),
                          "material": row.material.currentText(), "quantity": row.quantity.value(),
                          "size_mm": row.size.text(), "file": str(row.path)})
        return {"name": self.name.text(), "priority": self.priority.value(), "due_at": due, "parts": parts,
                "metadata": {"source": "control room"}}

    def submit(self) -> None:
        self.clear_errors()
        self.submit_btn.setEnabled(False)

        def ok(job: Any) -> None:
            self.submit_btn.setEnabled(True)
            self.submitted.emit(job)
            self.accept()

        def failed(exc: Exception) -> None:
            self.submit_btn.setEnabled(True)
            if isinstance(exc, ValidationError):
                self.show_validation_error(exc)
            elif isinstance(exc, ImeweError):
                self._show(self.error, str(exc))
            else:
                self._show(self.error, f"the job could not be stored ({type(exc).__name__}); see the log")

        spawn(self.jobs.submit(self.spec(), actor="operator"), ok, failed)

    def clear_errors(self) -> None:
        for label in (self.name_error, self.priority_error, self.due_error, self.parts_error, self.error):
            label.hide()
        for w in (self.name, self.priority, self.due):
            _mark(w, False)
        for row in self.rows:
            row.error.hide()
            for w in row.fields().values():
                _mark(w, False)

    def _show(self, label: QLabel, text: str) -> None:
        label.setText(text)
        label.show()

    def show_validation_error(self, exc: ValidationError) -> QWidget | None:
        """Put the message beside the field it names; returns the widget marked, if any."""
        field = exc.field or ""
        m = _FIELD.match(field)
        if m and int(m.group(1)) < len(self.rows):
            row = self.rows[int(m.group(1))]
            self._show(row.error, str(exc))
            widget = row.fields().get(m.group(2) or "")
            if widget is not None:
                _mark(widget, True)
                widget.setFocus()
            return widget
        top = {"name": (self.name, self.name_error), "priority": (self.priority, self.priority_error),
               "due_at": (self.due, self.due_error), "parts": (None, self.parts_error)}
        if field in top:
            widget, label = top[field]
            self._show(label, str(exc) if field != "parts" or self.rows else "drop at least one part file above")
            if widget is not None:
                _mark(widget, True)
                widget.setFocus()
            return widget
        self._show(self.error, str(exc))
        return None
