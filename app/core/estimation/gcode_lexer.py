"""G-code words from a whole buffer at once, in numpy.

A per-line Python loop manages a few MB/s; here every step is an array operation over the file:
find letters, newlines and comment marks in one pass, decide which letters sit inside comments,
then read the number after each letter digit by digit across all letters together.
The result is three parallel arrays (line, letter, value) that the interpreter consumes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

NL, SEMI, OPEN, CLOSE = 10, ord(";"), ord("("), ord(")")
DOT, MINUS, PLUS = ord("."), ord("-"), ord("+")
MAX_NUMBER_CHARS = 24
_POW10 = 10.0 ** np.arange(MAX_NUMBER_CHARS + 1)


@dataclass(slots=True)
class Words:
    line: np.ndarray  # int64, 0-based line of each word
    letter: np.ndarray  # uint8, upper-case ASCII letter
    value: np.ndarray  # float64, NaN when the letter has no number (e.g. "G28 X")
    line_count: int
    newlines: np.ndarray  # positions of b"\n", to map byte offsets to lines


def lex(buf: bytes) -> Words:
    arr = np.frombuffer(buf, dtype=np.uint8)
    n = len(arr)
    # Pad so that reading a few bytes past the last letter is always in bounds (zeros end a number).
    padded = np.zeros(n + MAX_NUMBER_CHARS + 1, dtype=np.uint8)
    padded[:n] = arr
    upper = arr & 0xDF
    is_letter = (upper - 65) < 26  # uint8 wrap-around: one comparison tests A..Z and a..z
    marks = is_letter | (arr == NL) | (arr == SEMI) | (arr == OPEN) | (arr == CLOSE)
    pos = np.flatnonzero(marks)
    ch = arr[pos]
    is_nl = ch == NL
    letters = _outside_comments(pos, ch, is_nl)
    line_of_mark = np.cumsum(is_nl)
    lpos = pos[letters]
    line = line_of_mark[letters] - 0  # newlines before the letter = its 0-based line
    letter = upper[lpos]
    value = _numbers(padded, lpos + 1)
    newlines = pos[is_nl]
    return Words(line.astype(np.int64), letter, value, int(len(newlines) + 1), newlines)


def _outside_comments(pos: np.ndarray, ch: np.ndarray, is_nl: np.ndarray) -> np.ndarray:
    """Letters not after a ';' on their line and not inside '( ... )' (which also ends at a newline)."""
    is_semi = ch == SEMI
    semis = np.cumsum(is_semi)
    at_line_start = np.maximum.accumulate(np.where(is_nl, semis, 0))
    in_semi = semis - at_line_start > 0
    is_letter = ~(is_nl | is_semi | (ch == OPEN) | (ch == CLOSE))
    opens = ch == OPEN
    if not opens.any():
        return is_letter & ~in_semi
    idx = np.arange(len(ch))
    last_open = np.maximum.accumulate(np.where(opens, idx, -1))
    last_end = np.maximum.accumulate(np.where((ch == CLOSE) | is_nl, idx, -1))
    in_paren = last_open > last_end
    return is_letter & ~in_semi & ~in_paren


_ONES = 0x0101010101010101
_HIGH = np.uint64(0x8080808080808080)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)


_BYTE_MASK = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_ALIGN_SHIFT = np.array([0] + [8 * (8 - k) for k in range(1, 9)], dtype=np.uint64)


def _u(v: int) -> np.uint64:
    return np.uint64(v)


def _numbers(padded: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Parse the number after each letter, eight bytes at a time (SWAR: SIMD within a register).

    Each number's first eight bytes are read as one little-endian uint64; byte classes, the length,
    the dot and the digits' value all come from a few dozen whole-array integer operations. Numbers
    that do not end within eight bytes, or look malformed, go to the byte-by-byte parser below.
    """
    first = padded[start]
    neg = first == MINUS
    body = start + (neg | (first == PLUS))
    # A uint64 view that starts at every byte offset (unaligned, stride 1): one gather reads 8 bytes.
    w = np.ndarray((len(padded) - 8,), dtype="<u8", buffer=padded, strides=(1,))[body]
    # In-place steps where possible: each temporary is 8 bytes per number, and memory traffic, not
    # arithmetic, is what these steps cost.
    t = w ^ _u(0x30 * _ONES)
    nondigit = t & _LOW7
    nondigit += _u(0x76 * _ONES)
    nondigit |= t
    nondigit &= _HIGH
    np.bitwise_xor(w, _u(0x2E * _ONES), out=t)
    dots = t & _LOW7
    dots += _LOW7
    dots |= t
    np.invert(dots, out=dots)
    dots &= _HIGH
    stop = nondigit
    stop &= ~dots
    ended = stop != 0
    np.invert(stop, out=t)
    t += _u(1)
    t &= stop  # lowest set bit: the first byte that is neither digit nor dot
    t -= _u(1)
    before = t
    # Trailing zeros = popcount(lowest bit - 1); the marker bit of byte k is bit 8k+7. Per-number
    # sizes stay uint8 and index small lookup tables instead of mixed-type arithmetic.
    length = np.bitwise_count(before) >> np.uint8(3)
    dots &= before
    ndots = np.bitwise_count(dots)
    np.invert(dots, out=stop)
    stop += _u(1)
    stop &= dots  # lowest dot bit
    stop -= _u(1)
    p = np.minimum(np.bitwise_count(stop) >> np.uint8(3), length)  # no dot: p = length
    nd = length - (ndots == 1).view(np.uint8)
    mask = _BYTE_MASK[p]
    d = w >> _u(8)
    d &= ~mask
    w &= mask
    d |= w  # the dot dropped: later bytes moved down one
    np.take(_BYTE_MASK, nd, out=mask)
    d &= mask
    mask &= _u(0x30 * _ONES)
    d -= mask
    d <<= _ALIGN_SHIFT[nd]  # right-align: missing leading digits become zeros
    d &= _u(0x0F * _ONES)
    d *= _u(2561)
    d >>= _u(8)
    d &= _u(0x00FF00FF00FF00FF)
    d *= _u(6553601)
    d >>= _u(16)
    d &= _u(0x0000FFFF0000FFFF)
    d *= _u(42949672960001)
    d >>= _u(32)
    value = d.astype(np.float64)
    value /= _POW10[nd - p]
    np.negative(value, out=value, where=neg)
    value[nd == 0] = np.nan
    slow = ~ended | (ndots > 1) | (length > 8)
    if slow.any():
        idx = np.flatnonzero(slow)
        value[idx] = _numbers_bytewise(padded, start[idx])
    return value


