"""Node agents: the cost of the TLS link and of key checks, discovery of an accepted agent, and software updates.

    PYTHONPATH=. .venv/bin/python benchmarks/agents.py [--quick] [--write]

Every figure is next to a reference measured in the same run: pairing over TLS next to the same hello/welcome
over plain websockets, the package build next to a plain gzip tarball of the same folder, and an agent's update
(push, verify, unpack, restart through the guard, back IDLE on the new version) next to a plain restart of the same
kind of agent (stop, start, back IDLE).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import app  # noqa: E402
from app.core.clock import ScaledClock  # noqa: E402
from app.core.domain.capabilities import Capabilities  # noqa: E402
from app.core.domain.enums import ProcessType  # noqa: E402
from app.core.fleet.agent_package import build_package, sign_package, verify_package  # noqa: E402
from app.devices import agent_protocol as proto  # noqa: E402
from app.devices.agent import NodeAgent  # noqa: E402
from app.devices.agent_client import AgentDriver, read_agent_key  # noqa: E402
from app.devices.simulator import SimConfig, SimulatedMachine  # noqa: E402

TOKEN = f"bench-{uuid4().hex}"


async def pairing(n: int) -> tuple[list[float], list[float], list[float]]:
    """(TLS pairing, TLS key read alone, plain-websocket hello/welcome) times, in seconds."""
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    sim = SimulatedMachine("bench", Capabilities(process=ProcessType.FDM), ScaledClock(60), SimConfig())
    agent = NodeAgent(sim, token=TOKEN, identity=proto.AgentIdentity.generate(), advertise=False)
    await sim.connect()
    await agent.start()
    welcome = proto.encode("welcome", **agent._welcome(b"0" * 16))  # the same size of answer

    async def plain(ws) -> None:
        await ws.recv()
        await ws.send(welcome)
        await ws.wait_closed()

    server = await serve(plain, "127.0.0.1", 0)
    port = next(iter(server.sockets)).getsockname()[1]
    tls, probe, ref = [], [], []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            d = AgentDriver(f"wss://127.0.0.1:{agent.port}", TOKEN, expected_fingerprint=agent.identity.fingerprint)
            await d.connect()
            tls.append(time.perf_counter() - t0)
            await d.disconnect()
            t0 = time.perf_counter()
            await read_agent_key(f"wss://127.0.0.1:{agent.port}")
            probe.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send(proto.encode("hello", token=TOKEN, nonce="00" * 16, client="bench"))
                await ws.recv()
                ref.append(time.perf_counter() - t0)
    finally:
        server.close()
        await server.wait_closed()
        await agent.stop()
        await sim.disconnect()
    return tls, probe, ref


def package_times(n: int) -> tuple[float, float, float, int]:
    """(build + sign, verify + unpack, plain gzip tarball of the same folder) medians in seconds, and the size."""
    from app.core.sites.identity import load_or_create_identity
    from app.devices.agent_update import _unpack

    keys = Path(tempfile.mkdtemp(prefix="imewe-bench-keys-"))
    identity = load_or_create_identity(keys)
    pub = identity.cert_pem
    from app.core.fleet.agent_package import site_public_pem

    pem = site_public_pem(pub)
    src = Path(app.__file__).parent
    build, check, ref = [], [], []
    pkg = None
    for i in range(n):
        t0 = time.perf_counter()
        pkg = sign_package(build_package(src, app.__version__), identity.key_path)
        build.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        verify_package(pkg.meta(), pkg.data, pem)
        _unpack(pkg.data, keys / f"unpacked-{i}")
        check.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        shutil.make_archive(str(keys / f"plain-{i}"), "gztar", root_dir=src.parent, base_dir="app")
        ref.append(time.perf_counter() - t0)
    shutil.rmtree(keys, ignore_errors=True)
    assert pkg is not None
    return statistics.median(build), statistics.median(check), statistics.median(ref), len(pkg.data)


# ---------------------------------------------------------------------- a real agent process, updated or restarted
def old_install(dest: Path) -> Path:
    shutil.copytree(ROOT / "app", dest / "app", ignore=shutil.ignore_patterns("__pycache__"))
    init = dest / "app" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]*"', '__version__ = "0.0.1"', init.read_text()))
    return dest


def start_agent(tmp: Path, name: str, install: Path, port: int = 0) -> tuple[subprocess.Popen, Path]:
    home = tmp / name
    home.mkdir(exist_ok=True)
    log = home / "stdout.txt"
    env = {**os.environ, "PYTHONPATH": str(install), "IMEWE_HOME": str(home), "IMEWE_NODE_TOKEN": TOKEN}
    with log.open("a") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "node", "--driver", "sim", "--name", name,
                                 "--listen", "127.0.0.1", "--ws-port", str(port), "--interfaces", "127.0.0.1"],
                                cwd=install, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log


def node_id_of(log: Path) -> UUID:
    for _ in range(300):
        m = re.search(r"node id\s+(\S+)", log.read_text())
        if m:
            return UUID(m.group(1))
        time.sleep(0.05)
    raise SystemExit(f"agent did not start: {log.read_text()}")


async def update_vs_restart(runs: int) -> tuple[list[float], list[float]]:
    from app.bootstrap import agent_desk, build_core, wire_site_services
    from app.core.config import load_config

    tmp = Path(tempfile.mkdtemp(prefix="imewe-bench-agents-"))
    old = old_install(tmp / "old")
    home = tmp / "site"
    home.mkdir()
    (home / "config.toml").write_text(f'interfaces = ["127.0.0.1"]\nnode_token = "{TOKEN}"\n[agents]\n'
                                      'keepalive_s = 1.5\nreconnect_max_s = 0.2\nconnect_timeout_s = 2\n')
    core = build_core(load_config(str(home)), connect_machines=False, plan_budget_s=0.05)
    wire_site_services(core, discovery=True, sites=False)
    await core.kernel.boot()
    desk = agent_desk(core)
    procs: list[subprocess.Popen] = []
    updates, restarts = [], []

    async def until(pred, timeout: float = 60.0, what: str = "") -> None:
        t0 = time.monotonic()
        while not pred():
            if time.monotonic() - t0 > timeout:
                raise SystemExit(f"timed out: {what}; {[r.to_dict() for r in desk.updates.list()][:1]}")
            await asyncio.sleep(0.02)

    def idle_on(nid: UUID, version: str) -> bool:
        link = core.discovery.links.get(nid)
        return link is not None and link.driver.status().state.value == "idle" \
            and link.driver.software_version == version

    try:
        pkg = desk.updates.package()
        for i in range(runs):
            proc, log = start_agent(tmp, f"bench-{i}", old)
            procs.append(proc)
            nid = node_id_of(log)
            await until(lambda nid=nid: any(k.node_id == str(nid) for k in desk.list()), what="heard")
            await desk.decide("bench", str(nid), accept=True)
            await until(lambda nid=nid: idle_on(nid, "0.0.1"), what="first idle")
            # a plain restart of the same agent: stop, start on the same port, back IDLE
            port = int(re.search(r"wss://127\.0\.0\.1:(\d+)", log.read_text()).group(1))
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            await asyncio.get_running_loop().run_in_executor(None, proc.wait, 15)
            await until(lambda nid=nid: not idle_on(nid, "0.0.1"), what="gone")
            proc, _ = start_agent(tmp, f"bench-{i}", old, port)
            procs.append(proc)
            await until(lambda nid=nid: idle_on(nid, "0.0.1"), what="back after restart")
            restarts.append(time.perf_counter() - t0)
            # the update: push, verify, unpack, guard, new version up, back IDLE on it
            t0 = time.perf_counter()
            await desk.updates.start("bench", str(nid), package=pkg)
            await until(lambda nid=nid: idle_on(nid, app.__version__), 120, "updated")
            updates.append(time.perf_counter() - t0)
            while desk.updates.list()[0].state == "running":
                await asyncio.sleep(0.05)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        await core.kernel.shutdown()
        if not os.environ.get("IMEWE_BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
    return updates, restarts


def ms(v: float) -> str:
    return f"{v * 1000:.1f} ms"


async def main_async(args: argparse.Namespace) -> list[str]:
    rows = []
    n = 10 if args.quick else 30
    tls, probe, ref = await pairing(n)
    t, p, r = statistics.median(tls), statistics.median(probe), statistics.median(ref)
    print(f"pairing over TLS (key checked, token, signed welcome), median of {n}: {ms(t)}; key read alone {ms(p)}; "
          f"plain websocket hello/welcome {ms(r)}")
    rows.append(f"| pairing with an agent over TLS 1.3 (handshake, key checked against the pin, token, signed "
                f"welcome), median of {n} | {ms(t)} | plain websocket hello/welcome {ms(r)} ({t / r:.1f}x) |")
    rows.append(f"| reading an agent's key (TLS handshake, nothing sent), median of {n} | {ms(p)} | "
                f"plain websocket hello/welcome {ms(r)} |")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from devices import discovery_latency  # the devices benchmark's measure, run here on the TLS link

    lat = await discovery_latency(5 if args.quick else 10)
    med = statistics.median(lat)
    print(f"discovery of an accepted agent, start → IDLE: {med:.2f} s (min {min(lat):.2f}, max {max(lat):.2f})")
    rows.append(f"| discovery: an accepted agent's start → node IDLE on 127.0.0.1 (advert, key read over TLS, "
                f"pairing), median of {len(lat)} | {med:.2f} s (min {min(lat):.2f}, max {max(lat):.2f}) | "
                "target < 2 s |")
    build, check, plain, size = package_times(3)
    print(f"package: build + sign {ms(build)}, verify + unpack {ms(check)}, {size / 1e6:.2f} MB; "
          f"plain gzip tarball {ms(plain)}")
    rows.append(f"| update package of this install (`app/`, {size / 1e6:.2f} MB): build + sign, median of 3 | "
                f"{ms(build)} | plain gzip tarball of the same folder {ms(plain)} |")
    rows.append(f"| on the agent: verify the signature + unpack, median of 3 | {ms(check)} | - |")
    runs = 2 if args.quick else 3
    updates, restarts = await update_vs_restart(runs)
    u, s = statistics.median(updates), statistics.median(restarts)
    print(f"one agent updated (push → back IDLE on the new version), median of {runs}: {u:.2f} s; "
          f"plain restart {s:.2f} s")
    rows.append(f"| one agent updated: push, verify, unpack, restart through the guard, back IDLE on the new "
                f"version (real `imewe node` process), median of {runs} | {u:.2f} s (min {min(updates):.2f}, "
                f"max {max(updates):.2f}) | plain restart of the same agent, stop → back IDLE: {s:.2f} s |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/agents.md")
    args = ap.parse_args()
    rows = asyncio.run(main_async(args))
    if args.write:
        load = os.getloadavg()[0]
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = ("# Node agents benchmarks\n\n"
                f"Command: `PYTHONPATH=. .venv/bin/python benchmarks/agents.py --write` (2-core shared machine, "
                f"{stamp}, load average at the end {load:.1f} from other work on the machine)\n\n"
                "| what | figure | reference (same run) |\n|---|---|---|\n" + "\n".join(rows) + "\n\n"
                "The update row covers the whole path a site takes for one agent; a staged rollout of N agents takes "
                "about two of these (the first agent alone, then the others together). The plain restart is the "
                "floor: stopping the agent, starting Python and the app again, and the site's link coming back. The plain "
                "tarball (`shutil.make_archive`) also packs the `__pycache__` folders the update package leaves "
                "out.\n")
        (ROOT / "benchmarks" / "results" / "agents.md").write_text(text)


if __name__ == "__main__":
    main()
