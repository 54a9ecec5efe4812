"""Site server and node agents as systemd services (issue 17): the units ``imewe service install`` writes and the
ones the package ships, checked by systemd-analyze when it is there; logs reach the journal under systemd."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.main import main
from app.cli.service_units import PACKAGED_IMEWE, packaged_units

ROOT = Path(__file__).resolve().parents[1]
ANALYZE = shutil.which("systemd-analyze")


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return rc, out.getvalue(), err.getvalue()


def _verify(unit: Path) -> None:
    if ANALYZE is None:
        return  # the unit's text is still checked by the assertions of each test
    proc = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


def test_install_writes_a_unit_with_the_agents_arguments(tmp_path: Path) -> None:
    units = tmp_path / "units"
    rc, out, err = _cli("--home", str(tmp_path / "h"), "service", "install", "--user", "--dry-run", "--unit-dir",
                        str(units), "--name", "mk4", "node", "--driver", "marlin", "--port", "/dev/ttyUSB0",
                        "--name", "Prusa MK4", "--files", "/srv/g code/50%")
    assert rc == 0, err
    unit = units / "imewe-node-mk4.service"
    text = unit.read_text(encoding="utf-8")
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_line.endswith(' node --driver marlin --port /dev/ttyUSB0 --name "Prusa MK4" --files "/srv/g code/50%%"')
    assert f"--home {tmp_path / 'h'}" in exec_line  # the home given to the command is the service's
    assert "WantedBy=default.target" in text and "DynamicUser" not in text
    assert "would run: systemctl --user enable --now imewe-node-mk4.service" in out
    _verify(unit)

    rc, out, err = _cli("service", "install", "--dry-run", "--unit-dir", str(units), "serve")
    assert rc == 0, err
    system = (units / "imewe-serve.service").read_text(encoding="utf-8")
    assert "DynamicUser=yes" in system and "StateDirectory=imewe" in system and "WantedBy=multi-user.target" in system
    _verify(units / "imewe-serve.service")

    rc, out, err = _cli("service", "remove", "--user", "--dry-run", "--unit-dir", str(units), "--name", "mk4", "node")
    assert rc == 0 and not unit.exists() and "systemctl --user disable --now imewe-node-mk4.service" in out


@pytest.mark.parametrize("argv", [
    ["service", "install", "--dry-run"],  # no kind
    ["service", "install", "--dry-run", "agent"],
    ["service", "install", "--dry-run", "--name", "../x", "serve"],
    ["service", "remove", "--dry-run", "--unit-dir", "/nonexistent-imewe", "serve"],
])
def test_bad_service_commands_are_one_line(argv: list[str]) -> None:
    try:
        rc, _, err = _cli(*argv)
    except SystemExit as exc:  # argparse's own usage errors
        rc, err = int(exc.code or 0), "usage"
    assert rc == 2 and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(Path("/run/systemd/system").is_dir(), reason="systemd runs here: install would really enable")
def test_without_systemd_install_says_so_and_writes_nothing(tmp_path: Path) -> None:
    rc, _, err = _cli("service", "install", "--user", "--unit-dir", str(tmp_path / "u"), "serve")
    assert rc == 2 and "systemd is not running on this machine" in err
    assert not (tmp_path / "u").exists()


def test_the_packaged_units_are_the_generated_ones_and_valid(tmp_path: Path) -> None:
    shipped = {str(p.relative_to(ROOT / "installer/systemd")): p.read_text(encoding="utf-8")
               for p in (ROOT / "installer/systemd").rglob("*.service")}
    assert shipped == packaged_units()  # regenerate with the snippet in installer/README.md if this fails
    for rel, text in shipped.items():
        assert "EnvironmentFile=-" in text and "$IMEWE_" in text
        # verify with an executable that exists here in place of the installed /usr/bin/imewe
        unit = tmp_path / rel
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(text.replace(PACKAGED_IMEWE, sys.executable), encoding="utf-8")
        _verify(unit)


_LOGGER = """
import logging, sys
from app.bootstrap import setup_logging
from app.core.config import load_config
setup_logging(load_config(sys.argv[1]))
logging.getLogger("app.test").warning("pump stalled")
logging.getLogger("app.test").info("all well")
"""


@pytest.mark.parametrize("under_systemd", [True, False])
def test_logs_reach_the_journal_only_under_systemd(tmp_path: Path, under_systemd: bool) -> None:
    stream = tmp_path / "stderr"
    with stream.open("w") as err:
        st = os.fstat(err.fileno())
        env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "INVOCATION_ID")}
        env["PYTHONPATH"] = str(ROOT)
        if under_systemd:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"  # what systemd sets: stderr is the journal
        else:
            env["JOURNAL_STREAM"] = "1:2"  # a journal stream that is not our stderr (a child of a service)
        subprocess.run([sys.executable, "-c", _LOGGER, str(tmp_path / "home")], stderr=err, env=env, timeout=60,
                       check=True)
    text = stream.read_text(encoding="utf-8")
    logged = (tmp_path / "home/logs/imewe.log").read_text(encoding="utf-8")
    assert "pump stalled" in logged  # the log file either way
    if under_systemd:
        assert "<4>app.test: pump stalled" in text  # priority 4: warning
    else:
        assert text == ""
