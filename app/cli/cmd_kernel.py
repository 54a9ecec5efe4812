"""imewe kernel status|metrics (the spec's /kernel/status and /kernel/metrics)."""

from __future__ import annotations

import argparse

from app.bootstrap import Core
from app.cli.output import add_json_flag, emit, with_core


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kernel", help="platform status and metrics")
    ks = p.add_subparsers(dest="kernel_cmd", metavar="ACTION", required=True)
    s = ks.add_parser("status", help="boot the core and report each service's health")
    add_json_flag(s)
    s.set_defaults(handler=lambda a: with_core(a, lambda c: _status(a, c)))
    m = ks.add_parser("metrics", help="counts by state, queue lengths, uptime, database size")
    add_json_flag(m)
    m.set_defaults(handler=lambda a: with_core(a, lambda c: _metrics(a, c)))


async def _status(args: argparse.Namespace, core: Core) -> int:
    st = core.kernel.status()
    data = {"version": st.version, "state": st.state, "healthy": st.healthy, "services": st.services,
            "db": core.store.url, "home": str(core.config.paths.home), "site": core.config.site_name}

    def text(d: dict) -> str:
        lines = [f"Imewe {d['version']}  site {d['site']}  kernel {d['state']}",
                 f"home {d['home']}", f"db   {d['db']}"]
        lines += [f"  {name:<12} {s['status']:<9} {s['health']}" for name, s in d["services"].items()]
        return "\n".join(lines)

    emit(args, data, text)
    return 0 if st.healthy else 1


async def _metrics(args: argparse.Namespace, core: Core) -> int:
    m = await core.kernel.metrics()

    def text(d: dict) -> str:
        lines = [f"uptime {d['uptime_s']} s   database {d['db_size_bytes'] / 1e6:.2f} MB ({d['db']})",
                 f"jobs  {d['jobs_total']}: " + ", ".join(f"{k} {v}" for k, v in sorted(d["jobs_by_state"].items())),
                 f"nodes {d['nodes_total']}: " + ", ".join(f"{k} {v}" for k, v in sorted(d["nodes_by_state"].items()))]
        lines += [f"queue {k}: {v['queued']} queued, {v['dropped']} dropped" for k, v in d["queues"].items()]
        return "\n".join(lines)

    emit(args, m, text)
    return 0
