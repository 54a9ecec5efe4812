"""The Sites view and the pairing dialog, as real Qt widgets (offscreen)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.core.sites.identity import load_or_create_identity  # noqa: E402
from app.core.sites.views import SiteView  # noqa: E402
from app.ui.sites_panel import PairDialog, SitesPanel, summary_cells  # noqa: E402


def _view(site_id: str, **over) -> SiteView:
    base = dict(site_id=site_id, name="Lagos east", state="allowed", address="10.0.0.5:47470", connected=True,
                latency_ms=12.34, last_seen=1000.0, summary={
                    "at": 990.0, "machines": {"fdm": {"IDLE": 2, "EXECUTING": 1}, "laser": {"MAINTENANCE": 1}},
                    "capacity": [{"process": "fdm", "start": 0, "end": 1, "machines": 2}],
                    "energy": {"solar_w": 4200.0, "battery_pct": 81.0, "price_per_kwh": 0.21}, "alerts": 3},
                summary_at=990.0, outbox=4, attempts=0, last_error="")
    base.update(over)
    return SiteView(**base)


def test_sites_panel_shows_health_and_summary(qtbot, tmp_path) -> None:
    a = load_or_create_identity(tmp_path / "a", "a").site_id
    b = load_or_create_identity(tmp_path / "b", "b").site_id
    panel = SitesPanel(None)
    qtbot.addWidget(panel)
    panel.show_views([_view(a), _view(b, name="Kano", state="pending", connected=False, summary=None,
                                      latency_ms=None, last_seen=None, last_error="not accepted yet")], now=1005.0)
    t = panel.table
    assert t.rowCount() == 2
    row = [t.item(0, c).text() for c in range(t.columnCount())]
    assert row[0] == "Lagos east" and row[1] == a.split("-")[0]
    assert row[3] == "up" and row[4] == "12.3 ms" and row[5] == "5 s ago"
    assert row[6] == "fdm 2/3; laser 0/1" and row[7] == "fdm x2"
    assert row[8] == "sun 4.2 kW, bat 81%, 0.21/kWh" and row[9] == "3" and row[10] == "4"
    pending = [t.item(1, c).text() for c in range(t.columnCount())]
    assert pending[2] == "pending" and pending[3] == "pending" and pending[5] == "never" and pending[6] == "-"
    assert t.item(1, 3).toolTip() == "not accepted yet"
    # The name a pending site claims is marked as nobody's word but its own.
    assert pending[0] == "Kano (unverified)" and t.item(1, 0).font().italic() and "ID" in t.item(1, 0).toolTip()
    assert not t.item(0, 0).font().italic()
    assert "1 of 1 linked, 1 asking to pair" == panel.status.text()
    # Accept and Revoke only when they apply to the selected site (both were live with nothing selected)
    assert not panel.accept_btn.isEnabled() and not panel.revoke_btn.isEnabled()
    assert "Select a site asking to pair" in panel.accept_btn.toolTip()
    t.selectRow(1)
    assert panel.selected_site() == b
    assert panel.accept_btn.isEnabled() and panel.revoke_btn.isEnabled()
    t.selectRow(0)  # linked already: nothing to accept, a link to revoke
    assert not panel.accept_btn.isEnabled() and panel.revoke_btn.isEnabled()


def test_summary_cells_without_energy() -> None:
    assert summary_cells(None) == ["-", "-", "-", "-"]
    assert summary_cells({"machines": {}, "capacity": [], "energy": None, "alerts": 0}) == [
        "none", "none", "unknown", "0"]


def test_pair_dialog_shows_our_id_and_checks_the_other(qtbot, tmp_path) -> None:
    own = load_or_create_identity(tmp_path / "a", "a").site_id
    other = load_or_create_identity(tmp_path / "b", "b").site_id
    dlg = PairDialog(own)
    qtbot.addWidget(dlg)
    assert dlg.own_label.text() == own
    # A QR code when a QR library is installed, the hint otherwise: never nothing.
    assert dlg.qr_label.pixmap() is not None and not dlg.qr_label.pixmap().isNull() or "QR" in dlg.qr_label.text()
    dlg.peer_id.setText(other[:-1] + ("A" if other[-1] != "A" else "B"))  # one wrong character
    dlg.address.setText("10.0.0.5:47470")
    dlg._check()
    assert "typo" in dlg.error.text() and dlg.result() == 0
    dlg.peer_id.setText(own)
    dlg._check()
    assert "own ID" in dlg.error.text()
    dlg.peer_id.setText(other.lower())
    dlg.address.setText("no port")
    dlg._check()
    assert "host:port" in dlg.error.text()
    dlg.address.setText("10.0.0.5:47470")
    dlg._check()
    assert dlg.result() == 1 and dlg.result_id == other and dlg.result_address == "10.0.0.5:47470"
