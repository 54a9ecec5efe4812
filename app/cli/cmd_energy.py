"""imewe energy status|forecast: the site's sources, storage, cost and CO2 now, and the next hours."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.cmd_telemetry import StoreOnly, with_store
from app.cli.output import add_json_flag, emit, table
from app.core.energy.config import site_from_config
from app.core.energy.service import EnergyService


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("energy", help="site energy: sources, battery, cost and CO2, forecast")
    a = p.add_subparsers(dest="energy_cmd", metavar="ACTION", required=True)
    st = a.add_parser("status", help="sources now, battery, cap, totals today and this week")
    add_json_flag(st)
    st.set_defaults(handler=lambda args: with_store(args, lambda c: _status(args, c)))
    fc = a.add_parser("forecast", help="solar, price, carbon and available power for the next hours")
    fc.add_argument("--hours", type=int, default=24, choices=range(1, 169), metavar="1..168")
    add_json_flag(fc)
    fc.set_defaults(handler=lambda args: with_store(args, lambda c: _forecast(args, c)))


def _service(core: StoreOnly) -> EnergyService:
    svc = EnergyService(core.store, core.bus, core.clock, site_from_config(core.config.section("energy")))
    svc._restore()  # noqa: SLF001 - the battery's last stored charge, without starting the service
    return svc


def _finite(v: float) -> float | None:
    return None if v == float("inf") else v  # no cap and no import limit: unlimited (JSON has no infinity)


def _fmt(v: Any, unit: str = "", digits: int = 2) -> str:
    return "-" if v is None else f"{v:,.{digits}f}{unit}"


async def _status(args: argparse.Namespace, core: StoreOnly) -> int:
    def read() -> dict[str, Any]:
        svc = _service(core)
        data = svc.status()
        data["available_kw"] = _finite(data["available_kw"])
        data["today"] = svc.totals("day")
        data["week"] = svc.totals("week")
        data["top_machines_today"] = [{"node_id": n, "kwh": u.kwh, "cost": u.cost, "co2_g": u.co2_g}
                                      for n, u in svc.ranking("day")[:5]]
        return data

    data = await core.store.run(read)

    def text(d: dict[str, Any]) -> str:
        lines = [f"policy {d['policy']}, site cap {_fmt(d['power_cap_kw'], ' kW', 1)}, "
                 f"base load {_fmt(d['base_load_kw'], ' kW', 1)}",
                 f"now: solar {_fmt(d['solar_kw'], ' kW')}, battery {_fmt(d['battery_soc'] and d['battery_soc'] * 100, ' %', 0)}, "
                 f"grid price {_fmt(d['price'], '/kWh', 3)}, carbon {_fmt(d['carbon_g_per_kwh'], ' g/kWh', 0)}, "
                 f"available {_fmt(d['available_kw'], ' kW', 1) if d['available_kw'] is not None else 'unlimited'}"]
        for name in ("today", "week"):
            t = d[name]
            lines.append(f"{name}: used {t['load_kwh']:.2f} kWh (solar {t['solar_kwh']:.2f}, battery net "
                         f"{t['battery_net_kwh']:.2f}, grid {t['grid_kwh']:.2f}, fuel cell {t['fuel_kwh']:.2f}), "
                         f"cost {t['cost']:.2f}, CO2 {t['co2_g'] / 1000:.2f} kg")
        return "\n".join(lines)

    emit(args, data, text)
    return 0


async def _forecast(args: argparse.Namespace, core: StoreOnly) -> int:
    pts = await core.store.run(lambda: _service(core).forecast(args.hours))
    rows = [{"at": p.at, "solar_kw": round(p.solar_kw, 3), "price": p.price, "carbon_g_per_kwh": p.carbon,
             "available_kw": _finite(round(p.available_kw, 2)), "battery_soc": p.soc, "marginal_price": p.marginal_price}
            for p in pts]
    emit(args, rows, lambda rs: table(
        [[r["at"].strftime("%m-%d %H:%M"), _fmt(r["solar_kw"]), _fmt(r["price"], "", 3),
          _fmt(r["carbon_g_per_kwh"], "", 0), _fmt(r["available_kw"], "", 1),
          _fmt(r["battery_soc"] and r["battery_soc"] * 100, "", 0), _fmt(r["marginal_price"], "", 3)] for r in rs],
        ["hour (UTC)", "solar kW", "price", "gCO2/kWh", "avail kW", "SoC %", "marginal"]))
    return 0
