"""One rule for a job that waits for its machine: a batch part paused between copies while its printer makes
another job's part reads "Waiting" (not "Printing") and finishes after the printer's current work, in the core's
functions and in ``imewe jobs list / show / parts`` (text and --json) as in the window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from app.cli.main import main
from app.core.clock import SystemClock
from app.core.domain.entities import Job, Part
from app.core.domain.enums import JobState, ProcessType
from app.core.jobs.waiting import (
    busy_machines,
    job_state_text,
    part_state_text,
    running_and_waiting,
    running_part,
    waiting_for,
    waiting_parts,
)
from tests.helpers import clips_waiting_for_a_sign, run_with_core

NOW = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)


def _job(name: str, node: object, qty: int = 1, state: JobState = JobState.IN_PROGRESS) -> Job:
    job = Job(name, state=JobState.IN_PROGRESS)
    job.parts.append(Part(job.id, name, ProcessType.FDM, "pla", (20, 20, 5), quantity=qty, state=state,
                          assigned_node=node, estimated_duration_s=3600))  # type: ignore[arg-type]
    return job


def test_the_part_a_machine_runs_is_the_one_it_reports_else_the_last_started() -> None:
    node = uuid4()
    clips, sign = _job("clips", node, 12), _job("sign", node)
    held = [(clips, clips.parts[0]), (sign, sign.parts[0])]
    started = {clips.parts[0].id: NOW - timedelta(hours=1), sign.parts[0].id: NOW - timedelta(minutes=5)}
    assert running_part(held, None, started)[0] is sign  # nothing reported: the one started last
    assert running_part(held, clips.parts[0].id, started)[0] is clips  # the machine says: it wins
    assert running_part(held, clips.id, started)[0] is clips  # a job id works as well
    assert running_part(held, uuid4(), started)[0] is sign  # a report of something else: back to the last start
    assert busy_machines([clips, sign], started=started) == {node: sign.parts[0].id}
    assert busy_machines([clips, sign], lambda _n: clips.parts[0].id, started) == {node: clips.parts[0].id}


def test_waiting_words_for_job_and_part() -> None:
    node, other = uuid4(), uuid4()
    clips, sign = _job("clips", node, 12), _job("sign", node)
    busy = {node: sign.parts[0].id}
    assert waiting_parts(clips, busy) == {clips.parts[0].id: node}
    assert waiting_for(clips, busy) == [node] and job_state_text(clips, busy) == "Waiting"
    assert part_state_text(clips.parts[0], busy) == "Waiting"
    assert waiting_for(sign, busy) == [] and job_state_text(sign, busy) == "Printing"
    assert part_state_text(sign.parts[0], busy) == "Printing"
    # a second part really printing on another machine: the job is running, only that one part waits
    clips.parts.append(Part(clips.id, "hook", ProcessType.FDM, "pla", (10, 10, 5), state=JobState.IN_PROGRESS,
                            assigned_node=other))
    busy = {node: sign.parts[0].id, other: clips.parts[1].id}
    assert waiting_for(clips, busy) == [] and job_state_text(clips, busy) == "Printing"
    assert part_state_text(clips.parts[0], busy) == "Waiting" and part_state_text(clips.parts[1], busy) == "Printing"
    assert job_state_text(clips, {}) == "Printing"  # nothing known of the machines: the plain word
    queued = _job("queued", node, state=JobState.SCHEDULED)
    queued.state = JobState.SCHEDULED
    assert job_state_text(queued, busy) == "Queued" and part_state_text(queued.parts[0], busy) == "Queued"


def test_running_and_waiting_counts() -> None:
    node, other = uuid4(), uuid4()
    clips, sign = _job("clips", node, 12), _job("sign", node)
    held = _job("held", other, state=JobState.PAUSED)
    held.state = JobState.PAUSED
    busy = busy_machines([clips, sign, held], lambda _n: sign.parts[0].id)
    assert running_and_waiting([clips, sign, held], busy) == (1, 1)  # the paused job neither runs nor waits
    busy = busy_machines([clips, sign, held], lambda _n: clips.parts[0].id)
    assert running_and_waiting([clips, sign], busy) == (1, 1)  # now the sign waits
    assert running_and_waiting([clips, sign], {}) == (2, 0)  # nothing known of the machines: both run


def _rows(out: str) -> dict[str, str]:
    lines = out.splitlines()
    return {line.split()[1]: line for line in lines[2:] if line.strip()}


def test_cli_says_waiting_and_finishes_after_the_machine(tmp_path: Path, db_url: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    _node, clips, sign = run_with_core(home, db_url, clips_waiting_for_a_sign, clock=SystemClock())
    args = ["--home", str(home), "--db", db_url]

    assert main([*args, "jobs", "list"]) == 0
    out = capsys.readouterr().out
    header, rows = out.splitlines()[0], _rows(out)
    state_col = header.index("STATE")
    assert rows["cable"][state_col:].split()[0] == "Waiting", out
    assert rows["sign"][state_col:].split()[0] == "Printing", out

    assert main([*args, "jobs", "list", "--json"]) == 0
    data = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    waiting, running = data["cable clips"], data["sign"]
    assert waiting["state"] == running["state"] == "IN_PROGRESS"  # --json keeps the enum
    assert waiting["waiting_for"] == ["FDM-A"] and running["waiting_for"] == []
    # the clips go on only when the stand is done, and then have three quarters of an hour of work left
    sign_done = datetime.fromisoformat(running["finish_at"])
    clips_done = datetime.fromisoformat(waiting["finish_at"])
    assert clips_done >= sign_done + timedelta(minutes=45) - timedelta(seconds=5), (sign_done, clips_done)

    assert main([*args, "jobs", "show", str(clips.id)[:8]]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("cable clips  Waiting"), text
    assert any(line.startswith("Waiting for FDM-A: ") for line in text), text
    assert any(line.split()[:1] == ["clips"] and "Waiting" in line for line in text), text
    assert not any("Printing" in line for line in text), text
    assert main([*args, "jobs", "show", str(clips.id)[:8], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["waiting_for"] == ["FDM-A"]
    assert abs(datetime.fromisoformat(shown["finish_at"]) - clips_done) < timedelta(seconds=5)

    assert main([*args, "jobs", "show", str(sign.id)[:8]]) == 0
    assert capsys.readouterr().out.startswith("sign  Printing")
    assert main([*args, "jobs", "parts", str(clips.id)[:8]]) == 0
    assert "Waiting" in capsys.readouterr().out
