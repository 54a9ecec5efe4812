"""imewe open [FILE]: the control room on the local site (also what plain ``imewe`` runs); with a part or
G-code file, that file opens in the Design review tab.

The window owns the site it opens. With ``imewe serve`` (or another window) running on the same home or
database it refuses before any window or service starts, with one line naming the owner: it never starts a
second production loop or crash recovery beside the owner."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app import bootstrap, window_ports
from app.cli.args import finite_float
from app.core.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("open", help="open the control room on the local site (a part file: in Design review)")
    p.add_argument("file", nargs="?", type=Path, help="a part (STL, OBJ, PLY, 3MF, GLB) or G-code file to review")
    p.add_argument("--headless", action="store_true", help="render off screen (no display needed)")
    p.add_argument("--screenshot", type=Path, help="save a PNG of the window, then exit")
    p.add_argument("--after", type=finite_float, default=3.0, metavar="SECONDS", help="wait before the screenshot")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    file: Path | None = getattr(args, "file", None)
    if file is not None:
        from app.core.domain.errors import ValidationError
        from app.ui.review_panel import reviewable

        if not reviewable(file):
            raise ValidationError(f"{file.name}: not a part file (use STL, OBJ, PLY, 3MF, GLB or G-code)", "file")
        if not file.is_file():
            raise ValidationError(f"{file}: no such file", "file")
        args.file = file.resolve()
    config = load_config(args.home, args.db)
    bootstrap.setup_logging(config)
    if not getattr(args, "screenshot", None) and not getattr(args, "headless", False):  # single instance: a window runs here? it opens the file
        from app.cli.window_handoff import hand_to_window

        if (owner := hand_to_window(config.paths.home, getattr(args, "file", None))) is not None:
            print(f"imewe: handed to the Imewe window already running (process {owner.pid})")
            return 0
    from app.ui.runner import need_display, run_app  # (no Qt yet)

    need_display(args.headless)
    lock = bootstrap.claim_site(config, "open")
    try:
        # The core is built (not started) before Qt is loaded: PySide6's import hook makes every module imported
        # after it slower, and the window's first frame waits for these (issue 17).
        core = bootstrap.build_core(config, lock=lock, command="open")
        bootstrap.wire_optional_services(core, "open")  # telemetry, energy, discovery, sites, control channel
        return run_app(lambda app: _window(app, core, args), headless=args.headless)
    finally:
        lock.release()


async def _window(app: Any, core: bootstrap.Core, args: argparse.Namespace) -> int:
    from app.ui.runner import show_window

    await core.kernel.boot()
    try:
        return await show_window(app, window_ports.ui_ports(core), screenshot=args.screenshot, after_s=args.after,
                                 open_file=getattr(args, "file", None), welcome=True)
    finally:
        await core.kernel.shutdown()
