"""imewe telemetry export|import|prune through the real command, on a real SQLite file in a temp home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli.main import main

NODE = "00000000-0000-0000-0000-0000000000aa"


@pytest.fixture(autouse=True)
def _known_machine() -> None:
    """The machine the files speak of is registered on the site (import refuses readings of unknown machines)."""
    import os

    from app.core.config import load_config
    from app.core.store.db import open_store
    from tests.test_telemetry_support import register_nodes

    store = open_store(load_config(os.environ["IMEWE_HOME"]).db_url)
    try:
        register_nodes(store, [NODE])
    finally:
        store.close()


def _write(path: Path, n: int, year: int = 2020) -> None:
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"node_id": NODE, "timestamp": f"{year}-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
                                "metrics": {"temperature": 40.0 + i, "vibration": 0.1}}) + "\n")


def test_import_export_prune_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    _write(src, 120)
    assert main(["--json", "telemetry", "import", str(src)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert (res["samples"], res["records"]) == (240, 120)

    out = tmp_path / "out.csv"
    assert main(["telemetry", "export", str(out), "--since", "2020-01-01T00:01:00Z"]) == 0
    assert "exported 120 values" in capsys.readouterr().out
    lines = out.read_text().splitlines()
    assert lines[0] == "node_id,job_id,timestamp,metric,value" and len(lines) == 121

    roll = tmp_path / "roll.csv"
    assert main(["telemetry", "export", str(roll), "--rollups"]) == 0
    capsys.readouterr()
    rows = roll.read_text().splitlines()
    assert len(rows) == 1 + 2 * 2  # two minutes, two metrics
    assert rows[1].split(",")[3] == "60"

    old = tmp_path / "old.jsonl"
    assert main(["--json", "telemetry", "prune", "--export", str(old)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["raw_deleted"] == 240 and res["rollups_deleted"] == 4  # 2020 is older than 90 days too
    assert res["exported"]["samples"] == 240 and len(old.read_text().splitlines()) == 120


def test_prune_keeps_rollups_within_their_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime, timedelta

    recent = datetime.now(UTC) - timedelta(days=3)
    src = tmp_path / "in.json"
    src.write_text(json.dumps([{"node_id": NODE, "timestamp": (recent + timedelta(seconds=i)).isoformat(),
                                "metrics": {"power_w": 100.0 + i}} for i in range(30)]))
    assert main(["telemetry", "import", str(src)]) == 0
    capsys.readouterr()
    assert main(["--json", "telemetry", "prune"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["raw_deleted"] == 30 and res["rollups_deleted"] == 0
    roll = tmp_path / "r.csv"
    assert main(["telemetry", "export", str(roll), "--rollups"]) == 0
    assert len(roll.read_text().splitlines()) >= 2


@pytest.mark.parametrize("content, words", [
    ("not json at all", "not valid JSON"),
    (json.dumps([{"node_id": NODE, "timestamp": "yesterday", "metrics": {"t": 1}}]), "ISO 8601"),
])
def test_bad_files_give_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                       words: str) -> None:
    p = tmp_path / ("bad.jsonl" if "not json" in content else "bad.json")
    p.write_text(content)
    assert main(["telemetry", "import", str(p)]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert main(["telemetry", "export", str(tmp_path / "x.xlsx")]) == 2
    assert "unknown telemetry format" in capsys.readouterr().err
