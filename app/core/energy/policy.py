"""Dispatch: which source feeds the site's load in one time step.

Policies (``[energy] policy``):
- ``spec``: the spec's select_power_source. Solar in daylight, else the battery above half charge, else the
  fuel cell, else the grid; what the first source cannot cover falls through to the next in that order.
- ``solar_priority`` (default): solar first, surplus into the battery; then the battery down to its reserve,
  then the cheaper of grid and fuel cell.
- ``peak_shaving``: like solar priority, but the battery is kept for peaks: the grid covers load up to the
  site cap and the battery and fuel cell cover what is above it; cheap hours top the battery up from the grid
  within the cap.
Under every policy grid import never exceeds the site cap; load nothing can cover is reported as unserved.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.core.energy.sources import Battery, FuelCell

POLICIES = ("spec", "solar_priority", "peak_shaving")


class Policy(StrEnum):
    SPEC = "spec"
    SOLAR_PRIORITY = "solar_priority"
    PEAK_SHAVING = "peak_shaving"


@dataclass(slots=True)
class Flows:
    """Average power (kW) of every flow during one step."""

    load: float = 0.0
    solar_to_load: float = 0.0
    solar_to_battery: float = 0.0
    solar_curtailed: float = 0.0
    battery_to_load: float = 0.0
    grid_to_load: float = 0.0
    grid_to_battery: float = 0.0
    fuel_to_load: float = 0.0
    unserved: float = 0.0

    @property
    def solar(self) -> float:
        return self.solar_to_load + self.solar_to_battery

    @property
    def grid(self) -> float:
        return self.grid_to_load + self.grid_to_battery

    @property
    def battery_net(self) -> float:
        """Positive while discharging, negative while charging."""
        return self.battery_to_load - self.solar_to_battery - self.grid_to_battery

    @property
    def supplied(self) -> float:
        return self.solar_to_load + self.battery_to_load + self.grid_to_load + self.fuel_to_load


@dataclass(slots=True)
class Conditions:
    load_kw: float
    solar_kw: float
    daylight: bool
    price: float
    cheap: bool  # price in the cheapest band of the day
    cap_kw: float | None  # grid import limit for this step


def dispatch(policy: Policy, c: Conditions, battery: Battery | None, fuel: FuelCell | None, dt_h: float) -> Flows:
    f = Flows(load=max(0.0, c.load_kw))
    need = f.load
    grid_room = float("inf") if c.cap_kw is None else max(0.0, c.cap_kw)
    solar = max(0.0, c.solar_kw)

    def take_solar() -> None:
        nonlocal need, solar
        f.solar_to_load = min(solar, need)
        need -= f.solar_to_load
        solar -= f.solar_to_load

    def take_battery(floor_soc: float | None = None) -> None:
        nonlocal need
        if battery is None or need <= 0:
            return
        if floor_soc is not None and battery.soc <= floor_soc:
            return
        f.battery_to_load += battery.discharge(need, dt_h)
        need -= f.battery_to_load

    def take_fuel() -> None:
        nonlocal need
        if fuel is None or need <= 0:
            return
        f.fuel_to_load = min(fuel.capacity_kw, need)
        need -= f.fuel_to_load

    def take_grid() -> None:
        nonlocal need, grid_room
        f.grid_to_load = min(need, grid_room)
        need -= f.grid_to_load
        grid_room -= f.grid_to_load

    if policy is Policy.SPEC:
        order = []
        if c.daylight and solar > 0:
            order.append("solar")
        if battery is not None and battery.soc > 0.5:
            order.append("battery")
        if fuel is not None:
            order.append("fuel")
        order.append("grid")  # the battery at or below half is kept in reserve, as the spec has it
        for src in order:
            {"solar": take_solar, "battery": take_battery, "fuel": take_fuel, "grid": take_grid}[src]()
    elif policy is Policy.SOLAR_PRIORITY:
        take_solar()
        take_battery()
        fuel_first = fuel is not None and fuel.cost_per_kwh < c.price
        for src in ((take_fuel, take_grid) if fuel_first else (take_grid, take_fuel)):
            src()
    else:  # peak shaving: grid up to the cap first, storage for the peak above it
        take_solar()
        take_grid()
        take_battery()
        take_fuel()
    f.unserved = max(0.0, need)
    # Solar surplus charges the battery; the rest is curtailed (no export modelled).
    if battery is not None and solar > 0:
        f.solar_to_battery = battery.charge(solar, dt_h)
        solar -= f.solar_to_battery
    f.solar_curtailed = solar
    if policy is Policy.PEAK_SHAVING and battery is not None and c.cheap and grid_room > 0:
        f.grid_to_battery = battery.charge(min(grid_room, battery.max_charge_kw - f.solar_to_battery), dt_h)
    return f
