"""Node agents are accepted by a person before they get the pairing token (real zeroconf and TLS on 127.0.0.1,
real agents, a real store and a real known-agents file)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

from app.core.bus import EventBus
from app.core.clock import ScaledClock, SystemClock
from app.core.discovery.agent_decisions import AgentDesk
from app.core.discovery.agent_trust import AgentTrust
from app.core.discovery.zeroconf_discovery import ZeroconfDiscovery
from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import NodeState, ProcessType
from app.core.events import FaultReported
from app.core.fleet.service import FleetService
from app.core.store import open_store
from app.core.store.repositories import AuditRepo
from app.devices import agent_protocol as proto
from app.devices.agent import NodeAgent
from app.devices.agent_client import read_agent_key
from app.devices.factory import agent_driver_factory
from app.devices.simulator import SimConfig, SimulatedMachine

from .mdns import KINDS, LOOPBACK, NODE_TYPE

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "trusted-site-token"
NAME = f"press-{uuid4().hex[:6]}"


def agent(name: str, ident: proto.AgentIdentity) -> NodeAgent:
    caps = Capabilities(process=ProcessType.FDM, build_volume_mm=(220, 220, 250))
    sim = SimulatedMachine(name, caps, ScaledClock(60), SimConfig(telemetry_interval_s=30))
    return NodeAgent(sim, token=TOKEN, identity=ident, host="127.0.0.1", interfaces=LOOPBACK,
                     software_version="0.1.0", service_type=NODE_TYPE)


async def until(pred, timeout: float = 15.0, what: str = "condition") -> None:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what} not met in {timeout} s")
        await asyncio.sleep(0.02)


def test_a_new_agent_waits_for_a_person_and_impostors_get_no_token(tmp_path: Path) -> None:
    known = tmp_path / "keys" / "known_agents.json"

    async def go():
        store = open_store(f"sqlite:///{tmp_path}/t.sqlite")
        bus = EventBus()
        fleet = FleetService(store, bus, SystemClock())
        await fleet.start()
        faults: list[FaultReported] = []
        bus.subscribe(FaultReported, faults.append)
        disc = ZeroconfDiscovery(fleet, bus, SystemClock(), agent_driver_factory(TOKEN), interfaces=LOOPBACK,
                                 trust=AgentTrust(known), key_probe=read_agent_key, kinds=KINDS)
        desk = AgentDesk(disc.trust, store, SystemClock(), disc)
        await disc.start()
        real_id, other_id, liar_id = (proto.AgentIdentity.generate() for _ in range(3))
        real, other = agent(NAME, real_id), agent(NAME, other_id)
        liar = agent(NAME + "b", liar_id)
        # the liar copies the real agent's id and fingerprint into its advert, but cannot prove its key
        liar.txt = lambda: {**NodeAgent.txt(liar), "id": str(real_id.node_id), "fp": real_id.fingerprint}
        out: dict = {}
        try:
            for a in (real, other, liar):
                await a.driver.connect()
            await real.start()
            await until(lambda: disc.trust.get(real_id.fingerprint) is not None, what="the agent heard")
            await asyncio.sleep(0.5)
            out["pending"] = (disc.trust.get(real_id.fingerprint).state, real.hellos, len(fleet.list()))
            await desk.decide("cli", NAME, accept=True, fingerprint=real_id.fingerprint[:12])
            await until(lambda: any(n.id == real_id.node_id and n.state is NodeState.IDLE for n in fleet.list()),
                        what="the accepted agent linked")
            out["accepted"] = real.hellos
            # a second agent advertises the same machine name with another key; a third lies about its id
            await other.start()
            await liar.start()
            await until(lambda: disc.trust.get(other_id.fingerprint) is not None, what="the other heard")
            await until(lambda: any(f.kind == "agent_key_mismatch" for f in faults), what="the liar caught")
            await asyncio.sleep(0.5)
            out["impostors"] = (disc.trust.get(other_id.fingerprint).state, other.hellos, liar.hellos,
                                disc.trust.get(liar_id.fingerprint), sorted(str(n.id) for n in fleet.list()))
            out["faults"] = [(f.kind, f.severity.value, f.message) for f in faults]
            # accepting the changed key needs --replace, on purpose
            try:
                await desk.decide("cli", other_id.fingerprint, accept=True)
                out["no_replace"] = "accepted"
            except Exception as exc:  # noqa: BLE001 - the message is what is checked
                out["no_replace"] = str(exc)
            # a person refuses the real agent now: its link is dropped at once
            await desk.decide("cli", real_id.fingerprint, accept=False)
            await until(lambda: fleet.get(real_id.node_id).state is NodeState.OFFLINE, what="dropped")
            with store.begin() as conn:
                out["audit"] = [(e.action, e.actor) for e in AuditRepo().list(conn, limit=50)
                                if e.action.startswith("agent.")]
            return out
        finally:
            for a in (real, other, liar):
                await a.stop()
                await a.driver.disconnect()
            await disc.stop()
            await bus.close()
            store.close()

    out = asyncio.run(asyncio.wait_for(go(), 90))
    assert out["pending"] == ("pending", 0, 0)  # heard, waiting, sent nothing, not in the fleet
    assert out["accepted"] >= 1
    changed, other_hellos, liar_hellos, liar_key, fleet_ids = out["impostors"]
    assert changed == "changed" and other_hellos == 0 and liar_hellos == 0 and liar_key is None
    assert len(fleet_ids) == 1
    kinds = {k for k, _, _ in out["faults"]}
    assert {"agent_waiting", "agent_key_changed", "agent_key_mismatch"} <= kinds
    changed_msg = next(m for k, _, m in out["faults"] if k == "agent_key_changed")
    assert NAME in changed_msg and "no token sent" in changed_msg
    assert "--replace" in out["no_replace"]
    assert ("agent.accept", "cli") in out["audit"] and ("agent.refuse", "cli") in out["audit"]
    # the decisions are kept, readable by this user only
    assert known.stat().st_mode & 0o077 == 0
    # (agents of other runs on this machine may be heard too: ours are named press-3)
    states = {a["name"] + ":" + a["state"] for a in json.loads(known.read_text())["agents"]
              if a["name"] == NAME}
    assert states == {f"{NAME}:refused", f"{NAME}:changed"}


def test_cli_lists_accepts_and_refuses_agents_without_a_site_running(tmp_path: Path) -> None:
    home = tmp_path / "home"
    trust = AgentTrust(home / "keys" / "known_agents.json")
    a, b = proto.AgentIdentity.generate(), proto.AgentIdentity.generate()
    trust.heard(a.fingerprint, str(a.node_id), "lathe-2", "wss://127.0.0.1:9", "0.1.0")
    trust.heard(b.fingerprint, str(b.node_id), "laser-9", "wss://127.0.0.1:10", "0.1.0")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMEWE_HOME": str(home)}

    def imewe(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "app.cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)

    listed = imewe("nodes", "agents")
    wrong = imewe("nodes", "accept", "lathe-2", "--fingerprint", "0000deadbeef")
    ok = imewe("nodes", "accept", "lathe-2", "--fingerprint", a.fingerprint[:10])
    refused = imewe("nodes", "refuse", b.fingerprint[:8])
    unknown = imewe("nodes", "accept", "nobody")
    listed2 = imewe("--json", "nodes", "agents")
    assert listed.returncode == 0 and "waiting for a person" in listed.stdout and "2 waiting" in listed.stdout
    assert " ".join(a.fingerprint[i:i + 4] for i in range(0, 32, 4)) in listed.stdout
    assert wrong.returncode == 2 and "not accepted" in wrong.stderr and "Traceback" not in wrong.stderr
    assert ok.returncode == 0 and "lathe-2 accepted" in ok.stdout, ok.stderr
    assert refused.returncode == 0 and "laser-9 refused" in refused.stdout
    assert unknown.returncode == 2 and "no node agent named" in unknown.stderr
    states = {x["name"]: x["state"] for x in json.loads(listed2.stdout)["agents"]}
    assert states == {"lathe-2": "accepted", "laser-9": "refused"}
