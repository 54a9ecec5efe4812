"""PrusaLink: the protocol without I/O, and the driver against the PrusaLink emulator (a separate process
serving the v1 API with RFC 7616 Digest authentication on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from app.devices.factory import network_driver
from app.devices.network import prusalink_protocol as proto
from app.devices.network.backoff import Backoff
from app.devices.network.errors import BadReply
from app.devices.network.prusalink import PrusaLinkDriver
from app.devices.network.report import MachinePhase as P
from tests import network_scenarios as sc

PASSWORD = "s3cret-pw"


def prusa_peer(tmp: Path, garbage: bool = False) -> sc.EmulatorPeer:
    return sc.EmulatorPeer("app.devices.emulators.prusalink_emulator", tmp,
                           ["--password", PASSWORD, "--storage", str(tmp / "usb")], garbage)


@pytest.fixture
def peer(tmp_path: Path):
    p = prusa_peer(tmp_path)
    p.start()
    yield p
    p.kill()


def driver_for(peer: sc.EmulatorPeer, password: str = PASSWORD) -> PrusaLinkDriver:
    driver = network_driver("prusalink", name="mk4", address=peer.address, secrets={"password": password},
                            poll_s=0.2, backoff=Backoff(first_s=0.2, cap_s=1.0))
    assert isinstance(driver, PrusaLinkDriver)
    return driver


# ---------------------------------------------------------------------------------------------- protocol
def test_status_payloads_become_reports():
    body = json.dumps({"printer": {"state": "PRINTING", "temp_nozzle": 214.8, "target_nozzle": 215,
                                   "temp_bed": 59.9, "target_bed": 60, "axis_z": 2.4},
                       "job": {"id": 7, "progress": 42.0, "time_remaining": 600, "time_printing": 400}})
    r = proto.update_status(body, "imewe-x.gcode")
    assert r.phase is P.PRINTING and r.progress == pytest.approx(0.42) and r.time_left_s == 600
    assert r.metrics["temperature"] == 214.8 and r.metrics["bed_target_c"] == 60 and r.job_file == "imewe-x.gcode"
    assert proto.status_job_id(body) == "7"
    assert proto.update_status(json.dumps({"printer": {"state": "STOPPED"}})).phase is P.CANCELLED
    attention = proto.update_status(json.dumps({"printer": {"state": "ATTENTION"}}))
    assert attention.phase is P.PAUSED and "attention" in attention.message
    for bad in (b"<html>", b"[]", json.dumps({"printer": {}}), json.dumps({"printer": {"state": "DANCING"}})):
        with pytest.raises(BadReply):
            proto.update_status(bad)


def test_the_job_is_named_by_its_long_name():
    body = json.dumps({"id": 9, "file": {"name": "IMEWE-~1.GCO", "display_name": "imewe-abc-part.gcode"}})
    assert proto.update_job(body) == ("9", "imewe-abc-part.gcode")


def test_requests_follow_the_v1_api():
    up = proto.request_upload("imewe-abc-part one.gcode")
    assert up.method == "PUT" and up.path == "/api/v1/files/usb/imewe-abc-part%20one.gcode"
    assert up.headers["Print-After-Upload"] == "?1" and up.headers["Overwrite"] == "?1"
    assert proto.request_pause("7").path == "/api/v1/job/7/pause"
    assert proto.request_resume("7").method == "PUT"
    assert (proto.request_stop("7").method, proto.request_stop("7").path) == ("DELETE", "/api/v1/job/7")


# ---------------------------------------------------------------------------------------------- the emulator
def test_emulator_digest_refuses_wrong_password_and_replays(peer: sc.EmulatorPeer):
    with httpx.Client(base_url=peer.address, auth=httpx.DigestAuth("maker", PASSWORD)) as ok:
        assert ok.get("/api/v1/status").status_code == 200
    with httpx.Client(base_url=peer.address, auth=httpx.DigestAuth("maker", "nope")) as bad:
        assert bad.get("/api/v1/status").status_code == 401
    challenge = httpx.get(peer.address + "/api/v1/status")
    assert challenge.status_code == 401 and 'qop="auth"' in challenge.headers["WWW-Authenticate"]
    # the same signed request twice (same nonce count) is a replay and is refused
    req = httpx.Request("GET", peer.address + "/api/v1/status")
    flow = httpx.DigestAuth("maker", PASSWORD).sync_auth_flow(req)
    first = next(flow)
    signed = flow.send(httpx.get(peer.address + "/api/v1/status"))
    assert first is req
    with httpx.Client() as c:
        assert c.send(signed).status_code == 200
        assert c.send(signed).status_code == 401


# ---------------------------------------------------------------------------------------------- the driver
def test_probe_reads_name_firmware_and_nozzle(peer: sc.EmulatorPeer):
    async def go():
        driver = driver_for(peer)
        try:
            return await driver.probe()
        finally:
            await driver._close()

    info = asyncio.run(go())
    assert info.name == "emulated-mk4" and "PrusaLink" in info.firmware and info.capabilities["nozzle_mm"] == 0.4


def test_job_upload_start_progress_pause_resume_cancel_and_complete(peer: sc.EmulatorPeer, tmp_path: Path):
    asyncio.run(sc.job_lifecycle(driver_for(peer), peer, tmp_path))


def test_emergency_stop_stops_the_job_and_says_what_it_did(peer: sc.EmulatorPeer, tmp_path: Path):
    rec = asyncio.run(sc.emergency_stop(driver_for(peer), peer, tmp_path, "cancelled"))
    assert "no emergency stop" in rec.faults("estop")[0].message


def test_wrong_password_is_one_alert_and_no_retry_loop(peer: sc.EmulatorPeer):
    asyncio.run(sc.wrong_credentials(driver_for(peer, "wrong"), "PrusaLink at http://127.0.0.1"))


def test_printer_service_killed_mid_job_then_back_picks_the_job_up(peer: sc.EmulatorPeer, tmp_path: Path):
    asyncio.run(sc.killed_and_restarted(driver_for(peer), peer, tmp_path))


def test_garbage_replies_are_a_clear_error_and_do_not_block(tmp_path: Path):
    sc.against_garbage(prusa_peer(tmp_path, garbage=True), driver_for, "not JSON")
