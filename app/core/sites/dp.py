"""The differential-privacy step for what a site publishes to its linked sites.

The noise itself is the project's Laplace mechanism (``app.core.privacy``); this adds what a link needs: a
published value is noised once and reused while the true value stays the same, so a linked site cannot average
repeated publications to remove the noise, and counts stay whole and non-negative.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core import privacy


class Noiser:
    """Noised values, remembered per (name, true value) so repeated publication leaks nothing new."""

    def __init__(self, epsilon: float, seed: int | None = None, memory: int = 4096) -> None:
        if not epsilon > 0:
            raise ValueError("the privacy epsilon of a site must be a positive number")
        self.epsilon = epsilon
        self._rng = np.random.default_rng(seed)
        self._cache: dict[tuple[str, Any], float] = {}
        self._memory = memory

    def value(self, name: str, true: float, sensitivity: float) -> float:
        k = (name, true)
        if k not in self._cache:
            if len(self._cache) >= self._memory:
                self._cache.clear()
            self._cache[k] = float(privacy.laplace(true, sensitivity=sensitivity, epsilon=self.epsilon,
                                                   rng=self._rng))
        return self._cache[k]

    def count(self, name: str, true: int) -> int:
        """A count stays a whole, non-negative number after noise."""
        return max(0, round(self.value(name, float(true), 1.0)))
