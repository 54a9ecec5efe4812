"""G-code to a toolpath: Marlin/RepRap/Klipper printer files and GRBL CNC/laser files.

Lines that only move (G0-G3 and bare axis words) are interpreted in vectorised runs; the few lines
that change modes (G90/G91, M82/M83, G20/G21, G92, G28) end a run and are applied in Python between
runs. Other commands (limits, dwells, firmware retraction, spindle) are recorded against the move
they precede without interrupting a run.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.core.estimation.errors import GcodeFileError
from app.core.estimation.gcode_arcs import arc_segments
from app.core.estimation.gcode_comments import scan_comments
from app.core.estimation.gcode_lexer import MAX_NUMBER_CHARS, Words, lex
from app.core.estimation.gcode_model import MachineLimits, MoveKind, Toolpath
from app.core.estimation.gcode_specials import SpecialLine, apply_special

log = logging.getLogger(__name__)

_C = {c: ord(c) for c in "GMTXYZEFIJRSP"}
_SLOTS = "XYZEFIJRS"  # the words a motion line may carry, in table column order
_DUMP = len(_SLOTS)
_SLOT_LUT = np.full(256, _DUMP, dtype=np.uint8)
for _k, _ch in enumerate(_SLOTS):
    _SLOT_LUT[ord(_ch)] = _k
_CMD_LUT = np.zeros(256, dtype=bool)
_CMD_LUT[[ord("G"), ord("M"), ord("T")]] = True
_MODE_CODES = {("G", 90), ("G", 91), ("M", 82), ("M", 83), ("G", 20), ("G", 21), ("G", 92), ("G", 28)}


@dataclass(slots=True)
class ParseState:
    pos: np.ndarray = field(default_factory=lambda: np.zeros(3))  # machine position, mm
    offset: np.ndarray = field(default_factory=lambda: np.zeros(3))  # G92: machine = logical + offset
    e: float = 0.0  # continuous filament coordinate, mm
    e_offset: float = 0.0
    abs_xyz: bool = True
    abs_e: bool = True
    scale: float = 1.0  # 25.4 after G20
    feed: float = np.nan  # mm/s
    code: float = 1.0
    inch_seen: bool = False


def parse_gcode_file(path: str | Path, flavor: str | None = None) -> Toolpath:
    p = Path(path)
    if not p.exists():
        raise GcodeFileError(f"{p}: no such file")
    if p.is_dir():
        raise GcodeFileError(f"{p}: is a folder, not a G-code file")
    buf = p.read_bytes()
    return parse_gcode(buf, p.name, flavor)


def parse_gcode(buf: bytes, name: str = "G-code", flavor: str | None = None) -> Toolpath:
    if not buf.strip():
        raise GcodeFileError(f"{name}: the file is empty")
    head = buf[:4096]
    if head.startswith(b"GCDE"):
        raise GcodeFileError(f"{name}: binary G-code (.bgcode) is not supported; export plain text G-code")
    if head.count(b"\x00") > 0 or sum(b > 126 for b in head) > len(head) // 4:
        raise GcodeFileError(f"{name}: this is not a text G-code file (binary data)")
    words = lex(buf)
    comments = scan_comments(buf, words.newlines)
    figures = comments.slicer
    rrf = str(figures.get("gcode_flavor", "")).lower().startswith("reprap")
    cmd, moving = _command_masks(words)
    motion = _motion_lines(words, cmd, moving)
    _refuse_bad_numbers(buf, words, motion, name)
    vals = _line_values(words, motion, moving)
    specials = _special_lines(words, cmd, moving)
    printer_codes = {82.0, 83.0, 104.0, 109.0, 140.0, 190.0, 201.0, 203.0, 204.0, 205.0, 106.0, 107.0}
    printerish = bool(np.isfinite(vals["E"]).any()) or any(s.letter == "M" and s.code in printer_codes for s in specials)
    guess = flavor or ("printer" if printerish else _cnc_or_laser(specials))
    limits = MachineLimits() if guess == "printer" else _cnc_limits()
    st = ParseState(code=1.0 if guess == "printer" else 0.0)
    runs: list[dict[str, np.ndarray]] = []
    records: dict[str, list[Any]] = {"limits": [], "dwells": [], "syncs": [], "fw": [], "spindle": []}
    ctx = {"flavor": guess, "rrf": rrf, "figures": figures, "limits": limits}
    run_start = 0
    for sp in specials:
        at = int(np.searchsorted(motion, sp.line))
        if sp.changes_mode:
            if at > run_start:
                runs.append(_run(st, vals, run_start, at))
            run_start = at
        apply_special(sp, st, at, records, ctx)
    if len(motion) > run_start:
        runs.append(_run(st, vals, run_start, len(motion)))
    if not runs:
        raise GcodeFileError(f"{name}: no motion commands found; is this a G-code file?")
    tp = _assemble(runs, motion, records, comments, guess, limits, words.line_count, st.inch_seen)
    tp.slicer = figures
    if tp.moves == 0:
        raise GcodeFileError(f"{name}: the file moves nothing (no G0/G1/G2/G3 with coordinates)")
    return tp


# A coordinate or feed a machine cannot use: NaN, infinity, or a number that only an exponent makes (1e400: Marlin
# reads it as X1 E400, Prusa firmware as infinity). Only lines that move are checked; M117 text may say anything.
_EXPONENT = re.compile(rb"[0-9.][eE][-+]?[0-9]{3,}")
_TOKEN = re.compile(rb"([XYZEFIJRS])([-+]?(?:nan|inf(?:inity)?)(?![a-z])|[-+.0-9][-+.0-9e]*)", re.I)


def _refuse_bad_numbers(buf: bytes, w: Words, motion: np.ndarray, name: str) -> None:
    """Refuse the file, naming the line, when a motion line holds a coordinate or feed that is not a plain finite
    number. An estimate of such a file would be a guess, and a machine would read it one of several ways."""
    slot_word = _SLOT_LUT[w.letter] < _DUMP
    suspects = set(w.line[slot_word & np.isnan(w.value)].tolist())  # letters the lexer found no number for
    if _EXPONENT.search(buf):
        starts = w.newlines
        suspects.update(int(np.searchsorted(starts, m.start())) for m in _EXPONENT.finditer(buf))
    if not suspects:
        return
    moving = np.zeros(w.line_count, dtype=bool)
    moving[motion] = True
    for line in sorted(n for n in suspects if moving[n]):
        lo = 0 if line == 0 else int(w.newlines[line - 1]) + 1
        hi = int(w.newlines[line]) if line < len(w.newlines) else len(buf)
        code = re.sub(rb"\([^)]*\)?", b" ", buf[lo:hi].split(b";", 1)[0])
        for m in _TOKEN.finditer(code):
            token = m.group(2).decode("ascii", "replace")
            try:
                finite = math.isfinite(float(token)) and len(token) <= MAX_NUMBER_CHARS
            except ValueError:
                finite = False
            if not finite:
                word = (m.group(1).decode("ascii") + token)[:40]
                raise GcodeFileError(f"{name} line {line + 1}: {word} is not a finite number a machine can use; "
                                     "coordinates and feeds must be plain numbers")


def _command_masks(w: Words) -> tuple[np.ndarray, np.ndarray]:
    """(command words G/M/T with a number, of those the G0-G3 motion words); computed once per file."""
    cmd = _CMD_LUT[w.letter] & np.isfinite(w.value)
    g = np.flatnonzero(w.letter == _C["G"])
    v = w.value[g]
    moving = np.zeros(len(w.letter), dtype=bool)
    moving[g[(v == 0) | (v == 1) | (v == 2) | (v == 3)]] = True
    return cmd, moving


def _motion_lines(w: Words, cmd: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Lines with a G0-G3 word, or with axis words and no other command (modal motion, CNC style)."""
    n = w.line_count
    other = np.zeros(n, dtype=bool)
    other[w.line[cmd & ~moving]] = True
    first = np.ones(len(w.line), dtype=bool)
    np.not_equal(w.line[1:], w.line[:-1], out=first[1:])
    # Extended text commands (Klipper macros, M117-like text without a number) are not motion.
    other[w.line[first & np.isnan(w.value)]] = True
    is_motion = np.zeros(n, dtype=bool)
    is_motion[w.line[_SLOT_LUT[w.letter] < _DUMP]] = True
    is_motion &= ~other
    is_motion[w.line[moving]] = True
    return np.flatnonzero(is_motion)


