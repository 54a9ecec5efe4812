"""Fixed-size ring buffers per machine and metric for live charts.

Arrays are allocated once per series at their full capacity, so memory stops growing as soon as every series
has been seen once (the "flat after the first minute" target), whatever the sample rate.
"""

from __future__ import annotations

import threading
from uuid import UUID

import numpy as np


class Ring:
    """The last ``capacity`` (timestamp, value) pairs of one series, oldest first on read."""

    __slots__ = ("_ts", "_v", "_i", "_n", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError("a ring buffer holds at least two points")
        self.capacity = capacity
        self._ts = np.zeros(capacity, dtype=np.float64)
        self._v = np.zeros(capacity, dtype=np.float32)
        self._i = 0
        self._n = 0

    def append(self, ts: float, value: float) -> None:
        i = self._i
        self._ts[i] = ts
        self._v[i] = value
        self._i = (i + 1) % self.capacity
        if self._n < self.capacity:
            self._n += 1

    def __len__(self) -> int:
        return self._n

    def last(self) -> tuple[float, float] | None:
        if not self._n:
            return None
        j = (self._i - 1) % self.capacity
        return float(self._ts[j]), float(self._v[j])

    def arrays(self, since: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the timestamps and values in time order (optionally only those at or after ``since``)."""
        if self._n < self.capacity:
            ts, v = self._ts[: self._n].copy(), self._v[: self._n].astype(np.float64)
        else:
            ts = np.concatenate((self._ts[self._i:], self._ts[: self._i]))
            v = np.concatenate((self._v[self._i:], self._v[: self._i])).astype(np.float64)
        if since is not None:
            k = int(np.searchsorted(ts, since, side="left"))
            ts, v = ts[k:], v[k:]
        return ts, v


class LiveBuffers:
    """Every series' ring, keyed by (node, metric). Written by the core, read by the UI thread: one lock."""

    def __init__(self, capacity: int = 600) -> None:
        self.capacity = capacity
        self._rings: dict[tuple[UUID, str], Ring] = {}
        self._lock = threading.Lock()

    def add(self, node_id: UUID, ts: float, metrics: dict[str, float]) -> None:
        rings = self._rings
        with self._lock:
            for name, value in metrics.items():
                ring = rings.get((node_id, name))
                if ring is None:
                    ring = rings[(node_id, name)] = Ring(self.capacity)
                ring.append(ts, value)

    def series(self, node_id: UUID, metric: str, since: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            ring = self._rings.get((node_id, metric))
            if ring is None:
                return np.empty(0), np.empty(0)
            return ring.arrays(since)

    def last(self, node_id: UUID, metric: str) -> tuple[float, float] | None:
        with self._lock:
            ring = self._rings.get((node_id, metric))
            return ring.last() if ring is not None else None

    def latest(self, metric: str) -> dict[UUID, float]:
        """The newest value of one metric on every machine (e.g. power_w for the ranking)."""
        with self._lock:
            out = {}
            for (node, name), ring in self._rings.items():
                if name == metric:
                    last = ring.last()
                    if last is not None:
                        out[node] = last[1]
            return out

    def keys(self) -> list[tuple[UUID, str]]:
        with self._lock:
            return list(self._rings)

    def nbytes(self) -> int:
        with self._lock:
            return sum(r._ts.nbytes + r._v.nbytes for r in self._rings.values())
