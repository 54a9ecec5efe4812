"""The machine panel's live charts at 1366 x 768 with the theme, on a real X server (xvfb-run, QT_QPA_PLATFORM=xcb):
a simulated printer runs a real job and the charts' legends (each curve's name and its target) are read whole,
none clipped at the narrow panel's edge ("- - targe"). With IMEWE_SHOTS=<folder> the picture is saved there."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("needs an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

from app.core.domain.enums import JobState  # noqa: E402
from app.ui.main_window import ControlRoom  # noqa: E402
from tests import test_ui_support as ui  # noqa: E402
from tests.helpers import job_spec  # noqa: E402
from tests.test_ui_support import FDM, booted_core, ports_of, settings_in, until  # noqa: E402

qloop = ui.qloop  # the fixture
pytestmark = pytest.mark.gui
SHOTS = Path(os.environ.get("IMEWE_SHOTS", "/tmp/imewe-shots"))


def _legend_fits(plot) -> tuple[float, float]:
    """(where the legend's text ends, where the chart's widget ends), in the widget's pixels: a title wider than
    the chart stretches the plot past the widget's edge, where it is cut off."""
    label = plot.getPlotItem().titleLabel.item
    return plot.mapFromScene(label.sceneBoundingRect()).boundingRect().right(), plot.viewport().width()


def test_machine_chart_legends_fit_the_panel_at_1366(qloop, qtbot, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from app.ui.theme import apply_theme

    apply_theme(QApplication.instance())  # the theme's fonts, as the operator sees them

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            node = await core.fleet.register("Sim FDM", FDM, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.fit_small_screen(1366, 740)  # 768 less a task bar
            win.show()
            try:
                job = await core.jobs.submit(job_spec("bracket", parts=1), actor="test")
                await until(lambda: any(j.id == job.id and j.state is JobState.IN_PROGRESS
                                        for j in win.jobs.model.jobs()), timeout=20, what="the job to run")
                win.open_machine(core.fleet.get(node.id))
                charts = win.detail.charts
                await until(lambda: charts.temps.isVisible() and charts.curve_count() >= 4, timeout=20,
                            what="temperatures with their targets")
                await asyncio.sleep(1.0)  # a few more samples; the layout settles
                SHOTS.mkdir(parents=True, exist_ok=True)
                win.grab().save(str(SHOTS / "machine-panel-1366.png"))
                assert win.width() <= 1366 and win.detail_dock.isVisible()
                shown = [p for p in (charts.temps, charts.power, charts.vibration, charts.progress) if p.isVisible()]
                assert charts.temps in shown and charts.power in shown
                for plot in shown:
                    need, have = _legend_fits(plot)
                    assert 0 < need <= have, (plot.property("chart_title"), need, have,
                                              plot.getPlotItem().titleLabel.text)
                text = charts.temps.getPlotItem().titleLabel.text
                assert "target" in text
            finally:
                win.close()

    qloop.run_until_complete(scenario())
