"""Discovery with real zeroconf on 127.0.0.1 (IPv4 only), real agents, a real store; serial scan on real ptys."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from app.core.bus import EventBus
from app.core.clock import ScaledClock, SystemClock
from app.core.discovery.agent_trust import AgentTrust
from app.core.discovery.serial_scan import SerialScanner
from app.core.discovery.zeroconf_discovery import ZeroconfDiscovery
from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import NodeState, ProcessType
from app.core.events import NodeDiscovered, NodeVanished
from app.core.fleet.service import FleetService
from app.core.store import open_store
from app.devices import agent_protocol as proto
from app.devices.agent import NodeAgent
from app.devices.agent_client import read_agent_key
from app.devices.emulators.grbl_emulator import GrblEmulator
from app.devices.emulators.marlin_emulator import MarlinEmulator
from app.devices.factory import agent_driver_factory
from app.devices.probe import probe_serial
from app.devices.simulator import SimConfig, SimulatedMachine

from .mdns import KINDS, LOOPBACK, NODE_TYPE, TYPES, instance

TOKEN = "site-pairing-token"


async def wait_for(pred, timeout: float = 15.0) -> float:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return time.monotonic() - t0


def make_agent(identity: proto.AgentIdentity) -> NodeAgent:
    caps = Capabilities(process=ProcessType.CNC_MILL, build_volume_mm=(400, 300, 100))
    sim = SimulatedMachine("mill-7", caps, ScaledClock(60), SimConfig(telemetry_interval_s=30))
    return NodeAgent(sim, token=TOKEN, identity=identity, host="127.0.0.1", interfaces=LOOPBACK,
                     software_version="0.1.0", service_type=NODE_TYPE)


def test_agents_are_registered_by_themselves_go_offline_and_come_back(tmp_path: Path) -> None:
    async def go():
        store = open_store(f"sqlite:///{tmp_path}/t.sqlite")
        bus = EventBus()
        fleet = FleetService(store, bus, SystemClock())
        await fleet.start()
        seen: list = []
        bus.subscribe((NodeDiscovered, NodeVanished), seen.append)
        disc = ZeroconfDiscovery(fleet, bus, SystemClock(), agent_driver_factory(TOKEN), interfaces=LOOPBACK,
                                 trust=AgentTrust(tmp_path / "known_agents.json"), key_probe=read_agent_key,
                                 kinds=KINDS)
        await disc.start()
        ident = proto.AgentIdentity.generate()
        other = AsyncZeroconf(interfaces=LOOPBACK, ip_version=IPVersion.V4Only)
        octo = AsyncServiceInfo(TYPES["octoprint"], instance("Shop OctoPi", "octoprint"), port=80,
                                addresses=[socket.inet_aton("127.0.0.1")], server="octopi.local.",
                                properties={"version": "1.10.2", "path": "/"})
        agent = make_agent(ident)
        try:
            await other.async_register_service(octo)
            await agent.driver.connect()
            await agent.start()
            nid = agent.node_id
            # a person accepts its key once it is heard (it waits, and is sent nothing, until then)
            await wait_for(lambda: disc.trust.get(ident.fingerprint) is not None)
            assert disc.trust.get(ident.fingerprint).state == "pending" and agent.hellos == 0
            disc.trust.accept(ident.fingerprint, "test")
            await disc.recheck()
            await wait_for(lambda: nid in {n.id for n in fleet.list()} and fleet.get(nid).state is NodeState.IDLE)
            node = fleet.get(nid)
            history = [c.to_state for c in await fleet.timeline(nid)]
            await wait_for(lambda: any(a.name == "Shop OctoPi" for a in disc.list_found("octoprint")))
            octo_found = next(a for a in disc.list_found("octoprint") if a.name == "Shop OctoPi")
            # the agent stops: the node goes OFFLINE
            await agent.stop()
            await agent.driver.disconnect()
            await wait_for(lambda: fleet.get(nid).state is NodeState.OFFLINE)
            await wait_for(lambda: any(isinstance(e, NodeVanished) for e in seen))
            # and comes back with the same identity on another port: IDLE again, same node
            agent2 = make_agent(ident)
            await agent2.driver.connect()
            await agent2.start()
            try:
                await wait_for(lambda: fleet.get(nid).state is NodeState.IDLE)
                back = fleet.get(nid)
                count = len(fleet.list())
            finally:
                await agent2.stop()
                await agent2.driver.disconnect()
            await bus.drain()
            return node, history, octo_found, back, count, seen, disc.errors
        finally:
            await disc.stop()
            await other.async_unregister_service(octo)
            await other.async_close()
            await bus.close()
            store.close()

    node, history, octo, back, count, seen, errors = asyncio.run(asyncio.wait_for(go(), 90))
    assert [e for e in errors if "waits for a person to accept it" not in e] == []  # only: ours was pending
    assert node.name == "mill-7" and node.driver == "agent" and node.address.startswith("wss://127.0.0.1:")
    assert node.capabilities.process is ProcessType.CNC_MILL and node.software_version == "0.1.0"
    assert history[:3] == ["REGISTERED", "CONFIGURED", "IDLE"]
    assert octo.address == "http://127.0.0.1:80" and octo.version == "1.10.2" and octo.name == "Shop OctoPi"
    # the same node came back (by its key-derived id), on its new port; no duplicate was registered
    assert back.id == node.id and count == 1
    kinds = {(type(e).__name__, e.kind) for e in seen}
    assert ("NodeDiscovered", "imewe-node") in kinds and ("NodeDiscovered", "octoprint") in kinds
    assert ("NodeVanished", "imewe-node") in kinds


def test_serial_scan_probes_ports_and_finds_marlin_and_grbl() -> None:
    async def go():
        bus = EventBus()
        seen: list = []
        bus.subscribe(NodeDiscovered, seen.append)
        with MarlinEmulator() as marlin, GrblEmulator() as grbl:
            ports = [(marlin.path, "USB Serial (Marlin)"), (grbl.path, "Arduino Uno"), ("/dev/does-not-exist", "")]
            scanner = SerialScanner(bus, lambda: ports, probe_serial)
            finds = await scanner.scan()
            again = await scanner.scan(skip={marlin.path})
            await bus.drain()
        await bus.close()
        return finds, again, seen, marlin.path, grbl.path

    finds, again, seen, mpath, gpath = asyncio.run(asyncio.wait_for(go(), 60))
    by_port = {f.port: f for f in finds}
    assert by_port[mpath].protocol == "marlin" and by_port[mpath].firmware.startswith("Marlin 2.1")
    assert by_port[gpath].protocol == "grbl" and by_port[gpath].firmware == "Grbl 1.1h.20190825"
    assert by_port[mpath].description == "USB Serial (Marlin)"
    assert len(finds) == 2 and [f.port for f in again] == [gpath]
    assert len(seen) == 2 and all(e.kind == "serial" for e in seen)  # a re-found port is not announced again
