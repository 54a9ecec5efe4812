"""Sites view: every linked site, its link health (connected, latency, last seen) and its summary (machines,
free capacity, energy, alerts), plus the pairing dialog that shows this site's ID (as a QR code when a QR
library is installed) and takes the other site's ID and address."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.sites.admin import check_address
from app.core.sites.site_id import parse_site_id, short_id
from app.core.sites.views import SiteView
from app.ui.ports import SitesPort
from app.ui.tasks import spawn

log = logging.getLogger(__name__)
COLUMNS = ["Site", "ID", "State", "Link", "Latency", "Last seen", "Machines", "Free now", "Energy", "Alerts",
           "Queued"]
ID_ROLE = Qt.ItemDataRole.UserRole + 31


def qr_pixmap(text: str, scale: int = 5) -> QPixmap | None:
    """A QR code of ``text`` if segno or qrcode is installed; None otherwise (the ID is shown as text)."""
    try:
        import io

        import segno  # type: ignore[import-not-found]

        buf = io.BytesIO()
        segno.make(text, error="m").save(buf, kind="png", scale=scale, border=2)
        data = buf.getvalue()
    except ImportError:
        try:
            import io

            import qrcode  # type: ignore[import-not-found]

            buf = io.BytesIO()
            qrcode.make(text, box_size=scale, border=2).save(buf, format="PNG")
            data = buf.getvalue()
        except ImportError:
            return None
    pix = QPixmap()
    return pix if pix.loadFromData(data, "PNG") else None


def _ago(ts: float | None, now: float) -> str:
    if not ts:
        return "never"
    s = max(0.0, now - ts)
    if s < 90:
        return f"{s:.0f} s ago"
    if s < 5400:
        return f"{s / 60:.0f} min ago"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def summary_cells(summary: dict[str, Any] | None) -> list[str]:
    """Machines, free capacity, energy and alerts as short text; dashes when the site sent nothing yet."""
    if not summary:
        return ["-", "-", "-", "-"]
    machines = summary.get("machines") or {}
    parts = []
    for process, states in sorted(machines.items()):
        total = sum(states.values())
        idle = states.get("IDLE", 0) + states.get("COMPLETED", 0)
        parts.append(f"{process} {idle}/{total}")
    free = summary.get("capacity") or []
    free_txt = ", ".join(f"{w.get('process')} x{w.get('machines')}" for w in free[:4]) or "none"
    energy = summary.get("energy")
    if energy:
        bits = []
        if "solar_w" in energy:
            bits.append(f"sun {energy['solar_w'] / 1000:.1f} kW")
        if "battery_pct" in energy:
            bits.append(f"bat {energy['battery_pct']:.0f}%")
        if "price_per_kwh" in energy:
            bits.append(f"{energy['price_per_kwh']:.2f}/kWh")
        energy_txt = ", ".join(bits) or "-"
    else:
        energy_txt = "unknown"
    return ["; ".join(parts) or "none", free_txt, energy_txt, str(summary.get("alerts", "-"))]


class PairDialog(QDialog):
    """Shows our ID (copy button, QR code) and takes the other site's ID and address."""

    def __init__(self, own_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pair with another site")
        self.own_id = own_id
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Give this site's ID to the admin of the other site:"))
        self.own_label = QLabel(own_id)
        self.own_label.setObjectName("ownSiteId")
        self.own_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.own_label.setStyleSheet("font-family: monospace; font-size: 13px;")
        copy = QPushButton("Copy")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.own_id))
        row = QHBoxLayout()
        row.addWidget(self.own_label, 1)
        row.addWidget(copy)
        lay.addLayout(row)
        self.qr_label = QLabel()
        self.qr_label.setObjectName("ownSiteQr")
        pix = qr_pixmap(own_id)
        if pix is not None:
            self.qr_label.setPixmap(pix)
        else:
            self.qr_label.setText("(install segno to show a QR code)")
        lay.addWidget(self.qr_label, 0, Qt.AlignmentFlag.AlignHCenter)
        form = QFormLayout()
        self.peer_id = QLineEdit()
        self.peer_id.setPlaceholderText("XXXXXXX-XXXXXXX-... (56 characters)")
        self.address = QLineEdit()
        self.address.setPlaceholderText("host:port, e.g. 10.0.0.5:47470 (empty: it dials us)")
        self.name = QLineEdit()
        form.addRow("Other site's ID", self.peer_id)
        form.addRow("Its address", self.address)
        form.addRow("Name", self.name)
        lay.addLayout(form)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c0392b;")
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _check(self) -> None:
        try:
            self.result_id = parse_site_id(self.peer_id.text())
            self.result_address = check_address(self.address.text())
        except Exception as exc:  # noqa: BLE001 - ValidationErrors, shown beside the fields
            self.error.setText(str(exc))
            return
        if self.result_id == self.own_id:
            self.error.setText("that is this site's own ID")
            return
        self.accept()



def empty_text(own_id: str) -> str:
    """What the Sites tab would show and how to get there, with this site's ID to give out."""
    head = ("No linked sites yet. Linked Imewe sites share their free capacity and can take jobs from each other; "
            "they show here with their link, latency and what they have free.\n\n")
    if not own_id:
        return head + "Site links are not running on this site ([sites] in config.toml, then restart)."
    return head + (f"This site's ID (give it to the other site's admin):\n{own_id}\n\n"
                   "Then press 'Pair a site...' and enter theirs; the link comes up once both sides have paired.")