def _line_values(w: Words, motion: np.ndarray, moving: np.ndarray) -> dict[str, np.ndarray]:
    """Per motion line, the value of each axis word (NaN when absent): one scatter into a table."""
    midx = np.full(w.line_count, -1, dtype=np.int64)
    midx[motion] = np.arange(len(motion))
    at = midx[w.line]
    slot = _SLOT_LUT[w.letter].astype(np.int64)
    sel = np.flatnonzero((at >= 0) & (slot < _DUMP))
    table = np.full(len(motion) * _DUMP, np.nan)
    table[at[sel] * _DUMP + slot[sel]] = w.value[sel]
    table = table.reshape(len(motion), _DUMP)
    out = {key: np.ascontiguousarray(table[:, k]) for k, key in enumerate(_SLOTS)}
    code = np.full(len(motion), np.nan)
    sel_g = moving & (at >= 0)
    code[at[sel_g]] = w.value[sel_g]
    out["code"] = code
    return out


def _special_lines(w: Words, cmd: np.ndarray, moving: np.ndarray) -> list[SpecialLine]:
    idx = np.flatnonzero(cmd & ~moving)
    if not len(idx):
        return []
    out: list[SpecialLine] = []
    letters, values, lines = w.letter, w.value, w.line
    bounds_lo = np.searchsorted(lines, lines[idx], "left")
    bounds_hi = np.searchsorted(lines, lines[idx], "right")
    for i, lo, hi in zip(idx.tolist(), bounds_lo.tolist(), bounds_hi.tolist(), strict=True):
        letter = chr(letters[i])
        code = float(values[i])
        params = {chr(letters[j]): float(values[j]) for j in range(lo, hi) if j != i}
        key = (letter, int(code)) if code.is_integer() else (letter, code)
        out.append(SpecialLine(int(lines[i]), letter, code, params, key in _MODE_CODES))
    return out


