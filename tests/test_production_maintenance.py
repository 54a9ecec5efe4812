"""Scheduled maintenance from the fleet service reaches the planner (no work is planned into a machine's window,
work that fits before it runs at once); the tardiness objective puts urgent work first."""

import asyncio
from datetime import timedelta
from uuid import UUID

import pytest

from app.bootstrap import build_core
from app.core.config import load_config
from app.core.domain import JobState
from app.core.domain.errors import ConfigError
from app.core.scheduling.builder import DEFAULT_MAINTENANCE_S
from app.devices.simulator import SimConfig, SimulatedMachine

FDM = {"process": "fdm", "build_volume_mm": [250, 210, 210], "materials": ["pla"], "loaded_material": "pla",
       "max_power_w": 350, "max_speed_mm_s": 150}


def part(name: str, duration_s: int) -> dict:
    return {"name": name, "parts": [{"name": name, "process": "fdm", "material": "pla", "size": [20, 20, 20],
                                     "estimated_duration_s": duration_s}]}


def test_maintenance_windows_hold_their_machine_free(tmp_path) -> None:
    async def go():
        core = build_core(load_config(str(tmp_path)), connect_machines=False, plan_budget_s=0.05)
        await core.kernel.boot()
        try:
            drivers: dict[UUID, SimulatedMachine] = {}
            nodes = []
            for name in ("P0", "P1"):
                node = await core.fleet.register(name, FDM, bring_up=True)
                sim = SimulatedMachine(node.name, node.capabilities, core.clock, SimConfig(seed=1))
                drivers[node.id] = sim
                await core.machines.attach(node.id, sim)
                nodes.append(node)
            now = core.clock.now()
            # P0 goes into maintenance in 10 minutes (for the default 4 h); P1 in an hour.
            await core.fleet.schedule_maintenance(nodes[0].id, now + timedelta(minutes=10))
            await core.fleet.schedule_maintenance(nodes[1].id, now + timedelta(hours=1))
            long_job = await core.jobs.submit(part("long", 2 * 3600))
            view = await core.production.cycle()
            rows = [r for r in view.rows if r.job_id == long_job.id]
            assert len(rows) == 1
            row = rows[0]
            window_end = {nodes[0].id: now + timedelta(minutes=10, seconds=DEFAULT_MAINTENANCE_S),
                          nodes[1].id: now + timedelta(hours=1, seconds=DEFAULT_MAINTENANCE_S)}[row.node_id]
            assert row.start >= window_end - timedelta(seconds=1)  # not into the window
            assert (await core.jobs.get(long_job.id)).state is JobState.SCHEDULED  # held, not started into it
            short = await core.jobs.submit(part("short", 300))
            view = await core.production.cycle()
            srow = next(r for r in view.rows if r.job_id == short.id)
            assert srow.start < now + timedelta(minutes=1)  # fits before a window: runs at once
            for _ in range(50):
                if (await core.jobs.get(short.id)).state is JobState.IN_PROGRESS:
                    break
                await asyncio.sleep(0.05)
            assert (await core.jobs.get(short.id)).state is JobState.IN_PROGRESS
        finally:
            for d in drivers.values():
                await d.disconnect()
            await core.kernel.shutdown()

    asyncio.run(go())


def test_tardiness_objective_puts_the_urgent_job_first(tmp_path) -> None:
    async def go(objective: str):
        home = tmp_path / objective
        home.mkdir()
        (home / "config.toml").write_text(f'[scheduler]\nobjective = "{objective}"\n', encoding="utf-8")
        core = build_core(load_config(str(home)), connect_machines=False, plan_budget_s=0.05)
        await core.kernel.boot()
        try:
            node = await core.fleet.register("P0", FDM, bring_up=True)
            busy = SimulatedMachine(node.name, node.capabilities, core.clock, SimConfig(seed=1))
            await core.machines.attach(node.id, busy)
            first = await core.jobs.submit(part("first", 3600))  # starts at once: the machine is then busy
            await core.production.cycle()
            now = core.clock.now()
            bulky = [await core.jobs.submit(part(f"bulk{i}", 4 * 3600)) for i in range(2)]
            urgent = await core.jobs.submit({**part("urgent", 1800), "priority": 9,
                                             "due_at": (now + timedelta(hours=2)).isoformat()})
            view = await core.production.cycle()
            start = {r.job_id: r.start for r in view.rows}
            await busy.disconnect()
            return start[urgent.id] < min(start[b.id] for b in bulky), view.metrics, first
        finally:
            await core.kernel.shutdown()

    urgent_first, metrics, _ = asyncio.run(go("tardiness"))
    assert urgent_first and metrics["weighted_tardiness"] == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.toml").write_text('[scheduler]\nobjective = "fastest"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="objective 'fastest' is not one of makespan, tardiness"):
        build_core(load_config(str(bad)), connect_machines=False)
