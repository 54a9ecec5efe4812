"""The Moonraker (Klipper) driver against the Moonraker emulator running as its own process on 127.0.0.1, plus
its message mapping without I/O."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from uuid import uuid4

import pytest

from app.core.domain.errors import DeviceError
from app.core.drivers import DriverState, JobOutcome, JobRequest
from app.devices.emulators.spawn import EmulatorProcess
from app.devices.factory import make_driver
from app.devices.network.backoff import Backoff
from app.devices.network.errors import BadReply, CredentialsRefused
from app.devices.network.moonraker import MoonrakerDriver
from app.devices.network.moonraker_protocol import (
    JsonRpc,
    MoonrakerState,
    RpcNotice,
    RpcReply,
    capabilities_from_config,
    decode,
)
from app.devices.network.report import MachinePhase
from tests.peers import scenarios as sc

KEY = "moon-key-" + "7" * 23
EMU = "app.devices.emulators.moonraker_emulator"


# ------------------------------------------------------------------ mapping, no I/O
def test_subscription_updates_merge_into_one_report():
    st = MoonrakerState()
    st.apply_status({"print_stats": {"state": "printing", "filename": "imewe-x.gcode", "print_duration": 30.0,
                                     "info": {"current_layer": 3, "total_layer": 20}},
                     "virtual_sdcard": {"progress": 0.25}, "extruder": {"temperature": 214.6, "target": 215},
                     "heater_bed": {"temperature": 60.1, "target": 60}, "toolhead": {"position": [1, 2, 0.6, 9]}})
    r = st.report()
    assert r.phase is MachinePhase.PRINTING and r.job_file == "imewe-x.gcode" and r.progress == 0.25
    assert r.layer == 3 and r.layers_total == 20 and r.time_left_s == pytest.approx(90.0)
    assert r.metrics == {"temperature": 214.6, "target_temperature": 215.0, "bed_c": 60.1, "bed_target_c": 60.0,
                         "z_mm": 0.6}
    assert st.apply_notice(RpcNotice("notify_status_update", [{"print_stats": {"state": "paused"}}, 1.0]))
    assert st.report().phase is MachinePhase.PAUSED and st.report().layer == 3  # only the diff came
    st.apply_notice(RpcNotice("notify_status_update", [{"print_stats": {"state": "complete"}}, 2.0]))
    assert st.report().phase is MachinePhase.FINISHED
    st.apply_notice(RpcNotice("notify_klippy_shutdown", []))
    assert st.report().phase is MachinePhase.ERROR


def test_json_rpc_framing_and_garbage():
    rpc = JsonRpc()
    req_id, text = rpc.request("printer.print.start", {"filename": "a.gcode"})
    assert json.loads(text) == {"jsonrpc": "2.0", "method": "printer.print.start", "id": req_id,
                                "params": {"filename": "a.gcode"}}
    assert decode('{"jsonrpc": "2.0", "result": "ok", "id": 4}') == RpcReply(4, "ok")
    assert decode('{"jsonrpc": "2.0", "error": {"code": 400, "message": "busy"}, "id": 5}').error == "busy"
    with pytest.raises(BadReply, match="not JSON"):
        decode('{"jsonrpc": "2.0", "res')
    with pytest.raises(BadReply, match="without an id"):
        decode('{"jsonrpc": "2.0", "result": 1}')
    assert capabilities_from_config({"stepper_x": {"position_max": 300}, "stepper_y": {"position_max": 300},
                                     "stepper_z": {"position_min": -5, "position_max": 345},
                                     "extruder": {"nozzle_diameter": 0.6}}) == {
        "build_volume_mm": [300.0, 300.0, 350.0], "nozzle_mm": 0.6}


# ------------------------------------------------------------------ against the emulator process
def emulator(tmp_path: Path, *extra: str, print_s: float = 30.0, port: int = 0) -> EmulatorProcess:
    return EmulatorProcess(EMU, ["--storage", str(tmp_path / "gcodes"), "--state-file", str(tmp_path / "state.json"),
                                 "--api-key", KEY, "--print-s", str(print_s), "--port", str(port), *extra])


def driver(port: int, key: str = KEY) -> MoonrakerDriver:
    d = make_driver("moonraker", name="voron", url=f"127.0.0.1:{port}", secrets={"api_key": key},
                    network_options={"backoff": Backoff(0.1, 0.5)})
    assert isinstance(d, MoonrakerDriver) and d.address == f"http://127.0.0.1:{port}"
    return d


def gcode(tmp_path: Path) -> Path:
    path = tmp_path / "gear.gcode"
    path.write_text("".join(f";LAYER_CHANGE\nG1 Z{i * 0.2:.1f}\nG1 X10 Y10 E1\n" for i in range(20)))
    return path


def sim_state(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "state.json").read_text())


def test_probe_reads_volume_and_nozzle(tmp_path: Path):
    with emulator(tmp_path) as emu:
        info = asyncio.run(driver(emu.port).probe())
    assert info.name == "voron-1" and info.firmware.startswith("Klipper v0.12")
    assert info.capabilities == {"build_volume_mm": [235.0, 235.0, 250.0], "nozzle_mm": 0.4}


def test_upload_start_progress_pause_resume_cancel(tmp_path: Path):
    async def go(port: int):
        d = driver(port)
        rec = sc.Recorder(d)
        await d.connect()
        try:
            assert d.state is DriverState.IDLE
            return await sc.print_pause_resume_cancel(d, rec, gcode(tmp_path)), rec
        finally:
            await d.disconnect()

    with emulator(tmp_path) as emu:
        seen, rec = asyncio.run(go(emu.port))
    assert seen["working"] is DriverState.WORKING and seen["frac_still"] - seen["frac_paused"] < 0.01
    assert seen["end"].outcome is JobOutcome.CANCELLED and sc.outcomes(rec) == [JobOutcome.CANCELLED]
    metrics = [t.metrics for t in seen["telemetry"]]
    assert any("layer" in m and "layers_total" in m for m in metrics)
    assert any("time_left_s" in m and "time_left_est_s" in m for m in metrics)  # the machine's and ours
    st = sim_state(tmp_path)
    assert st["starts"] == 1 and st["history"][1:] == ["pause", "resume", "cancel"]
    assert st["file"].startswith(f"imewe-{seen['job_id'].hex}-")


def test_a_print_runs_to_completion(tmp_path: Path):
    async def go(port: int):
        d = driver(port)
        rec = sc.Recorder(d)
        await d.connect()
        try:
            return await sc.print_to_completion(d, rec, gcode(tmp_path), 20)
        finally:
            await d.disconnect()

    with emulator(tmp_path, print_s=2.0) as emu:
        seen = asyncio.run(go(emu.port))
    assert seen["end"].outcome is JobOutcome.COMPLETED and seen["progress"][-1] == 1.0


def test_emergency_stop_and_what_klipper_needs_after(tmp_path: Path):
    async def go(port: int):
        d = driver(port)
        rec = sc.Recorder(d)
        await d.connect()
        try:
            seen = await sc.emergency_stop(d, rec, gcode(tmp_path))
            await asyncio.sleep(0.6)
            with pytest.raises(DeviceError, match="cannot start"):
                await d.execute(JobRequest(gcode_path=gcode(tmp_path)))
            return seen, d.state
        finally:
            await d.disconnect()

    with emulator(tmp_path) as emu:
        seen, state = asyncio.run(go(emu.port))
    assert seen["end"].outcome is JobOutcome.FAILED and state is DriverState.ERROR
    assert "FIRMWARE_RESTART" in seen["fault"][0].message
    assert sim_state(tmp_path)["state"] == "halted"


def test_wrong_api_key_is_one_clear_alert(tmp_path: Path):
    async def go(port: int):
        d = driver(port, key="wrong")
        rec = sc.Recorder(d)
        try:
            return await sc.wrong_credentials(d, rec, settle_s=1.0)
        finally:
            await d.disconnect()

    with emulator(tmp_path) as emu:
        seen = asyncio.run(go(emu.port))
    assert isinstance(seen["error"], CredentialsRefused) and "the API key was refused" in str(seen["error"])
    assert len(seen["alerts"]) == 1 and len(seen["all_faults"]) == 1 and seen["loop_done"]
    assert seen["state"] is DriverState.ERROR


def test_moonraker_restarted_mid_job_the_print_is_followed_again_not_restarted(tmp_path: Path):
    emu = emulator(tmp_path, print_s=6.0).start()
    port = emu.port
    procs = [emu]

    async def go():
        d = driver(port)
        rec = sc.Recorder(d)
        await d.connect()
        try:
            job_id = uuid4()
            await d.execute(JobRequest(job_id=job_id, gcode_path=gcode(tmp_path), estimate_s=6))
            await rec.wait(lambda e: getattr(e, "fraction", 0) > 0, what="progress")
            await asyncio.to_thread(emu.stop)  # killed: Klipper prints on, its API server is gone
            await rec.state(DriverState.OFFLINE, 10)
            held = d.status().job_id
            procs.append(await asyncio.to_thread(lambda: emulator(tmp_path, print_s=6.0, port=port).start()))
            end = await rec.finished(20)
            return job_id, held, rec.faults("link_lost"), end
        finally:
            await d.disconnect()

    try:
        job_id, held, lost, end = asyncio.run(go())
    finally:
        for proc in procs:
            proc.stop()
    assert held == job_id and len(lost) == 1 and "held on the machine" in lost[0].message
    assert end.job_id == job_id and end.outcome is JobOutcome.COMPLETED
    assert sim_state(tmp_path)["starts"] == 1  # followed again, never started twice


def test_garbage_replies_are_a_clear_error(tmp_path: Path):
    async def go(port: int):
        d = driver(port)
        rec = sc.Recorder(d)
        with sc.LoopWatch() as watch:
            with pytest.raises(BadReply) as err:
                await d.connect()
            await asyncio.sleep(0.8)
            await d.disconnect()
        return str(err.value), [f.kind for f in rec.of(sc.DriverFault)], watch.worst_cpu_s

    with emulator(tmp_path, "--garbage") as emu:
        message, faults, gap = asyncio.run(go(emu.port))
    assert message.startswith("Klipper (Moonraker) at http://127.0.0.1:") and "not answer with JSON" in message
    assert faults == ["bad_reply"] and gap < 0.15


# ------------------------------------------------------------------ adding the machine: one command
def test_nodes_add_reads_the_machine_and_keeps_the_key_out_of_the_database(tmp_path: Path, capsys):
    from app.cli.main import main

    home = tmp_path / "home"
    with emulator(tmp_path) as emu:
        code = main(["--json", "nodes", "add", "voron", "--driver", "moonraker", "--address",
                     f"127.0.0.1:{emu.port}", "--api-key", KEY, "--loaded", "petg", "--location", "bay 3"])
        out = json.loads(capsys.readouterr().out)
        wrong = main(["nodes", "add", "voron-2", "--driver", "moonraker", "--address", f"127.0.0.1:{emu.port}",
                      "--api-key", "nope"])
        err = capsys.readouterr().err
    assert code == 0
    caps = out["capabilities"]
    assert out["driver"] == "moonraker" and out["address"] == f"http://127.0.0.1:{emu.port}"
    assert caps["build_volume_mm"] == [235.0, 235.0, 250.0] and caps["nozzle_mm"] == 0.4  # read from Klipper
    assert caps["loaded_material"] == "petg" and caps["process"] == "fdm" and out["state"] == "IDLE"
    secret = home / "keys" / "machines" / f"{out['id']}.json"
    assert json.loads(secret.read_text()) == {"api_key": KEY} and (secret.stat().st_mode & 0o777) == 0o600
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file() and p != secret)
    assert KEY.encode() not in stored  # not in the database, not in a log
    assert wrong == 2 and err.strip().count("\n") == 0 and "the API key was refused" in err
    assert len(list((home / "keys" / "machines").iterdir())) == 1  # the refused one registered nothing


def test_nodes_add_says_what_is_missing(capsys):
    from app.cli.main import main

    assert main(["nodes", "add", "x", "--driver", "bambu", "--address", "10.0.0.9", "--access-code", "1"]) == 2
    assert "give --serial" in capsys.readouterr().err
    assert main(["nodes", "add", "x", "--driver", "octoprint"]) == 2
    assert "--api-key" in capsys.readouterr().err
    assert main(["nodes", "add", "x", "--driver", "octoprint", "--api-key", "k"]) == 2
    assert "--address" in capsys.readouterr().err
    assert main(["nodes", "add", "x", "--driver", "moonraker", "--address", "127.0.0.1:9"]) == 2  # nothing there
    assert "not reachable" in capsys.readouterr().err


def test_nodes_add_reads_a_secret_from_stdin(tmp_path: Path, capsys, monkeypatch):
    import io

    from app.cli.main import main

    monkeypatch.setattr("sys.stdin", io.StringIO(KEY + "\n"))
    with emulator(tmp_path) as emu:
        code = main(["--json", "nodes", "add", "voron", "--driver", "moonraker", "--address",
                     f"127.0.0.1:{emu.port}", "--api-key", "-"])
    node = json.loads(capsys.readouterr().out)
    assert code == 0
    home = tmp_path / "home"
    assert json.loads((home / "keys" / "machines" / f"{node['id']}.json").read_text()) == {"api_key": KEY}


def test_nodes_add_update_secrets_replaces_a_refused_key(tmp_path: Path, capsys):
    from app.cli.main import main

    home = tmp_path / "home"
    assert main(["--json", "nodes", "add", "voron", "--driver", "moonraker", "--address", "127.0.0.1:9",
                 "--api-key", "old", "--no-probe", "--volume", "300x300x300"]) == 0
    node = json.loads(capsys.readouterr().out)
    assert node["capabilities"]["build_volume_mm"] == [300.0, 300.0, 300.0]
    assert main(["nodes", "add", "voron", "--driver", "moonraker", "--update-secrets", "--api-key", KEY]) == 0
    assert "secrets updated (api_key)" in capsys.readouterr().out
    assert json.loads((home / "keys" / "machines" / f"{node['id']}.json").read_text()) == {"api_key": KEY}
    assert main(["nodes", "add", "voron", "--driver", "octoprint", "--update-secrets", "--api-key", "k"]) == 2
    assert "is a moonraker machine" in capsys.readouterr().err


def test_a_refused_key_waits_for_a_new_one_and_then_connects(tmp_path: Path):
    from app.devices.network.secrets import SecretStore

    store = SecretStore(tmp_path / "keys")
    node_id = uuid4()
    store.save(node_id, {"api_key": "stale"})

    async def go(port: int):
        d = driver(port, key="stale")
        d.load_secrets = lambda: store.load(node_id)  # as bootstrap wires it
        rec = sc.Recorder(d)
        try:
            with pytest.raises(CredentialsRefused):
                await d.connect()
            await asyncio.sleep(2.5)  # unchanged secrets: no retry, no second alert
            quiet = (len(rec.faults("auth_refused")), d.state)
            store.save(node_id, {"api_key": KEY})  # imewe nodes add voron --update-secrets --api-key ...
            await rec.state(DriverState.IDLE, 10)
            return quiet, d.state
        finally:
            await d.disconnect()

    with emulator(tmp_path) as emu:
        quiet, state = asyncio.run(go(emu.port))
    assert quiet == (1, DriverState.ERROR) and state is DriverState.IDLE
