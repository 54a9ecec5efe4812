"""The batched writer: samples queue in memory and reach the store in one transaction per batch.

Rollups are written in the same transaction as the raw rows of the batch that closed their minute, so the
store never holds a rollup without its raw data (until retention prunes the raw rows on purpose).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from app.core.domain.errors import StoreError
from app.core.store.db import Store
from app.core.telemetry.repository import RawRow, TelemetryRepo
from app.core.telemetry.rollup import RollupAccumulator, RollupRow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WriterStats:
    queued: int = 0
    written: int = 0
    rollups_written: int = 0
    dropped: int = 0  # only when the store falls so far behind that the queue hits its bound
    batches: int = 0
    failures: int = 0
    last_error: str = ""


class BatchedWriter:
    def __init__(self, store: Store, *, batch_size: int = 5000, max_pending: int = 2_000_000,
                 rollup_grace_s: float = 5.0, repo: TelemetryRepo | None = None) -> None:
        self.store = store
        self.repo = repo or TelemetryRepo()
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.rollups = RollupAccumulator(rollup_grace_s)
        self.stats = WriterStats()
        self._pending: list[RawRow] = []
        self._lock = asyncio.Lock()

    def add(self, node_id: str, metric: str, ts: float, value: float, job_id: str | None = None) -> bool:
        """Queue one sample; False (and counted) when the queue is full."""
        if len(self._pending) >= self.max_pending:
            self.stats.dropped += 1
            return False
        self._pending.append((node_id, metric, ts, value, job_id))
        self.rollups.add(node_id, metric, ts, value)
        return True

    def add_sample(self, node_id: str, ts: float, metrics: dict[str, float], job_id: str | None = None) -> None:
        """Queue every value of one reading (the hot path: the rollup bookkeeping is inlined)."""
        if len(self._pending) + len(metrics) > self.max_pending:
            self.stats.dropped += len(metrics)
            return
        append = self._pending.append
        acc = self.rollups
        cells = acc._open  # noqa: SLF001 - same package, the hot path
        minute = ts - ts % 60.0
        for name, value in metrics.items():
            append((node_id, name, ts, value, job_id))
            key = (node_id, name, minute)
            cell = cells.get(key)
            if cell is None:
                cells[key] = [1, value, value, value]
            else:
                cell[0] += 1
                if value < cell[1]:
                    cell[1] = value
                cell[2] += value
                if value > cell[3]:
                    cell[3] = value
        if ts > acc.watermark:
            acc.watermark = ts

    @property
    def pending(self) -> int:
        return len(self._pending)

    def take(self, final: bool = False) -> tuple[list[RawRow], list[RollupRow]]:
        rows, self._pending = self._pending, []
        rolls = self.rollups.drain() if final else self.rollups.closed()
        return rows, rolls

    def write(self, rows: list[RawRow], rolls: list[RollupRow]) -> None:
        """Blocking: one transaction with the raw rows and closed rollups (runs on the store's writer thread)."""
        if not rows and not rolls:
            return
        try:
            with self.store.begin() as conn:
                for i in range(0, len(rows), self.batch_size):
                    self.repo.insert_raw(conn, rows[i:i + self.batch_size])
                self.repo.merge_rollups(conn, rolls)
        except StoreError as exc:
            self.stats.failures += 1
            self.stats.last_error = str(exc)
            # Keep the data: put it back for the next attempt rather than lose acknowledged samples.
            self._pending[:0] = rows
            for r in rolls:
                self._requeue_rollup(r)
            raise
        self.stats.written += len(rows)
        self.stats.rollups_written += len(rolls)
        self.stats.batches += 1

    def flush_sync(self, final: bool = False) -> int:
        rows, rolls = self.take(final)
        self.write(rows, rolls)
        return len(rows)

    async def flush(self, final: bool = False) -> int:
        async with self._lock:
            rows, rolls = self.take(final)
            if not rows and not rolls:
                return 0
            await self.store.run(self.write, rows, rolls)
            return len(rows)

    def _requeue_rollup(self, r: RollupRow) -> None:
        acc = self.rollups._open  # noqa: SLF001 - same package, restoring what we took
        cell = acc.get(r.key())
        if cell is None:
            acc[r.key()] = [r.n, r.vmin, r.vmean * r.n, r.vmax]
        else:
            cell[0] += r.n
            cell[1] = min(cell[1], r.vmin)
            cell[2] += r.vmean * r.n
            cell[3] = max(cell[3], r.vmax)
