"""Alerts: a list with severity, source and time, acknowledge, and a toast for critical ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.bus import EventBus
from app.core.domain.entities import Alert
from app.core.domain.enums import Severity
from app.core.events import AlertAcknowledged
from app.ui.live_data import LiveData
from app.ui.ports import AlertsPort, NodeNames
from app.ui.tasks import spawn
from app.ui.theme import SEVERITY_COLOURS

ID_ROLE = Qt.ItemDataRole.UserRole + 21


EMPTY_TEXT = ("No open alerts: every machine is within its limits.\n\nAlerts appear here when a machine reports a "
              "fault or a reading crosses a rule: a heater that runs away or cannot reach its target, material "
              "running low, a lost link, vibration out of range. Critical ones also pop up at the bottom right. "
              "Select one and press Acknowledge (Ctrl+K) once it is handled; 'show acknowledged' lists those too.")

class AlertsPanel(QWidget):
    message = Signal(str)
    count_changed = Signal(int, int)  # open alerts, open critical alerts
    machine_clicked = Signal(object)  # node id

    def __init__(self, alerts: AlertsPort | None, live: LiveData, bus: EventBus, name_of: NodeNames,
                 parent: QWidget | None = None) -> None:
        """``alerts``: the site's alert service (None when telemetry is not wired: acknowledgements then stay in
        this window and go out on the ``bus``); ``name_of``: a machine's name for the Source column."""
        super().__init__(parent)
        self.live = live
        self.bus = bus
        self.name_of = name_of
        self.service = alerts
        self.table = QTableWidget(0, 6)
        self.table.setObjectName("alertsTable")
        self.table.setHorizontalHeaderLabels(["Severity", "Time", "Source", "Type", "Message", "Acknowledged"])
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)  # the message gets the width
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.ack_btn = QPushButton("Acknowledge")
        self.ack_btn.setObjectName("ackAlert")
        self.ack_all_btn = QPushButton("Acknowledge all shown")
        self.show_acked = QCheckBox("show acknowledged")
        bar = QHBoxLayout()
        bar.addWidget(self.ack_btn)
        bar.addWidget(self.ack_all_btn)
        bar.addStretch(1)
        bar.addWidget(self.show_acked)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(bar)
        lay.addWidget(self.table, 1)
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setObjectName("alertsEmpty")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #8b949e; font-size: 13pt; padding: 24px;")
        lay.addWidget(self.empty, 1)
        self.ack_btn.clicked.connect(self.acknowledge_selected)
        self.ack_all_btn.clicked.connect(self.acknowledge_all)
        self.show_acked.toggled.connect(lambda _: self.refresh())
        self.table.cellDoubleClicked.connect(self._double)
        self.refresh()

    def load_open(self) -> None:
        """The alerts already open on the site (new ones arrive on the bus). The window calls it once and shows
        a failure on top of this panel."""
        if self.service is not None:
            for a in self.service.open_alerts():
                self.live.add_alert(a)
        self.refresh()

    def source_of(self, a: Alert) -> str:
        return self.name_of(a.node_id) if a.node_id is not None else a.source

    def visible_alerts(self) -> list[Alert]:
        alerts = list(self.live.alerts.values())
        if not self.show_acked.isChecked():
            alerts = [a for a in alerts if not a.acknowledged]
        return sorted(alerts, key=lambda a: (a.acknowledged, -a.severity.rank, -a.raised_at.timestamp()))

    def refresh(self, _new: object = None) -> None:
        alerts = self.visible_alerts()
        self.table.setRowCount(len(alerts))
        for r, a in enumerate(alerts):
            cells = [a.severity.value.capitalize(), a.raised_at.astimezone(self.live.zone).strftime("%H:%M:%S"),
                     self.source_of(a), a.type.replace("_", " "), a.message,
                     f"{a.acknowledged_by} {a.acknowledged_at:%H:%M}" if a.acknowledged_at else ""]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, a.id)
                item.setToolTip(f"{self.source_of(a)}: {a.message}")  # the whole message where the column cuts it
                if c == 0:
                    item.setForeground(QBrush(QColor(SEVERITY_COLOURS[a.severity])))
                self.table.setItem(r, c, item)
        self.table.setVisible(bool(alerts))
        self.empty.setVisible(not alerts)
        open_ = self.live.open_alerts()
        self.count_changed.emit(len(open_), sum(a.severity is Severity.CRITICAL for a in open_))

    def _double(self, row: int, _col: int) -> None:
        item = self.table.item(row, 0)
        alert = self.live.alerts.get(item.data(ID_ROLE)) if item else None
        if alert is not None and alert.node_id is not None:
            self.machine_clicked.emit(alert.node_id)

    def selected_ids(self) -> list[UUID]:
        rows = {i.row() for i in self.table.selectedIndexes()}
        return [self.table.item(r, 0).data(ID_ROLE) for r in sorted(rows)]

    def acknowledge_selected(self) -> None:
        for alert_id in self.selected_ids():
            self.acknowledge(alert_id)

    def acknowledge_all(self) -> None:
        for a in self.visible_alerts():
            if not a.acknowledged:
                self.acknowledge(a.id)

    def acknowledge(self, alert_id: UUID, by: str = "operator") -> None:
        svc = self.service
        alert = self.live.alerts.get(alert_id)
        if alert is None or alert.acknowledged:
            return
        if svc is not None:
            spawn(svc.acknowledge(alert_id, by), lambda _ok: self.refresh(),
                  lambda e: self.message.emit(f"alert could not be acknowledged: {e}"))
            return
        # No alert service yet: the acknowledgement lives in this window, and the bus tells the others.
        alert.acknowledged_at, alert.acknowledged_by = datetime.now(UTC), by
        self.bus.publish(AlertAcknowledged(alert_id, by))
        self.refresh()


class Toast(QFrame):
    """A desktop-style notice in the window's top-right corner; it goes away by itself."""

    gone = Signal()

    def __init__(self, parent: QWidget, text: str, ms: int = 8000) -> None:
        super().__init__(parent)
        self.setObjectName("toast")
        lay = QHBoxLayout(self)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        close = QPushButton("✕")
        close.setFlat(True)
        close.clicked.connect(self.close)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.setFixedWidth(min(460, max(parent.width() // 3, 300)))
        self.setFixedHeight(self.heightForWidth(self.width()) if self.hasHeightForWidth() else self.sizeHint().height())
        self.move(parent.width() - self.width() - 24, 80)
        self.raise_()
        self.show()
        self._timer = QTimer(self)  # owned by the toast: gone with it if the window goes first
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.close)
        self._timer.start(ms)

    def closeEvent(self, event: Any) -> None:
        super().closeEvent(event)
        self.gone.emit()
