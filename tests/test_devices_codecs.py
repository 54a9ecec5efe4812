"""The Marlin and GRBL codecs, driven by feeding bytes (no I/O)."""

from __future__ import annotations

import pytest

from app.devices import grbl_codec as gc
from app.devices import marlin_codec as mc
from app.devices.gcode import commands_from_lines, numbered, xor_checksum

M115 = (b"FIRMWARE_NAME:Marlin 2.1.2 (Jun 1 2024) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
        b"PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 V2 EXTRUDER_COUNT:1 UUID:abc\n"
        b"Cap:AUTOREPORT_TEMP:1\nCap:EMERGENCY_PARSER:1\nok\n")


def ready_marlin(autoreport: bool = True) -> mc.MarlinCodec:
    c = mc.MarlinCodec()
    c.start()
    assert c.data_to_send() == numbered(0, "M110 N0")
    c.receive_data(b"ok\n")
    assert c.data_to_send() == numbered(1, "M115")
    m115 = M115 if autoreport else M115.replace(b"AUTOREPORT_TEMP:1", b"AUTOREPORT_TEMP:0")
    events = c.receive_data(m115)
    ready = [e for e in events if isinstance(e, mc.Ready)]
    assert ready and ready[0].firmware["MACHINE_TYPE"] == "Ender-3 V2"
    assert ready[0].firmware["FIRMWARE_NAME"].startswith("Marlin 2.1.2")
    return c


def test_checksum_is_xor_of_the_numbered_line() -> None:
    # Worked by hand: XOR of the bytes of "N1 M115" is 39.
    assert xor_checksum(b"N1 M115") == 39
    assert numbered(1, "M115") == b"N1 M115*39\n"


def test_marlin_handshake_turns_on_autoreport_and_streams_with_line_numbers() -> None:
    c = ready_marlin()
    assert c.autoreport
    assert c.data_to_send() == numbered(2, "M155 S2")
    c.receive_data(b"ok\n")
    c.start_job(["G28", "G1 X10"])
    assert c.data_to_send() == numbered(3, "G28")
    ev = c.receive_data(b"echo:busy: processing\n")
    assert isinstance(ev[0], mc.Busy) and c.data_to_send() == b""  # busy keeps the line in flight
    ev = c.receive_data(b"ok\n")
    assert mc.LineAcked(0, 3) in ev
    assert c.data_to_send() == numbered(4, "G1 X10")
    ev = c.receive_data(b"ok\n")
    assert mc.LineAcked(1, 4) in ev and not any(isinstance(e, mc.JobDone) for e in ev)
    assert c.data_to_send() == numbered(5, "M400")  # every line acknowledged: wait for the planner to empty
    c.receive_data(b"echo:busy: processing\n")
    ev = c.receive_data(b"ok\n")
    assert mc.JobDone(2) in ev


# ---------------------------------------------------------------- transmission errors vs machine faults
def streaming_marlin() -> mc.MarlinCodec:
    c = ready_marlin()
    c.receive_data(b"ok\n")  # M155
    c.data_to_send()
    c.start_job(["G1 X1", "G1 X2", "G1 X3"])
    assert c.data_to_send() == numbered(3, "G1 X1")
    c.receive_data(b"ok\n")
    assert c.data_to_send() == numbered(4, "G1 X2")
    return c


def test_marlin_resend_serves_the_line_from_history_and_does_not_count_the_rejected_ok() -> None:
    c = streaming_marlin()
    ev = c.receive_data(b"Error:checksum mismatch, Last Line: 3\nResend: 4\nok\n")
    assert mc.ResendRequested(4, "checksum mismatch, Last Line: 3") in ev
    assert not any(isinstance(e, (mc.LineAcked, mc.FirmwareError)) for e in ev)
    assert c.data_to_send() == numbered(4, "G1 X2")  # the same line again, same number
    ev = c.receive_data(b"ok\n")
    assert mc.LineAcked(1, 4) in ev
    # the short "rs" form used by RepRap firmwares
    assert c.data_to_send() == numbered(5, "G1 X3")
    c.receive_data(b"rs N5\nok\n")
    assert c.data_to_send() == numbered(5, "G1 X3")


