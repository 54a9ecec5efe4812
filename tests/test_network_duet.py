"""Duet / RepRapFirmware: the protocol without I/O, and the driver against the Duet emulator (a separate process
serving the standalone ``rr_*`` requests with session keys on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from app.devices.factory import network_driver
from app.devices.network import duet_protocol as proto
from app.devices.network.backoff import Backoff
from app.devices.network.duet import DuetDriver
from app.devices.network.errors import BadReply, CredentialsRefused
from app.devices.network.report import MachinePhase as P
from tests import network_scenarios as sc

PASSWORD = "duet-pw"


def duet_peer(tmp: Path, garbage: bool = False) -> sc.EmulatorPeer:
    return sc.EmulatorPeer("app.devices.emulators.duet_emulator", tmp,
                           ["--password", PASSWORD, "--storage", str(tmp / "sd")], garbage)


@pytest.fixture
def peer(tmp_path: Path):
    p = duet_peer(tmp_path)
    p.start()
    yield p
    p.kill()


def driver_for(peer: sc.EmulatorPeer, password: str = PASSWORD) -> DuetDriver:
    driver = network_driver("duet", name="duet", address=peer.address, secrets={"password": password},
                            poll_s=0.2, backoff=Backoff(first_s=0.2, cap_s=1.0))
    assert isinstance(driver, DuetDriver)
    return driver


# ---------------------------------------------------------------------------------------------- protocol
MODEL = {"state": {"status": "processing"},
         "job": {"file": {"fileName": "0:/gcodes/imewe-x.gcode", "size": 1000, "numLayers": 50},
                 "filePosition": 250, "layer": 12, "timesLeft": {"slicer": 900, "file": 1000}, "duration": 300},
         "heat": {"bedHeaters": [0], "heaters": [{"current": 59.5, "active": 60, "state": "active"},
                                                 {"current": 214.0, "active": 215, "state": "active"}]},
         "tools": [{"heaters": [1]}]}


def test_object_model_becomes_a_report():
    r = proto.update_model(MODEL)
    assert r.phase is P.PRINTING and r.progress == 0.25 and r.time_left_s == 900 and r.layer == 12
    assert r.job_file == "0:/gcodes/imewe-x.gcode" and r.layers_total == 50
    assert r.metrics == {"temperature": 214.0, "target_temperature": 215.0, "bed_c": 59.5, "bed_target_c": 60.0}
    done = proto.update_model({"state": {"status": "idle"}, "job": {"lastFileName": "0:/gcodes/a.gcode"}})
    assert done.phase is P.FINISHED and done.job_file == "0:/gcodes/a.gcode"
    cancelled = {"state": {"status": "idle"}, "job": {"lastFileName": "a", "lastFileCancelled": True}}
    assert proto.update_model(cancelled).phase is P.CANCELLED
    halted = proto.update_model({"state": {"status": "halted"}})
    assert halted.phase is P.ERROR and "M999" in halted.message
    for bad in ({}, {"state": {"status": 3}}, {"state": {"status": "dancing"}}):
        with pytest.raises(BadReply):
            proto.update_model(bad)
    with pytest.raises(BadReply):
        proto.model_result(b"\xff{")


def test_connect_answers_and_requests():
    assert proto.update_connect(json.dumps({"err": 0, "sessionKey": 1234}), "u")["session_key"] == "1234"
    assert proto.update_connect(json.dumps({"err": 0}), "u")["session_key"] is None  # RRF before 3.5
    with pytest.raises(CredentialsRefused):
        proto.update_connect(json.dumps({"err": 1}), "http://duet")
    with pytest.raises(BadReply):
        proto.update_connect(json.dumps({"err": 2}), "http://duet")
    assert proto.request_start("imewe-a.gcode").params == {"gcode": 'M32 "0:/gcodes/imewe-a.gcode"'}
    up = proto.request_upload("a.gcode", proto.crc32(b"G28\n"))
    assert up.method == "POST" and up.params["name"] == "0:/gcodes/a.gcode" and len(up.params["crc32"]) == 8


def test_emulator_needs_the_session_key(peer: sc.EmulatorPeer):
    assert httpx.get(peer.address + "/rr_model").status_code == 401
    key = httpx.get(peer.address + "/rr_connect", params={"password": PASSWORD, "sessionKey": "yes"}).json()
    ok = httpx.get(peer.address + "/rr_model", params={"key": "state"},
                   headers={"X-Session-Key": str(key["sessionKey"])})
    assert ok.status_code == 200 and ok.json()["result"]["status"] == "idle"


# ---------------------------------------------------------------------------------------------- the driver
def test_probe_reads_board_firmware_and_build_volume(peer: sc.EmulatorPeer):
    info = asyncio.run(driver_for(peer).probe())
    assert info.name == "emulated-duet" and info.model == "Duet 3 MB6HC" and info.firmware == "RepRapFirmware 3.5.1"
    assert info.capabilities["build_volume_mm"] == [300.0, 300.0, 280.0]


def test_job_upload_start_progress_pause_resume_cancel_and_complete(peer: sc.EmulatorPeer, tmp_path: Path):
    asyncio.run(sc.job_lifecycle(driver_for(peer), peer, tmp_path))


def test_emergency_stop_halts_the_board(peer: sc.EmulatorPeer, tmp_path: Path):
    rec = asyncio.run(sc.emergency_stop(driver_for(peer), peer, tmp_path, "halted"))
    assert "M999" in rec.faults("estop")[0].message


def test_wrong_password_is_one_alert_and_no_retry_loop(peer: sc.EmulatorPeer):
    asyncio.run(sc.wrong_credentials(driver_for(peer, "wrong"), "password was refused"))


def test_board_killed_mid_job_then_back_picks_the_job_up(peer: sc.EmulatorPeer, tmp_path: Path):
    asyncio.run(sc.killed_and_restarted(driver_for(peer), peer, tmp_path))


def test_garbage_replies_are_a_clear_error_and_do_not_block(tmp_path: Path):
    sc.against_garbage(duet_peer(tmp_path, garbage=True), driver_for, "JSON")
