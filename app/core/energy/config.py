"""The site's energy set-up from ``[energy]`` in the config file (every table optional)::

    [energy]
    policy = "solar_priority"      # spec | solar_priority | peak_shaving
    power_cap_kw = 30              # site cap: grid import and the scheduler's plans stay under it
    base_load_kw = 0.5             # lights, compressors... what the machines' telemetry does not see
    [energy.solar]
    latitude = 52.52
    longitude = 13.40
    weather = 1.0                  # or 24 hourly factors (UTC hours)
    [[energy.solar.arrays]]        # one table per array (or capacity_kw = 20 alone: one horizontal array)
    name = "roof"
    kwp = 15
    tilt_deg = 30
    azimuth_deg = 180              # 90 east, 180 south, 270 west
    [energy.battery]
    capacity_kwh = 40
    soc = 0.5
    max_charge_kw = 10
    max_discharge_kw = 10
    round_trip_efficiency = 0.9
    min_soc = 0.1
    [energy.grid]
    tariff = [[0, 7, 0.12], [7, 17, 0.25], [17, 21, 0.40], [21, 24, 0.18]]   # local hours, price per kWh
    carbon = 300                   # g CO2 per kWh, or 24 hourly numbers
    timezone = "Europe/Berlin"
    [energy.fuel_cell]
    capacity_kw = 5
    cost_per_kwh = 0.30
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.domain.errors import ConfigError
from app.core.energy.policy import POLICIES, Policy
from app.core.energy.solar import PVArray, SolarPV
from app.core.energy.sources import Battery, FuelCell, Grid


@dataclass(slots=True)
class SiteEnergy:
    grid: Grid = field(default_factory=Grid)
    solar: SolarPV | None = None
    battery: Battery | None = None
    fuel_cell: FuelCell | None = None
    policy: Policy = Policy.SOLAR_PRIORITY
    power_cap_kw: float | None = None
    base_load_kw: float = 0.0
    solar_price: float = 0.0  # marginal price of own solar for the scheduler
    solar_carbon: float = 40.0  # life-cycle g CO2 per kWh of PV
    currency: str = "EUR"  # what the tariff's prices and every cost are in (ISO 4217 code)

    @property
    def grid_cap_kw(self) -> float | None:
        caps = [c for c in (self.power_cap_kw, self.grid.import_limit_kw) if c is not None]
        return min(caps) if caps else None


def site_from_config(section: dict[str, Any]) -> SiteEnergy:
    try:
        site = SiteEnergy()
        policy = str(section.get("policy", site.policy.value))
        if policy not in POLICIES:
            raise ConfigError(f"[energy] policy {policy!r} is not one of {', '.join(POLICIES)}")
        site.policy = Policy(policy)
        if section.get("power_cap_kw") is not None:
            site.power_cap_kw = float(section["power_cap_kw"])
            if site.power_cap_kw <= 0:
                raise ConfigError("[energy] power_cap_kw must be positive")
        site.base_load_kw = float(section.get("base_load_kw", 0.0))
        site.currency = str(section.get("currency", site.currency)).strip().upper() or site.currency
        if (g := section.get("grid")) is not None:
            carbon = g.get("carbon", 300.0)
            site.grid = Grid(tariff=tuple(tuple(float(x) for x in row) for row in g.get("tariff", [[0, 24, 0.25]])),
                             carbon_g_per_kwh=tuple(carbon) if isinstance(carbon, list) else (float(carbon),),
                             import_limit_kw=g.get("import_limit_kw"), timezone=str(g.get("timezone", "UTC")))
        if (s := section.get("solar")) is not None:
            site.solar = solar_from_config(s)
        if (b := section.get("battery")) is not None:
            site.battery = Battery(float(b["capacity_kwh"]), float(b.get("soc", 0.5)),
                                   float(b.get("max_charge_kw", 5.0)), float(b.get("max_discharge_kw", 5.0)),
                                   float(b.get("round_trip_efficiency", 0.9)), float(b.get("min_soc", 0.1)))
        if (f := section.get("fuel_cell")) is not None:
            site.fuel_cell = FuelCell(float(f["capacity_kw"]), float(f.get("cost_per_kwh", 0.30)),
                                      float(f.get("carbon_g_per_kwh", 250.0)))
        return site
    except ConfigError:
        raise
    except KeyError as exc:
        raise ConfigError(f"[energy] is missing {exc.args[0]!r}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"[energy] has a bad value: {exc}") from exc


ARRAY_KEYS = ("name", "kwp", "tilt_deg", "azimuth_deg", "losses_pct", "temp_coeff_pct_per_c", "inverter_kw",
              "inverter_efficiency", "albedo")


def solar_from_config(s: dict[str, Any]) -> SolarPV:
    """``[energy.solar]`` with its ``[[energy.solar.arrays]]``; ``capacity_kw`` alone is one horizontal array."""
    w = s.get("weather", 1.0)
    arrays = []
    for i, a in enumerate(s.get("arrays") or ()):
        if not isinstance(a, dict):
            raise ConfigError("[[energy.solar.arrays]] entries must be tables")
        if "kwp" not in a:
            raise ConfigError(f"[[energy.solar.arrays]] number {i + 1} needs kwp")
        kw = {k: (str(a[k]) if k == "name" else float(a[k])) for k in ARRAY_KEYS if k in a}
        kw.setdefault("name", f"array {i + 1}")
        arrays.append(PVArray(**kw))  # type: ignore[arg-type]
    if not arrays and "capacity_kw" not in s:
        raise ConfigError("[energy.solar] needs capacity_kw or at least one [[energy.solar.arrays]]")
    alt = s.get("altitude_m")
    return SolarPV(float(s.get("capacity_kw", 0.0)), float(s["latitude"]), float(s["longitude"]),
                   tuple(float(x) for x in w) if isinstance(w, list) else float(w), arrays=tuple(arrays),
                   altitude_m=None if alt is None else float(alt), ambient_c=float(s.get("ambient_c", 20.0)),
                   wind_m_s=float(s.get("wind_m_s", 1.0)))


def demo_site(latitude: float = 52.52, longitude: float = 13.40, timezone: str = "Europe/Berlin") -> SiteEnergy:
    """The demo: 20 kWp of PV in a clear sky, a 40 kWh battery, a time-of-use grid (Berlin by default; the
    sun there is strong from April to September: start the demo clock on a summer day for the sunny day)."""
    return site_from_config({
        "policy": "solar_priority", "power_cap_kw": 30.0, "base_load_kw": 0.8,
        "solar": {"capacity_kw": 20.0, "latitude": latitude, "longitude": longitude, "weather": 0.95},
        "battery": {"capacity_kwh": 40.0, "soc": 0.4, "max_charge_kw": 10.0, "max_discharge_kw": 10.0},
        "grid": {"tariff": [[0, 7, 0.12], [7, 17, 0.25], [17, 21, 0.40], [21, 24, 0.18]],
                 "carbon": [320, 310, 300, 300, 310, 330, 360, 380, 350, 300, 260, 230, 220, 220, 240, 270, 320,
                            380, 420, 430, 410, 380, 350, 330], "timezone": timezone},
        "fuel_cell": {"capacity_kw": 5.0, "cost_per_kwh": 0.35, "carbon_g_per_kwh": 250.0},
    })