def _ffill(v: np.ndarray, start: float) -> np.ndarray:
    """Carry the last given value forward; ``start`` stands before the first element."""
    full = np.concatenate(([start], v))
    idx = np.where(np.isnan(full), 0, np.arange(len(full)))
    np.maximum.accumulate(idx, out=idx)
    return full[idx][1:]


def _run(st: ParseState, vals: dict[str, np.ndarray], a: int, b: int) -> dict[str, np.ndarray]:
    """Positions after each motion line in [a, b) under the current modes; advances the state."""
    xyz = np.empty((b - a, 3))
    for k, key in enumerate("XYZ"):
        v = vals[key][a:b] * st.scale
        if st.abs_xyz:
            xyz[:, k] = _ffill(v + st.offset[k], st.pos[k])
        else:
            xyz[:, k] = st.pos[k] + np.cumsum(np.nan_to_num(v))
    st.pos = xyz[-1].copy()
    ev = vals["E"][a:b] * st.scale
    e = _ffill(ev + st.e_offset, st.e) if st.abs_e else st.e + np.cumsum(np.nan_to_num(ev))
    st.e = float(e[-1])
    feed = _ffill(vals["F"][a:b] * (st.scale / 60.0), st.feed)
    st.feed = float(feed[-1])
    code = _ffill(vals["code"][a:b], st.code)
    st.code = float(code[-1])
    return {"xyz": xyz, "e": e, "feed": feed, "code": code, "I": vals["I"][a:b] * st.scale,
            "J": vals["J"][a:b] * st.scale, "R": vals["R"][a:b] * st.scale, "S": vals["S"][a:b],
            "start_xyz": np.array(xyz[0]), "idx": np.arange(a, b)}


