"""Issue 17: start-up times. Each command runs in a fresh interpreter, several times; the figure is the median
wall time (and the CPU time, less sensitive to the shared machine's load), next to ``python -c pass`` measured in
the same run. With ``--compare TREE`` the same commands also run from another checkout (e.g. main before a change).

    xvfb-run -a -s "-screen 0 1920x1080x24" env QT_QPA_PLATFORM=xcb \
        .venv/bin/python benchmarks/startup.py [--runs 7] [--compare /path/to/other/checkout] [--write]

Byte-code is cached in a temporary folder (PYTHONPYCACHEPREFIX) after one warm-up run, as in an installed
package; the home holds a migrated site database, as on any day after the first. The window's first frame is
``imewe open --screenshot FILE --after 0``: start to a grabbed frame of the control room and the process's end
(it needs a display). "window first frame painted" is the same run seen from inside: the wall time since the
process started and its CPU time when Qt first paints the main window, noted by an event filter that a small
wrapper around ``app.ui.runner.make_app`` installs (so any checkout is measured the same way).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.5  # issue 17: --help and light commands
FRAME_TARGET_S = 2.0  # issue 17: the window's first frame, on a quiet machine


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``cmd`` (CPU: user + system of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


PAINTED = "window first frame painted"
# Runs the CLI with an event filter on the application that writes "wall cpu" (seconds since the process started,
# from /proc; CPU time) to $STARTUP_FRAME_FILE at the first paint of a main window. Qt is not imported before the
# command imports it.
FRAME_PROBE = """
import os, sys, time
from pathlib import Path
import app.ui.runner as runner

def since_start():
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return float(Path("/proc/uptime").read_text().split()[0]) - int(fields[19]) / os.sysconf("SC_CLK_TCK")

make_app = runner.make_app

def probed(*a, **kw):
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QMainWindow

    class Probe(QObject):
        def eventFilter(self, watched, event):
            if event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow) and not self.done:
                self.done = True
                Path(os.environ["STARTUP_FRAME_FILE"]).write_text(f"{since_start()} {time.process_time()}")
            return False

    app = make_app(*a, **kw)
    probe = Probe(app)
    probe.done = False
    app.installEventFilter(probe)
    return app

runner.make_app = probed
import app.cli.main as cli
if hasattr(cli, "run"):  # the program's own entry point, where the checkout has one
    cli.run()
sys.exit(cli.main(sys.argv[1:]))
"""


def first_frame(path: Path) -> tuple[float, float] | None:
    """What the probe wrote: (wall, CPU) seconds from the process's start to the first frame."""
    if not path.exists():
        return None
    wall, cpu = path.read_text(encoding="utf-8").split()
    path.unlink()
    return float(wall), float(cpu)


def measure(cmd: list[str], env: dict[str, str], cwd: Path, runs: int,
            log: Path | None = None) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """Median wall and CPU of ``runs`` runs; with ``log``, also the median first frame each run noted there."""
    timed(cmd, env, cwd)  # warm-up: byte-code cache, database migrated, keys made
    if log is not None:
        log.unlink(missing_ok=True)
    samples, frames = [], []
    for _ in range(runs):
        samples.append(timed(cmd, env, cwd))
        if log is not None and (frame := first_frame(log)) is not None:
            frames.append(frame)
    frame = (statistics.median(f[0] for f in frames), statistics.median(f[1] for f in frames)) if frames else None
    return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)), frame


def commands(tmp: Path, with_window: bool) -> list[tuple[str, list[str]]]:
    imewe = [sys.executable, "-m", "app.cli.main"]
    rows = [("python -c pass (reference)", [sys.executable, "-c", "pass"]),
            ("imewe --help", [*imewe, "--help"]),
            ("imewe jobs list", [*imewe, "jobs", "list"]),
            ("imewe sites id", [*imewe, "sites", "id"])]
    if with_window:
        rows.append(("window: start to grabbed frame and exit (open --screenshot --after 0)",
                     [sys.executable, "-c", FRAME_PROBE, "open", "--screenshot", str(tmp / "frame.png"), "--after", "0"]))
    return rows


