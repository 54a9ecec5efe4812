"""What a node agent ran: its current and last jobs (run id, job, progress, outcome), kept so that a control room
that lost the link can be told on reconnect what happened while apart.

The record is written to a small JSON file when a job starts and when it ends (atomically, mode 0600), so even
an agent that was restarted can say that a job finished. Progress is kept in memory and written at most every
``save_every_s`` seconds: it only guides the control room, the outcome is what counts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
KEEP = 20  # records kept (the newest first in what is reported)
REPORT = 5  # records sent in a welcome


@dataclass(slots=True)
class RunRecord:
    run_id: str
    job_id: str | None
    part_id: str | None
    copy: int | None
    state: str  # "running", or the outcome: "completed", "failed", "cancelled", "paused"
    fraction: float = 0.0
    lines_acked: int = 0
    lines_total: int = 0
    started_at: str = ""
    ended_at: str = ""
    message: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        return cls(str(d["run_id"]), _opt(d.get("job_id")), _opt(d.get("part_id")),
                   None if d.get("copy") is None else int(d["copy"]), str(d["state"]),
                   float(d.get("fraction") or 0.0), int(d.get("lines_acked") or 0), int(d.get("lines_total") or 0),
                   str(d.get("started_at") or ""), str(d.get("ended_at") or ""), str(d.get("message") or ""))


class RunJournal:
    def __init__(self, path: Path | None = None, save_every_s: float = 5.0) -> None:
        self.path = path
        self.save_every_s = save_every_s
        self._records: list[RunRecord] = self._load()
        self._saved_at = 0.0

    def _load(self) -> list[RunRecord]:
        if self.path is None or not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            records = [RunRecord.from_dict(d) for d in data][:KEEP]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("the run journal %s is unreadable (%s); starting a new one", self.path, exc)
            return []
        for r in records:  # the agent stopped while these ran: the machine's driver no longer holds them
            if r.state == "running":
                r.state, r.message = "paused", "the node agent stopped while this ran"
        return records

    @property
    def current(self) -> RunRecord | None:
        return self._records[0] if self._records and self._records[0].state == "running" else None

    def recent(self, n: int = REPORT) -> list[dict[str, Any]]:
        return [asdict(r) for r in self._records[:n]]

    def started(self, run_id: str, job_id: str | None, part_id: str | None, copy: int | None) -> RunRecord:
        rec = RunRecord(run_id, job_id, part_id, copy, "running", started_at=_now())
        self._records = [rec, *self._records][:KEEP]
        self._save(force=True)
        return rec

    def progress(self, fraction: float, lines_acked: int, lines_total: int) -> None:
        rec = self.current
        if rec is None:
            return
        rec.fraction, rec.lines_acked, rec.lines_total = fraction, lines_acked, lines_total
        self._save()

    def finished(self, job_id: str | None, outcome: str, message: str) -> RunRecord | None:
        rec = self.current
        if rec is None or (job_id is not None and rec.job_id not in (None, job_id)):
            return None
        rec.state, rec.message, rec.ended_at = outcome, message[:200], _now()
        if outcome == "completed":
            rec.fraction = 1.0
        self._save(force=True)
        return rec

    def refused(self, run_id: str) -> None:
        """The driver did not take the job after all: no record of it."""
        self._records = [r for r in self._records if r.run_id != run_id]
        self._save(force=True)

    def _save(self, force: bool = False) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if not force and now - self._saved_at < self.save_every_s:
            return
        self._saved_at = now
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump([asdict(r) for r in self._records], fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:  # the record in memory still serves this run
            log.warning("cannot write the run journal %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()


def _opt(v: Any) -> str | None:
    return None if v in (None, "") else str(v)


def _now() -> str:
    return datetime.now(UTC).isoformat()
