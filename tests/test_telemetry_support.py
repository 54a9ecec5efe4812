"""Test support for telemetry and energy (no tests here): a sample generator and a first-order heater model."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from app.core.domain.entities import TelemetrySample

T0 = datetime(2026, 6, 21, 0, 0, tzinfo=UTC)


@dataclass
class Heater:
    """dT/dt = (P * u - k (T - T_amb)) / C with a PI controller on the heater duty u in [0, 1].

    Numbers are a typical 40 W hot end: about 2.5 °C/s at full power near 200 °C.
    """

    power_w: float = 40.0
    k_w_per_c: float = 0.085  # losses
    c_j_per_c: float = 11.0  # heat capacity
    ambient_c: float = 25.0
    temp_c: float = 25.0
    target_c: float = 0.0
    kp: float = 0.08
    ki: float = 0.004
    stuck_on: bool = False  # fault: the MOSFET fails closed
    sensor_off: bool = False  # fault: the thermistor falls out of the block
    sensor_c: float = 25.0
    _i: float = 0.0

    def step(self, dt: float) -> float:
        err = self.target_c - self.sensor_c
        if self.target_c <= 0:
            u = 0.0
        else:
            if abs(err) < 10.0:  # integrate only near the set point: no wind-up during the heat-up
                self._i = min(max(self._i + err * dt, -200.0), 200.0)
            u = min(max(self.kp * err + self.ki * self._i, 0.0), 1.0)
        if self.stuck_on:
            u = 1.0
        self.temp_c += dt * (self.power_w * u - self.k_w_per_c * (self.temp_c - self.ambient_c)) / self.c_j_per_c
        if self.sensor_off:  # the loose sensor cools towards the air with a ~6 s time constant
            self.sensor_c += (self.ambient_c - self.sensor_c) * (1 - math.exp(-dt / 6.0))
        else:
            self.sensor_c = self.temp_c
        self.duty = u
        return self.sensor_c


def samples(node_ids: list[UUID], seconds: int, start: datetime = T0, seed: int = 0,
            metrics: tuple[str, ...] = ("temperature", "target_temperature", "power_w", "vibration", "progress",
                                        "material_remaining")) -> list[TelemetrySample]:
    """Plausible 1 Hz samples of machines printing steadily."""
    rng = random.Random(seed)
    out = []
    for s in range(seconds):
        at = start + timedelta(seconds=s)
        for i, node in enumerate(node_ids):
            values = {
                "temperature": 210.0 + rng.gauss(0, 0.5), "target_temperature": 210.0,
                "power_w": 120.0 + 10 * i + rng.gauss(0, 5), "vibration": 0.3 + rng.gauss(0, 0.02),
                "progress": min(100.0, s / 10.0), "material_remaining": 900.0 - s * 0.01,
            }
            out.append(TelemetrySample(node, at, {m: values[m] for m in metrics}))
    return out


def register_nodes(store, node_ids) -> None:  # type: ignore[no-untyped-def]
    """Machines the store knows, so their telemetry may be imported (import refuses unknown machines)."""
    from app.core.domain.capabilities import Capabilities
    from app.core.domain.entities import Node
    from app.core.domain.enums import ProcessType
    from app.core.store.repositories import NodeRepo

    with store.begin() as conn:
        for i, nid in enumerate(node_ids):
            NodeRepo().add(conn, Node(f"machine-{i}", Capabilities(process=ProcessType.FDM), id=UUID(str(nid))))
