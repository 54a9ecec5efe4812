"""Solar forecasts for real arrays, checked against pvlib's own functions composed here in the test: several
latitudes, tilts and azimuths; nothing at night; sunrise and sunset where pvlib puts them; the Berlin December
case of a 30° south array; the README's arrays load.

Tolerances: each instant within 1 % of the array's kWp (the forecast reads a 2-minute table, interpolated), each
day's energy within 1 %; daylight starts and ends within 6 minutes of pvlib's sunrise and sunset (its sunrise is the sun's
upper limb at -0.833°, ours the centre above the horizon); production never outside them and its first and
last minute within 4 minutes of the reference chain's."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from app.core.config import check_config
from app.core.energy.config import site_from_config
from app.core.energy.solar import PVArray, SolarPV

ROOT = Path(__file__).resolve().parents[1]

# (latitude, longitude, tilt, azimuth, day): north and south, east- west- and equator-facing, flat and steep
CASES = [
    (52.52, 13.40, 30.0, 180.0, "2026-12-15"),  # Berlin, December, 30° south
    (52.52, 13.40, 0.0, 180.0, "2026-06-21"),  # Berlin, flat, midsummer
    (-33.92, 18.42, 25.0, 0.0, "2026-01-15"),  # Cape Town, facing north (the equator)
    (39.74, -104.99, 20.0, 90.0, "2026-04-10"),  # Denver, facing east
    (1.29, 103.85, 10.0, 270.0, "2026-09-01"),  # Singapore, facing west
    (64.13, -21.90, 60.0, 180.0, "2026-03-20"),  # Reykjavik, steep south at the equinox
]


def _reference_kw(lat: float, lon: float, arrays: list[PVArray], times: pd.DatetimeIndex,
                  ambient_c: float = 20.0, wind_m_s: float = 1.0) -> np.ndarray:
    """pvlib's functions with the defaults the README states, written out independently of the app."""
    loc = pvlib.location.Location(lat, lon, altitude=pvlib.location.lookup_altitude(lat, lon))
    sp = pvlib.solarposition.get_solarposition(times, lat, lon, altitude=loc.altitude)
    tl = pvlib.clearsky.lookup_linke_turbidity(times, lat, lon)
    am_rel = pvlib.atmosphere.get_relative_airmass(sp["apparent_zenith"])
    am_abs = pvlib.atmosphere.get_absolute_airmass(am_rel, pvlib.atmosphere.alt2pres(loc.altitude))
    dni_extra = pvlib.irradiance.get_extra_radiation(times)
    cs = pvlib.clearsky.ineichen(sp["apparent_zenith"], am_abs, tl, altitude=loc.altitude, dni_extra=dni_extra)
    out = np.zeros(len(times))
    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"]
    for a in arrays:
        poa = pvlib.irradiance.get_total_irradiance(a.tilt_deg, a.azimuth_deg, sp["apparent_zenith"],
                                                    sp["azimuth"], cs["dni"], cs["ghi"], cs["dhi"],
                                                    dni_extra=dni_extra, airmass=am_rel, albedo=a.albedo,
                                                    model="perez")
        g = poa["poa_global"].fillna(0.0).clip(lower=0.0)
        tc = pvlib.temperature.sapm_cell(g, ambient_c, wind_m_s, **params)
        dc = pvlib.pvsystem.pvwatts_dc(g, tc, a.kwp * 1000, a.temp_coeff_pct_per_c / 100) * (1 - a.losses_pct / 100)
        ac = pvlib.inverter.pvwatts(dc, (a.inverter_kw or a.kwp) * 1000 / a.inverter_efficiency,
                                    eta_inv_nom=a.inverter_efficiency)
        out += np.nan_to_num(np.asarray(ac, dtype=float)).clip(min=0.0) / 1000
    out[np.asarray(sp["apparent_elevation"]) <= 0] = 0.0
    return out


def _minutes(day: str) -> pd.DatetimeIndex:
    return pd.date_range(f"{day} 00:00", periods=24 * 60, freq="1min", tz="UTC")


