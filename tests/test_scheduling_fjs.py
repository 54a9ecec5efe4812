"""FJSP files and the ``imewe schedule`` command, on the real public benchmark files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli.main import main
from app.core.scheduling import FjsFormatError, load_instance, optimize, validate_plan


@pytest.fixture(scope="module")
def fjsp(shared: Path) -> Path:
    return shared / "bench" / "fjsp"


def test_reads_brandimarte_mk01(fjsp: Path) -> None:
    p = load_instance(fjsp / "brandimarte" / "mk01.fjs")
    assert (p.n_jobs, p.n_machines, p.n_ops) == (10, 6, 55)
    # first operation of job 0 in the file: "1 5 4" -> one machine (5, 0-based 4), duration 4... checked from text
    first = (fjsp / "brandimarte" / "mk01.fjs").read_text().splitlines()[1].split()
    k = int(first[1])
    assert p.alts[0] == [(int(first[2 + 2 * a]) - 1, int(first[3 + 2 * a])) for a in range(k)]
    assert p.preds[1] == [0] and p.preds[0] == []


def test_reads_every_set_and_birgin(fjsp: Path) -> None:
    for d in ("brandimarte", "hurink_vdata", "dauzere_paulli", "kacem", "fattahi", "behnke_geiger"):
        for f in sorted((fjsp / d).glob("*.fjs"))[:3]:
            p = load_instance(f)
            assert p.n_ops > 0
    b = load_instance(fjsp / "fajsp_birgin2014" / "DAFJS01.txt")
    assert (b.n_ops, b.n_machines) == (26, 5)
    assert b.preds[8] == [3, 7]  # an assembly: op 8 waits for two branches


@pytest.mark.parametrize("text,needle", [
    ("", "empty"),
    ("3 2\n1 1 1 5\n", "announces 3 jobs"),
    ("1 2\n1 1 3 5\n", "machine 3"),
    ("1 2\n2 1 1 5\n", "announces 2 operations"),
    ("1 2\n1 1 1 5 9\n", "left over"),
    ("one two\n", "expected numbers"),
])
def test_bad_fjs_files_say_why(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "bad.fjs"
    f.write_text(text)
    with pytest.raises(FjsFormatError, match=needle):
        load_instance(f)


def test_cli_json_plan_is_complete_and_valid(fjsp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = fjsp / "brandimarte" / "mk01.fjs"
    assert main(["schedule", str(f), "--time-limit", "0.5", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    p = load_instance(f)
    ops = out["operations"]
    assert len(ops) == p.n_ops and out["valid"] is True
    # check the printed plan against the file itself, independently of the planner's data structures
    lines = f.read_text().splitlines()[1:]
    by_job: dict[int, list[dict]] = {}
    for o in ops:
        by_job.setdefault(o["job"], []).append(o)
        nums = list(map(int, lines[o["job"]].split()))
        i = 1
        for _ in range(o["op"]):
            i += 1 + 2 * nums[i]
        alts = {nums[i + 1 + 2 * a]: nums[i + 2 + 2 * a] for a in range(nums[i])}
        assert o["machine"] in alts and o["end"] - o["start"] == alts[o["machine"]]
    for seq in by_job.values():
        seq.sort(key=lambda o: o["op"])
        assert [o["op"] for o in seq] == list(range(len(seq)))
        assert all(a["end"] <= b["start"] for a, b in zip(seq, seq[1:], strict=False))
    per_m: dict[int, list[tuple[int, int]]] = {}
    for o in ops:
        per_m.setdefault(o["machine"], []).append((o["start"], o["end"]))
    for iv in per_m.values():
        iv.sort()
        assert all(a[1] <= b[0] for a, b in zip(iv, iv[1:], strict=False))
    assert out["makespan"] == max(o["end"] for o in ops) <= 44


def test_cli_global_json_flag_and_text(fjsp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = fjsp / "kacem" / "kacem1.fjs"
    assert main(["--json", "schedule", str(f), "--time-limit", "0"]) == 0
    assert "makespan" in json.loads(capsys.readouterr().out)
    assert main(["schedule", str(f), "--time-limit", "0.2"]) == 0
    text = capsys.readouterr().out
    assert "makespan" in text and "M1:" in text
    assert "makespan 11 (valid; optimal)" in text  # kacem1's optimum meets the lower bound: proven, said so


def test_cli_bad_input_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.fjs"
    bad.write_text("2 3\n1 1 9 4\n")
    assert main(["schedule", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imewe: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["schedule", str(tmp_path / "missing.fjs")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["schedule", str(bad), "--time-limit", "-1"]) == 2


def test_birgin_assembly_plan_respects_the_dag(fjsp: Path) -> None:
    p = load_instance(fjsp / "fajsp_birgin2014" / "DAFJS05.txt")
    plan = optimize(p, time_limit_s=0.3, seed=1)
    assert validate_plan(p, plan) == []
