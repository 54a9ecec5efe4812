"""Solar model, sources and dispatch policies, config, and the 24 h forecast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.domain.errors import ConfigError
from app.core.energy.config import demo_site, site_from_config
from app.core.energy.manager import EnergyManager
from app.core.energy.policy import Conditions, Policy, dispatch
from app.core.energy.solar import SolarPV
from app.core.energy.sources import Battery, FuelCell, Grid
from app.core.scheduling.forecast import EnergyForecast, energy_cost

MIDSUMMER = datetime(2026, 6, 21, tzinfo=UTC)
BERLIN = (52.52, 13.40)


def test_sun_position_matches_astronomy() -> None:
    # Solar noon elevation in Berlin at the June solstice is 90 - 52.52 + 23.44 = 60.92 degrees (plus a little
    # refraction), around 12:00 - 13.4/15 h + 1.7 min = 11:08 UTC; the sun is below the horizon at midnight.
    pv = SolarPV(10.0, *BERLIN)
    minutes = [MIDSUMMER + timedelta(minutes=m) for m in range(24 * 60)]
    elev = [pv.sun_elevation_deg(t) for t in minutes]
    peak = max(range(len(elev)), key=elev.__getitem__)
    assert elev[peak] == pytest.approx(60.92, abs=0.3)
    assert abs(peak - (12 * 60 - 13.40 * 4 + 1.7)) <= 3
    assert elev[0] < -10
    day = [t for t, e in zip(minutes, elev, strict=True) if e > 0]
    # Berlin's longest day: about 16 h 50 min of sun above the horizon.
    assert 16.5 * 60 <= len(day) <= 17.1 * 60
    # Equator at the March equinox: the sun is nearly overhead at local noon.
    assert SolarPV(1.0, 0.0, 0.0).sun_elevation_deg(datetime(2026, 3, 20, 12, 7, tzinfo=UTC)) > 88.5


def test_pv_power_follows_capacity_and_weather() -> None:
    pv = SolarPV(10.0, *BERLIN)
    noon = MIDSUMMER.replace(hour=11)
    # 10 kWp flat, clear midsummer noon: ~900 W/m² less 9 % DC losses, warm cells and the inverter
    assert 6.0 < pv.power_kw(noon) < 8.0 and pv.power_kw(MIDSUMMER) == 0
    cloudy = SolarPV(10.0, *BERLIN, weather=0.3)
    assert cloudy.power_kw(noon) == pytest.approx(0.3 * pv.power_kw(noon))
    hourly = SolarPV(10.0, *BERLIN, weather=[1.0] * 11 + [0.0] + [1.0] * 12)
    assert hourly.power_kw(noon) == 0 and hourly.power_kw(noon.replace(hour=10)) > 0
    with pytest.raises(ValueError, match="latitude"):
        SolarPV(1.0, 95.0, 0.0)


def test_battery_limits_and_round_trip_losses() -> None:
    b = Battery(10.0, soc=0.5, max_charge_kw=4.0, max_discharge_kw=3.0, round_trip_efficiency=0.81, min_soc=0.1)
    assert b.charge(10.0, 1.0) == 4.0  # rate limit
    assert b.soc == pytest.approx(0.5 + 4 * 0.9 / 10)
    assert b.charge(10.0, 1.0) == pytest.approx((1 - 0.86) * 10 / 0.9)  # room limit
    assert b.soc == pytest.approx(1.0)
    out = sum(b.discharge(3.0, 1.0) for _ in range(10))
    assert out == pytest.approx((1.0 - 0.1) * 10 * 0.9) and b.soc == pytest.approx(0.1)
    assert b.discharge(1.0, 1.0) == 0.0


def test_grid_time_of_use_in_local_time() -> None:
    g = Grid(tariff=((0, 7, 0.1), (7, 17, 0.2), (17, 24, 0.4)), carbon_g_per_kwh=tuple(range(24)),
             timezone="Europe/Berlin")
    # 05:30 UTC is 07:30 in Berlin in summer (UTC+2)
    assert g.price(MIDSUMMER.replace(hour=5, minute=30)) == 0.2
    assert g.price(MIDSUMMER.replace(hour=4, minute=59)) == 0.1
    assert g.carbon(MIDSUMMER.replace(hour=20)) == 22
    with pytest.raises(ValueError, match="every hour"):
        Grid(tariff=((0, 12, 0.1),))


def _cond(load: float, solar: float = 0.0, price: float = 0.25, cap: float | None = None, cheap: bool = False):
    return Conditions(load, solar, solar > 0, price, cheap, cap)


def test_spec_policy_picks_sources_in_the_spec_order() -> None:
    fuel = FuelCell(5.0, 0.3)
    f = dispatch(Policy.SPEC, _cond(3.0, solar=10.0), Battery(10, soc=0.9), fuel, 1.0)
    assert f.solar_to_load == 3.0 and f.solar_to_battery > 0 and f.grid == 0
    f = dispatch(Policy.SPEC, _cond(3.0), Battery(10, soc=0.6), fuel, 1.0)  # night, battery above half
    assert f.battery_to_load == 3.0 and f.fuel_to_load == 0
    f = dispatch(Policy.SPEC, _cond(3.0), Battery(10, soc=0.4), fuel, 1.0)  # battery low: fuel cell
    assert f.fuel_to_load == 3.0 and f.battery_to_load == 0
    f = dispatch(Policy.SPEC, _cond(8.0), Battery(10, soc=0.4), fuel, 1.0)  # beyond the fuel cell: the grid
    assert f.fuel_to_load == 5.0 and f.grid_to_load == 3.0 and f.battery_to_load == 0
    f = dispatch(Policy.SPEC, _cond(8.0, solar=2.0), Battery(10, soc=0.6, max_discharge_kw=4), fuel, 1.0)
    assert (f.solar_to_load, f.battery_to_load, f.fuel_to_load, f.grid_to_load) == (2.0, 4.0, 2.0, 0.0)
    f = dispatch(Policy.SPEC, _cond(3.0), None, None, 1.0)
    assert f.grid_to_load == 3.0


def test_peak_shaving_keeps_grid_under_the_cap() -> None:
    b = Battery(20, soc=0.8, max_discharge_kw=10)
    f = dispatch(Policy.PEAK_SHAVING, _cond(14.0, cap=10.0), b, None, 0.25)
    assert f.grid_to_load == 10.0 and f.battery_to_load == 4.0 and f.unserved == 0
    f = dispatch(Policy.PEAK_SHAVING, _cond(4.0, cap=10.0, cheap=True), b, None, 0.25)
    assert f.grid_to_load == 4.0 and 0 < f.grid_to_battery <= 6.0  # cheap hour: top up within the cap
    f = dispatch(Policy.SOLAR_PRIORITY, _cond(30.0, cap=10.0), Battery(5, soc=0.1), None, 1.0)
    assert f.grid_to_load == 10.0 and f.unserved == 20.0  # nothing can cover it: reported, never over the cap


def test_config_reading_and_errors() -> None:
    site = site_from_config({"policy": "peak_shaving", "power_cap_kw": 12,
                             "solar": {"capacity_kw": 5, "latitude": 1, "longitude": 2},
                             "battery": {"capacity_kwh": 10}, "grid": {"tariff": [[0, 24, 0.3]], "carbon": 100}})
    assert site.policy is Policy.PEAK_SHAVING and site.grid_cap_kw == 12 and site.grid.price(MIDSUMMER) == 0.3
    for bad, words in [({"policy": "cheapest"}, "policy"), ({"power_cap_kw": -1}, "positive"),
                       ({"solar": {"capacity_kw": 5}}, "latitude"),
                       ({"battery": {"capacity_kwh": 10, "soc": 2}}, "bad value"),
                       ({"grid": {"timezone": "Mars/Olympus"}}, "time zone")]:
        with pytest.raises(ConfigError, match=words):
            site_from_config(bad)


def test_forecast_covers_24_hours_and_feeds_the_scheduler() -> None:
    m = EnergyManager(demo_site(), expected_load_kw=3.0)
    pts = m.forecast(MIDSUMMER, 24)
    assert len(pts) == 24 and [p.at.hour for p in pts] == list(range(24))
    sunny = [p for p in pts if p.solar_kw > 3.8]
    assert sunny and all(p.marginal_price == 0.0 for p in sunny)
    assert all(p.solar_kw == 0 for p in pts if p.at.hour in (0, 1, 22, 23))
    assert all(p.available_kw >= 30 for p in pts)
    socs = [p.soc for p in pts]
    assert max(socs) > socs[0]  # the dry run charges the battery from the sun
    m.origin = MIDSUMMER
    assert isinstance(m, EnergyForecast)
    segs = m.segments(1800.0, 5 * 3600.0 + 60)
    assert segs[0][0] == 1800.0 and segs[-1][1] == 5 * 3600.0 + 60 and len(segs) == 6
    assert all(a < b for a, b, _, _ in segs) and all(segs[i][1] == segs[i + 1][0] for i in range(len(segs) - 1))
    night_cost, _ = energy_cost(m, 0, 3600, 1000.0)
    noon_cost, _ = energy_cost(m, 10 * 3600, 11 * 3600, 1000.0)
    assert night_cost == pytest.approx(0.12) and noon_cost == 0.0
