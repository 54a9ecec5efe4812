"""What the HTTP printer emulators share: their command line and serving N printers, one port each, from one
process (tests use one; benchmarks many), each with its own storage, state file and ``PrintSim``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from app.devices.emulators.print_sim import PrintSim


def printer_args(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="first port (0: any free one)")
    parser.add_argument("--storage", required=True, help="folder for the printer's files")
    parser.add_argument("--state-file", default="", help="keeps the print across a restart of the emulator")
    parser.add_argument("--print-s", type=float, default=6.0, help="how long a print takes")
    parser.add_argument("--garbage", action="store_true", help="answer with bytes that are not the protocol")
    parser.add_argument("--count", type=int, default=1, help="how many printers, one port each")
    parser.add_argument("--stamp", action="store_true", help="benchmarks: nozzle reading = wall clock mod 1000")
    return parser


async def serve_printers(args: argparse.Namespace, make_app: Callable[[PrintSim], web.Application]) -> None:
    """Serve ``args.count`` printers on 127.0.0.1, print ``READY <port>...`` and run until killed."""
    ports: list[int] = []
    for i in range(args.count):
        suffix = f"-{i}" if args.count > 1 else ""
        state = Path(args.state_file + suffix) if args.state_file else None
        sim = PrintSim(Path(args.storage + suffix), args.print_s, state, stamp=args.stamp)
        runner = web.AppRunner(make_app(sim), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port + i if args.port else 0).start()
        ports.append(runner.addresses[0][1])
    sys.stdout.write("READY " + " ".join(map(str, ports)) + "\n")
    sys.stdout.flush()
    await asyncio.Event().wait()
