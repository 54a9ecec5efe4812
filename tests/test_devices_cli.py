"""``imewe run`` and ``imewe node`` as an operator runs them: real processes, real ptys, real sockets."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.core.drivers import DriverState
from app.devices.agent_client import AgentDriver
from app.devices.emulators.grbl_emulator import GrblEmulator, GrblFaults
from app.devices.emulators.marlin_emulator import MarlinEmulator, MarlinFaults

ROOT = Path(__file__).resolve().parents[1]


def imewe(*args: str, home: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMEWE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "app.cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_run_streams_a_real_slicer_file_and_exits_0(shared: Path, tmp_path: Path) -> None:
    gfile = shared / "data" / "gcode" / "gcode-preview_vase_prusaslicer2.7.4_ender.gcode"
    with MarlinEmulator(MarlinFaults(corrupt_rate=0.005)) as emu:
        r = imewe("run", str(gfile), "--driver", "marlin", "--port", emu.path, home=tmp_path)
        executed = [c for c in emu.accepted if c[:1] in "GMT" and not c.startswith(("M110", "M115", "M155"))]
    assert r.returncode == 0, r.stderr
    assert executed.pop() == "M400"  # done means the printer said its planner is empty
    m = re.search(r"all (\d+) lines acknowledged", r.stdout)
    assert m and int(m.group(1)) == len(executed) > 5000
    assert "100%" in r.stderr  # the progress bar reached the end
    assert list((tmp_path / "logs" / "devices").glob("marlin-*.log"))


def test_run_ends_non_zero_with_a_clear_message_on_firmware_error_and_alarm(shared: Path, tmp_path: Path) -> None:
    lines = tmp_path / "job.gcode"
    lines.write_text("\n".join(f"G1 X{i}" for i in range(500)))
    with MarlinEmulator(MarlinFaults(error_after_lines=100)) as emu:
        r = imewe("run", str(lines), "--driver", "marlin", "--port", emu.path, "--quiet", home=tmp_path)
    assert r.returncode == 3
    assert "Thermal Runaway" in r.stderr and "of 500 lines" in r.stderr and "Traceback" not in r.stderr
    ngc = shared / "data" / "gcode" / "ugs_ShapeOko_Calibration_Pattern_01b.ngc"
    with GrblEmulator() as emu:
        r = imewe("--json", "run", str(ngc), "--driver", "grbl", "--port", emu.path, home=tmp_path)
    assert r.returncode == 3
    assert "error 20" in r.stderr and '"outcome": "failed"' in r.stdout


def test_run_refuses_bad_input_without_a_traceback(tmp_path: Path) -> None:
    r = imewe("run", str(tmp_path / "missing.gcode"), "--driver", "marlin", "--port", "/dev/null", home=tmp_path)
    assert r.returncode == 2 and "no G-code file" in r.stderr
    f = tmp_path / "a.gcode"
    f.write_text("G28\n")
    r = imewe("run", str(f), "--driver", "grbl", "--port", str(tmp_path / "ttyNOPE"), home=tmp_path)
    assert r.returncode == 2 and "cannot open serial port" in r.stderr and "Traceback" not in r.stderr


def test_node_command_serves_a_simulated_machine(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMEWE_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "node", "--driver", "sim", "--process", "sla",
                             "--name", "resin-1", "--listen", "127.0.0.1", "--ws-port", "0", "--no-advertise",
                             "--token", "a-long-token"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        port = int(re.search(r"wss://127\.0\.0\.1:(\d+)", first).group(1))
        while "fingerprint" not in first:
            first += proc.stdout.readline()
        fp = re.search(r"fingerprint ([0-9a-f ]+?)  ", first).group(1).replace(" ", "")

        async def talk():
            d = AgentDriver(f"wss://127.0.0.1:{port}", "a-long-token", expected_fingerprint=fp)
            await d.connect()
            caps, name, state = d.capabilities, d.name, d.state
            await d.disconnect()
            return caps, name, state

        caps, name, state = asyncio.run(talk())
        assert caps.process.value == "sla" and name == "resin-1" and state is DriverState.IDLE
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
    assert rc == 0
    assert (tmp_path / "keys" / "node-resin-1.key").exists()


def test_run_exits_0_only_when_grbl_has_stopped_moving_and_the_next_run_does_not_reset_it(tmp_path: Path) -> None:
    ngc = tmp_path / "square.ngc"
    ngc.write_text("G21 G90\nF3000\n" + "".join(f"G1 X{x} Y{y}\n" for x, y in
                                                 [(20, 0), (20, 20), (0, 20), (0, 0)]))  # 4 x 0.4 s
    with GrblEmulator(GrblFaults(time_scale=1.0)) as emu:
        t0 = time.monotonic()
        r = imewe("run", str(ngc), "--driver", "grbl", "--port", emu.path, "--quiet", home=tmp_path)
        took = time.monotonic() - t0
        after = (emu.state, len(emu._planner))
        r2 = imewe("run", str(ngc), "--driver", "grbl", "--port", emu.path, "--quiet", home=tmp_path)
        resets, alarm3 = emu.resets, emu.alarm3
    assert r.returncode == 0, r.stderr
    assert took >= 1.6 and after == ("Idle", 0)  # it returned only once the 1.6 s of motion had run
    assert r2.returncode == 0, r2.stderr
    assert resets == 0 and alarm3 == 0


def test_run_failures_are_one_line_and_the_stall_timeout_comes_from_the_config(tmp_path: Path) -> None:
    job = tmp_path / "job.gcode"
    job.write_text("\n".join(f"G1 X{i}" for i in range(500)))
    (tmp_path / "config.toml").write_text("[serial]\nstall_timeout_s = 0.5\n")
    with MarlinEmulator(MarlinFaults(silent_after_lines=100)) as emu:
        r = imewe("run", str(job), "--driver", "marlin", "--port", emu.path, "--quiet", home=tmp_path)
    assert r.returncode == 3
    assert r.stderr.count("\n") == 1, r.stderr  # no warning lines around the error
    assert "no answer from the machine for 0.5 s" in r.stderr and "file line" in r.stderr
    with MarlinEmulator(MarlinFaults(error_after_lines=100)) as emu:
        r = imewe("run", str(job), "--driver", "marlin", "--port", emu.path, "--quiet", "--stall-timeout", "5",
                  home=tmp_path)
    assert r.returncode == 3 and r.stderr.count("\n") == 1, r.stderr
    assert "Thermal Runaway" in r.stderr and "heaters and fan off" in r.stderr


def test_run_unlock_and_home_flags_clear_a_homing_lock(tmp_path: Path) -> None:
    ngc = tmp_path / "a.ngc"
    ngc.write_text("G21\nG1 X1 F500\n")
    with GrblEmulator(GrblFaults(homing_lock=True)) as emu:
        r = imewe("run", str(ngc), "--driver", "grbl", "--port", emu.path, "--quiet", home=tmp_path)
        assert r.returncode == 3 and r.stderr.count("\n") == 1
        assert "alarm" in r.stderr and "--unlock" in r.stderr and "--home" in r.stderr
        r = imewe("run", str(ngc), "--driver", "grbl", "--port", emu.path, "--quiet", "--home", home=tmp_path)
        assert r.returncode == 0, r.stderr  # (--unlock is the same path with $X: see test_devices_serial)
        assert emu.resets == 0


def test_ctrl_c_at_any_moment_of_the_first_second_is_one_line(tmp_path: Path) -> None:
    job = tmp_path / "job.gcode"
    job.write_text("\n".join(f"G1 X{i}" for i in range(20000)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMEWE_HOME": str(tmp_path)}
    for delay in (0.3, 0.6, 1.0):  # earlier than ~0.2 s the interpreter itself is still starting
        with MarlinEmulator() as emu:
            p = subprocess.Popen([sys.executable, "-m", "app.cli.main", "run", str(job), "--driver", "marlin",
                                  "--port", emu.path, "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=30)
        assert "Traceback" not in err, (delay, err)
        # 130 from our handler; -2 when Python itself ends on the signal after our line (seen under heavy load)
        assert p.returncode in (130, -2) and err.count("\n") == 1 and "interrupted" in err, (delay, err)
