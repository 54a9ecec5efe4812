"""imewe open: the control room on the local site (also what plain ``imewe`` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app import bootstrap
from app.core.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("open", help="open the control room on the local site")
    p.add_argument("--headless", action="store_true", help="render off screen (no display needed)")
    p.add_argument("--screenshot", type=Path, help="save a PNG of the window, then exit")
    p.add_argument("--after", type=float, default=3.0, metavar="SECONDS", help="wait before the screenshot")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from app.ui.runner import run_app, show_window

    config = load_config(args.home, args.db)
    bootstrap.setup_logging(config)

    async def main(app: Any) -> int:
        core = bootstrap.build_core(config)
        bootstrap.wire_optional_services(core)  # discovery and the links to other sites
        await core.kernel.boot()
        try:
            return await show_window(app, bootstrap.ui_ports(core), screenshot=args.screenshot, after_s=args.after)
        finally:
            await core.kernel.shutdown()

    return run_app(main, headless=args.headless)
