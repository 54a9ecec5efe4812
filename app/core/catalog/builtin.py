"""Built-in templates made with trimesh primitives and extrusions (no booleans: they need an external engine)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh

from app.core.catalog.params import Param, material_param, process_param
from app.core.domain.errors import ValidationError


@dataclass(frozen=True, slots=True)
class Builtin:
    name: str
    description: str
    params: list[Param]
    build: Callable[[dict[str, Any]], trimesh.Trimesh]


def _len(name: str, default: float, lo: float, hi: float, what: str) -> Param:
    return Param(name, "length", default, lo, hi, description=what)


def _box(v: dict[str, Any]) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=[v["length"], v["width"], v["height"]])


def _plate(v: dict[str, Any]) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=[v["length"], v["width"], v["thickness"]])


def _bracket(v: dict[str, Any]) -> trimesh.Trimesh:
    """An L profile (leg lengths and thickness) extruded by the width: one closed solid, no union needed."""
    a, h, t = v["length"], v["height"], v["thickness"]
    if t >= min(a, h):
        raise ValidationError(f"bracket: thickness {t:g} mm must be less than both legs ({a:g}, {h:g} mm)",
                              "thickness")
    pts = np.array([[0, 0], [a, 0], [a, t], [t, t], [t, h], [0, h]], dtype=float)
    tris = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 5]])
    mesh = trimesh.creation.extrude_triangulation(pts, tris, v["width"])
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _spacer(v: dict[str, Any]) -> trimesh.Trimesh:
    inner, outer = v["inner_diameter"] / 2, v["outer_diameter"] / 2
    if inner >= outer:
        raise ValidationError("spacer: inner_diameter must be less than outer_diameter", "inner_diameter")
    return trimesh.creation.annulus(r_min=inner, r_max=outer, height=v["height"], sections=96)


def _common() -> list[Param]:
    return [process_param("fdm"), material_param("pla"), Param("quantity", "count", 1, 1, 10_000)]


BUILTINS: dict[str, Builtin] = {b.name: b for b in (
    Builtin("box", "a solid rectangular block",
            [_len("length", 40, 1, 1000, "X"), _len("width", 30, 1, 1000, "Y"), _len("height", 20, 1, 1000, "Z"),
             *_common()], _box),
    Builtin("plate", "a flat plate",
            [_len("length", 100, 5, 1000, "X"), _len("width", 60, 5, 1000, "Y"),
             _len("thickness", 3, 0.5, 50, "Z"), *_common()], _plate),
    Builtin("bracket", "an L bracket: two legs at right angles",
            [_len("length", 40, 5, 500, "base leg"), _len("height", 40, 5, 500, "upright leg"),
             _len("width", 20, 2, 500, "extrusion"), _len("thickness", 4, 1, 50, "wall"), *_common()], _bracket),
    Builtin("spacer", "a round spacer (a tube)",
            [_len("outer_diameter", 12, 2, 300, "outside"), _len("inner_diameter", 5.2, 0.5, 290, "bore"),
             _len("height", 8, 0.5, 300, "length"), *_common()], _spacer),
)}
