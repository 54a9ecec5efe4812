"""Property-based fuzz of every file reader: whatever the bytes, a result or one of our own errors (ImeweError),
within a time limit (hypothesis' deadline) and a memory limit (tracemalloc's peak) per example.

Inputs start from a small valid file of each format and are mutated (bytes flipped, cut, repeated, hostile tokens
such as nan, 1e400, huge counts and deep nesting inserted), so the fuzz reaches the parsers' inner paths rather
than stopping at the first byte. The example counts are small to keep the whole file well under a minute; raise
IMEWE_FUZZ_EXAMPLES to search harder, and set IMEWE_FUZZ_RANDOM=1 for new examples each run (CI repeats the same).
"""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli.output import dumps
from app.core.domain.errors import ImeweError
from app.core.estimation.gcode_analysis import analyze_gcode
from app.core.estimation.gcode_parser import parse_gcode
from app.core.estimation.mesh_io import load_part
from app.core.jobs.validation import parse_job_spec
from app.core.json_input import parse_json
from app.core.scheduling.fjs_io import parse_fajsp, parse_fjs
from app.core.telemetry import archive

EXAMPLES = int(os.environ.get("IMEWE_FUZZ_EXAMPLES", "30"))
MEMORY_LIMIT_MB = 64
FUZZ = settings(max_examples=EXAMPLES, deadline=4000, database=None,
                derandomize=not os.environ.get("IMEWE_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

HOSTILE = [b"nan", b"NaN", b"inf", b"-inf", b"1e400", b"-1e400", b"9" * 40, b"\x00", b"\xff\xfe", b"-", b".",
           b"1.2.3", b"4294967295", b"-1", b"0", b"\n", b" ", b"[" * 200, b"{" * 200, b'"', b"<", b"/>", b"e"]


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "insert", "cut", "repeat", "delete"]))
        at = draw(st.integers(0, max(0, len(data))))
        if op == "flip" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(HOSTILE) | st.binary(max_size=16))
        elif op == "cut":
            del data[at:]
        elif op == "repeat" and data:
            piece = bytes(data[at:at + draw(st.integers(1, 64))])
            data[at:at] = piece * draw(st.integers(1, 50))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 32))]
    return bytes(data)


def bounded(fn: Callable[[], Any]) -> None:
    """Run one example: a result or an ImeweError, and never more than MEMORY_LIMIT_MB of Python allocations."""
    tracemalloc.start()
    try:
        fn()
    except ImeweError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT_MB * 2**20, f"peak {peak / 2**20:.0f} MB"


