"""imewe plan show|power|whatif: the site's current plan (from its owner), its planned power against the cap, and
the plan it would make under a change (nothing live changes until ``--apply``)."""

from __future__ import annotations

import argparse
import sys
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
    wi.add_argument("--apply", action="store_true",
                    help="after the comparison, make the change live (asks first; audited). With no site process "
                         "running it is stored, and the site plans with it when it starts")
    wi.add_argument("--yes", action="store_true", help="with --apply: do not ask")
    wi.add_argument("--clear", action="store_true", help="drop every applied what-if change")
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
    from app.core.api.operations_whatif import NoOwnerError
    from app.core.domain.errors import ValidationError

    if args.clear:
        out = call_site(args, "plan.whatif_clear", {})
        emit(args, out, "applied what-if changes dropped" + ("; the site replans now" if out["planned_now"] else ""))
        return 0
    params = {k: v for k, v in (("down", args.down), ("for", args.for_), ("rush", args.rush), ("cap", args.cap))
              if v is not None}
    if args.yes and not args.apply:
        raise ValidationError("--yes goes with --apply", "yes")
    if args.apply and not args.yes and (args.json or not sys.stdin.isatty()):
        raise ValidationError("no terminal to ask before applying: add --yes", "yes")
    try:
        data: dict[str, Any] | None = call_site(args, "plan.whatif", params, read_only=True)
    except NoOwnerError:
        if not args.apply:
            raise
        data = None
    if data is not None and not args.json:
        emit(args, data, _comparison)
    elif data is None and not args.json:
        print("no site process runs, so there is no live plan to compare with; applied, the change is stored and "
              "the site plans with it when it starts")
    if not args.apply:
        if args.json:
            emit(args, data)
        return 0
    if not args.yes:
        answer = input("apply this change to the live plan? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("not applied; nothing changed")
            return 0
    out = call_site(args, "plan.whatif_apply", params)
    if args.json:
        emit(args, {"whatif": data, **out})
    else:
        print("applied: " + "; ".join(out["applied"]) + ("; the site replans now" if out["planned_now"] else
                                                          "; stored for the site's next start"))
    return 0


def _comparison(d: dict[str, Any]) -> str:
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
