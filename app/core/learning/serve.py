"""Predictions from a trained version, through onnxruntime: durations and energy with their 80 % interval,
and failure risk. A machine with too little history of its own gets the analytic estimate, flagged."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.domain.errors import ValidationError
from app.core.learning.features import analytic_s, energy_base_kwh, rated_energy_kwh, vectorize
from app.core.learning.records import JobRecord

log = logging.getLogger(__name__)
MIN_RATIO_JOBS = 3  # completed jobs of its own before a machine's median ratio corrects its estimates


@dataclass(frozen=True, slots=True)
class Prediction:
    value: float
    low: float
    high: float
    learned: bool  # False: the analytic estimate, because no model covers this machine yet
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high, "learned": self.learned,
                "note": self.note}


class LearnedModels:
    """One trained version: its metadata and an onnxruntime session per model it holds."""

    def __init__(self, folder: Path, min_jobs_per_machine: int = 10) -> None:
        try:
            self.meta: dict[str, Any] = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValidationError(f"cannot read the model version in {folder}: {exc}", "learn") from exc
        self.folder = folder
        self.min_jobs_per_machine = min_jobs_per_machine
        import onnxruntime as ort  # loaded with the first trained version, not by every process that might serve

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # small models: threads cost more than they give, and cores are shared
        opts.inter_op_num_threads = 1
        self._sessions: dict[str, Any] = {}  # kind -> onnxruntime.InferenceSession
        for kind, name in self.meta.get("models", {}).items():
            try:
                self._sessions[kind] = ort.InferenceSession(str(folder / name), opts,
                                                            providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own hierarchy; one clear line for the operator
                raise ValidationError(f"cannot load {folder / name}: {exc}", "learn") from exc

    @property
    def version(self) -> str:
        return str(self.meta.get("version", self.folder.name))

    def covers(self, machine: str) -> bool:
        return int(self.meta.get("jobs_per_machine", {}).get(machine, 0)) >= self.min_jobs_per_machine

    def _x(self, records: Sequence[JobRecord]) -> np.ndarray:
        return vectorize(records, self.meta["machines"], self.meta["ratios"])

    def _run(self, kind: str, x: np.ndarray) -> np.ndarray:
        out = self._sessions[kind].run(None, {"x": x})
        return np.asarray(out[-1] if kind == "failure" else out[0], dtype=np.float64)

    def duration(self, records: Sequence[JobRecord]) -> list[Prediction]:
        est = np.array([analytic_s(r) for r in records])
        return self._scaled("duration", records, est, lambda pred: est * np.exp(pred))

    def _fallback(self, kind: str, r: JobRecord, value: float) -> Prediction:
        """A machine the model does not cover yet: its own median ratio once it has a few jobs (the
        PrintTimeGenius-style correction), else the plain estimate; flagged either way."""
        n = int(self.meta.get("ratio_jobs", {}).get(r.machine, 0))
        if kind == "duration" and n >= MIN_RATIO_JOBS:
            v = value * float(self.meta["ratios"].get(r.machine, 1.0))
            return Prediction(v, v, v, False, f"too little history for {r.machine} to learn: estimate x its "
                                              f"median ratio over {n} jobs")
        return Prediction(value, value, value, False, f"too little history for {r.machine}: analytic estimate")

    def energy(self, records: Sequence[JobRecord]) -> list[Prediction]:
        rated = np.array([rated_energy_kwh(r) for r in records])
        base = np.array([energy_base_kwh(r) for r in records])
        return self._scaled("energy", records, rated, lambda pred: base * np.exp(pred))

    def _scaled(self, kind: str, records: Sequence[JobRecord], fallback: np.ndarray, back: Any) -> list[Prediction]:
        if kind not in self._sessions or not records:
            return [self._fallback(kind, r, float(v)) for r, v in zip(records, fallback, strict=True)]
        raw = self._run(kind, self._x(records)).reshape(-1)
        lo_b, hi_b = self.meta.get(f"{kind}_bounds", [0.0, 0.0])
        mid, lo, hi = back(raw), back(raw + lo_b), back(raw + hi_b)
        out = []
        for i, r in enumerate(records):
            if self.covers(r.machine):
                out.append(Prediction(float(mid[i]), float(lo[i]), float(hi[i]), True))
            else:
                out.append(self._fallback(kind, r, float(fallback[i])))
        return out

    def failure_risk(self, records: Sequence[JobRecord]) -> list[float | None]:
        """Probability that the job fails; None where no model covers the machine."""
        if "failure" not in self._sessions or not records:
            return [None] * len(records)
        p = self._run("failure", self._x(records))[:, 1]
        return [float(p[i]) if self.covers(r.machine) else None for i, r in enumerate(records)]
