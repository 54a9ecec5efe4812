"""Believable physics per process type for the simulated machines: heaters, power by phase, vibration."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.domain.enums import ProcessType


@dataclass(frozen=True, slots=True)
class HeaterSpec:
    name: str  # metric prefix: "nozzle" → nozzle_c, nozzle_target_c
    target_c: float  # default working temperature
    max_c: float  # where full power would settle (first-order model's steady state at duty 1)
    tau_s: float  # time constant of the first-order model
    power_w: float  # draw at full duty


@dataclass(frozen=True, slots=True)
class SimProfile:
    heaters: tuple[HeaterSpec, ...] = ()
    work_power_w: float = 100.0  # motors, spindle, laser, UV... while working
    idle_power_w: float = 10.0
    standby_power_w: float = 3.0
    standby_after_s: float = 1800.0
    vibration_mm_s: float = 0.0  # RMS while working (spindles, arms); grows slowly with wear
    wear_per_hour: float = 0.0
    spindle_rpm: float = 0.0
    material_rate_g_h: float = 0.0  # used when the job gives no material amount
    default_job_s: float = 1800.0
    extra: dict[str, float] = field(default_factory=dict)


_H = HeaterSpec
PROFILES: dict[ProcessType, SimProfile] = {
    ProcessType.FDM: SimProfile((_H("nozzle", 210, 300, 35, 40), _H("bed", 60, 110, 150, 220)),
                                work_power_w=45, idle_power_w=8, standby_power_w=2.5, material_rate_g_h=12),
    ProcessType.SLA: SimProfile((_H("vat", 31, 45, 600, 60),), work_power_w=45, idle_power_w=12,
                                standby_power_w=4, material_rate_g_h=25),
    ProcessType.SLS: SimProfile((_H("bed", 172, 220, 1500, 2800),), work_power_w=1400, idle_power_w=120,
                                standby_power_w=40, material_rate_g_h=300, default_job_s=6 * 3600),
    ProcessType.MJF: SimProfile((_H("bed", 165, 210, 1200, 2400),), work_power_w=1800, idle_power_w=150,
                                standby_power_w=50, material_rate_g_h=350, default_job_s=5 * 3600),
    ProcessType.CNC_MILL: SimProfile(work_power_w=1500, idle_power_w=60, standby_power_w=15, vibration_mm_s=2.2,
                                     wear_per_hour=0.004, spindle_rpm=12000, material_rate_g_h=150),
    ProcessType.CNC_LATHE: SimProfile(work_power_w=2200, idle_power_w=80, standby_power_w=20, vibration_mm_s=2.8,
                                      wear_per_hour=0.005, spindle_rpm=3000, material_rate_g_h=400),
    ProcessType.LASER: SimProfile(work_power_w=420, idle_power_w=70, standby_power_w=10, material_rate_g_h=40,
                                  extra={"laser_power_w": 100}),
    ProcessType.ROBOT_ARM: SimProfile(work_power_w=450, idle_power_w=90, standby_power_w=25, vibration_mm_s=0.9,
                                      wear_per_hour=0.002),
    ProcessType.PICK_AND_PLACE: SimProfile(work_power_w=350, idle_power_w=60, standby_power_w=15,
                                           vibration_mm_s=0.6, wear_per_hour=0.001),
    ProcessType.INSPECTION: SimProfile(work_power_w=180, idle_power_w=40, standby_power_w=8, default_job_s=600),
    ProcessType.POST_PROCESSING: SimProfile((_H("chamber", 60, 90, 400, 900),), work_power_w=250,
                                            idle_power_w=15, standby_power_w=4, default_job_s=1800),
}


def profile_for(process: ProcessType) -> SimProfile:
    return PROFILES[process]


# --------------------------------------------------------------------------------------------------------------
# What a real machine does that the analytic estimate does not know (issue 15). Each simulated machine draws its
# own behaviour from its name and a seed, so the same fleet behaves the same in every run, and the learning code
# has something real to find: the estimate never sees these numbers.
@dataclass(frozen=True, slots=True)
class MachineBehaviour:
    """Per-machine deviations from the analytic estimate, documented in the README ("Simulated machines").

    - ``speed_factor``: real work time / planned work time for large parts (firmware limits, tuned or detuned
      profiles); 0.85 is a machine faster than its profile, 1.35 one much slower.
    - ``accel_penalty``: extra slowness on small, detailed parts, whose short moves never reach full speed when
      the firmware's acceleration limit is lower than the profile's: work time x (1 + accel_penalty x 20 mm /
      (20 mm + mean part size)). A per-machine ratio cannot capture it; a model that sees part size can.
    - ``heatup_s_per_dm2``: heat-up seconds per dm2 of heated bed (big beds take longer), times (bed target -
      ambient) / 40 K.
    - ``pause_rate_per_h`` / ``pause_mean_s``: occasional pauses (operator away, filament runout, door opened),
      a Poisson process over work hours with exponential lengths.
    - ``wear_per_h``: failure hazard grows by this share per hour since the last maintenance; the machine's
      vibration and temperature ripple grow with it, so recent telemetry warns of it.
    """

    speed_factor: float = 1.0
    accel_penalty: float = 0.0
    heatup_s_per_dm2: float = 0.0
    pause_rate_per_h: float = 0.0
    pause_mean_s: float = 0.0
    wear_per_h: float = 0.0
    base_failure_per_h: float = 0.002


NO_BEHAVIOUR = MachineBehaviour()


def behaviour_for(name: str, seed: int = 0) -> MachineBehaviour:
    """A machine's own behaviour, drawn deterministically from its name and the seed (no global random)."""
    import hashlib
    import random

    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    return MachineBehaviour(
        speed_factor=round(rng.uniform(0.85, 1.35), 3),
        accel_penalty=round(rng.uniform(0.0, 0.6), 3),
        heatup_s_per_dm2=round(rng.uniform(40.0, 120.0), 1),
        pause_rate_per_h=round(rng.uniform(0.0, 0.25), 3),
        pause_mean_s=round(rng.uniform(120.0, 900.0), 0),
        wear_per_h=round(rng.uniform(0.0005, 0.004), 5),
        base_failure_per_h=round(rng.uniform(0.002, 0.008), 4),
    )


def work_factor(b: MachineBehaviour, mean_size_mm: float | None) -> float:
    """Real work time / planned work time for a part of this mean size (None: size unknown, large-part factor)."""
    if mean_size_mm is None or mean_size_mm <= 0:
        return b.speed_factor
    return b.speed_factor * (1.0 + b.accel_penalty * 20.0 / (20.0 + mean_size_mm))


def soak_s(b: MachineBehaviour, bed_dm2: float, bed_target_c: float, ambient_c: float = 21.0) -> float:
    """Extra heat-up beyond the heaters reaching target: the bed (and frame) must soak, longer on big beds."""
    return b.heatup_s_per_dm2 * max(0.0, bed_dm2) * max(0.0, bed_target_c - ambient_c) / 40.0


def failure_hazard_per_h(b: MachineBehaviour, hours_since_maintenance: float) -> float:
    return b.base_failure_per_h * (1.0 + b.wear_per_h * 100.0 * hours_since_maintenance / 10.0)
