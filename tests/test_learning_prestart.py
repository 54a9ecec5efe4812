"""The failure-risk alert before a start (issue 15): when a plan names the next part of a machine, its risk is
checked from the machine's telemetry so far and a high one raises the alert then, while there is time to act; work
already running is not checked again; a part still next is not checked again on every replan; the check at the
start itself does not raise the alert a second time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from app.core.bus import EventBus
from app.core.clock import ManualClock
from app.core.domain.capabilities import Capabilities
from app.core.domain.entities import Job, Node, Part
from app.core.domain.enums import JobState, ProcessType
from app.core.events import PlanUpdated
from app.core.production.plan_view import PlanRow, PlanView
from tests.test_learning_eta import MK4, copy_home, trained_home  # noqa: F401 - the fixture

pytest.importorskip("sklearn", reason="training needs the learn extra (scikit-learn, skl2onnx)")
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _row(node: Node, job: Job, part: Part, start: datetime, state: str) -> PlanRow:
    return PlanRow(node.id, node.name, job.id, job.name, part.id, f"{job.name}/{part.name}", start,
                   start + timedelta(hours=1), state)


async def _scenario(home: Path) -> None:
    from app.core.learning.runtime import LearningRuntime
    from app.core.learning.service import LearningService, LearningSettings
    from app.core.store.db import open_store
    from app.core.store.repositories import AlertRepo
    from app.core.telemetry.alerts import AlertService

    store = open_store(f"sqlite:///{home / 'imewe.sqlite3'}")
    bus, clock = EventBus(), ManualClock(T0)
    alerts = AlertService(store, bus, clock)
    node = Node(name="prusa-mk4-a", capabilities=Capabilities.from_dict(MK4))
    parts = [Part(uuid4(), name, ProcessType.FDM, "pla", (40, 30, 20), estimated_duration_s=3000,
                  estimated_material_g=25, file_path=f"{name}.gcode", state=JobState.SCHEDULED)
             for name in ("running", "next", "later")]
    job = Job("frame", parts=parts)
    for p in parts:
        p.job_id = job.id
    fetched: list = []

    async def job_of(job_id):  # type: ignore[no-untyped-def]
        fetched.append(job_id)
        return job

    svc = LearningService(store, home / "models", LearningSettings(risk_alert=0.0, nightly_hour=-1))
    rt = LearningRuntime(svc, bus, clock, alerts.raise_alert, node_of=lambda _id: node, job_of=job_of, zone=UTC)
    await rt.start()
    try:
        plan = PlanView(T0, [_row(node, job, parts[0], T0 - timedelta(minutes=30), "RUNNING"),
                             _row(node, job, parts[2], T0 + timedelta(hours=2), "SCHEDULED"),
                             _row(node, job, parts[1], T0 + timedelta(minutes=30), "SCHEDULED")])
        bus.publish(PlanUpdated(plan, T0))
        for _ in range(200):
            await asyncio.sleep(0.02)
            if rt.prechecked.get((parts[1].id, node.id), (0, None))[1] is not None:
                break
        # only the machine's next part is checked: not what already runs, not what comes after
        assert set(rt.prechecked) == {(parts[1].id, node.id)}
        risk = rt.prechecked[(parts[1].id, node.id)][1]
        assert risk is not None and 0.0 <= risk <= 1.0
        with store.connect() as c:
            raised = [a for a in AlertRepo().list(c) if a.type == "failure_risk"]
        assert len(raised) == 1 and "frame/next fails, planned to start there at 09:30" in raised[0].message

        bus.publish(PlanUpdated(plan, T0))  # a replan a moment later: not checked again
        await bus.drain()
        await asyncio.sleep(0.05)
        assert len(fetched) == 1

        task = await rt.before_start(node, job, parts[1])  # the start: checked again, the alert not repeated
        assert task is not None and await task == pytest.approx(risk)
        with store.connect() as c:
            assert len([a for a in AlertRepo().list(c) if a.type == "failure_risk"]) == 1
    finally:
        await rt.stop()
        store.close()


def test_the_risk_alert_comes_when_the_part_is_planned(trained_home: Path, tmp_path: Path) -> None:  # noqa: F811
    asyncio.run(asyncio.wait_for(_scenario(copy_home(trained_home, tmp_path / "home")), 60))
