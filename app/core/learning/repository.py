"""The ``learning_jobs`` table: add, read and export training records; collect them from the site's finished work.

Collection turns every finished part (COMPLETED or FAILED on a machine) that is not yet in the table into a
record: the features known before it started (the part's estimates and size, the machine's capabilities, a
window of the machine's telemetry in the hour before the start) and what happened (real duration from the state
changes, energy integrated from the machine's power telemetry, material, outcome, a summary of the run's
telemetry). It is idempotent: run it any time."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from app.core.domain.errors import ValidationError
from app.core.learning.features import prestart_features
from app.core.learning.records import JobRecord
from app.core.store.db import Store
from app.core.store.schema import nodes, parts, state_changes, telemetry_raw
from app.core.store.schema_learning import learning_jobs

log = logging.getLogger(__name__)
COLUMNS = ("job_id", "machine", "process", "material", "started_at", "finished_at", "duration_s", "energy_kwh",
           "material_g", "outcome", "features", "telemetry", "source")
WINDOW_S = 3600.0


class LearningRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, records: Sequence[JobRecord]) -> int:
        """Insert records whose job is not stored yet; returns how many were new."""
        if not records:
            return 0
        with self.store.begin() as c:
            have = {r[0] for r in c.execute(sa.select(learning_jobs.c.job_id).where(
                learning_jobs.c.job_id.in_([r.job_id for r in records])))}
            rows = [{k: getattr(r, k) for k in COLUMNS} for r in records if r.job_id not in have]
            if rows:
                c.execute(learning_jobs.insert(), rows)
        return len(rows)

    def records(self, since: float | None = None, limit: int | None = None) -> list[JobRecord]:
        q = sa.select(learning_jobs).order_by(learning_jobs.c.finished_at)
        if since is not None:
            q = q.where(learning_jobs.c.finished_at > since)
        if limit is not None:
            q = q.limit(limit)
        with self.store.connect() as c:
            return [JobRecord(**{k: row._mapping[k] for k in COLUMNS}) for row in c.execute(q)]

    def get(self, job_id: str) -> JobRecord | None:
        with self.store.connect() as c:
            row = c.execute(sa.select(learning_jobs).where(learning_jobs.c.job_id == job_id)).first()
        return None if row is None else JobRecord(**{k: row._mapping[k] for k in COLUMNS})

    def count(self, since: float | None = None) -> int:
        q = sa.select(sa.func.count()).select_from(learning_jobs)
        if since is not None:
            q = q.where(learning_jobs.c.finished_at > since)
        with self.store.connect() as c:
            return int(c.execute(q).scalar_one())

    def export(self, path: Path) -> int:
        """JSON Lines (``.jsonl``) or CSV (``.csv``, features and telemetry flattened into columns)."""
        recs = self.records()
        suffix = path.suffix.lower()
        if suffix not in (".jsonl", ".csv"):
            raise ValidationError(f"cannot export to {path.name}: use a .jsonl or .csv file name", "path")
        try:
            with path.open("w", encoding="utf-8", newline="") as fh:
                if suffix == ".jsonl":
                    for r in recs:
                        fh.write(json.dumps(r.to_dict(), sort_keys=True) + "\n")
                else:
                    fkeys = sorted({k for r in recs for k in r.features})
                    tkeys = sorted({k for r in recs for k in r.telemetry})
                    w = csv.writer(fh)
                    base = [c for c in COLUMNS if c not in ("features", "telemetry")]
                    w.writerow(base + fkeys + [f"run_{k}" for k in tkeys])
                    for r in recs:
                        w.writerow([getattr(r, c) for c in base] + [r.features.get(k, "") for k in fkeys]
                                   + [r.telemetry.get(k, "") for k in tkeys])
        except OSError as exc:
            raise ValidationError(f"cannot write {path}: {exc.strerror}", "path") from exc
        return len(recs)

    # ------------------------------------------------------------------ from the site's own finished work
    def collect(self) -> int:
        """Add a record for every finished part not yet collected; returns how many were added."""
        with self.store.connect() as c:
            have = {r[0] for r in c.execute(sa.select(learning_jobs.c.job_id))}
            done = c.execute(sa.select(parts, nodes.c.name.label("node_name"), nodes.c.capabilities,
                                       nodes.c.last_maintenance)
                             .join(nodes, nodes.c.id == parts.c.assigned_node)
                             .where(parts.c.state.in_(("COMPLETED", "FAILED")))).all()
            new = []
            for p in done:
                if str(p.id) in have:
                    continue
                rec = self._record(c, p)
                if rec is not None:
                    new.append(rec)
        return self.add(new)

    def _record(self, c: sa.Connection, p: sa.Row) -> JobRecord | None:
        changes = c.execute(sa.select(state_changes.c.to_state, state_changes.c.at)
                            .where(state_changes.c.kind == "part", state_changes.c.obj_id == str(p.id))
                            .order_by(state_changes.c.seq)).all()
        started = next((ch.at for ch in changes if ch.to_state == "IN_PROGRESS"), None)
        finished = next((ch.at for ch in reversed(changes) if ch.to_state in ("COMPLETED", "FAILED")), None)
        if started is None or finished is None or finished <= started:
            return None  # never ran here (imported finished, or offloaded): nothing to learn from
        features = prestart_features((p.size_x_mm, p.size_y_mm, p.size_z_mm), p.estimated_duration_s,
                                     p.estimated_material_g, p.file_path, p.capabilities or {})
        features["hours_since_maintenance"] = (started - p.last_maintenance) / 3600.0 if p.last_maintenance else 0.0
        features.update(self._window(c, str(p.assigned_node), started))
        power = self._series(c, str(p.assigned_node), "power_w", started, finished)
        energy = float(np.trapezoid(power[:, 1], power[:, 0])) / 3.6e6 if len(power) > 1 else 0.0
        used = self._series(c, str(p.assigned_node), "material_used_g", started, finished)
        return JobRecord(
            job_id=str(p.id), machine=p.node_name, process=p.process, material=p.material_type,
            started_at=started, finished_at=finished, features=features, duration_s=finished - started,
            energy_kwh=energy, material_g=float(used[-1, 1]) if len(used) else float(p.estimated_material_g or 0),
            outcome="completed" if p.state == "COMPLETED" else "failed",
            telemetry={"mean_power_w": float(power[:, 1].mean()) if len(power) else 0.0,
                       "peak_power_w": float(power[:, 1].max()) if len(power) else 0.0, "samples": float(len(power))},
            source="site")

    def _series(self, c: sa.Connection, node: str, metric: str, t0: float, t1: float) -> np.ndarray:
        rows = c.execute(sa.select(telemetry_raw.c.ts, telemetry_raw.c.value)
                         .where(telemetry_raw.c.node_id == node, telemetry_raw.c.metric == metric,
                                telemetry_raw.c.ts >= t0, telemetry_raw.c.ts <= t1)
                         .order_by(telemetry_raw.c.ts)).all()
        return np.array(rows, dtype=float).reshape(-1, 2)

    def window(self, node_id: str, start: float) -> dict[str, float]:
        """The telemetry window of a machine before ``start`` (for a failure-risk check before a start)."""
        with self.store.connect() as c:
            out = self._window(c, node_id, start)
            row = c.execute(sa.select(nodes.c.last_maintenance).where(nodes.c.id == node_id)).first()
        if row is not None and row[0]:
            out["hours_since_maintenance"] = (start - row[0]) / 3600.0
        return out

    def _window(self, c: sa.Connection, node: str, start: float) -> dict[str, float]:
        """The machine's telemetry in the hour before the start (what the failure model reads)."""
        vib = self._series(c, node, "vibration", start - WINDOW_S, start)
        temp = self._series(c, node, "temperature", start - WINDOW_S, start)
        target = self._series(c, node, "target_temperature", start - WINDOW_S, start)
        power = self._series(c, node, "power_w", start - WINDOW_S, start)
        out = {"vib_mean_1h": float(vib[:, 1].mean()) if len(vib) else 0.0,
               "vib_max_1h": float(vib[:, 1].max()) if len(vib) else 0.0,
               "power_std_w": float(power[:, 1].std()) if len(power) else 0.0}
        if len(temp) and len(target):
            held = temp[:, 1] - np.interp(temp[:, 0], target[:, 0], target[:, 1])
            out["temp_ripple_c"] = float(held[np.abs(held) < 15].std()) if np.any(np.abs(held) < 15) else 0.0
        return out
