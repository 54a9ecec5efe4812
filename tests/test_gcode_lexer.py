"""The vectorised lexer must read every word exactly as a plain line-by-line reader does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core.estimation.gcode_lexer import lex, lex_slow

from .shared_data import GCODE, files_in


def _same(buf: bytes) -> None:
    fast, slow = lex(buf), lex_slow(buf)
    assert fast.line_count == slow.line_count
    assert np.array_equal(fast.line, slow.line)
    assert bytes(fast.letter) == bytes(slow.letter)
    assert np.allclose(fast.value, slow.value, rtol=1e-12, atol=0, equal_nan=True)


@pytest.mark.parametrize("path", files_in(GCODE))
def test_real_files(path: Path) -> None:
    _same(path.read_bytes())


def test_tricky_text() -> None:
    buf = (
        b"G1 X1.5 Y-2 E+.25 F1800 ; comment with X99 and (parens)\r\n"
        b"g0 x10 y20 (inline X5 comment) z.3\n"
        b"(whole line comment with G1 X1\n"
        b"G28 X Y\n"
        b"M117 Printing layer 3\n"
        b"G1 X-.5 Y0.000001 E12345678.123\n"
        b"N10 G1 X1 *35\n"
        b";TYPE:Perimeter\n"
        b"G1X1Y2E3\n"
        b"\n"
    )
    _same(buf)
    assert np.isnan(lex(b"G1 X1.2.3\n").value[1])  # malformed number: no value rather than a wrong one
    w = lex(buf)
    first = w.line == 0
    assert bytes(w.letter[first]) == b"GXYEF"
    assert np.allclose(w.value[first], [1, 1.5, -2, 0.25, 1800])
    g28 = w.line == 3
    assert np.isnan(w.value[g28][1:]).all()


def test_random_numbers_round_trip() -> None:
    rng = np.random.default_rng(7)
    vals = [round(float(v), int(d)) for v, d in zip(rng.normal(0, 300, 2000), rng.integers(0, 6, 2000), strict=True)]
    buf = b"".join(b"G1 X%s\n" % repr(float(v)).encode() for v in vals)
    w = lex(buf)
    assert np.allclose(w.value[w.letter == ord("X")], vals, rtol=1e-12)
