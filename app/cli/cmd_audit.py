"""imewe audit list|verify: who changed what, when; and whether anyone edited the record afterwards."""

from __future__ import annotations

import argparse

from app.bootstrap import StoreCore, user_service
from app.cli.output import add_json_flag, emit, when, with_core
from app.cli.session import cli_actor
from app.core.audit import read_log, verify_log
from app.core.domain.errors import ImeweError


class AuditChainBroken(ImeweError):
    """The audit log was changed after it was written."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="the audit log")
    a = p.add_subparsers(dest="audit_cmd", metavar="ACTION", required=True)
    ls = a.add_parser("list", help="latest audit entries")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--target", help="e.g. job:<id> or node:<id>")
    ls.add_argument("--action", help="actions starting with this, e.g. job. or user.login")
    ls.add_argument("--actor", help="only this person")
    add_json_flag(ls)
    ls.set_defaults(handler=lambda args: with_core(args, lambda c: _list(args, c)))
    v = a.add_parser("verify", help="check the hash chain; name the first record changed by hand (exit 2 if any)")
    add_json_flag(v)
    v.set_defaults(handler=lambda args: with_core(args, lambda c: _verify(args, c)))


async def _actor(core: StoreCore):
    return await cli_actor(user_service(core.config, core.store, core.clock), core.config.paths.home)


async def _list(args: argparse.Namespace, core: StoreCore) -> int:
    entries = await read_log(core.store, await _actor(core), args.limit, args.target, args.action, args.actor)
    emit(args, entries, lambda es: "\n".join(
        f"{when(e.at)}  {e.actor:<10} {e.action:<26} {e.target}" for e in es) or "no entries")
    return 0


async def _verify(args: argparse.Namespace, core: StoreCore) -> int:
    report = await verify_log(core.store, await _actor(core))
    if not report.ok and not getattr(args, "json", False):
        raise AuditChainBroken(report.describe())
    emit(args, {"ok": report.ok, "records": report.records, "broken_seq": report.broken_seq,
                "broken_id": report.broken_id, "reason": report.reason}, report.describe())
    return 0 if report.ok else 2
