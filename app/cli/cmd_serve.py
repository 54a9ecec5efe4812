"""imewe serve: the core with no window (a site server). Runs until Ctrl+C or SIGTERM, then shuts down cleanly."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from app.bootstrap import build_core, claim_site, setup_logging, wire_optional_services
from app.cli.args import finite_float
from app.core.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the site core with no window")
    p.add_argument("--for", dest="run_for", type=finite_float, metavar="SECONDS", help="stop after this long")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.home, args.db)
    setup_logging(config)
    lock = claim_site(config, "serve")  # first: a second serve on this site stops here, naming the owner

    async def main() -> int:
        core = build_core(config, lock=lock)
        wire_optional_services(core, "serve")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        lost: list[str] = []
        if core.ownership is not None:
            stop_production = core.ownership.on_lost

            def on_lost(why: str) -> None:
                lost.append(why)
                if stop_production is not None:
                    stop_production(why)
                stop.set()

            core.ownership.on_lost = on_lost
        await core.kernel.boot()
        nodes = core.fleet.list()
        print(f"imewe: serving site {config.site_name!r} with {len(nodes)} machine(s); "
              f"database {core.store.url}; process {os.getpid()} owns the site; Ctrl+C to stop",
              file=sys.stderr, flush=True)
        try:
            await asyncio.wait_for(stop.wait(), args.run_for) if args.run_for else await stop.wait()
        except TimeoutError:
            pass
        finally:
            await core.kernel.shutdown()
        if lost:
            print(f"imewe: stopped: this process no longer owns the site ({lost[0]})", file=sys.stderr)
            return 2
        print("imewe: stopped cleanly", file=sys.stderr)
        return 0

    try:
        return asyncio.run(main())
    finally:
        lock.release()
