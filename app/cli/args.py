"""Argument types shared by the commands: numbers from the command line are finite, or a one-line usage error."""

from __future__ import annotations

import argparse
import math


def finite_float(text: str) -> float:
    """``float`` that refuses nan, inf and numbers too large to be finite (1e400): argparse turns the
    ``ArgumentTypeError`` into the usual one-line usage error with exit code 2."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_float(text: str) -> float:
    """A finite number above zero (timeouts, time scales): 0, negatives, nan and inf are one-line usage errors."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value
