"""The fleet as a Qt item model (one row per machine) and the filter/sort proxy shared by tiles and table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush

from app.core.domain.entities import Node
from app.core.domain.enums import NodeState, Severity
from app.core.jobs.eta import Eta
from app.ui.eta_view import eta_text, node_eta
from app.ui.live_data import LiveData, temperature_label, temperatures
from app.ui.theme import SEVERITY_COLOURS, node_colour
from app.ui.words import node_state_word, process_word

NODE_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2  # a MachineRow for the tile painter
SORT_ROLE = Qt.ItemDataRole.UserRole + 3

COLUMNS = ["Machine", "Process", "State", "Area", "Material", "Job", "Progress", "Left · done at", "Temp °C",
           "Power W", "Alerts", "Software"]
ETA_COL = 7
_Index = QModelIndex | QPersistentModelIndex
BUSY = {NodeState.ASSIGNED, NodeState.EXECUTING, NodeState.ERROR}


@dataclass(slots=True)
class MachineRow:
    """Everything a tile or a row shows for one machine, computed once per repaint."""

    node: Node
    job: str
    progress: float | None
    temps: list[tuple[str, float]]
    power_w: float | None
    alert: Severity | None
    alerts: int
    eta: Eta | None = None
    eta_text: str = ""


def key_temperatures(metrics: dict[str, float]) -> list[tuple[str, float]]:
    """Temperatures worth a glance: readings named ``*_c`` that are not targets, hottest first."""
    temps = [(temperature_label(k), v) for k, v in temperatures(metrics).items()]
    return sorted(temps, key=lambda kv: -kv[1])[:2]


class FleetModel(QAbstractTableModel):
    def __init__(self, nodes: Callable[[], list[Node]], live: LiveData, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source = nodes
        self._live = live
        self._nodes: list[Node] = []
        self._row_of: dict[UUID, int] = {}
        self.reload()

    # ------------------------------------------------------------ updates
    def reload(self) -> None:
        self.beginResetModel()
        self._nodes = list(self._source())
        self._row_of = {n.id: i for i, n in enumerate(self._nodes)}
        self.endResetModel()

    def refresh(self, ids: set[UUID] | None = None) -> None:
        """Re-read the given machines (the fleet replaces a Node object on every change) and repaint them."""
        current = {n.id: n for n in self._source()}
        if set(current) != set(self._row_of):
            self.reload()
            return
        rows = range(len(self._nodes)) if ids is None else [self._row_of[i] for i in ids if i in self._row_of]
        rows = list(rows)
        if not rows:
            return
        for r in rows:
            self._nodes[r] = current[self._nodes[r].id]
        # One signal per run of neighbouring rows: views repaint only what changed, and hundreds of machines
        # changing at once still cost a handful of signals.
        rows.sort()
        start = prev = rows[0]
        for r in [*rows[1:], None]:
            if r is not None and r - prev <= 2:
                prev = r
                continue
            self.dataChanged.emit(self.index(start, 0), self.index(prev, len(COLUMNS) - 1))
            if r is not None:
                start = prev = r

    def node_at(self, row: int) -> Node:
        return self._nodes[row]

    def row_of(self, node_id: UUID) -> int | None:
        return self._row_of.get(node_id)

    def machine_row(self, node: Node) -> MachineRow:
        metrics = self._live.latest(node.id)
        job = ""
        progress = None
        # A machine shows its work while it has some; an idle one may still echo its last job id.
        if node.state in BUSY:
            job_id = self._live.current_job(node.id) or (node.active_jobs[0] if node.active_jobs else None)
            job = self._live.job_names.get(job_id, str(job_id)[:8]) if job_id else ""
            progress = self._live.current_progress(node.id)
        power = metrics.get("power_w", node.energy_level or None)
        open_alerts = self._live.open_alerts(node.id)
        eta = node_eta(self._live, node) if node.state in BUSY else None
        return MachineRow(node, job, progress, key_temperatures(metrics), power, self._live.worst_open(node.id),
                          len(open_alerts), eta, eta_text(eta, self._live, short=True))

    # ------------------------------------------------------------ Qt model API
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._nodes)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._nodes):
            return None
        node = self._nodes[index.row()]
        col = index.column()
        if role == NODE_ROLE:
            return node
        if role == ROW_ROLE:
            return self.machine_row(node)
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            return self._cell(node, col, role == SORT_ROLE)
        if role == Qt.ItemDataRole.ForegroundRole and col == 2:
            return QBrush(node_colour(node.state))
        if role == Qt.ItemDataRole.ForegroundRole and col == 10:
            sev = self._live.worst_open(node.id)
            return QBrush(SEVERITY_COLOURS[sev]) if sev else None
        if role == Qt.ItemDataRole.ToolTipRole:
            text = f"{node.name}: {node_state_word(node.state, node.process)}\n{node.address or 'no address'} ({node.driver})"
            eta = node_eta(self._live, node) if node.state in BUSY else None
            return text + (f"\n{eta_text(eta, self._live)}" if eta else "")
        return None

    def _cell(self, node: Node, col: int, for_sort: bool) -> Any:
        if col == 0:
            return node.name.lower() if for_sort else node.name
        if col == 1:
            return node.process.value if for_sort else process_word(node.process)
        if col == 2:
            return node.state.value if for_sort else node_state_word(node.state, node.process)
        if col == 3:
            return node.location
        if col == 4:
            return node.capabilities.loaded_material or ""
        row = self.machine_row(node)
        if col == 5:
            return row.job
        if col == 6:
            if for_sort:
                return -1.0 if row.progress is None else row.progress
            return "" if row.progress is None else f"{row.progress * 100:.0f} %"
        if col == ETA_COL:
            if for_sort:
                return row.eta.left_s if row.eta else 1e18
            return row.eta_text
        if col == 8:
            if for_sort:
                return row.temps[0][1] if row.temps else -1e9
            return "  ".join(f"{n} {v:.0f}" for n, v in row.temps)
        if col == 9:
            if for_sort:
                return row.power_w or 0.0
            return "" if row.power_w is None else f"{row.power_w:.0f}"
        if col == 10:
            return row.alerts if for_sort else (str(row.alerts) if row.alerts else "")
        if col == 11:  # a node agent's or a network printer's software version
            return node.software_version or ("" if for_sort else "-")
        return None


class FleetFilter(QSortFilterProxyModel):
    """Filters by process, state, site area, material and free text; sorts on typed values."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process = ""
        self.state = ""
        self.area = ""
        self.material = ""
        self.text = ""
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_filters(self, **kw: str) -> None:
        for key, value in kw.items():
            if not hasattr(self, key):
                raise AttributeError(key)
            setattr(self, key, value.strip().lower() if key == "text" else value)
        self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        if not isinstance(model, FleetModel):
            return True
        node = model.node_at(source_row)
        caps = node.capabilities
        if self.process and node.process.value != self.process:
            return False
        if self.state and node.state.value != self.state:
            return False
        if self.area and node.location != self.area:
            return False
        if self.material and self.material != (caps.loaded_material or "") and self.material not in caps.materials:
            return False
        if self.text:
            hay = " ".join((node.name, node.location, node.process.value, node.state.value, node.address,
                            process_word(node.process), node_state_word(node.state, node.process),
                            caps.loaded_material or "", str(node.id))).lower()
            return self.text in hay
        return True
