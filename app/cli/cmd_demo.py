"""imewe demo: the control room on a simulated site running at accelerated time, with jobs flowing.

``--text`` runs the same simulated site with no window and prints the live fleet (for a machine with no
display). The demo keeps its data in a fresh temporary folder unless ``--home`` is given, so it never touches a
real site; it does not browse the network and its site link listens on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

from app import bootstrap, window_ports
from app.cli.args import finite_float
from app.core.config import Config, load_config
from app.core.domain.enums import JobState
from app.core.domain.errors import ValidationError
from app.core.ownership import SiteLock

# every tab of the window (app/ui/main_window.py), as a word for the shell: "design-review" opens "Design review"
TABS = ("fleet", "jobs", "timeline", "alerts", "energy", "sites", "design-review", "what-if", "catalogue", "admin")


def window_size(text: str) -> tuple[int, int]:
    """``1366x768`` → (1366, 768); anything else is a one-line argparse error."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must look like 1366x768, not {text!r}") from exc
    if not (640 <= w <= 8000 and 480 <= h <= 8000):
        raise argparse.ArgumentTypeError(f"size {text} is out of range (640x480 to 8000x8000)")
    return w, h


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="open the control room on a simulated site with jobs flowing")
    p.add_argument("--scale", type=finite_float, help="simulated seconds per real second (default: IMEWE_DEMO_SCALE or 60)")
    p.add_argument("--screenshot", type=Path, help="save a PNG of the window after --after seconds, then exit")
    p.add_argument("--after", type=finite_float, default=5.0, metavar="SECONDS", help="wait before the screenshot")
    p.add_argument("--headless", action="store_true", help="render the window off screen (no display needed)")
    p.add_argument("--text", action="store_true", help="no window: print the live fleet in the terminal")
    p.add_argument("--tab", choices=TABS, help="open on this tab")
    p.add_argument("--size", type=window_size, metavar="WxH", help="window size, e.g. 1366x768 (a laptop screen)")
    p.add_argument("--for", dest="run_for", type=finite_float, metavar="SECONDS", help="close after this long")
    p.set_defaults(handler=run)


def _demo_config(args: argparse.Namespace, home: str) -> Config:
    config = load_config(home, args.db)
    if args.scale is not None:
        if args.scale <= 0:
            raise ValidationError("--scale must be positive")
        config.demo_scale = args.scale
    config.discovery = False  # a demo never browses or advertises on the real network
    config.raw.setdefault("sites", {}).setdefault("port", 0)
    return config


def run(args: argparse.Namespace) -> int:
    if args.after < 0:
        raise ValidationError("--after must be zero or more seconds")
    if args.run_for is not None and args.run_for <= 0:
        raise ValidationError("--for must be a positive number of seconds")
    temp_home = None if args.home else tempfile.mkdtemp(prefix="imewe-demo-")
    try:
        config = _demo_config(args, args.home or temp_home)
        bootstrap.setup_logging(config)
        # On a real home (--home) the demo owns that site like 'imewe serve' would, so it refuses beside one.
        lock = bootstrap.claim_site(config, "demo")
        try:
            if args.text:
                return asyncio.run(_text(config, lock, args.run_for))
            return _window(config, lock, args)
        finally:
            lock.release()
    finally:
        if temp_home:
            shutil.rmtree(temp_home, ignore_errors=True)


async def _started(config: Config, lock: SiteLock) -> bootstrap.Core:
    core = bootstrap.build_demo_core(config, config.demo_scale, lock=lock)
    bootstrap.wire_site_services(core, discovery=False)
    bootstrap.wire_control_channel(core, "demo")
    await core.kernel.boot()
    await bootstrap.start_demo(core)
    return core


def _window(config: Config, lock: SiteLock, args: argparse.Namespace) -> int:
    from app.ui.runner import run_app, show_window

    async def main(app: Any) -> int:
        core = await _started(config, lock)
        try:
            return await show_window(app, window_ports.ui_ports(core), screenshot=args.screenshot, after_s=args.after,
                                     run_for_s=args.run_for, tab=args.tab.replace("-", " ") if args.tab else None,
                                     size=args.size)
        finally:
            await bootstrap.stop_demo(core)
            await core.kernel.shutdown()

    return run_app(main, headless=args.headless)


async def _text(config: Config, lock: SiteLock, run_for: float | None) -> int:
    core = await _started(config, lock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    end = loop.time() + run_for if run_for else None
    print(f"Imewe demo: {config.site_name}, {len(core.fleet.list())} simulated machines, time x{config.demo_scale:g}."
          " Ctrl+C to stop.", flush=True)
    try:
        while not stop.is_set() and (end is None or loop.time() < end):
            print(await fleet_text(core), flush=True)
            try:
                await asyncio.wait_for(stop.wait(), 3.0)
            except TimeoutError:
                pass
    finally:
        await bootstrap.stop_demo(core)
        await core.kernel.shutdown()
    return 0


async def fleet_text(core: bootstrap.Core) -> str:
    """One screen of the live fleet: machine, state, current work and progress, power, hottest heater."""
    from app.cli.output import table
    from app.core.domain.words import node_state_word, process_word
    from app.core.jobs.eta import duration_label, finish_label, part_eta, running_since, site_zone

    now, zone = core.clock.now(), site_zone(core.energy.site.grid.timezone)
    running = {}
    for job in await core.jobs.list({JobState.ASSIGNED, JobState.IN_PROGRESS, JobState.PAUSED}, limit=500):
        ran = running_since(await core.jobs.timeline(job.id), now)
        for p in job.parts:
            if p.assigned_node and p.state.value == "IN_PROGRESS":
                label = job.name if p.name == job.name else f"{job.name}/{p.name}"
                running[p.assigned_node] = (label[:34], p.progress, part_eta(p, now, elapsed_s=ran.get(p.id)))
    rows = []
    for n in core.fleet.list():
        last = core.telemetry.buffers.last(n.id, "temperature")
        work, pct, eta = running.get(n.id, ("-", 0.0, None))
        temp = last[1] if last else None
        rows.append([n.name, process_word(n.process), node_state_word(n.state, n.process), work, f"{pct:5.1f}%" if work != "-" else "",
                     duration_label(eta.left_s) if eta else "", finish_label(eta.finish_at, now, zone) if eta else "",
                     f"{n.energy_level:6.0f} W", f"{temp:5.1f} C" if temp is not None else ""])
    counts = await core.jobs.counts_by_state()
    head = (f"\n{now.astimezone(zone):%Y-%m-%d %H:%M %Z} (simulated)  jobs: "
            + ", ".join(f"{k.lower()} {v}" for k, v in sorted(counts.items())))
    return head + "\n" + table(rows, ["MACHINE", "PROCESS", "STATE", "WORKING ON", "DONE", "LEFT", "FINISH", "POWER",
                                      "TEMP"])