@pytest.mark.parametrize(("lat", "lon", "tilt", "az", "day"), CASES)
def test_forecast_matches_pvlib(lat: float, lon: float, tilt: float, az: float, day: str) -> None:
    array = PVArray(10.0, tilt, az, name="a")
    pv = SolarPV(0.0, lat, lon, arrays=[array])
    times = _minutes(day)
    ours = np.array([pv.power_kw(t.to_pydatetime()) for t in times])
    ref = _reference_kw(lat, lon, [array], times)
    assert np.max(np.abs(ours - ref)) <= 0.01 * array.kwp
    assert ours.sum() == pytest.approx(ref.sum(), rel=0.01)
    assert ref.sum() > 0


def test_several_arrays_add_up_and_the_weather_factor_stays() -> None:
    south, east = PVArray(6.0, 35.0, 180.0, name="s"), PVArray(4.0, 15.0, 90.0, name="e", losses_pct=12.0)
    pv = SolarPV(0.0, 48.14, 11.58, arrays=[south, east])
    assert pv.capacity_kw == 10.0
    times = _minutes("2026-05-05")
    ours = np.array([pv.power_kw(t.to_pydatetime()) for t in times])
    ref = _reference_kw(48.14, 11.58, [south, east], times)
    assert ours.sum() == pytest.approx(ref.sum(), rel=0.01)
    # the east array peaks earlier than the south one: the sum is not one array scaled
    only_south = _reference_kw(48.14, 11.58, [south], times)
    assert abs(np.argmax(ref) - np.argmax(only_south)) > 5
    cloudy = SolarPV(0.0, 48.14, 11.58, arrays=[south, east], weather=0.4)
    noon = datetime(2026, 5, 5, 11, tzinfo=UTC)
    assert cloudy.power_kw(noon) == pytest.approx(0.4 * pv.power_kw(noon))


def test_no_production_at_night_through_a_year() -> None:
    pv = SolarPV(0.0, 52.52, 13.40, arrays=[PVArray(10.0, 30.0, 180.0)])
    times = pd.date_range("2026-01-01", periods=365 * 24, freq="1h", tz="UTC") + pd.Timedelta(minutes=17)
    kw, elev = pv.clear_sky_series_kw(times)
    sp = pvlib.solarposition.get_solarposition(times, 52.52, 13.40)
    night = np.asarray(sp["apparent_elevation"]) <= 0
    assert night.sum() > 3000 and np.all(kw[night] == 0.0)
    assert np.all(kw[~night] >= 0.0) and kw.max() <= 10.0
    assert all(pv.power_kw(t.to_pydatetime()) == 0.0 for t in times[night][::401])


@pytest.mark.parametrize(("lat", "lon", "day"), [(52.52, 13.40, "2026-12-15"), (52.52, 13.40, "2026-06-21"),
                                                 (-33.92, 18.42, "2026-01-15"), (1.29, 103.85, "2026-09-01")])
def test_sunrise_and_sunset_within_minutes_of_pvlib(lat: float, lon: float, day: str) -> None:
    pv = SolarPV(0.0, lat, lon, arrays=[PVArray(5.0, 20.0, 180.0 if lat > 0 else 0.0)])
    start = pd.Timestamp(f"{day} 00:00", tz="UTC") - pd.Timedelta(hours=12)
    times = pd.date_range(start, periods=48 * 60, freq="1min")  # local day fully inside, whatever the longitude
    on = [t for t in times if pv.power_kw(t.to_pydatetime()) > 0]
    rise_set = pvlib.solarposition.sun_rise_set_transit_spa(pd.DatetimeIndex([pd.Timestamp(day, tz="UTC")]),
                                                            lat, lon)
    rise = rise_set["sunrise"].iloc[0]
    sset = rise_set["sunset"].iloc[0]
    first = min(t for t in on if t >= rise - pd.Timedelta(hours=1))
    last = max(t for t in on if t <= sset + pd.Timedelta(hours=1))
    # never before sunrise or after sunset; production starts when the chain gives the inverter enough to convert
    # (the PVWatts part-load curve gives nothing below ~0.6 % of its rating; a south array at a summer sunrise
    # sees only diffuse light), so it is compared with the reference chain's own first and last minute
    assert rise <= first and last <= sset
    ref = _reference_kw(lat, lon, list(pv.arrays), times)
    ref_on = [t for t, k in zip(times, ref, strict=True) if k > 0 and rise - pd.Timedelta(hours=1) <= t
              <= sset + pd.Timedelta(hours=1)]
    assert abs((first - ref_on[0]).total_seconds()) <= 4 * 60
    assert abs((last - ref_on[-1]).total_seconds()) <= 4 * 60
    day_on = [t for t in times if pv.is_daylight(t.to_pydatetime())]
    sun_up = min(t for t in day_on if t >= rise - pd.Timedelta(hours=1))
    sun_down = max(t for t in day_on if t <= sset + pd.Timedelta(hours=1))
    assert abs((sun_up - rise).total_seconds()) <= 6 * 60
    assert abs((sun_down - sset).total_seconds()) <= 6 * 60