def test_marlin_polls_m105_without_autoreport_and_parses_temperatures() -> None:
    c = ready_marlin(autoreport=False)
    assert c.data_to_send() == b""
    c.tick(100.0)
    assert c.data_to_send() == numbered(2, "M105")
    ev = c.receive_data(b"ok T:210.3 /210.0 B:59.8 /60.0 T0:210.3 /210.0 T1:25.0 /0.0 @:64 B@:127\n")
    temps = next(e for e in ev if isinstance(e, mc.Temperatures)).metrics
    assert temps == {"nozzle_c": 210.3, "nozzle_target_c": 210.0, "bed_c": 59.8, "bed_target_c": 60.0,
                     "nozzle1_c": 25.0, "nozzle1_target_c": 0.0}
    c.tick(100.5)
    assert c.data_to_send() == b""  # not again before the poll interval


def test_marlin_firmware_error_and_reset_and_estop() -> None:
    c = ready_marlin()
    c.data_to_send()
    ev = c.receive_data(b"Error:Thermal Runaway, system stopped! Heater_ID: 0\nError:Printer halted. kill() called!\n")
    assert ev == []  # an error waits to see whether a resend request follows
    c.tick(100.0)
    ev = c.tick(100.6)  # none did: a machine fault
    assert mc.FirmwareError("Thermal Runaway, system stopped! Heater_ID: 0; Printer halted. kill() called!") in ev
    c.start_job(["G1 X1"] * 5)
    assert c.emergency_stop() == b"M112\n"
    assert c.job_position() == (0, 0)
    ev = c.receive_data(b"start\n")
    assert isinstance(ev[0], mc.FirmwareReset)
    assert c.data_to_send() == numbered(0, "M110 N0")  # a reset restarts the handshake


def test_marlin_resend_of_a_forgotten_line_is_a_protocol_error() -> None:
    c = mc.MarlinCodec(history_size=5)
    c.start()
    c.receive_data(b"ok\n" + M115 + b"ok\n")
    c.start_job([f"G1 X{i}" for i in range(20)])
    for _ in range(20):
        c.receive_data(b"ok\n")
    ev = c.receive_data(b"Resend: 3\n")
    assert any(isinstance(e, mc.ProtocolError) for e in ev)


def grbl_ready() -> gc.GrblCodec:
    c = gc.GrblCodec()
    c.start()
    assert c.data_to_send() == b"?"  # never a reset first: ask how the controller is
    c.tick(0.0)
    c.tick(3.0)  # no answer within the probe time: now a soft reset
    assert c.data_to_send() == b"\x18"
    ev = c.receive_data(b"\r\nGrbl 1.1h ['$' for help]\r\n")
    assert gc.Welcome("1.1h") in ev
    assert c.data_to_send() == b"$I\n$$\n"
    c.receive_data(b"[VER:1.1h.20190825:]\r\n[OPT:V,15,128]\r\nok\r\n")
    ev = c.receive_data(b"$0=10\r\n$32=1\r\n$130=400.000\r\nok\r\n")
    ready = next(e for e in ev if isinstance(e, gc.Ready))
    assert ready.settings[130] == "400.000" and ready.build["OPT"] == "V,15,128"
    return c


def test_grbl_character_counting_never_exceeds_128_bytes() -> None:
    c = grbl_ready()
    lines = [f"G1 X{i:03d}.123 Y{i:03d}.456 F1000" for i in range(50)]  # 27 bytes with the newline
    c.start_job(lines)
    sent = c.data_to_send()
    assert len(sent) <= 128 and sent.count(b"\n") == 4  # 4 x 27 = 108; a fifth would make 135
    assert c.buffered == len(sent)
    c.receive_data(b"ok\r\n")
    more = c.data_to_send()
    assert more == (lines[4] + "\n").encode()
    assert c.buffered <= 128
    done = []
    for _ in range(49):
        done += c.receive_data(b"ok\r\n")
        c.data_to_send()
        assert c.buffered <= 128
    assert [e.index for e in done if isinstance(e, gc.LineAcked)][-1] == 49
    assert not any(isinstance(e, gc.JobDone) for e in done)  # acknowledged is not finished
    assert gc.JobDone(50) in c.receive_data(b"<Idle|MPos:0.000,0.000,0.000>\r\n")


