"""One-minute rollups (n, min, mean, max) kept in memory while a minute is open, written once it closes.

Writing a rollup row per minute rather than per sample keeps the store's write load at 1/60 of the raw rate
at 1 Hz. A sample that arrives after its minute was written (late, or imported) is merged into the stored row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MINUTE_S = 60.0


def minute_of(ts: float) -> float:
    return math.floor(ts / MINUTE_S) * MINUTE_S


@dataclass(slots=True)
class RollupRow:
    node_id: str
    metric: str
    minute: float
    n: int
    vmin: float
    vmean: float
    vmax: float

    def merged(self, other: RollupRow) -> RollupRow:
        n = self.n + other.n
        mean = (self.vmean * self.n + other.vmean * other.n) / n
        return RollupRow(self.node_id, self.metric, self.minute, n, min(self.vmin, other.vmin), mean,
                         max(self.vmax, other.vmax))

    def key(self) -> tuple[str, str, float]:
        return self.node_id, self.metric, self.minute


class RollupAccumulator:
    """Open minutes per (node, metric). ``closed`` hands out the minutes that can no longer change."""

    def __init__(self, grace_s: float = 5.0) -> None:
        self.grace_s = grace_s
        # key -> [n, min, sum, max]: a list is the cheapest mutable cell in CPython
        self._open: dict[tuple[str, str, float], list[float]] = {}
        self.watermark = float("-inf")  # newest sample time seen

    def add(self, node_id: str, metric: str, ts: float, value: float) -> None:
        key = (node_id, metric, ts - ts % MINUTE_S)
        cell = self._open.get(key)
        if cell is None:
            self._open[key] = [1, value, value, value]
        else:
            cell[0] += 1
            if value < cell[1]:
                cell[1] = value
            cell[2] += value
            if value > cell[3]:
                cell[3] = value
        if ts > self.watermark:
            self.watermark = ts

    def __len__(self) -> int:
        return len(self._open)

    def closed(self, now_ts: float | None = None) -> list[RollupRow]:
        """Remove and return every minute that ended more than ``grace_s`` before ``now_ts`` (default: the
        newest sample seen)."""
        now = self.watermark if now_ts is None else now_ts
        limit = now - self.grace_s - MINUTE_S
        done = [k for k in self._open if k[2] <= limit]
        return [self._row(k, self._open.pop(k)) for k in done]

    def drain(self) -> list[RollupRow]:
        """Everything, open minutes included (on shutdown: they are merged if more samples come later)."""
        rows = [self._row(k, c) for k, c in self._open.items()]
        self._open.clear()
        return rows

    @staticmethod
    def _row(key: tuple[str, str, float], c: list[float]) -> RollupRow:
        n = int(c[0])
        return RollupRow(key[0], key[1], key[2], n, c[1], c[2] / n, c[3])


def rollup_of(samples: list[tuple[str, str, float, float]]) -> list[RollupRow]:
    """Rollups of (node, metric, ts, value) samples, computed directly (a reference for tests and imports)."""
    acc = RollupAccumulator()
    for node, metric, ts, value in samples:
        acc.add(node, metric, ts, value)
    return acc.drain()
