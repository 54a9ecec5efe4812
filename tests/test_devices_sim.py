"""Simulated machines (physics, faults) and the driver link that turns their reports into node state."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

import pytest

from app.core.bus import EventBus
from app.core.clock import ManualClock
from app.core.device_events import DeviceJobFinished, DeviceJobProgress
from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import NodeState, ProcessType
from app.core.domain.errors import ValidationError
from app.core.drivers import DriverJobFinished, DriverState, DriverTelemetry, JobOutcome, JobRequest
from app.core.events import FaultReported, StateChanged, TelemetryReceived
from app.core.fleet.driver_link import DriverLink, node_path
from app.core.fleet.service import FleetService
from app.core.store import open_store
from app.devices.simulator import FaultSpec, SimConfig, SimulatedMachine

FDM = Capabilities(process=ProcessType.FDM, build_volume_mm=(220, 220, 250), loaded_material="pla",
                   max_power_w=350)


def step_n(m: SimulatedMachine, clock: ManualClock, n: int, dt: float = 1.0) -> list:
    seen: list = []
    m.add_listener(seen.append)
    for _ in range(n):
        clock.advance(dt)
        m.step(dt, clock.monotonic())
    m.remove_listener(seen.append)
    return seen


def test_fdm_heats_up_first_order_then_works_by_the_estimate() -> None:
    async def go():
        clock = ManualClock()
        m = SimulatedMachine("p1", FDM, clock)
        await m.connect()
        await m.disconnect()  # step by hand from here
        m._set_state(DriverState.IDLE)
        idle = step_n(m, clock, 5)
        await m.execute(JobRequest(job_id=uuid4(), estimate_s=600, material_g=30))
        events = step_n(m, clock, 1200)
        return idle, events, m

    idle, events, m = asyncio.run(go())
    idle_power = [e.metrics["power_w"] for e in idle if isinstance(e, DriverTelemetry)]
    assert all(p == 8.0 for p in idle_power)
    tele = [e.metrics for e in events if isinstance(e, DriverTelemetry)]
    nozzle = [t["nozzle_c"] for t in tele]
    heated_at = next(i for i, t in enumerate(tele) if t["nozzle_c"] >= 208 and t["bed_c"] >= 58)
    # A first-order bed (tau 150 s, to 60 of a possible 110 from 21) takes about tau*ln(89/50) ≈ 87 s
    assert 60 < heated_at < 150
    assert nozzle[1] - nozzle[0] > nozzle[20] - nozzle[19] > 0  # heats fast, then slows: first order
    assert tele[5]["power_w"] > 250  # both heaters flat out while heating
    finished = [e for e in events if isinstance(e, DriverJobFinished)]
    assert len(finished) == 1 and finished[0].outcome is JobOutcome.COMPLETED
    done_at = sum(1 for e in events[: events.index(finished[0])] if isinstance(e, DriverTelemetry))
    assert abs(done_at - heated_at - 600) < 5  # progress follows the estimate once heated
    assert m.material_left_g == pytest.approx(1000 - 30, abs=0.01)
    assert m.state is DriverState.IDLE


def test_cnc_vibrates_while_cutting_and_faults_come_from_config() -> None:
    async def go():
        clock = ManualClock()
        caps = Capabilities(process=ProcessType.CNC_MILL)
        m = SimulatedMachine("mill", caps, clock, SimConfig(faults=[FaultSpec("jam", at_progress=0.5),
                                                                    FaultSpec("thermal_runaway", after_s=10_000)]))
        m._set_state(DriverState.IDLE)
        await m.execute(JobRequest(estimate_s=100))
        events = step_n(m, clock, 80)
        state_at_jam = m.state
        await m.resume()
        events += step_n(m, clock, 80)
        return events, state_at_jam, m

    events, state_at_jam, m = asyncio.run(go())
    tele = [e.metrics for e in events if isinstance(e, DriverTelemetry)]
    assert all(t["vibration"] > 1.0 for t in tele if t.get("spindle_rpm"))
    assert tele[0]["power_w"] > 1000
    assert state_at_jam is DriverState.PAUSED
    assert [e.outcome for e in events if isinstance(e, DriverJobFinished)] == [JobOutcome.COMPLETED]
    assert any(type(e).__name__ == "DriverFault" and e.kind == "jam" and not e.fatal for e in events)


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown fault"):
        FaultSpec.from_dict({"kind": "gremlins"})


def test_node_path_walks_only_legal_steps() -> None:
    N = NodeState
    assert node_path(N.IDLE, N.EXECUTING) == [N.ASSIGNED, N.EXECUTING]
    assert node_path(N.EXECUTING, N.IDLE, via=N.COMPLETED) == [N.COMPLETED, N.IDLE]
    assert node_path(N.OFFLINE, N.IDLE) == [N.IDLE]
    assert node_path(N.REGISTERED, N.IDLE) == [N.CONFIGURED, N.IDLE]


def test_driver_link_moves_the_node_and_publishes_telemetry_alerts_and_job_events(tmp_path: Path) -> None:
    async def go():
        store = open_store(f"sqlite:///{tmp_path}/t.sqlite")
        bus = EventBus()
        clock = ManualClock()
        fleet = FleetService(store, bus, clock)
        await fleet.start()
        seen: list = []
        bus.subscribe((StateChanged, TelemetryReceived, FaultReported, DeviceJobFinished, DeviceJobProgress),
                      seen.append)
        try:
            sim = SimulatedMachine("p1", FDM, clock, SimConfig(faults=[FaultSpec("lost_link", at_progress=0.5,
                                                                                 recover_s=30)]))
            node = await fleet.register("p1", sim.capabilities, driver="sim", bring_up=True)
            link = DriverLink(fleet, bus, clock, node.id, sim).attach()
            await sim.connect()
            await sim.disconnect()
            sim._set_state(DriverState.IDLE)
            job1 = uuid4()
            await sim.execute(JobRequest(job_id=job1, estimate_s=60))
            step_n(sim, clock, 2)
            await link.drain()
            executing = fleet.get(node.id).state
            for _ in range(400):  # heats, runs to 50 %, loses the link
                step_n(sim, clock, 1)
                if sim.state is DriverState.OFFLINE:
                    break
            await link.drain()
            offline = fleet.get(node.id).state
            step_n(sim, clock, 40)  # link comes back
            await link.drain()
            back = fleet.get(node.id).state
            await sim.execute(JobRequest(job_id=uuid4(), estimate_s=30))
            step_n(sim, clock, 200)
            await link.drain()
            await bus.drain()
            history = await fleet.timeline(node.id)
            return executing, offline, back, fleet.get(node.id), seen, history, job1
        finally:
            await bus.close()
            store.close()

    executing, offline, back, node, seen, history, job1 = asyncio.run(go())
    N = NodeState
    assert executing is N.EXECUTING and offline is N.OFFLINE and back is N.IDLE and node.state is N.IDLE
    states = [c.to_state for c in history]
    assert states[-3:] == ["EXECUTING", "COMPLETED", "IDLE"]  # the second job completed normally
    assert "OFFLINE" in states
    finished = [e for e in seen if isinstance(e, DeviceJobFinished)]
    assert finished[0].job_id == job1 and finished[0].outcome == "paused"
    assert finished[0].checkpoint["fraction"] >= 0.5
    assert finished[1].outcome == "completed"
    assert any(isinstance(e, FaultReported) and e.kind == "lost_link" for e in seen)
    tele = [e for e in seen if isinstance(e, TelemetryReceived)]
    assert len(tele) > 100 and tele[0].sample.node_id == node.id and "power_w" in tele[0].sample.metrics
    assert node.energy_level > 0 and node.material_levels["pla"] < 1000


def test_telemetry_stream_yields_readings_on_the_injected_clock() -> None:
    from app.core.clock import ScaledClock
    from app.core.drivers import event_stream

    async def go():
        m = SimulatedMachine("arm", Capabilities(process=ProcessType.ROBOT_ARM), ScaledClock(1000),
                             SimConfig(telemetry_interval_s=5))
        await m.connect()
        got = []
        async for ev in event_stream(m):
            got.append(ev)
            if len(got) == 20:
                break
        await m.disconnect()
        return got, m

    got, m = asyncio.run(asyncio.wait_for(go(), 10))
    assert len(got) == 20 and all("power_w" in e.metrics for e in got)
    assert m._listeners == []  # the stream let go of the machine
