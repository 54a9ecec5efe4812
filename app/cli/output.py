"""Printing results for people (aligned text) or programs (``--json``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.core.api.jsonable import to_jsonable

if TYPE_CHECKING:
    from app.bootstrap import StoreCore

log = logging.getLogger(__name__)


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")


def dumps(data: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Strict JSON for other programs: never a bare NaN or Infinity (they are mapped to null first)."""
    return json.dumps(to_jsonable(data), indent=indent, sort_keys=sort_keys, allow_nan=False)


def emit(args: argparse.Namespace, data: Any, text: Callable[[Any], str] | str | None = None) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(dumps(data, sort_keys=True))
        sys.stdout.write("\n")
    elif text is not None:
        out = text(data) if callable(text) else text
        if out:
            print(out)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def with_core(args: argparse.Namespace, fn: Callable[[StoreCore], Awaitable[int | None]]) -> int:
    """Run a command on the store-side core: reads, and nothing that drives machines, plans or recovers."""
    from app.bootstrap import (
        store_core,  # the store and SQLAlchemy: loaded by the commands that use them only
    )

    async def go() -> int:
        async with store_core(args.home, args.db) as core:
            return int(await fn(core) or 0)

    return asyncio.run(go())


# How long a command that changes things waits for the site: for an owner that holds the lock but has not opened
# its channel yet (it is starting), or for another command that is writing to the store.
WAIT_FOR_SITE_S = 15.0


def _extra_op(name: str) -> Any:
    from app.core.api.openapi import all_ops

    return next(op for op in all_ops() if op.name == name)


def call_site(args: argparse.Namespace, op_name: str, params: dict[str, Any], *, read_only: bool = False) -> Any:
    """Run one site operation: through the site's owner when one runs (its machines and plan see the change at
    once), else on the store from here, without starting production. The result is plain JSON either way.

    Writing on the store, the command holds the site's lock for the moment it writes, so an owner cannot start
    half-way through (it waits for the command) and never misses the change."""
    from app.bootstrap import setup_logging, site_ops, store_core, user_service
    from app.cli.session import cli_actor, saved_token
    from app.core.api.channel import channel_path, live_channel
    from app.core.api.operations import OPS, run_op
    from app.core.config import load_config
    from app.core.domain.errors import ImeweError
    from app.core.ownership import SiteBusyError, site_lock

    config = load_config(args.home, args.db)
    setup_logging(config)
    op = OPS.get(op_name) or _extra_op(op_name)

    session = saved_token(config.paths.home)

    async def local() -> Any:
        async with store_core(args.home, args.db) as core:
            actor = await cli_actor(user_service(core.config, core.store, core.clock), config.paths.home)
            return await run_op(op, site_ops(core), params, actor)

    async def go() -> Any:
        from app.core.api.client import OwnerClient, OwnerUnreachable

        deadline = time.monotonic() + WAIT_FOR_SITE_S
        while True:
            info = live_channel(config.paths.home)
            if info is not None:
                try:
                    return await OwnerClient(info, session=session).call(op, params)
                except OwnerUnreachable as exc:
                    log.info("%s", exc)
            if read_only:
                return await local()
            lock = site_lock(config.paths.home, config.db_url, "cli")
            try:
                await asyncio.to_thread(lock.acquire)
            except SiteBusyError as exc:
                if time.monotonic() >= deadline:
                    who = exc.owner.describe() if exc.owner else "another process"
                    raise ImeweError(f"this site is run by {who}, but no control channel of it answers in "
                                     f"{channel_path(config.paths.home)}; try again in a moment, or give this "
                                     "command the owner's --home") from exc
                await asyncio.sleep(0.1)
                continue
            try:
                return await local()
            finally:
                lock.release()

    return asyncio.run(go())


def when(value: datetime | str | None) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"
