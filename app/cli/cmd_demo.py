"""imewe demo: the control room on a simulated site running at accelerated time, with jobs flowing.

Uses the lead's ``app.bootstrap.build_demo_core`` / ``start_demo`` when they exist; until then a small
built-in feeder registers simulated machines and moves jobs, telemetry and alerts through the real core.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from app import bootstrap
from app.core.clock import ScaledClock
from app.core.config import load_config
from app.core.domain.entities import Alert, TelemetrySample
from app.core.domain.enums import JobState, NodeState, ProcessType, Severity
from app.core.domain.errors import ImeweError, ValidationError
from app.core.events import AlertRaised, TelemetryReceived

log = logging.getLogger(__name__)
N, S = NodeState, JobState
# process, materials, loaded, build volume, idle W, working W, heats to °C (0: no heater)
KINDS = [
    (ProcessType.FDM, ["pla", "petg", "abs"], "pla", (250, 210, 220), 15, 180, 215),
    (ProcessType.FDM, ["pla", "petg", "tpu"], "petg", (300, 300, 400), 20, 260, 240),
    (ProcessType.SLA, ["resin-standard", "resin-tough"], "resin-standard", (145, 145, 175), 10, 60, 35),
    (ProcessType.CNC_MILL, ["aluminium", "pom", "mdf"], "aluminium", (600, 400, 200), 80, 1500, 0),
    (ProcessType.LASER, ["acrylic", "plywood", "mdf"], "plywood", (600, 400, 20), 30, 400, 0),
    (ProcessType.SLS, ["pa12"], "pa12", (340, 340, 600), 500, 4000, 170),
]
AREAS = ["bay 1", "bay 2", "bay 3", "machine shop"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="open the control room on a simulated site with jobs flowing")
    p.add_argument("--scale", type=float, help="simulated seconds per real second (default: IMEWE_DEMO_SCALE or 60)")
    p.add_argument("--machines", type=int, default=24, help="simulated machines (built-in demo; default 24)")
    p.add_argument("--screenshot", type=Path, help="save a PNG of the window after --after seconds, then exit")
    p.add_argument("--after", type=float, default=5.0, metavar="SECONDS", help="wait before the screenshot")
    p.add_argument("--headless", action="store_true", help="render off screen (no display needed)")
    p.add_argument("--tab", help="open on this tab: fleet, jobs, timeline, alerts")
    p.add_argument("--for", dest="run_for", type=float, metavar="SECONDS", help="close after this long")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from app.ui.runner import run_app, show_window

    if args.machines < 1 or args.machines > 2000:
        raise ValidationError("--machines must be from 1 to 2000")
    if args.after < 0:
        raise ValidationError("--after must be zero or more seconds")
    temp_home = None if args.home else tempfile.mkdtemp(prefix="imewe-demo-")
    config = load_config(args.home or temp_home, args.db)
    if args.scale is not None:
        if args.scale <= 0:
            raise ValidationError("--scale must be positive")
        config.demo_scale = args.scale
    bootstrap.setup_logging(config)

    async def main(app: Any) -> int:
        control = None
        feeder: DemoFeeder | None = None
        if hasattr(bootstrap, "build_demo_core") and hasattr(bootstrap, "start_demo"):
            core = bootstrap.build_demo_core(config, config.demo_scale)
            wire = getattr(bootstrap, "wire_optional_services", None)
            if wire is not None:
                wire(core)
            await core.kernel.boot()
            await bootstrap.start_demo(core)
        else:
            core = bootstrap.build_core(config, ScaledClock(config.demo_scale))
            await core.kernel.boot()
            feeder = DemoFeeder(core, args.machines)
            await feeder.setup()
            feeder.start()
            control = feeder
        try:
            return await show_window(app, core, control=control, screenshot=args.screenshot, after_s=args.after,
                                     run_for_s=args.run_for, tab=args.tab)
        finally:
            if feeder is not None:
                await feeder.stop()
            stop_demo = getattr(bootstrap, "stop_demo", None)
            if stop_demo is not None and feeder is None:
                await stop_demo(core)
            await core.kernel.shutdown()

    try:
        return run_app(main, headless=args.headless)
    finally:
        if temp_home:
            shutil.rmtree(temp_home, ignore_errors=True)


@dataclass(slots=True)
class _Work:
    job_id: UUID
    part_id: UUID
    duration_s: float
    done_s: float = 0.0
    paused: bool = False


@dataclass(slots=True)
class _Sim:
    kind: tuple
    temp: float = 22.0
    work: _Work | None = None
    rest_s: float = field(default_factory=lambda: random.uniform(0, 600))


class DemoFeeder:
    """Simulated machines driven through the real core; also the demo's ``MachineControl``."""

    def __init__(self, core: Any, machines: int, seed: int = 7, jobs: bool = True) -> None:
        self.core = core
        self.count = machines
        self.rng = random.Random(seed)
        self.jobs_enabled = jobs
        self.sims: dict[UUID, _Sim] = {}
        self._task: asyncio.Task | None = None
        self.ticks = 0

    async def setup(self) -> None:
        existing = {n.name for n in self.core.fleet.list()}
        for i in range(self.count):
            kind = KINDS[i % len(KINDS)]
            name = f"{kind[0].value.upper().replace('_', '-')}-{i + 1:03d}"
            if name not in existing:
                await self.core.fleet.register(
                    name, {"process": kind[0].value, "build_volume_mm": list(kind[3]), "materials": kind[1],
                           "loaded_material": kind[2], "idle_power_w": kind[4], "max_power_w": kind[5]},
                    location=AREAS[i % len(AREAS)], address=f"sim:{i + 1}", driver="sim", bring_up=True)
        for node in self.core.fleet.list():
            kind = next((k for k in KINDS if k[0] is node.process), KINDS[0])
            self.sims[node.id] = _Sim(kind)
        if self.jobs_enabled:
            # A newcomer should see a working site at once: most machines start mid-job.
            for node in self.core.fleet.list():
                sim = self.sims[node.id]
                if node.state is N.IDLE and self.rng.random() < 0.65:
                    await self._start_job(node, sim, done=self.rng.uniform(0.05, 0.9))
                    sim.temp = float(sim.kind[6] or 22.0) or 22.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="demo.feeder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping either way
                pass

    async def _loop(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            dt_sim = (now - last) * self.core.clock.scale
            last = now
            try:
                await self.tick(dt_sim)
            except ImeweError as exc:
                log.info("demo step skipped: %s", exc)
            except Exception:  # a demo glitch must not end the demo
                log.exception("demo step failed")

    async def tick(self, dt_s: float) -> None:
        self.ticks += 1
        now = self.core.clock.now()
        for node in self.core.fleet.list():
            sim = self.sims.get(node.id)
            if sim is None or node.state is N.DECOMMISSIONED:
                continue
            proc, _mats, _loaded, _vol, idle_w, work_w, heat = sim.kind
            working = sim.work is not None and not sim.work.paused and node.state is N.EXECUTING
            target = heat if working and heat else 22.0
            sim.temp += (target - sim.temp) * min(1.0, dt_s / 300.0) + self.rng.gauss(0, 0.4)
            m = {"power_w": (work_w if working else idle_w) * self.rng.uniform(0.9, 1.1)}
            if heat:
                m["temperature"], m["target_temperature"] = sim.temp, float(target)
            if proc in (ProcessType.CNC_MILL, ProcessType.LASER):
                m["vibration"] = (2.5 if working else 0.2) * self.rng.uniform(0.7, 1.3)
            if sim.work is not None:
                if working:
                    sim.work.done_s += dt_s
                m["progress"] = min(1.0, sim.work.done_s / sim.work.duration_s)  # a fraction, as drivers send
            self.core.bus.publish(TelemetryReceived(TelemetrySample(node.id, now, m, sim.work.job_id
                                                                    if sim.work else None)))
            if sim.work is not None and working and (self.ticks + sim.kind[4]) % 10 == 0:
                # stored progress, staggered across machines so the store sees a trickle, not a burst
                await self.core.jobs.update_progress(sim.work.part_id, 100.0 * m["progress"])
            if sim.work is not None and sim.work.done_s >= sim.work.duration_s:
                await self._finish(node.id, sim)
            elif sim.work is None and node.state is N.IDLE and self.jobs_enabled:
                sim.rest_s -= dt_s
                if sim.rest_s <= 0:
                    await self._start_job(node, sim)
        if self.ticks % 20 == 3:
            self._random_alert()

    async def _start_job(self, node: Any, sim: _Sim, done: float = 0.0) -> None:
        proc, mats, loaded, vol, *_ = sim.kind
        size = [round(self.rng.uniform(10, v * 0.6), 1) for v in vol]
        duration = self.rng.uniform(20, 90) * 60
        job = await self.core.jobs.submit({
            "name": f"{self.rng.choice(['Bracket', 'Housing', 'Gear', 'Panel', 'Fixture', 'Clip', 'Mount'])} "
                    f"{self.rng.randint(100, 999)}",
            "priority": self.rng.randint(1, 10),
            "parts": [{"name": "part 1", "process": proc.value, "material": loaded or mats[0], "size_mm": size,
                       "quantity": self.rng.randint(1, 4), "estimated_duration_s": int(duration)}]},
            actor="demo")
        part = job.parts[0]
        for step in (S.SCHEDULED, S.ASSIGNED, S.IN_PROGRESS):
            await self.core.jobs.transition(job.id, step, "demo dispatch", "demo", parts={part.id: step},
                                            assign={part.id: node.id})
        await self.core.fleet.set_state(node.id, [N.ASSIGNED, N.EXECUTING], "demo job", "demo")
        sim.work = _Work(job.id, part.id, duration, done_s=duration * done)
        sim.rest_s = self.rng.uniform(60, 900)

    async def _finish(self, node_id: UUID, sim: _Sim, outcome: JobState = S.COMPLETED) -> None:
        work, sim.work = sim.work, None
        if work is None:
            return
        if outcome is S.COMPLETED:
            await self.core.jobs.update_progress(work.part_id, 100.0)
        await self.core.jobs.transition(work.job_id, outcome, "demo", "demo", parts={work.part_id: outcome})
        node = self.core.fleet.get(node_id)
        if node.state is N.EXECUTING:
            path = [N.COMPLETED, N.IDLE] if outcome is S.COMPLETED else [N.IDLE]
            await self.core.fleet.set_state(node_id, path, "job finished", "demo")

    def _random_alert(self) -> None:
        nodes = [n for n in self.core.fleet.list() if n.state is not N.DECOMMISSIONED]
        if not nodes:
            return
        node = self.rng.choice(nodes)
        sev = self.rng.choice([Severity.INFO, Severity.WARNING, Severity.WARNING, Severity.CRITICAL])
        kind, text = {Severity.INFO: ("material_low", "material below 20 %"),
                      Severity.WARNING: ("vibration_high", "vibration above the usual range"),
                      Severity.CRITICAL: ("thermal_runaway", "temperature rising with the heater off")}[sev]
        self.core.bus.publish(AlertRaised(Alert(str(node.id), kind, sev, f"{node.name}: {text}",
                                                self.core.clock.now(), node_id=node.id)))

    # ------------------------------------------------------------ MachineControl for the demo
    async def request_pause(self, node_id: UUID) -> None:
        sim = self.sims.get(node_id)
        if sim is None or sim.work is None:
            raise ImeweError("this machine has no job to pause")
        sim.work.paused = True

    async def request_resume(self, node_id: UUID) -> None:
        sim = self.sims.get(node_id)
        if sim is None or sim.work is None:
            raise ImeweError("this machine has no job to resume")
        sim.work.paused = False

    async def request_cancel(self, node_id: UUID) -> None:
        sim = self.sims.get(node_id)
        if sim is None or sim.work is None:
            raise ImeweError("this machine has no job to cancel")
        await self._finish(node_id, sim, S.CANCELLED)

    async def request_emergency_stop(self, node_id: UUID) -> None:
        sim = self.sims.get(node_id)
        if sim is not None and sim.work is not None:
            await self._finish(node_id, sim, S.FAILED)
        node = self.core.fleet.get(node_id)
        if node.state not in (N.ERROR, N.DECOMMISSIONED):
            await self.core.fleet.set_state(node_id, N.ERROR, "emergency stop", "operator")
        self.core.bus.publish(AlertRaised(Alert(str(node_id), "estop", Severity.CRITICAL,
                                                f"{node.name}: emergency stop by the operator",
                                                self.core.clock.now(), node_id=node_id)))
