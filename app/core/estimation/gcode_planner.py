"""Planner-based print time, computed the way firmware (and PrusaSlicer's estimator) plan motion.

Every move becomes a block with a cruise speed clipped by the axis limits, an acceleration clipped by
the axis accelerations, and an entry speed limited by the junction with the previous block (Marlin's
classic jerk, or junction deviation for GRBL / newer Marlin). Look-ahead runs a forward and a reverse
pass over entry speeds, then each block's trapezoid gives its time.

Both passes are recurrences of the form x[i] = min(x[i-1] + a[i], b[i]) on squared speeds; that is a
scan over the (min, +) semiring, which numpy runs in log2(n) vector steps instead of a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.estimation.gcode_model import MachineLimits, MoveKind, Toolpath

EPS_DIST = 1e-6
PREV_FEED_THRESHOLD = 1e-4


@dataclass(slots=True)
class Plan:
    block_time_s: np.ndarray  # (n,) per move, 0 for moves that do not move anything
    dwell_s: float
    total_s: float


def plan_time(tp: Toolpath, lookahead: str = "prusaslicer") -> Plan:
    """Plan every move. ``lookahead`` "prusaslicer" reproduces PrusaSlicer's estimator (forward pass
    before reverse pass, which lets a block after a short acceleration enter a little too fast);
    "exact" runs the reverse then forward pass so every speed change is reachable."""
    n = tp.moves
    if n == 0:
        return Plan(np.zeros(0), 0.0, 0.0)
    start, end = tp.points[:-1], tp.points[1:]
    d = np.empty((n, 4))
    d[:, :3] = end - start
    d[:, 3] = tp.de
    lim = _limit_arrays(tp, n)
    dist = np.sqrt((d[:, :3] ** 2).sum(axis=1))
    e_only = dist < EPS_DIST
    dist = np.where(e_only, np.abs(d[:, 3]), dist)
    valid = dist > 0
    dist_safe = np.where(valid, dist, 1.0)
    unit = d / dist_safe[:, None]

    travel = (tp.kind == MoveKind.TRAVEL) | (tp.kind == MoveKind.RAPID)
    feed = tp.feed.copy()
    rapid = np.isnan(feed) | (tp.kind == MoveKind.RAPID) & (tp.flavor != "printer")
    feed = np.where(rapid, np.inf, feed)  # rapids run at the axis limits
    feed = np.maximum(feed, np.where(travel, lim["min_travel_feed"], lim["min_feed"]))
    # Same as scaling the feed by min(1, max_feed_a / axis_feed_a): the cap each axis puts on the path speed.
    abs_unit = np.abs(unit)
    with np.errstate(divide="ignore", invalid="ignore"):
        axis_cap = np.where((abs_unit > 0) & (lim["max_feed"] > 0), lim["max_feed"] / abs_unit, np.inf)
    cruise = np.minimum(feed, axis_cap.min(axis=1))
    cruise = np.where(np.isfinite(cruise), cruise, 10.0)  # no feed and no limit known: a cautious 10 mm/s
    axis_feed = cruise[:, None] * unit
    abs_axis = np.abs(axis_feed)

    acc = np.where(travel, lim["acc_travel"], np.where(e_only, lim["acc_retract"], lim["acc_print"]))
    with np.errstate(divide="ignore", invalid="ignore"):
        per_axis = np.where(np.abs(unit) > 0, lim["max_acc"] / np.abs(unit), np.inf)
    per_axis = np.where((lim["max_acc"] > 0) & (acc[:, None] * np.abs(unit) > lim["max_acc"]), per_axis, np.inf)
    acc = np.minimum(acc, per_axis.min(axis=1))
    acc = np.where(acc > 0, acc, 1.0)

    jd = lim["junction_deviation"]
    if np.isfinite(jd).any() and (jd > 0).any():
        safe, vmax_junction = _junction_deviation(unit, cruise, acc, jd)
    else:
        safe, vmax_junction = _classic_jerk(axis_feed, abs_axis, cruise, lim["jerk"])

    # Blocks after a queue flush (dwell, M400) start from their safe speed.
    first = np.zeros(n, dtype=bool)
    first[0] = True
    for s in tp.syncs:
        if 0 <= s < n:
            first[s] = True
    vmax_junction = np.where(first, safe, vmax_junction)

    two_ad = 2.0 * acc * dist
    v_allow = np.sqrt(safe**2 + two_ad)
    entry0 = np.minimum(vmax_junction, v_allow)
    nominal = cruise <= v_allow
    last = np.zeros(n, dtype=bool)
    last[-1] = True
    last[np.flatnonzero(first)[1:] - 1] = True
    if lookahead == "exact":
        entry = _exact_lookahead(entry0, vmax_junction, two_ad, first, last)
    else:
        entry = _prusaslicer_lookahead(entry0, vmax_junction, two_ad, nominal, first, last)
    exit_ = np.empty(n)
    exit_[:-1] = entry[1:]
    exit_[last] = safe[last]
    t = _trapezoid_time(dist, entry, exit_, cruise, acc)
    t = np.where(valid, t, 0.0)
    dwell = float(sum(s for _, s in tp.dwells))
    return Plan(t, dwell, float(t.sum() + dwell))


def _prusaslicer_lookahead(entry0, vmax_junction, two_ad, nominal, first, last):  # type: ignore[no-untyped-def]
    n = len(entry0)
    # Forward pass (PrusaSlicer runs it first): a block can only enter as fast as the previous one can
    # accelerate to over its own length, unless that previous block reaches its nominal speed anyway.
    add = np.empty(n)
    add[0] = np.inf
    add[1:] = np.where(nominal, np.inf, two_ad)[:-1]
    add[first] = np.inf
    entry_fwd = np.sqrt(_minplus_scan(add, entry0**2))
    # Reverse pass: a block must be able to slow down to the next block's entry speed; blocks the
    # forward pass left at their junction maximum are not revisited.
    untouched = np.isclose(entry_fwd, vmax_junction, rtol=0, atol=1e-9)
    w_rev = np.where(nominal | untouched, np.inf, two_ad)
    b = np.where(last, entry_fwd**2, vmax_junction**2)
    add_r = np.where(last, np.inf, w_rev)
    return np.sqrt(_minplus_scan(add_r[::-1], b[::-1])[::-1])


def _exact_lookahead(entry0, vmax_junction, two_ad, first, last):  # type: ignore[no-untyped-def]
    n = len(entry0)
    b = np.where(last, entry0**2, vmax_junction**2)
    rev = _minplus_scan(np.where(last, np.inf, two_ad)[::-1], b[::-1])[::-1]
    add = np.empty(n)
    add[0] = np.inf
    add[1:] = two_ad[:-1]
    add[first] = np.inf
    return np.sqrt(_minplus_scan(add, rev))


def _classic_jerk(axis_feed: np.ndarray, abs_axis: np.ndarray, cruise: np.ndarray, jerk: np.ndarray):  # type: ignore[no-untyped-def]
    """Marlin's classic jerk junction, as PrusaSlicer's GCodeProcessor evaluates it."""
    n = len(cruise)
    safe = cruise.copy()
    over = abs_axis > jerk
    safe = np.minimum(safe, np.where(over, jerk, np.inf).min(axis=1))
    prev_cruise = np.r_[0.0, cruise[:-1]]
    prev_axis = np.vstack([np.zeros((1, 4)), axis_feed[:-1]])
    prev_safe = np.r_[0.0, safe[:-1]]
    prev_larger = prev_cruise > cruise
    with np.errstate(divide="ignore", invalid="ignore"):
        smaller = np.where(prev_larger, cruise / prev_cruise, prev_cruise / cruise)
    vmax = np.where(prev_larger, cruise, prev_cruise)
    v_factor = np.ones(n)
    limited = np.zeros(n, dtype=bool)
    for a in range(4):
        v_exit = prev_axis[:, a] * np.where(prev_larger, smaller, 1.0)
        v_entry = axis_feed[:, a].copy()
        v_exit = np.where(limited, v_exit * v_factor, v_exit)
        v_entry = np.where(limited, v_entry * v_factor, v_entry)
        coast_dn = (v_entry > 0) | (v_exit < 0)
        coast_up = (v_entry < 0) | (v_exit > 0)
        j = np.where(v_exit > v_entry,
                     np.where(coast_dn, v_exit - v_entry, np.maximum(v_exit, -v_entry)),
                     np.where(coast_up, v_entry - v_exit, np.maximum(-v_exit, v_entry)))
        hit = j > jerk[:, a]
        with np.errstate(divide="ignore", invalid="ignore"):
            v_factor = np.where(hit, v_factor * jerk[:, a] / j, v_factor)
        limited |= hit
    vmax = np.where(limited, vmax * v_factor, vmax)
    thr = vmax * 0.99
    vmax = np.where((prev_safe > thr) & (safe > thr), safe, vmax)
    vmax = np.where(prev_cruise > PREV_FEED_THRESHOLD, vmax, safe)
    vmax[0] = safe[0]
    return safe, vmax


def _junction_deviation(unit: np.ndarray, cruise: np.ndarray, acc: np.ndarray, jd: np.ndarray):  # type: ignore[no-untyped-def]
    """GRBL's junction speed: the largest speed whose centripetal acceleration on a circle through the
    corner, deviating ``jd`` mm from it, stays within the acceleration."""
    u = unit[:, :3]
    norm = np.linalg.norm(u, axis=1, keepdims=True)
    u = np.where(norm > 0, u / np.where(norm > 0, norm, 1), 0.0)
    cos_theta = -(u[1:] * u[:-1]).sum(axis=1)  # angle between the moves, 180 deg = straight on
    cos_theta = np.clip(cos_theta, -1.0, 1.0)
    sin_half = np.sqrt(np.maximum(0.5 * (1.0 - cos_theta), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        v2 = acc[1:] * jd[1:] * sin_half / np.maximum(1.0 - sin_half, 1e-12)
    vj = np.sqrt(np.maximum(v2, 0.0))
    vj = np.minimum(vj, np.minimum(cruise[1:], cruise[:-1]))
    vj = np.where(cos_theta > 0.999999, 0.0, vj)  # reversal
    safe = np.zeros(len(cruise))  # GRBL plans from and to standstill at the queue ends
    return safe, np.r_[0.0, vj]


def _minplus_scan(add: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """x[i] = min(x[i-1] + add[i], cap[i]) with x[-1] = +inf, by doubling (Hillis-Steele)."""
    a = add.astype(np.float64).copy()
    b = cap.astype(np.float64).copy()
    step = 1
    n = len(a)
    while step < n:
        a_prev, b_prev = a[:-step], b[:-step]
        nb = np.minimum(b[step:], b_prev + a[step:])
        na = a_prev + a[step:]
        b[step:] = nb
        a[step:] = na
        step *= 2
    return b


def _trapezoid_time(dist, v0, v1, vc, acc):  # type: ignore[no-untyped-def]
    """Time of each block: accelerate from v0, cruise at vc, decelerate to v1 (PrusaSlicer's trapezoid)."""
    acc_d = np.maximum(0.0, (vc**2 - v0**2) / (2 * acc))
    dec_d = np.maximum(0.0, (vc**2 - v1**2) / (2 * acc))
    cruise_d = dist - acc_d - dec_d
    short = cruise_d < 0
    inter = np.clip((2 * acc * dist - v0**2 + v1**2) / (4 * acc), 0.0, dist)
    acc_d = np.where(short, inter, acc_d)
    cruise_d = np.where(short, 0.0, cruise_d)
    top = np.where(short, np.sqrt(np.maximum(v0**2 + 2 * acc * acc_d, 0.0)), vc)
    t_acc = (top - v0) / acc
    dec_len = dist - acc_d - cruise_d
    v_end = np.sqrt(np.maximum(top**2 - 2 * acc * dec_len, 0.0))
    t_dec = (top - v_end) / acc
    with np.errstate(divide="ignore", invalid="ignore"):
        t_cruise = np.where(top > 0, cruise_d / top, 0.0)
    return np.maximum(t_acc, 0.0) + t_cruise + np.maximum(t_dec, 0.0)


def _limit_arrays(tp: Toolpath, n: int) -> dict[str, np.ndarray]:
    """Per-move limits: the file's starting limits, changed from the move where M201.. set new ones."""
    base: MachineLimits = tp.limits
    out: dict[str, np.ndarray] = {
        "max_feed": np.tile(np.array(base.max_feed, dtype=float), (n, 1)),
        "max_acc": np.tile(np.array(base.max_acc, dtype=float), (n, 1)),
        "jerk": np.tile(np.array(base.jerk, dtype=float), (n, 1)),
    }
    for key in ("acc_print", "acc_travel", "acc_retract", "min_feed", "min_travel_feed"):
        out[key] = np.full(n, float(getattr(base, key)))
    out["junction_deviation"] = np.full(n, np.nan if base.junction_deviation is None else base.junction_deviation)
    for at, change in tp.limit_changes:
        if at <= 0:
            continue
        for key, val in change.items():
            if isinstance(val, dict):
                for i, v in val.items():
                    out[key][at:, i] = v
            elif key in out:
                out[key][at:] = val
    return out
