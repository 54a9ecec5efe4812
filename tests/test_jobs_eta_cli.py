"""imewe jobs list / show say how long a running job has left and when it ends (text and --json)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.cli.main import main
from app.core.clock import SystemClock
from app.core.domain.enums import JobState
from tests.helpers import FDM, job_spec, run_with_core


def _running_job(home: Path, db_url: str) -> tuple[str, int]:
    async def go(core) -> tuple[str, int]:
        node = await core.fleet.register("FDM-A", FDM, bring_up=True)
        spec = job_spec("bracket", parts=1)
        spec["parts"][0]["estimated_duration_s"] = 5400  # 1.5 h a copy, two copies
        job = await core.jobs.submit(spec, actor="test")
        part = job.parts[0]
        for state in (JobState.VALIDATED, JobState.SCHEDULED, JobState.ASSIGNED, JobState.IN_PROGRESS):
            job = await core.jobs.transition(job.id, state, parts={part.id: state}, assign={part.id: node.id})
        await core.jobs.update_progress(part.id, 25.0)
        return str(job.id), job.parts[0].estimated_duration_s

    return run_with_core(home, db_url, go, clock=SystemClock())


def test_jobs_list_and_show_give_time_left_and_finish(tmp_path: Path, db_url: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    job_id, estimate_s = _running_job(home, db_url)
    assert estimate_s > 0
    args = ["--home", str(home), "--db", db_url]
    assert main([*args, "jobs", "list"]) == 0
    out = capsys.readouterr().out
    header, _rule, row = out.splitlines()[:3]
    assert "LEFT" in header and "FINISH" in header
    left_col = header.index("LEFT")
    assert row[left_col:].split("  ")[0].strip().endswith(("min", "s")) or " h " in row

    assert main([*args, "jobs", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)[0]
    # a quarter done, just started: the estimate scaled, moved by the rate seen at most 3x (never 0, never more)
    assert estimate_s * 0.75 / 3 <= data["time_left_s"] <= estimate_s * 0.75 + 1
    finish = datetime.fromisoformat(data["finish_at"])
    assert abs(finish - (datetime.now(finish.tzinfo) + timedelta(seconds=data["time_left_s"]))) < timedelta(seconds=30)

    assert main([*args, "jobs", "show", job_id[:8]]) == 0
    text = capsys.readouterr().out
    assert "time left " in text and "finish " in text


def test_a_finished_or_waiting_job_has_no_time_left_running(tmp_path: Path, db_url: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"

    async def go(core) -> None:
        await core.fleet.register("FDM-A", FDM, bring_up=True)
        job = await core.jobs.submit(job_spec("vase", parts=1), actor="test")
        await core.jobs.cancel(job.id, actor="test")

    run_with_core(home, db_url, go, clock=SystemClock())
    assert main(["--home", str(home), "--db", db_url, "jobs", "list", "--state", "cancelled", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)[0]
    assert data["time_left_s"] is None and data["finish_at"] is None


def test_cli_text_reads_states_in_words_by_process(tmp_path: Path, db_url: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A running CNC job reads "Machining" in jobs list / show / parts, as in the window; --json keeps the enum."""
    from tests.helpers import CNC

    home = tmp_path / "home"

    async def go(core) -> str:
        node = await core.fleet.register("Mill-A", CNC, bring_up=True)
        spec = job_spec("fixture plate", parts=1)
        spec["parts"][0].update(process="cnc_mill", material="aluminium", quantity=1)
        job = await core.jobs.submit(spec, actor="test")
        part = job.parts[0]
        for state in (JobState.VALIDATED, JobState.SCHEDULED, JobState.ASSIGNED, JobState.IN_PROGRESS):
            job = await core.jobs.transition(job.id, state, parts={part.id: state}, assign={part.id: node.id})
        return str(job.id)

    job_id = run_with_core(home, db_url, go, clock=SystemClock())
    args = ["--home", str(home), "--db", db_url]
    assert main([*args, "jobs", "list"]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert "Machining" in row and "IN_PROGRESS" not in row
    assert main([*args, "jobs", "show", job_id[:8]]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("fixture plate  Machining") and "CNC mill" in text
    assert "IN_PROGRESS" not in text and "Printing" not in text
    assert main([*args, "jobs", "parts", job_id[:8]]) == 0
    assert "Machining" in capsys.readouterr().out
    assert main([*args, "jobs", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["state"] == "IN_PROGRESS"
