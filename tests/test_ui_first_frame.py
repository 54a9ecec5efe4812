"""Issue 17: the window's frame first, its heavy parts right after. The first frame of ``imewe open`` loads no
pyqtgraph (the machine panel's charts and the timeline's Gantt are built after it, or when first shown), and the
time it took is in the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.ui.main_window import ControlRoom
from tests import test_ui_support as ui
from tests.test_ui_support import FDM, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture
ROOT = Path(__file__).resolve().parents[1]

# The real command, in a fresh interpreter; a probe on the application notes what is loaded at the window's first
# paint (the QApplication made here is the one the command then uses).
_PROBE = """
import json, sys
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow

app = QApplication(sys.argv[:1])
seen = {}

class Probe(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow) and "frame" not in seen:
            seen["frame"] = sorted({m.split(".")[0] for m in sys.modules})
        return False

probe = Probe()
app.installEventFilter(probe)
from app.cli.main import main
code = main(sys.argv[1:])
seen["end"] = sorted({m.split(".")[0] for m in sys.modules})
sys.stdout.write(json.dumps({"code": code, **seen}))
"""


def test_the_first_frame_of_imewe_open_waits_for_no_chart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[sites]\nport = 0\n", encoding="utf-8")  # beside any running site
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMEWE_HOME": str(home), "IMEWE_DISCOVERY": "0"}
    proc = subprocess.run([sys.executable, "-c", _PROBE, "open", "--screenshot", str(tmp_path / "f.png"),
                           "--after", "1"], capture_output=True, text=True, env=env, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["code"] == 0 and "frame" in report, "the window was never painted"
    assert "pyqtgraph" not in report["frame"], "the first frame waited for pyqtgraph"
    assert "pyqtgraph" in report["end"], "the machine panel's charts were never built after the first frame"
    assert (tmp_path / "f.png").stat().st_size > 10_000
    log = (home / "logs" / "imewe.log").read_text(encoding="utf-8")
    assert "first frame " in log and " s after start (" in log


def test_charts_after_the_first_frame_and_the_gantt_when_its_tab_is_shown(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("FDM-A", FDM, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            assert win.detail._charts is None and not win.timeline.built()  # noqa: SLF001
            win.show()
            win.activateWindow()
            try:
                await until(lambda: win.first_frame.painted, what="the first frame")
                await until(lambda: win.detail._charts is not None, what="the charts after the first frame")  # noqa: SLF001
                assert win.first_frame.cpu_s is not None and win.first_frame.cpu_s > 0
                assert not win.timeline.built()  # the Gantt waits for its tab
                win.tabs.setCurrentWidget(win.timeline)
                assert win.timeline.built()
                await until(lambda: win.timeline.gantt.isVisible(), what="the Gantt on screen")
                assert "FDM-A" in " ".join(win.timeline.gantt.rows)  # drawn with what it was given before
            finally:
                win.close()

    qloop.run_until_complete(scenario())
