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
