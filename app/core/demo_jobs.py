"""A steady, seeded stream of believable jobs for the demo site, so a newcomer sees work flowing at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from app.core.clock import Clock
from app.core.domain.errors import ImeweError
from app.core.jobs.service import JobService

log = logging.getLogger(__name__)

# (job name, [(part name, process, material, size mm, quantity, minutes)], priority)
CATALOGUE: list[tuple[str, list[tuple[str, str, str, tuple[float, float, float], int, int]], int]] = [
    ("drone frame", [("arm", "fdm", "petg", (120, 20, 10), 4, 55), ("top plate", "cnc_mill", "aluminium",
                     (90, 90, 3), 1, 40), ("canopy", "sla", "resin-tough", (80, 60, 30), 1, 90)], 7),
    ("cable clips", [("clip", "fdm", "pla", (15, 10, 8), 12, 8)], 3),
    ("sign", [("face", "laser", "acrylic", (300, 200, 3), 1, 12), ("stand", "fdm", "pla", (60, 40, 30), 2, 35)], 5),
    ("gear set", [("pinion", "cnc_mill", "pom", (30, 30, 10), 2, 25), ("gear", "fdm", "nylon", (60, 60, 10), 2,
                  70)], 6),
    ("robot gripper", [("finger", "fdm", "tpu", (40, 15, 10), 2, 30), ("palm", "cnc_mill", "aluminium",
                       (60, 40, 15), 1, 50), ("assembly", "robot_arm", "pla", (80, 60, 40), 1, 15)], 8),
    ("enclosure", [("base", "fdm", "asa", (180, 120, 40), 1, 240), ("lid", "fdm", "asa", (180, 120, 8), 1, 90),
                   ("panel", "laser", "plywood", (200, 140, 4), 2, 8)], 5),
    ("dental models", [("arch", "sla", "resin-standard", (70, 60, 25), 3, 120)], 9),
    ("jig", [("plate", "cnc_mill", "aluminium", (150, 100, 12), 1, 60), ("pins", "cnc_lathe", "steel",
             (10, 10, 40), 4, 6)], 4),
]


class DemoJobFeed:
    """Submits a job every ``every_s`` simulated seconds (a few at once at start)."""

    name = "demo-feed"

    def __init__(self, jobs: JobService, clock: Clock, *, every_s: float = 1800.0, initial: int = 6,
                 seed: int = 7, max_open: int = 25) -> None:
        self._jobs = jobs
        self._clock = clock
        self._every_s = every_s
        self._initial = initial
        self._rng = random.Random(seed)
        self._max_open = max_open
        self._task: asyncio.Task | None = None
        self.submitted = 0

    async def start(self) -> None:
        for _ in range(self._initial):
            await self.submit_one()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="demo-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def health(self) -> str:
        return "ok"

    async def _run(self) -> None:
        while True:
            await self._clock.sleep(self._every_s * self._rng.uniform(0.5, 1.5))
            from app.core.domain.enums import JobState

            open_jobs = await self._jobs.list({JobState.VALIDATED, JobState.SCHEDULED, JobState.ASSIGNED,
                                               JobState.IN_PROGRESS, JobState.PAUSED}, limit=self._max_open + 1)
            if len(open_jobs) < self._max_open:
                await self.submit_one()

    def make_spec(self) -> dict[str, Any]:
        name, parts, prio = self._rng.choice(CATALOGUE)
        self.submitted += 1
        return {"name": f"{name} #{self.submitted}", "priority": max(1, min(10, prio + self._rng.randint(-1, 1))),
                "parts": [{"name": p, "process": proc, "material": mat, "size": list(size), "quantity": q,
                           "estimated_duration_s": int(minutes * 60 * self._rng.uniform(0.8, 1.2)),
                           **({"depends_on": list(range(i))} if p == "assembly" else {})}
                          for i, (p, proc, mat, size, q, minutes) in enumerate(parts)]}

    async def submit_one(self) -> None:
        spec = self.make_spec()
        try:
            await self._jobs.submit(spec, actor="demo")
        except ImeweError as exc:  # a demo fleet without that process: skip this job
            log.info("demo job %s skipped: %s", spec["name"], exc)