def run_tree(tree: Path, runs: int, with_window: bool) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory(prefix="imewe-start-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPATH=str(tree), IMEWE_HOME=str(Path(tmp) / "home"), IMEWE_DISCOVERY="0",
                   PYTHONPYCACHEPREFIX=str(Path(tmp) / "pyc"), STARTUP_FRAME_FILE=str(Path(tmp) / "frame.txt"))
        home = Path(tmp) / "home"
        home.mkdir()
        # the window starts the site-link listener: any free port, so a site running beside us is no obstacle
        (home / "config.toml").write_text("[sites]\nport = 0\n", encoding="utf-8")
        out: dict[str, tuple[float, float]] = {}
        for label, cmd in commands(Path(tmp), with_window):
            window = label.startswith("window")
            out[label], frame = measure(cmd, env, tree, runs, Path(tmp) / "frame.txt" if window else None)
            if window:
                out[PAINTED] = frame or (float("nan"), float("nan"))
            for name in (label, PAINTED) if window else (label,):
                print(f"{tree.name:>10}  {name:<50} wall {out[name][0]:.3f} s  cpu {out[name][1]:.3f} s", flush=True)
        return out


def _s(value: float, digits: int = 3) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN: not measured


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--compare", type=Path, help="another checkout to measure the same way (e.g. main before)")
    ap.add_argument("--no-window", action="store_true", help="skip the window's first frame (no display)")
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/startup.md")
    a = ap.parse_args()
    with_window = not a.no_window and bool(os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM"))
    here = run_tree(ROOT, a.runs, with_window)
    other = run_tree(a.compare.resolve(), a.runs, with_window) if a.compare else None
    ref_wall, ref_cpu = here["python -c pass (reference)"]
    head = "| command | wall (s, median) | CPU (s) | wall / python -c pass |"
    if other:
        head += f" wall from {a.compare.name} (s) | CPU from {a.compare.name} (s) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, (wall, cpu) in here.items():
        row = f"| {label} | {_s(wall)} | {_s(cpu)} | {_s(wall / ref_wall, 1)} |"
        if other:
            row += f" {_s(other[label][0])} | {_s(other[label][1])} |"
        lines.append(row)
    verdicts = []
    for label in ("imewe --help", "imewe jobs list", "imewe sites id"):
        wall, cpu = here[label]
        verdicts.append(f"{label}: {wall:.2f} s wall ({'meets' if wall < TARGET_S else 'misses'} the {TARGET_S} s "
                        f"target), {cpu:.2f} s CPU ({'within' if cpu < TARGET_S else 'over'} it: what a quiet "
                        "machine would take, about)")
    frame = here.get(PAINTED)
    if frame:
        verdicts.append(f"window first frame painted: {frame[0]:.2f} s wall "
                        f"({'meets' if frame[0] < FRAME_TARGET_S else 'misses'} the {FRAME_TARGET_S} s target), "
                        f"{frame[1]:.2f} s CPU")
    load = os.getloadavg()[0]
    text = "\n".join(lines) + "\n\n" + "\n".join(f"- {v}" for v in verdicts) + \
        f"\n\nLoad average during the run: {load:.1f} on {os.cpu_count()} cores, {a.runs} runs per command.\n"
    print("\n" + text)
    if a.write:
        cmd = "xvfb-run -a -s \"-screen 0 1920x1080x24\" env QT_QPA_PLATFORM=xcb .venv/bin/python " \
              f"benchmarks/startup.py --runs {a.runs}" + (f" --compare {a.compare}" if a.compare else "")
        (ROOT / "benchmarks" / "results" / "startup.md").write_text(
            "# Start-up times (issue 17)\n\nCommand (from the repo root):\n\n    " + cmd + "\n\n" + text +
            "\nEach command runs in a fresh interpreter with its byte-code cached (as installed), on a home whose "
            "database is already migrated. CPU time is the child's user + system time; on the shared 2-core "
            "machine, wall time is inflated by the other jobs' load, CPU time much less.\n",
            encoding="utf-8")


if __name__ == "__main__":
    main()
