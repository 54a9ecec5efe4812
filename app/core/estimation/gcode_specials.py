"""Commands other than moves: modes, coordinate resets, machine limits, dwells, firmware retraction."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Marlin's firmware-retraction defaults (M207/M208), used when neither the file nor the slicer says.
FW_RETRACT_MM = 3.0
FW_RETRACT_MM_S = 45.0
FW_RECOVER_MM_S = 8.0


@dataclass(slots=True)
class SpecialLine:
    line: int
    letter: str
    code: float
    params: dict[str, float] = field(default_factory=dict)
    changes_mode: bool = False


def apply_special(sp: SpecialLine, st: Any, at: int, rec: dict[str, list[Any]], ctx: dict[str, Any]) -> None:
    """Apply one command to the parse state ``st``; ``at`` is the motion-line index it precedes."""
    code, p = sp.code, sp.params
    if sp.letter == "G":
        _g(code, p, st, at, rec, ctx)
    elif sp.letter == "M":
        _m(code, p, st, at, rec, ctx)


def _g(code: float, p: dict[str, float], st: Any, at: int, rec: dict[str, list[Any]], ctx: dict[str, Any]) -> None:
    if code == 90:
        st.abs_xyz = True
        st.abs_e = True
    elif code == 91:
        st.abs_xyz = False
        st.abs_e = False
    elif code == 20:
        st.scale = 25.4
        st.inch_seen = True
    elif code == 21:
        st.scale = 1.0
    elif code == 92:
        _set_position(p, st)
    elif code == 28:
        _home(p, st)
    elif code == 4:
        seconds = _dwell_seconds(p, ctx["flavor"])
        if seconds > 0:
            rec["dwells"].append((at, seconds))
        rec["syncs"].append(at)
    elif code in (10, 11) and ctx["flavor"] == "printer" and "L" not in p and "P" not in p:
        fig = ctx["figures"]
        length = float(fig.get("retract_length") or ctx.get("fw_length", FW_RETRACT_MM))
        if code == 10:
            speed = float(fig.get("retract_speed") or ctx.get("fw_speed", FW_RETRACT_MM_S))
            rec["fw"].append((at, -length, speed))
        else:
            speed = float(fig.get("deretract_speed") or fig.get("retract_speed") or ctx.get("fw_recover", FW_RECOVER_MM_S))
            rec["fw"].append((at, length, speed))


def _m(code: float, p: dict[str, float], st: Any, at: int, rec: dict[str, list[Any]], ctx: dict[str, Any]) -> None:
    if code == 82:
        st.abs_e = True
    elif code == 83:
        st.abs_e = False
    elif code in (3, 4):
        rec["spindle"].append((at, True))
    elif code == 5:
        rec["spindle"].append((at, False))
    elif code in (400, 0, 1, 600):
        rec["syncs"].append(at)
    elif code == 207:  # firmware retraction settings
        if "S" in p:
            ctx["fw_length"] = p["S"]
        if "F" in p:
            ctx["fw_speed"] = p["F"] / 60.0
    elif code == 208 and "F" in p:
        ctx["fw_recover"] = p["F"] / 60.0
    elif code in (201, 203, 204, 205, 566):
        change = _limit_change(code, p, ctx)
        if change:
            rec["limits"].append((at, change))
            _apply_limits(ctx["limits"], change, at)


def _set_position(p: dict[str, float], st: Any) -> None:
    """G92: the current point gets new logical coordinates; machine positions stay continuous."""
    given = False
    for k, axis in enumerate("XYZ"):
        if axis in p and np.isfinite(p[axis]):
            st.offset[k] = st.pos[k] - p[axis] * st.scale
            given = True
    if "E" in p and np.isfinite(p["E"]):
        st.e_offset = st.e - p["E"] * st.scale
        given = True
    if not given:  # bare G92 zeroes every axis
        st.offset = st.pos.copy()
        st.e_offset = st.e


def _home(p: dict[str, float], st: Any) -> None:
    """G28 goes to the origin of the named axes (all when none are named); takes no planned time."""
    axes = [k for k, a in enumerate("XYZ") if a in p] or [0, 1, 2]
    for k in axes:
        st.pos[k] = 0.0
        st.offset[k] = 0.0


def _dwell_seconds(p: dict[str, float], flavor: str) -> float:
    if "S" in p and np.isfinite(p["S"]):
        return max(0.0, p["S"])
    if "P" in p and np.isfinite(p["P"]):
        # Marlin/RepRap take P in milliseconds; GRBL takes P in seconds.
        return max(0.0, p["P"] if flavor != "printer" else p["P"] / 1000.0)
    return 0.0


def _limit_change(code: float, p: dict[str, float], ctx: dict[str, Any]) -> dict[str, Any]:
    axes = "XYZE"
    fin = {k: v for k, v in p.items() if np.isfinite(v)}
    if code == 201:
        return {"max_acc": {axes.index(a): v for a, v in fin.items() if a in axes}}
    if code == 203:
        per_min = ctx["rrf"]  # RepRapFirmware takes M203 in mm/min, Marlin in mm/s
        return {"max_feed": {axes.index(a): v / 60.0 if per_min else v for a, v in fin.items() if a in axes}}
    if code == 566:  # RepRapFirmware jerk, mm/min
        return {"jerk": {axes.index(a): v / 60.0 for a, v in fin.items() if a in axes}}
    if code == 204:
        out: dict[str, Any] = {}
        if "S" in fin:  # legacy: S sets printing and travel, T (if given) retraction
            out["acc_print"] = out["acc_travel"] = fin["S"]
            if "T" in fin:
                out["acc_retract"] = fin["T"]
        else:
            if "P" in fin:
                out["acc_print"] = fin["P"]
            if "R" in fin:
                out["acc_retract"] = fin["R"]
            if "T" in fin:
                out["acc_travel"] = fin["T"]
        return out
    out = {"jerk": {axes.index(a): v for a, v in fin.items() if a in axes}}
    if "J" in fin:
        out["junction_deviation"] = fin["J"]
    if "S" in fin:
        out["min_feed"] = fin["S"]
    if "T" in fin:
        out["min_travel_feed"] = fin["T"]
    return out


def _apply_limits(limits: Any, change: dict[str, Any], at: int) -> None:
    """Limits set before the first move become the file's limits; later ones stay as changes."""
    if at > 0:
        return
    for key, val in change.items():
        if isinstance(val, dict):
            cur = list(getattr(limits, key))
            for i, v in val.items():
                cur[i] = v
            setattr(limits, key, tuple(cur))
        else:
            setattr(limits, key, val)
