"""imewe templates add|list|show|make: parametric parts (built-in and OpenSCAD), stored with their versions."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.bootstrap import StoreCore, user_service
from app.cli.output import add_json_flag, call_site, emit, table, with_core
from app.cli.session import cli_actor
from app.core.auth.permissions import Action
from app.core.auth.principal import authorize
from app.core.catalog import templates
from app.core.catalog.params import parse_assignments


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("templates", help="parametric templates: add an OpenSCAD file, list, show, make a part")
    ts = p.add_subparsers(dest="templates_cmd", metavar="ACTION", required=True)
    a = ts.add_parser("add", help="add an OpenSCAD .scad file as a template (a changed file makes a new version)")
    a.add_argument("file", type=Path)
    a.add_argument("--description", default="")
    add_json_flag(a)
    a.set_defaults(handler=lambda args: with_core(args, lambda c: _add(args, c)))
    ls = ts.add_parser("list", help="built-in and stored templates")
    add_json_flag(ls)
    ls.set_defaults(handler=lambda args: with_core(args, lambda c: _list(args, c)))
    sh = ts.add_parser("show", help="a template's parameters and their limits")
    sh.add_argument("template")
    sh.add_argument("--version", type=int)
    add_json_flag(sh)
    sh.set_defaults(handler=lambda args: with_core(args, lambda c: _show(args, c)))
    mk = ts.add_parser("make", help="make the mesh (STL in the home's files/) from key=value parameters")
    mk.add_argument("template")
    mk.add_argument("params", nargs="*", metavar="key=value")
    mk.add_argument("--version", type=int)
    mk.add_argument("--submit", action="store_true", help="submit a job for the part made")
    add_json_flag(mk)
    mk.set_defaults(handler=_make)


async def _actor(core: StoreCore, action: Action) -> str:
    actor = await cli_actor(user_service(core.config, core.store, core.clock), core.config.paths.home)
    return authorize(actor, action)


async def _add(args: argparse.Namespace, core: StoreCore) -> int:
    await _actor(core, Action.SUBMIT)
    t = await templates.add_scad(core.store, args.file, args.description)
    emit(args, t, lambda d: f"template {d['name']}: " + (f"unchanged (version {d['version']})" if d["unchanged"]
                                                         else f"version {d['version']}"))
    return 0


async def _list(args: argparse.Namespace, core: StoreCore) -> int:
    items = await templates.list_templates(core.store)
    emit(args, items, lambda d: table([[t["name"], t["kind"], t["version"] or "-", len(t["params"]),
                                        t["description"][:50]] for t in d],
                                      ["NAME", "KIND", "VERSION", "PARAMS", "DESCRIPTION"]))
    return 0


def _param_lines(params: list[dict[str, Any]]) -> str:
    from app.core.catalog.params import Param

    return "\n".join(f"  {Param.from_dict(p).allowed():<60} default {p['default']}" for p in params)


async def _show(args: argparse.Namespace, core: StoreCore) -> int:
    t = await templates.get_template(core.store, args.template, args.version)
    emit(args, t, lambda d: f"{d['name']}  {d['kind']}  version {d['version'] or '-'}\n{d['description']}\n"
                            + _param_lines(d["params"]))
    return 0


def _make(args: argparse.Namespace) -> int:
    given = parse_assignments(args.params)
    made: dict[str, Any] = {}

    async def go(core: StoreCore) -> int:
        await _actor(core, Action.SUBMIT if args.submit else Action.READ)
        made.update(await templates.make(core.store, core.config.paths.home, args.template, given, args.version))
        return 0

    with_core(args, go)
    if args.submit:
        made["job"] = call_site(args, "jobs.submit", {"spec": made["job_spec"]})

    def text(d: dict[str, Any]) -> str:
        size = "x".join(f"{s:g}" for s in d["size_mm"])
        line = f"{d['template']}: {d['file']}  {size} mm  {d['volume_mm3']:.0f} mm3"
        return line + (f"\njob {d['job']['id']} {d['job']['name']}: {d['job']['state']}" if "job" in d else "")

    emit(args, made, text)
    return 0
