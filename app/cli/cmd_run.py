"""imewe run FILE --driver marlin|grbl --port PORT: stream a G-code file straight to a machine.

Exit 0 only when the machine acknowledged every line *and* stopped moving (Marlin answered ``M400``; GRBL reported
``Idle`` with an empty planner). A firmware error, an alarm, a stall or a lost port ends the run with one clear
line and exit code 3, after the machine was brought to a safe stop (GRBL: feed hold then soft reset; Marlin:
heaters and fan off). Raw traffic goes to the machine's own log under IMEWE_HOME; warnings go to the log file, not
to the terminal, so the error stays one line.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path

from app import bootstrap
from app.cli.args import positive_float
from app.cli.output import add_json_flag, emit
from app.core.config import load_config
from app.core.domain.errors import DeviceError, ValidationError
from app.core.drivers import DriverJobProgress, DriverState, JobOutcome, JobRequest
from app.devices.factory import make_driver
from app.devices.grbl_driver import GrblDriver
from app.devices.serial_driver import SerialDriver

EXIT_MACHINE = 3  # the machine refused or stopped: different from bad input (2)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="stream a G-code file to a machine on a serial port")
    p.add_argument("file", type=Path, help="G-code file")
    p.add_argument("--driver", choices=("marlin", "grbl"), required=True, help="the machine's firmware")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0 or /dev/ttyACM0")
    p.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    p.add_argument("--connect-timeout", type=positive_float, default=15.0, help="seconds to wait for the firmware")
    p.add_argument("--stall-timeout", type=positive_float, default=None,
                   help="seconds without progress or keep-alive before the run fails (default: [serial] "
                        "stall_timeout_s, 30)")
    p.add_argument("--unlock", action="store_true", help="GRBL: clear an alarm lock ($X) before the job")
    p.add_argument("--home", dest="home_axes", action="store_true",
                   help="home the machine before the job (GRBL $H, Marlin G28)")
    p.add_argument("--check", action="store_true",
                   help="GRBL: check mode ($C): the controller parses every line and moves nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_flag(p)
    p.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise ValidationError(f"no G-code file at {args.file}")
    if args.baud <= 0:
        raise ValidationError("the baud rate must be a positive number")
    if args.stall_timeout is not None and not (math.isfinite(args.stall_timeout) and args.stall_timeout > 0):
        raise ValidationError("--stall-timeout must be a positive number of seconds")
    if args.driver == "marlin" and (args.unlock or args.check):
        raise ValidationError(f"{'--unlock' if args.unlock else '--check'} is for GRBL controllers")
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    config = load_config(args.home)
    if not args.verbose:
        bootstrap.setup_logging(config)  # driver warnings to the log file: the operator gets one line
    paths = config.paths.ensure()
    log_file = paths.device_logs / f"{args.driver}-{Path(args.port).name}.log"
    stall_s = args.stall_timeout if args.stall_timeout is not None else config.serial_stall_timeout_s
    driver = make_driver(args.driver, name=f"{args.driver}@{args.port}", port=args.port, baud=args.baud,
                         traffic_log=log_file, connect_timeout_s=args.connect_timeout, stall_timeout_s=stall_s)
    assert isinstance(driver, SerialDriver)
    bar = _Bar(enabled=not args.quiet and not getattr(args, "json", False))
    driver.add_listener(lambda e: bar.update(e) if isinstance(e, DriverJobProgress) else None)
    t0 = time.monotonic()
    try:
        await driver.connect()
        refused = await _prepare(driver, args)
        if refused:
            print(f"imewe: {refused}", file=sys.stderr)
            return EXIT_MACHINE
        await driver.execute(JobRequest(gcode_path=args.file))
        try:
            fin = await driver.wait_job()
        except asyncio.CancelledError:  # Ctrl-C: stop the machine safely before letting go of the port
            await driver.cancel()
            raise
        if args.check and isinstance(driver, GrblDriver):
            await driver.leave_check_mode()
    finally:
        bar.close()
        await driver.disconnect()
    st = driver.status()
    acked = fin.checkpoint.lines_acked if fin.checkpoint else st.lines_acked
    total = fin.checkpoint.lines_total if fin.checkpoint else st.lines_total
    summary = {"file": str(args.file), "outcome": fin.outcome.value, "lines_acked": acked, "lines_total": total,
               "seconds": round(time.monotonic() - t0, 2), "message": fin.message, "traffic_log": str(log_file),
               "firmware": driver.firmware}
    if fin.outcome is not JobOutcome.COMPLETED:
        if getattr(args, "json", False):
            emit(args, summary)
        where = f" after {acked} of {total} lines" if total else ""
        print(f"imewe: {fin.message}{where} (raw traffic in {log_file})", file=sys.stderr)
        return EXIT_MACHINE
    if acked != total:  # belt and braces: never report success for a partial program
        raise DeviceError(f"only {acked} of {total} lines were acknowledged")
    emit(args, summary, f"{args.file.name}: all {total} lines acknowledged and the machine stopped moving, in "
                        f"{summary['seconds']} s")
    return 0


async def _prepare(driver: SerialDriver, args: argparse.Namespace) -> str:
    """Home, unlock or enter check mode as asked. Returns why the job cannot start ("" when it can): a controller
    left in alarm is a clear one-line refusal, not a failed job."""
    if isinstance(driver, GrblDriver):
        await driver.prepare(unlock=args.unlock, home=args.home_axes, check=args.check)
    elif args.home_axes:
        await driver.calibrate("home")  # G28 goes ahead of the job's first line
    if driver.state is DriverState.ERROR:
        return (f"{driver.name}: {driver.status().message}: run again with --unlock (clear the lock) or --home "
                "(home the machine)")
    return ""


class _Bar:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = -1

    def update(self, ev: DriverJobProgress) -> None:
        if not self.enabled:
            return
        pct = int(ev.fraction * 100)
        if pct == self._last:
            return
        self._last = pct
        filled = pct * 30 // 100
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {pct:3d}%  {ev.lines_acked}/{ev.lines_total}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self._last >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()
