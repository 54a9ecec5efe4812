"""imewe plan show|power|whatif: the site's current plan (from its owner), its planned power against the cap, and
the plan it would make under a change (nothing live changes)."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.output import add_json_flag, call_site, emit, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="the site's current plan: operations, and planned power against the cap")
    ps = p.add_subparsers(dest="plan_cmd", metavar="ACTION", required=True)
    s = ps.add_parser("show", help="each planned operation with machine, start, end and planned power")
    add_json_flag(s)
    s.set_defaults(handler=_show)
    w = ps.add_parser("power", help="the site's planned power over time against the cap and the solar forecast")
    add_json_flag(w)
    w.set_defaults(handler=_power)
    wi = ps.add_parser("whatif", help="the plan under a change next to the live one (jobs that move, lateness); "
                                      "nothing live changes")
    wi.add_argument("--down", metavar="NODE", help="this machine is out from now")
    wi.add_argument("--for", dest="for_", metavar="DURATION", default="4h", help="how long it is out (4h, 90m)")
    wi.add_argument("--rush", metavar="JOB", help="this job is due now, at top priority")
    wi.add_argument("--cap", metavar="POWER", help="the site's power cap (20kW, 3500W)")
    add_json_flag(wi)
    wi.set_defaults(handler=_whatif)


def _hm(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _show(args: argparse.Namespace) -> int:
    data = call_site(args, "plan.show", {}, read_only=True)

    def text(d: dict[str, Any]) -> str:
        if d.get("note"):
            return d["note"]
        rows = [(o["machine"], o["operation"], _hm(o["start"]), _hm(o["end"]),
                 (f"{o['peak_w']:.0f} W for {o['heatup_s']} s, then {o['steady_w']:.0f} W"
                  if o["heatup_s"] else f"{o['steady_w']:.0f} W")
                 + (" (learned)" if o.get("energy_basis") == "learned" else " (analytic)"))
                for o in d["operations"]]
        head = f"plan made {_hm(d['made_at'])} UTC by {d['source'] or '?'}: {len(rows)} operation(s)"
        setup_s = (d.get("metrics") or {}).get("setup_time", 0)
        if setup_s:
            n = len(d.get("setups", ()))
            head += f"; {n} material change{'s' if n != 1 else ''}, {setup_s / 3600:.1f} h of setup in all"
        return head + ("\n" + table(rows, ("machine", "operation", "start", "end", "planned power")) if rows else "")

    emit(args, data, text)
    return 0


def _power(args: argparse.Namespace) -> int:
    data = call_site(args, "plan.power", {}, read_only=True)

    def text(d: dict[str, Any]) -> str:
        if d.get("note"):
            return d["note"]
        cap = d["power_cap_w"]
        rows = [(_hm(s["at"]), f"{s['planned_w']:.0f}", "-" if s["solar_w"] is None else f"{s['solar_w']:.0f}",
                 "" if cap is None or s["planned_w"] <= cap + 1e-6 else "OVER CAP") for s in d["steps"]]
        head = (f"peak planned {d['peak_w']:.0f} W, site cap "
                + ("none" if cap is None else f"{cap:.0f} W") + " (planned power holds from each instant on)")
        return head + "\n" + table(rows, ("from (UTC)", "planned W", "solar W", ""))

    emit(args, data, text)
    return 0


def _whatif(args: argparse.Namespace) -> int:
    params = {k: v for k, v in (("down", args.down), ("for", args.for_), ("rush", args.rush), ("cap", args.cap))
              if v is not None}
    data = call_site(args, "plan.whatif", params, read_only=True)

    def text(d: dict[str, Any]) -> str:
        def end(v: str | None) -> str:
            return _hm(v) if v else "not planned"

        def odds(v: float | None) -> str:
            return "-" if v is None else f"{100 * v:.0f}%"

        def spread(j: dict[str, Any]) -> str:
            return f"{j['finish_p10'][11:16]}-{j['finish_p90'][11:16]}" if j.get("finish_p10") else "-"

        rows = [(j["name"], end(j["end_before"]), end(j["end_after"]), spread(j),
                 f"{j['late_before_s'] / 60:.0f} -> {j['late_after_s'] / 60:.0f} min",
                 f"{odds(j.get('on_time_before'))} -> {odds(j.get('on_time_after'))}", "moves" if j["moved"] else "")
                for j in d["jobs"]]
        head = (f"{d['jobs_moved']} job(s) move; lateness {d['late_before_s'] / 60:.0f} -> "
                f"{d['late_after_s'] / 60:.0f} min in all (the live plan is unchanged); on time: the share of "
                f"{d.get('replays', 0)} simulated runs that end by the due date (learned spread for "
                f"{d.get('learned_spread_ops', 0)} of {d.get('ops', 0)} operations, +-20 % for the rest)")
        return head + ("\n" + table(rows, ("job", "ends now", "would end", "10-90 %", "late", "on time", ""))
                       if rows else "")

    emit(args, data, text)
    return 0
