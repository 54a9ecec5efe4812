"""Issue 5: the control room under load. 500 simulated machines report telemetry at 1 Hz (plus a node update
and a state change now and then) into the real core (SQLite store, telemetry service when present); we sample
the one event loop's latency with a timer and measure CPU, with the window open and, as the reference, the same
run with no window (the core alone on the same qasync loop).

    .venv/bin/python benchmarks/ui.py [--machines 500] [--seconds 20] [--write]

Each mode runs in its own process. The window renders with Qt's offscreen platform unless QT_QPA_PLATFORM is
set (e.g. xcb under xvfb-run).

Issue 13: ``--open-part`` times File > Open of a 1M-triangle STL to its first frame inside the window (Design
review tab), next to the same file in the bare PartView in the same process (target under 2 s). It needs an X
server (xvfb-run) for VTK:

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python benchmarks/ui.py --open-part

Issue 13: ``--rotate`` is the event-loop latency with the machines reporting while a part preview in the Design
review tab turns at 30 frames a second, next to the same window with no preview in the same run (target p95 under
50 ms). Also under an X server:

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python benchmarks/ui.py --rotate
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLE_MS = 20  # the latency probe's period


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def build(home: str, machines: int):
    from app.bootstrap import build_core
    from app.core.config import load_config

    core = build_core(load_config(home=home), connect_machines=False)
    await core.kernel.boot()
    kinds = [{"process": "fdm", "build_volume_mm": [250, 210, 220], "materials": ["pla", "petg"],
              "loaded_material": "pla", "max_power_w": 250},
             {"process": "cnc_mill", "build_volume_mm": [600, 400, 200], "materials": ["aluminium"],
              "loaded_material": "aluminium", "max_power_w": 1500},
             {"process": "laser", "build_volume_mm": [600, 400, 20], "materials": ["plywood"],
              "loaded_material": "plywood", "max_power_w": 400}]
    for i in range(machines):
        await core.fleet.register(f"M-{i:04d}", kinds[i % 3], location=f"bay {i % 8 + 1}", bring_up=True)
    return core


async def feed(core, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """Every machine reports once a second, spread over ten slices of the second like real links."""
    from app.core.domain.entities import TelemetrySample
    from app.core.domain.enums import NodeState
    from app.core.events import NodeUpdated, TelemetryReceived

    rng = random.Random(5)
    nodes = core.fleet.list()
    slices = [nodes[i::10] for i in range(10)]
    progress = {n.id: rng.random() for n in nodes}
    start = time.perf_counter()
    k = 0
    while not stop.is_set():
        for node in slices[k % 10]:
            progress[node.id] = (progress[node.id] + 0.002) % 1.0
            m = {"power_w": rng.uniform(100, 300), "temperature": rng.gauss(210, 1),
                 "target_temperature": 210.0, "progress": progress[node.id]}
            core.bus.publish(TelemetryReceived(TelemetrySample(node.id, core.clock.now(), m)))
            counts["telemetry"] += 1
            if rng.random() < 0.05:
                core.bus.publish(NodeUpdated(node.id, "live"))
                counts["node_updates"] += 1
        if k % 10 == 0:  # about one machine changes state each second
            node = rng.choice(nodes)
            current = core.fleet.get(node.id).state
            target = NodeState.MAINTENANCE if current is NodeState.IDLE else NodeState.IDLE
            await core.fleet.set_state(node.id, target, "benchmark")
            counts["state_changes"] += 1
        k += 1
        # keep the schedule: slice k starts at k * 100 ms
        await asyncio.sleep(max(0.0, start + k * 0.1 - time.perf_counter()))


async def probe(stop: asyncio.Event, lat_ms: list[float]) -> None:
    """A timer that should wake every SAMPLE_MS; how late it wakes is how long the loop was busy."""
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(SAMPLE_MS / 1000)
        lat_ms.append(max(0.0, (time.perf_counter() - t0) * 1000 - SAMPLE_MS))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run_mode(mode: str, machines: int, seconds: float) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtCore import QSettings

    from app.ui.runner import make_app

    app = make_app()  # as the program makes it: theme, garbage collected on the UI thread
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    home = tempfile.mkdtemp(prefix="imewe-bench-ui-")

    async def main() -> dict:
        t_build = time.perf_counter()
        core = await build(home, machines)
        build_s = time.perf_counter() - t_build
        win = None
        if mode in ("window", "rotate", "rotate-full"):
            from app.ui.main_window import ControlRoom
            from app.window_ports import ui_ports

            win = ControlRoom(ui_ports(core), settings=QSettings(str(Path(home) / "ui.ini"), QSettings.Format.IniFormat))
            win.resize(1680, 1000)
            win.show()
            win.detail.show_node(core.fleet.list()[0].id)  # one machine's live charts too
        frames = {"n": 0}
        if mode in ("rotate", "rotate-full"):
            await start_rotating(win, Path(home), frames, lod=mode == "rotate")
        stop = asyncio.Event()
        counts = {"telemetry": 0, "node_updates": 0, "state_changes": 0}
        lat: list[float] = []
        feeder = asyncio.ensure_future(feed(core, stop, counts))
        await asyncio.sleep(3.0)  # warm-up: caches, first paints
        lat.clear()
        for key in counts:
            counts[key] = 0
        flushes0 = win.bridge.flushes if win else 0
        frames0 = frames["n"]
        prober = asyncio.ensure_future(probe(stop, lat))
        c0, w0 = cpu_s(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu, wall = cpu_s() - c0, time.perf_counter() - w0
        stop.set()
        await asyncio.gather(feeder, prober)
        result = {
            "mode": mode, "machines": machines, "seconds": round(wall, 1), "build_s": round(build_s, 1),
            "p50_ms": round(pct(lat, 0.50), 1), "p95_ms": round(pct(lat, 0.95), 1), "max_ms": round(max(lat), 1),
            "mean_ms": round(statistics.fmean(lat), 1), "samples": len(lat),
            "cpu_pct": round(100 * cpu / wall, 1), "telemetry_per_s": round(counts["telemetry"] / wall),
            "node_updates_per_s": round(counts["node_updates"] / wall, 1),
            "state_changes_per_s": round(counts["state_changes"] / wall, 2),
            "ui_flushes_per_s": round(((win.bridge.flushes - flushes0) / wall) if win else 0.0, 1),
            "bus_dropped": sum(s["dropped"] for s in core.bus.stats().values()),
            "frames_per_s": round((frames["n"] - frames0) / wall, 1),
        }
        if frames.get("render_ms"):
            result["render_ms_p50"] = round(pct(frames["render_ms"], 0.5), 1)
            result["render_ms_p95"] = round(pct(frames["render_ms"], 0.95), 1)
            result["cells_drawn"] = frames.get("cells", 0)
        if mode in ("rotate", "rotate-full"):
            frames["timer"].stop()
            frames["release"]()
            review = win.review  # its background work ends before the window goes
            while review.part_view.busy or any(t.running for t in review._tasks):
                await asyncio.sleep(0.1)
            print(json.dumps(result), flush=True)  # the figures are out even if the 3D view's teardown complains
        if win is not None:
            win.close()
        await core.kernel.shutdown()
        return result

    with loop:
        return loop.run_until_complete(main())


SHARED = Path(os.environ.get("IMEWE_SHARED") or ROOT.parent / "shared")
ROTATE_MS = 33  # the preview turns at ~30 frames a second, as when a reviewer drags it round


async def start_rotating(win, home: Path, frames: dict, lod: bool = True) -> None:
    """Open a part (a 327,680-triangle sphere) in the Design review tab and drag it round as a reviewer does: the
    left button held on the view and a mouse move posted every ROTATE_MS into Qt's event queue (where a real
    mouse's moves arrive), so VTK's own interaction turns it
    (and, with ``lod``, the view draws its coarse proxy while it turns). Frames are counted as VTK draws them."""
    import trimesh
    from PySide6.QtCore import QEvent, QPointF, Qt, QTimer
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    path = home / "preview.stl"
    trimesh.creation.icosphere(subdivisions=7, radius=40.0).export(path)  # 327,680 triangles
    review = win.review
    shown: asyncio.Future = asyncio.get_running_loop().create_future()
    review.first_frame.connect(lambda *_a: shown.done() or shown.set_result(True))
    win.open_file(str(path))
    await asyncio.wait_for(shown, 120)
    while review.part_view.busy or any(t.running for t in review._tasks):  # analysis and poses end first
        await asyncio.sleep(0.1)
    view = review.part_view
    view.lod = lod
    widget = view.plotter.interactor
    began: list[float] = []

    def start(*_a) -> None:
        began.append(time.perf_counter())

    def end(*_a) -> None:
        frames["n"] += 1
        if began:
            frames["render_ms"].append((time.perf_counter() - began.pop()) * 1000)
        frames["cells"] = view.drawn_cells

    view.plotter.ren_win.AddObserver("StartEvent", start)
    view.plotter.ren_win.AddObserver("EndEvent", end)
    frames["render_ms"] = []

    def mouse(kind, x: float, held: bool) -> None:
        pos = QPointF(x, widget.height() / 2)
        button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
        QApplication.postEvent(widget, QMouseEvent(kind, pos, widget.mapToGlobal(pos), button,
                                                   Qt.MouseButton.LeftButton if held else Qt.MouseButton.NoButton,
                                                   Qt.KeyboardModifier.NoModifier))

    step = {"k": 0}
    mouse(QEvent.Type.MouseButtonPress, widget.width() / 2, True)

    def move() -> None:
        step["k"] += 1
        swing = (step["k"] % 40) - 20 if (step["k"] // 40) % 2 == 0 else 20 - (step["k"] % 40)  # to and fro
        mouse(QEvent.Type.MouseMove, widget.width() / 2 + 6 * swing, True)

    timer = QTimer(win)
    timer.setInterval(ROTATE_MS)
    timer.timeout.connect(move)
    timer.start()
    frames["timer"] = timer
    frames["release"] = lambda: mouse(QEvent.Type.MouseButtonRelease, widget.width() / 2, False)


def million_stl(tmp: Path) -> tuple[Path, str]:
    """A binary STL of at least 1M triangles from the shared data, else the torus benchmarks/parts.py makes."""
    import struct

    folder = SHARED / "data" / "meshes"
    for f in sorted(folder.glob("*.[sS][tT][lL]")) if folder.is_dir() else []:
        with f.open("rb") as fh:
            head = fh.read(84)
        n = struct.unpack("<I", head[80:])[0] if len(head) == 84 else 0
        if n >= 1_000_000 and f.stat().st_size == 84 + 50 * n:  # binary STL (an ASCII one's header is text)
            return f, f"{f.name} from {folder}"
    from benchmarks.parts import make_torus_stl

    path = tmp / "torus-1M.stl"
    n = make_torus_stl(path)
    return path, (f"no 1M-triangle STL in {folder} (SOURCES.md lists none): the {n:,}-triangle torus of "
                  "benchmarks/parts.py, made for this run")


def open_part_child(repeat: int) -> dict:
    """Under X: alternately the bare PartView and the window's File > Open, each timed to its first frame."""
    import qasync
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.ui.theme import apply_theme
    from app.viz.part_view import PartView

    app = QApplication.instance() or QApplication([])
    app.setQuitOnLastWindowClosed(False)
    apply_theme(app)
    home = Path(tempfile.mkdtemp(prefix="imewe-bench-open-"))
    stl, source = million_stl(home)
    stl.read_bytes()  # both runs read from the page cache, not the first one from disk

    def bare(lod: bool = True) -> float:
        view = PartView()
        view.lod = lod
        view.resize(1024, 640)
        view.show()
        app.processEvents()
        loop = QEventLoop()
        view.shown.connect(lambda *_: loop.quit())
        view.failed.connect(lambda *_: loop.quit())
        QTimer.singleShot(300_000, loop.quit)
        t0 = time.perf_counter()
        view.load(str(stl))
        loop.exec()
        took = time.perf_counter() - t0
        loop = QEventLoop()  # let the analysis end before the view goes
        view.loaded.connect(lambda *_: loop.quit())
        QTimer.singleShot(120_000, loop.quit)
        loop.exec()
        view.close_view()
        return took

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    async def window_runs() -> list[float]:
        from app.window_ports import ui_ports

        core = await build(str(home / "site"), 3)
        from app.ui.main_window import ControlRoom

        out = []
        for _ in range(repeat):
            win = ControlRoom(ui_ports(core), settings=QSettings(str(home / "ui.ini"), QSettings.Format.IniFormat))
            win.resize(1366, 768)
            win.show()
            await asyncio.sleep(1.0)
            review = win.review
            shown: asyncio.Future = asyncio.get_running_loop().create_future()
            review.first_frame.connect(lambda _s, f=shown: f.done() or f.set_result(time.perf_counter()))
            t0 = time.perf_counter()
            win.open_action.trigger()  # File > Open: the dialog opens, the operator picks the file
            dlg = review.file_dialog
            dlg.selectFile(str(stl))
            dlg.accept()
            out.append(await asyncio.wait_for(shown, 300) - t0)
            await asyncio.sleep(0)
            while review.part_view.busy or any(t.running for t in review._tasks):  # work ends before the window goes
                await asyncio.sleep(0.1)
            win.close()
            win.shutdown()
        await core.kernel.shutdown()
        return out

    bare_s = [bare() for _ in range(repeat)]
    full_s = [bare(lod=False) for _ in range(repeat)]
    with loop:
        window_s = loop.run_until_complete(window_runs())
    return {"source": source, "bare_s": bare_s, "full_s": full_s, "window_s": window_s}


