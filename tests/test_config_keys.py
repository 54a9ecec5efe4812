"""Configuration says what it ignores: unknown keys are named with the nearest known one, every README example
loads with no warning, and the schema's defaults are the ones the services use."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from app.core.config import SCHEMA, check_config, load_config
from app.core.energy.config import site_from_config
from app.core.sites.config import SitesConfig
from app.core.telemetry.rules import RuleLimits
from app.core.telemetry.service import TelemetrySettings

ROOT = Path(__file__).resolve().parents[1]


def readme_toml_examples() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)


def imewe(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, IMEWE_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "app.cli.main", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_the_readme_has_toml_examples() -> None:
    assert readme_toml_examples(), "README.md should show config.toml"


@pytest.mark.parametrize("example", readme_toml_examples())
def test_every_readme_example_loads_with_no_unknown_key(tmp_path: Path, example: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(example, encoding="utf-8")
    config = load_config(str(home))
    assert config.problems == []
    # ... and the services take what it says, not their defaults.
    raw = tomllib.loads(example)
    if "telemetry" in raw:
        s = TelemetrySettings.from_config(config.section("telemetry"))
        if "raw_hours" in raw["telemetry"]:
            assert s.raw_keep_s == raw["telemetry"]["raw_hours"] * 3600
        if "rollup_days" in raw["telemetry"]:
            assert s.rollup_keep_s == raw["telemetry"]["rollup_days"] * 86400
    if "energy" in raw:
        site = site_from_config(config.section("energy"))
        if "power_cap_kw" in raw["energy"]:
            assert site.power_cap_kw == raw["energy"]["power_cap_kw"]
    if "sites" in raw:
        sites = SitesConfig.from_config(config)
        for k, v in raw["sites"].items():
            assert getattr(sites, k) == v


@pytest.mark.parametrize(("toml", "message"), [
    ("[telemetry]\nraw_keep_hours = 12\n", "[telemetry] raw_keep_hours is not a known key; did you mean raw_hours?"),
    ("[telemetry.rules]\nstall = 5\n", "[telemetry.rules] stall is not a known key; did you mean stall_s?"),
    ("[sites]\nheartbeat = 2\n", "[sites] heartbeat is not a known key; did you mean heartbeat_s?"),
    ("site_nmae = 'North'\n", "top level site_nmae is not a known key; did you mean site_name?"),
    ("port = 47470\n", "top level port is not a known key; it belongs in [sites]"),
    ("[telemtry]\nraw_hours = 1\n", "[telemtry] is not a known table; did you mean [telemetry]?"),
    ("[energy.solar]\ncapacity_kw = 1\nlatitude = 1\nlongitude = 2\nwether = 0.9\n",
     "[energy.solar] wether is not a known key; did you mean weather?"),
    ("[scheduler]\nplan_budget_s = 'long'\n", "[scheduler] plan_budget_s = 'long' should be a number"),
    ("[sites]\nport = true\n", "[sites] port = True should be a whole number"),
])
def test_unknown_keys_name_the_nearest_known_one(toml: str, message: str) -> None:
    assert check_config(tomllib.loads(toml)) == [message]


def test_free_tables_and_numbers_are_accepted() -> None:
    raw = tomllib.loads("demo_scale = 30\n[telemetry.reorder_thresholds]\npla = 200\npetg = 150.5\n"
                        "[energy.grid]\ncarbon = [300, 310]\n")
    assert check_config(raw) == []
    assert check_config(tomllib.loads("[telemetry.reorder_thresholds]\npla = 'x'\n")) == [
        "[telemetry.reorder_thresholds] pla = 'x' should be a number"]


def test_schema_defaults_are_the_services_defaults() -> None:
    sites = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
             for f in dataclasses.fields(SitesConfig)}
    assert set(sites) == set(SCHEMA["sites"])
    for k, spec in SCHEMA["sites"].items():
        if k != "name":
            assert spec.default == sites[k], k
    rules = {f.name: f.default for f in dataclasses.fields(RuleLimits)}
    assert rules == {k: v.default for k, v in SCHEMA["telemetry.rules"].items()}
    t = TelemetrySettings()
    tel = SCHEMA["telemetry"]
    assert (tel["raw_hours"].default * 3600, tel["rollup_days"].default * 86400) == (t.raw_keep_s, t.rollup_keep_s)
    assert (tel["ring_capacity"].default, tel["flush_interval_s"].default, tel["reorder_default"].default,
            tel["detector"].default, tuple(tel["detector_metrics"].default)) == (
        t.ring_capacity, t.flush_interval_s, t.material_default, t.detector, t.detector_metrics)


def test_config_check_command_and_the_warning_at_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    clean = imewe(home, "config", "check")
    assert clean.returncode == 0 and "no such file" in clean.stdout
    (home / "config.toml").write_text("[telemetry]\nraw_keep_hours = 12\n[scheduler]\nmode = 'plan'\nbudget = 2\n")
    r = imewe(home, "config", "check")
    assert r.returncode == 2, r
    assert "raw_keep_hours is not a known key; did you mean raw_hours?" in r.stdout
    assert "[scheduler] budget is not a known key" in r.stdout and "2 problem(s)" in r.stdout
    assert r.stderr == ""
    # Any other command warns in one line on stderr, and still runs.
    other = imewe(home, "telemetry", "prune")
    assert other.returncode == 0, other.stderr
    lines = other.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imewe: warning: config.toml: [telemetry] raw_keep_hours")
    assert "(+1 more)" in lines[0]
    log = (home / "logs" / "imewe.log").read_text(encoding="utf-8")
    assert "raw_keep_hours is not a known key" in log and "budget is not a known key" in log
    (home / "config.toml").write_text("[telemetry]\nraw_hours = 12\n")
    fixed = imewe(home, "config", "check")
    assert fixed.returncode == 0 and "every key is known" in fixed.stdout


def test_config_keys_lists_every_key(tmp_path: Path) -> None:
    r = imewe(tmp_path / "home", "config", "keys")
    assert r.returncode == 0
    for table, keys in SCHEMA.items():
        for k, spec in keys.items():
            if spec.types is not dict and k != "*":
                assert re.search(rf"{re.escape(k)}\s", r.stdout), (table, k)


def test_an_unknown_key_warns_and_the_site_still_starts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[sites]\nport = 0\nheartbeat = 2\n[telemetry]\nraw_keep_hours = 1\n")
    config = load_config(str(home))
    assert config.problems == ["[sites] heartbeat is not a known key; did you mean heartbeat_s?",
                               "[telemetry] raw_keep_hours is not a known key; did you mean raw_hours?"]
    sites = SitesConfig.from_config(config)
    assert sites.port == 0 and sites.heartbeat_s == SCHEMA["sites"]["heartbeat_s"].default
    assert TelemetrySettings.from_config(config.section("telemetry")).raw_keep_s == 24 * 3600
