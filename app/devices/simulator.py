"""A simulated machine of any process type, stepped on the injected clock (ScaledClock runs a day in minutes).

Physics kept simple but honest: each heater is a first-order system (settles towards ambient + duty x (max −
ambient) with time constant tau), so heat-up takes real (simulated) time; power is the heaters' draw plus the
phase's draw (working, idle, standby); progress follows the job's estimate once heated; material is used in
proportion; spindles and arms vibrate, a little more as they wear. Faults come from the configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from dataclasses import dataclass, field, replace

from app.core.clock import Clock
from app.core.domain.capabilities import Capabilities
from app.core.domain.errors import DeviceError, ValidationError
from app.core.drivers import (
    DriverBase,
    DriverFault,
    DriverJobFinished,
    DriverJobProgress,
    DriverState,
    DriverTelemetry,
    JobCheckpoint,
    JobOutcome,
    JobRequest,
)
from app.devices.sim_profiles import (
    MachineBehaviour,
    SimProfile,
    failure_hazard_per_h,
    profile_for,
    soak_s,
    work_factor,
)

log = logging.getLogger(__name__)
AMBIENT_C = 21.0
FAULT_KINDS = ("thermal_runaway", "heater_fault", "lost_link", "jam", "power_loss", "estop", "wear")


@dataclass(slots=True)
class FaultSpec:
    """One injected fault: at a job's progress (``at_progress``), after work time (``after_s``) or at a random
    rate (``rate_per_h`` of working time). ``recover_s``: a lost link or power comes back after that long."""

    kind: str
    at_progress: float | None = None
    after_s: float | None = None
    rate_per_h: float = 0.0
    recover_s: float | None = None
    once: bool = True
    fired: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> FaultSpec:
        kind = str(d.get("kind", ""))
        if kind not in FAULT_KINDS:
            raise ValidationError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}", "faults")
        return cls(kind, d.get("at_progress"), d.get("after_s"), float(d.get("rate_per_h", 0.0)),
                   d.get("recover_s"), bool(d.get("once", True)))


@dataclass(slots=True)
class _Heater:
    name: str
    max_c: float
    tau_s: float
    power_w: float
    default_target_c: float
    temp_c: float = AMBIENT_C
    target_c: float = 0.0
    duty: float = 0.0
    runaway: bool = False
    failing: bool = False  # a heater cartridge or its wiring failing: it heats at a fraction of its power

    def step(self, dt: float) -> None:
        if self.runaway:  # the sensor fell off: the controller heats flat out and the real temperature climbs
            self.duty = 1.0
        elif self.target_c <= 0:
            self.duty = 0.0
        elif self.temp_c < self.target_c - 1.5:
            self.duty = 1.0
        else:  # hold: the duty whose steady state is the target
            self.duty = max(0.0, min(1.0, (self.target_c - AMBIENT_C) / (self.max_c - AMBIENT_C)))
        strength = 1.6 if self.runaway else (0.45 if self.failing else 1.0)
        settle = AMBIENT_C + self.duty * (self.max_c - AMBIENT_C) * strength
        heating_up = not self.runaway and self.duty >= 1.0 and self.temp_c < self.target_c
        self.temp_c += (settle - self.temp_c) * (1.0 - math.exp(-dt / self.tau_s))
        if heating_up and self.temp_c > self.target_c:
            # The firmware's controller drops to hold duty as it reaches the target; a coarse simulation step
            # must not overshoot past it (real PID overshoot is a degree or two).
            self.temp_c = self.target_c + 0.5

    @property
    def ready(self) -> bool:
        return self.target_c <= 0 or self.temp_c >= self.target_c - 2.0


@dataclass(slots=True)
class SimConfig:
    telemetry_interval_s: float = 1.0  # simulated seconds between steps (and readings)
    faults: list[FaultSpec] = field(default_factory=list)
    material_left_g: float = 1000.0
    seed: int = 0
    profile: SimProfile | None = None
    # What the machine does that the estimate does not know (slower or faster work, bed soak, pauses, wear);
    # None: the machine runs exactly to the estimate, as the device tests expect.
    behaviour: MachineBehaviour | None = None


class SimulatedMachine(DriverBase):
    protocol = "sim"

    def __init__(self, name: str, capabilities: Capabilities, clock: Clock, config: SimConfig | None = None) -> None:
        super().__init__(name, capabilities)
        self._clock = clock
        self.config = config or SimConfig()
        self.profile = self.config.profile or profile_for(capabilities.process)
        self._rng = random.Random(self.config.seed or hash(name) & 0xFFFF)
        self._heaters = [_Heater(h.name, h.max_c, h.tau_s, h.power_w, h.target_c) for h in self.profile.heaters]
        self._task: asyncio.Task | None = None
        self._job: JobRequest | None = None
        self._work_s = 0.0  # of the current job, after heat-up
        self._job_s = 0.0
        self._paused = False
        self._idle_since = 0.0
        self._hours = 0.0
        self.material_left_g = self.config.material_left_g
        self._used_g = 0.0
        self._link_back_at: float | None = None
        self._heater_back_at: float | None = None  # a failing heater works again then (a connector reseated)
        self._last = 0.0
        self.steps = 0
        self.location = ""
        self._soak_left_s = 0.0  # bed soak still to wait after the heaters reach target (behaviour)
        self._pause_left_s = 0.0  # an occasional pause in progress (behaviour)
        self.hours_since_maintenance = 0.0

    # ------------------------------------------------------------------ life cycle
    async def connect(self) -> None:
        if self._task is not None:
            return
        self._last = self._clock.monotonic()
        self._idle_since = self._last
        self._set_state(DriverState.IDLE, "simulated machine ready")
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sim:{self.name}")

    async def disconnect(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_state(DriverState.DISCONNECTED, "stopped")

    async def _run(self) -> None:
        while True:
            await self._clock.sleep(self.config.telemetry_interval_s)
            now = self._clock.monotonic()
            dt, self._last = max(0.0, now - self._last), now
            try:
                self.step(dt, now)
            except Exception:  # a bug in one simulated machine must not stop the others
                log.exception("simulated machine %s failed a step", self.name)

    # ------------------------------------------------------------------ physics
    def step(self, dt: float, now: float) -> None:
        self.steps += 1
        if self._link_back_at is not None:
            if now < self._link_back_at:
                return  # nothing reaches the control room while the link is down
            self._link_back_at = None
            self._set_state(DriverState.IDLE, "link restored")
        if self._heater_back_at is not None and now >= self._heater_back_at:
            self._heater_back_at = None
            for h in self._heaters:
                h.failing = False
        for h in self._heaters:
            h.step(dt)
        working = self._job is not None and not self._paused and self.state is DriverState.WORKING
        heated = all(h.ready for h in self._heaters)
        if working:
            self._job_s += dt
            if heated and self._behaviour_holds(dt):
                heated = False  # soaking or paused: the machine draws idle power and makes no progress
            elif heated:
                self._work_s += dt
                self._hours += dt / 3600.0
                self.hours_since_maintenance += dt / 3600.0
        self._check_faults(dt, working)
        metrics = self._readings(working and heated, now)
        job_id = self._job.job_id if self._job else None
        self._emit(DriverTelemetry(metrics, job_id))
        if self._job is not None and working and heated:
            self._advance_job()

    def _behaviour_holds(self, dt: float) -> bool:
        """True while the behaviour keeps a heated machine from working: bed soak, an occasional pause; and
        wear may end the job as failed."""
        b = self.config.behaviour
        if b is None:
            return False
        if self._soak_left_s > 0:
            self._soak_left_s -= dt
            return True
        if self._pause_left_s > 0:
            self._pause_left_s -= dt
            return True
        if b.pause_rate_per_h > 0 and self._rng.random() < 1.0 - math.exp(-b.pause_rate_per_h * dt / 3600.0):
            self._pause_left_s = self._rng.expovariate(1.0 / max(b.pause_mean_s, 1.0))
            return True
        hazard = failure_hazard_per_h(b, self.hours_since_maintenance)
        if self._rng.random() < 1.0 - math.exp(-hazard * dt / 3600.0):
            self.inject("wear")
            return True
        return False

    def _readings(self, active: bool, now: float) -> dict[str, float]:
        p = self.profile
        if self.state in (DriverState.OFFLINE, DriverState.DISCONNECTED):
            base = 0.0
        elif active:
            base = p.work_power_w * (0.85 + 0.3 * self._rng.random())
        elif self._job is not None or now - self._idle_since < p.standby_after_s:
            base = p.idle_power_w
        else:
            base = p.standby_power_w
        heat = sum(h.duty * h.power_w for h in self._heaters)
        m: dict[str, float] = {"power_w": round(base + heat, 1)}
        for h in self._heaters:
            m[f"{h.name}_c"] = round(h.temp_c + self._rng.gauss(0, 0.3), 2)
            m[f"{h.name}_target_c"] = h.target_c
        if p.vibration_mm_s > 0:
            level = p.vibration_mm_s * (1 + p.wear_per_hour * self._hours) if active else 0.05
            m["vibration"] = round(max(0.0, level + self._rng.gauss(0, 0.08 * max(level, 0.1))), 3)
        if p.spindle_rpm:
            m["spindle_rpm"] = p.spindle_rpm if active else 0.0
        for k, v in p.extra.items():
            m[k] = v if active else 0.0
        if self._job is not None:
            m["progress"] = round(self._fraction, 4)
            m["material_used_g"] = round(self._used_g, 2)
        m["material_remaining"] = round(self.material_left_g, 1)
        if self._heaters:  # the main heater under the names the telemetry rules watch
            m["temperature"] = m[f"{self._heaters[0].name}_c"]
            m["target_temperature"] = self._heaters[0].target_c
        return m

    def _advance_job(self) -> None:
        job = self._job
        assert job is not None
        estimate = job.estimate_s or float(job.spec.get("duration_s") or self.profile.default_job_s)
        if self.config.behaviour is not None:
            size = job.spec.get("size_mm")
            mean = sum(size) / len(size) if isinstance(size, list | tuple) and size else None
            estimate *= work_factor(self.config.behaviour, mean)
        fraction = min(1.0, self._work_s / estimate)
        total_g = job.material_g or self.profile.material_rate_g_h * estimate / 3600.0
        used = total_g * fraction
        self.material_left_g = max(0.0, self.material_left_g - (used - self._used_g))
        self._used_g = used
        self._emit(DriverJobProgress(job.job_id, fraction, material_used_g=round(used, 2)))
        if fraction >= 1.0:
            self._end_job(JobOutcome.COMPLETED, "done", DriverState.IDLE)

    def _end_job(self, outcome: JobOutcome, message: str, next_state: DriverState) -> None:
        job, self._job = self._job, None
        if job is None:
            return
        checkpoint = JobCheckpoint(job.job_id, 0, 0, self._fraction)
        for h in self._heaters:
            h.target_c = 0.0
        self._paused = False
        self._idle_since = self._clock.monotonic()
        self._emit(DriverJobFinished(job.job_id, outcome, message, checkpoint))
        self._set_state(next_state, message)

    # ------------------------------------------------------------------ faults
    def _check_faults(self, dt: float, working: bool) -> None:
        for f in self.config.faults:
            if f.fired and f.once:
                continue
            due = False
            if working and f.at_progress is not None and self._fraction >= f.at_progress:
                due = True
            elif working and f.after_s is not None and self._job_s >= f.after_s:
                due = True
            elif working and f.rate_per_h > 0:
                due = self._rng.random() < 1.0 - math.exp(-f.rate_per_h * dt / 3600.0)
            if due:
                f.fired = True
                self.inject(f.kind, f.recover_s)

    def inject(self, kind: str, recover_s: float | None = None) -> None:
        """Make a fault happen now (from the configuration, a test, or the demo's fault menu)."""
        if kind == "thermal_runaway":
            heater = self._heaters[0] if self._heaters else None
            if heater is not None:
                heater.runaway = True
                heater.step(30.0)
                heater.runaway = False
                heater.target_c = 0.0
            self._fault(kind, f"{self.name}: thermal runaway on {heater.name if heater else 'heater'}; "
                              "heaters shut down", JobOutcome.FAILED, DriverState.ERROR)
            for h in self._heaters:
                h.target_c = 0.0
        elif kind == "heater_fault":
            # The firmware notices nothing: the temperature sags away from the target and the site's telemetry
            # rules (not the machine) raise the alert, as with a real failing heater cartridge.
            if self._heaters:
                self._heaters[0].failing = True
                log.warning("%s: heater %s is failing (simulated)", self.name, self._heaters[0].name)
                if recover_s:
                    self._heater_back_at = self._clock.monotonic() + recover_s
        elif kind == "lost_link":
            self._fault(kind, f"{self.name}: link lost", JobOutcome.PAUSED, DriverState.OFFLINE)
            self._link_back_at = self._clock.monotonic() + recover_s if recover_s else float("inf")
        elif kind == "jam":
            if self._job is not None:
                self._paused = True
                self._emit(DriverFault(kind, f"{self.name}: material jam or clog; clear it and resume",
                                       fatal=False))
                self._set_state(DriverState.PAUSED, "jam")
        elif kind == "power_loss":
            for h in self._heaters:
                h.target_c = 0.0
            self._fault(kind, f"{self.name}: power lost", JobOutcome.FAILED, DriverState.OFFLINE)
            self._link_back_at = self._clock.monotonic() + recover_s if recover_s else float("inf")
        elif kind == "wear":
            self._fault(kind, f"{self.name}: the job failed (worn machine: lost steps or a broken tool); "
                              "maintenance is due", JobOutcome.FAILED, DriverState.ERROR)
        elif kind == "estop":
            self._fault(kind, f"{self.name}: emergency stop pressed", JobOutcome.FAILED, DriverState.ERROR)
        else:
            raise ValidationError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}", "fault")

    def _fault(self, kind: str, message: str, outcome: JobOutcome, next_state: DriverState) -> None:
        log.warning("%s", message)
        self._emit(DriverFault(kind, message, True))
        if self._job is not None:
            self._end_job(outcome, message, next_state)
        else:
            self._set_state(next_state, message)

    # ------------------------------------------------------------------ FabricationDevice
    async def execute(self, job: JobRequest) -> None:
        if self.state is not DriverState.IDLE:
            raise DeviceError(f"{self.name} cannot start a job while {self.state.value}")
        mat = job.spec.get("material")
        if mat and not self._caps.can_use(str(mat)):
            raise ValidationError(f"{self.name} cannot use material {mat!r}", "material")
        self._job, self._work_s, self._job_s, self._used_g, self._paused = job, 0.0, 0.0, 0.0, False
        self._job_id = job.job_id
        self._fraction = 0.0
        for h in self._heaters:
            h.target_c = float(job.spec.get(f"{h.name}_c", h.default_target_c))
        self._pause_left_s = 0.0
        self._soak_left_s = self._soak_for_job()
        self._set_state(DriverState.WORKING, f"running {job.describe()}")

    def _soak_for_job(self) -> float:
        b = self.config.behaviour
        bed = next((h for h in self._heaters if h.name == "bed"), None)
        if b is None or bed is None:
            return 0.0
        x, y, _ = self._caps.build_volume_mm
        return soak_s(b, x * y / 10_000.0, bed.target_c, AMBIENT_C)

    async def pause(self) -> None:
        if self.state is DriverState.WORKING:
            self._paused = True
            self._set_state(DriverState.PAUSED, "paused by the operator")

    async def resume(self) -> None:
        if self.state is DriverState.PAUSED and self._job is not None:
            self._paused = False
            self._set_state(DriverState.WORKING, "resumed")

    async def cancel(self) -> None:
        self._end_job(JobOutcome.CANCELLED, "cancelled by the operator", DriverState.IDLE)

    async def emergency_stop(self) -> None:
        self.inject("estop")

    async def calibrate(self, what: str = "home") -> None:
        if self.state not in (DriverState.IDLE, DriverState.ERROR):
            raise DeviceError(f"{self.name} can calibrate only when idle")
        if what == "maintenance":  # wear starts again from zero
            self.hours_since_maintenance = 0.0
        if what == "reset" and self.state is DriverState.ERROR:
            self._set_state(DriverState.IDLE, "reset by the operator")

    def load_material(self, material: str, grams: float) -> None:
        self.material_left_g = grams
        self._caps = replace(self._caps, loaded_material=material)
