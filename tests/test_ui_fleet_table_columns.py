"""The fleet table at 1366 x 768: its columns fit their names and headers ("Bambu …", "FDM …" and
"eft · done a" were cut at Qt's default 100 px), and a column the operator sizes by hand stays as they left it."""

from __future__ import annotations

from pathlib import Path

from app.ui.fleet_model import COLUMNS, ETA_COL
from tests import test_ui_support as ui
from tests.test_ui_support import FDM, MILL, booted_core, until, window_at_1366

qloop = ui.qloop  # the fixture


def test_fleet_table_columns_fit_names_and_headers(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("Prusa MK4 bay 2 left", FDM, bring_up=True)
            await core.fleet.register("Shapeoko 4 XXL", MILL, bring_up=True)
            async with window_at_1366(core, qtbot, small_screen=True) as win:
                fleet = win.fleet
                fleet.show_view("table")
                table = fleet.table
                await until(lambda: fleet.proxy.rowCount() == 2 and table.isVisible(), what="the table")
                metrics = table.fontMetrics()
                for row in range(2):
                    for col in (0, 1, 2):
                        text = fleet.proxy.index(row, col).data()
                        assert table.columnWidth(col) >= metrics.horizontalAdvance(text), (col, text)
                header = table.horizontalHeader()
                for col, title in enumerate(COLUMNS[:-1]):  # the last one stretches
                    assert table.columnWidth(col) >= header.sectionSizeHint(col), title
                assert table.columnWidth(ETA_COL) >= header.fontMetrics().horizontalAdvance("Left · done at")

                header.resizeSection(0, 60)  # the operator narrows the name column: it stays so
                fleet.fit_columns()
                assert table.columnWidth(0) == 60

    qloop.run_until_complete(scenario())
