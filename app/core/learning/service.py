"""The learning service: collect history, train in the worker, promote only what beats the active version, and
answer the planner's questions (duration of a part on a machine, failure risk before a start)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.domain.errors import ImeweError, ValidationError
from app.core.learning.features import analytic_s
from app.core.learning.federated import Pooled, record_type
from app.core.learning.records import JobRecord
from app.core.learning.registry import ModelRegistry
from app.core.learning.repository import LearningRepository
from app.core.learning.serve import LearnedModels, Prediction
from app.core.learning.train import mape, split_by_time
from app.core.learning.worker import train_in_worker
from app.core.store.db import Store

log = logging.getLogger(__name__)
RECHECK_S = 10.0
POOL_RECHECK_S = 30.0


@dataclass(frozen=True, slots=True)
class LearningSettings:
    """``[learning]`` in config.toml (see app/core/config.py)."""

    enabled: bool = True
    min_jobs: int = 50  # fewer finished jobs: nothing learned runs, the analytic estimates stay
    min_jobs_per_machine: int = 10  # a machine with fewer of its own jobs keeps the analytic estimate
    retrain_after_jobs: int = 25  # new finished jobs since the last training that start a new one
    risk_alert: float = 0.25  # failure risk at or above which a start raises an alert
    nightly_hour: int = 3  # hour of the day (site's time zone) to train if there is new data; -1: never

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> LearningSettings:
        out = cls(**{k: section[k] for k in cls.__slots__ if k in section})  # type: ignore[attr-defined]
        if not -1 <= int(out.nightly_hour) <= 23:
            raise ValidationError(f"[learning] nightly_hour = {out.nightly_hour}: use an hour 0..23, or -1 for never",
                                  "nightly_hour")
        return out


class LearningService:
    def __init__(self, store: Store, models_root: Path, settings: LearningSettings | None = None) -> None:
        self.settings = settings or LearningSettings()
        self.repo = LearningRepository(store)
        self.registry = ModelRegistry(models_root)
        self._models: LearnedModels | None = None
        self._loaded: str | None = None
        self._checked_at: float | None = None
        # Linked sites' correction statistics (issue 15, ``[sites] learning_links``): type -> Pooled; read again at
        # most every POOL_RECHECK_S. ``pooled_version`` moves when they change (the planner's cache keys on it).
        self.pooled_of: Callable[[], dict[str, Pooled]] | None = None
        self._pooled: dict[str, Pooled] = {}
        self._pooled_at: float | None = None
        self.pooled_version = 0

    # ------------------------------------------------------------------ serving
    def models(self) -> LearnedModels | None:
        """The active version, loaded once (and again after a training or a rollback, here or by another
        process: the registry is looked at again at most every ``RECHECK_S``, since the planner asks often)."""
        now = time.monotonic()
        if self._checked_at is not None and now - self._checked_at < RECHECK_S:
            return self._models
        self._checked_at = now
        folder = self.registry.active_folder()
        if folder is None:
            self._models, self._loaded = None, None
        elif self._loaded != folder.name:
            self._models = LearnedModels(folder, self.settings.min_jobs_per_machine)
            self._loaded = folder.name
        return self._models

    def predict(self, records: Sequence[JobRecord]) -> list[dict[str, Any]]:
        m = self.models()
        if m is None:
            return [{"duration_s": _analytic(r), "energy_kwh": None, "failure_risk": None, "version": None,
                     "note": "no trained model yet: analytic estimate"} for r in records]
        dur, en, risk = m.duration(records), m.energy(records), m.failure_risk(records)
        return [{"duration_s": d.to_dict(), "energy_kwh": e.to_dict(), "failure_risk": k, "version": m.version}
                for d, e, k in zip(dur, en, risk, strict=True)]

    def duration(self, record: JobRecord) -> Prediction:
        return self.durations([record])[0]

    def durations(self, records: Sequence[JobRecord]) -> list[Prediction]:
        """The active version's durations; where it does not cover the machine (or there is none), linked sites'
        correction for the machine's type when there is one (learned, flagged as from linked sites), else the
        analytic estimate, flagged."""
        m = self.models()
        if m is None:
            preds = [Prediction(v, v, v, False, "no trained model yet: analytic estimate")
                     for v in (analytic_s(r) for r in records)]
        else:
            preds = m.duration(records)
        pooled = self.pooled()
        if not pooled:
            return preds
        return [p if p.learned else self._from_linked(r, p, pooled) for r, p in zip(records, preds, strict=True)]

    def _from_linked(self, r: JobRecord, p: Prediction, pooled: dict[str, Pooled]) -> Prediction:
        key = record_type(r)
        got = pooled.get(key)
        if got is None:
            return p
        # No interval: the linked sites' spread is that of *their* machines; a new machine of the type differs from
        # them more than their jobs differ among themselves (benchmarks/results/learning.md: a "80 %" interval from
        # it held about half of a new site's jobs), so none is claimed.
        v = got.predict(analytic_s(r))[0]
        return Prediction(v, v, v, True, f"learned from {got.sites} linked site(s): about {got.n:.0f} jobs on "
                                         f"{key.replace(':', ' machines with a ')} dm² bed; no interval yet")

    def pooled(self) -> dict[str, Pooled]:
        if self.pooled_of is None:
            return {}
        now = time.monotonic()
        if self._pooled_at is not None and now - self._pooled_at < POOL_RECHECK_S:
            return self._pooled
        self._pooled_at = now
        try:
            fresh = self.pooled_of()
        except ImeweError as exc:  # the store is busy or gone: keep what was pooled
            log.warning("linked sites' statistics not read: %s", exc)
            return self._pooled
        if fresh != self._pooled:
            self._pooled = fresh
            self.pooled_version += 1
        return self._pooled

    def risk(self, record: JobRecord) -> float | None:
        m = self.models()
        return None if m is None else m.failure_risk([record])[0]

    # ------------------------------------------------------------------ training
    def due(self, min_new: int | None = None) -> bool:
        """Enough new finished jobs since the active version's data to train again: ``retrain_after_jobs`` of
        them, or ``min_new`` (the nightly training asks for one)."""
        if not self.settings.enabled:
            return False
        active = self.registry.active()
        since = self.registry.meta(active).get("data_to") if active else None
        n_total = self.repo.count()
        if n_total < self.settings.min_jobs:
            return False
        need = self.settings.retrain_after_jobs if min_new is None else min_new
        return active is None or self.repo.count(since) >= need

    def train(self, *, in_worker: bool = True) -> dict[str, Any]:
        """Fit a new version on all history; activate it only if it beats the active one on the held-out most
        recent jobs (duration error first; with no active version, it must beat the analytic estimate)."""
        records = self.repo.records()
        if len(records) < self.settings.min_jobs:
            raise ValidationError(f"too little history to learn from: {len(records)} finished jobs, "
                                  f"{self.settings.min_jobs} needed; the analytic estimates stay", "learn")
        folder = self.registry.new_folder()
        try:
            if in_worker:
                meta = train_in_worker(records, folder, self.settings.min_jobs)
            else:
                from app.core.learning.train import train_bundle

                meta = train_bundle(records, folder, min_jobs=self.settings.min_jobs)
        except BaseException:
            self.registry.discard(folder.name)
            raise
        self._checked_at = None
        verdict = self._judge(records, folder, meta)
        meta.update(version=folder.name, decision=verdict)
        if verdict["promoted"]:
            self.registry.activate(folder.name, verdict["reason"])
            self._checked_at = None
        log.info("model %s: %s", folder.name, verdict["reason"])
        return meta

    def _judge(self, records: Sequence[JobRecord], folder: Path, meta: dict[str, Any]) -> dict[str, Any]:
        new_err = meta.get("metrics", {}).get("duration", {}).get("mape")
        if new_err is None:
            return {"promoted": False, "reason": "no duration model could be fitted (no completed jobs held out)"}
        old = self.models()
        if old is None:
            base = meta["metrics"]["duration"]["mape_analytic"]
            ok = new_err < base
            return {"promoted": ok, "reason": f"held-out duration error {new_err:.1%} vs analytic {base:.1%}"}
        _, hold = split_by_time(records)
        done = [r for r in hold if not r.failed]
        true = np.array([r.duration_s for r in done])
        old_err = mape(np.array([p.value for p in old.duration(done)]), true)
        ok = new_err < old_err
        return {"promoted": ok, "reason": f"held-out duration error {new_err:.1%} vs active {old.version} "
                                          f"{old_err:.1%}" + ("" if ok else ": kept the active version")}

    def rollback(self) -> str:
        version = self.registry.rollback()
        self._checked_at = None
        return version

    def status(self) -> dict[str, Any]:
        active = self.registry.active()
        return {"jobs": self.repo.count(), "min_jobs": self.settings.min_jobs, "active": active,
                "versions": self.registry.versions(), "due": self.due(),
                "meta": _summary(self.registry.meta(active)) if active else None,
                "linked": {k: {"jobs": round(p.n), "ratio": round(math.exp(p.mean), 3), "sites": p.sites}
                           for k, p in sorted(self.pooled().items())}}


def _analytic(r: JobRecord) -> dict[str, Any]:
    v = analytic_s(r)
    return {"value": v, "low": v, "high": v, "learned": False}


def _summary(meta: dict[str, Any]) -> dict[str, Any]:
    keys = ("n_jobs", "data_from", "data_to", "metrics", "train_s", "jobs_per_machine", "interval")
    return {k: meta.get(k) for k in keys}