def _assemble(runs: list[dict[str, np.ndarray]], motion: np.ndarray, rec: dict[str, list[Any]], comments: Any,
              flavor: str, limits: MachineLimits, line_count: int, inch: bool) -> Toolpath:
    xyz = np.concatenate([r["xyz"] for r in runs])
    e = np.concatenate([r["e"] for r in runs])
    idx = np.concatenate([r["idx"] for r in runs])
    feed = np.concatenate([r["feed"] for r in runs])
    code = np.concatenate([r["code"] for r in runs])
    ij = np.stack([np.concatenate([r["I"] for r in runs]), np.concatenate([r["J"] for r in runs])], axis=1)
    rad = np.concatenate([r["R"] for r in runs])
    pts = np.vstack([np.zeros((1, 3)), xyz])
    de = np.diff(np.concatenate(([0.0], e)))
    moved = _changed(pts[:-1], pts[1:]) | (de != 0) | (code == 2) | (code == 3)  # full circles end where they start
    keep = np.flatnonzero(moved)
    # Motion-line index -> index of the first kept move at or after it (where events attach).
    line_to_move = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(moved, out=line_to_move[1:])
    start, end = pts[keep], pts[keep + 1]
    de, feed, code, lines = de[keep], feed[keep], code[keep], motion[idx[keep]]
    ij, rad = ij[keep], rad[keep]
    arcs = np.flatnonzero((code == 2) | (code == 3))
    if len(arcs):
        start, end, de, feed, code, lines, line_to_move = _expand_arcs(
            arcs, start, end, de, feed, code, lines, ij, rad, line_to_move)
    points = np.vstack([start[:1], end]) if len(end) else np.zeros((1, 3))
    kind = _kinds(start, end, de, code, flavor, rec["spindle"], line_to_move)
    points, de, feed, kind, lines, shift = _insert_fw_retracts(points, de, feed, kind, lines, rec["fw"], line_to_move)

    def move_at(motion_index: int) -> int:
        i = int(line_to_move[min(motion_index, len(line_to_move) - 1)])
        return i + int(np.searchsorted(shift, i, "right")) if len(shift) else i

    feature, names = _per_move_markers(lines, comments.type_lines, comments.type_names)
    layer = np.searchsorted(comments.layer_lines, lines, "right") - 1 if len(comments.layer_lines) else _z_layers(points, kind)
    return Toolpath(
        points=points, de=de, feed=feed, kind=kind, line=lines, feature=feature, layer=layer.astype(np.int32),
        flavor=flavor, feature_names=names, limits=limits,
        limit_changes=[(move_at(i), ch) for i, ch in rec["limits"]],
        dwells=[(move_at(i), s) for i, s in rec["dwells"]],
        syncs=[move_at(i) for i in rec["syncs"]],
        line_count=line_count, units_inch=inch,
    )


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows that differ; column by column, as numpy reduces (n, 3) arrays along axis 1 slowly."""
    return (a[:, 0] != b[:, 0]) | (a[:, 1] != b[:, 1]) | (a[:, 2] != b[:, 2])


def _expand_arcs(arcs, start, end, de, feed, code, lines, ij, rad, line_to_move):  # type: ignore[no-untyped-def]
    pts, owner, _ = arc_segments(start[arcs], end[arcs], ij[arcs], rad[arcs], code[arcs] == 2)
    counts = np.ones(len(end), dtype=np.int64)
    counts[arcs] = np.bincount(owner, minlength=len(arcs))
    rep = np.repeat(np.arange(len(end)), counts)
    new_end = end[rep].copy()
    is_arc = np.zeros(len(end), dtype=bool)
    is_arc[arcs] = True
    arc_slots = np.flatnonzero(is_arc[rep])
    new_end[arc_slots] = pts
    new_start = np.vstack([start[:1], new_end[:-1]])
    first_of = np.append(np.cumsum(counts) - counts, len(new_end))
    return new_start, new_end, de[rep] / counts[rep], feed[rep], code[rep], lines[rep], first_of[line_to_move]


def _kinds(start, end, de, code, flavor, spindle, line_to_move) -> np.ndarray:  # type: ignore[no-untyped-def]
    dxy = (end[:, 0] != start[:, 0]) | (end[:, 1] != start[:, 1])
    dxyz = dxy | (end[:, 2] != start[:, 2])
    kind = np.full(len(de), MoveKind.TRAVEL, dtype=np.uint8)
    if flavor == "printer":
        kind[(de > 0) & dxy] = MoveKind.EXTRUDE
        kind[(de < 0) & ~dxyz] = MoveKind.RETRACT
        kind[(de > 0) & ~dxyz] = MoveKind.UNRETRACT
        return kind
    kind[code == 0] = MoveKind.RAPID
    if flavor == "cnc":
        kind[code != 0] = MoveKind.CUT
        return kind
    on = np.zeros(len(de), dtype=bool)  # laser: cutting only while M3/M4 is on
    for motion_index, state in spindle:
        on[int(line_to_move[min(motion_index, len(line_to_move) - 1)]):] = state
    kind[(code != 0) & on] = MoveKind.CUT
    return kind


def _insert_fw_retracts(points, de, feed, kind, lines, fw, line_to_move):  # type: ignore[no-untyped-def]
    """G10/G11: the firmware moves the filament by itself; add those moves so they cost time."""
    if not fw:
        return points, de, feed, kind, lines, np.zeros(0, dtype=np.int64)
    at = np.array([int(line_to_move[min(i, len(line_to_move) - 1)]) for i, _, _ in fw])
    amount = np.array([a for _, a, _ in fw])
    speed = np.array([s for _, _, s in fw])
    new_points = np.insert(points, at + 1, points[at], axis=0)
    kinds = np.where(amount < 0, MoveKind.RETRACT, MoveKind.UNRETRACT).astype(np.uint8)
    src_line = lines[np.minimum(at, len(lines) - 1)]
    shifted = at + np.arange(len(at))
    return (new_points, np.insert(de, at, amount), np.insert(feed, at, speed), np.insert(kind, at, kinds),
            np.insert(lines, at, src_line), np.sort(shifted))


def _per_move_markers(lines: np.ndarray, marker_lines: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    uniq: dict[str, int] = {"(none)": 0}
    ids = np.array([uniq.setdefault(n, len(uniq)) for n in names], dtype=np.int16)
    if not len(marker_lines):
        return np.zeros(len(lines), dtype=np.int16), list(uniq)
    at = np.searchsorted(marker_lines, lines, "right") - 1
    return np.where(at >= 0, ids[np.maximum(at, 0)], 0).astype(np.int16), list(uniq)


def _z_layers(points: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Without slicer markers: a new layer starts at each higher Z where something is extruded or cut."""
    z = points[1:, 2]
    working = (kind == MoveKind.EXTRUDE) | (kind == MoveKind.CUT)
    if not working.any():
        return np.zeros(len(z), dtype=np.int32)
    zs = np.round(z[working], 3)
    top = np.maximum.accumulate(zs)
    new = np.r_[True, top[1:] > top[:-1] + 1e-4]
    layer_w = np.cumsum(new) - 1
    out = np.full(len(z), -1, dtype=np.int64)
    out[np.flatnonzero(working)] = layer_w
    return np.maximum.accumulate(out)


def _cnc_or_laser(specials: list[SpecialLine]) -> str:
    """GRBL lasers run in M4 (dynamic power) mode; spindles use M3. Pass ``flavor`` to be sure."""
    return "laser" if any(s.letter == "M" and s.code == 4.0 for s in specials) else "cnc"


def _cnc_limits() -> MachineLimits:
    """GRBL-like defaults for a hobby router; files rarely carry limits, so these are the basis."""
    return MachineLimits(max_feed=(83.3, 83.3, 16.7, 0.0), max_acc=(250.0, 250.0, 100.0, 0.0),
                         jerk=(0.0, 0.0, 0.0, 0.0), acc_print=250.0, acc_travel=250.0, acc_retract=250.0,
                         junction_deviation=0.01, rapid_feed=83.3)
