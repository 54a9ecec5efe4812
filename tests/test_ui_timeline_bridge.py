"""The timeline shows the production plan per machine and a click on a bar opens its job; the bridge
coalesces a flood of events to at most ten view updates a second; the layout survives a restart."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.core.domain.capabilities import Capabilities
from app.core.domain.entities import Node, TelemetrySample
from app.core.domain.enums import NodeState
from app.core.events import TelemetryReceived
from app.core.production import PlanRow, PlanView
from app.ui.bridge import CoreBridge
from app.ui.live_data import LiveData
from app.ui.main_window import ControlRoom
from app.ui.plan_adapter import bars_from_plan
from tests import test_ui_support as ui
from tests.test_ui_support import FDM, MILL, RecordingDriver, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture


def test_plan_rows_become_bars_per_machine() -> None:
    now = datetime(2026, 6, 21, 8, 0, tzinfo=UTC)
    a = Node("FDM-A", Capabilities.from_dict(FDM))
    b = Node("MILL-B", Capabilities.from_dict(MILL))
    job_id, arm, plate = uuid4(), uuid4(), uuid4()
    plan = PlanView(now, [
        PlanRow(a.id, a.name, job_id, "Bracket run", arm, "arm", now, now + timedelta(hours=2), "IN_PROGRESS"),
        PlanRow(b.id, b.name, job_id, "Bracket run", plate, "plate", now + timedelta(hours=1),
                now + timedelta(hours=3), "SCHEDULED"),
        PlanRow(uuid4(), "gone", job_id, "Bracket run", uuid4(), "x", now, now, "SCHEDULED")])  # unknown machine
    names, bars = bars_from_plan(plan, [a, b], {}, {})
    assert names == ["FDM-A", "MILL-B"]
    assert [(x.row, x.label, x.state, x.key) for x in bars] == [
        (0, "Bracket run / arm", "IN_PROGRESS", job_id), (1, "Bracket run / plate", "SCHEDULED", job_id)]
    assert bars[1].start_ts - bars[0].start_ts == 3600 and bars[1].end_ts - bars[1].start_ts == 7200


def test_bar_words_never_repeat_the_job() -> None:
    now = datetime(2026, 6, 21, 8, 0, tzinfo=UTC)
    a = Node("FDM-A", Capabilities.from_dict(FDM))
    rows = [("PLA bracket 1", "PLA bracket 1/PLA bracket 1"), ("drone frame #6", "drone frame #6/arm"),
            ("sign", "panel"), ("sign", "")]
    plan = PlanView(now, [PlanRow(a.id, a.name, uuid4(), job, uuid4(), label, now, now + timedelta(hours=1),
                                  "SCHEDULED") for job, label in rows])
    _, bars = bars_from_plan(plan, [a], {}, {})
    assert [x.label for x in bars] == ["PLA bracket 1", "drone frame #6 / arm", "sign / panel", "sign"]


def test_the_production_plan_shows_and_a_click_opens_the_job(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            a = await core.fleet.register("FDM-A", FDM, bring_up=True)
            b = await core.fleet.register("FDM-B", FDM, bring_up=True)
            for node in (a, b):
                await core.machines.attach(node.id, RecordingDriver(node.name, FDM))
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            win.tabs.setCurrentWidget(win.timeline)
            try:
                job = await core.jobs.submit({"name": "Bracket run", "parts": [
                    {"name": "arm", "process": "fdm", "material": "pla", "size_mm": [40, 20, 10], "quantity": 3,
                     "estimated_duration_s": 1800}]})
                gantt = win.timeline.gantt
                # the real scheduler plans the parts on the two machines; the plan arrives as PlanUpdated
                # (the queued work may show first, as the machines' queues; the plan replaces it when it comes)
                await until(lambda: "Plan from the scheduler" in win.timeline.source.text()
                            and any(x.key == job.id for x in gantt.items.bars()), timeout=20,
                            what="the job's bars from the production plan")
                assert gantt.rows == ["FDM-A", "FDM-B"]
                assert abs(gantt.now_line.value() - core.clock.now().timestamp()) < 5

                await asyncio.sleep(0.2)  # the tab lays out
                gantt.fit()
                await asyncio.sleep(0.2)
                bar = next(x for x in gantt.items.bars() if x.key == job.id)
                point = gantt.plot.mapFromScene(gantt.scene_point_of(bar))
                QTest.mouseClick(gantt.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                                 QPoint(point.x(), point.y()))
                await until(lambda: win.tabs.currentWidget() is win.jobs, what="the click to open the jobs tab")
                await until(lambda: win.jobs.detail.job is not None and win.jobs.detail.job.id == job.id,
                            what="the job's detail")
                assert win.jobs.detail.title.text() == "Bracket run"
            finally:
                win.close()

    qloop.run_until_complete(scenario())


def test_bridge_coalesces_a_flood_to_ten_updates_a_second(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            live = LiveData()
            bridge = CoreBridge(core.bus, live)
            emits: list[float] = []
            seen: set = set()
            bridge.telemetry.connect(lambda ids: (emits.append(time.monotonic()), seen.update(ids)))
            nodes = [uuid4() for _ in range(500)]
            try:
                t0 = time.monotonic()
                while time.monotonic() - t0 < 2.0:  # 500 machines, 5 readings each per second
                    for n in nodes:
                        core.bus.publish(TelemetryReceived(TelemetrySample(n, core.clock.now(), {"power_w": 1.0})))
                    await asyncio.sleep(0.2)
                await asyncio.sleep(0.25)
                span = emits[-1] - emits[0]
                assert len(emits) <= 10 * span + 2  # at most one view update per 100 ms
                assert len(emits) >= 10  # and still live
                assert seen == set(nodes)  # nothing lost: every machine's reading is in LiveData
                assert all(live.rings[n].count >= 9 for n in nodes)
            finally:
                bridge.close()

    qloop.run_until_complete(scenario())


def test_live_readings_slow_to_twice_a_second_while_a_view_turns_and_catch_up_after(qloop, qtbot,
                                                                                   tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            live = LiveData()
            bridge = CoreBridge(core.bus, live)
            emits: list[tuple[float, set]] = []
            states: list[float] = []
            bridge.telemetry.connect(lambda ids: emits.append((time.monotonic(), set(ids))))
            bridge.nodes_changed.connect(lambda _ids: states.append(time.monotonic()))
            node = await core.fleet.register("FDM-A", FDM, bring_up=False)
            nodes = [uuid4() for _ in range(50)]
            try:
                bridge.set_view_turning(True)
                await asyncio.sleep(0.6)
                emits.clear()
                states.clear()
                t0 = time.monotonic()
                while time.monotonic() - t0 < 2.0:
                    for n in nodes:
                        core.bus.publish(TelemetryReceived(TelemetrySample(n, core.clock.now(), {"power_w": 1.0})))
                    await core.fleet.update_live(node.id, power_w=120.0)  # as a machine's reading updates it
                    await asyncio.sleep(0.05)
                live_updates = len(states)
                assert live_updates <= 6  # machines' live values (power, material) are paced with the readings
                states.clear()
                await core.fleet.set_state(node.id, [NodeState.CONFIGURED, NodeState.IDLE], "test")  # a machine's state still shows at once while the view turns
                await until(lambda: states, timeout=1.0, what="the state change while turning")
                assert len(emits) <= 6  # 2 s at twice a second (+1 at the edge), not 20
                assert len(emits) >= 3  # slowed, still live
                waited = time.monotonic()
                for n in nodes:
                    core.bus.publish(TelemetryReceived(TelemetrySample(n, core.clock.now(), {"power_w": 2.0})))
                await asyncio.sleep(0.05)
                bridge.set_view_turning(False)  # still again: the readings catch up at once
                assert emits[-1][0] >= waited and emits[-1][1] == set(nodes)
                assert all(live.latest(n)["power_w"] == 2.0 for n in nodes)  # nothing lost on the way
            finally:
                bridge.close()

    qloop.run_until_complete(scenario())


def test_layout_is_remembered_between_runs(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("FDM-A", FDM, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            win.tabs.setCurrentWidget(win.alerts)
            win.fleet.show_view("table")
            win.detail_dock.hide()
            win.close()  # saves the layout

            again = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(again)
            again.show()
            try:
                assert again.tabs.currentWidget() is again.alerts
                assert again.fleet.current_view() == "table"
                assert not again.detail_dock.isVisible()
            finally:
                again.close()

    qloop.run_until_complete(scenario())
