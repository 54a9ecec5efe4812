"""Flow 2 and 3 end to end: validated jobs are planned, run on simulated machines, completed; a machine that
drops its link mid-job has its part moved to a similar machine and nothing is lost."""

import asyncio
from uuid import UUID

import pytest

from app.bootstrap import build_core
from app.core.clock import ScaledClock
from app.core.config import load_config
from app.core.domain import JobState, NodeState
from app.core.events import PlanUpdated
from app.devices.simulator import SimConfig, SimulatedMachine

FDM = {"process": "fdm", "build_volume_mm": [250, 210, 210], "materials": ["pla", "petg"], "loaded_material": "pla",
       "max_power_w": 350, "max_speed_mm_s": 150}


async def _site(tmp_path, n_machines: int, scale: float = 2000.0, mode: str = "plan"):
    clock = ScaledClock(scale)
    core = build_core(load_config(str(tmp_path)), clock, connect_machines=False, plan_budget_s=0.05)
    core.production.mode = mode
    await core.kernel.boot()
    drivers: dict[UUID, SimulatedMachine] = {}
    for i in range(n_machines):
        node = await core.fleet.register(f"P{i}", FDM, bring_up=True)
        sim = SimulatedMachine(node.name, node.capabilities, clock, SimConfig(telemetry_interval_s=5.0, seed=i + 1))
        drivers[node.id] = sim
        await core.machines.attach(node.id, sim)
    return core, core.production, drivers, []


async def _wait(pred, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await pred():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


async def _shutdown(core, drivers, links) -> None:
    for d in drivers.values():
        await d.disconnect()
    for link in links:
        await link.detach()
    await core.kernel.shutdown()


@pytest.mark.parametrize("mode", ["plan", "dispatch"])
def test_jobs_flow_through_plan_machines_and_complete(tmp_path, mode) -> None:
    async def go():
        core, prod, drivers, links = await _site(tmp_path, 3, mode=mode)
        plans: list = []
        core.bus.subscribe(PlanUpdated, lambda e: plans.append(e.plan))
        swarm = await core.jobs.submit({"name": "swarm", "parts": [
            {"name": "leg", "process": "fdm", "material": "pla", "size": [20, 20, 20], "quantity": 3,
             "estimated_duration_s": 1200},
            {"name": "top", "process": "fdm", "material": "pla", "size": [90, 90, 5], "estimated_duration_s": 1800},
            {"name": "assembly", "process": "fdm", "material": "pla", "size": [5, 5, 5], "depends_on": [0, 1],
             "estimated_duration_s": 300}]})
        single = await core.jobs.submit({"name": "single", "priority": 9, "parts": [
            {"name": "clip", "process": "fdm", "material": "petg", "size": [10, 10, 10],
             "estimated_duration_s": 600}]})

        async def done() -> bool:
            states = [(await core.jobs.get(j.id)).state for j in (swarm, single)]
            return all(s is JobState.COMPLETED for s in states)

        await _wait(done)
        timeline = await core.jobs.timeline(swarm.id)
        final = await core.jobs.get(swarm.id)
        nodes = core.fleet.list()
        await _shutdown(core, drivers, links)
        return final, timeline, plans, nodes

    final, timeline, plans, nodes = asyncio.run(go())
    job_steps = [c.to_state for c in timeline if c.obj_id == final.id]
    assert job_steps == ["SUBMITTED", "VALIDATED", "SCHEDULED", "ASSIGNED", "IN_PROGRESS", "COMPLETED"]
    assert all(p.state is JobState.COMPLETED and p.progress == 100.0 for p in final.parts)
    leg, top, assembly = final.parts
    ends = {c.obj_id: c.at for c in timeline if c.to_state == "COMPLETED"}
    starts = {c.obj_id: c.at for c in timeline if c.to_state == "IN_PROGRESS"}
    assert starts[assembly.id] >= max(ends[leg.id], ends[top.id])  # the sync point held
    first = next(p for p in plans if p.rows)
    assert any(r.critical for r in first.rows)
    assert {r.label.split("/")[1] for r in first.rows} >= {"leg", "top", "assembly"}
    # A machine never has two planned operations at once.
    for rows in first.by_node().values():
        assert all(a.end <= b.start for a, b in zip(rows, rows[1:], strict=False))
    assert all(n.state is NodeState.IDLE for n in nodes)


def test_a_machine_lost_mid_job_has_its_part_moved_and_the_job_completes(tmp_path) -> None:
    async def go():
        core, prod, drivers, links = await _site(tmp_path, 2, scale=1000.0)
        job = await core.jobs.submit({"name": "urgent", "parts": [
            {"name": "housing", "process": "fdm", "material": "pla", "size": [50, 50, 50],
             "estimated_duration_s": 3600}]})

        async def running() -> bool:
            j = await core.jobs.get(job.id)
            return j.parts[0].state is JobState.IN_PROGRESS and j.parts[0].progress > 5

        await _wait(running)
        first = (await core.jobs.get(job.id)).parts[0].assigned_node
        drivers[first].inject("lost_link")

        async def done() -> bool:
            return (await core.jobs.get(job.id)).state is JobState.COMPLETED

        await _wait(done, 90)
        final = await core.jobs.get(job.id)
        timeline = await core.jobs.timeline(job.id)
        lost = core.fleet.get(first)
        await _shutdown(core, drivers, links)
        return first, final, timeline, lost

    first, final, timeline, lost = asyncio.run(go())
    assert lost.state is NodeState.OFFLINE
    assert final.parts[0].assigned_node not in (None, first)
    part_steps = [c.to_state for c in timeline if c.obj_id == final.parts[0].id]
    assert part_steps[-6:] == ["IN_PROGRESS", "PAUSED", "VALIDATED", "SCHEDULED", "ASSIGNED", "IN_PROGRESS"] or \
        part_steps[-7:-1] == ["IN_PROGRESS", "PAUSED", "VALIDATED", "SCHEDULED", "ASSIGNED", "IN_PROGRESS"]
    assert part_steps[-1] == "COMPLETED"
    moved = [c for c in timeline if c.to_state == "PAUSED" and c.obj_id == final.parts[0].id]
    assert moved and "link lost" in moved[0].reason
