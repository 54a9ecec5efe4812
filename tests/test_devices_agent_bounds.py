"""A node agent bounds what strangers and paired control rooms can make it do (real sockets on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.core.clock import ScaledClock
from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import ProcessType
from app.core.drivers import DriverState
from app.devices import agent_protocol as proto
from app.devices.agent import NodeAgent
from app.devices.agent_client import AgentDriver
from app.devices.agent_tls import client_context
from app.devices.simulator import SimConfig, SimulatedMachine

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bounded-agent-token"


def make_agent(files: Path | None) -> NodeAgent:
    caps = Capabilities(process=ProcessType.FDM)
    sim = SimulatedMachine("fdm-b", caps, ScaledClock(600), SimConfig(telemetry_interval_s=5))
    return NodeAgent(sim, token=TOKEN, identity=proto.AgentIdentity.generate(), advertise=False, files_dir=files)


async def paired(url: str):
    ws = await connect(url, ssl=client_context(), max_size=proto.MAX_MESSAGE_BYTES)
    await ws.send(proto.encode("hello", token=TOKEN, nonce="00", client="test"))
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


async def command(ws, text: str) -> dict:
    await ws.send(text)
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if msg["type"] == "result":
            return msg


def test_big_frames_are_refused_before_pairing_and_allowed_after(tmp_path: Path) -> None:
    async def go():
        agent = make_agent(None)
        await agent.driver.connect()
        await agent.start()
        url = f"wss://127.0.0.1:{agent.port}"
        try:
            # a stranger's 1 MB "hello" is cut off unread (1009: message too big), and fast
            t0 = time.monotonic()
            async with connect(url, ssl=client_context(), max_size=None) as ws:
                with pytest.raises(ConnectionClosed):
                    await ws.send("x" * (1024 * 1024))
                    await asyncio.wait_for(ws.recv(), 5)
                stranger = ws.close_code, time.monotonic() - t0
            # 24 strangers pushing 8 MB frames at once: each is cut off at the frame header, and a real client
            # is served at once meanwhile
            async def stranger_push() -> None:
                with contextlib.suppress(ConnectionClosed, OSError):
                    async with connect(url, ssl=client_context(), max_size=None) as ws:
                        await ws.send(b"\0" * (8 * 1024 * 1024))
                        await asyncio.wait_for(ws.recv(), 5)

            strangers = [asyncio.ensure_future(stranger_push()) for _ in range(24)]
            t1 = time.monotonic()
            client = AgentDriver(url, TOKEN, expected_fingerprint=agent.identity.fingerprint)
            await client.connect()
            state, paired_s = client.state, time.monotonic() - t1
            await client.disconnect()
            await asyncio.gather(*strangers)
            # once paired, a 1.6 MB program travels in one message
            ws = await paired(url)
            lines = [f"G1 X{i % 200} Y{i % 150}" for i in range(120_000)]
            big = proto.encode("cmd", id=1, op="execute", args={"gcode_lines": lines, "estimate_s": 60})
            reply = await command(ws, big)
            await ws.close()
            return stranger, state, len(big), reply, paired_s
        finally:
            await agent.stop()
            await agent.driver.disconnect()

    (code, took_s), state, size, reply, paired_s = asyncio.run(asyncio.wait_for(go(), 60))
    assert code == 1009 and took_s < 2.0
    assert state is DriverState.IDLE and paired_s < 3.0
    assert size > 1_000_000 and reply["ok"], reply


def test_execute_refuses_absurd_numbers_and_files_outside_its_folder(tmp_path: Path) -> None:
    files = tmp_path / "node-files"
    files.mkdir()
    (files / "cube.gcode").write_text("G28\nG1 X10\n")
    secret = tmp_path / "secret.gcode"
    secret.write_text("M104 S300\n")
    (files / "link.gcode").symlink_to(secret)

    async def go():
        agent = make_agent(files)
        await agent.driver.connect()
        await agent.start()
        try:
            ws = await paired(f"wss://127.0.0.1:{agent.port}")
            raw = '{"v":2,"type":"cmd","id":7,"op":"execute","args":{"gcode_lines":["G28"],"start_line":1e400}}'
            huge = await command(ws, raw)
            negative = await command(ws, proto.encode("cmd", id=8, op="execute",
                                                      args={"gcode_lines": ["G28"], "start_line": -3}))
            nan = await command(ws, raw.replace('"start_line":1e400', '"estimate_s":NaN'))
            outside = {}
            for p in (str(secret), "../secret.gcode", "link.gcode"):
                outside[p] = await command(ws, proto.encode("cmd", id=9, op="execute",
                                                            args={"gcode_path": p, "agent_file": True}))
            inside = await command(ws, proto.encode("cmd", id=10, op="execute",
                                                    args={"gcode_path": "cube.gcode", "agent_file": True,
                                                          "estimate_s": 5}))
            await ws.close()
            return huge, negative, nan, outside, inside, agent.journal.recent()
        finally:
            await agent.stop()
            await agent.driver.disconnect()

    huge, negative, nan, outside, inside, runs = asyncio.run(asyncio.wait_for(go(), 30))
    assert huge["id"] == 7 and not huge["ok"] and "start_line must be a whole number" in huge["message"]
    assert not negative["ok"] and "start_line" in negative["message"]
    assert not nan["ok"] and "estimate_s must be a finite number" in nan["message"]
    for path, reply in outside.items():
        assert not reply["ok"] and "outside the agent's files folder" in reply["message"], path
    assert inside["ok"], inside
    assert len(runs) == 1  # refused commands leave no record of a run


def test_node_command_never_shows_its_token(tmp_path: Path) -> None:
    token = "do-not-print-this-token-123"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMEWE_HOME": str(tmp_path), "IMEWE_NODE_TOKEN": token}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "node", "--driver", "sim", "--name", "quiet-1",
                             "--listen", "127.0.0.1", "--ws-port", "0", "--no-advertise"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        port = int(re.search(r"wss://127\.0\.0\.1:(\d+)", first).group(1))
        while "advertised" not in first:
            first += proc.stdout.readline()
        fp = re.search(r"fingerprint ([0-9a-f ]+?)  ", first).group(1).replace(" ", "")

        async def pair():
            d = AgentDriver(f"wss://127.0.0.1:{port}", token, expected_fingerprint=fp)
            await d.connect()
            await d.disconnect()
            with pytest.raises(Exception, match="pairing token"):
                await AgentDriver(f"wss://127.0.0.1:{port}", "wrong-token-xyz", expected_fingerprint=fp).connect()

        asyncio.run(pair())
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    shown = first + out + err + "".join(p.read_text(errors="replace") for p in (tmp_path / "logs").rglob("*")
                                        if p.is_file())
    assert proc.returncode == 0
    assert token not in shown
    assert "from IMEWE_NODE_TOKEN (never shown)" in first
    assert not (tmp_path / "keys" / "node-token").exists()  # a token given is not written anywhere


def test_the_run_record_survives_a_restart_of_the_agent(tmp_path: Path) -> None:
    from app.devices.agent_journal import RunJournal

    path = tmp_path / "node-x-runs.json"
    j = RunJournal(path)
    j.started("r1", "00000000-0000-4000-8000-000000000001", None, 0)
    j.finished("00000000-0000-4000-8000-000000000001", "completed", "done")
    j.started("r2", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-0000000000aa", 1)
    j.progress(0.4, 40, 100)
    assert path.stat().st_mode & 0o077 == 0
    again = RunJournal(path)  # the agent restarted while r2 ran: its machine no longer holds it
    assert [(r["run_id"], r["state"]) for r in again.recent()] == [("r2", "paused"), ("r1", "completed")]
    assert again.current is None and again.recent()[1]["fraction"] == 1.0
    path.write_text("{not json")
    assert RunJournal(path).recent() == []  # an unreadable record is replaced, never a crash
