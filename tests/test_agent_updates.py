"""Agent software updates with real ``imewe node`` processes started from an older install, real zeroconf and TLS
on 127.0.0.1 and a real site core: two agents updated in stages, a package with a bad signature refused, and an
update whose agent fails to start rolled back."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import app
from app.bootstrap import agent_desk, build_core, site_ops, wire_site_services
from app.core.api.operations import run_op
from app.core.api.operations_agents import AGENT_OPS
from app.core.config import load_config
from app.core.domain import NodeState
from app.core.domain.errors import DeviceError
from app.core.fleet.agent_package import AgentPackage, build_package, sign_package
from app.core.sites.identity import load_or_create_identity

ROOT = Path(__file__).resolve().parents[1]
TOKEN = f"updates-{uuid4().hex}"
OLD = "0.0.9"
OPS = {op.name: op for op in AGENT_OPS}


def copy_app(dest: Path, version: str, broken: bool = False) -> Path:
    """A copy of this install's ``app`` package as another version (``broken``: it cannot start)."""
    shutil.copytree(ROOT / "app", dest / "app", ignore=shutil.ignore_patterns("__pycache__"))
    init = dest / "app" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]*"', f'__version__ = "{version}"', init.read_text()))
    if broken:
        node = dest / "app" / "cli" / "cmd_node.py"
        node.write_text('raise SystemExit("this build cannot start")\n' + node.read_text())
    return dest


class Agent:
    def __init__(self, tmp: Path, name: str, install: Path) -> None:
        self.name = name
        self.home = tmp / name
        self.home.mkdir(parents=True)
        self.log = self.home / "stdout.txt"
        env = {**os.environ, "PYTHONPATH": str(install), "IMEWE_HOME": str(self.home), "IMEWE_NODE_TOKEN": TOKEN}
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli.main", "node", "--driver", "sim", "--process", "laser", "--name",
                 name, "--listen", "127.0.0.1", "--ws-port", "0", "--interfaces", "127.0.0.1",
                 "--update-timeout", "25"], cwd=install, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.node_id: UUID | None = None

    def ready(self, timeout: float = 30) -> Agent:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            m = re.search(r"node id\s+(\S+)", self.log.read_text())
            if m:
                self.node_id = UUID(m.group(1))
                return self
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


async def until(pred, timeout: float = 30.0, what: str = "condition", detail=lambda: "") -> None:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what} not met in {timeout} s {detail()}")
        await asyncio.sleep(0.05)


def other_key_package(pkg: AgentPackage, tmp: Path) -> AgentPackage:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp / "stranger.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return sign_package(AgentPackage(pkg.version, pkg.data, pkg.sha256), path)