def test_grbl_status_realtime_alarm_and_errors() -> None:
    c = grbl_ready()
    ev = c.receive_data(b"<Run|MPos:10.000,20.000,-1.500|Bf:15,128|FS:1200,8000|WCO:5.000,5.000,0.000>\r\n")
    st = ev[0]
    assert isinstance(st, gc.Status)
    assert (st.state, st.mpos, st.wpos, st.feed_mm_min, st.spindle_rpm) == \
        ("Run", (10.0, 20.0, -1.5), (5.0, 15.0, -1.5), 1200.0, 8000.0)
    ev = c.receive_data(b"<Hold:0|MPos:1.000,2.000,3.000|FS:0,0>\r\n")
    assert ev[0].state == "Hold"
    c.tick(10.0)
    c.tick(10.1)  # no more than 5 status queries a second
    assert c.data_to_send() == b"?"
    assert c.pause_job() == b"!" and c.resume_job() == b"~"
    c.start_job(["G1 X1 F100", "M6 T2", "G1 X2"])
    c.data_to_send()
    ev = c.receive_data(b"ok\r\nerror:20\r\n")
    err = next(e for e in ev if isinstance(e, gc.GrblError))
    assert err.job_index == 1 and "unsupported" in err.message and err.command == "M6 T2"
    ev = c.receive_data(b"ALARM:1\r\n")
    assert gc.Alarm(1, "alarm 1: hard limit triggered: position is lost, home the machine again") in ev
    assert c.buffered == 0


@pytest.mark.parametrize("raw,expected", [("G1 X1 ; move", "G1 X1"), ("(only a comment)", ""),
                                          ("G0 (rapid) X5", "G0  X5"), ("%", "")])
def test_commands_are_cleaned(raw: str, expected: str) -> None:
    assert commands_from_lines([raw]) == ([expected] if expected else [])


def test_marlin_lost_ok_is_recovered_after_the_timeout() -> None:
    c = ready_marlin()
    c.receive_data(b"ok\n")  # M155
    c.data_to_send()
    c.start_job(["G1 X1", "G1 X2"])
    assert c.data_to_send() == numbered(3, "G1 X1")
    c.tick(0.0)
    c.tick(5.0)
    c.receive_data(b"echo:busy: processing\n")  # keep-alives hold the timeout off
    c.tick(9.0)
    c.tick(12.0)
    assert c.data_to_send() == b"" and c.timeouts == 0
    c.tick(19.5)  # silence for 10 s with a line in flight: the ok was lost
    assert c.data_to_send() == b"M105\n" and c.timeouts == 1
    ev = c.receive_data(b"ok T:20.0 /0.0 B:20.0 /0.0\n")
    assert mc.LineAcked(0, 3) in ev
    assert c.data_to_send() == numbered(4, "G1 X2")


# How real firmwares answer a damaged line. None of these wordings is known to the codec: only the shape counts
# (an error line, or none, then a resend request; with or without a trailing ok).
WORDINGS = {
    "marlin2_line_number": b"Error:Line Number is not Last Line Number+1, Last Line: 3\nResend: 4\nok\n",
    "marlin2_checksum": b"Error:checksum mismatch, Last Line: 3\nResend: 4\nok\n",
    "marlin2_no_checksum": b"Error:No Checksum with line number, Last Line: 3\nResend: 4\nok\n",
    "marlin1_no_line_number": b"Error:No Line Number with checksum, Last Line: 3\nResend:4\nok\n",
    "missing_checksum": b"Error: Missing checksum\nResend: 4\nok\n",
    "prusa_style": b"Error:checksum mismatch, Last Line: 3\nResend: 4\nok\n",
    "reprapfirmware_style": b"Error: Bad command checksum\nrs 4\nok\n",
    "lowercase_error": b"error:line corrupted\nResend: N4\nok\n",
    "teacup_style_rs_with_text": b"rs N4 Expected checksum 66\nok\n",
    "smoothie_rs_only": b"rs N4\r\n",
    "smoothie_bang_then_rs": b"!! checksum failed\r\nrs N4\r\n",
    "words_never_seen": b"Error:zzz quux frobnicated, LL=3\nResend: 4\nok\n",
}


