"""The fleet dashboard: filter bar + tiles or table over one filtered model."""

from __future__ import annotations

from uuid import UUID

from PySide6.QtCore import QModelIndex, QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.domain.entities import Node
from app.core.domain.enums import NodeState, ProcessType
from app.core.domain.materials import KNOWN_MATERIALS
from app.ui.fleet_model import NODE_ROLE, FleetFilter, FleetModel
from app.ui.fleet_tiles import TileView
from app.ui.words import NODE_WORDS, process_word

MAX_COLUMN = 240  # px: a fitted column never takes more (a long job name is elided, its tooltip has it all)


class FleetPanel(QWidget):
    machine_selected = Signal(object)  # Node
    machine_opened = Signal(object)  # Node (double click / Enter)
    add_machine_requested = Signal()  # the empty state's "Add machine…" button
    agents_review_requested = Signal()  # the "node agents wait for you" banner's button

    def __init__(self, model: FleetModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = FleetFilter(self)
        self.proxy.setSourceModel(model)

        self.search = QLineEdit(placeholderText="Search machines (name, area, material, address)…")
        self.search.setClearButtonEnabled(True)
        self.search.setObjectName("fleetSearch")
        self.search.setMinimumWidth(240)
        self.process = self._combo("All processes", [(process_word(p), p.value) for p in ProcessType])
        self.state = self._combo("All states", [(NODE_WORDS[s], s.value) for s in NodeState])
        self.area = self._combo("All areas", [])
        self.material = self._combo("All materials", [(m, m) for m in sorted(KNOWN_MATERIALS)])
        self.count = QLabel()
        self.tiles_btn = QPushButton("Tiles")
        self.table_btn = QPushButton("Table")
        for b in (self.tiles_btn, self.table_btn):
            b.setCheckable(True)
        group = QButtonGroup(self)
        group.addButton(self.tiles_btn)
        group.addButton(self.table_btn)
        self.tiles_btn.setChecked(True)

        # Search and view switch on one row, the four filters below: every filter reads in full on a
        # 1366-pixel screen with the machine panel open.
        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.count)
        bar.addWidget(self.tiles_btn)
        bar.addWidget(self.table_btn)
        filters = QHBoxLayout()
        for w in (self.process, self.state, self.area, self.material):
            w.setMinimumContentsLength(10)
            w.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            filters.addWidget(w, 1)

        self.tiles = TileView()
        self.tiles.setModel(self.proxy)
        self.table = QTableView()
        self.table.setObjectName("fleetTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        note = QLabel("No machines on this site yet.\n\nMachines on the network appear here by themselves; add a "
                      "network printer (OctoPrint, Klipper, PrusaLink, Bambu Lab, Duet) with the button below\n"
                      "or 'imewe nodes add NAME --driver octoprint --address URL --api-key KEY', or try "
                      "'imewe demo' for a simulated site.")
        note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        note.setWordWrap(True)  # the window must fit a 1366-pixel screen
        note.setStyleSheet("color: #8b949e; font-size: 14pt;")
        self.add_button = QPushButton("Add machine…")
        self.add_button.setObjectName("emptyAddMachine")
        self.add_button.clicked.connect(self.add_machine_requested)
        self.empty = QWidget()
        self.empty.setObjectName("emptyFleet")
        empty_lay = QVBoxLayout(self.empty)
        empty_lay.addStretch(1)
        empty_lay.addWidget(note)
        empty_lay.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_lay.addStretch(1)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.tiles)
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)
        self._view = "tiles"
        # the table's columns fit their contents (names, states, "Left · done at") until the operator sizes one
        self._user_sized = False
        self._fitting = False
        self.table.horizontalHeader().sectionResized.connect(self._section_resized)

        # Node agents heard on the network that a person has not accepted yet: they are not in the fleet.
        self.agents_banner = QWidget()
        self.agents_banner.setObjectName("agentsWaiting")
        self.agents_note = QLabel("")
        self.agents_note.setStyleSheet("color: #d29922;")
        self.agents_note.setWordWrap(True)
        review = QPushButton("Review keys…")
        review.clicked.connect(self.agents_review_requested)
        banner = QHBoxLayout(self.agents_banner)
        banner.setContentsMargins(0, 0, 0, 0)
        banner.addWidget(self.agents_note, 1)
        banner.addWidget(review)
        self.agents_banner.setVisible(False)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(bar)
        lay.addLayout(filters)
        lay.addWidget(self.agents_banner)
        lay.addWidget(self.stack, 1)

        self.search.textChanged.connect(lambda t: self._filter(text=t))
        self.process.currentIndexChanged.connect(lambda _: self._filter(process=self.process.currentData() or ""))
        self.state.currentIndexChanged.connect(lambda _: self._filter(state=self.state.currentData() or ""))
        self.area.currentIndexChanged.connect(lambda _: self._filter(area=self.area.currentData() or ""))
        self.material.currentIndexChanged.connect(lambda _: self._filter(material=self.material.currentData() or ""))
        self.tiles_btn.clicked.connect(lambda: self.show_view("tiles"))
        self.table_btn.clicked.connect(lambda: self.show_view("table"))
        for view in (self.tiles, self.table):
            view.selectionModel().currentChanged.connect(self._current_changed)
            view.activated.connect(self._activated)
            view.doubleClicked.connect(self._activated)
        model.modelReset.connect(self._areas_changed)
        model.modelReset.connect(self.fit_columns)
        model.modelReset.connect(self._update_count)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self._areas_changed()
        self._update_count()

    @staticmethod
    def _combo(all_label: str, values: list[tuple[str, str]]) -> QComboBox:
        box = QComboBox()
        box.addItem(all_label, "")
        for text, v in values:
            box.addItem(text, v)
        return box

    def _filter(self, **kw: str) -> None:
        self.proxy.set_filters(**kw)
        self._update_count()

    def _update_count(self, *_: object) -> None:
        self.count.setText(f"{self.proxy.rowCount()} / {self.model.rowCount()}")
        self.show_view(self._view)

    def _areas_changed(self) -> None:
        areas = sorted({self.model.node_at(r).location for r in range(self.model.rowCount())} - {""})
        current = self.area.currentData()
        self.area.blockSignals(True)
        self.area.clear()
        self.area.addItem("All areas", "")
        for a in areas:
            self.area.addItem(a, a)
        i = self.area.findData(current)
        self.area.setCurrentIndex(max(i, 0))
        self.area.blockSignals(False)

    def set_waiting_agents(self, names: list[str]) -> None:
        """Show who waits for a person to accept their key (hidden when nobody does)."""
        self.agents_banner.setVisible(bool(names))
        if names:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            self.agents_note.setText(f"{len(names)} node agent{'s' if len(names) > 1 else ''} wait"
                                     f"{'' if len(names) > 1 else 's'} for you to accept "
                                     f"{'their keys' if len(names) > 1 else 'its key'}: {shown}")

    def show_view(self, which: str) -> None:
        table = which == "table"
        self._view = "table" if table else "tiles"
        if self.model.rowCount() == 0:  # say how machines get here instead of an empty grid
            self.stack.setCurrentWidget(self.empty)
        else:
            self.stack.setCurrentWidget(self.table if table else self.tiles)
        (self.table_btn if table else self.tiles_btn).setChecked(True)
        if table:
            self.fit_columns()

    def fit_columns(self) -> None:
        """Each column as wide as its header and cells (at most ``MAX_COLUMN`` px): at 1366 x 768 the default
        100 px cut machine names, processes and the "Left · done at" header."""
        if self._user_sized or self._view != "table" or self.model.rowCount() == 0:
            return
        header = self.table.horizontalHeader()
        self._fitting = True
        try:
            for c in range(header.count()):
                want = max(self.table.sizeHintForColumn(c), header.sectionSizeHint(c)) + 8
                header.resizeSection(c, min(want, MAX_COLUMN))
        finally:
            self._fitting = False

    def _section_resized(self, *_: object) -> None:
        if not self._fitting and self.table.isVisible():
            self._user_sized = True

    def current_view(self) -> str:
        return self._view

    def _current_changed(self, current: QModelIndex, _prev: QModelIndex) -> None:
        node = current.data(NODE_ROLE) if current.isValid() else None
        if node is not None:
            self.machine_selected.emit(node)

    def _activated(self, index: QModelIndex) -> None:
        node = index.data(NODE_ROLE)
        if node is not None:
            self.machine_opened.emit(node)

    def selected_node(self) -> Node | None:
        view = self.table if self.current_view() == "table" else self.tiles
        idx = view.currentIndex()
        return idx.data(NODE_ROLE) if idx.isValid() else None

    def select(self, node_id: UUID) -> None:
        row = self.model.row_of(node_id)
        if row is None:
            return
        idx = self.proxy.mapFromSource(self.model.index(row, 0))
        if idx.isValid():
            for view in (self.tiles, self.table):
                view.setCurrentIndex(idx)
                view.scrollTo(idx)

    def save_state(self, s: QSettings) -> None:
        s.setValue("fleet/view", self.current_view())
        s.setValue("fleet/header", self.table.horizontalHeader().saveState())
        s.setValue("fleet/user_sized", "true" if self._user_sized else "false")

    def restore_state(self, s: QSettings) -> None:
        self.show_view(str(s.value("fleet/view", "tiles")))
        header = s.value("fleet/header")
        if header is not None:
            self.table.horizontalHeader().restoreState(header)
        # the widths the operator set by hand are kept; fitted ones are fitted again to today's contents
        self._user_sized = str(s.value("fleet/user_sized", "false")).lower() == "true"
        self.fit_columns()
