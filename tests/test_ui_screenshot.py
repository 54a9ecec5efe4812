"""`imewe demo --screenshot out.png --after N` renders the live demo and exits; the picture shows the fleet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[1]


def _pixels(path: Path) -> np.ndarray:
    img = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    assert not img.isNull()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.sizeInBytes())
    rows = buf.reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
    return rows.reshape(img.height(), img.width(), 3).copy()  # copy: the QImage's buffer dies with it


def _share(px: np.ndarray, hex_colour: str, tol: int = 6) -> float:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return float(np.mean(np.all(np.abs(px.astype(int) - rgb) <= tol, axis=2)))


@pytest.mark.slow
def test_demo_screenshot_shows_the_fleet(tmp_path: Path, loopback_home) -> None:
    out = tmp_path / "shots" / "demo.png"
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "--home", str(loopback_home(tmp_path / "home")), "demo",
         "--headless", "--screenshot", str(out), "--after", "3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.stat().st_size > 20_000
    px = _pixels(out)
    h, w, _ = px.shape
    assert w >= 1200 and h >= 700
    fleet = px[:, : int(w * 0.55)]  # the fleet tab; the machine dock is on the right
    assert _share(fleet, "#18202a") > 0.2  # tile bodies fill the fleet area
    working = _share(fleet, "#1f6feb") + _share(fleet, "#3fb950")  # EXECUTING stripes and progress, IDLE stripes
    assert working > 0.005
    assert _share(px, "#b3121f", tol=10) > 0.003  # the e-stop button is on screen


def test_demo_rejects_bad_arguments_in_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-m", "app.cli.main", "--home", str(tmp_path), "demo", "--scale", "-3",
                           "--headless"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "imewe: --scale must be positive"


def test_demo_text_mode_prints_the_live_fleet_without_a_window(tmp_path: Path, loopback_home) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("DISPLAY", None)
    proc = subprocess.run([sys.executable, "-m", "app.cli.main", "--home", str(loopback_home(tmp_path)), "demo", "--text",
                           "--for", "5", "--scale", "600"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "MACHINE" in proc.stdout and "Prusa MK4 #1" in proc.stdout
    assert any(w in proc.stdout for w in ("Printing", "Machining", "Cutting"))  # jobs flow within seconds, in words
    assert "EXECUTING" not in proc.stdout and "cnc_mill" not in proc.stdout  # words, not the enum values


def test_open_without_a_display_says_what_to_do(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(var, None)
    proc = subprocess.run([sys.executable, "-m", "app.cli.main", "--home", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("imewe: no display") and "Traceback" not in proc.stderr