@pytest.mark.parametrize("name", sorted(WORDINGS))
def test_an_error_followed_by_a_resend_request_is_a_transmission_error_whatever_its_wording(name: str) -> None:
    c = streaming_marlin()
    ev = c.receive_data(WORDINGS[name])
    c.tick(10.0)
    ev += c.tick(10.4)  # past the resend-ok grace (firmwares that send no ok after "rs") and the error grace
    ev += c.tick(11.0)
    assert any(isinstance(e, mc.ResendRequested) and e.line_no == 4 for e in ev)
    assert not any(isinstance(e, (mc.FirmwareError, mc.ProtocolError, mc.LineAcked)) for e in ev), ev
    assert c.data_to_send() == numbered(4, "G1 X2")  # the same line again under the same number
    ev = c.receive_data(b"ok\n")
    assert mc.LineAcked(1, 4) in ev  # and it goes on
    assert c.data_to_send() == numbered(5, "G1 X3")
    assert c.resends == 1


@pytest.mark.parametrize("reply", [b"Error:Printer halted. kill() called!\n", b"Error: Heating failed\nok\n",
                                   b"!!\n", b"error:MINTEMP triggered\nok\n"])
def test_an_error_no_resend_follows_is_a_machine_fault(reply: bytes) -> None:
    c = streaming_marlin()
    ev = c.receive_data(reply)
    ev += c.tick(20.0)
    ev += c.tick(20.6)
    assert any(isinstance(e, mc.FirmwareError) for e in ev), ev
    assert not any(isinstance(e, mc.ResendRequested) for e in ev)


def test_whether_an_ok_follows_a_resend_is_learnt_from_the_firmware() -> None:
    c = streaming_marlin()
    c.tick(1.0)
    c.receive_data(b"rs N4\n")  # Smoothieware: no ok follows
    assert c.data_to_send() == b""  # waits a moment for a trailing ok...
    c.tick(1.4)
    assert c.data_to_send() == numbered(4, "G1 X2")  # ...none came: resend
    c.receive_data(b"ok\n")
    assert c.data_to_send() == numbered(5, "G1 X3")
    c.receive_data(b"rs N5\n")
    assert c.data_to_send() == numbered(5, "G1 X3")  # learnt: at once from now on


def test_marlin_stall_without_progress_or_busy_is_reported_once() -> None:
    c = streaming_marlin()
    c.stall_timeout_s = 3.0
    assert c.tick(50.0) == []
    assert c.tick(52.0) == []
    c.receive_data(b"echo:busy: processing\n")  # life at 52.0
    assert c.tick(54.5) == []
    c.receive_data(b" T:200.0 /200.0 B:60.0 /60.0\n@@garbage\xff\n")  # temperatures and garbage are not life
    ev = c.tick(55.1)
    stall = next(e for e in ev if isinstance(e, mc.Stalled))
    assert stall.index == 1 and stall.file_line == 2
    assert c.tick(60.0) == []  # once


def test_file_line_numbers_follow_the_file_not_the_stream() -> None:
    from app.devices.gcode import program_from_lines

    cmds, lines = program_from_lines(["; header", "", "G28 ; home", "(comment)", "G1 X1", "%", "M6 T2"])
    assert cmds == ["G28", "G1 X1", "M6 T2"] and lines == [3, 5, 7]
    c = grbl_ready()
    c.start_job(cmds, file_lines=lines)
    c.data_to_send()
    ev = c.receive_data(b"ok\r\nok\r\nerror:20\r\n")
    err = next(e for e in ev if isinstance(e, gc.GrblError))
    assert (err.job_index, err.file_line, err.command) == (2, 7, "M6 T2")


