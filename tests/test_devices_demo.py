"""The demo fleet description and driver factory."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from app.core.bus import EventBus
from app.core.clock import ScaledClock
from app.core.domain.enums import NodeState, ProcessType
from app.core.domain.errors import ValidationError
from app.core.drivers import FabricationDevice
from app.core.events import TelemetryReceived
from app.core.fleet.driver_link import DriverLink
from app.core.fleet.service import FleetService
from app.core.store import open_store
from app.devices.demo import DEMO_FLEET, load_demo_fleet
from app.devices.factory import make_driver


def test_demo_fleet_is_a_mixed_dozen_that_runs_on_a_scaled_clock(tmp_path: Path) -> None:
    clock = ScaledClock(600)
    fleet_desc = load_demo_fleet(DEMO_FLEET, clock)
    processes = {caps.process for _, caps, _ in fleet_desc}
    assert 10 <= len(fleet_desc) <= 16
    assert {ProcessType.FDM, ProcessType.SLA, ProcessType.CNC_MILL, ProcessType.LASER,
            ProcessType.ROBOT_ARM} <= processes
    assert all(isinstance(d, FabricationDevice) for _, _, d in fleet_desc)

    async def go():
        store = open_store(f"sqlite:///{tmp_path}/t.sqlite")
        bus = EventBus()
        fleet = FleetService(store, bus, clock)
        await fleet.start()
        samples: list = []
        bus.subscribe(TelemetryReceived, samples.append)
        links = []
        try:
            for name, caps, driver in fleet_desc:
                node = await fleet.register(name, caps, driver="sim", location=driver.location, bring_up=True)
                links.append(DriverLink(fleet, bus, clock, node.id, driver).attach())
                await driver.connect()
            await asyncio.sleep(0.5)  # 300 simulated seconds
            for (_, _, driver), link in zip(fleet_desc, links, strict=True):
                await driver.disconnect()
                await link.detach()
            await bus.drain()
            return fleet.list(), samples
        finally:
            await bus.close()
            store.close()

    nodes, samples = asyncio.run(go())
    assert len(nodes) == len(fleet_desc) and all(n.state is NodeState.OFFLINE for n in nodes)  # stopped
    assert {s.sample.node_id for s in samples} == {n.id for n in nodes}
    assert any(n.location == "Machine shop" for n in nodes)


def test_bad_fleet_files_and_driver_kinds_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "fleet.json"
    bad.write_text("{not json")
    with pytest.raises(ValidationError, match="not valid JSON"):
        load_demo_fleet(bad)
    bad.write_text(json.dumps({"machines": [{"name": "x", "process": "teleporter"}]}))
    with pytest.raises(ValidationError, match="unknown process"):
        load_demo_fleet(bad)
    bad.write_text(json.dumps({"machines": [{"name": "x", "process": "fdm", "faults": [{"kind": "gremlin"}]}]}))
    with pytest.raises(ValidationError, match="unknown fault"):
        load_demo_fleet(bad)
    with pytest.raises(ValidationError, match="unknown driver"):
        make_driver("teleporter")
    with pytest.raises(ValidationError, match="serial port"):
        make_driver("marlin")
