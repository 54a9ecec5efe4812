"""imewe playbooks add|list|show|run: multi-step recipes as data, submitted as one job ordered for the scheduler."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.bootstrap import StoreCore
from app.cli.cmd_templates import _actor
from app.cli.output import add_json_flag, call_site, emit, table, with_core
from app.core.auth.permissions import Action
from app.core.catalog import playbooks
from app.core.catalog.params import parse_assignments


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("playbooks", help="playbooks: multi-step recipes (JSON or TOML); run one to submit a job")
    ps = p.add_subparsers(dest="playbooks_cmd", metavar="ACTION", required=True)
    a = ps.add_parser("add", help="add a playbook file (.json or .toml); a changed playbook makes a new version")
    a.add_argument("file", type=Path)
    add_json_flag(a)
    a.set_defaults(handler=lambda args: with_core(args, lambda c: _add(args, c)))
    ls = ps.add_parser("list", help="stored playbooks (latest versions)")
    add_json_flag(ls)
    ls.set_defaults(handler=lambda args: with_core(args, lambda c: _list(args, c)))
    sh = ps.add_parser("show", help="a playbook's parameters and steps")
    sh.add_argument("playbook")
    sh.add_argument("--version", type=int)
    add_json_flag(sh)
    sh.set_defaults(handler=lambda args: with_core(args, lambda c: _show(args, c)))
    r = ps.add_parser("run", help="submit the playbook's job with key=value parameters")
    r.add_argument("playbook")
    r.add_argument("params", nargs="*", metavar="key=value")
    r.add_argument("--version", type=int)
    add_json_flag(r)
    r.set_defaults(handler=_run)


async def _add(args: argparse.Namespace, core: StoreCore) -> int:
    await _actor(core, Action.SUBMIT)
    pb = await playbooks.add(core.store, playbooks.read_playbook(args.file))
    emit(args, pb, lambda d: f"playbook {d['name']}: " + (f"unchanged (version {d['version']})" if d["unchanged"]
                                                          else f"version {d['version']}"))
    return 0


async def _list(args: argparse.Namespace, core: StoreCore) -> int:
    items = await playbooks.list_playbooks(core.store)
    emit(args, items, lambda d: table([[p["name"], p["version"], len(p["definition"]["steps"]),
                                        p["description"][:50]] for p in d], ["NAME", "VERSION", "STEPS",
                                                                             "DESCRIPTION"]) if d else "no playbooks")
    return 0


async def _show(args: argparse.Namespace, core: StoreCore) -> int:
    pb = await playbooks.get(core.store, args.playbook, args.version)

    def text(d: dict[str, Any]) -> str:
        from app.cli.cmd_templates import _param_lines

        lines = [f"{d['name']}  version {d['version']}", d["description"], _param_lines(d["definition"]["parameters"])]
        lines += [f"  {i + 1}. {s['name']:<20} {s['process']:<16} after {', '.join(s['after']) or '-'}"
                  + (f"  check: {s['check']}" if s.get("check") else "")
                  for i, s in enumerate(d["definition"]["steps"])]
        return "\n".join(line for line in lines if line)

    emit(args, pb, text)
    return 0


def _run(args: argparse.Namespace) -> int:
    given = parse_assignments(args.params)
    spec: dict[str, Any] = {}

    async def go(core: StoreCore) -> int:
        await _actor(core, Action.SUBMIT)
        spec.update(await playbooks.job_spec(core.store, core.config.paths.home, args.playbook, given,
                                             args.version))
        return 0

    with_core(args, go)
    job = call_site(args, "jobs.submit", {"spec": spec})
    emit(args, job, lambda d: f"job {d['id']} {d['name']}: {d['state']}, {len(d['parts'])} step(s)")
    return 0
