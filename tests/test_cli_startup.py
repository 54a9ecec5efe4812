"""Fast start: ``imewe --help`` and light commands load only what they use (issue 17), and no command or help is
lost by registering commands lazily."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import app.cli as cli_pkg
from app.cli.main import build_parser, main
from app.cli.registry import COMMANDS, command_word, unlisted_modules

ROOT = Path(__file__).resolve().parents[1]
# What the window, the 3D view, the optimiser, the learned models and the store bring: none of it for --help.
HEAVY = ("PySide6", "pyvista", "vtk", "trimesh", "ortools", "onnxruntime", "scipy", "sqlalchemy")
# A light store command needs the store (sqlalchemy), but not the rest, nor numpy or alembic on a current database.
HEAVY_FOR_STORE = ("PySide6", "pyvista", "vtk", "trimesh", "ortools", "onnxruntime", "scipy", "numpy", "alembic",
                   "cryptography", "zeroconf", "websockets")

_RUNNER = """
import json, sys
from app.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
top = {m.split('.')[0] for m in sys.modules}
sys.stderr.write(json.dumps({"code": code, "modules": sorted(top | {m for m in sys.modules if m.startswith('app.')})}))
"""


def _run(home: Path, *argv: str) -> tuple[int, str, list[str]]:
    """Run one command in a fresh interpreter; its exit code, stdout and the top-level modules it loaded (and
    every ``app.*`` module by its full name)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMEWE_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", _RUNNER, *argv], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return report["code"], proc.stdout, report["modules"]


def test_help_loads_none_of_the_heavy_packages(tmp_path: Path) -> None:
    code, out, modules = _run(tmp_path / "home", "--help")
    assert code == 0
    for name in COMMANDS:
        assert f"    {name} " in out  # every command is listed, with its help
    assert "open the control room on the local site" in out
    loaded = sorted(set(HEAVY) & set(modules))
    assert not loaded, f"imewe --help imported {loaded}"


def test_jobs_list_loads_only_the_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _run(home, "jobs", "list")[0] == 0  # the first run creates and migrates the database
    code, out, modules = _run(home, "jobs", "list")
    assert code == 0 and "no jobs" in out.lower()
    assert "sqlalchemy" in modules  # it did read the store
    loaded = sorted(set(HEAVY_FOR_STORE) & set(modules))
    assert not loaded, f"imewe jobs list imported {loaded}"
    # nor the whole operations table, nor the linked sites' tables (a write loads those when it needs them)
    owner_side = sorted({"app.core.api.operations", "app.core.sites.repo", "app.core.sites.follow"} & set(modules))
    assert not owner_side, f"imewe jobs list imported {owner_side}"


def test_sites_id_reads_the_key_without_opening_the_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, first, modules = _run(home, "--json", "sites", "id")  # the first run makes the site's key
    assert code == 0
    site_id = json.loads(first)["site_id"]
    assert not (home / "imewe.sqlite3").exists() and "sqlalchemy" not in modules
    code, out, modules = _run(home, "sites", "id")
    assert code == 0 and out.startswith(site_id + "\n")
    loaded = sorted(set(HEAVY) & set(modules))
    assert not loaded, f"imewe sites id imported {loaded}"
    # the same ID the site's owner presents: the identity in the home's keys/
    from app.core.sites.identity import load_or_create_identity

    assert load_or_create_identity(home / "keys").site_id == site_id


def test_the_registry_lists_every_command_with_the_help_its_module_gives() -> None:
    assert unlisted_modules() == []
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(cli_pkg.__path__):
        if not info.name.startswith("cmd_"):
            continue
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"app.cli.{info.name}").register(sub)
        found.update({action.dest: action.help for action in sub._choices_actions})  # noqa: SLF001
    assert found == COMMANDS


def test_the_named_command_is_registered_in_full() -> None:
    parser = build_parser("jobs")
    args = parser.parse_args(["--home", "/tmp/x", "jobs", "list", "--limit", "3"])
    assert args.limit == 3 and callable(args.handler)
    # a module that registers several commands: the named one is whole, the others are not registered twice
    args = build_parser("whoami").parse_args(["whoami"])
    assert callable(args.handler)


@pytest.mark.parametrize(("argv", "word"), [
    (["jobs", "list"], "jobs"), (["--home", "/x", "sites", "id"], "sites"), (["--db=sqlite:///x", "-v", "kernel"],
                                                                             "kernel"),
    (["--json", "--home", "jobs", "nodes"], "nodes"), (["--help"], None), ([], None), (["--", "jobs"], None)])
def test_command_word(argv: list[str], word: str | None) -> None:
    assert command_word(argv) == word


def test_subcommand_help_and_usage_errors_still_work(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["jobs", "--help"])
    assert exc.value.code == 0
    assert "reschedule" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["nosuch"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "invalid choice: 'nosuch'" in err and "'telemetry'" in err
    assert len(err.strip().splitlines()) == 1


def test_store_check_skips_alembic_only_at_the_migration_scripts_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from app.core.store.db import MIGRATIONS, script_heads

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert script_heads() == frozenset(ScriptDirectory.from_config(cfg).get_heads())


def test_network_drivers_are_imported_when_first_used() -> None:
    """A site with no network printer loads none of their protocols; the registry still names every kind, and
    each entry is the class of that kind."""
    code = ("import json, sys\n"
            "from app.devices.factory import NETWORK_DRIVERS, make_driver\n"
            "before = sorted(m for m in sys.modules if m.startswith('app.devices.network.') or m in ('httpx', 'aiomqtt'))\n"
            "kinds = list(NETWORK_DRIVERS)\n"
            "octo = NETWORK_DRIVERS['octoprint']\n"
            "after = sorted(m for m in sys.modules if m.startswith('app.devices.network.'))\n"
            "print(json.dumps({'before': before, 'kinds': kinds, 'after': after}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    report = json.loads(proc.stdout)
    assert report["before"] == ["app.devices.network.backoff"], report["before"]
    assert report["kinds"] == ["octoprint", "moonraker", "prusalink", "duet", "bambu"]
    assert "app.devices.network.octoprint" in report["after"] and "app.devices.network.bambu" not in report["after"]
    from app.devices.factory import NETWORK_DRIVERS

    assert all(NETWORK_DRIVERS[kind].kind == kind for kind in NETWORK_DRIVERS)
    assert "serial" not in NETWORK_DRIVERS and "duet" in NETWORK_DRIVERS and len(NETWORK_DRIVERS) == 5


def test_the_program_exits_with_mains_code_and_flushed_output(tmp_path: Path) -> None:
    """``imewe`` (``app.cli.main:run``) skips the interpreter's last garbage collections: what it printed, its log
    and its exit code are still all there."""
    assert 'imewe = "app.cli.main:run"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMEWE_HOME": str(tmp_path / "home")}
    for module in ("app", "app.cli.main"):
        ok = subprocess.run([sys.executable, "-m", module, "jobs", "list"], capture_output=True, text=True, env=env,
                            timeout=120, check=False)
        assert ok.returncode == 0 and "no jobs" in ok.stdout.lower(), ok.stderr
        bad = subprocess.run([sys.executable, "-m", module, "jobs", "show", "no-such-job"], capture_output=True,
                             text=True, env=env, timeout=120, check=False)
        assert bad.returncode == 2 and bad.stderr.startswith("imewe: ") and "Traceback" not in bad.stderr
    assert (tmp_path / "home" / "logs" / "imewe.log").stat().st_size > 0
