"""``imewe nodes add`` for PrusaLink, Duet and Bambu Lab printers: the machine is asked who it is, its
capabilities come from it, its secrets go under keys/ (0600) and nowhere else; a refused secret registers nothing.
A Bambu printer's certificate is pinned when it is added, and ``--repin`` forgets it."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from app.bootstrap import build_core
from app.cli.main import main
from app.core.clock import SystemClock
from app.core.config import load_config
from app.core.discovery.zeroconf_discovery import ZeroconfDiscovery
from app.window_ports import machine_adder
from tests import network_scenarios as sc
from tests import test_network_bambu as bambu
from tests.mdns import KINDS, LOOPBACK, TYPES, instance
from tests.test_network_bambu import mosquitto_required  # noqa: F401 - the fixture bambu.needs_mosquitto uses
from tests.test_network_duet import PASSWORD as DUET_PW
from tests.test_network_duet import duet_peer
from tests.test_network_prusalink import PASSWORD as PRUSA_PW
from tests.test_network_prusalink import prusa_peer


def secrets_of(home: Path, node_id: str) -> tuple[dict, int]:
    path = home / "keys" / "machines" / f"{node_id}.json"
    return json.loads(path.read_text()), path.stat().st_mode & 0o777


def not_stored_elsewhere(home: Path, node_id: str, secret: str) -> bool:
    keep = home / "keys" / "machines" / f"{node_id}.json"
    return secret.encode() not in b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file() and p != keep)


def test_add_a_prusalink_printer(tmp_path: Path, capsys):
    peer = prusa_peer(tmp_path)
    peer.start()
    try:
        code = main(["--json", "nodes", "add", "mk4", "--driver", "prusalink", "--address", peer.address,
                     "--password", PRUSA_PW, "--volume", "250x210x220"])
        out = json.loads(capsys.readouterr().out)
        wrong = main(["nodes", "add", "mk4-b", "--driver", "prusalink", "--address", peer.address,
                      "--password", "nope"])
        err = capsys.readouterr().err
    finally:
        peer.kill()
    home = tmp_path / "home"
    assert code == 0 and out["driver"] == "prusalink" and out["capabilities"]["nozzle_mm"] == 0.4
    assert out["capabilities"]["build_volume_mm"] == [250.0, 210.0, 220.0]
    assert secrets_of(home, out["id"]) == ({"password": PRUSA_PW}, 0o600)
    assert not_stored_elsewhere(home, out["id"], PRUSA_PW)
    assert wrong == 2 and err.count("\n") == 1 and "user and password was refused" in err


def test_add_a_duet_board(tmp_path: Path, capsys):
    peer = duet_peer(tmp_path)
    peer.start()
    try:
        code = main(["--json", "nodes", "add", "duet", "--driver", "duet", "--address", peer.address,
                     "--password", DUET_PW])
        out = json.loads(capsys.readouterr().out)
        wrong = main(["nodes", "add", "duet-b", "--driver", "duet", "--address", peer.address, "--password", "x"])
        err = capsys.readouterr().err
    finally:
        peer.kill()
    home = tmp_path / "home"
    assert code == 0 and out["capabilities"]["build_volume_mm"] == [300.0, 300.0, 280.0]
    assert secrets_of(home, out["id"]) == ({"password": DUET_PW}, 0o600)
    assert not_stored_elsewhere(home, out["id"], DUET_PW)
    assert wrong == 2 and "machine password was refused" in err


@bambu.needs_mosquitto
def test_add_a_bambu_printer_pins_its_certificate_and_repin_forgets_it(tmp_path: Path, capsys):
    peer = bambu.BambuPeer(tmp_path)
    peer.start()
    try:
        address = peer.address.removeprefix("mqtts://")  # the scheme is the driver's default
        code = main(["--json", "nodes", "add", "x1c", "--driver", "bambu", "--address", address,
                     "--access-code", bambu.CODE, "--serial", bambu.SERIAL])
        out = json.loads(capsys.readouterr().out)
        wrong = main(["nodes", "add", "x1c-b", "--driver", "bambu", "--address", address,
                      "--access-code", "00000000", "--serial", bambu.SERIAL])
        err = capsys.readouterr().err
    finally:
        peer.kill()
    home = tmp_path / "home"
    assert code == 0 and out["driver"] == "bambu" and out["address"].startswith("mqtts://127.0.0.1:")
    kept, mode = secrets_of(home, out["id"])
    assert mode == 0o600 and kept["access_code"] == bambu.CODE and kept["serial"] == bambu.SERIAL
    assert len(kept["cert_sha256"]) == 64  # pinned when added, with the printer in front of the operator
    assert not_stored_elsewhere(home, out["id"], bambu.CODE)
    assert wrong == 2 and "access code was refused" in err
    assert main(["nodes", "add", "x1c", "--driver", "bambu", "--repin", "--access-code", bambu.CODE,
                 "--serial", bambu.SERIAL]) == 0
    assert "cert_sha256" not in secrets_of(home, out["id"])[0]


def test_a_prusalink_printer_found_by_zeroconf_is_added_through_the_dialogs_port(tmp_path: Path):
    """Discovery → add, as the Add machine dialog does it: the printer's ``_prusalink._tcp`` advertisement is
    listed, picked, given its password once, and registered with what it reports."""
    peer = prusa_peer(tmp_path)
    peer.start()
    lo = LOOPBACK

    async def go():
        core = build_core(load_config(str(tmp_path / "home")), connect_machines=False)
        await core.kernel.boot()
        disc = ZeroconfDiscovery(core.fleet, core.bus, SystemClock(), lambda a: None, interfaces=lo, kinds=KINDS)
        await disc.start()
        core.discovery = disc
        other = AsyncZeroconf(interfaces=lo, ip_version=IPVersion.V4Only)
        info = AsyncServiceInfo(TYPES["prusalink"], instance("MK4 bay 4", "prusalink"), port=peer.port,
                                addresses=[socket.inet_aton("127.0.0.1")], server="mk4-bay-4.local.",
                                properties={"printer_type": "MK4", "version": "2.1.2"})
        try:
            await (await other.async_register_service(info))
            adder = machine_adder(core)
            await sc.until(lambda: any(m.name == "MK4 bay 4" for m in adder.found()), 15, "the advertisement")
            found = next(m for m in adder.found() if m.name == "MK4 bay 4")
            assert (found.kind, found.address, found.asks_for) == ("prusalink", peer.address, ("user", "password"))
            node = await adder.add(found.name, found.kind, found.address, {"password": PRUSA_PW})
            stored = json.loads((core.config.paths.keys / "machines" / f"{node.id}.json").read_text())
            return node, stored
        finally:
            await (await other.async_unregister_service(info))
            await other.async_close()
            await disc.stop()
            await core.kernel.shutdown()

    try:
        node, stored = asyncio.run(go())
    finally:
        peer.kill()
    assert node.driver == "prusalink" and node.capabilities.nozzle_mm == 0.4 and stored == {"password": PRUSA_PW}
