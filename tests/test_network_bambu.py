"""Bambu Lab LAN mode: the protocol without I/O, and the driver against a real mosquitto broker (TLS listener,
password file) with the Bambu emulator process connected to it as the printer and serving implicit FTPS."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from uuid import uuid4

import pytest

from app.core.drivers import DriverState, JobRequest
from app.devices.emulators.bambu_emulator import notify_datagram
from app.devices.emulators.mosquitto_broker import MosquittoBroker, make_printer_cert, mosquitto_available
from app.devices.emulators.spawn import EmulatorProcess
from app.devices.factory import network_driver
from app.devices.network import bambu_protocol as proto
from app.devices.network.backoff import Backoff
from app.devices.network.bambu import BambuDriver
from app.devices.network.bambu_ssdp import BambuAnnouncement, BambuSsdpListener, parse_notify
from app.devices.network.errors import BadReply
from app.devices.network.pinned_tls import CertificateChanged
from app.devices.network.report import MachinePhase as P
from tests import network_scenarios as sc

SERIAL = "01S00EMU0000001"
CODE = "12345678"



@pytest.fixture
def mosquitto_required() -> None:
    """The real broker these tests need; CI (``IMEWE_REQUIRE_PEERS``) fails without it, a developer's run skips."""
    if mosquitto_available() is None:
        if os.environ.get("IMEWE_REQUIRE_PEERS") or os.environ.get("CI"):
            pytest.fail("mosquitto is missing; ./dev test installs it (apt-get install mosquitto)")
        pytest.skip("mosquitto is not installed (./dev test installs it)")


needs_mosquitto = pytest.mark.usefixtures("mosquitto_required")


class BambuPeer:
    """The printer: its broker (mosquitto) and its firmware side (the emulator), killed and restarted together."""

    def __init__(self, tmp: Path, garbage: bool = False, ssdp_port: int = 0) -> None:
        self.tmp = tmp
        self.ssdp_port = ssdp_port
        self.state_file = tmp / "printer-state.json"
        self.garbage = garbage
        self.cert, self.key = make_printer_cert(tmp / "cert", SERIAL)
        self.broker = MosquittoBroker(tmp / "broker", self.cert, self.key, CODE)
        self.ftps_port = 0
        self.proc: EmulatorProcess | None = None

    @property
    def address(self) -> str:
        return f"mqtts://127.0.0.1:{self.broker.port}?ftps_port={self.ftps_port}"

    def start(self) -> None:
        self.broker.start()
        args = ["--broker-port", str(self.broker.port), "--ftps-port", str(self.ftps_port), "--serial", SERIAL,
                "--access-code", CODE, "--cert", str(self.cert), "--key", str(self.key),
                "--storage", str(self.tmp / "sdcard"), "--state-file", str(self.state_file), "--print-s", "4",
                "--report-s", "0.25", "--ssdp-port", str(self.ssdp_port)] + (["--garbage"] if self.garbage else [])
        self.proc = EmulatorProcess("app.devices.emulators.bambu_emulator", args).start()
        self.ftps_port = self.proc.port

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        self.broker.stop()

    def sim_state(self) -> dict:
        return sc.read_state(self.state_file)


@pytest.fixture
def peer(tmp_path: Path, mosquitto_required: None):
    p = BambuPeer(tmp_path)
    p.start()
    yield p
    p.kill()


def driver_for(peer: BambuPeer, code: str = CODE, pinned: str | None = None) -> BambuDriver:
    secrets = {"access_code": code, "serial": SERIAL, **({"cert_sha256": pinned} if pinned else {})}
    driver = network_driver("bambu", name="x1c", address=peer.address, secrets=secrets,
                            backoff=Backoff(first_s=0.2, cap_s=1.0))
    assert isinstance(driver, BambuDriver)
    return driver


