"""The parsed form of a G-code file: straight moves as parallel arrays, plus what changes between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np


class MoveKind(IntEnum):
    TRAVEL = 0
    EXTRUDE = 1
    RETRACT = 2  # filament only, backwards
    UNRETRACT = 3  # filament only, forwards
    CUT = 4  # CNC/laser feed move with the tool working
    RAPID = 5  # CNC G0


@dataclass(slots=True)
class MachineLimits:
    """Firmware motion limits, mm/s and mm/s^2; what a file's M201/M203/M204/M205 set overrides these."""

    max_feed: tuple[float, float, float, float] = (500.0, 500.0, 12.0, 120.0)  # X Y Z E
    max_acc: tuple[float, float, float, float] = (1000.0, 1000.0, 200.0, 5000.0)
    jerk: tuple[float, float, float, float] = (8.0, 8.0, 0.4, 5.0)
    acc_print: float = 1000.0
    acc_travel: float = 1000.0
    acc_retract: float = 1000.0
    min_feed: float = 0.0
    min_travel_feed: float = 0.0
    junction_deviation: float | None = None  # mm; set -> GRBL / Marlin JD planning instead of jerk
    rapid_feed: float = 0.0  # CNC G0 speed, mm/s (0: fastest axis limit)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


@dataclass(slots=True)
class Toolpath:
    points: np.ndarray  # (n + 1, 3) positions in mm; move i goes from points[i] to points[i + 1]
    de: np.ndarray  # (n,) filament advanced by each move, mm (negative: retraction)
    feed: np.ndarray  # (n,) commanded feed, mm/s (NaN: rapid at machine speed)
    kind: np.ndarray  # (n,) MoveKind values, uint8
    line: np.ndarray  # (n,) 0-based source line
    feature: np.ndarray  # (n,) index into feature_names
    layer: np.ndarray  # (n,) layer index (-1 before the first layer)
    flavor: str  # "printer", "cnc" or "laser"
    feature_names: list[str] = field(default_factory=list)
    layer_z: list[float] = field(default_factory=list)
    limits: MachineLimits = field(default_factory=MachineLimits)
    # (move index, what changed) for limits set part-way through the file, in order.
    limit_changes: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    dwells: list[tuple[int, float]] = field(default_factory=list)  # (move index before which, seconds)
    syncs: list[int] = field(default_factory=list)  # move indices where the planner queue is flushed
    slicer: dict[str, Any] = field(default_factory=dict)  # figures the slicer wrote into the file
    line_count: int = 0
    units_inch: bool = False

    @property
    def moves(self) -> int:
        return len(self.de)

    def segments(self) -> tuple[np.ndarray, np.ndarray]:
        """Start and end points of every move, (n, 3) each."""
        return self.points[:-1], self.points[1:]
