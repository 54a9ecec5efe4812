"""Named template parameters with types and limits, and the checking of values an operator gives for them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from app.core.domain.enums import ProcessType
from app.core.domain.errors import ValidationError

KINDS = ("length", "number", "count", "text", "bool", "choice")
MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str  # one of KINDS; a length is in mm
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    description: str = ""

    def allowed(self) -> str:
        """What this parameter takes, in words (for errors and ``templates show``)."""
        if self.kind == "choice":
            return f"{self.name}: one of {', '.join(self.choices)}"
        if self.kind in ("length", "number", "count"):
            unit = " mm" if self.kind == "length" else ""
            what = "whole number" if self.kind == "count" else "number"
            return f"{self.name}: {what} {_num(self.minimum)} to {_num(self.maximum)}{unit}"
        if self.kind == "bool":
            return f"{self.name}: true or false"
        return f"{self.name}: text up to {MAX_TEXT} characters"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "default": self.default, "min": self.minimum,
                "max": self.maximum, "choices": list(self.choices), "description": self.description}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Param:
        return cls(d["name"], d["kind"], d.get("default"), d.get("min"), d.get("max"),
                   tuple(d.get("choices") or ()), d.get("description", ""))


def _num(v: float | None) -> str:
    return "any" if v is None else f"{v:g}"


def process_param(default: str = "fdm") -> Param:
    return Param("process", "choice", default, choices=tuple(p.value for p in ProcessType),
                 description="how it is made")


def material_param(default: str = "pla") -> Param:
    from app.core.domain.materials import KNOWN_MATERIALS

    return Param("material", "choice", default, choices=tuple(sorted(KNOWN_MATERIALS)), description="material")


def check_params(params: list[Param], given: dict[str, Any], where: str) -> dict[str, Any]:
    """Typed values for every parameter (defaults filled in). Unknown names, wrong types and values out of limits
    raise one ValidationError that lists what ``where`` accepts."""
    by_name = {p.name: p for p in params}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        raise ValidationError(f"{where} has no parameter {', '.join(unknown)}; it takes: {_listing(params)}",
                              unknown[0])
    out: dict[str, Any] = {}
    for p in params:
        raw = given.get(p.name, p.default)
        try:
            out[p.name] = _value(p, raw)
        except ValueError as exc:
            raise ValidationError(f"{where}: {p.name}={str(raw)[:40]!r} is not allowed ({exc}); "
                                  f"allowed: {p.allowed()}", p.name) from None
    return out


def _listing(params: list[Param]) -> str:
    return "; ".join(p.allowed() for p in params) or "no parameters"


def _value(p: Param, raw: Any) -> Any:
    if p.kind in ("length", "number", "count"):
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError("not a number")
        try:
            number = float(raw)
        except ValueError:
            raise ValueError("not a number") from None
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        if p.kind == "count":
            if number != int(number):
                raise ValueError("not a whole number")
            number = int(number)
        if p.minimum is not None and number < p.minimum or p.maximum is not None and number > p.maximum:
            raise ValueError("out of limits")
        return number
    if p.kind == "bool":
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueError("not true or false")
    text = str(raw)
    if p.kind == "choice":
        if text not in p.choices:
            raise ValueError("not one of the choices")
        return text
    if len(text) > MAX_TEXT or any(c in text for c in "\"\\\n\r"):
        raise ValueError(f"text must be one line of at most {MAX_TEXT} characters without quotes or backslashes")
    return text


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``key=value`` words from the command line."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"parameters are written key=value, not {item[:40]!r}")
        out[key.strip()] = value.strip()
    return out
