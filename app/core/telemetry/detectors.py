"""Statistical anomaly detectors per machine and metric: robust (rolling median/MAD) and EWMA z-score.

Both need a warm-up and several consecutive outliers before they speak, so one noisy reading never pages anyone.
They watch metrics that should be steady in normal work (vibration, quality score); transients that are
normal by design (a heat-up, a heater cycling) are left to the hard rules, which know the target.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

# MAD of a normal distribution is 0.6745 sigma.
_MAD_TO_SIGMA = 1.4826


@dataclass(slots=True)
class Verdict:
    score: float
    baseline: float


class RobustZ:
    """Rolling median and MAD over the last ``window`` values; flags ``consecutive`` values beyond ``z``."""

    __slots__ = ("window", "z", "consecutive", "min_samples", "floor", "_buf", "_run")

    def __init__(self, window: int = 120, z: float = 6.0, consecutive: int = 3, min_samples: int = 30,
                 floor: float = 1e-6) -> None:
        self.window, self.z, self.consecutive, self.min_samples, self.floor = window, z, consecutive, min_samples, floor
        self._buf: deque[float] = deque(maxlen=window)
        self._run = 0

    def update(self, value: float) -> Verdict | None:
        buf = self._buf
        verdict = None
        if len(buf) >= self.min_samples:
            s = sorted(buf)
            med = s[len(s) // 2]
            mad = sorted(abs(x - med) for x in s)[len(s) // 2]
            sigma = max(mad * _MAD_TO_SIGMA, self.floor, abs(med) * 1e-3)
            score = (value - med) / sigma
            if abs(score) > self.z:
                self._run += 1
                if self._run >= self.consecutive:
                    verdict = Verdict(score, med)
                # Outliers are kept out of the baseline so a fault does not become the new normal.
                return verdict
            self._run = 0
        buf.append(value)
        return verdict


class EwmaZ:
    """Exponentially weighted mean and variance; flags ``consecutive`` values beyond ``z`` sigmas."""

    __slots__ = ("alpha", "z", "consecutive", "min_samples", "floor", "_mean", "_var", "_n", "_run")

    def __init__(self, alpha: float = 0.05, z: float = 6.0, consecutive: int = 3, min_samples: int = 30,
                 floor: float = 1e-6) -> None:
        if not 0 < alpha < 1:
            raise ValueError("the EWMA weight is between 0 and 1")
        self.alpha, self.z, self.consecutive, self.min_samples, self.floor = alpha, z, consecutive, min_samples, floor
        self._mean = 0.0
        self._var = 0.0
        self._n = 0
        self._run = 0

    def update(self, value: float) -> Verdict | None:
        if self._n == 0:
            self._mean, self._n = value, 1
            return None
        sigma = max(math.sqrt(self._var), self.floor, abs(self._mean) * 1e-3)
        score = (value - self._mean) / sigma
        if self._n >= self.min_samples and abs(score) > self.z:
            self._run += 1
            return Verdict(score, self._mean) if self._run >= self.consecutive else None
        self._run = 0
        d = value - self._mean
        self._mean += self.alpha * d
        self._var = (1 - self.alpha) * (self._var + self.alpha * d * d)
        self._n += 1
        return None
