"""Hostile input through the real CLI and the services: a clear one-line error, nothing stored, nothing corrupted."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.domain import ValidationError

from .helpers import FDM, job_spec, run_with_core

ROOT = Path(__file__).resolve().parents[1]


def imewe(home: Path, *args: str, db: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, IMEWE_HOME=str(home), PYTHONPATH=str(ROOT))
    if db:
        env["IMEWE_DB_URL"] = db
    return subprocess.run([sys.executable, "-m", "app.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=120)


BAD_PARTS = [
    ({"size": [-40, 30, 12]}, "larger than zero"),
    ({"size": [40, "abc", 12]}, "numbers"),
    ({"size": [40, 30]}, "three numbers"),
    ({"quantity": "many"}, "quantity"),
    ({"quantity": 0}, "quantity"),
    ({"quantity": 2.5}, "quantity"),
    ({"material": "unobtainium"}, "unknown material"),
    ({"material": "aluminium"}, "fdm cannot use aluminium"),
    ({"process": "teleport"}, "unknown process"),
    ({"size": [1e308, 1e308, 1e308]}, "larger than any machine"),
    ({"size": [float("nan"), 1, 1]}, "larger than zero"),
    ({"units": "furlong"}, "unknown unit"),
    ({"depends_on": [0]}, "itself"),
]


@pytest.mark.parametrize(("patch", "message"), BAD_PARTS)
def test_bad_parts_are_rejected_and_nothing_is_stored(tmp_path, db_url, patch, message) -> None:
    async def go(core):
        await core.fleet.register("P1", FDM, bring_up=True)
        spec = job_spec(parts=1)
        spec["parts"][0].update(patch)
        with pytest.raises(ValidationError, match=message):
            await core.jobs.submit(spec)
        return await core.jobs.list(), core.store.integrity_ok()

    jobs, ok = run_with_core(tmp_path, db_url, go)
    assert jobs == [] and ok


@pytest.mark.parametrize(("over", "message"), [
    ({"priority": 0}, "priority must be a whole number from 1 to 10"),
    ({"priority": 11}, "priority must be a whole number from 1 to 10"),
    ({"priority": "high"}, "priority"),
    ({"priority": True}, "priority"),
    ({"name": "x" * 10_000_000}, "too long"),
    ({"name": "x'); DROP TABLE jobs; --"}, "may contain"),
    ({"name": 42}, "must be text"),
    ({"name": ""}, "empty"),
    ({"parts": []}, "at least one part"),
    ({"parts": "all of them"}, "at least one part"),
    ({"due_at": "next tuesday"}, "not a date"),
])
def test_bad_jobs_are_rejected(tmp_path, over, message) -> None:
    db = f"sqlite:///{tmp_path / 'x.sqlite3'}"

    async def go(core):
        await core.fleet.register("P1", FDM, bring_up=True)
        with pytest.raises(ValidationError, match=message):
            await core.jobs.submit(job_spec() | over)
        return await core.jobs.list()

    assert run_with_core(tmp_path, db, go) == []


def test_cli_hostile_input_gives_one_line_and_no_traceback(tmp_path) -> None:
    home = tmp_path / "h"
    assert imewe(home, "nodes", "add", "P1", "--process", "fdm", "--volume", "250x210x210").returncode == 0
    big = tmp_path / "big.json"
    big.write_text(json.dumps(job_spec(name="n" * 10_000_000)))
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(os.urandom(4096))
    cases = [
        ["jobs", "submit", "--name", "a", "--process", "fdm", "--material", "pla", "--size=-1x2x3"],
        ["jobs", "submit", "--name", "a", "--process", "fdm", "--material", "pla", "--size", "1x2x3",
         "--priority", "11"],
        ["jobs", "submit", "--name", "a", "--process", "fdm", "--material", "kryptonite", "--size", "1x2x3"],
        ["jobs", "submit", "--name", "Robert'); DROP TABLE jobs;--", "--process", "fdm", "--material", "pla",
         "--size", "1x2x3"],
        ["jobs", "submit", str(big)],
        ["jobs", "submit", str(garbage)],
        ["jobs", "submit", str(tmp_path / "missing.json")],
        ["jobs", "show", "'; select 1; --"],
        ["jobs", "priority", "00000000", "5"],
        ["nodes", "add", "P2", "--process", "warp-drive"],
        ["nodes", "add", "P3", "--process", "fdm", "--volume", "big"],
        ["nodes", "show", "nope"],
    ]
    for args in cases:
        r = imewe(home, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.startswith("imewe: "), (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    listed = imewe(home, "--json", "jobs", "list")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    nodes = json.loads(imewe(home, "--json", "nodes", "list").stdout)
    assert [n["name"] for n in nodes] == ["P1"]


def test_cli_unreachable_database_is_one_clear_line(tmp_path) -> None:
    r = imewe(tmp_path / "h", "kernel", "status", db="postgresql://nobody:wrong@127.0.0.1:1/none")
    assert r.returncode == 2 and "cannot open the database" in r.stderr and "wrong" not in r.stderr
    assert "Traceback" not in r.stderr
