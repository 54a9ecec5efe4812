"""The differential-privacy step for what a site publishes to its linked sites.

Minimal on purpose (the project's shared helper, ``app.core.privacy``, was not there when this was written):
Laplace noise with scale sensitivity/epsilon. A published value is noised once and reused while the true value
stays the same, so a linked site cannot average repeated publications to remove the noise.
"""

from __future__ import annotations

import math
import random
from typing import Any


def laplace(value: float, sensitivity: float, epsilon: float, rng: random.Random) -> float:
    if epsilon <= 0:
        raise ValueError("epsilon must be positive")
    u = rng.random() - 0.5
    # Inverse CDF of the Laplace distribution; the clamp keeps log() finite at the edge.
    return value - (sensitivity / epsilon) * math.copysign(1.0, u) * math.log(max(1e-12, 1 - 2 * abs(u)))


class Noiser:
    """Noised values, remembered per (name, true value) so repeated publication leaks nothing new."""

    def __init__(self, epsilon: float, seed: int | None = None, memory: int = 4096) -> None:
        if not epsilon > 0:
            raise ValueError("the privacy epsilon of a site must be a positive number")
        self.epsilon = epsilon
        self._rng = random.Random(seed)
        self._cache: dict[tuple[str, Any], float] = {}
        self._memory = memory

    def value(self, name: str, true: float, sensitivity: float) -> float:
        k = (name, true)
        if k not in self._cache:
            if len(self._cache) >= self._memory:
                self._cache.clear()
            self._cache[k] = laplace(true, sensitivity, self.epsilon, self._rng)
        return self._cache[k]

    def count(self, name: str, true: int) -> int:
        """A count stays a whole, non-negative number after noise."""
        return max(0, round(self.value(name, float(true), 1.0)))