class SitesPanel(QWidget):
    message = Signal(str)

    def __init__(self, sites: SitesPort | None = None, parent: QWidget | None = None, refresh_ms: int = 2000) -> None:
        """``sites``: the site links (``app.ui.ports.SitesPort``); None shows an empty view."""
        super().__init__(parent)
        self.sites = sites
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("sitesTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.pair_btn = QPushButton("Pair a site...")
        self.accept_btn = QPushButton("Accept")
        self.revoke_btn = QPushButton("Revoke")
        self.status = QLabel()
        bar = QHBoxLayout()
        for w in (self.pair_btn, self.accept_btn, self.revoke_btn):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.status)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(bar)
        lay.addWidget(self.table, 1)
        own = sites.identity.site_id if sites is not None else ""
        self.empty = QLabel(empty_text(own))
        self.empty.setObjectName("sitesEmpty")
        self.empty.setWordWrap(True)
        self.empty.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty.setStyleSheet("color: #8b949e; font-size: 13pt; padding: 24px;")
        lay.addWidget(self.empty, 1)
        self.table.setVisible(False)
        self.pair_btn.clicked.connect(self.open_pair_dialog)
        self.accept_btn.clicked.connect(lambda: self._on_selected("accept"))
        self.revoke_btn.clicked.connect(lambda: self._on_selected("revoke"))
        # each button only when it applies to the selected site: Accept a site asking to pair, Revoke a link
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self._update_buttons()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        if sites is not None:
            self._timer.start(refresh_ms)

    def refresh(self) -> None:
        if self.sites is not None:
            spawn(self.sites.views(), self.show_views, self._error)

    def show_views(self, views: list[SiteView], now: float | None = None) -> None:
        now = now if now is not None else datetime.now(UTC).timestamp()
        self.table.setVisible(bool(views))
        self.empty.setVisible(not views)
        self.table.setRowCount(len(views))
        for r, v in enumerate(views):
            link = "up" if v.connected else ("down" if v.state == "allowed" else v.state)
            lat = f"{v.latency_ms:.1f} ms" if v.latency_ms is not None and v.connected else "-"
            # A pending site's name is whatever it claimed when it knocked: nobody has checked it yet.
            name = f"{v.name} (unverified)" if v.state == "pending" else v.name
            cells = [name, short_id(v.site_id), v.state, link, lat, _ago(v.last_seen, now),
                     *summary_cells(v.summary), str(v.outbox)]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, v.site_id)
                if c == 3:
                    colour = {"up": "#27ae60", "down": "#c0392b"}.get(link, "#7f8c8d")
                    item.setForeground(QBrush(QColor(colour)))
                if v.last_error and c == 3:
                    item.setToolTip(v.last_error)
                if c == 0 and v.state == "pending":
                    item.setToolTip("the name this site gave itself; compare its ID with its admin before accepting")
                    font = item.font()
                    font.setItalic(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)
        self._update_buttons()
        up = sum(1 for v in views if v.connected)
        pending = sum(1 for v in views if v.state == "pending")
        self.status.setText(f"{up} of {sum(1 for v in views if v.state == 'allowed')} linked"
                            + (f", {pending} asking to pair" if pending else ""))

    def selected_site(self) -> str | None:
        item = self.table.item(self.table.currentRow(), 0) if self.table.currentRow() >= 0 else None
        return None if item is None else item.data(ID_ROLE)

    def _update_buttons(self) -> None:
        row = self.table.currentRow() if self.table.selectedItems() else -1
        state = self.table.item(row, 2).text() if row >= 0 and self.table.item(row, 2) is not None else ""
        self.accept_btn.setEnabled(state == "pending")
        self.revoke_btn.setEnabled(state not in ("", "revoked"))
        self.accept_btn.setToolTip("Accept the selected site asking to pair (compare its ID with its admin first)"
                                   if state == "pending" else "Select a site asking to pair to accept it")
        self.revoke_btn.setToolTip("End the link with the selected site" if self.revoke_btn.isEnabled()
                                   else "Select a linked site to revoke it")

    def open_pair_dialog(self) -> PairDialog | None:
        if self.sites is None:
            return None
        dlg = PairDialog(self.sites.identity.site_id, self)
        dlg.accepted.connect(lambda: spawn(self.sites.admin.pair(dlg.result_id, dlg.result_address,
                                                                 dlg.name.text().strip(), actor="ui"),
                                           lambda _: self._done("site allowed"), self._error))
        dlg.open()
        return dlg

    def _on_selected(self, action: str) -> None:
        site = self.selected_site()
        if site is None or self.sites is None:
            return
        coro = self.sites.admin.accept(site, actor="ui") if action == "accept" else \
            self.sites.admin.revoke(site, actor="ui")
        spawn(coro, lambda _: self._done({"accept": "site accepted", "revoke": "site revoked"}[action]), self._error)

    def _done(self, text: str) -> None:
        self.message.emit(text)
        self.refresh()

    def _error(self, exc: BaseException) -> None:
        self.message.emit(str(exc))
