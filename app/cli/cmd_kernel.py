"""imewe kernel status|metrics (the spec's /kernel/status and /kernel/metrics).

With a site process running, both come from it (its services, queues and uptime); with none, from the store
alone, and the output says that no site process runs."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.output import add_json_flag, call_site, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kernel", help="platform status and metrics")
    ks = p.add_subparsers(dest="kernel_cmd", metavar="ACTION", required=True)
    s = ks.add_parser("status", help="each service's health (of the running site process, if one runs)")
    add_json_flag(s)
    s.set_defaults(handler=_status)
    m = ks.add_parser("metrics", help="counts by state, queue lengths, uptime, database size")
    add_json_flag(m)
    m.set_defaults(handler=_metrics)


def _owner_line(owner: dict[str, Any] | None) -> str:
    if not owner:
        return "owner: none (no site process runs; this is the store alone)"
    return f"owner: process {owner['pid']} (imewe {owner.get('command') or '?'})"


def _status(args: argparse.Namespace) -> int:
    data = call_site(args, "kernel.status", {}, read_only=True)

    def text(d: dict) -> str:
        lines = [f"Imewe {d['version']}  site {d['site']}  kernel {d['state']}",
                 f"home {d['home']}", f"db   {d['db']}", _owner_line(d.get("owner"))]
        lines += [f"  {name:<12} {s['status']:<9} {s['health']}" for name, s in d["services"].items()]
        return "\n".join(lines)

    emit(args, data, text)
    return 0 if data["healthy"] else 1


def _metrics(args: argparse.Namespace) -> int:
    m = call_site(args, "kernel.metrics", {}, read_only=True)

    def text(d: dict) -> str:
        lines = [f"uptime {d['uptime_s']} s   database {d['db_size_bytes'] / 1e6:.2f} MB ({d['db']})",
                 f"jobs  {d['jobs_total']}: " + ", ".join(f"{k} {v}" for k, v in sorted(d["jobs_by_state"].items())),
                 f"nodes {d['nodes_total']}: " + ", ".join(f"{k} {v}" for k, v in sorted(d["nodes_by_state"].items())),
                 _owner_line(d.get("owner"))]
        lines += [f"queue {k}: {v['queued']} queued, {v['dropped']} dropped" for k, v in d["queues"].items()]
        return "\n".join(lines)

    emit(args, m, text)
    return 0
