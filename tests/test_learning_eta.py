"""Learned durations in time left and finish times (issue 15): the ETA follows the learned duration and carries its
80 % interval, which narrows as the rate actually seen takes over; an analytic figure says so. And `imewe jobs
show` on a site with a trained model: the interval next to the part on a covered machine, "analytic estimate"
(with the reason) on a machine without history."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from app.core.domain.entities import Job, Part
from app.core.domain.enums import JobState, ProcessType
from app.core.jobs.eta import DurationEstimate, eta_fields, job_eta, part_eta

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _part(state: JobState = JobState.IN_PROGRESS, progress: float = 0.0, est: int = 3000) -> Part:
    return Part(uuid4(), "arm", ProcessType.FDM, "pla", (40, 30, 20), state=state, assigned_node=uuid4(),
                estimated_duration_s=est, progress=progress)


def test_time_left_follows_the_learned_duration_and_its_interval() -> None:
    part = _part()
    learned = DurationEstimate(4200.0, 3900.0, 4700.0, True, "learned")
    eta = part_eta(part, NOW, estimate=learned)
    assert eta is not None and eta.left_s == pytest.approx(4200.0) and eta.learned
    assert (eta.low_s, eta.high_s) == (pytest.approx(3900.0), pytest.approx(4700.0))
    assert eta.label() == "1 h 10 min (1 h 05 min – 1 h 18 min)"
    # half done after 35 min: the rate seen takes over and the interval closes in on it
    half = part_eta(_part(progress=50.0), NOW, elapsed_s=2100.0, estimate=learned)
    assert half is not None and half.left_s == pytest.approx(2100.0)
    assert half.high_s - half.low_s < 1.0
    # no model for this machine: the part's own estimate, and the label says it is the analytic one
    plain = part_eta(part, NOW, estimate=DurationEstimate.analytic(3000.0, "too little history for x"))
    assert plain is not None and plain.left_s == 3000.0 and plain.learned is False
    assert plain.label() == "50 min (analytic estimate)"
    assert part_eta(part, NOW).label() == "50 min (analytic estimate)"  # nothing asked at all: analytic too


def test_a_jobs_finish_takes_its_busiest_machine_with_learned_durations() -> None:
    a, b = _part(), _part(JobState.ASSIGNED)
    job = Job("frame", state=JobState.IN_PROGRESS, parts=[a, b])
    est = {a.id: DurationEstimate(3600.0, 3300.0, 4000.0, True), b.id: DurationEstimate(1800.0, 1700.0, 2000.0, True)}
    eta = job_eta(job, NOW, estimates=est)
    assert eta is not None and eta.left_s == pytest.approx(3600.0) and eta.learned
    assert (eta.low_s, eta.high_s) == (pytest.approx(3300.0), pytest.approx(4000.0))
    fields = eta_fields(eta, NOW)
    assert fields["estimate_basis"] == "learned" and fields["time_left"] == "1 h 00 min (55 min – 1 h 06 min)"
    # one part on a machine without a model: the job's figure is no longer all learned, and says so
    est[b.id] = DurationEstimate.analytic(5000.0)
    mixed = job_eta(job, NOW, estimates=est)
    assert mixed is not None and mixed.left_s == 5000.0 and mixed.learned is False
    assert eta_fields(mixed, NOW)["estimate_basis"] == "analytic estimate"


# --------------------------------------------------------------------------- the CLI on a trained site
sklearn = pytest.importorskip("sklearn", reason="training needs the learn extra (scikit-learn, skl2onnx)")
MK4 = {"process": "fdm", "build_volume_mm": [250, 210, 220], "materials": ["pla", "petg"], "loaded_material": "pla",
       "max_power_w": 300, "max_speed_mm_s": 200}


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site home whose store holds 160 simulated finished jobs and whose active model was trained on them."""
    from app.core.learning.service import LearningService, LearningSettings
    from app.core.store.db import open_store
    from app.devices.sim_history import simulate_history

    home = tmp_path_factory.mktemp("trained") / "home"
    home.mkdir()
    store = open_store(f"sqlite:///{home / 'imewe.sqlite3'}")
    try:
        svc = LearningService(store, home / "models", LearningSettings(min_jobs=60))
        svc.repo.add(simulate_history(160, seed=4))
        assert svc.train(in_worker=False)["decision"]["promoted"]
    finally:
        store.close()
    return home


def copy_home(trained: Path, to: Path) -> Path:
    shutil.copytree(trained, to)
    return to


def _running(home: Path) -> dict[str, str]:
    from app.core.clock import SystemClock
    from tests.helpers import run_with_core

    async def go(core) -> dict[str, str]:  # type: ignore[no-untyped-def]
        out = {}
        for name in ("prusa-mk4-a", "lab-fdm"):  # one the model learned, one it never saw
            node = await core.fleet.register(name, MK4, bring_up=True)
            job = await core.jobs.submit({"name": f"on {name}", "parts": [
                {"name": "arm", "process": "fdm", "material": "pla", "size": [40, 30, 20],
                 "estimated_duration_s": 3000}]}, actor="test")
            part = job.parts[0]
            for state in (JobState.VALIDATED, JobState.SCHEDULED, JobState.ASSIGNED, JobState.IN_PROGRESS):
                job = await core.jobs.transition(job.id, state, parts={part.id: state}, assign={part.id: node.id})
            out[name] = str(job.id)
        return out

    return run_with_core(home, f"sqlite:///{home / 'imewe.sqlite3'}", go, clock=SystemClock())


def test_jobs_show_gives_the_learned_time_with_its_interval(trained_home: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli.main import main

    home = copy_home(trained_home, tmp_path / "home")
    ids = _running(home)
    args = ["--home", str(home), "--db", f"sqlite:///{home / 'imewe.sqlite3'}"]

    assert main([*args, "jobs", "show", ids["prusa-mk4-a"], "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    est = d["parts"][0]["estimate"]
    assert est["learned"] and est["low_s"] < est["value_s"] < est["high_s"]
    assert abs(est["value_s"] - 3000) > 60  # this machine runs otherwise than the analytic estimate says
    assert d["estimate_basis"] == "learned"
    assert est["low_s"] - 2 <= d["time_left_s"] <= est["high_s"] + 2  # just started: the learned figure
    assert d["time_left_s"] == pytest.approx(est["value_s"], abs=60)
    assert main([*args, "jobs", "show", ids["prusa-mk4-a"]]) == 0
    text = capsys.readouterr().out
    assert est["label"] in text and " – " in est["label"] and "time left " in text

    assert main([*args, "jobs", "show", ids["lab-fdm"], "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    est = d["parts"][0]["estimate"]
    assert not est["learned"] and est["value_s"] == 3000 and "too little history for lab-fdm" in est["note"]
    assert d["estimate_basis"] == "analytic estimate"
    assert main([*args, "jobs", "show", ids["lab-fdm"]]) == 0
    text = capsys.readouterr().out
    assert "50 min (analytic estimate)" in text and "too little history for lab-fdm" in text

    assert main([*args, "jobs", "list", "--json"]) == 0
    listed = {j["id"]: j for j in json.loads(capsys.readouterr().out)}
    assert listed[ids["prusa-mk4-a"]]["estimate_basis"] == "learned"
    assert listed[ids["lab-fdm"]]["time_left_s"] == pytest.approx(3000, abs=60)
