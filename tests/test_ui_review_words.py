"""Design review reads in the window's words: the process as "FDM printer" (not fdm), the earliest finish in
the site's zone with the zone named (it said UTC beside a window in CEST), the cost with its currency."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("the 3D views need an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

from app.ui.main_window import ControlRoom  # noqa: E402
from tests import test_ui_support as ui  # noqa: E402
from tests.test_ui_support import FDM, MILL, booted_core, ports_of, settings_in, until  # noqa: E402

qloop = ui.qloop  # the fixture
pytestmark = pytest.mark.gui
BERLIN = ZoneInfo("Europe/Berlin")


def _gcode(path: Path) -> Path:
    lines = ["G21", "G90", "M82", "M104 S210", "G28"]
    for layer in range(5):
        lines.append(f"G1 Z{0.2 * (layer + 1):.2f} F600")
        lines += [f"G1 X{100 + 20 * (k % 2)} Y{100 + 20 * (k // 2)} E{layer + k * 0.1:.2f} F1800" for k in range(4)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_review_process_finish_and_cost_in_plain_words(qloop, qtbot, tmp_path: Path) -> None:
    gcode = _gcode(tmp_path / "square.gcode")

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("Prusa MK4", FDM, bring_up=True)
            await core.fleet.register("Mill", MILL, bring_up=True)
            await core.fleet.register("Pocket printer", dict(FDM, build_volume_mm=[15, 15, 15]), bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.resize(1366, 768)
            win.live.zone = BERLIN  # the site's zone, before the tab is built
            win.show()
            try:
                review = win.review
                assert review.zone is BERLIN
                assert [review.process_box.itemText(i) for i in range(3)] == ["FDM printer", "Resin printer (SLA)",
                                                                              "SLS printer"]
                win.open_file(str(gcode))
                await until(lambda: review.rows and review.send_btn.isEnabled(), timeout=60, what="the estimates")
                assert review.process_box.currentText() == "FDM printer" and review.process_box.currentData() == "fdm"
                table = review.table
                heads = [table.horizontalHeaderItem(c).text().replace("\n", " ") for c in range(table.columnCount())]
                row = next(r for r, c in enumerate(review.rows) if c.earliest_finish is not None)
                finish = review.rows[row].earliest_finish.astimezone(BERLIN)
                assert heads[7] == f"Earliest finish ({finish.tzname()})" and finish.tzname() in ("CEST", "CET")
                assert table.item(row, 7).text() == finish.strftime("%a %d %b %H:%M")
                assert heads[5] == "Energy cost (€)"
                assert table.item(0, 0).toolTip() in ("FDM printer", "CNC mill")
                assert table.columnWidth(1) <= 150  # a long "no: … bigger than …" is cut, whole in its tooltip
                assert all(table.item(r, 1).toolTip() for r in range(table.rowCount()))
            finally:
                win.close()

    qloop.run_until_complete(scenario())
