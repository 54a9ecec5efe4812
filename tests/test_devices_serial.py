"""Marlin and GRBL drivers against our emulators behind real pseudo-terminals."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path

import pytest

from app.core.drivers import DriverFault, DriverState, JobOutcome, JobRequest
from app.devices.emulators.grbl_emulator import GrblEmulator, GrblFaults
from app.devices.emulators.marlin_emulator import MarlinEmulator, MarlinFaults
from app.devices.gcode import load_commands
from app.devices.grbl_driver import GrblDriver
from app.devices.marlin_driver import MarlinDriver


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def job_lines(emu_accepted: list[str]) -> list[str]:
    return [c for c in emu_accepted if c.startswith("G1 ")]


def stream_marlin(faults: MarlinFaults, job: JobRequest, **kw):
    async def go():
        emu = MarlinEmulator(faults)
        emu.start()
        d = MarlinDriver("m1", emu.path, connect_timeout_s=5, **kw)
        telemetry: list = []
        d.add_listener(lambda e: telemetry.append(e) if type(e).__name__ == "DriverTelemetry" else None)
        try:
            await d.connect()
            await d.execute(job)
            fin = await d.wait_job()
            return fin, emu, d, telemetry
        finally:
            await d.disconnect()
            emu.stop()

    return run(go())


def test_10000_lines_with_1_percent_corruption_arrive_complete_once_in_order(tmp_path: Path) -> None:
    lines = [f"G1 X{i % 200}.{i % 10} Y{(i * 7) % 200} E{i * 0.013:.3f} ; move {i}" for i in range(10_000)]
    gfile = tmp_path / "big.gcode"
    gfile.write_text("\n".join(lines) + "\n")

    log_path = tmp_path / "traffic" / "m1.log"
    fin, emu, d, _ = stream_marlin(MarlinFaults(corrupt_rate=0.01, spurious_resend_rate=0.002, seed=7),
                                   JobRequest(gcode_path=gfile), traffic_log=log_path)
    assert fin.outcome is JobOutcome.COMPLETED, fin.message
    assert emu.corrupted >= 50  # the faults really happened (about 1 % of ~10,000 lines)
    assert d.resends >= emu.corrupted
    expected = [line.split(";")[0].strip() for line in lines]
    assert job_lines(emu.accepted) == expected  # complete, once, in order
    assert d.status().lines_acked == 10_000
    traffic = log_path.read_text()
    assert "> N1 M115*39" in traffic and "< Resend:" in traffic


def test_emergency_stop_reaches_the_machine_within_100_ms_while_streaming() -> None:
    async def go():
        emu = MarlinEmulator(MarlinFaults(busy_commands=("G4",), busy_s=0.0))
        emu.start()
        d = MarlinDriver("m1", emu.path, connect_timeout_s=5)
        faults = []
        d.add_listener(lambda e: faults.append(e) if isinstance(e, DriverFault) else None)
        try:
            await d.connect()
            await d.execute(JobRequest(gcode_lines=[f"G1 X{i % 100} Y{i % 50}" for i in range(200_000)]))
            while d.status().lines_acked < 2000:
                await asyncio.sleep(0.01)
            assert d.state is DriverState.WORKING
            t0 = time.monotonic()
            await d.emergency_stop()
            while emu.estop_at is None and time.monotonic() - t0 < 1.0:
                await asyncio.sleep(0.001)
            fin = await d.wait_job()
            return t0, emu.estop_at, fin, d.state, faults
        finally:
            await d.disconnect()
            emu.stop()

    t0, estop_at, fin, state, faults = run(go())
    assert estop_at is not None, "M112 never reached the printer"
    assert estop_at - t0 < 0.100
    assert fin.outcome is JobOutcome.FAILED and fin.checkpoint is not None and fin.checkpoint.lines_acked >= 2000
    assert state is DriverState.ERROR
    assert any(f.kind == "estop" for f in faults)


def test_a_port_that_vanishes_mid_job_leaves_the_job_paused_with_its_position() -> None:
    """Stated behaviour: the job is PAUSED (not FAILED) with a checkpoint; the driver goes OFFLINE."""

    async def go():
        emu = MarlinEmulator(MarlinFaults(drop_after_lines=1500))
        emu.start()
        d = MarlinDriver("m1", emu.path, connect_timeout_s=5)
        try:
            await d.connect()
            await d.execute(JobRequest(gcode_lines=[f"G1 X{i}" for i in range(5000)]))
            fin = await d.wait_job()
            return fin, d.state, emu
        finally:
            await d.disconnect()
            emu.stop()

    fin, state, emu = run(go())
    assert fin.outcome is JobOutcome.PAUSED
    assert state is DriverState.OFFLINE
    cp = fin.checkpoint
    assert cp is not None and cp.lines_total == 5000
    # everything the machine acknowledged is accounted for: it executed exactly the acked lines (+ the one it
    # was processing when the cable went)
    executed = len(job_lines(emu.accepted))
    assert cp.lines_acked in (executed - 1, executed)
    assert "lost the serial port" in fin.message
    assert cp.position["x_mm"] == float(cp.lines_acked - 1)  # the last acknowledged move: G1 X<n>


def test_firmware_error_puts_the_machine_in_error_with_the_job_state_saved() -> None:
    async def go():
        emu = MarlinEmulator(MarlinFaults(error_after_lines=300, autoreport=False))
        emu.start()
        d = MarlinDriver("m1", emu.path, connect_timeout_s=5, poll_interval_s=0.1)
        temps = []
        d.add_listener(lambda e: temps.append(e) if type(e).__name__ == "DriverTelemetry" else None)
        try:
            await d.connect()
            await asyncio.sleep(0.35)  # a few M105 polls
            await d.execute(JobRequest(gcode_lines=[f"G1 X{i}" for i in range(1000)]))
            fin = await d.wait_job()
            return fin, d.state, temps
        finally:
            await d.disconnect()
            emu.stop()

    fin, state, temps = run(go())
    assert fin.outcome is JobOutcome.FAILED and "Thermal Runaway" in fin.message
    assert state is DriverState.ERROR
    assert fin.checkpoint is not None and 250 < fin.checkpoint.lines_acked < 300
    assert temps and "nozzle_c" in temps[0].metrics  # M105 polling fed telemetry


def test_grbl_streams_the_stress_file_by_character_counting(shared: Path) -> None:
    path = shared / "data" / "gcode" / "ugs_serial_stress_test.gcode"

    async def go():
        emu = GrblEmulator(GrblFaults(block_time_s=0.001))
        emu.start()
        d = GrblDriver("cnc", emu.path, connect_timeout_s=5, status_interval_s=0.05)
        statuses = []
        d.add_listener(lambda e: statuses.append(e) if type(e).__name__ == "DriverTelemetry" else None)
        try:
            await d.connect()
            caps = d.capabilities
            await d.execute(JobRequest(gcode_path=path))
            fin = await d.wait_job()
            return fin, emu, caps, statuses
        finally:
            await d.disconnect()
            emu.stop()

    fin, emu, caps, statuses = run(go())
    assert fin.outcome is JobOutcome.COMPLETED
    assert emu.overflows == 0 and 100 < emu.max_rx <= 128  # the buffer was used, never overrun
    assert emu.executed == load_commands(path)
    assert caps.build_volume_mm == (200.0, 200.0, 200.0)  # from $130-$132
    assert statuses and {"x_mm", "feed_mm_min", "spindle_rpm"} <= set(statuses[-1].metrics)
    times = [t for t, ch in emu.realtime_seen if ch == b"?"]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps and min(gaps) >= 0.19  # at most 5 status queries a second


def test_grbl_refused_line_fails_the_job_with_a_readable_message(shared: Path) -> None:
    path = shared / "data" / "gcode" / "ugs_ShapeOko_Calibration_Pattern_01b.ngc"

    async def go():
        emu = GrblEmulator()
        emu.start()
        d = GrblDriver("cnc", emu.path, connect_timeout_s=5)
        try:
            await d.connect()
            await d.execute(JobRequest(gcode_path=path))
            fin = await d.wait_job()
            return fin, d.state
        finally:
            await d.disconnect()
            emu.stop()

    fin, state = run(go())
    assert fin.outcome is JobOutcome.FAILED
    assert "error 20" in fin.message and "M6" in fin.message and "unsupported" in fin.message
    assert state is DriverState.IDLE  # the program was wrong; the machine is fine


def test_grbl_alarm_hold_resume_and_unlock() -> None:
    async def go():
        emu = GrblEmulator(GrblFaults(block_time_s=0.01, alarm_after_lines=40))
        emu.start()
        d = GrblDriver("cnc", emu.path, connect_timeout_s=5, status_interval_s=0.05)
        try:
            await d.connect()
            await d.execute(JobRequest(gcode_lines=[f"G1 X{i} F500" for i in range(100)]))
            await asyncio.sleep(0.1)
            await d.pause()
            await asyncio.sleep(0.15)
            held = emu.state
            paused_state = d.state
            await d.resume()
            fin = await d.wait_job()
            alarm_state = d.state
            await d.unlock()
            await asyncio.sleep(0.1)
            return held, paused_state, fin, alarm_state, d.state, emu.state
        finally:
            await d.disconnect()
            emu.stop()

    held, paused_state, fin, alarm_state, after, emu_state = run(go())
    assert held == "Hold" and paused_state is DriverState.PAUSED
    assert fin.outcome is JobOutcome.FAILED and "hard limit" in fin.message
    assert alarm_state is DriverState.ERROR
    assert after is DriverState.IDLE and emu_state == "Idle"


def test_marlin_busy_keepalives_host_pause_resume_and_cancel() -> None:
    async def go():
        emu = MarlinEmulator(MarlinFaults(busy_commands=("G28",), busy_s=1.2))
        emu.start()
        d = MarlinDriver("m1", emu.path, connect_timeout_s=5)
        try:
            await d.connect()
            await d.execute(JobRequest(gcode_lines=["G28"] + [f"G1 X{i}" for i in range(50_000)]))
            await asyncio.sleep(0.6)
            during_busy = d.status().lines_acked  # G28 still running: the printer says busy, nothing more sent
            await asyncio.sleep(1.0)
            await d.pause()
            await asyncio.sleep(0.05)
            at_pause = len(job_lines(emu.accepted))
            await asyncio.sleep(0.3)
            still = len(job_lines(emu.accepted))
            state_paused = d.state
            await d.resume()
            await asyncio.sleep(0.5)
            after_resume = len(job_lines(emu.accepted))
            await d.cancel()
            fin = await d.wait_job()
            await asyncio.sleep(0.1)
            return during_busy, at_pause, still, state_paused, after_resume, fin, d.state, list(emu.accepted)
        finally:
            await d.disconnect()
            emu.stop()

    during_busy, at_pause, still, state_paused, after_resume, fin, state, accepted = run(go())
    assert during_busy == 0
    assert state_paused is DriverState.PAUSED and still <= at_pause + 1  # host-side pause: no more lines go out
    assert after_resume > still + 50
    assert fin.outcome is JobOutcome.CANCELLED and fin.checkpoint is not None
    assert state is DriverState.IDLE
    assert accepted[-3:] == ["M104 S0", "M140 S0", "M107"]  # heaters off after a cancel


def test_grbl_emergency_stop_reaches_the_controller_at_once() -> None:
    async def go():
        emu = GrblEmulator(GrblFaults(block_time_s=0.002))
        emu.start()
        d = GrblDriver("cnc", emu.path, connect_timeout_s=5)
        try:
            await d.connect()
            await d.execute(JobRequest(gcode_lines=[f"G1 X{i % 100} F900" for i in range(20_000)]))
            await asyncio.sleep(0.3)
            t0 = time.monotonic()
            await d.emergency_stop()
            while not any(ch == b"\x18" and t > t0 for t, ch in emu.realtime_seen) and time.monotonic() - t0 < 1:
                await asyncio.sleep(0.001)
            reset_at = next(t for t, ch in emu.realtime_seen if ch == b"\x18" and t > t0)
            fin = await d.wait_job()
            return reset_at - t0, fin, d.state
        finally:
            await d.disconnect()
            emu.stop()

    delay, fin, state = run(go())
    assert delay < 0.1
    assert fin.outcome is JobOutcome.FAILED and state is DriverState.ERROR


def test_lost_port_through_the_driver_link_leaves_the_node_offline_and_the_job_paused(tmp_path: Path) -> None:
    from app.core.bus import EventBus
    from app.core.clock import SystemClock
    from app.core.device_events import DeviceJobFinished
    from app.core.domain.enums import NodeState
    from app.core.events import FaultReported
    from app.core.fleet.driver_link import DriverLink
    from app.core.fleet.service import FleetService
    from app.core.store import open_store

    async def go():
        store = open_store(f"sqlite:///{tmp_path}/t.sqlite")
        bus = EventBus()
        fleet = FleetService(store, bus, SystemClock())
        await fleet.start()
        seen: list = []
        bus.subscribe((DeviceJobFinished, FaultReported), seen.append)
        emu = MarlinEmulator(MarlinFaults(drop_after_lines=800))
        emu.start()
        d = MarlinDriver("ender", emu.path, connect_timeout_s=5)
        node = await fleet.register("ender", d.capabilities, driver="marlin", address=f"serial:{emu.path}")
        link = DriverLink(fleet, bus, SystemClock(), node.id, d).attach()
        try:
            await d.connect()
            await link.drain()
            idle = fleet.get(node.id).state
            await d.execute(JobRequest(gcode_lines=[f"G1 X{i}" for i in range(2000)]))
            await d.wait_job()
            await link.drain()
            await bus.drain()
            return idle, fleet.get(node.id).state, seen, [c.to_state for c in await fleet.timeline(node.id)]
        finally:
            await d.disconnect()
            await link.detach()
            emu.stop()
            await bus.close()
            store.close()

    idle, state, seen, states = run(go())
    assert idle is NodeState.IDLE  # REGISTERED → CONFIGURED → IDLE once the firmware answered
    assert state is NodeState.OFFLINE
    assert states[:5] == ["REGISTERED", "CONFIGURED", "IDLE", "ASSIGNED", "EXECUTING"] and states[-1] == "OFFLINE"
    fin = next(e for e in seen if isinstance(e, DeviceJobFinished))
    assert fin.outcome == "paused" and 700 < fin.checkpoint["lines_acked"] < 800
    assert any(isinstance(e, FaultReported) and e.kind == "link_lost" for e in seen)


# ---------------------------------------------------------------- line noise: errors told apart by their shape
@pytest.mark.parametrize("style,rate", [("marlin", 0.01), ("marlin", 0.10), ("prusa", 0.05), ("reprap", 0.05),
                                        ("smoothie", 0.05), ("terse", 0.05)])
def test_corrupted_lines_are_resent_and_the_job_completes_whatever_the_firmware_says(style: str, rate: float) -> None:
    commands = [f"G1 X{i % 200}.{i % 10} Y{(i * 7) % 200} E{i * 0.013:.3f}" for i in range(1500)]
    fin, emu, d, telemetry = stream_marlin(MarlinFaults(corrupt_rate=rate, style=style, seed=11), JobRequest(gcode_lines=commands))
    assert fin.outcome is JobOutcome.COMPLETED, fin.message
    assert emu.corrupted >= 1500 * rate / 3  # the faults really happened
    assert d.resends >= emu.corrupted  # every damaged line was asked for again, and resent
    assert job_lines(emu.accepted) == commands  # complete, once, in order
    link = [t.metrics for t in telemetry if "link_resends" in t.metrics]
    assert link and link[-1]["link_resends"] >= 1 and 0 < link[-1]["link_error_rate"] < 0.5


def test_the_issue_case_missing_checksum_then_resend_at_5_percent_is_not_fatal() -> None:
    commands = [f"G1 X{i % 100} Y{i % 50} F3000" for i in range(800)]
    fin, emu, d, _ = stream_marlin(MarlinFaults(corrupt_rate=0.05, style="terse", seed=5), JobRequest(gcode_lines=commands))
    assert fin.outcome is JobOutcome.COMPLETED, fin.message
    assert d.resends >= emu.corrupted > 10


# ---------------------------------------------------------------- hostile peers: silence and garbage mid-stream
@pytest.mark.parametrize("fault", ["silent_after_lines", "garbage_after_lines"])
def test_a_marlin_peer_that_goes_silent_or_babbles_mid_stream_is_a_clear_error(fault: str) -> None:
    lines = ["; a header the file has", "M104 S200"] + [f"G1 X{i}" for i in range(400)]
    t0 = time.monotonic()

    async def go():
        emu = MarlinEmulator(MarlinFaults(**{fault: 150}, autoreport=False))
        emu.start()
        d = MarlinDriver("m1", emu.path, connect_timeout_s=5, stall_timeout_s=0.6, poll_interval_s=100)
        faults: list = []
        d.add_listener(lambda e: faults.append(e) if isinstance(e, DriverFault) else None)
        try:
            await d.connect()
            await d.execute(JobRequest(gcode_lines=lines))
            fin = await d.wait_job()
            return fin, d.state, faults, emu
        finally:
            await d.disconnect()
            emu.stop()

    fin, state, faults, emu = run(go())
    assert time.monotonic() - t0 < 10
    assert fin.outcome is JobOutcome.FAILED and state is DriverState.ERROR
    assert "no answer from the machine for 0.6 s" in fin.message
    # the file's line number: 2 header lines, then G1 X<n> on file line n + 3
    n = int(re.search(r"'G1 X(\d+)'", fin.message).group(1))
    assert f"file line {n + 3} " in fin.message
    assert "heaters and fan off" in fin.message and "M104 S0" in emu.heard[-4:]
    assert [f.kind for f in faults] == ["stall"]


def test_a_grbl_peer_that_stops_answering_status_is_a_stall() -> None:
    async def go():
        emu = GrblEmulator(GrblFaults(silent_after_lines=60))
        emu.start()
        d = GrblDriver("cnc", emu.path, connect_timeout_s=5, status_interval_s=0.05, stall_timeout_s=0.6,
                       hold_timeout_s=0.3)
        try:
            await d.connect()
            await d.execute(JobRequest(gcode_lines=[f"G1 X{i % 100} F900" for i in range(300)]))
            fin = await d.wait_job()
            return fin, d.state
        finally:
            await d.disconnect()
            emu.stop()

    fin, state = run(go())
    assert fin.outcome is JobOutcome.FAILED and state is DriverState.ERROR
    assert "no answer from the machine for 0.6 s" in fin.message and "feed hold" in fin.message


# ---------------------------------------------------------------- GRBL: done is idle, failures stop safely
def test_grbl_job_ends_only_when_the_planner_has_run_empty() -> None:
    # 12 moves of 10 mm at 2400 mm/min = 0.25 s each: 3 s of motion, all of it fits in the 15-block planner, so
    # every line is acknowledged long before the machine stops.
    lines = ["G21 G90", "F2400"] + [f"G1 X{10 * (i + 1)}" for i in range(12)]

    async def go():
        emu = GrblEmulator(GrblFaults(time_scale=1.0))
        emu.start()
        d = GrblDriver("cnc", emu.path, connect_timeout_s=5, status_interval_s=0.1)
        acked_at: list[float] = []

        async def watch(t0: float) -> None:
            while len(emu.executed) < len(lines):  # the controller answers ok as a line enters its planner
                await asyncio.sleep(0.01)
            acked_at.append(time.monotonic() - t0)

        try:
            await d.connect()
            t0 = time.monotonic()
            watcher = asyncio.get_running_loop().create_task(watch(t0))
            await d.execute(JobRequest(gcode_lines=lines))
            fin = await d.wait_job()
            done_s = time.monotonic() - t0
            await watcher
            return fin, done_s, acked_at[0], emu.state, len(emu._planner)
        finally:
            await d.disconnect()
            emu.stop()

    fin, done_s, acked_s, emu_state, planned = run(go())
    assert fin.outcome is JobOutcome.COMPLETED
    assert acked_s < 1.0  # every line was in the controller within a second...
    assert done_s >= 2.9  # ...but the job ended only when the motion had
    assert emu_state == "Idle" and planned == 0


def test_grbl_refused_line_holds_then_resets_and_names_the_file_line(tmp_path: Path) -> None:
    prog = ["(calibration)", "G21 G90", "M3 S8000", "F1200"] + [f"G1 X{5 * i}" for i in range(1, 9)] + \
        ["; tool change", "T4 M6", "G1 X0"]
    gfile = tmp_path / "tool.ngc"
    gfile.write_text("\n".join(prog) + "\n")

    async def go():
        emu = GrblEmulator(GrblFaults(time_scale=1.0, hold_decel_s=0.15))
        emu.start()
        d = GrblDriver("cnc", emu.path, connect_timeout_s=5, status_interval_s=0.1)
        try:
            await d.connect()
            await d.execute(JobRequest(gcode_path=gfile))
            fin = await d.wait_job()
            moving = emu.state
            await d.disconnect()
            return fin, moving, emu
        finally:
            await d.disconnect()
            emu.stop()

    fin, moving, emu = run(go())
    assert fin.outcome is JobOutcome.FAILED
    assert "file line 14 ('T4 M6')" in fin.message and "error 20" in fin.message
    assert "feed hold (!) and soft reset (Ctrl-X)" in fin.message
    assert moving in ("Hold", "Run")  # the motion already queued was still running when the error came
    hold = next(t for t, ch in emu.realtime_seen if ch == b"!")
    reset = next(t for t, ch in emu.realtime_seen if ch == b"\x18")
    assert reset - hold >= 0.14  # the reset waited for the hold to bring the axes to rest ...
    assert emu.alarm3 == 0 and emu.state == "Idle"  # ... so no position was lost
    assert emu.spindle == 0 and not emu._planner  # spindle off, nothing left to run


def test_grbl_connect_leaves_an_idle_controller_alone_and_unlock_or_home_clear_a_homing_lock() -> None:
    async def go():
        emu = GrblEmulator(GrblFaults(homing_lock=True))
        emu.start()
        out = []
        try:
            for how in ("none", "unlock", "home"):
                emu.state = "Alarm"
                d = GrblDriver("cnc", emu.path, connect_timeout_s=5)
                await d.connect()
                locked = d.state
                if how != "none":
                    await d.prepare(unlock=how == "unlock", home=how == "home")
                out.append((how, locked, d.state, emu.state))
                await d.disconnect()
            return out, emu.resets
        finally:
            emu.stop()

    out, resets = run(go())
    assert resets == 0  # connecting never reset the controller (a reset would lock it again)
    assert out[0][1:] == (DriverState.ERROR, DriverState.ERROR, "Alarm")
    assert out[1][2:] == (DriverState.IDLE, "Idle") and out[2][2:] == (DriverState.IDLE, "Idle")


@contextlib.asynccontextmanager
async def _grbl_connected():
    """A GRBL emulator on a pseudo-terminal and a driver connected to it (status every 50 ms)."""
    emu = GrblEmulator(GrblFaults(time_scale=1.0))
    emu.start()
    d = GrblDriver("cnc", emu.path, connect_timeout_s=5, status_interval_s=0.05)
    try:
        await d.connect()
        yield emu, d
    finally:
        await d.disconnect()
        emu.stop()


def test_grbl_check_mode_runs_a_program_without_moving() -> None:
    async def go():
        async with _grbl_connected() as (emu, d):
            await d.prepare(check=True)
            t0 = time.monotonic()
            await d.execute(JobRequest(gcode_lines=["F100"] + [f"G1 X{i}" for i in range(1, 200)]))
            fin = await d.wait_job()
            took = time.monotonic() - t0
            await d.leave_check_mode()
            return fin, took, emu.pos, emu.check_mode, len(emu.executed)

    fin, took, pos, check_mode, executed = run(go())
    assert fin.outcome is JobOutcome.COMPLETED and executed == 200
    assert took < 5  # 199 mm at 100 mm/min would take two minutes: nothing moved
    assert not check_mode


@pytest.mark.parametrize("stale", ["Idle", "Check"])
def test_grbl_check_mode_is_entered_and_left_by_what_the_controller_says_now(stale: str) -> None:
    # $C toggles check mode: a status report from before the last command (read late on a busy host) must not
    # decide whether to send it, or the controller stays in check mode (or is put in it) and the next job
    # "completes" without moving
    from dataclasses import replace

    async def go():
        async with _grbl_connected() as (emu, d):
            d.last_status = replace(d.last_status, state="Check")  # stale: the controller is idle
            await d.prepare(check=True)
            entered = emu.check_mode
            await d.execute(JobRequest(gcode_lines=["F100", "G1 X1"]))
            await d.wait_job()
            d.last_status = replace(d.last_status, state=stale)  # "Idle": as if from before the $C
            await d.leave_check_mode()
            return entered, emu.check_mode

    entered, still = run(go())
    assert entered and not still


def test_a_stall_under_the_fleet_puts_the_node_in_error_with_an_alert(tmp_path: Path) -> None:
    from app.core.bus import EventBus
    from app.core.clock import SystemClock
    from app.core.domain.enums import NodeState
    from app.core.events import FaultReported
    from app.core.fleet.driver_link import DriverLink
    from app.core.fleet.service import FleetService
    from app.core.store import open_store

    async def go():
        store = open_store(f"sqlite:///{tmp_path}/t.sqlite")
        bus = EventBus()
        fleet = FleetService(store, bus, SystemClock())
        await fleet.start()
        alerts: list = []
        bus.subscribe((FaultReported,), alerts.append)
        emu = MarlinEmulator(MarlinFaults(silent_after_lines=300))
        emu.start()
        d = MarlinDriver("ender", emu.path, connect_timeout_s=5, stall_timeout_s=0.5)
        node = await fleet.register("ender", d.capabilities, driver="marlin", address=f"serial:{emu.path}")
        link = DriverLink(fleet, bus, SystemClock(), node.id, d).attach()
        try:
            await d.connect()
            await d.execute(JobRequest(gcode_lines=[f"G1 X{i}" for i in range(1000)]))
            await d.wait_job()
            await link.drain()
            await bus.drain()
            return fleet.get(node.id).state, alerts
        finally:
            await d.disconnect()
            await link.detach()
            emu.stop()
            await bus.close()
            store.close()

    state, alerts = run(go())
    assert state is NodeState.ERROR
    assert any("no answer from the machine" in a.message for a in alerts)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_on_the_replies_never_skips_or_doubles_a_line(seed: int) -> None:
    """Damaged replies (a lost ok, a garbled resend request) may stop a job, never skip or repeat a line."""
    commands = [f"G1 X{i} Y{i % 7}" for i in range(300)]

    async def go():
        emu = MarlinEmulator(MarlinFaults(corrupt_rate=0.03, reply_corrupt_rate=0.03, seed=seed, autoreport=False))
        emu.start()
        d = MarlinDriver("m1", emu.path, connect_timeout_s=5, poll_interval_s=100, stall_timeout_s=5)
        d.codec.comm_timeout_s = 0.2  # a lost ok is asked for quickly
        try:
            await d.connect()
            await d.execute(JobRequest(gcode_lines=commands))
            fin = await d.wait_job()
            return fin, emu
        finally:
            await d.disconnect()
            emu.stop()

    fin, emu = run(go())
    assert emu.replies_corrupted > 0
    done = job_lines(emu.accepted)
    assert done == commands[:len(done)]  # in order, none skipped, none twice
    if fin.outcome is JobOutcome.COMPLETED:
        assert done == commands
    else:  # a failure stops safely and says where
        assert fin.outcome is JobOutcome.FAILED and fin.checkpoint is not None
        assert fin.checkpoint.lines_acked <= len(done)