# --------------------------------------------------------------------------------------------- seeds
TETRA = trimesh.Trimesh(vertices=[[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]],
                        faces=[[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])


def _export(file_type: str) -> bytes:
    out = TETRA.export(file_type=file_type)
    return out.encode() if isinstance(out, str) else bytes(out)


STL_BINARY = _export("stl")
STL_ASCII = _export("stl_ascii")
OBJ = _export("obj")
PLY = _export("ply")
MODEL_3MF = zipfile.ZipFile(io.BytesIO(_export("3mf"))).read("3D/3dmodel.model")
GCODE = (b"; generated\nG21\nG90\nM82\nM201 X1000 Y1000\nM104 S200\nG28\nG1 Z0.2 F600\n;LAYER:0\n"
         b"G1 X10 Y10 E1.5 F1800\nG2 X20 Y10 I5 J0 E2\nG1 X1.5 Y-2 E+.25\nG92 E0\nG91\nG1 X1 Y1\nG90\nM107\n")
FJS = b"3 2 1.5\n2 1 1 5 2 1 2 2 3\n1 2 1 3 2 3\n3 1 1 1 1 2 4 2 1 2 2 3\n"
FAJSP = b"3 2 2\n0 1\n1 2\n1 0 5\n2 0 3 1 4\n1 1 2\n"
SPEC = (b'{"name": "bracket", "priority": 5, "due_at": "2026-12-01T17:00:00+00:00", "parts": ['
        b'{"name": "a", "process": "fdm", "material": "pla", "size": [40, 30, 12], "quantity": 2},'
        b'{"name": "b", "process": "cnc_mill", "material": "aluminium", "size": {"x": 3, "y": 3, "z": 0.2},'
        b' "units": "in", "depends_on": [0]}]}')
NODE = "00000000-0000-0000-0000-0000000000aa"
TELEMETRY_CSV = (f"node_id,job_id,timestamp,metric,value\n{NODE},,2026-01-01T00:00:00Z,temperature,20.5\n"
                 f"{NODE},,2026-01-01T00:00:01Z,power_w,100\n").encode()
TELEMETRY_JSONL = (f'{{"node_id": "{NODE}", "timestamp": "2026-01-01T00:00:00Z", "metrics": {{"t": 1.5}}, '
                   f'"alerts": [{{"type": "hot", "severity": "warning"}}]}}\n').encode() * 3
RULES = archive.ImportRules(frozenset({NODE}), now_s=1.9e9)


def _write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


# --------------------------------------------------------------------------------------------- the readers
@pytest.mark.parametrize(("name", "seed"), [("part.stl", STL_BINARY), ("part.stl", STL_ASCII), ("part.obj", OBJ),
                                            ("part.ply", PLY)])
def test_mesh_readers(tmp_path: Path, name: str, seed: bytes) -> None:
    @FUZZ
    @given(data=mutated(seed))
    def run(data: bytes) -> None:
        path = _write(tmp_path, name, data)
        bounded(lambda: load_part(path))

    run()


def test_binary_stl_counts(tmp_path: Path) -> None:
    @FUZZ
    @given(count=st.integers(0, 2**32 - 1), cut=st.integers(0, len(STL_BINARY)))
    def run(count: int, cut: int) -> None:
        data = STL_BINARY[:80] + struct.pack("<I", count) + STL_BINARY[84:cut]
        path = _write(tmp_path, "count.stl", data)
        bounded(lambda: load_part(path))

    run()


def test_3mf_reader(tmp_path: Path) -> None:
    @FUZZ
    @given(model=mutated(MODEL_3MF), archive_bytes=st.booleans(), flips=st.lists(st.integers(0, 10_000), max_size=4))
    def run(model: bytes, archive_bytes: bool, flips: list[int]) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("3D/3dmodel.model", model)
            zf.writestr("_rels/.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                        'relationships"><Relationship Target="/3D/3dmodel.model" Id="r0" Type="http://schemas.'
                        'microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>')
        data = bytearray(buf.getvalue())
        if archive_bytes:
            for f in flips:
                data[f % len(data)] ^= 0x5A
        path = _write(tmp_path, "part.3mf", bytes(data))
        bounded(lambda: load_part(path))

    run()


def test_gcode_reader(tmp_path: Path) -> None:
    @FUZZ
    @given(data=mutated(GCODE))
    def run(data: bytes) -> None:
        bounded(lambda: parse_gcode(data, "fuzz.gcode"))
        path = _write(tmp_path, "fuzz.gcode", data)
        bounded(lambda: dumps(analyze_gcode(path).to_dict()))  # the planner too, and its JSON

    run()


@pytest.mark.parametrize(("parse", "seed"), [(parse_fjs, FJS), (parse_fajsp, FAJSP)])
def test_job_shop_readers(parse: Callable[[str, str], Any], seed: bytes) -> None:
    @FUZZ
    @given(data=mutated(seed))
    def run(data: bytes) -> None:
        bounded(lambda: parse(data.decode("utf-8", "replace"), "fuzz"))

    run()


def test_job_spec_json() -> None:
    json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                               lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
                                   st.sampled_from(["name", "parts", "size", "priority", "quantity", "units",
                                                    "process", "material", "depends_on", "due_at", "x"]),
                                   kids, max_size=5), max_leaves=30)

    @FUZZ
    @given(data=mutated(SPEC), value=json_values)
    def run(data: bytes, value: Any) -> None:
        bounded(lambda: parse_job_spec(parse_json(data, "spec.json")))
        bounded(lambda: parse_job_spec(value))

    run()


def test_telemetry_readers(tmp_path: Path) -> None:
    @FUZZ
    @given(csv_data=mutated(TELEMETRY_CSV), jsonl=mutated(TELEMETRY_JSONL), as_array=st.booleans())
    def run(csv_data: bytes, jsonl: bytes, as_array: bool) -> None:
        c = _write(tmp_path, "t.csv", csv_data)
        bounded(lambda: list(archive.read_csv(c, RULES)))
        j = _write(tmp_path, "t.jsonl", (b"[" + jsonl.replace(b"}\n{", b"},{") + b"]") if as_array else jsonl)
        bounded(lambda: list(archive.read_json(j, RULES)))

    run()