def _numbers_bytewise(padded: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Parse the number after each letter (sign, digits, one dot); NaN where there is none.

    Column by column: round k reads the k-th byte of every number at once, so each round is a few
    contiguous vector operations; numbers drop out as they end and the loop stops with the longest.
    """
    m = len(start)
    first = padded[start]
    neg = first == MINUS
    pos = start + (neg | (first == PLUS))
    mant = np.zeros(m, dtype=np.float64)
    frac = np.zeros(m, dtype=np.int8)
    ndig = np.zeros(m, dtype=np.int8)
    seen_dot = np.zeros(m, dtype=bool)
    bad = np.zeros(m, dtype=bool)
    active = np.ones(m, dtype=bool)
    for _ in range(MAX_NUMBER_CHARS):
        c = padded[pos]
        d = c - np.uint8(48)
        digit = d < 10
        dot = c == DOT
        active &= digit | dot
        if not active.any():
            break
        digit &= active
        dot &= active
        bad |= dot & seen_dot
        seen_dot |= dot
        np.multiply(mant, 10.0, out=mant, where=digit)
        np.add(mant, d, out=mant, where=digit)
        ndig += digit
        frac += digit & seen_dot
        pos += 1
    else:
        bad |= active
    value = mant / _POW10[frac]
    np.negative(value, out=value, where=neg)
    value[(ndig == 0) | bad] = np.nan
    return value


_SLOW_WORD = re.compile(rb"([A-Za-z])([-+]?(?:\d+\.?\d*|\.\d+)(?![\d.]))?")


def lex_slow(buf: bytes) -> Words:
    """Line-by-line reference lexer: used by tests to check the fast one word for word."""
    lines, letters, values = [], [], []
    raw_lines = buf.split(b"\n")
    for i, raw in enumerate(raw_lines):
        text = re.sub(rb"\([^)\n]*\)?", b" ", raw.split(b";", 1)[0])
        for m in _SLOW_WORD.finditer(text):
            lines.append(i)
            letters.append(m.group(1).upper()[0])
            values.append(float(m.group(2)) if m.group(2) else np.nan)
    newlines = np.flatnonzero(np.frombuffer(buf, np.uint8) == NL)
    return Words(np.array(lines, np.int64), np.array(letters, np.uint8), np.array(values, float), len(raw_lines), newlines)
