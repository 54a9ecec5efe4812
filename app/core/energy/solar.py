"""Solar PV output from the sun's position at the site (latitude/longitude) and a clear-sky model, times a
weather factor (1 = clear sky). No network: the weather factor comes from config or the operator."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


def solar_elevation_deg(lat_deg: float, lon_deg: float, when: datetime) -> float:
    """Elevation of the sun above the horizon (degrees), Spencer's declination and equation of time."""
    if when.tzinfo is None:
        raise ValueError("solar position needs a timezone-aware time")
    utc = when.timestamp()
    doy = datetime.fromtimestamp(utc, tz=when.tzinfo).timetuple().tm_yday
    hours_utc = (utc % 86400.0) / 3600.0
    g = 2 * math.pi / 365.0 * (doy - 1 + (hours_utc - 12) / 24)
    decl = (0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g) - 0.006758 * math.cos(2 * g)
            + 0.000907 * math.sin(2 * g) - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g))
    eot_min = 229.18 * (0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
                        - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g))
    solar_time_h = hours_utc + lon_deg / 15.0 + eot_min / 60.0
    ha = math.radians(15.0 * (solar_time_h - 12.0))
    lat = math.radians(lat_deg)
    s = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(ha)
    return math.degrees(math.asin(max(-1.0, min(1.0, s))))


def clear_sky_ghi(elevation_deg: float) -> float:
    """Global horizontal irradiance under a clear sky (W/m²), Haurwitz's model."""
    if elevation_deg <= 0:
        return 0.0
    cz = math.sin(math.radians(elevation_deg))
    return 1098.0 * cz * math.exp(-0.059 / cz)


@dataclass(slots=True)
class SolarPV:
    capacity_kw: float  # peak (1000 W/m²)
    latitude: float
    longitude: float
    performance_ratio: float = 0.85  # inverter, wiring, temperature and soiling losses
    weather: float | Sequence[float] = 1.0  # one factor, or 24 hourly factors (UTC hours)
    overrides: dict[int, float] = field(default_factory=dict)  # epoch hour -> factor (operator input)

    def __post_init__(self) -> None:
        if self.capacity_kw < 0:
            raise ValueError("solar capacity cannot be negative")
        if not -90 <= self.latitude <= 90 or not -180 <= self.longitude <= 180:
            raise ValueError("site latitude must be within ±90 and longitude within ±180 degrees")
        if not isinstance(self.weather, int | float) and len(self.weather) != 24:
            raise ValueError("the solar weather factor is one number or 24 hourly numbers")

    def weather_factor(self, when: datetime) -> float:
        hour = int(when.timestamp() // 3600)
        if hour in self.overrides:
            return self.overrides[hour]
        if isinstance(self.weather, int | float):
            return float(self.weather)
        return float(self.weather[hour % 24])

    def clear_sky_kw(self, when: datetime) -> float:
        ghi = clear_sky_ghi(solar_elevation_deg(self.latitude, self.longitude, when))
        return self.capacity_kw * self.performance_ratio * ghi / 1000.0

    def power_kw(self, when: datetime) -> float:
        return self.clear_sky_kw(when) * max(0.0, min(1.0, self.weather_factor(when)))

    def is_daylight(self, when: datetime) -> bool:
        return solar_elevation_deg(self.latitude, self.longitude, when) > 0.0