def open_part(repeat: int, write: bool) -> int:
    if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen" or not os.environ.get("DISPLAY"):
        print("skipped: --open-part needs an X server for VTK; run under "
              "QT_QPA_PLATFORM=xcb xvfb-run -a -s \"-screen 0 1920x1080x24\"")
        return 0
    r = open_part_child(repeat)
    win, bare, full = min(r["window_s"]), min(r["bare_s"]), min(r["full_s"])
    verdict = "meets" if win < 2.0 else "MISSES"
    listed = ", ".join

    text = "\n".join([
        f"File: {r['source']}; best of {repeat} (all: window {listed(f'{v:.2f}' for v in r['window_s'])} s; "
        f"bare {listed(f'{v:.2f}' for v in r['bare_s'])} s; bare, full mesh first "
        f"{listed(f'{v:.2f}' for v in r['full_s'])} s)", "",
        "| figure | time to first frame | reference |", "|---|---|---|",
        f"| File > Open in the window (Design review tab, 1366 x 768) | {win:.2f} s | target < 2 s: {verdict} |",
        f"| the same file in the bare PartView (same run) | {bare:.2f} s | window / bare = {win / bare:.2f} |",
        f"| the bare PartView drawing the full mesh first (levels of detail off, same run) | {full:.2f} s | "
        f"bare / this = {bare / full:.2f} |"])
    print(text)
    if write:
        cmd = 'QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python benchmarks/ui.py ' \
              f"--open-part --repeat {repeat} --write"
        (ROOT / "benchmarks" / "results" / "ui-open-part.md").write_text(
            "# Design review: File > Open of a 1M-triangle STL (issue 13)\n\nCommand (from the repo root):\n\n    "
            + cmd + "\n\n" + text + "\n", encoding="utf-8")
    return 0


