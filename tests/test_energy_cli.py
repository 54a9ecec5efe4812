"""imewe energy status|forecast through the real command with a site configured in config.toml."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.cli.main import main

CONFIG = """
[energy]
policy = "peak_shaving"
power_cap_kw = 25
base_load_kw = 0.5
[energy.solar]
capacity_kw = 20
latitude = 52.52
longitude = 13.40
[energy.battery]
capacity_kwh = 40
soc = 0.6
[energy.grid]
tariff = [[0, 7, 0.12], [7, 17, 0.25], [17, 21, 0.40], [21, 24, 0.18]]
carbon = 300
timezone = "Europe/Berlin"
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = Path(os.environ["IMEWE_HOME"])
    h.mkdir(parents=True, exist_ok=True)
    (h / "config.toml").write_text(CONFIG)
    return h


def test_status_shows_the_configured_site(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "energy", "status"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["policy"] == "peak_shaving" and d["power_cap_kw"] == 25 and d["battery_soc"] == 0.6
    assert d["today"]["load_kwh"] == 0 and d["week"]["cost"] == 0
    assert d["available_kw"] >= 25
    assert main(["energy", "status"]) == 0
    out = capsys.readouterr().out
    assert "policy peak_shaving" in out and "battery 60 %" in out


def test_forecast_hours(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "energy", "forecast", "--hours", "48"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 48
    assert any(r["solar_kw"] > 1 for r in rows) and any(r["solar_kw"] == 0 for r in rows)
    assert {r["price"] for r in rows} <= {0.12, 0.25, 0.40, 0.18}
    assert main(["energy", "forecast", "--hours", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2 + 3
    with pytest.raises(SystemExit):
        main(["energy", "forecast", "--hours", "0"])


def test_bad_energy_config_is_one_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "config.toml").write_text('[energy]\n[energy.battery]\ncapacity_kwh = "big"\n')
    assert main(["energy", "status"]) == 2
    err = capsys.readouterr().err
    assert "[energy]" in err and "Traceback" not in err
