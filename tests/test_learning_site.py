"""Issue 15 inside a site: training data collected from the store's own finished parts (energy integrated from
power telemetry), the planner's duration port, the failure-risk alert before a start, and the retrain after N
finished parts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa

from app.core.bus import EventBus
from app.core.clock import ManualClock
from app.core.domain.capabilities import Capabilities
from app.core.domain.entities import Job, Node, Part
from app.core.domain.enums import ProcessType
from app.core.domain.states import StateChange
from app.core.events import StateChanged
from app.core.learning.runtime import LearningRuntime
from app.core.learning.service import LearningService, LearningSettings
from app.core.store.db import open_store
from app.core.store.repositories import AlertRepo
from app.core.store.schema import jobs, nodes, parts, state_changes, telemetry_raw
from app.core.telemetry.alerts import AlertService
from app.devices.sim_history import simulate_history

pytest.importorskip("sklearn", reason="training needs the learn extra (scikit-learn, skl2onnx)")
CAPS = Capabilities(process=ProcessType.FDM, build_volume_mm=(250, 210, 220), max_power_w=300,
                    max_speed_mm_s=200, loaded_material="pla")


def _finished_part(c: sa.Connection, node_id: str, state: str, t0: float, run_s: float, power_w: float) -> str:
    job_id, part_id = str(uuid4()), str(uuid4())
    c.execute(jobs.insert().values(id=job_id, name="bracket", priority=5, state=state, estimated_duration_s=3000,
                                   estimated_energy_kwh=0.2, estimated_material={}, metadata={}))
    c.execute(parts.insert().values(id=part_id, job_id=job_id, idx=0, name="bracket", process="fdm",
                                    material_type="pla", size_x_mm=40, size_y_mm=30, size_z_mm=20, quantity=1,
                                    complexity=5, state=state, assigned_node=node_id, estimated_duration_s=3000,
                                    estimated_material_g=25, file_path="/x/bracket.gcode", depends_on=[]))
    for to, at in (("SUBMITTED", t0 - 600), ("IN_PROGRESS", t0), (state, t0 + run_s)):
        c.execute(state_changes.insert().values(kind="part", obj_id=part_id, to_state=to, at=at, extra={}))
    samples = [(t0 - 1800 + 60 * i, "vibration", 0.4) for i in range(30)]
    samples += [(t0 + 10 * i, "power_w", power_w) for i in range(int(run_s // 10) + 1)]
    samples += [(t0 + run_s, "material_used_g", 24.0)]
    c.execute(telemetry_raw.insert(), [{"node_id": node_id, "metric": m, "ts": ts, "value": v, "job_id": job_id}
                                       for ts, m, v in samples])
    return part_id


def test_collect_turns_finished_parts_into_training_data(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    try:
        node_id = str(uuid4())
        with store.begin() as c:
            c.execute(nodes.insert().values(id=node_id, name="mk4", state="IDLE", capabilities=CAPS.to_dict(),
                                            material_levels={}, last_maintenance=1.7e9 - 36_000))
            done = _finished_part(c, node_id, "COMPLETED", 1.7e9, 3600.0, 200.0)
            failed = _finished_part(c, node_id, "FAILED", 1.7e9 + 7200, 900.0, 150.0)
        svc = LearningService(store, tmp_path / "models")
        assert svc.repo.collect() == 2
        assert svc.repo.collect() == 0  # idempotent
        r = svc.repo.get(done)
        assert r.machine == "mk4" and r.outcome == "completed" and r.duration_s == 3600.0
        assert r.energy_kwh == pytest.approx(200.0 * 3600 / 3.6e6, rel=0.01)  # integrated power_w
        assert r.material_g == 24.0
        assert r.features["has_gcode"] == 1.0 and r.features["planner_s"] == 3000.0
        assert r.features["bed_area_dm2"] == pytest.approx(5.25)
        assert r.features["vib_mean_1h"] == pytest.approx(0.4)
        assert r.features["hours_since_maintenance"] == pytest.approx(10.0)
        assert svc.repo.get(failed).outcome == "failed"
    finally:
        store.close()


def _fleet_node(name: str) -> Node:
    return Node(name=name, capabilities=CAPS)


async def _site(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    bus, clock = EventBus(), ManualClock()
    alerts = AlertService(store, bus, clock)
    svc = LearningService(store, tmp_path / "models", LearningSettings(min_jobs=60, retrain_after_jobs=3,
                                                                       risk_alert=0.0))
    rt = LearningRuntime(svc, bus, clock, alerts.raise_alert)
    rt.train_in_worker = False
    await rt.start()
    try:
        part = Part(uuid4(), "bracket", ProcessType.FDM, "pla", (40, 30, 20), estimated_duration_s=3000,
                    estimated_material_g=25, file_path="b.gcode")
        node = _fleet_node("prusa-mk4-a")
        assert rt.durations(part, node) is None  # no model yet: the planner keeps its estimate, flagged
        assert rt.spreads(part, node) is None  # and the twin its default spread
        assert await rt.before_start(node, Job("frame"), part) is None  # and no risk check
        assert "no trained model" in rt.flags[(str(part.id), "prusa-mk4-a")]
        svc.repo.add(simulate_history(250, seed=2))
        for _ in range(3):  # three finished parts start a training in the background
            bus.publish(StateChanged(StateChange("part", uuid4(), "IN_PROGRESS", "COMPLETED", clock.now())))
        for _ in range(400):
            await asyncio.sleep(0.05)
            if rt.last_result is not None:
                break
        assert rt.last_result is not None and rt.last_result["decision"]["promoted"]
        assert rt.health() == "ok" and rt.describe() == "model v0001"
        learned = rt.durations(part, node)
        assert learned is not None and learned != 3000
        spread = rt.spreads(part, node)  # the twin draws this part's duration from the learned 80 % interval
        assert spread is not None and 0 < spread < 2
        assert rt.durations(part, _fleet_node("unknown-machine")) is None
        task = await rt.before_start(node, Job("frame"), part)  # returns at once; the check runs beside
        assert task is not None
        risk = await task
        assert risk is not None and 0.0 <= risk <= 1.0
        with store.connect() as c:
            raised = AlertRepo().list(c)
        assert any(a.type == "failure_risk" and "risk that frame/bracket fails" in a.message for a in raised)
    finally:
        await rt.stop()
        store.close()


def test_the_site_plans_with_learned_durations_alerts_on_risk_and_retrains(tmp_path: Path) -> None:
    asyncio.run(_site(tmp_path))


def test_a_booted_site_plans_with_the_learned_duration(tmp_path: Path) -> None:
    from app.bootstrap import build_core
    from app.core.clock import ScaledClock
    from app.core.config import load_config
    from app.core.learning.runtime import record_for
    from app.devices.simulator import SimConfig, SimulatedMachine

    home = tmp_path / "home"
    home.mkdir()
    store = open_store(f"sqlite:///{home / 'imewe.sqlite3'}")
    try:
        svc = LearningService(store, home / "models", LearningSettings(min_jobs=60))
        svc.repo.add(simulate_history(160, seed=4))
        assert svc.train(in_worker=False)["decision"]["promoted"]
    finally:
        store.close()

    async def go():
        clock = ScaledClock(10.0)
        core = build_core(load_config(str(home)), clock, connect_machines=False, plan_budget_s=0.05)
        await core.kernel.boot()
        try:
            node = await core.fleet.register("prusa-mk4-a", CAPS.to_dict(), bring_up=True)
            sim = SimulatedMachine("prusa-mk4-a", node.capabilities, clock, SimConfig(telemetry_interval_s=30.0))
            await core.machines.attach(node.id, sim)
            job = await core.jobs.submit({"name": "frame", "parts": [
                {"name": "arm", "process": "fdm", "material": "pla", "size": [40, 30, 20],
                 "estimated_duration_s": 3000}]})
            view = await core.production.cycle()
            part = (await core.jobs.get(job.id)).parts[0]
            await sim.disconnect()
            return view, part, core.fleet.get(node.id)
        finally:
            await core.kernel.shutdown()

    view, part, node = asyncio.run(asyncio.wait_for(go(), 60))
    rows = [r for r in view.rows if r.part_id == part.id]
    assert rows, view
    planned_s = (rows[0].end - rows[0].start).total_seconds()
    store = open_store(f"sqlite:///{home / 'imewe.sqlite3'}")
    try:
        learned = LearningService(store, home / "models").duration(record_for(part, node))
    finally:
        store.close()
    assert learned.learned and abs(learned.value - 3000) > 60
    assert abs(planned_s - learned.value) <= 1.0, (planned_s, learned.value)
