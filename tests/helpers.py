"""Small helpers for tests: a booted core on a given database, and job specs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from app.bootstrap import Core, build_core
from app.core.clock import Clock, ManualClock
from app.core.config import load_config

T = TypeVar("T")


def run_with_core(home: Path, db_url: str, fn: Callable[[Core], Awaitable[T]], clock: Clock | None = None) -> T:
    async def go() -> T:
        core = build_core(load_config(str(home), db_url), clock or ManualClock(), connect_machines=False)
        await core.kernel.boot()
        try:
            return await fn(core)
        finally:
            await core.kernel.shutdown()

    return asyncio.run(go())


FDM = {"process": "fdm", "build_volume_mm": [250, 210, 210], "materials": ["pla", "petg"], "loaded_material": "pla",
       "max_power_w": 350}
CNC = {"process": "cnc_mill", "build_volume_mm": [400, 300, 150], "materials": ["aluminium", "pom"],
       "max_power_w": 1500}


def job_spec(name: str = "bracket", parts: int = 2, **over: Any) -> dict[str, Any]:
    spec = {"name": name, "priority": 5,
            "parts": [{"name": f"{name} {i}", "process": "fdm", "material": "pla", "size": [40, 30, 12],
                       "quantity": 2} for i in range(parts)]}
    spec.update(over)
    return spec


async def clips_waiting_for_a_sign(core: Core, machine: str = "FDM-A") -> tuple[Any, Any, Any]:
    """(machine, clips job, sign job) as the demo makes them: 12 clips go in progress on one printer (a quarter
    done), then a sign's stand starts on the same printer (half done) while the clips wait between copies.
    Both parts are an hour's work."""
    from app.core.domain.enums import JobState

    node = await core.fleet.register(machine, FDM, bring_up=True)
    made = []
    for name, qty, pct in (("cable clips", 12, 25.0), ("sign", 1, 50.0)):
        spec = job_spec(name, parts=1)
        spec["parts"][0].update(name=name.split()[-1], quantity=qty, estimated_duration_s=3600)
        job = await core.jobs.submit(spec, actor="test")
        part = job.parts[0]
        for state in (JobState.VALIDATED, JobState.SCHEDULED, JobState.ASSIGNED, JobState.IN_PROGRESS):
            job = await core.jobs.transition(job.id, state, parts={part.id: state}, assign={part.id: node.id})
        await core.jobs.update_progress(part.id, pct)
        made.append(await core.jobs.get(job.id))
        await asyncio.sleep(0.01)  # the stand goes in progress after the clips, as on the floor
    return node, made[0], made[1]