def rotate(machines: int, seconds: float, write: bool) -> int:
    if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen" or not os.environ.get("DISPLAY"):
        print("skipped: --rotate needs an X server for VTK; run under "
              "QT_QPA_PLATFORM=xcb xvfb-run -a -s \"-screen 0 1920x1080x24\"")
        return 0
    results = {}
    load = [os.getloadavg()[0]]
    for mode in ("window", "rotate-full", "rotate"):
        out = subprocess.run([sys.executable, __file__, "--mode", mode, "--machines", str(machines),
                              "--seconds", str(seconds)], capture_output=True, text=True, cwd=ROOT, timeout=900)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if not lines:  # no figures at all (a teardown complaint after them is not a failed run)
            print(out.stderr[-3000:], file=sys.stderr)
            return 1
        results[mode] = json.loads(lines[0])
        load.append(os.getloadavg()[0])
    rot, full, ref = results["rotate"], results["rotate-full"], results["window"]
    rows = [("event-loop latency p50 (ms)", "p50_ms"), ("event-loop latency p95 (ms)", "p95_ms"),
            ("event-loop latency max (ms)", "max_ms"), ("preview frames/s drawn", "frames_per_s"),
            ("one frame's render p50 / p95 (ms)", "render"), ("triangles drawn while turning", "cells_drawn"),
            ("CPU (% of one core)", "cpu_pct"), ("telemetry events/s published", "telemetry_per_s"),
            ("UI flushes/s (cap 10)", "ui_flushes_per_s"), ("bus events dropped", "bus_dropped"),
            ("latency samples", "samples")]
    for r in (rot, full, ref):
        r["render"] = f"{r['render_ms_p50']} / {r['render_ms_p95']}" if "render_ms_p50" in r else "-"
        r.setdefault("cells_drawn", "-")
    lines = [f"{machines} machines at 1 Hz for {rot['seconds']} s, probe every {SAMPLE_MS} ms; a 327,680-triangle "
             f"part dragged round in the Design review tab (left button held, the mouse moved every {ROTATE_MS} ms "
             "into Qt's event queue, VTK's own interaction turning it; target: p95 < 50 ms)", "",
             "| figure | window, part dragged (levels of detail) | the same, full mesh while turning (reference) "
             "| window, no preview (reference) |", "|---|---|---|---|"]
    lines += [f"| {label} | {rot[key]} | {full[key]} | {ref[key]} |" for label, key in rows]
    verdict = "meets" if rot["p95_ms"] < 50 else "MISSES"
    lines += ["", f"p95 {rot['p95_ms']} ms with the part dragged round {verdict} the 50 ms target "
              f"(full mesh while turning, same run: {full['p95_ms']} ms; no preview: {ref['p95_ms']} ms).", "",
              f"Load average (1 min) {min(load):.1f}-{max(load):.1f} during this run (the machine is shared)."]
    text = "\n".join(lines)
    print(text)
    if write:
        cmd = 'QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python benchmarks/ui.py ' \
              f"--rotate --machines {machines} --seconds {seconds:g} --write"
        (ROOT / "benchmarks" / "results" / "ui-rotate.md").write_text(
            "# Event loop with 500 machines while a preview turns (issue 13)\n\nCommand (from the repo root):\n\n    "
            + cmd + "\n\n" + text + "\n\nMachine: the shared 2-core box; other engineers' jobs may run at the same "
            "time. Under Xvfb VTK renders in software (llvmpipe), on this same CPU.\n", encoding="utf-8")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machines", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/ui.md")
    ap.add_argument("--mode", choices=["window", "core", "rotate", "rotate-full"], help=argparse.SUPPRESS)  # one child run
    ap.add_argument("--rotate", action="store_true", help="latency with a part preview turning (needs an X server)")
    ap.add_argument("--open-part", action="store_true", help="File > Open of a 1M-triangle STL to its first frame")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each for --open-part (best is reported)")
    args = ap.parse_args()
    if args.open_part:
        return open_part(args.repeat, args.write)
    if args.mode:
        print(json.dumps(run_mode(args.mode, args.machines, args.seconds)))
        return 0
    if args.rotate:
        return rotate(args.machines, args.seconds, args.write)
    results = {}
    for mode in ("core", "window"):
        out = subprocess.run([sys.executable, __file__, "--mode", mode, "--machines", str(args.machines),
                              "--seconds", str(args.seconds)], capture_output=True, text=True, cwd=ROOT,
                             timeout=600)
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            return 1
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    core, win = results["core"], results["window"]
    rows = [("event-loop latency p50 (ms)", "p50_ms"), ("event-loop latency p95 (ms)", "p95_ms"),
            ("event-loop latency max (ms)", "max_ms"), ("CPU (% of one core)", "cpu_pct"),
            ("telemetry events/s published", "telemetry_per_s"), ("node updates/s", "node_updates_per_s"),
            ("state changes/s (stored)", "state_changes_per_s"), ("UI flushes/s (cap 10)", "ui_flushes_per_s"),
            ("bus events dropped", "bus_dropped"), ("latency samples", "samples")]
    lines = [f"{args.machines} machines at 1 Hz for {win['seconds']} s, probe every {SAMPLE_MS} ms "
             f"(target: window p95 < 50 ms)", "",
             "| figure | window open | core alone (reference) |", "|---|---|---|"]
    lines += [f"| {label} | {win[key]} | {core[key]} |" for label, key in rows]
    verdict = "meets" if win["p95_ms"] < 50 else "MISSES"
    lines += ["", f"Window p95 {win['p95_ms']} ms {verdict} the 50 ms target."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        cmd = "QT_QPA_PLATFORM=" + os.environ.get("QT_QPA_PLATFORM", "offscreen") + \
            f" .venv/bin/python benchmarks/ui.py --machines {args.machines} --seconds {args.seconds:g} --write"
        (ROOT / "benchmarks" / "results" / "ui.md").write_text(
            "# UI benchmark (issue 5)\n\nCommand (from the repo root):\n\n    " + cmd + "\n\n" + text + "\n\n"
            "Machine: the shared 2-core box; other engineers' jobs may run at the same time.\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
