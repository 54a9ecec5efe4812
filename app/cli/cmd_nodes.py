"""imewe nodes add|list|show|configure|maintenance|decommission (the spec's /nodes operations)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.bootstrap import StoreCore
from app.cli.args import finite_float
from app.cli.nodes_agents import register_agent_commands
from app.cli.nodes_network import add_network_machine, add_secret_options, is_network
from app.cli.output import add_json_flag, call_site, emit, table, when, with_core
from app.core.api.views import node_dict
from app.core.domain.enums import MaintenanceType
from app.core.domain.errors import ValidationError
from app.core.json_input import read_json_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("nodes", help="machines: register, list, configure, maintain, decommission")
    ns = p.add_subparsers(dest="nodes_cmd", metavar="ACTION", required=True)

    a = ns.add_parser("add", help="register a machine")
    a.add_argument("name")
    a.add_argument("--process", help="fdm, sla, sls, mjf, cnc_mill, cnc_lathe, laser, robot_arm... (network printers:"
                                      " fdm unless given)")
    a.add_argument("--volume", help="build volume in mm, e.g. 220x220x250")
    a.add_argument("--materials", default="", help="comma-separated materials it takes")
    a.add_argument("--loaded", help="material loaded now")
    a.add_argument("--max-power", type=finite_float, default=0.0, help="maximum power draw in W")
    a.add_argument("--location", default="", help="site area, e.g. 'bay 2'")
    a.add_argument("--address", default="", help="how to reach it (serial:/dev/ttyUSB0, wss://host:port, "
                                                  "http://host:port for network printers)")
    a.add_argument("--driver", default="sim",
                   help="sim, marlin, grbl, agent, octoprint, moonraker, prusalink, bambu, duet")
    a.add_argument("--capabilities", type=Path, help="a JSON file with the capabilities instead")
    add_secret_options(a)
    add_json_flag(a)
    a.set_defaults(handler=_add)

    ls = ns.add_parser("list", help="list machines")
    ls.add_argument("--state", help="only machines in this state")
    add_json_flag(ls)
    ls.set_defaults(handler=lambda args: with_core(args, lambda c: _list(args, c)))

    sh = ns.add_parser("show", help="one machine: capabilities, state history, maintenance")
    sh.add_argument("node", help="name or id")
    add_json_flag(sh)
    sh.set_defaults(handler=lambda args: with_core(args, lambda c: _show(args, c)))

    cf = ns.add_parser("configure", help="change a machine's capabilities or settings")
    cf.add_argument("node")
    cf.add_argument("--capabilities", type=Path, help="JSON file with new capabilities")
    cf.add_argument("--loaded", help="material loaded now")
    cf.add_argument("--location")
    add_json_flag(cf)
    cf.set_defaults(handler=_configure)

    mt = ns.add_parser("maintenance", help="schedule, start or complete maintenance")
    mt.add_argument("action", choices=["schedule", "start", "done", "list"])
    mt.add_argument("node")
    mt.add_argument("--when", help="ISO date and time (schedule)")
    mt.add_argument("--type", default="scheduled", choices=[t.value for t in MaintenanceType])
    mt.add_argument("--notes", default="")
    add_json_flag(mt)
    mt.set_defaults(handler=_maintenance)

    dc = ns.add_parser("decommission", help="take a machine out of service for good")
    dc.add_argument("node")
    add_json_flag(dc)
    dc.set_defaults(handler=lambda args: _done(args, call_site(args, "nodes.decommission", {"node": args.node}),
                                               lambda d: f"{d['name']} decommissioned"))

    register_agent_commands(ns)

    # Commands to a running machine go to the site's owner, which holds its driver.
    for verb, op, said in (("pause", "nodes.pause", "pause"), ("resume", "nodes.resume", "resume"),
                           ("stop", "nodes.stop", "stop (cancel its job)"),
                           ("estop", "nodes.estop", "EMERGENCY STOP")):
        c = ns.add_parser(verb, help=f"{said} a machine (through the running site)")
        c.add_argument("node")
        add_json_flag(c)
        c.set_defaults(handler=lambda args, op=op, said=said: _done(
            args, call_site(args, op, {"node": args.node}), lambda d, said=said: f"{said} sent to {d['name']}"))


def _caps_from_args(args: argparse.Namespace, default_process: str | None = None) -> dict[str, Any]:
    if args.capabilities:
        data = read_json_file(args.capabilities, 1_000_000)
        if not isinstance(data, dict):
            raise ValidationError("capabilities must be a JSON object")
        return data
    volume = [0, 0, 0]
    if args.volume:
        try:
            volume = [float(v) for v in args.volume.lower().replace("×", "x").split("x")]
        except ValueError as exc:
            raise ValidationError(f"build volume {args.volume!r} is not like 220x220x250") from exc
    materials = [m.strip() for m in args.materials.split(",") if m.strip()]
    return {"process": args.process or default_process, "build_volume_mm": volume, "materials": materials,
            "loaded_material": args.loaded, "max_power_w": args.max_power}


def _done(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> int:
    emit(args, data, text)
    return 0


def _add(args: argparse.Namespace) -> int:
    if is_network(args.driver):
        given = _caps_from_args(args) if args.capabilities else _caps_from_args(args, default_process="")
        return add_network_machine(args, given)
    if not args.process and not args.capabilities:
        raise ValidationError("say what the machine does with --process (fdm, cnc_mill, laser...)", "process")
    node = call_site(args, "nodes.add", {"name": args.name, "capabilities": _caps_from_args(args),
                                         "address": args.address, "driver": args.driver,
                                         "location": args.location})
    return _done(args, node, lambda d: f"registered {d['name']} ({d['id']}), {d['state']}")


async def _list(args: argparse.Namespace, core: StoreCore) -> int:
    nodes = core.fleet.list()
    if args.state:
        nodes = [n for n in nodes if n.state.value == args.state.upper()]
    rows = [[n.name, n.process.value, n.state.value, n.location, n.capabilities.loaded_material or "-",
             n.software_version or "-", str(n.id)[:8]] for n in nodes]
    from app.bootstrap import agent_trust

    waiting = agent_trust(core.config).waiting()
    note = (f"\n{len(waiting)} node agent(s) wait for you to accept their key: imewe nodes agents"
            if waiting else "")
    emit(args, [node_dict(n) for n in nodes],
         lambda _: (table(rows, ["NAME", "PROCESS", "STATE", "LOCATION", "MATERIAL", "VERSION", "ID"])
                    if rows else "no machines") + note)
    return 0


async def _show(args: argparse.Namespace, core: StoreCore) -> int:
    node = core.fleet.find(args.node)
    data = node_dict(node)
    data["history"] = [{"from": c.from_state, "to": c.to_state, "at": c.at, "reason": c.reason}
                       for c in await core.fleet.timeline(node.id)]
    data["maintenance"] = await core.fleet.maintenance(node.id)

    def text(d: dict) -> str:
        caps = d["capabilities"]
        lines = [f"{d['name']}  {d['state']}  ({d['id']})",
                 f"process {caps['process']}  volume {caps['build_volume_mm']} mm  materials "
                 f"{', '.join(caps['materials']) or 'any'}  loaded {caps['loaded_material'] or '-'}",
                 f"location {d['location'] or '-'}  address {d['address'] or '-'}  driver {d['driver']}",
                 "history:"]
        lines += [f"  {when(h['at'])}  {h['from'] or '-'} -> {h['to']}  {h['reason']}" for h in d["history"]]
        lines.append("maintenance:" if d["maintenance"] else "maintenance: none")
        lines += [f"  {m.type.value} {when(m.scheduled_date)} done {when(m.completed_date)} {m.notes}"
                  for m in d["maintenance"]]
        return "\n".join(lines)

    emit(args, data, text)
    return 0


def _configure(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"node": args.node, "location": args.location, "loaded": args.loaded}
    if args.capabilities:
        params["capabilities"] = _caps_from_args(args)
    return _done(args, call_site(args, "nodes.configure", params), lambda d: f"configured {d['name']}")


def _maintenance(args: argparse.Namespace) -> int:
    if args.action == "list":
        return with_core(args, lambda c: _maintenance_list(args, c))
    out = call_site(args, "nodes.maintenance", {"node": args.node, "action": args.action, "when": args.when,
                                                "type": args.type, "notes": args.notes})
    node, m = out["node"], out["maintenance"]
    if args.action == "schedule":
        return _done(args, m, lambda m: f"maintenance {m['id']} scheduled for {node['name']} at "
                                        f"{when(m['scheduled_date'])}")
    if args.action == "start":
        return _done(args, node, lambda d: f"{d['name']} is in MAINTENANCE")
    return _done(args, node, lambda d: f"{d['name']} is back: {d['state']}")


async def _maintenance_list(args: argparse.Namespace, core: StoreCore) -> int:
    node = core.fleet.find(args.node)
    records = await core.fleet.maintenance(node.id)
    emit(args, records, lambda rs: "\n".join(
        f"{m.type.value:<10} {when(m.scheduled_date)}  done {when(m.completed_date)}  {m.notes}" for m in rs)
        or "no maintenance recorded")
    return 0
