"""``imewe nodes add NAME --driver octoprint|moonraker|prusalink|bambu|duet --address URL [secrets]``: one step.

The machine is asked who it is before anything is stored (a refused key or an unreachable address registers
nothing); its secrets go to ``keys/machines/<node id>.json`` (0600) under an id chosen here, then the node is
registered with that id, through the site's owner when one runs (which starts driving it at once).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any
from uuid import UUID, uuid4

from app.bootstrap import StoreCore
from app.cli.output import call_site, emit, with_core
from app.core.config import load_config
from app.core.domain.errors import ValidationError
from app.devices.factory import NETWORK_DRIVERS, network_driver
from app.devices.network.adding import capabilities_for, check_secrets, read_machine
from app.devices.network.secrets import SecretStore


def add_secret_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("network machines (OctoPrint, Moonraker, PrusaLink, Bambu Lab, Duet)")
    g.add_argument("--api-key", help="OctoPrint or Moonraker API key (kept under keys/, never in the database); "
                                     "'-' for any secret option reads it from the terminal or stdin")
    g.add_argument("--access-code", help="Bambu Lab LAN access code")
    g.add_argument("--serial", help="Bambu Lab printer serial number")
    g.add_argument("--user", help="PrusaLink user (default maker)")
    g.add_argument("--password", help="PrusaLink or Duet password")
    g.add_argument("--no-probe", action="store_true",
                   help="register without asking the machine (it is off now); give --volume etc. yourself")
    g.add_argument("--repin", "--update-secrets", dest="repin", action="store_true",
                   help="for a registered machine: take the secrets given (a new key or access code) and forget a "
                        "pinned certificate (a Bambu Lab printer reset or replaced)")


def _ask(key: str) -> str:
    """``--api-key -``: the secret is read from the terminal (not echoed) or one line of stdin, so it stays out of
    the shell history and the process list."""
    if sys.stdin.isatty():
        return getpass.getpass(f"{key.replace('_', ' ')}: ")
    return sys.stdin.readline().strip()


def is_network(driver: str) -> bool:
    return driver in NETWORK_DRIVERS


def add_network_machine(args: argparse.Namespace, given_caps: dict[str, Any]) -> int:
    config = load_config(args.home, args.db)
    kind = args.driver
    given = {"api_key": args.api_key, "access_code": args.access_code, "serial": args.serial, "user": args.user,
             "password": args.password}
    secrets = check_secrets(kind, {k: _ask(k) if v == "-" else v for k, v in given.items()})
    store = SecretStore(config.paths.keys)
    if args.repin:
        return _repin(args, store, secrets)
    if not args.address:
        raise ValidationError(f"give the machine's address with --address "
                              f"({NETWORK_DRIVERS[kind].schemes[0]}://host[:port])", "address")
    if args.no_probe:
        address, info = network_driver(kind, address=args.address, secrets=secrets).address, None
    else:
        address, info = asyncio.run(read_machine(kind, args.address, secrets))
    caps = capabilities_for(kind, info, given_caps)
    node_id = uuid4()
    store.save(node_id, secrets)
    try:
        node = call_site(args, "nodes.add", {"name": args.name, "capabilities": caps, "address": address,
                                             "driver": kind, "location": args.location, "node_id": str(node_id),
                                             "software_version": info.firmware if info else ""})
    except BaseException:
        store.delete(node_id)  # nothing registered: no orphan secrets
        raise
    found = f" ({info.model or info.name}, {info.firmware})" if info and (info.model or info.name) else ""
    emit(args, node, lambda d: f"registered {d['name']} ({d['id']}), {d['state']}: "
                               f"{NETWORK_DRIVERS[kind].label} at {address}{found}")
    return 0


def _repin(args: argparse.Namespace, store: SecretStore, secrets: dict[str, str]) -> int:
    async def find(core: StoreCore) -> int:
        node = core.fleet.find(args.name)
        if node.driver != args.driver:
            raise ValidationError(f"{args.name} is a {node.driver} machine, not {args.driver}", "driver")
        found.append(node.id)
        return 0

    found: list[UUID] = []
    with_core(args, find)
    node_id = found[0]
    kept = {k: v for k, v in store.load(node_id).items() if k != "cert_sha256"}
    store.save(node_id, kept | secrets)
    emit(args, {"id": str(node_id), "repinned": True, "updated": sorted(secrets)},
         lambda _: f"{args.name}: secrets updated ({', '.join(sorted(secrets)) or 'none given'}), any pinned "
                   "certificate forgotten; a running site tries them within seconds")
    return 0
