"""Issue 15: simulated machines that deviate from the estimate, training data in the store, models trained in a
worker and served by onnxruntime, promotion only when better, rollback, and the ``imewe learn`` commands."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from uuid import uuid4

import numpy as np
import pytest

from app.core.clock import ManualClock
from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import ProcessType
from app.core.domain.errors import ValidationError
from app.core.drivers import DriverJobFinished, DriverState, JobRequest
from app.core.learning.features import FEATURES, analytic_s, vectorize
from app.core.learning.records import JobRecord
from app.core.learning.registry import ModelRegistry
from app.core.learning.service import LearningService, LearningSettings
from app.core.learning.train import conformal_bounds, roc_auc
from app.core.store.db import open_store
from app.devices.sim_history import simulate_history
from app.devices.sim_profiles import MachineBehaviour, behaviour_for
from app.devices.simulator import SimConfig, SimulatedMachine

pytest.importorskip("sklearn", reason="training needs the learn extra (scikit-learn, skl2onnx)")
pytest.importorskip("skl2onnx", reason="training needs the learn extra (scikit-learn, skl2onnx)")


def test_simulated_history_is_seeded_and_deviates_from_the_estimate() -> None:
    a, b = simulate_history(300, seed=3), simulate_history(300, seed=3)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]
    assert [r.duration_s for r in simulate_history(50, seed=4)] != [r.duration_s for r in a[:50]]
    ratio = {m: np.median([r.duration_s / analytic_s(r) for r in a if r.machine == m and not r.failed])
             for m in {r.machine for r in a}}
    assert max(ratio.values()) / min(ratio.values()) > 1.15  # machines differ in ways the estimate ignores
    assert 0 < sum(r.failed for r in a) < 60
    assert all(r.finished_at > r.started_at and r.energy_kwh > 0 for r in a)
    assert [r.started_at for r in a] == sorted(r.started_at for r in a)
    assert vectorize(a, sorted({r.machine for r in a}), {}).shape == (300, len(FEATURES))


def test_behaviour_is_per_machine_and_reproducible() -> None:
    assert behaviour_for("a", 1) == behaviour_for("a", 1)
    assert behaviour_for("a", 1) != behaviour_for("b", 1)


async def _run_live(behaviour: MachineBehaviour | None) -> float:
    clock = ManualClock()
    caps = Capabilities(process=ProcessType.FDM, build_volume_mm=(300, 300, 300), loaded_material="pla")
    m = SimulatedMachine("p1", caps, clock, SimConfig(behaviour=behaviour, seed=7))
    await m.connect()
    await m.disconnect()
    m._set_state(DriverState.IDLE)
    events: list = []
    m.add_listener(events.append)
    await m.execute(JobRequest(job_id=uuid4(), estimate_s=600, spec={"size_mm": [10, 10, 10]}))
    for s in range(20_000):
        clock.advance(1.0)
        m.step(1.0, clock.monotonic())
        if any(isinstance(e, DriverJobFinished) for e in events):
            return s
    raise AssertionError("the job never finished")


def test_a_live_simulated_machine_runs_slower_than_its_estimate_with_behaviour() -> None:
    plain = asyncio.run(_run_live(None))
    slow = asyncio.run(_run_live(MachineBehaviour(speed_factor=1.3, accel_penalty=0.5, heatup_s_per_dm2=60)))
    assert slow > plain * 1.3 + 200  # slower work on a small part, plus bed soak on a 9 dm2 bed


def test_conformal_bounds_and_auc() -> None:
    res = np.random.default_rng(0).normal(0, 1, 2000)
    lo, hi = conformal_bounds(res, 0.8)
    assert -1.4 < lo < -1.15 and 1.15 < hi < 1.4
    assert roc_auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0])) == 1.0
    assert roc_auc(np.array([0.1, 0.2]), np.array([0, 0])) is None


def test_history_in_the_store_trains_promotes_only_better_and_rolls_back(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    try:
        svc = LearningService(store, tmp_path / "models", LearningSettings(min_jobs=60, retrain_after_jobs=40))
        recs = simulate_history(360, seed=5)
        assert svc.repo.add(recs[:40]) == 40
        assert svc.repo.add(recs[:40]) == 0  # idempotent
        with pytest.raises(ValidationError, match="too little history"):
            svc.train(in_worker=False)
        assert svc.duration(recs[0]).learned is False
        assert svc.repo.add(recs[40:300]) == 260
        assert svc.due()
        meta = svc.train(in_worker=False)
        assert meta["decision"]["promoted"], meta["decision"]
        du = meta["metrics"]["duration"]
        assert du["mape"] < du["mape_analytic"] / 1.5 and du["mape"] < du["mape_ratio"]
        assert not svc.due()
        p = svc.duration(recs[310])
        assert p.learned and p.low <= p.value <= p.high
        assert 0.0 <= (svc.risk(recs[310]) or 0.0) <= 1.0
        assert svc.repo.get(recs[5].job_id).features == recs[5].features
        # a second version is judged against the first on the same recent jobs
        svc.repo.add(recs[300:])
        assert svc.due()
        second = svc.train(in_worker=False)
        assert second["decision"]["reason"].startswith("held-out duration error")
        assert ("vs active v0001" in second["decision"]["reason"])
        if second["decision"]["promoted"]:
            assert svc.registry.active() == "v0002"
            assert svc.rollback() == "v0001"
        assert svc.registry.active() == "v0001"
        assert svc.models().version == "v0001"
        # export: JSON Lines round trip
        n = svc.repo.export(tmp_path / "h.jsonl")
        lines = (tmp_path / "h.jsonl").read_text().splitlines()
        assert n == len(lines) == 360 and json.loads(lines[0])["job_id"] == min(recs, key=lambda r: r.finished_at).job_id
        with pytest.raises(ValidationError, match="jsonl or .csv"):
            svc.repo.export(tmp_path / "h.txt")
    finally:
        store.close()


def test_a_machine_with_too_little_history_keeps_the_analytic_estimate(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    try:
        svc = LearningService(store, tmp_path / "models", LearningSettings(min_jobs=60, min_jobs_per_machine=10))
        recs = simulate_history(200, seed=6)
        few = [r for r in recs if r.machine == "ender-mini"][5:]  # keep only 5 of its jobs in the history
        svc.repo.add([r for r in recs if r.machine != "ender-mini"] + few[:5])
        svc.train(in_worker=False)
        p = svc.duration(few[-1])
        kept = svc.models().meta["ratio_jobs"].get("ender-mini", 0)
        assert not p.learned and "too little history for ender-mini" in p.note
        if kept >= 3:  # a few jobs of its own: its median ratio corrects the estimate (PrintTimeGenius-style)
            assert "median ratio" in p.note
            assert p.value == pytest.approx(analytic_s(few[-1]) * svc.models().meta["ratios"]["ender-mini"])
        stranger = JobRecord.from_dict(dict(few[-1].to_dict(), machine="brand-new"))
        q = svc.duration(stranger)
        assert not q.learned and q.value == analytic_s(stranger) and "analytic estimate" in q.note
        assert svc.risk(few[-1]) is None
    finally:
        store.close()


def test_training_runs_in_a_worker_process(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    try:
        svc = LearningService(store, tmp_path / "models", LearningSettings(min_jobs=50))
        svc.repo.add(simulate_history(120, seed=8))
        meta = svc.train()
        assert meta["version"] == "v0001" and (tmp_path / "models/v0001/duration.onnx").stat().st_size > 0
        assert ModelRegistry(tmp_path / "models").versions() == ["v0001"]
    finally:
        store.close()


def _imewe(capsys: pytest.CaptureFixture, home: Path, *args: str) -> tuple[int, str, str]:
    from app.cli.main import main

    code = main(["--home", str(home), "learn", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_learn_commands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    home = tmp_path / "home"
    code, out, _ = _imewe(capsys, home, "status")
    assert code == 0 and "analytic estimates are used" in out
    code, _, err = _imewe(capsys, home, "train")
    assert code == 2 and err.count("\n") == 1 and "too little history" in err
    assert _imewe(capsys, home, "simulate", "150")[0] == 0
    code, out, err = _imewe(capsys, home, "train", "--json")
    assert code == 0, err
    assert json.loads(out)["version"] == "v0001"
    assert json.loads(_imewe(capsys, home, "status", "--json")[1])["active"] == "v0001"
    assert _imewe(capsys, home, "export", str(tmp_path / "h.csv"))[0] == 0
    job = (tmp_path / "h.csv").read_text().splitlines()[-1].split(",")[0]
    code, out, _ = _imewe(capsys, home, "predict", job)
    assert code == 0 and "duration:" in out and "actual:" in out
    code, _, err = _imewe(capsys, home, "predict", "no-such-job")
    assert code == 2 and "no job" in err
    code, _, err = _imewe(capsys, home, "rollback")
    assert code == 2 and "no earlier model version" in err
