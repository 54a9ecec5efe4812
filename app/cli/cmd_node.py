"""imewe node: run a node agent beside one machine, serve it over websocket and advertise it with zeroconf."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

from app import __version__
from app.cli.args import positive_float
from app.core.clock import ScaledClock, SystemClock
from app.core.config import load_config
from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import ProcessType
from app.core.domain.errors import ImeweError, ValidationError
from app.core.drivers import DriverState, FabricationDevice
from app.core.paths import Paths
from app.devices.agent import NodeAgent
from app.devices.agent_journal import RunJournal
from app.devices.agent_protocol import AgentIdentity
from app.devices.agent_update import AgentUpdater
from app.devices.factory import make_driver

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("node", help="run a node agent for one machine (serves it to control rooms)")
    p.add_argument("--driver", choices=("marlin", "grbl", "sim"), required=True)
    p.add_argument("--port", default="", help="serial port of the machine (marlin, grbl)")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--process", default=None, choices=[pt.value for pt in ProcessType],
                   help="what the machine does (default: fdm for marlin, cnc_mill for grbl)")
    p.add_argument("--name", default="", help="machine name shown in control rooms (default: from the driver)")
    p.add_argument("--listen", default="0.0.0.0", help="address to serve on (default: every interface)")
    p.add_argument("--ws-port", type=int, default=8765, help="websocket port (0: any free port)")
    p.add_argument("--token", default="", help="pairing token (default: IMEWE_NODE_TOKEN, else the one kept in "
                                               "IMEWE_HOME/keys/node-token)")
    p.add_argument("--interfaces", default="", help="comma-separated addresses to advertise on (default: all)")
    p.add_argument("--no-advertise", action="store_true", help="do not announce the agent with zeroconf")
    p.add_argument("--scale", type=positive_float, default=1.0, help="time scale for --driver sim (e.g. 60)")
    p.add_argument("--files", default="", help="folder whose G-code files control rooms may ask the agent to "
                                              "read itself (default: IMEWE_HOME/node-files)")
    p.add_argument("--update-timeout", type=positive_float, default=60.0,
                   help="seconds a pushed software update has to come up healthy before it is rolled back")
    p.set_defaults(handler=node_command)


def node_command(args: argparse.Namespace) -> int:
    if args.driver in ("marlin", "grbl") and not args.port:
        raise ValidationError(f"--driver {args.driver} needs --port (e.g. /dev/ttyUSB0)")
    if not 0 <= args.ws_port <= 65535:
        raise ValidationError("--ws-port must be between 0 and 65535")
    from app.bootstrap import setup_logging

    setup_logging(load_config(args.home, args.db))  # the log file, and the journal when run as a service
    rc, updater = asyncio.run(_serve(args))
    if updater is not None and updater.restart_requested:
        updater.restart_into_update()  # does not return: the update guard takes this process over
    return rc


def _token(paths: Paths, given: str) -> str:
    """``--token``, else IMEWE_NODE_TOKEN (kept off the command line, where other users can read it), else the
    token in keys/node-token (made on first use, readable by this user only)."""
    given = given or os.environ.get("IMEWE_NODE_TOKEN", "")
    if given:
        if len(given) < 8:
            raise ValidationError("the pairing token must be at least 8 characters")
        return given
    path = paths.keys / "node-token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


async def _serve(args: argparse.Namespace) -> tuple[int, AgentUpdater | None]:
    paths = Paths.resolve(args.home).ensure()
    default_process = {"marlin": "fdm", "grbl": "cnc_mill", "sim": "fdm"}[args.driver]
    caps = Capabilities(process=ProcessType(args.process or default_process))
    name = args.name or (f"{caps.process.value}-sim" if args.driver == "sim" else f"{args.driver}-node")
    clock = ScaledClock(args.scale) if args.scale != 1.0 else SystemClock()
    driver = make_driver(args.driver, name=name, capabilities=caps if args.driver == "sim" or args.process else None,
                         port=args.port, baud=args.baud, clock=clock,
                         traffic_log=paths.device_logs / f"node-{name}.log",
                         stall_timeout_s=load_config(args.home).serial_stall_timeout_s)
    ident = AgentIdentity.load_or_create(paths.keys / f"node-{name}.key")
    interfaces = [i.strip() for i in args.interfaces.split(",") if i.strip()] or None
    token = _token(paths, args.token)
    token_from = ("given with --token" if args.token else "from IMEWE_NODE_TOKEN" if os.environ.get("IMEWE_NODE_TOKEN")
                  else f"in {paths.keys / 'node-token'}")
    files = Path(args.files).expanduser() if args.files else paths.home / "node-files"
    files.mkdir(parents=True, exist_ok=True)
    journal = RunJournal(paths.home / f"node-{name}-runs.json")
    updater = AgentUpdater(paths.home, name, __version__, [], env={"IMEWE_NODE_TOKEN": token},
                           timeout_s=args.update_timeout, keys=paths.keys)
    if updater.resume_installed(_argv(args, paths.home, name, files, args.ws_port)):
        return 0, updater  # a version pushed earlier is installed: start it (through the guard)
    agent = NodeAgent(driver, token=token, identity=ident, host=args.listen, port=args.ws_port,
                      advertise=not args.no_advertise, interfaces=interfaces, software_version=__version__,
                      files_dir=files, journal=journal, updater=updater)
    # the same port when started again: links come back there (the port is known once the agent serves)
    updater.argv = lambda: _argv(args, paths.home, name, files, agent.port or args.ws_port)
    await driver.connect()
    stop = asyncio.Event()
    updater.on_restart = stop.set
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await agent.start()
        print(f"node agent {name!r} ({driver.capabilities.process.value}) serving wss://{args.listen}:{agent.port}\n"
              f"  node id     {agent.node_id}\n  fingerprint {_grouped(ident.fingerprint)}  (compare it when you "
              "accept this agent in the control room)\n"
              f"  token       {token_from} (never shown)\n  files       {files}\n"
              f"  advertised  {'no' if args.no_advertise else '_imewe-node._tcp'}",
              flush=True)
        updater.report_healthy()
        await _supervise(driver, stop)
    finally:
        await agent.stop()
        await driver.disconnect()
    print("node agent stopping for its update" if updater.restart_requested else "node agent stopped",
          file=sys.stderr)
    return 0, updater


def _argv(args: argparse.Namespace, home: Path, name: str, files: Path, port: int) -> list[str]:
    """How to start this agent again from another version's folder: absolute paths, the port it has now, and
    no token (it goes in the environment)."""
    out = ["-m", "app.cli.main", "--home", str(home.resolve())]
    if args.db:
        out += ["--db", args.db]
    out += ["node", "--driver", args.driver, "--baud", str(args.baud), "--name", name, "--listen", args.listen,
            "--ws-port", str(port), "--scale", str(args.scale), "--files", str(files.resolve()),
            "--update-timeout", str(args.update_timeout)]
    if args.port:
        out += ["--port", args.port]
    if args.process:
        out += ["--process", args.process]
    if args.interfaces:
        out += ["--interfaces", args.interfaces]
    if args.no_advertise:
        out.append("--no-advertise")
    return out


def _grouped(fp: str) -> str:
    return " ".join(fp[i:i + 4] for i in range(0, len(fp), 4))


async def _supervise(driver: FabricationDevice, stop: asyncio.Event, retry_s: float = 5.0) -> None:
    """Until asked to stop: when the machine's port goes away (cable pulled, power cycled), keep trying to
    reconnect, so the control room sees it come back by itself."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), retry_s)
        if stop.is_set():
            return
        if driver.status().state in (DriverState.OFFLINE, DriverState.DISCONNECTED):
            try:
                await driver.connect()
                log.info("%s reconnected", driver.name)
            except ImeweError as exc:
                log.info("%s still unreachable: %s", driver.name, exc)
