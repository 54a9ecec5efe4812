"""The telemetry rules and detectors on the simulated machines of app/devices: a whole print with a normal
heat-up raises nothing; printing with the heater stuck on is caught as a runaway within 10 s."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

from app.core.bus import EventBus
from app.core.clock import ManualClock
from app.core.domain.capabilities import Capabilities
from app.core.domain.entities import TelemetrySample
from app.core.domain.enums import ProcessType, Severity
from app.core.drivers import DriverState, DriverTelemetry, JobRequest
from app.core.store.db import open_store
from app.core.store.repositories import AlertRepo
from app.core.telemetry.service import TelemetryService
from app.devices.simulator import SimulatedMachine

FDM = Capabilities(process=ProcessType.FDM, build_volume_mm=(220, 220, 250), loaded_material="pla",
                   max_power_w=350)
NODE = UUID(int=42)


async def _drive(tmp_path: Path, seconds: int, stuck_after: int | None = None):
    store = open_store(f"sqlite:///{tmp_path / 't.sqlite3'}")
    clock = ManualClock()
    svc = TelemetryService(store, EventBus(), clock)
    m = SimulatedMachine("p1", FDM, clock)
    await m.connect()
    await m.disconnect()  # step by hand
    m._set_state(DriverState.IDLE)
    seen: list = []
    m.add_listener(seen.append)
    await m.execute(JobRequest(job_id=uuid4(), estimate_s=900, material_g=30))
    fault_at = None
    for s in range(seconds):
        if stuck_after is not None and s == stuck_after:
            m._heaters[0].runaway = True  # the heater's switch fails closed; the firmware does not notice
            fault_at = clock.now()
        clock.advance(1.0)
        m.step(1.0, clock.monotonic())
        for e in seen:
            if isinstance(e, DriverTelemetry):
                await svc.handle(TelemetrySample(NODE, clock.now(), dict(e.metrics), e.job_id))
        seen.clear()
    await svc.writer.flush(final=True)
    with store.connect() as conn:
        alerts = AlertRepo().list(conn)
    store.close()
    return alerts, fault_at


def test_a_whole_simulated_print_raises_nothing(tmp_path: Path) -> None:
    alerts, _ = asyncio.run(_drive(tmp_path, 1500))
    assert alerts == [], [a.message for a in alerts]


def test_heater_stuck_on_during_a_simulated_print(tmp_path: Path) -> None:
    alerts, fault_at = asyncio.run(_drive(tmp_path, 600, stuck_after=400))
    runaway = [a for a in alerts if a.type == "thermal_runaway"]
    assert len(runaway) == 1 and runaway[0].severity is Severity.CRITICAL
    assert timedelta(0) < runaway[0].raised_at - fault_at <= timedelta(seconds=10)
