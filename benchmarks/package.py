"""Issue 17: the desktop package's build time and size, and how fast the bundled program starts.

    installer/build-package.sh          # or ./dev package: writes build/package/figures.json
    .venv/bin/python benchmarks/package.py [--runs 5] [--write]

Build time and sizes come from the build's own figures.json (with the load average it ran at). Start-up of the
bundled ``imewe --version``, ``imewe --help`` and ``imewe jobs list`` is measured here, each in a fresh process,
next to ``python -c pass`` and the same commands from the source tree's virtual environment, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "package"


def wall(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-300:]}")
    return took


def median_wall(cmd: list[str], env: dict[str, str], runs: int) -> float:
    wall(cmd, env)  # warm-up: page cache, home database migrated
    return statistics.median(wall(cmd, env) for _ in range(runs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/package.md")
    a = ap.parse_args()
    figures_file = BUILD / "figures.json"
    if not figures_file.is_file():
        raise SystemExit("no build figures: run ./dev package (installer/build-package.sh) first")
    fig = json.loads(figures_file.read_text(encoding="utf-8"))
    bundled = BUILD / "dist" / "imewe" / "imewe"
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="imewe-pkg-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "IMEWE_"))}
        env.update(IMEWE_HOME=str(home), IMEWE_DISCOVERY="0")
        src_env = dict(env, PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=str(Path(tmp) / "pyc"))
        ref = median_wall([sys.executable, "-c", "pass"], env, a.runs)
        for args in (["--version"], ["--help"], ["jobs", "list"]):
            label = "imewe " + " ".join(args)
            packaged = median_wall([str(bundled), *args], env, a.runs)
            source = median_wall([sys.executable, "-m", "app.cli.main", *args], src_env, a.runs)
            rows.append((label, packaged, source))
            print(f"{label:<20} bundle {packaged:.3f} s  source venv {source:.3f} s", flush=True)
    load = os.getloadavg()[0]
    lines = [
        "| figure | value |", "|---|---|",
        f"| bundle (one folder, `build/package/dist/imewe`) | {fig['bundle_kib'] / 1024:.0f} MiB |",
        f"| Debian package (`{fig['deb']}`, zstd -3) | {fig['deb_bytes'] / 1048576:.0f} MiB |",
        f"| PyInstaller build | {fig['pyinstaller_s']:.0f} s (load {fig['load_1min']} on {fig['cores']} cores "
        "at the end of the build) |",
        f"| dpkg-deb | {fig['dpkg_deb_s']:.0f} s |",
        "", "| command | bundle (s, median) | source venv (s, median) | bundle / python -c pass |", "|---|---|---|---|",
        f"| python -c pass (reference) | {ref:.3f} | {ref:.3f} | 1.0 |",
    ]
    lines += [f"| {label} | {p:.3f} | {s:.3f} | {p / ref:.1f} |" for label, p, s in rows]
    text = "\n".join(lines) + f"\n\nLoad average during the start-up runs: {load:.1f} on {os.cpu_count()} cores, " \
        f"{a.runs} runs per command after one warm-up.\n"
    print("\n" + text)
    if a.write:
        (ROOT / "benchmarks" / "results" / "package.md").write_text(
            "# Desktop package: build, size, bundled start-up (issue 17)\n\nCommands (from the repo root):\n\n"
            "    ./dev package\n    .venv/bin/python benchmarks/package.py --runs " + str(a.runs) + "\n\n" + text +
            "\nThe bundle starts without Python's import search over site-packages (its modules are in one "
            "archive), but unpacks the archive's table of contents and loads its shared libraries at each start.\n",
            encoding="utf-8")


if __name__ == "__main__":
    main()
