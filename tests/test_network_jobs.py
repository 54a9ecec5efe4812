"""Jobs run on network printers through the whole core: a part with a G-code file is planned on the Moonraker
machine, uploaded and started; progress, layer, both time-left figures and temperatures flow into telemetry; a
part with only a mesh is refused at submission, not at run time; a machine lost mid-print keeps its job (OFFLINE,
in doubt) and, back, finishes it without a second start."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import trimesh

from app.bootstrap import build_core
from app.cli.main import main
from app.core.config import load_config
from app.core.device_events import DeviceJobProgress
from app.core.domain.enums import JobState, NodeState
from app.core.domain.errors import ValidationError
from app.core.events import TelemetryReceived
from app.devices.emulators.spawn import EmulatorProcess
from app.devices.network.moonraker import MoonrakerDriver

KEY = "jobs-key-0123456789abcdef"


def gcode(path: Path) -> Path:
    body = "".join(f";LAYER_CHANGE\n;Z:{i * 0.2:.1f}\nG1 Z{i * 0.2:.1f} F600\nG1 X20 Y20 E0.5 F1800\n"
                   f"G1 X40 Y20 E1.0\nG1 X40 Y40 E1.5\n" for i in range(1, 11))
    path.write_text("G21\nG90\nM82\nG28\n" + body + "M84\n")
    return path


def test_a_gcode_part_runs_on_the_network_printer_and_a_mesh_is_refused(tmp_path: Path, capsys):
    emu = EmulatorProcess("app.devices.emulators.moonraker_emulator",
                          ["--storage", str(tmp_path / "gcodes"), "--state-file", str(tmp_path / "state.json"),
                           "--api-key", KEY, "--print-s", "3"])
    part = gcode(tmp_path / "clip.gcode")
    mesh = tmp_path / "clip.stl"
    trimesh.creation.box((20, 20, 5)).export(mesh)

    async def go(port: int):
        core = build_core(load_config(None, None), connect_machines=True, plan_budget_s=0.2)
        telemetry: list = []
        progress: list = []
        core.bus.subscribe(TelemetryReceived, lambda e: telemetry.append(e.sample.metrics), name="t")
        core.bus.subscribe(DeviceJobProgress, lambda e: progress.append(e.fraction), name="p")
        await core.kernel.boot()
        try:
            node = core.fleet.find("voron")
            assert isinstance(core.drivers[node.id], MoonrakerDriver)
            with pytest.raises(ValidationError) as refused:
                await core.jobs.submit({"name": "mesh only", "parts": [
                    {"name": "clip", "process": "fdm", "material": "pla", "file": str(mesh)}]})
            job = await core.jobs.submit({"name": "clips", "parts": [
                {"name": "clip", "process": "fdm", "material": "pla", "file": str(part)}]})
            core.production.request_replan()
            for _ in range(600):
                job = await core.jobs.get(job.id)
                if job.state in (JobState.COMPLETED, JobState.FAILED):
                    break
                await asyncio.sleep(0.05)
            return str(refused.value), job, telemetry, progress
        finally:
            await core.kernel.shutdown()

    with emu:
        assert main(["nodes", "add", "voron", "--driver", "moonraker", "--address", f"http://127.0.0.1:{emu.port}",
                     "--api-key", KEY]) == 0
        capsys.readouterr()
        refused, job, telemetry, progress = asyncio.run(go(emu.port))
        state = json.loads((tmp_path / "state.json").read_text())
    assert "print a sliced file" in refused and "only a mesh (clip.stl)" in refused
    assert job.state is JobState.COMPLETED, job.state
    assert state["starts"] == 1 and state["file"].startswith(f"imewe-{job.id.hex}-clip")
    assert progress and progress[-1] == 1.0
    running = [m for m in telemetry if "time_left_s" in m]
    assert running and all("time_left_est_s" in m for m in running)  # the machine's figure next to ours
    assert any("layer" in m and m.get("layers_total") == 10 for m in telemetry)
    assert any(m.get("target_temperature") == 215.0 for m in telemetry)


def test_a_machine_lost_mid_print_keeps_its_job_and_finishes_it_once(tmp_path: Path, capsys):
    args = ["--storage", str(tmp_path / "gcodes"), "--state-file", str(tmp_path / "state.json"), "--api-key", KEY,
            "--print-s", "8"]
    first = EmulatorProcess("app.devices.emulators.moonraker_emulator", args).start()
    port = first.port
    procs = [first]
    part = gcode(tmp_path / "hinge.gcode")

    async def go():
        core = build_core(load_config(None, None), connect_machines=True, plan_budget_s=0.2)
        await core.kernel.boot()
        try:
            node = core.fleet.find("voron")
            job = await core.jobs.submit({"name": "hinges", "parts": [
                {"name": "hinge", "process": "fdm", "material": "pla", "file": str(part)}]})
            core.production.request_replan()
            for _ in range(400):
                if core.drivers[node.id].status().fraction > 0.1:
                    break
                await asyncio.sleep(0.05)
            await asyncio.to_thread(first.stop)  # Moonraker gone; Klipper prints on
            for _ in range(400):
                if core.fleet.get(node.id).state is NodeState.OFFLINE:
                    break
                await asyncio.sleep(0.05)
            offline = core.fleet.get(node.id).state
            held = (await core.jobs.get(job.id)).state
            procs.append(await asyncio.to_thread(lambda: EmulatorProcess(
                "app.devices.emulators.moonraker_emulator", [*args, "--port", str(port)]).start()))
            for _ in range(600):
                job = await core.jobs.get(job.id)
                if job.state in (JobState.COMPLETED, JobState.FAILED):
                    break
                await asyncio.sleep(0.05)
            return offline, held, job
        finally:
            await core.kernel.shutdown()

    try:
        assert main(["nodes", "add", "voron", "--driver", "moonraker", "--address", f"http://127.0.0.1:{port}",
                     "--api-key", KEY]) == 0
        capsys.readouterr()
        offline, held, job = asyncio.run(go())
    finally:
        for p in procs:
            p.stop()
    assert offline is NodeState.OFFLINE
    assert held is JobState.IN_PROGRESS  # in doubt: kept on its machine, not moved at once
    assert job.state is JobState.COMPLETED
    assert json.loads((tmp_path / "state.json").read_text())["starts"] == 1  # never started twice
