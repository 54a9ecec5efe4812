"""The Timeline tab opened for the first time after the plan exists shows the plan around now, not a chart
fitted from 1 January 1970 (the now-line's place before it was set)."""

from __future__ import annotations

from pathlib import Path

from tests import test_ui_support as ui
from tests.test_ui_support import FDM, RecordingDriver, booted_core, until, window_at_1366

qloop = ui.qloop  # the fixture


def test_timeline_first_shown_after_the_plan_fits_the_plan_and_now(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            a = await core.fleet.register("FDM-A", FDM, bring_up=True)
            await core.machines.attach(a.id, RecordingDriver(a.name, FDM))
            async with window_at_1366(core, qtbot) as win:
                await core.jobs.submit({"name": "Bracket run", "parts": [
                    {"name": "arm", "process": "fdm", "material": "pla", "size_mm": [40, 20, 10], "quantity": 2,
                     "estimated_duration_s": 1800}]})
                await until(lambda: win.timeline.plan is not None and win.timeline.plan.rows, timeout=20,
                            what="the plan, with the Timeline tab never shown")
                assert not win.timeline.built()
                win.show_tab("timeline")  # built now, with the plan it was given meanwhile
                gantt = win.timeline.gantt
                await until(lambda: gantt.items.bars(), what="the plan's bars")
                (x0, x1), _ = gantt.plot.getViewBox().viewRange()
                now = core.clock.now().timestamp()
                assert now - 86400 < x0 <= now <= x1 < now + 7 * 86400, (x0, x1, now)
                assert str(core.clock.now().astimezone(win.live.zone).year) in gantt.day.text()

    qloop.run_until_complete(scenario())
