"""Solar PV output of the site's arrays under a clear sky, times a weather factor (1 = clear sky). No network: the
weather factor comes from config or the operator.

The chain, all from pvlib (the reference library for PV modelling):

- sun position: NREL's solar position algorithm (``pvlib.solarposition``, numpy implementation);
- clear-sky irradiance: Ineichen-Perez with the Linke turbidity climatology pvlib ships (monthly per location,
  interpolated to the day, read once per site), and the site's altitude (pvlib's lookup when the config gives
  none);
- transposition to each array's tilt and azimuth: the Perez 1990 model (circumsolar and horizon brightening), with
  extraterrestrial irradiance, relative air mass and the ground's albedo;
- cell temperature: the Sandia (SAPM) model for open-rack glass/polymer modules at a stated ambient temperature
  and wind speed;
- DC power: PVWatts with the array's temperature coefficient, then the array's DC losses (soiling, wiring,
  mismatch...);
- AC power: the PVWatts inverter model (nominal efficiency and its part-load curve, clipped at the inverter's
  rating).

A year of hourly values is one vectorised call (``clear_sky_series_kw``). Point queries (the energy manager asks
for one instant at a time) read a per-day table at 2-minute resolution, interpolated, so a day costs one pvlib
call however often it is asked about.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pvlib brings pandas and SciPy (seconds on a busy machine): loaded at the first solar value
    import pandas as pd

DAY_STEP_S = 120  # resolution of the per-day table behind point queries
DAY_POINTS = 24 * 3600 // DAY_STEP_S + 1


def _pvlib() -> Any:
    import pvlib

    return pvlib


def _sapm_params() -> dict[str, float]:
    return _pvlib().temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"]


@dataclass(frozen=True, slots=True)
class PVArray:
    """One array of modules facing one way. Defaults are stated here and in the README."""

    kwp: float  # DC nameplate at standard test conditions (1000 W/m², 25 °C cell)
    tilt_deg: float = 0.0  # 0 = horizontal, 90 = vertical
    azimuth_deg: float = 180.0  # the way it faces, clockwise from north: 90 east, 180 south, 270 west
    name: str = ""
    losses_pct: float = 9.0  # DC: soiling 2, mismatch 2, wiring 2, connections 0.5, light-induced 1.5, nameplate 1
    temp_coeff_pct_per_c: float = -0.37  # power change per °C of cell temperature above 25 °C (crystalline Si)
    inverter_kw: float = 0.0  # AC rating; 0 means "the same as kwp"
    inverter_efficiency: float = 0.96  # nominal (PVWatts)
    albedo: float = 0.2  # ground reflectance seen by a tilted array (grass, concrete)

    def __post_init__(self) -> None:
        label = f"solar array {self.name!r}" if self.name else "a solar array"
        if self.kwp < 0:
            raise ValueError(f"{label}: kwp cannot be negative")
        if not 0 <= self.tilt_deg <= 90:
            raise ValueError(f"{label}: tilt_deg must be within 0..90 degrees")
        if not 0 <= self.azimuth_deg <= 360:
            raise ValueError(f"{label}: azimuth_deg must be within 0..360 degrees (180 = south)")
        if not 0 <= self.losses_pct < 100:
            raise ValueError(f"{label}: losses_pct must be within 0..100")
        if not 0 < self.inverter_efficiency <= 1:
            raise ValueError(f"{label}: inverter_efficiency must be within 0..1")
        if not 0 <= self.albedo <= 1:
            raise ValueError(f"{label}: albedo must be within 0..1")


@dataclass(slots=True)
class SolarPV:
    """The site's PV: one or more arrays at one place. ``capacity_kw`` alone (no ``arrays``) is one horizontal
    array of that size, as older configurations describe it."""

    capacity_kw: float
    latitude: float
    longitude: float
    weather: float | Sequence[float] = 1.0  # one factor, or 24 hourly factors (UTC hours)
    overrides: dict[int, float] = field(default_factory=dict)  # epoch hour -> factor (operator input)
    arrays: Sequence[PVArray] = ()
    altitude_m: float | None = None  # None: pvlib's altitude lookup for the place
    ambient_c: float = 20.0  # air temperature for the cell temperature model
    wind_m_s: float = 1.0
    _days: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    _linke: np.ndarray | None = field(default=None, repr=False)  # per day of the year (1..366)

    def __post_init__(self) -> None:
        if self.capacity_kw < 0:
            raise ValueError("solar capacity cannot be negative")
        if not -90 <= self.latitude <= 90 or not -180 <= self.longitude <= 180:
            raise ValueError("site latitude must be within ±90 and longitude within ±180 degrees")
        if not isinstance(self.weather, int | float) and len(self.weather) != 24:
            raise ValueError("the solar weather factor is one number or 24 hourly numbers")
        if not self.arrays:
            self.arrays = (PVArray(self.capacity_kw, name="main"),)
        else:
            self.arrays = tuple(self.arrays)
            self.capacity_kw = sum(a.kwp for a in self.arrays)
        if self.altitude_m is None:
            self.altitude_m = float(_pvlib().location.lookup_altitude(self.latitude, self.longitude))

    # ------------------------------------------------------------------ vectorised
    def clear_sky_series_kw(self, times: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
        """(AC kW of all arrays under a clear sky, apparent sun elevation in degrees) at ``times`` (aware)."""
        pvlib = _pvlib()
        loc = pvlib.location.Location(self.latitude, self.longitude, tz="UTC", altitude=self.altitude_m)
        sun = loc.get_solarposition(times)
        sky = loc.get_clearsky(times, model="ineichen", solar_position=sun,
                               linke_turbidity=self._turbidity(times))
        dni_extra = pvlib.irradiance.get_extra_radiation(times)
        airmass = pvlib.atmosphere.get_relative_airmass(sun["apparent_zenith"])
        total = np.zeros(len(times))
        for a in self.arrays:
            poa = pvlib.irradiance.get_total_irradiance(
                a.tilt_deg, a.azimuth_deg, sun["apparent_zenith"], sun["azimuth"], sky["dni"], sky["ghi"],
                sky["dhi"], dni_extra=dni_extra, airmass=airmass, albedo=a.albedo, model="perez")
            g = np.nan_to_num(np.asarray(poa["poa_global"], dtype=float), nan=0.0).clip(min=0.0)
            t_cell = pvlib.temperature.sapm_cell(g, self.ambient_c, self.wind_m_s, **_sapm_params())
            pdc = pvlib.pvsystem.pvwatts_dc(g, t_cell, a.kwp * 1000.0, a.temp_coeff_pct_per_c / 100.0)
            pdc = np.asarray(pdc, dtype=float) * (1.0 - a.losses_pct / 100.0)
            ac_w = (a.inverter_kw or a.kwp) * 1000.0
            pac = pvlib.inverter.pvwatts(pdc, ac_w / a.inverter_efficiency, eta_inv_nom=a.inverter_efficiency)
            total += np.nan_to_num(np.asarray(pac, dtype=float), nan=0.0).clip(min=0.0) / 1000.0
        elevation = 90.0 - np.asarray(sun["apparent_zenith"], dtype=float)
        total[elevation <= 0.0] = 0.0  # nothing before sunrise or after sunset (inverters also self-consume)
        return total, elevation

    def _turbidity(self, times: pd.DatetimeIndex) -> pd.Series:
        """pvlib's Linke turbidity climatology for the place, interpolated to each day (its own daily
        interpolation of the monthly values), read from its file once per site rather than once per call."""
        import pandas as pd

        if self._linke is None:
            pvlib = _pvlib()
            days = pd.date_range("2020-01-01 12:00", periods=366, freq="1D", tz="UTC")  # a leap year: every day
            self._linke = np.asarray(pvlib.clearsky.lookup_linke_turbidity(days, self.latitude, self.longitude),
                                     dtype=float)
        doy = np.asarray(times.dayofyear, dtype=np.int64)
        leap_shift = (~np.asarray(times.is_leap_year)) & (doy >= 60)  # 1 March is day 61 in the table
        return pd.Series(self._linke[doy - 1 + leap_shift], index=times)

    # ------------------------------------------------------------------ point queries
    def _day(self, when: datetime) -> tuple[np.ndarray, np.ndarray, float]:
        if when.tzinfo is None:
            raise ValueError("solar position needs a timezone-aware time")
        ts = when.timestamp()
        day = int(ts // 86400)
        if day not in self._days:
            if len(self._days) > 400:  # a year and a bit of days is plenty; forget the oldest
                self._days.pop(next(iter(self._days)))
            import pandas as pd

            start = datetime.fromtimestamp(day * 86400, tz=UTC)
            times = pd.date_range(start, start + timedelta(days=1), periods=DAY_POINTS)
            self._days[day] = self.clear_sky_series_kw(times)
        kw, elev = self._days[day]
        return kw, elev, (ts - day * 86400) / DAY_STEP_S

    def weather_factor(self, when: datetime) -> float:
        hour = int(when.timestamp() // 3600)
        if hour in self.overrides:
            return self.overrides[hour]
        if isinstance(self.weather, int | float):
            return float(self.weather)
        return float(self.weather[hour % 24])

    def clear_sky_kw(self, when: datetime) -> float:
        kw, elev, x = self._day(when)
        if _interp(elev, x) <= 0.0:
            return 0.0
        return _interp(kw, x)

    def power_kw(self, when: datetime) -> float:
        return self.clear_sky_kw(when) * max(0.0, min(1.0, self.weather_factor(when)))

    def sun_elevation_deg(self, when: datetime) -> float:
        """Apparent elevation of the sun's centre (refraction included)."""
        _kw, elev, x = self._day(when)
        return _interp(elev, x)

    def is_daylight(self, when: datetime) -> bool:
        return self.sun_elevation_deg(when) > 0.0


def _interp(values: np.ndarray, x: float) -> float:
    i = min(max(int(math.floor(x)), 0), len(values) - 2)
    f = x - i
    return float(values[i] * (1.0 - f) + values[i + 1] * f)
