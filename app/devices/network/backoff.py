"""Capped, jittered reconnect delays (sans-I/O: the caller sleeps)."""

from __future__ import annotations

import random


class Backoff:
    """Delays grow ``first_s · factor^n`` up to ``cap_s``; each is drawn from [½·d, d] ("equal jitter") so a
    fleet that lost the same switch does not reconnect in lock step."""

    def __init__(self, first_s: float = 0.5, cap_s: float = 30.0, factor: float = 2.0,
                 rng: random.Random | None = None) -> None:
        if first_s <= 0 or cap_s < first_s or factor < 1:
            raise ValueError("backoff needs 0 < first_s <= cap_s and factor >= 1")
        self.first_s = first_s
        self.cap_s = cap_s
        self.factor = factor
        self._rng = rng or random.Random()
        self.attempts = 0

    def next_delay_s(self) -> float:
        ceiling = min(self.cap_s, self.first_s * self.factor ** min(self.attempts, 32))
        self.attempts += 1
        return ceiling / 2 + self._rng.random() * ceiling / 2

    def reset(self) -> None:
        self.attempts = 0
