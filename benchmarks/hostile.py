"""Hostile-input benchmark: 3MF read as a stream against trimesh's whole-document read, and a 3MF zip bomb.

Run from the repository root:  PYTHONPATH=. .venv/bin/python benchmarks/hostile.py [--subdivisions 8] [--write]

Each load runs in a fresh child process so its peak memory (VmHWM) is its own; the reference is measured in
the same run: trimesh loading the same file, and a child that only imports the loader (the floor).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "hostile.md"

CHILD = """
import sys, time
kind, path = sys.argv[1], sys.argv[2]
import trimesh
from app.core.domain.errors import ImeweError
from app.core.estimation.mesh_io import load_part
t = time.perf_counter()
outcome = "loaded"
if kind == "ours":
    try:
        n = load_part(path).triangle_count
    except ImeweError as exc:
        n, outcome = 0, "refused"
elif kind == "trimesh":
    s = trimesh.load(path, force="scene", process=False)
    n = sum(len(g.faces) for g in s.geometry.values())
else:
    n = 0
dt = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(n, dt, hwm / 1024, outcome)
"""


def child(kind: str, path: Path) -> tuple[int, float, float, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], capture_output=True, text=True, env=env,
                         check=True, timeout=1800).stdout.split()
    return int(out[0]), float(out[1]), float(out[2]), out[3]


def make_sphere_3mf(path: Path, subdivisions: int) -> None:
    import trimesh

    trimesh.creation.icosphere(subdivisions=subdivisions, radius=50.0).export(path)


def make_bomb(path: Path, inflated_mb: int) -> None:
    head = (b'<?xml version="1.0" encoding="UTF-8"?><model unit="millimeter" '
            b'xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02"><resources>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("3D/3dmodel.model", "w") as m:
        m.write(head)
        chunk = b" " * (1 << 20)
        for _ in range(inflated_mb):
            m.write(chunk)
        m.write(b"</resources></model>")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subdivisions", type=int, default=8, help="icosphere subdivisions (8: 1.3M triangles)")
    ap.add_argument("--bomb-mb", type=int, default=1024, help="what the bomb's member inflates to")
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs of each loader (best time kept)")
    ap.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(ROOT)}")
    args = ap.parse_args()
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="imewe-bench-") as tmp:
        sphere, bomb = Path(tmp) / "sphere.3mf", Path(tmp) / "bomb.3mf"
        make_sphere_3mf(sphere, args.subdivisions)
        with zipfile.ZipFile(sphere) as zf:
            xml_mb = sum(i.file_size for i in zf.infolist()) / 2**20
        _, _, floor_mb, _ = child("floor", sphere)
        # Alternate the two and keep each one's best time: the machine is shared and its load comes and goes.
        runs = {"ours": [], "trimesh": []}
        for _ in range(args.rounds):
            for kind in runs:
                runs[kind].append(child(kind, sphere))
        n, ours_s, ours_mb = min(r[0] for r in runs["ours"]), min(r[1] for r in runs["ours"]), \
            max(r[2] for r in runs["ours"])
        tn, tri_s, tri_mb = min(r[0] for r in runs["trimesh"]), min(r[1] for r in runs["trimesh"]), \
            max(r[2] for r in runs["trimesh"])
        assert n == tn, (n, tn)
        print(f"3MF sphere, {n:,} triangles, {sphere.stat().st_size / 2**20:.1f} MB file, {xml_mb:.0f} MB of XML")
        print(f"  ours:    {ours_s:.1f} s, peak {ours_mb:.0f} MB")
        print(f"  trimesh: {tri_s:.1f} s, peak {tri_mb:.0f} MB   (floor: a child that only imports, {floor_mb:.0f} MB)")
        rows.append(f"| 3MF, {n:,} triangles ({sphere.stat().st_size / 2**20:.0f} MB file, {xml_mb:.0f} MB of XML): "
                    f"load time, best of {args.rounds} alternating runs | {ours_s:.1f} s | trimesh {tri_s:.1f} s "
                    f"({ours_s / tri_s:.2f}x) |")
        rows.append(f"| same file: peak memory of the loading process | {ours_mb:.0f} MB | trimesh {tri_mb:.0f} MB "
                    f"({ours_mb / tri_mb:.2f}x); a process that only imports the loader: {floor_mb:.0f} MB |")
        make_bomb(bomb, args.bomb_mb)
        t = time.perf_counter()
        _, bomb_s, bomb_mb, outcome = child("ours", bomb)
        wall = time.perf_counter() - t
        print(f"3MF bomb: {bomb.stat().st_size / 2**20:.1f} MB file inflating to {args.bomb_mb} MB: {outcome} in "
              f"{bomb_s * 1000:.0f} ms, peak {bomb_mb:.0f} MB (child wall {wall:.1f} s)")
        rows.append(f"| 3MF bomb: {bomb.stat().st_size / 2**20:.1f} MB file whose member inflates to "
                    f"{args.bomb_mb:,} MB | {outcome} in {bomb_s * 1000:.0f} ms, peak {bomb_mb:.0f} MB | the import "
                    f"floor {floor_mb:.0f} MB ({bomb_mb - floor_mb:+.0f} MB); before: 2.2 GB for a 1 GB member |")
    if args.write:
        load = os.getloadavg()[0]
        cmd = "PYTHONPATH=. .venv/bin/python benchmarks/hostile.py " + " ".join(sys.argv[1:])
        RESULTS.write_text(
            "# Hostile input (issue 11)\n\n"
            f"Command: `{cmd.strip()}` (2-core shared machine, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"load average {load:.1f} from other work). Each load in a fresh child process; peak = its VmHWM.\n\n"
            "| what | ours | reference (same run) |\n|---|---|---|\n" + "\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
