"""The node agent over a real websocket on 127.0.0.1: pairing, identity, commands and events."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from app.core.clock import ScaledClock
from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import ProcessType
from app.core.domain.errors import AuthError, DeviceError
from app.core.drivers import DriverJobFinished, DriverState, DriverTelemetry, JobOutcome, JobRequest
from app.devices import agent_protocol as proto
from app.devices.agent import NodeAgent
from app.devices.agent_client import AgentDriver
from app.devices.agent_tls import client_context
from app.devices.emulators.marlin_emulator import MarlinEmulator
from app.devices.marlin_driver import MarlinDriver
from app.devices.simulator import SimConfig, SimulatedMachine

TOKEN = "pair-me-please-42"


def sim_agent(tmp_path: Path, scale: float = 600.0) -> NodeAgent:
    caps = Capabilities(process=ProcessType.LASER, build_volume_mm=(600, 300, 20), materials=frozenset({"acrylic"}))
    sim = SimulatedMachine("laser-1", caps, ScaledClock(scale), SimConfig(telemetry_interval_s=5))
    ident = proto.AgentIdentity.load_or_create(tmp_path / "keys" / "node.key")
    return NodeAgent(sim, token=TOKEN, identity=ident, advertise=False)


def test_agent_serves_a_simulated_machine_to_a_paired_client(tmp_path: Path) -> None:
    async def go():
        agent = sim_agent(tmp_path)
        await agent.driver.connect()
        await agent.start()
        client = AgentDriver(f"wss://127.0.0.1:{agent.port}", TOKEN, expected_fingerprint=agent.identity.fingerprint)
        events: list = []
        client.add_listener(events.append)
        try:
            await client.connect()
            caps, name, state = client.capabilities, client.name, client.state
            await client.execute(JobRequest(estimate_s=120, spec={"name": "sign"}))
            for _ in range(300):
                if any(isinstance(e, DriverJobFinished) for e in events):
                    break
                await asyncio.sleep(0.02)
            return caps, name, state, events, client.node_id, agent
        finally:
            await client.disconnect()
            await agent.stop()
            await agent.driver.disconnect()

    caps, name, state, events, node_id, agent = asyncio.run(go())
    assert caps.process is ProcessType.LASER and caps.build_volume_mm == (600, 300, 20)
    assert name == "laser-1" and state is DriverState.IDLE
    assert node_id == str(agent.node_id)
    assert any(isinstance(e, DriverTelemetry) and "power_w" in e.metrics for e in events)
    fin = [e for e in events if isinstance(e, DriverJobFinished)]
    assert fin and fin[0].outcome is JobOutcome.COMPLETED


def test_identity_is_stable_across_restarts_and_kept_private(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "node.key"
    a = proto.AgentIdentity.load_or_create(key)
    b = proto.AgentIdentity.load_or_create(key)
    assert a.node_id == b.node_id and a.fingerprint == b.fingerprint
    assert key.stat().st_mode & 0o077 == 0


def test_wrong_token_and_wrong_key_are_refused(tmp_path: Path) -> None:
    async def go():
        agent = sim_agent(tmp_path)
        await agent.start()
        url = f"wss://127.0.0.1:{agent.port}"
        fp = agent.identity.fingerprint
        try:
            with pytest.raises(AuthError, match="pairing token"):
                await AgentDriver(url, "not-the-token", expected_fingerprint=fp).connect()
            with pytest.raises(AuthError, match="not the accepted"):
                await AgentDriver(url, TOKEN, expected_fingerprint="0" * 32).connect()
            with pytest.raises(AuthError, match="not accepted yet"):
                await AgentDriver(url, TOKEN).connect()
            # a client that speaks a future protocol version is told so, and nothing runs
            async with connect(url, ssl=client_context()) as ws:
                await ws.send(json.dumps({"v": 99, "type": "hello", "token": TOKEN}))
                await ws.wait_closed()
                code = ws.close_code
            return agent.rejected, code
        finally:
            await agent.stop()

    rejected, code = asyncio.run(go())
    assert rejected == 1
    assert code == proto.AUTH_CLOSE_CODE


def test_agent_over_a_marlin_emulator_streams_and_reports_a_lost_link(tmp_path: Path) -> None:
    async def go():
        emu = MarlinEmulator()
        emu.start()
        marlin = MarlinDriver("ender", emu.path, connect_timeout_s=5)
        await marlin.connect()
        agent = NodeAgent(marlin, token=TOKEN, identity=proto.AgentIdentity.generate(), advertise=False)
        await agent.start()
        client = AgentDriver(f"wss://127.0.0.1:{agent.port}", TOKEN, expected_fingerprint=agent.identity.fingerprint)
        events: list = []
        client.add_listener(events.append)
        try:
            await client.connect()
            await client.execute(JobRequest(gcode_lines=[f"G1 X{i}" for i in range(3000)]))
            with pytest.raises(DeviceError, match="cannot start"):
                await client.execute(JobRequest(gcode_lines=["G28"]))
            for _ in range(500):
                if any(isinstance(e, DriverJobFinished) for e in events):
                    break
                await asyncio.sleep(0.02)
            await agent.stop()  # the agent goes away: the client sees the link drop
            for _ in range(200):
                if client.state is DriverState.OFFLINE:
                    break
                await asyncio.sleep(0.02)
            return events, client.state, emu
        finally:
            await client.disconnect()
            await marlin.disconnect()
            emu.stop()

    events, state, emu = asyncio.run(go())
    fin = [e for e in events if isinstance(e, DriverJobFinished)]
    assert fin and fin[0].outcome is JobOutcome.COMPLETED
    assert len([c for c in emu.accepted if c.startswith("G1 ")]) == 3000
    assert state is DriverState.OFFLINE