def test_grbl_job_is_done_only_when_a_fresh_status_says_idle_with_an_empty_planner() -> None:
    c = grbl_ready()
    c.build["OPT"] = "V,15,128"
    c.start_job(["G1 X10 F100", "G1 X20"])
    c.data_to_send()
    ev = c.receive_data(b"<Idle|MPos:0.000,0.000,0.000|Bf:15,128>\r\n")  # asked before the oks: stale
    ev += c.receive_data(b"ok\r\nok\r\n")
    assert not any(isinstance(e, gc.JobDone) for e in ev)
    assert c.data_to_send() == b"?"  # all acknowledged: ask at once
    ev = c.receive_data(b"<Run|MPos:5.000,0.000,0.000|Bf:14,128>\r\n")
    assert not any(isinstance(e, gc.JobDone) for e in ev)
    ev = c.receive_data(b"<Idle|MPos:20.000,0.000,0.000|Bf:14,128>\r\n")  # a block still planned
    assert not any(isinstance(e, gc.JobDone) for e in ev)
    ev = c.receive_data(b"<Idle|MPos:20.000,0.000,0.000|Bf:15,128>\r\n")
    assert gc.JobDone(2) in ev


def test_grbl_connect_takes_an_idle_or_alarmed_controller_as_it_is_and_never_resets_a_moving_one() -> None:
    for state in ("Idle", "Alarm"):
        c = gc.GrblCodec()
        c.start()
        assert c.data_to_send() == b"?"
        c.receive_data(f"<{state}|MPos:0.000,0.000,0.000>\r\n".encode())
        assert c.data_to_send() == b"$I\n$$\n"  # straight to the handshake, no Ctrl-X
        c.receive_data(b"[VER:1.1h.20190825:]\r\nok\r\n$0=10\r\nok\r\n")
        assert c.ready
    c = gc.GrblCodec()
    c.start()
    c.data_to_send()
    c.receive_data(b"<Run|MPos:1.000,0.000,0.000>\r\n")
    for t in range(20):
        c.tick(t * 0.3)
    sent = c.data_to_send()
    assert b"\x18" not in sent and set(sent) == {ord("?")}  # keeps asking, never resets it


def test_autoreported_temperatures_do_not_hide_a_lost_ok_but_count_while_heating() -> None:
    c = streaming_marlin()  # G1 X2 in flight
    c.tick(0.0)
    for t in (2.0, 4.0, 6.0, 8.0):
        c.tick(t)
        c.receive_data(b" T:200.0 /200.0 B:60.0 /60.0 @:0 B@:0\n")
    c.tick(10.5)
    assert c.data_to_send() == b"M105\n" and c.timeouts == 1  # temperatures kept coming, the ok did not
    c.receive_data(b"ok T:200.0 /200.0\n")
    assert c.data_to_send() == numbered(5, "G1 X3")
    c.receive_data(b"ok\n")
    c.data_to_send()  # M400
    c.receive_data(b"ok\n")
    c.stall_timeout_s = 3.0
    c.start_job(["M109 S215", "G1 X4"])
    assert c.data_to_send() == numbered(7, "M109 S215")
    events = c.tick(20.0)
    for t in range(21, 40):  # an old firmware without the busy protocol: temperature lines while it heats
        c.receive_data(b"T:210.4 E:0 W:?\n")
        events += c.tick(float(t))
    assert not any(isinstance(e, mc.Stalled) for e in events) and c.timeouts == 1


def test_a_resend_request_damaged_on_the_wire_is_still_a_transmission_error() -> None:
    c = streaming_marlin()  # N4 G1 X2 in flight
    ev = c.receive_data(b"Error:checksum mismatch, Last Line: 3\nResemd: 4\nok\n")
    assert any(isinstance(e, mc.ResendRequested) and e.line_no == 4 for e in ev)
    assert not any(isinstance(e, (mc.FirmwareError, mc.LineAcked)) for e in ev)
    assert c.data_to_send() == numbered(4, "G1 X2")


def test_a_resend_of_a_line_never_sent_is_taken_as_noise_once_then_as_a_lost_count() -> None:
    c = streaming_marlin()  # N4 G1 X2 in flight
    c.receive_data(b"Error:checksum mismatch, Last Line: 3\nResend: 9\nok\n")  # the 4 was damaged into a 9
    assert c.data_to_send() == numbered(4, "G1 X2")  # the same line, same number
    c.receive_data(b"Error:Line Number is not Last Line Number+1, Last Line: 8\nResend: 9\nok\n")
    assert c.data_to_send() == numbered(9, "G1 X2")  # asked again: the printer really expects 9 now
    assert mc.LineAcked(1, 9) in c.receive_data(b"ok\n")
