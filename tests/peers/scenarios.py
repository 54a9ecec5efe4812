"""The checks every network driver goes through against its peer (a real server or an emulator process):
print → progress → pause/resume → cancel, a job to completion, emergency stop, wrong credentials, the machine
killed mid-job and back, garbage replies. Each returns what it saw; the test module asserts on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

from app.core.drivers import (
    DriverEvent,
    DriverFault,
    DriverJobFinished,
    DriverJobProgress,
    DriverState,
    DriverStateChanged,
    DriverTelemetry,
    JobOutcome,
    JobRequest,
)
from app.devices.network.driver import NetworkDriver
from tests.network_scenarios import LoopWatch

__all__ = ["LoopWatch"]  # one loop watch for every network test (lateness and the strict CPU figure)


class Recorder:
    def __init__(self, driver: NetworkDriver) -> None:
        self.driver = driver
        self.events: list[DriverEvent] = []
        driver.add_listener(self.events.append)

    def of(self, cls: type) -> list:
        return [e for e in self.events if isinstance(e, cls)]

    def faults(self, kind: str) -> list[DriverFault]:
        return [e for e in self.of(DriverFault) if e.kind == kind]

    async def wait(self, pred: Callable[[DriverEvent], bool], timeout_s: float = 30.0, what: str = "") -> DriverEvent:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if pred(event):
                    return event
            seen = len(self.events)
            await asyncio.sleep(0.02)
        tail = [type(e).__name__ + (f"({e.state.value})" if isinstance(e, DriverStateChanged) else "")
                for e in self.events[-12:]]
        raise AssertionError(f"waited {timeout_s:.0f} s for {what or 'an event'}; state "
                             f"{self.driver.state.value}; last events {tail}")

    async def state(self, state: DriverState, timeout_s: float = 30.0) -> None:
        if self.driver.state is state:
            return
        await self.wait(lambda e: isinstance(e, DriverStateChanged) and e.state is state, timeout_s,
                        f"state {state.value}")

    async def finished(self, timeout_s: float = 30.0) -> DriverJobFinished:
        return await self.wait(lambda e: isinstance(e, DriverJobFinished), timeout_s, "the job's end")  # type: ignore


async def print_pause_resume_cancel(driver: NetworkDriver, rec: Recorder, gcode: Path) -> dict:
    job_id = uuid4()
    await driver.execute(JobRequest(job_id=job_id, gcode_path=gcode, estimate_s=60.0))
    await rec.wait(lambda e: isinstance(e, DriverJobProgress) and e.job_id == job_id and e.fraction > 0.0,
                   what="progress above 0")
    working = driver.state
    await driver.pause()
    await rec.state(DriverState.PAUSED)
    await asyncio.sleep(0.5)
    frac_paused = driver.status().fraction
    await asyncio.sleep(1.0)
    frac_still = driver.status().fraction
    await driver.resume()
    await rec.state(DriverState.WORKING)
    await rec.wait(lambda e: isinstance(e, DriverJobProgress) and e.fraction > frac_still, what="progress again")
    await driver.cancel()
    end = await rec.finished()
    await asyncio.sleep(1.0)  # the machine winds down; nothing may start again
    return {"job_id": job_id, "working": working, "frac_paused": frac_paused, "frac_still": frac_still,
            "end": end, "state_after": driver.state,
            "telemetry": [e for e in rec.of(DriverTelemetry) if e.job_id == job_id]}


async def print_to_completion(driver: NetworkDriver, rec: Recorder, gcode: Path, timeout_s: float = 60.0) -> dict:
    job_id = uuid4()
    await driver.execute(JobRequest(job_id=job_id, gcode_path=gcode, estimate_s=10.0))
    end = await rec.finished(timeout_s)
    await rec.state(DriverState.IDLE)
    return {"job_id": job_id, "end": end, "telemetry": [e for e in rec.of(DriverTelemetry) if e.job_id == job_id],
            "progress": [e.fraction for e in rec.of(DriverJobProgress) if e.job_id == job_id]}


async def emergency_stop(driver: NetworkDriver, rec: Recorder, gcode: Path) -> dict:
    job_id = uuid4()
    await driver.execute(JobRequest(job_id=job_id, gcode_path=gcode, estimate_s=60.0))
    await rec.wait(lambda e: isinstance(e, DriverJobProgress) and e.fraction > 0.0, what="progress")
    await driver.emergency_stop()
    end = await rec.finished(5.0)
    return {"job_id": job_id, "end": end, "fault": rec.faults("estop"), "state": driver.state}


async def wrong_credentials(driver: NetworkDriver, rec: Recorder, settle_s: float = 2.0) -> dict:
    error: Exception | None = None
    try:
        await driver.connect()
    except Exception as exc:  # noqa: BLE001 - the test asserts on the type
        error = exc
    await asyncio.sleep(settle_s)  # a crash loop would raise more alerts meanwhile
    task = driver._loop_task
    return {"error": error, "alerts": rec.faults("auth_refused"), "all_faults": rec.of(DriverFault),
            "state": driver.state, "loop_done": task is None or task.done()}


def outcomes(rec: Recorder) -> list[JobOutcome]:
    return [e.outcome for e in rec.of(DriverJobFinished)]
