"""imewe run FILE --driver marlin|grbl --port PORT: stream a G-code file straight to a machine.

Exit 0 only when the machine acknowledged every line; a firmware error, an alarm or a lost port ends the run with
a clear message and a non-zero exit code. Raw traffic goes to the machine's own log under IMEWE_HOME.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from app.cli.output import add_json_flag, emit
from app.core.domain.errors import DeviceError, ValidationError
from app.core.drivers import DriverJobProgress, JobOutcome, JobRequest
from app.core.paths import Paths
from app.devices.factory import make_driver
from app.devices.serial_driver import SerialDriver

EXIT_MACHINE = 3  # the machine refused or stopped: different from bad input (2)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="stream a G-code file to a machine on a serial port")
    p.add_argument("file", type=Path, help="G-code file")
    p.add_argument("--driver", choices=("marlin", "grbl"), required=True, help="the machine's firmware")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0 or /dev/ttyACM0")
    p.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    p.add_argument("--connect-timeout", type=float, default=15.0, help="seconds to wait for the firmware")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_flag(p)
    p.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise ValidationError(f"no G-code file at {args.file}")
    if args.baud <= 0:
        raise ValidationError("the baud rate must be a positive number")
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    paths = Paths.resolve(args.home).ensure()
    log_file = paths.device_logs / f"{args.driver}-{Path(args.port).name}.log"
    driver = make_driver(args.driver, name=f"{args.driver}@{args.port}", port=args.port, baud=args.baud,
                         traffic_log=log_file, connect_timeout_s=args.connect_timeout)
    assert isinstance(driver, SerialDriver)
    bar = _Bar(enabled=not args.quiet and not getattr(args, "json", False))
    driver.add_listener(lambda e: bar.update(e) if isinstance(e, DriverJobProgress) else None)
    t0 = time.monotonic()
    try:
        await driver.connect()
        await driver.execute(JobRequest(gcode_path=args.file))
        try:
            fin = await driver.wait_job()
        except asyncio.CancelledError:
            await driver.cancel()
            raise
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
    emit(args, summary, f"{args.file.name}: all {total} lines acknowledged in {summary['seconds']} s")
    return 0


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