# ---------------------------------------------------------------------------------------------- protocol
def test_reports_merge_deltas_and_map_states():
    codec = proto.BambuCodec(SERIAL)
    assert codec.update_report(json.dumps({"print": {"command": "push_status", "nozzle_temper": 30}})) is None
    full = {"command": "push_status", "gcode_state": "RUNNING", "mc_percent": 40, "mc_remaining_time": 12,
            "layer_num": 8, "total_layer_num": 20, "nozzle_temper": 219.5, "nozzle_target_temper": 220,
            "bed_temper": 55, "bed_target_temper": 55, "subtask_name": "imewe-x.3mf"}
    r = codec.update_report(json.dumps({"print": full}))
    assert r is not None and r.phase is P.PRINTING and r.progress == 0.4 and r.time_left_s == 720
    assert r.layer == 8 and r.layers_total == 20 and r.job_file == "imewe-x.3mf"
    assert r.metrics["temperature"] == 219.5 and r.metrics["bed_target_c"] == 55
    delta = codec.update_report(json.dumps({"print": {"command": "push_status", "mc_percent": 41}}))
    assert delta is not None and delta.progress == 0.41 and delta.metrics["temperature"] == 219.5  # merged
    # an echo of our own command is not a status report
    assert codec.update_report(json.dumps({"print": {"command": "pause", "result": "success"}})) is None
    assert codec.update_report(json.dumps({"print": {"command": "push_status", "gcode_state": "PAUSE"}})).phase \
        is P.PAUSED
    stopped = {"command": "push_status", "gcode_state": "FAILED", "print_error": proto.CANCELLED_ERROR}
    assert codec.update_report(json.dumps({"print": stopped})).phase is P.CANCELLED
    failed = codec.update_report(json.dumps({"print": {"command": "push_status", "print_error": 0x0500C010}}))
    assert failed.phase is P.IDLE and "0500C010" in failed.message  # ready for the next print
    assert codec.update_report(json.dumps({"print": {"command": "push_status", "gcode_state": "PREPARE"}})).phase \
        is P.BUSY
    ams = {"tray_now": "5", "ams": [{"id": "0", "tray": []}, {"id": "1", "tray": [{"id": "1", "tray_type": "PLA"}]}]}
    codec.update_report(json.dumps({"print": {"command": "push_status", "ams": ams, "nozzle_diameter": "0.6",
                                              "vt_tray": {"tray_type": "TPU"}}}))
    assert codec.capabilities() == {"nozzle_mm": 0.6, "loaded_material": "pla"}  # AMS unit 1, slot 1 in use
    for bad in (b"{nope", b"[1]", json.dumps({"print": {"command": "push_status", "gcode_state": "DANCING"}})):
        with pytest.raises(BadReply):
            codec.update_report(bad)


def test_commands_are_the_lan_mode_requests():
    codec = proto.BambuCodec(SERIAL)
    assert proto.request_topic(SERIAL) == f"device/{SERIAL}/request"
    assert json.loads(codec.request_pushall())["pushing"]["command"] == "pushall"
    start = json.loads(codec.request_start("imewe-a.3mf"))["print"]
    assert start["command"] == "project_file" and start["url"] == "file:///sdcard/imewe-a.3mf"
    assert start["param"] == "Metadata/plate_1.gcode"
    gcode = json.loads(codec.request_start("imewe-a.gcode"))["print"]
    assert gcode == {**gcode, "command": "gcode_file", "param": "/sdcard/imewe-a.gcode"}
    seqs = [json.loads(codec.request_pause())["print"]["sequence_id"] for _ in range(3)]
    assert len(set(seqs)) == 3  # every command carries its own sequence number


def test_ssdp_notify_is_read_and_other_datagrams_ignored():
    found = parse_notify(notify_datagram(SERIAL, "192.168.1.50"))
    assert found == BambuAnnouncement(SERIAL, "192.168.1.50", f"Emulated P1S {SERIAL[-4:]}", "P1S", "01.08.02.00",
                                      lan_mode=True)
    assert found.address == "mqtts://192.168.1.50:8883"
    assert parse_notify(b"M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n") is None
    assert parse_notify(b"NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\nUSN: x\r\nLocation: h\r\n\r\n") is None
    assert parse_notify(b"\xff\xfe garbage") is None


