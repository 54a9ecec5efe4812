"""imewe audit list: who changed what, when."""

from __future__ import annotations

import argparse

from app.bootstrap import StoreCore
from app.cli.output import add_json_flag, emit, when, with_core
from app.core.store.repositories import AuditRepo


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="the audit log")
    a = p.add_subparsers(dest="audit_cmd", metavar="ACTION", required=True)
    ls = a.add_parser("list", help="latest audit entries")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--target", help="e.g. job:<id> or node:<id>")
    add_json_flag(ls)
    ls.set_defaults(handler=lambda args: with_core(args, lambda c: _list(args, c)))


async def _list(args: argparse.Namespace, core: StoreCore) -> int:
    def read():
        with core.store.connect() as conn:
            return AuditRepo().list(conn, max(1, min(args.limit, 10_000)), args.target)

    entries = await core.store.run(read)
    emit(args, entries, lambda es: "\n".join(
        f"{when(e.at)}  {e.actor:<10} {e.action:<26} {e.target}" for e in es) or "no entries")
    return 0
