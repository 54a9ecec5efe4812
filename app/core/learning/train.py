"""Fitting the three models and exporting them to ONNX. Runs in the training worker process.

- duration: gradient-boosted trees (scikit-learn ``HistGradientBoostingRegressor``) on log(real / estimated
  duration), so one model serves a 5-minute and a 20-hour job; skl2onnx converts it exactly.
- energy: a small neural network (``MLPRegressor``, 64-32 units, behind a ``StandardScaler``) on log(kWh /
  (rated power x estimated duration)).
- failure risk: gradient-boosted trees (``HistGradientBoostingClassifier``) on the job's features plus a
  *window* of the machine's telemetry before the start (last-hour vibration mean and peak, 24 h vibration
  trend, temperature ripple, power ripple, hours since maintenance). Windowed, not a sequence model: failures
  are rare (a few per hundred jobs), and a handful of window statistics is what that much data can support.
- intervals: split conformal. The most recent 20 % of the jobs given are held out; the 10th and 90th
  percentiles of the held-out signed residuals (in log space) make the stated 80 % interval. The same held-out
  jobs decide whether a new version beats the active one.

scikit-learn and skl2onnx are imported here only (the optional ``[learn]`` extra); serving needs onnxruntime.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.core.domain.errors import ValidationError
from app.core.learning.features import (
    FEATURES,
    analytic_s,
    energy_base_kwh,
    machine_ratios,
    rated_energy_kwh,
    vectorize,
)
from app.core.learning.records import JobRecord

log = logging.getLogger(__name__)
HOLDOUT_SHARE = 0.2
INTERVAL = 0.8
# Fewer, larger steps keep a 1,000-job batch in onnxruntime well under 20 ms at the same error (benchmark).
DURATION_TREES, DURATION_LR = 80, 0.12
MODEL_FILES = {"duration": "duration.onnx", "energy": "energy.onnx", "failure": "failure.onnx"}


def _require_sklearn() -> None:
    try:
        import skl2onnx  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise ValidationError("training needs the learn extra: pip install 'imewe[learn]' "
                              "(scikit-learn and skl2onnx)", "learn") from exc


def split_by_time(records: Sequence[JobRecord], holdout: float = HOLDOUT_SHARE) -> tuple[list, list]:
    ordered = sorted(records, key=lambda r: r.finished_at)
    cut = max(1, int(round(len(ordered) * (1 - holdout))))
    return ordered[:cut], ordered[cut:]


def conformal_bounds(residuals: np.ndarray, coverage: float = INTERVAL) -> tuple[float, float]:
    """Signed-residual quantiles with the finite-sample correction of split conformal prediction."""
    n = len(residuals)
    if n == 0:
        return 0.0, 0.0
    a = (1 - coverage) / 2
    lo_q = max(0.0, math.floor(a * (n + 1)) / n)
    hi_q = min(1.0, math.ceil((1 - a) * (n + 1)) / n)
    return float(np.quantile(residuals, lo_q)), float(np.quantile(residuals, hi_q))


def mape(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - true) / np.maximum(true, 1e-9)))


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Rank-based ROC AUC (ties count half); None when one class is missing."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    ranks[order] = _tied_ranks(allv)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _tied_ranks(sorted_vals: np.ndarray) -> np.ndarray:
    ranks = np.arange(1, len(sorted_vals) + 1, dtype=float)
    i = 0
    while i < len(sorted_vals):
        j = i
        while j + 1 < len(sorted_vals) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[i:j + 1] = (i + j + 2) / 2
        i = j + 1
    return ranks


def train_bundle(records: Sequence[JobRecord], out_dir: Path, *, min_jobs: int = 50, seed: int = 0) -> dict[str, Any]:
    """Fit the three models on all but the most recent jobs, write ONNX files and ``meta.json`` into
    ``out_dir``, and return the metadata (data range, counts, held-out metrics, interval bounds)."""
    _require_sklearn()
    if len(records) < min_jobs:
        raise ValidationError(f"too little history to learn from: {len(records)} finished jobs, "
                              f"{min_jobs} needed; the analytic estimates stay", "learn")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # OpenMP threads fighting over shared cores cost 5x the time they save
        return _train_bundle(records, out_dir, seed)


def _train_bundle(records: Sequence[JobRecord], out_dir: Path, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    fit, hold = split_by_time(records)
    ratios = machine_ratios(fit)
    machines = sorted({r.machine for r in records})
    out_dir.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "features": list(FEATURES), "machines": machines, "ratios": ratios, "interval": INTERVAL,
        "n_jobs": len(records), "n_fit": len(fit), "n_holdout": len(hold),
        "data_from": min(r.finished_at for r in records), "data_to": max(r.finished_at for r in records),
        "jobs_per_machine": dict(Counter(r.machine for r in fit)),
        "ratio_jobs": dict(Counter(r.machine for r in fit if not r.failed and r.duration_s > 0)),
        "processes_per_machine": {r.machine: r.process for r in records},
        "models": {}, "metrics": {},
    }
    done_fit = [r for r in fit if not r.failed]
    done_hold = [r for r in hold if not r.failed]
    if done_fit:
        meta["models"]["duration"] = _fit_duration(done_fit, done_hold, machines, ratios, out_dir, meta, seed)
        meta["models"]["energy"] = _fit_energy(done_fit, done_hold, machines, ratios, out_dir, meta, seed)
    if len({r.failed for r in fit}) == 2:
        meta["models"]["failure"] = _fit_failure(fit, hold, machines, ratios, out_dir, meta, seed)
    meta["train_s"] = round(time.perf_counter() - t0, 3)
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
    log.info("trained models on %d jobs in %.1f s", len(records), meta["train_s"])
    return meta


def _export(model: Any, n_features: int, path: Path, classifier: bool = False) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(model): {"zipmap": False}} if classifier else None
    onx = to_onnx(model, initial_types=[("x", FloatTensorType([None, n_features]))], options=options,
                  target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())


def _fit_duration(fit: list, hold: list, machines: list, ratios: dict, out: Path, meta: dict, seed: int) -> str:
    from sklearn.ensemble import HistGradientBoostingRegressor

    x = vectorize(fit, machines, ratios)
    y = np.log([r.duration_s / analytic_s(r) for r in fit])
    model = HistGradientBoostingRegressor(max_iter=DURATION_TREES, learning_rate=DURATION_LR, max_leaf_nodes=15,
                                          min_samples_leaf=max(5, min(20, len(fit) // 20)),
                                          l2_regularization=1.0, random_state=seed)
    model.fit(x, y)
    _export(model, x.shape[1], out / MODEL_FILES["duration"])
    if hold:
        xh = vectorize(hold, machines, ratios)
        res = np.log([r.duration_s / analytic_s(r) for r in hold]) - model.predict(xh)
        lo, hi = conformal_bounds(res)
        est = np.array([analytic_s(r) for r in hold])
        true = np.array([r.duration_s for r in hold])
        pred = est * np.exp(model.predict(xh))
        ratio_pred = est * np.array([ratios.get(r.machine, 1.0) for r in hold])
        meta["metrics"]["duration"] = {"mape": mape(pred, true), "mape_analytic": mape(est, true),
                                       "mape_ratio": mape(ratio_pred, true), "n": len(hold)}
    else:
        lo, hi = 0.0, 0.0
    meta["duration_bounds"] = [lo, hi]
    return MODEL_FILES["duration"]


def _fit_energy(fit: list, hold: list, machines: list, ratios: dict, out: Path, meta: dict, seed: int) -> str:
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = vectorize(fit, machines, ratios)
    y = np.log([max(r.energy_kwh, 1e-6) / energy_base_kwh(r) for r in fit])
    model = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(64, 32), alpha=1e-3,
                                                         learning_rate_init=3e-3, max_iter=600,
                                                         early_stopping=len(fit) >= 200, random_state=seed))
    model.fit(x, y)
    _export(model, x.shape[1], out / MODEL_FILES["energy"])
    if hold:
        xh = vectorize(hold, machines, ratios)
        res = np.log([max(r.energy_kwh, 1e-6) / energy_base_kwh(r) for r in hold]) - model.predict(xh)
        lo, hi = conformal_bounds(res)
        true = np.array([r.energy_kwh for r in hold])
        base = np.array([energy_base_kwh(r) for r in hold])
        meta["metrics"]["energy"] = {"mape": mape(base * np.exp(model.predict(xh)), true),
                                     "mape_rated": mape(np.array([rated_energy_kwh(r) for r in hold]), true),
                                     "n": len(hold)}
    else:
        lo, hi = 0.0, 0.0
    meta["energy_bounds"] = [lo, hi]
    return MODEL_FILES["energy"]


def _fit_failure(fit: list, hold: list, machines: list, ratios: dict, out: Path, meta: dict, seed: int) -> str:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = vectorize(fit, machines, ratios)
    y = np.array([int(r.failed) for r in fit])
    model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_leaf_nodes=7,
                                           min_samples_leaf=max(5, min(30, len(fit) // 20)),
                                           l2_regularization=2.0, random_state=seed)
    model.fit(x, y)
    _export(model, x.shape[1], out / MODEL_FILES["failure"], classifier=True)
    if hold:
        p = model.predict_proba(vectorize(hold, machines, ratios))[:, 1]
        labels = np.array([int(r.failed) for r in hold])
        meta["metrics"]["failure"] = {"auc": roc_auc(p, labels), "failures": int(labels.sum()), "n": len(hold)}
    return MODEL_FILES["failure"]
