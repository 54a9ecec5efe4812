"""Hostile files and arguments through the real command: exit 2 with one line (never 70, never a traceback), in
bounded memory, nothing half-imported, and JSON output with no bare NaN."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from app.cli.main import main
from app.cli.output import dumps
from app.core.estimation.errors import PartFileError
from app.core.estimation.threemf import read_3mf
from app.core.scheduling.optimize import cores_available

ROOT = Path(__file__).resolve().parents[1]
CORE_NS = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
PROD_NS = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *words: str) -> str:
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's usage errors leave through SystemExit
        rc = exc.code
    out = capsys.readouterr()
    assert rc == 2, (argv, rc, out.err)
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imewe: ") and "Traceback" not in out.err, out.err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert "NaN" not in out.out and "Infinity" not in out.out
    return lines[0]


def imewe_rss(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """The command in a fresh process, and the most memory that process ever held (MB)."""
    rss = tmp_path / "rss.txt"
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (this test process) across fork and exec.
    code = ("import os, sys\nfrom app.cli.main import main\nrc = main(sys.argv[1:])\n"
            "hwm = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
            "open(os.environ['RSS_OUT'], 'w').write(hwm)\nsys.exit(rc)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), RSS_OUT=str(rss))
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
    return r, int(rss.read_text()) / 1024


# ------------------------------------------------------------------------------------------------ 3MF archives
def _model_xml(body: str, unit: str = "millimeter") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<model unit="{unit}" xmlns="{CORE_NS}" xmlns:p="{PROD_NS}">'
            f"{body}</model>")


def _tetra(oid: int, offset: float = 0.0) -> str:
    v = [(0, 0, 0), (10, 0, 0), (0, 10, 0), (0, 0, 10)]
    verts = "".join(f'<vertex x="{x + offset}" y="{y}" z="{z}"/>' for x, y, z in v)
    tris = "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>' for a, b, c in [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)])
    return f'<object id="{oid}" name="tetra{oid}" type="model"><mesh><vertices>{verts}</vertices>' \
           f"<triangles>{tris}</triangles></mesh></object>"


def _zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_3mf_components_across_model_files_and_transforms(tmp_path: Path) -> None:
    other = _model_xml(f"<resources>{_tetra(7)}</resources><build/>")
    root = _model_xml(
        '<resources><object id="1" name="pair" type="model"><components>'
        '<component p:path="/3D/Objects/part.model" objectid="7"/>'
        '<component p:path="/3D/Objects/part.model" objectid="7" transform="1 0 0 0 1 0 0 0 1 100 0 0"/>'
        '</components></object></resources><build><item objectid="1" transform="1 0 0 0 1 0 0 0 1 0 0 5"/></build>')
    f = _zip(tmp_path / "pair.3mf", {"3D/3dmodel.model": root, "3D/Objects/part.model": other})
    objects, unit = read_3mf(f)
    assert unit == "millimeter" and len(objects) == 2
    lo = np.concatenate([t for _, t in objects]).reshape(-1, 3).min(axis=0)
    hi = np.concatenate([t for _, t in objects]).reshape(-1, 3).max(axis=0)
    assert lo.tolist() == [0, 0, 5] and hi.tolist() == [110, 10, 15]
    # The same archive, with a budget smaller than its two model files together: the second one is refused.
    with pytest.raises(PartFileError, match="part.model declares [0-9,]+ bytes inflated, over the"):
        read_3mf(f, limit=len(root) + len(other) // 2)


def test_3mf_written_by_trimesh_loads_like_trimesh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    box = trimesh.creation.box((20, 10, 5))
    f = tmp_path / "box.3mf"
    box.export(f)
    assert main(["part", "info", str(f), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["triangles"] == 12 and d["volume_mm3"] == pytest.approx(1000.0)


@pytest.mark.parametrize(("body", "words"), [
    ('<resources><object id="1"><components><component objectid="1"/></components></object></resources>'
     '<build><item objectid="1"/></build>', "nest deeper"),
    (f'<resources>{_tetra(1)}</resources><build><item objectid="2"/></build>', "does not define"),
    ('<resources><object id="1"><mesh><vertices><vertex x="nan" y="0" z="0"/><vertex x="1" y="0" z="0"/>'
     '<vertex x="0" y="1" z="0"/></vertices><triangles><triangle v1="0" v2="1" v3="2"/></triangles></mesh>'
     '</object></resources><build><item objectid="1"/></build>', "not finite"),
    ('<resources><object id="1"><mesh><vertices><vertex x="0" y="0" z="0"/></vertices><triangles>'
     '<triangle v1="0" v2="1" v3="9"/></triangles></mesh></object></resources><build><item objectid="1"/></build>',
     "do not exist"),
    (f'<resources>{_tetra(1)}</resources><build><item objectid="1" transform="1 0 0 1e400 1 0 0 0 1 0 0 0"/>'
     "</build>", "12 finite numbers"),
    ("<resources><object", "not valid XML"),
])
def test_broken_3mf_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, words: str) -> None:
    f = _zip(tmp_path / "bad.3mf", {"3D/3dmodel.model": _model_xml(body)})
    one_line_error(capsys, ["part", "info", str(f)], "bad.3mf", words)


def test_3mf_bombs_are_refused_in_bounded_memory(tmp_path: Path) -> None:
    # 260 MB of whitespace inside a valid model: a ~1.2 MB file. Its header says how big it inflates.
    honest = tmp_path / "bomb.3mf"
    with zipfile.ZipFile(honest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
            zf.open("3D/3dmodel.model", "w") as m:
        m.write(_model_xml("<resources>").encode()[:-8])
        chunk = b" " * (1 << 20)
        for _ in range(260):
            m.write(chunk)
        m.write(b"</resources></model>")
    assert honest.stat().st_size < 2_000_000
    # 5 MB that inflate from a header claiming 1 kB: the size the archive declares is a lie.
    liar = tmp_path / "liar.3mf"
    with zipfile.ZipFile(liar, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("3D/3dmodel.model", _model_xml(f"<resources>{_tetra(1)}</resources>" + " " * 5_000_000))
    data = bytearray(liar.read_bytes())
    cd = data.rindex(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (1000).to_bytes(4, "little")  # central directory: uncompressed size
    lh = data.index(b"PK\x03\x04")
    data[lh + 22:lh + 26] = (1000).to_bytes(4, "little")  # local header too
    liar.write_bytes(bytes(data))
    for bomb, words in ((honest, "declares 260 MB inflated"), (liar, "liar.3mf")):
        r, rss_mb = imewe_rss(tmp_path, "part", "info", str(bomb))
        assert r.returncode == 2 and words in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
        assert rss_mb < 400, f"{bomb.name} took {rss_mb:.0f} MB"


def test_3mf_with_a_million_elements_stays_small(tmp_path: Path) -> None:
    """Elements the reader does not use (here a million) are cut from the tree as the parse goes."""
    body = (f'<resources><basematerials id="9">{"<base/>" * 1_000_000}</basematerials>{_tetra(1)}</resources>'
            '<build><item objectid="1"/></build>')
    many = _zip(tmp_path / "many.3mf", {"3D/3dmodel.model": _model_xml(body)})
    small = _zip(tmp_path / "small.3mf", {"3D/3dmodel.model": _model_xml(body.replace("<base/>", ""))})
    r, many_mb = imewe_rss(tmp_path, "part", "info", str(many))
    assert r.returncode == 0 and "4 triangles" in r.stdout, r.stderr
    _, small_mb = imewe_rss(tmp_path, "part", "info", str(small))
    assert many_mb < small_mb + 40, (many_mb, small_mb)  # a whole tree of them would take ~120 MB more


# ------------------------------------------------------------------------------------------------ G-code
GOOD_HEAD = "G21\nG90\nM82\nG1 X10 Y10 F1200\n"


@pytest.mark.parametrize("line", ["G1 X20 Ynan E1", "G1 Xinf Y5 E2", "G1 X-INF Y5", "G1 X1e400 Y3 E3",
                                  "G1 X5 Y5 E4 F1e400", "G1 X5 Y5 Fnan", "G1 X99999999999999999999999999 Y1",
                                  "G1 X1.2.3 Y1", "X1e999 Y2"])
def test_gcode_numbers_that_are_not_finite_are_refused_with_the_line(tmp_path: Path, line: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.gcode"
    f.write_text(GOOD_HEAD + line + "\nG1 X1 Y1 E9\n")
    one_line_error(capsys, ["gcode", "info", str(f), "--json"], "bad.gcode line 5:", "not a finite number")


def test_gcode_text_and_compact_numbers_are_still_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "ok.gcode"
    f.write_text(GOOD_HEAD + "M117 nan inf 1e400\nG1 X5 Y5 E1 ; Xnan 1e400\nG1X10Y10E1.5\n(G1 Xinf)\n")
    assert main(["gcode", "info", str(f), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["moves"] == 3 and d["bbox_max_mm"][:2] == [10.0, 10.0]


@pytest.mark.parametrize("angle", ["nan", "inf", "-inf", "1e400", "90", "0", "-5"])
def test_overhang_must_be_an_angle(tmp_path: Path, capsys: pytest.CaptureFixture[str], angle: str) -> None:
    f = tmp_path / "box.stl"
    trimesh.creation.box((10, 10, 10)).export(f)
    one_line_error(capsys, ["part", "info", str(f), f"--overhang={angle}"], "overhang")


@pytest.mark.parametrize("argv", [
    ["run", "x.gcode", "--driver", "marlin", "--port", "/dev/null", "--stall-timeout", "nan"],
    ["run", "x.gcode", "--driver", "grbl", "--port", "/dev/null", "--connect-timeout", "-1"],
    ["run", "x.gcode", "--driver", "grbl", "--port", "/dev/null", "--stall-timeout", "1e400"],
    ["node", "--driver", "sim", "--scale", "inf"],
    ["node", "--driver", "sim", "--scale", "0"],
])
def test_timeouts_and_scales_must_be_positive_finite_numbers(capsys: pytest.CaptureFixture[str],
                                                             argv: list[str]) -> None:
    one_line_error(capsys, argv, argv[-2])


def test_json_output_has_no_bare_nan() -> None:
    text = dumps({"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5], "c": np.float32("nan"),
                  "d": np.int64(3), "e": np.float64(2.5)})
    assert json.loads(text) == {"a": None, "b": [None, None, 1.5], "c": None, "d": 3, "e": 2.5}
    assert "NaN" not in text and "Infinity" not in text


# ------------------------------------------------------------------------------------------------ scheduling
def test_workers_are_capped_at_the_cores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "s.fjs"
    f.write_text("2 2\n2 1 1 5 2 1 2 2 3\n1 2 1 3 2 3\n")
    assert main(["schedule", str(f), "--workers", "100000", "--time-limit", "0.2", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["workers"] == cores_available()
    assert out.err.strip() == f"imewe: note: --workers 100000 capped at {cores_available()}, the cores available"


@pytest.mark.parametrize(("text", "words"), [
    ("1 1\n0\n", "job 0 has 0 operations"),
    ("2 1\n1 1 1 5\n0\n", "line 3: job 1 has 0 operations"),
    ("1 1\n1 1 1 inf\n", "'inf' is not a whole number"),
    ("1 1\n1 1 1 1e30\n", "not a whole number"),
    ("1 100000000\n1 1 1 5\n", "100,000,000 machines"),
    ("1 1\n1 1 1 nan\n", "'nan' is not a whole number"),
])
def test_fjs_files_that_plan_nothing_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                                  words: str) -> None:
    f = tmp_path / "bad.fjs"
    f.write_text(text)
    one_line_error(capsys, ["schedule", str(f), "--time-limit", "0"], words)
    one_line_error(capsys, ["schedule", str(f), "--time-limit", "inf"], "finite")


# ------------------------------------------------------------------------------------------------ JSON and CSV in
def _deep(n: int) -> str:
    return "[" * n + "]" * n


@pytest.mark.parametrize("content", [_deep(100_000), _deep(500), '{"name": "a", "parts": [{"size": [NaN, 1, 1]}]}',
                                     '{"name": "a", "parts": [{"size": [1e400, 1, 1]}]}', "\x00\xff" * 100])
def test_hostile_json_files_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str) -> None:
    f = tmp_path / "spec.json"
    f.write_bytes(content.encode("latin-1") if "\x00" in content else content.encode())
    caps = tmp_path / "caps.json"
    caps.write_bytes(f.read_bytes())
    one_line_error(capsys, ["jobs", "submit", str(f)])
    one_line_error(capsys, ["jobs", "batch", str(f)])
    one_line_error(capsys, ["nodes", "add", "P1", "--process", "fdm", "--capabilities", str(caps)])
    one_line_error(capsys, ["telemetry", "import", str(f)])
    lines = tmp_path / "t.jsonl"
    lines.write_bytes(f.read_bytes() + b"\n")
    one_line_error(capsys, ["telemetry", "import", str(lines)])


def _register(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["--json", "nodes", "add", "P1", "--process", "fdm", "--volume", "200x200x200"]) == 0
    return json.loads(capsys.readouterr().out)["id"]


@pytest.mark.parametrize(("rows", "words"), [
    (b"node_id,job_id,timestamp,metric,value\n{node},,2026-01-01T00:00:00Z,t,1\x00\n", "is not a number"),
    (b"node_id,job_id,timestamp,metric,value\n{node},,2026-01-01T00:00:00Z,t\x00\x00,1\n", "record 1 (line 2)"),
    (b"node_id,job_id,timestamp,metric,value\n{node},,2026-01-01T00:00:00Z,t," + b"9" * 200_000 + b"\n",
     "not a readable CSV"),
    (b"node_id,job_id,timestamp,metric,value\n{node},,2026-01-01T00:00:00Z,t,\xff\xfe\n", "not a CSV text file"),
    (b"node_id,job_id,timestamp,metric,value\n{node},,2026-01-01T00:00:00Z,t,1\n"
     b"00000000-0000-0000-0000-00000000beef,,2026-01-01T00:00:01Z,t,1\n", "record 2 (line 3): no machine"),
    (b"node_id,job_id,timestamp,metric,value\n{node},,2026-01-01T00:00:00Z,t,1\n"
     b"{node},,9999-01-01T00:00:00Z,t,1\n", "record 2 (line 3): timestamp 9999-01-01"),
    (b"node_id,job_id,timestamp,metric,value\n{node},,1e300,t,1\n", "record 1 (line 2): '1e300' is not an ISO"),
])
def test_hostile_telemetry_csv_is_refused_and_nothing_imported(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                rows: bytes, words: str) -> None:
    node = _register(capsys)
    f = tmp_path / "t.csv"
    f.write_bytes(rows.replace(b"{node}", node.encode()))
    one_line_error(capsys, ["telemetry", "import", str(f)], words)
    out = tmp_path / "out.csv"
    assert main(["--json", "telemetry", "export", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 0


def test_telemetry_json_of_unknown_machines_or_far_dates_is_refused(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    node = _register(capsys)
    good = {"node_id": node, "timestamp": "2026-01-01T00:00:00Z", "metrics": {"t": 1.0}}
    for bad, words in [({**good, "node_id": "00000000-0000-0000-0000-00000000beef"}, "record 2: no machine"),
                       ({**good, "timestamp": "9999-12-31T00:00:00Z"}, "record 2: timestamp 9999-12-31"),
                       ({**good, "timestamp": "1969-07-20T20:17:00Z"}, "before 2000"),
                       ({**good, "timestamp": 1e300}, "record 2: timestamp 1e+300")]:
        f = tmp_path / "t.json"
        f.write_text(json.dumps([good, bad]))
        one_line_error(capsys, ["telemetry", "import", str(f)], words)
    f.write_text(json.dumps([good]))
    assert main(["--json", "telemetry", "import", str(f)]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 1


# ------------------------------------------------------------------------------------------------ private files
def test_home_database_and_log_are_private(tmp_path: Path) -> None:
    home = tmp_path / "fresh" / "home"
    env = dict(os.environ, IMEWE_HOME=str(home), PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "app.cli.main", "nodes", "add", "P1", "--process", "fdm"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(home) == 0o700 and mode(home / "keys") == 0o700 and mode(home / "logs") == 0o700
    assert mode(home / "imewe.sqlite3") == 0o600
    assert mode(home / "logs" / "imewe.log") == 0o600
    from app.core.store.db import open_store

    store = open_store(f"sqlite:///{home / 'imewe.sqlite3'}")
    try:
        with store.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t_perm (x INTEGER)")
        wal, shm = (home / "imewe.sqlite3-wal"), (home / "imewe.sqlite3-shm")
        assert wal.exists() and mode(wal) == 0o600 and mode(shm) == 0o600
    finally:
        store.close()
    # A database file that was readable by others becomes private when opened.
    other = tmp_path / "old.sqlite3"
    other.touch(mode=0o644)
    os.chmod(other, 0o644)
    open_store(f"sqlite:///{other}").close()
    assert mode(other) == 0o600


def test_rotated_logs_stay_private(tmp_path: Path) -> None:
    import logging

    from app.bootstrap import _PrivateLogFile

    path = tmp_path / "x.log"
    h = _PrivateLogFile(path, maxBytes=200, backupCount=2, encoding="utf-8")
    rec = logging.LogRecord("t", logging.INFO, __file__, 1, "x" * 150, None, None)
    try:
        for _ in range(5):
            h.emit(rec)
    finally:
        h.close()
    logs = sorted(tmp_path.glob("x.log*"))
    assert len(logs) == 3 and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in logs)


def test_an_internal_failure_is_one_line_and_the_traceback_goes_to_the_log(tmp_path: Path) -> None:
    """A bug in a command that never opened the log: stderr gets one line, the log file the traceback."""
    gcode = tmp_path / "ok.gcode"
    gcode.write_text(GOOD_HEAD + "G1 X1 Y1 E9\n")
    code = ("import sys\nimport app.cli.cmd_gcode as g\n"
            "def broken(*a, **k):\n    raise RuntimeError('a bug')\n"
            "g.analyze_gcode = broken\nfrom app.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")
    home = tmp_path / "home"
    env = dict(os.environ, PYTHONPATH=str(ROOT), IMEWE_HOME=str(home))
    r = subprocess.run([sys.executable, "-c", code, "gcode", "info", str(gcode)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 70
    assert r.stderr.strip().splitlines() == [
        f"imewe: internal error: RuntimeError: a bug (details in {home / 'logs' / 'imewe.log'})"]
    assert "Traceback" in (home / "logs" / "imewe.log").read_text()
