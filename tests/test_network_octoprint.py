"""The OctoPrint driver against a real OctoPrint server (PyPI, its own venv, virtual printer, 127.0.0.1), plus its
message mapping without I/O."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from app.core.domain.errors import DeviceError, ValidationError
from app.core.drivers import DriverState, JobOutcome, JobRequest
from app.devices.factory import make_driver
from app.devices.network.backoff import Backoff
from app.devices.network.errors import BadReply, CredentialsRefused, Unreachable
from app.devices.network.octoprint import OctoPrintDriver
from app.devices.network.octoprint_protocol import OctoPrintState, capabilities_from_profile, decode_push
from app.devices.network.report import MachinePhase
from tests.peers import scenarios as sc
from tests.peers.garbage_server import GarbageServer
from tests.peers.octoprint_peer import OctoPrintPeer, gcode_file, require_octoprint

# ------------------------------------------------------------------ mapping, no I/O
FLAGS = {"operational": True, "printing": False, "cancelling": False, "pausing": False, "resuming": False,
         "finishing": False, "closedOrError": False, "error": False, "paused": False, "ready": True}


def current(**flags: bool) -> dict:
    return {"current": {"state": {"text": "x", "flags": FLAGS | flags, "error": ""},
                        "job": {"file": {"name": "imewe-a.gcode", "path": "imewe-a.gcode", "origin": "local"}},
                        "progress": {"completion": 42.5, "printTime": 100, "printTimeLeft": 135},
                        "currentZ": 1.2, "temps": [{"time": 1, "tool0": {"actual": 209.6, "target": 210},
                                                    "bed": {"actual": 59.9, "target": 60}}]}}


def test_push_messages_map_to_one_report():
    st = OctoPrintState()
    assert st.apply_push(current(printing=True, ready=False))
    r = st.report()
    assert r.phase is MachinePhase.PRINTING and r.job_file == "imewe-a.gcode" and r.progress == 0.425
    assert r.time_left_s == 135 and r.metrics == {"temperature": 209.6, "target_temperature": 210.0,
                                                   "bed_c": 59.9, "bed_target_c": 60.0, "z_mm": 1.2}
    st.apply_push(current(paused=True))
    assert st.report().phase is MachinePhase.PAUSED
    st.apply_push(current(cancelling=True))
    assert st.report().phase is MachinePhase.BUSY
    st.apply_push({"event": {"type": "PrintCancelled", "payload": {"path": "imewe-a.gcode"}}})
    st.apply_push(current())
    assert st.report().phase is MachinePhase.CANCELLED
    st.apply_push({"event": {"type": "PrintStarted", "payload": {"path": "imewe-a.gcode"}}})
    st.apply_push(current(error=True, closedOrError=True, operational=False))
    assert st.report().phase is MachinePhase.ERROR
    assert not st.apply_push({"timelapse": None})


def test_a_finished_job_is_finished_after_a_reconnect_too():
    st = OctoPrintState()
    st.apply_job({"job": {"file": {"path": "imewe-b.gcode"}}, "progress": {"completion": 100.0}, "state": "x"})
    st.apply_printer({"state": {"flags": FLAGS, "text": "Operational"}, "temperature": {"tool0": {"actual": 30}}})
    assert st.report().phase is MachinePhase.FINISHED
    st.apply_connection({"current": {"state": "Closed"}})
    assert st.report().phase is MachinePhase.OFFLINE


def test_garbage_on_the_push_socket_is_a_clear_error():
    with pytest.raises(BadReply, match="not JSON"):
        decode_push("a[\"{\\\"current\\\"")
    with pytest.raises(BadReply, match="not an object"):
        decode_push("[1, 2]")
    assert capabilities_from_profile({"volume": {"width": 250, "depth": 210, "height": 220},
                                      "extruder": {"nozzleDiameter": 0.6}}) == {
        "build_volume_mm": [250.0, 210.0, 220.0], "nozzle_mm": 0.6}


# ------------------------------------------------------------------ against the real server
@pytest.fixture(scope="module")
def octo(tmp_path_factory: pytest.TempPathFactory):
    peer = OctoPrintPeer(require_octoprint(), tmp_path_factory.mktemp("octoprint"))
    peer.prepare()
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture()
def ready(octo: OctoPrintPeer) -> OctoPrintPeer:
    """Each test starts from an operational printer that is not printing."""
    if octo.proc is None or octo.proc.poll() is not None:
        octo.start()
    state = octo.get("/api/connection")["current"]["state"]
    if state != "Operational":
        octo.post("/api/connection", {"command": "connect", "port": "VIRTUAL"})
        octo.wait_operational(30)
    return octo


def driver_for(peer: OctoPrintPeer, key: str | None = None, **kw) -> OctoPrintDriver:
    d = make_driver("octoprint", name="octo-1", url=peer.url, secrets={"api_key": key or peer.api_key},
                    network_options={"backoff": kw.get("backoff") or Backoff(0.2, 1.0)})
    assert isinstance(d, OctoPrintDriver)
    return d


def test_probe_reads_the_machine(ready: OctoPrintPeer):
    info = asyncio.run(driver_for(ready).probe())
    assert info.firmware.startswith("OctoPrint 1.11")
    assert info.capabilities == {"build_volume_mm": [200.0, 200.0, 200.0], "nozzle_mm": 0.4}  # the default profile


def test_upload_start_progress_pause_resume_cancel(ready: OctoPrintPeer, tmp_path: Path):
    gcode = gcode_file(tmp_path / "bracket v2.gcode", moves=300)  # ~60 s on the virtual printer

    async def go():
        d = driver_for(ready)
        rec = sc.Recorder(d)
        await d.connect()
        try:
            assert d.state is DriverState.IDLE
            return await sc.print_pause_resume_cancel(d, rec, gcode), rec
        finally:
            await d.disconnect()

    seen, rec = asyncio.run(go())
    assert seen["working"] is DriverState.WORKING
    assert seen["frac_still"] - seen["frac_paused"] < 0.01  # paused means paused
    assert seen["end"].outcome is JobOutcome.CANCELLED and seen["end"].job_id == seen["job_id"]
    assert sc.outcomes(rec) == [JobOutcome.CANCELLED]
    temps = [t.metrics for t in seen["telemetry"] if "temperature" in t.metrics]
    assert temps and all("time_left_est_s" in t.metrics for t in seen["telemetry"])
    job = ready.get("/api/job")
    assert job["state"] == "Operational" and job["job"]["file"]["name"].startswith(f"imewe-{seen['job_id'].hex}")


def test_a_print_runs_to_completion(ready: OctoPrintPeer, tmp_path: Path):
    gcode = gcode_file(tmp_path / "clip.gcode", moves=20)

    async def go():
        d = driver_for(ready)
        rec = sc.Recorder(d)
        await d.connect()
        try:
            return await sc.print_to_completion(d, rec, gcode, 60)
        finally:
            await d.disconnect()

    seen = asyncio.run(go())
    assert seen["end"].outcome is JobOutcome.COMPLETED and seen["end"].job_id == seen["job_id"]
    assert seen["progress"][-1] == 1.0


def test_a_mesh_or_no_file_is_refused_before_anything_is_sent(ready: OctoPrintPeer, tmp_path: Path):
    mesh = tmp_path / "part.stl"
    mesh.write_bytes(b"solid x\nendsolid x\n")

    async def go():
        d = driver_for(ready)
        await d.connect()
        try:
            with pytest.raises(ValidationError, match="not part.stl"):
                await d.execute(JobRequest(gcode_path=mesh))
            with pytest.raises(ValidationError, match="sliced file"):
                await d.execute(JobRequest(spec={"name": "x"}))
            return d.state
        finally:
            await d.disconnect()

    assert asyncio.run(go()) is DriverState.IDLE


def test_wrong_api_key_is_one_clear_alert_and_no_retry_loop(ready: OctoPrintPeer):
    async def go():
        d = driver_for(ready, key="0" * 32)
        rec = sc.Recorder(d)
        try:
            return await sc.wrong_credentials(d, rec)
        finally:
            await d.disconnect()

    seen = asyncio.run(go())
    assert isinstance(seen["error"], CredentialsRefused)
    assert str(seen["error"]) == f"OctoPrint at {ready.url}: the API key was refused"
    assert len(seen["alerts"]) == 1 and len(seen["all_faults"]) == 1
    assert seen["state"] is DriverState.ERROR and seen["loop_done"]


def test_server_killed_mid_job_goes_offline_and_is_reconciled_without_a_second_start(ready: OctoPrintPeer,
                                                                                       tmp_path: Path):
    gcode = gcode_file(tmp_path / "long.gcode", moves=300)

    async def go():
        d = driver_for(ready)
        rec = sc.Recorder(d)
        await d.connect()
        try:
            from uuid import uuid4
            job_id = uuid4()
            await d.execute(JobRequest(job_id=job_id, gcode_path=gcode, estimate_s=60))
            await rec.wait(lambda e: getattr(e, "fraction", 0) > 0, what="progress")
            await asyncio.to_thread(ready.kill)
            await rec.state(DriverState.OFFLINE, 20)
            held = d.status().job_id
            lost = rec.faults("link_lost")
            await asyncio.to_thread(ready.start)
            end = await rec.finished(30)
            await rec.state(DriverState.IDLE, 10)
            await asyncio.sleep(1.5)
            return job_id, held, lost, end, d.state
        finally:
            await d.disconnect()

    job_id, held, lost, end, state = asyncio.run(go())
    assert held == job_id  # paused in place while away, not dropped
    assert len(lost) == 1 and "held on the machine" in lost[0].message
    # OctoPrint's virtual printer lives in the server process: the print died with it. Imewe reads that back and
    # says so; it does not start the job again.
    assert end.job_id == job_id and end.outcome is JobOutcome.FAILED and "stopped" in end.message
    assert state is DriverState.IDLE
    assert ready.get("/api/job")["state"] == "Operational"


def test_emergency_stop(ready: OctoPrintPeer, tmp_path: Path):
    gcode = gcode_file(tmp_path / "estop.gcode", moves=300)

    async def go():
        d = driver_for(ready)
        rec = sc.Recorder(d)
        await d.connect()
        try:
            seen = await sc.emergency_stop(d, rec, gcode)
            await asyncio.sleep(1.0)
            return seen
        finally:
            await d.disconnect()

    seen = asyncio.run(go())
    assert seen["end"].outcome is JobOutcome.FAILED and seen["state"] is DriverState.ERROR
    assert len(seen["fault"]) == 1 and "closed its serial connection" in seen["fault"][0].message
    state = ready.get("/api/connection")["current"]["state"]
    assert state != "Operational" and "Printing" not in state  # OctoPrint closed the port after M112


def test_garbage_and_silent_servers_give_clear_errors_and_never_block_the_loop():
    async def go():
        out = {}
        async with GarbageServer() as bad, GarbageServer(hang=True) as silent:
            with sc.LoopWatch() as watch:
                d = make_driver("octoprint", url=bad.url, secrets={"api_key": "k"}, connect_timeout_s=2.0,
                                network_options={"backoff": Backoff(0.05, 0.2)})
                rec = sc.Recorder(d)
                t0 = time.monotonic()
                with pytest.raises(BadReply) as err:
                    await d.connect()
                out["bad"] = (str(err.value), time.monotonic() - t0)
                s = make_driver("octoprint", url=silent.url, secrets={"api_key": "k"}, connect_timeout_s=1.0,
                                network_options={"request_timeout_s": 1.0})
                with pytest.raises(Unreachable) as err2:
                    await s.connect()
                out["silent"] = str(err2.value)
                await asyncio.sleep(1.0)  # both keep retrying in the background meanwhile
                out["requests"] = bad.requests
                out["alerts"] = [f.kind for f in rec.of(sc.DriverFault)]
                out["state"] = d.state
                with pytest.raises(DeviceError, match="not connected"):
                    await d.pause()
                await d.disconnect()
                await s.disconnect()
            out["gap"] = watch.worst_cpu_s
        return out

    out = asyncio.run(go())
    assert out["bad"][0].startswith("OctoPrint at http://127.0.0.1:") and "did not answer with JSON" in out["bad"][0]
    assert out["bad"][1] < 1.0
    assert "no answer" in out["silent"]
    assert out["requests"] >= 3  # it retried, with backoff...
    assert out["alerts"] == ["bad_reply"]  # ...and said so once
    assert out["state"] is DriverState.OFFLINE
    assert out["gap"] < 0.1


def test_nodes_add_registers_it_with_the_profile_it_reports(ready: OctoPrintPeer, capsys):
    import json

    from app.cli.main import main

    assert main(["--json", "nodes", "add", "octo", "--driver", "octoprint", "--address", ready.url,
                 "--api-key", ready.api_key]) == 0
    node = json.loads(capsys.readouterr().out)
    assert node["driver"] == "octoprint" and node["address"] == ready.url and node["state"] == "IDLE"
    caps = node["capabilities"]
    assert caps["build_volume_mm"] == [200.0, 200.0, 200.0] and caps["nozzle_mm"] == 0.4
    assert "file:.gcode" in caps["features"] and "file:.bgcode" not in caps["features"]  # OctoPrint streams text
    assert main(["nodes", "add", "octo-2", "--driver", "octoprint", "--address", ready.url, "--api-key", "x"]) == 2
    assert capsys.readouterr().err.strip() == f"imewe: OctoPrint at {ready.url}: the API key was refused"