def test_berlin_december_30_degree_south_array() -> None:
    # the case the horizontal model got badly wrong (about 40 % of the reference energy)
    array = PVArray(10.0, 30.0, 180.0)
    tilted = SolarPV(0.0, 52.52, 13.40, arrays=[array])
    flat = SolarPV(10.0, 52.52, 13.40)
    day = datetime(2026, 12, 15, tzinfo=UTC)
    minutes = [day + timedelta(minutes=m) for m in range(24 * 60)]
    kwh_tilted = sum(tilted.power_kw(t) for t in minutes) / 60
    kwh_flat = sum(flat.power_kw(t) for t in minutes) / 60
    ref = _reference_kw(52.52, 13.40, [array], _minutes("2026-12-15")).sum() / 60
    assert kwh_tilted == pytest.approx(ref, rel=0.01)
    assert 10.0 < kwh_tilted < 35.0  # a clear December day: a few kWh per kWp at most
    assert kwh_tilted > 2.0 * kwh_flat  # the low winter sun favours the tilted array by far


def test_the_readmes_arrays_load_with_their_keys() -> None:
    import re

    examples = re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    with_arrays = [tomllib.loads(e) for e in examples if "[[energy.solar.arrays]]" in e]
    assert with_arrays, "the README should show [[energy.solar.arrays]]"
    for raw in with_arrays:
        assert check_config(raw) == []
        site = site_from_config(raw["energy"])
        assert site.solar is not None
        want = raw["energy"]["solar"]["arrays"]
        got = site.solar.arrays
        assert [a.name for a in got] == [w["name"] for w in want]
        assert [(a.kwp, a.tilt_deg, a.azimuth_deg) for a in got] == [(w["kwp"], w["tilt_deg"], w["azimuth_deg"])
                                                                     for w in want]
        assert site.solar.capacity_kw == sum(w["kwp"] for w in want)


def test_array_keys_are_checked() -> None:
    raw = {"energy": {"solar": {"latitude": 50.0, "longitude": 8.0,
                                "arrays": [{"name": "roof", "kwp": 5, "tilt": 30, "azimuth_deg": 180}]}}}
    problems = check_config(raw)
    assert problems and "tilt is not a known key; did you mean tilt_deg?" in problems[0]
    from app.core.domain.errors import ConfigError

    with pytest.raises(ConfigError, match="kwp"):
        site_from_config({"solar": {"latitude": 50.0, "longitude": 8.0, "arrays": [{"name": "x"}]}})
    with pytest.raises(ConfigError, match="tilt_deg"):
        site_from_config({"solar": {"latitude": 50.0, "longitude": 8.0, "arrays": [{"kwp": 3, "tilt_deg": 120}]}})


def test_the_linke_turbidity_climatology_ships_with_pvlib() -> None:
    path = Path(pvlib.__file__).parent / "data" / "LinkeTurbidities.h5"
    assert path.is_file() and path.stat().st_size > 1_000_000