@pytest.mark.slow
def test_two_agents_are_updated_in_stages_a_bad_signature_is_refused_and_a_broken_build_rolls_back(
        tmp_path: Path) -> None:
    old = copy_app(tmp_path / "old-install", OLD)
    broken = copy_app(tmp_path / "broken-build", "0.2.0", broken=True)
    home = tmp_path / "site"
    home.mkdir()
    (home / "config.toml").write_text(f'interfaces = ["127.0.0.1"]\nnode_token = "{TOKEN}"\n'
                                      '[scheduler]\nplan_budget_s = 0.05\n'
                                      '[agents]\nkeepalive_s = 1.5\nreconnect_max_s = 0.5\nconnect_timeout_s = 2\n')
    agents = [Agent(tmp_path, n, old) for n in ("engraver-a", "engraver-b")]

    async def go() -> dict:
        core = build_core(load_config(str(home)), connect_machines=False, plan_budget_s=0.05)
        wire_site_services(core, discovery=True, sites=False)
        await core.kernel.boot()
        out: dict = {}
        try:
            for a in agents:
                a.ready()
            desk = agent_desk(core)
            ids = {str(a.node_id) for a in agents}
            await until(lambda: ids <= {k.node_id for k in desk.list()}, what="both agents heard")
            for k in desk.list():
                if k.node_id in ids:
                    await desk.decide("cli", k.fingerprint, accept=True)

            def versions() -> dict[str, str]:
                return {n.name: n.software_version for n in core.fleet.list()
                        if n.id in {a.node_id for a in agents} and n.state is NodeState.IDLE}

            await until(lambda: versions() == {"engraver-a": OLD, "engraver-b": OLD}, what="both idle on the old")
            site = site_ops(core)
            a_id = agents[0].node_id
            # a package signed with another key is refused; nothing restarts
            good = desk.updates.package()
            with pytest.raises(DeviceError) as bad:
                await core.discovery.links[a_id].driver.push_update(other_key_package(good, tmp_path))
            out["bad_signature"] = str(bad.value)
            tampered = AgentPackage(good.version, good.data[:-10] + b"0123456789", good.sha256, good.signature)
            with pytest.raises(DeviceError) as bad2:
                await core.discovery.links[a_id].driver.push_update(tampered)
            out["tampered"] = str(bad2.value)
            out["after_refusals"] = core.discovery.links[a_id].driver.software_version
            # both agents, in stages
            started = await run_op(OPS["agents.update"], site, {"all": True, "timeout_s": 60}, "cli")
            seen: list[tuple[str, str]] = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < 120:
                r = desk.updates.list()[0]
                seen.append((r.steps[0].state, r.steps[1].state))
                if r.state != "running":
                    break
                await asyncio.sleep(0.05)
            out["started"], out["seen"], out["rollout"] = started, seen, desk.updates.list()[0].to_dict()
            def seen_now() -> str:
                links = core.discovery.links
                return str([(n.name, n.state.value, n.software_version,
                             links[n.id].driver.status().state.value if n.id in links else None)
                            for n in core.fleet.list()])

            await until(lambda: versions() == {"engraver-a": app.__version__, "engraver-b": app.__version__},
                        what="both on the new version", detail=seen_now)
            out["pids_kept"] = [a.proc.poll() is None for a in agents]
            # a build that cannot start: the agent rolls back to the version it ran and says so
            identity = load_or_create_identity(core.config.paths.keys, core.config.site_name)
            # an old package, properly signed, is no way back
            with pytest.raises(DeviceError) as older:
                await core.discovery.links[a_id].driver.push_update(
                    sign_package(build_package(old / "app", OLD), identity.key_path))
            out["downgrade"] = str(older.value)
            bad_build = sign_package(build_package(broken / "app", "0.2.0"), identity.key_path)
            await desk.updates.start("cli", "engraver-a", package=bad_build, timeout_s=90)
            await until(lambda: desk.updates.list()[0].state != "running", 100, "the broken rollout over")
            out["broken"] = desk.updates.list()[0].to_dict()
            await until(lambda: versions().get("engraver-a") == app.__version__, what="engraver-a back")
            out["last_update"] = core.discovery.links[a_id].driver.last_update
            # the same version again (--force): done only once the agent was seen to restart into it
            result_b = agents[1].home / "node-engraver-b-update.json"
            before_b = json.loads(result_b.read_text())["at"]
            b_id = agents[1].node_id
            link_b = core.discovery.links[b_id]
            reconnects_b = link_b.driver.reconnects
            await desk.updates.start("cli", "engraver-b", force=True)
            await until(lambda: desk.updates.list()[0].state != "running", 60, "the forced rollout over")
            out["forced"] = desk.updates.list()[0].to_dict()
            now_b = core.discovery.links.get(b_id)
            out["forced_relinked"] = now_b is not link_b or now_b.driver.reconnects != reconnects_b
            # (the guard writes its outcome once the new process says it serves, a moment after the link is back)
            await until(lambda: json.loads(result_b.read_text())["at"] != before_b, 20, "the guard's record")
            out["forced_restarted"] = True
            listed = await run_op(OPS["agents.updates"], site, {}, "cli")
            out["listed"] = [r["state"] for r in listed["rollouts"]]
            return out
        finally:
            await core.kernel.shutdown()

    try:
        out = asyncio.run(asyncio.wait_for(go(), 300))
    finally:
        for a in agents:
            a.stop()
    assert "signature does not verify" in out["bad_signature"]
    assert "SHA-256 differs" in out["tampered"]
    assert out["after_refusals"] == OLD
    assert out["started"]["version"] == app.__version__ and len(out["started"]["steps"]) == 2
    # staged: the second agent was not sent anything before the first came back healthy
    for first, second in out["seen"]:
        if first != "updated":
            assert second == "waiting", out["seen"]
    assert any(f == "restarting" and s == "waiting" for f, s in out["seen"])
    assert out["rollout"]["state"] == "done" and [s["state"] for s in out["rollout"]["steps"]] == ["updated"] * 2
    assert out["pids_kept"] == [True, True]  # the same processes, now the update guard over the new version
    assert "older than" in out["downgrade"]
    assert out["broken"]["state"] == "stopped"
    step = out["broken"]["steps"][0]
    assert step["state"] == "rolled back" and "exited with code" in step["message"], step
    assert out["last_update"]["outcome"] == "rolled back" and out["last_update"]["version"] == "0.2.0"
    assert out["forced"]["state"] == "done" and out["forced_relinked"] and out["forced_restarted"]
    assert out["listed"] == ["done", "stopped", "done"]
    home_a = agents[0].home
    assert len(list((home_a / "node-versions").glob(f"{app.__version__}-*"))) == 1
    assert (home_a / "keys" / "node-engraver-a-site.pem").stat().st_mode & 0o077 == 0
    assert (home_a / "keys" / "node-engraver-a-update-state.json").stat().st_mode & 0o077 == 0
    assert TOKEN not in agents[0].log.read_text()


def test_update_needs_a_running_site_and_a_target(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMEWE_HOME": str(tmp_path)}

    def imewe(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "app.cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)

    none = imewe("nodes", "update")
    no_site = imewe("nodes", "update", "--all")
    assert none.returncode == 2 and "give --all" in none.stderr
    assert no_site.returncode == 2 and "running site" in no_site.stderr and "Traceback" not in no_site.stderr


def test_a_version_recorded_while_the_machine_changes_state_loses_neither(tmp_path: Path) -> None:
    """The rollout records an agent's new version while its link moves the machine's state: both must stick (each
    write of one machine reads it after the one before, never a copy taken before it)."""
    from app.core.bus import EventBus
    from app.core.clock import SystemClock
    from app.core.fleet.service import FleetService
    from app.core.store import open_store

    async def go():
        store = open_store(f"sqlite:///{tmp_path}/f.sqlite")
        fleet = FleetService(store, EventBus(), SystemClock())
        await fleet.start()
        try:
            node = await fleet.register("engraver-c", {"process": "laser"}, driver="agent", bring_up=True)
            await asyncio.gather(fleet.configure(node.id, software_version="2.0.0", actor="updates"),
                                 fleet.set_state(node.id, NodeState.OFFLINE, "link lost"))
            mem = fleet.get(node.id)
            again = FleetService(store, EventBus(), SystemClock())
            await again.start()
            return mem, again.get(node.id)
        finally:
            store.close()

    mem, stored = asyncio.run(go())
    for n in (mem, stored):
        assert n.state is NodeState.OFFLINE and n.software_version == "2.0.0"
