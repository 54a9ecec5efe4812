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
