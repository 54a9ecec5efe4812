"""``imewe config check|keys``: what config.toml sets that nothing reads, and every key there is."""

from __future__ import annotations

import argparse
import sys

from app.cli.output import add_json_flag, emit, table
from app.core.config import load_config, schema_rows
from app.core.domain.errors import ImeweError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="check config.toml; list the known keys")
    cs = p.add_subparsers(dest="config_cmd", metavar="ACTION", required=True)
    c = cs.add_parser("check", help="report unknown keys (with the nearest known one) and values of the wrong type")
    add_json_flag(c)
    c.set_defaults(handler=_check, skip_config_warning=True)
    k = cs.add_parser("keys", help="every key config.toml may set, with its default")
    add_json_flag(k)
    k.set_defaults(handler=_keys, skip_config_warning=True)


def _check(args: argparse.Namespace) -> int:
    config = load_config(args.home, args.db)
    path = config.paths.config_file
    data = {"file": str(path), "exists": path.exists(), "problems": config.problems}

    def text(d: dict) -> str:
        if not d["exists"]:
            return f"{path}: no such file; every setting has its default"
        if not d["problems"]:
            return f"{path}: every key is known"
        return "\n".join([f"{path}: {len(d['problems'])} problem(s)", *(f"  {p}" for p in d["problems"])])

    emit(args, data, text)
    return 2 if config.problems else 0


def _keys(args: argparse.Namespace) -> int:
    rows = [{"table": t, "key": k, "default": spec.default, "meaning": spec.help} for t, k, spec in schema_rows()]
    emit(args, rows, lambda r: table([[f"[{x['table']}]" if x["table"] else "", x["key"],
                                       "-" if x["default"] is None else x["default"], x["meaning"]] for x in r],
                                     ["TABLE", "KEY", "DEFAULT", "MEANING"]))
    return 0


def warn_on_start(args: argparse.Namespace) -> None:
    """One line on stderr when config.toml sets keys nothing reads (the log gets each one when it opens)."""
    if getattr(args, "skip_config_warning", False):
        return
    try:
        problems = load_config(getattr(args, "home", None), getattr(args, "db", None)).problems
    except ImeweError:
        return  # an unreadable file is the command's own error to report
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        print(f"imewe: warning: config.toml: {problems[0]}{more} (see: imewe config check)", file=sys.stderr)