# ---------------------------------------------------------------------------------------------- the driver
@needs_mosquitto
def test_found_by_its_ssdp_announcement_then_probed(tmp_path: Path):
    async def go():
        heard: list[BambuAnnouncement] = []
        listener = BambuSsdpListener("127.0.0.1", 0, on_found=heard.append)
        await listener.start()
        p = BambuPeer(tmp_path, ssdp_port=listener.port)
        await asyncio.get_running_loop().run_in_executor(None, p.start)
        try:
            await sc.until(lambda: listener.found(), 10, "the SSDP announcement")
            found = listener.found()[0]
            assert (found.serial, found.host, found.model, found.lan_mode) == (SERIAL, "127.0.0.1", "P1S", True)
            await asyncio.sleep(2.5)  # announced again: still one printer, told once
            assert heard == [found] and len(listener.found()) == 1
            driver = network_driver("bambu", name=found.name, address=p.address,
                                    secrets={"access_code": CODE, "serial": found.serial})
            info = await driver.probe()
            assert info.firmware == "01.08.02.00" and driver.pin.seen is not None  # pinned while probing
            assert info.capabilities == {"nozzle_mm": 0.4, "loaded_material": "petg"}
        finally:
            await listener.stop()
            p.kill()

    asyncio.run(go())


@needs_mosquitto
def test_job_upload_start_progress_pause_resume_cancel_and_complete(peer: BambuPeer, tmp_path: Path):
    driver = driver_for(peer)
    pinned: list[dict] = []
    driver.save_secrets = pinned.append
    asyncio.run(sc.job_lifecycle(driver, peer, tmp_path))
    assert pinned == [{"cert_sha256": driver.pin.seen}]  # pinned on first use, told to the secret store once
    assert (tmp_path / "sdcard").is_dir() and any(p.name.startswith("imewe-") for p in (tmp_path / "sdcard").iterdir())


@needs_mosquitto
def test_sliced_3mf_is_sent_and_started_as_a_project(peer: BambuPeer, tmp_path: Path):
    async def go():
        driver = driver_for(peer)
        rec = sc.Recorder()
        driver.add_listener(rec)
        await driver.connect()
        try:
            job = tmp_path / "plate.3mf"
            job.write_bytes(b"PK\x03\x04 a sliced project;LAYER_CHANGE\n" * 5)
            await driver.execute(JobRequest(job_id=uuid4(), gcode_path=job))
            await sc.until(lambda: driver.state is DriverState.WORKING and peer.sim_state().get("starts") == 1, 15,
                           "the project to start")
            assert peer.sim_state()["file"].endswith("-plate.3mf")
        finally:
            await driver.disconnect()

    asyncio.run(go())


@needs_mosquitto
def test_emergency_stop_halts_the_printer(peer: BambuPeer, tmp_path: Path):
    rec = asyncio.run(sc.emergency_stop(driver_for(peer), peer, tmp_path, "halted"))
    assert "M112" in rec.faults("estop")[0].message


@needs_mosquitto
def test_wrong_access_code_is_one_alert_and_no_retry_loop(peer: BambuPeer):
    asyncio.run(sc.wrong_credentials(driver_for(peer, "87654321"), "access code was refused"))


@needs_mosquitto
def test_printer_killed_mid_job_then_back_picks_the_job_up(peer: BambuPeer, tmp_path: Path):
    asyncio.run(sc.killed_and_restarted(driver_for(peer), peer, tmp_path))


@needs_mosquitto
def test_changed_certificate_is_refused_with_one_alert(peer: BambuPeer, tmp_path: Path):
    async def go():
        first = driver_for(peer)
        await first.connect()
        pinned = first.pin.seen
        await first.disconnect()
        # the printer comes back with another certificate (reset, replaced, or someone in between)
        peer.kill()
        peer.cert, peer.key = make_printer_cert(tmp_path / "cert2", SERIAL)
        peer.broker.cert, peer.broker.key = peer.cert, peer.key
        peer.start()
        second = driver_for(peer, pinned=pinned)
        rec = sc.Recorder()
        second.add_listener(rec)
        with pytest.raises(CertificateChanged) as err:
            await second.connect()
        await asyncio.sleep(1.0)
        try:
            assert "certificate changed" in str(err.value) and pinned in str(err.value)
            assert [f.kind for f in rec.faults()] == ["certificate_changed"]
            assert second.state is DriverState.ERROR and second._loop_task.done()
        finally:
            await second.disconnect()

    asyncio.run(go())


@needs_mosquitto
def test_garbage_reports_are_a_clear_error_and_do_not_block(tmp_path: Path):
    sc.against_garbage(BambuPeer(tmp_path, garbage=True), driver_for, "not JSON")
