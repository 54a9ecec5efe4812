"""imewe telemetry export|import|prune: move telemetry in and out of the store, and apply retention."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.bootstrap import setup_logging
from app.cli.args import finite_float
from app.cli.output import add_json_flag, emit
from app.core.bus import EventBus
from app.core.clock import Clock, SystemClock
from app.core.config import Config, load_config
from app.core.domain.errors import ValidationError
from app.core.store.db import Store, open_store
from app.core.telemetry.archive import FORMATS, parse_time
from app.core.telemetry.service import TelemetrySettings
from app.core.telemetry.transfer import TransferResult, export_telemetry, import_telemetry


@dataclass(slots=True)
class StoreOnly:
    """What the telemetry and energy commands need: the config, the store and a clock. They do not boot the
    kernel, so an export or a status never starts the machines or the production loop."""

    config: Config
    store: Store
    bus: EventBus
    clock: Clock


def with_store(args: argparse.Namespace, fn: Callable[[StoreOnly], Awaitable[int | None]]) -> int:
    config = load_config(args.home, args.db)
    setup_logging(config)
    store = open_store(config.db_url)

    async def go() -> int:
        return int(await fn(StoreOnly(config, store, EventBus(), SystemClock())) or 0)

    try:
        return asyncio.run(go())
    finally:
        store.close()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("telemetry", help="export, import and prune telemetry")
    a = p.add_subparsers(dest="telemetry_cmd", metavar="ACTION", required=True)

    ex = a.add_parser("export", help="write telemetry to a file (the spec's JSON schema, JSON Lines or CSV)")
    ex.add_argument("path", type=Path)
    ex.add_argument("--format", choices=FORMATS, help="default: from the file name's extension")
    ex.add_argument("--since", help="ISO 8601 time, e.g. 2026-06-21T00:00:00Z")
    ex.add_argument("--until", help="ISO 8601 time (exclusive)")
    ex.add_argument("--node", help="only this machine (id)")
    ex.add_argument("--rollups", action="store_true", help="the 1-minute rollups instead of raw samples (csv)")
    add_json_flag(ex)
    ex.set_defaults(handler=lambda args: with_store(args, lambda c: _export(args, c)))

    im = a.add_parser("import", help="read telemetry from a file in the spec's JSON schema, JSON Lines or CSV")
    im.add_argument("path", type=Path)
    im.add_argument("--format", choices=FORMATS)
    add_json_flag(im)
    im.set_defaults(handler=lambda args: with_store(args, lambda c: _import(args, c)))

    pr = a.add_parser("prune", help="delete raw samples and rollups older than the retention windows")
    pr.add_argument("--raw-hours", type=finite_float, help="keep raw samples this long (default: config, 24)")
    pr.add_argument("--rollup-days", type=finite_float, help="keep rollups this long (default: config, 90)")
    pr.add_argument("--export", type=Path, help="first export the raw samples about to be deleted to this file")
    add_json_flag(pr)
    pr.set_defaults(handler=lambda args: with_store(args, lambda c: _prune(args, c)))


def _time(value: str | None, flag: str) -> float | None:
    return None if value is None else parse_time(value, flag)


def _summary(r: TransferResult, verb: str) -> str:
    extra = f" in {r.records:,} records" if r.records else ""
    alerts = f", {r.alerts} alerts" if r.alerts else ""
    return f"{verb} {r.samples:,} values{extra}{alerts} ({r.format}) {'to' if verb == 'exported' else 'from'} {r.path}"


async def _export(args: argparse.Namespace, core: StoreOnly) -> int:
    node = str(args.node) if args.node else None
    res = await core.store.run(lambda: export_telemetry(
        core.store, args.path, args.format, start=_time(args.since, "--since"), end=_time(args.until, "--until"),
        node_id=node, rollups=args.rollups))
    emit(args, res, lambda r: _summary(r, "exported"))
    return 0


async def _import(args: argparse.Namespace, core: StoreOnly) -> int:
    now_s = core.clock.now().timestamp()
    res = await core.store.run(lambda: import_telemetry(core.store, args.path, args.format, now_s=now_s))
    emit(args, res, lambda r: _summary(r, "imported"))
    return 0


async def _prune(args: argparse.Namespace, core: StoreOnly) -> int:
    s = TelemetrySettings.from_config(core.config.section("telemetry"))
    raw_keep = s.raw_keep_s if args.raw_hours is None else args.raw_hours * 3600
    roll_keep = s.rollup_keep_s if args.rollup_days is None else args.rollup_days * 86400
    if raw_keep <= 0 or roll_keep <= 0:
        raise ValidationError("retention windows are positive")
    now = core.clock.now().timestamp()
    raw_before, roll_before = now - raw_keep, now - roll_keep
    exported = None
    if args.export:
        exported = await core.store.run(lambda: export_telemetry(core.store, args.export, end=raw_before))
    res = await core.store.run(lambda: _do_prune(core, raw_before, roll_before))
    out = {"raw_deleted": res.raw_deleted, "rollups_deleted": res.rollups_deleted,
           "raw_before": datetime.fromtimestamp(raw_before, UTC).isoformat(),
           "exported": exported}
    emit(args, out, lambda o: (f"exported {exported.samples:,} values to {exported.path}\n" if exported else "")
         + f"deleted {o['raw_deleted']:,} raw samples and {o['rollups_deleted']:,} rollups")
    return 0


def _do_prune(core: StoreOnly, raw_before: float, roll_before: float):
    from app.core.telemetry.repository import TelemetryRepo

    with core.store.begin() as conn:
        return TelemetryRepo().prune(conn, raw_before, roll_before)
