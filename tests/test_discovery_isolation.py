"""Two test runs at once on one machine share the multicast of 127.0.0.1: each run's discovery, agents and
adverts use service types of their own (tests/mdns.py), so neither hears the other's, even under the same names."""

from __future__ import annotations

import asyncio
import socket
import uuid

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from app.core.bus import EventBus
from app.core.clock import ScaledClock, SystemClock
from app.core.discovery.zeroconf_discovery import ZeroconfDiscovery
from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import ProcessType
from app.core.fleet.service import FleetService
from app.core.store import open_store
from app.devices import agent_protocol as proto
from app.devices.agent import NodeAgent
from app.devices.agent_client import read_agent_key
from app.devices.factory import agent_driver_factory
from app.devices.simulator import SimConfig, SimulatedMachine

from . import mdns
from .network_scenarios import until

TOKEN = f"isolation-{uuid.uuid4().hex}"


def other_run() -> dict[str, str]:
    """The kinds another run on this machine would use: the same scheme, its own suffix."""
    run = uuid.uuid4().hex[:8]
    return {f"_{stype[1]}{run}._tcp.local.": kind for stype, kind in mdns.KINDS.items()}


def type_of(kinds: dict[str, str], kind: str) -> str:
    return next(stype for stype, k in kinds.items() if k == kind)


def test_two_runs_at_once_do_not_hear_each_others_adverts(tmp_path) -> None:
    runs = {"this": dict(mdns.KINDS), "other": other_run()}
    assert set(runs["this"]).isdisjoint(runs["other"])

    async def go():
        store = open_store(f"sqlite:///{tmp_path}/t.sqlite")
        bus = EventBus()
        fleet = FleetService(store, bus, SystemClock())
        await fleet.start()
        discs = {r: ZeroconfDiscovery(fleet, bus, SystemClock(), agent_driver_factory(TOKEN),
                                      interfaces=mdns.LOOPBACK, kinds=kinds, key_probe=read_agent_key)
                 for r, kinds in runs.items()}
        zc = AsyncZeroconf(interfaces=mdns.LOOPBACK, ip_version=IPVersion.V4Only)
        # the same printer name in both runs, at different ports: no name clash, each heard by its own run only
        printers = {r: AsyncServiceInfo(type_of(kinds, "octoprint"), f"Shop OctoPi.{type_of(kinds, 'octoprint')}",
                                        port=port, addresses=[socket.inet_aton("127.0.0.1")],
                                        server=f"octopi-{r}.local.", properties={"version": "1.10.2"})
                    for (r, kinds), port in zip(runs.items(), (8001, 8002), strict=True)}
        idents = {r: proto.AgentIdentity.generate() for r in runs}
        agents = {r: NodeAgent(SimulatedMachine("mill-7", Capabilities(process=ProcessType.CNC_MILL),
                                                ScaledClock(60), SimConfig(telemetry_interval_s=30)),
                               token=TOKEN, identity=idents[r], host="127.0.0.1", interfaces=mdns.LOOPBACK,
                               service_type=type_of(kinds, "imewe-node"))
                  for r, kinds in runs.items()}
        try:
            for d in discs.values():
                await d.start()
            for r in runs:
                await zc.async_register_service(printers[r])
                await agents[r].driver.connect()
                await agents[r].start()
            for r, d in discs.items():
                await until(lambda d=d, r=r: len(d.list_found("octoprint")) == 1 and len(d.list_found("imewe-node")) == 1
                            and d.trust.get(idents[r].fingerprint) is not None, 15, f"run {r} to hear its own")
            await asyncio.sleep(1.0)  # time for anything of the other run to arrive, were it heard
            return {r: ([(a.name, a.port) for a in d.list_found()],
                        {r2: d.trust.get(i.fingerprint) is not None for r2, i in idents.items()})
                    for r, d in discs.items()}
        finally:
            for a in agents.values():
                await a.stop()
                await a.driver.disconnect()
            for info in printers.values():
                await zc.async_unregister_service(info)
            await zc.async_close()
            for d in discs.values():
                await d.stop()
            await bus.close()
            store.close()

    heard = asyncio.run(asyncio.wait_for(go(), 60))
    for run, port in (("this", 8001), ("other", 8002)):
        found, pending = heard[run]
        assert sorted(name for name, _ in found) == ["Shop OctoPi", "mill-7"], run  # one of each, its own
        assert dict(found)["Shop OctoPi"] == port
        assert pending == {"this": run == "this", "other": run == "other"}  # the other's agent: not even pending
