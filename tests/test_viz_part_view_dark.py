"""The 3D part view on the dark theme (real X server: xvfb-run, QT_QPA_PLATFORM=xcb): its background is dark like
the window around it (it was near white, #f4f5f7), and the plate and the part still stand out from it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("QtInteractor needs an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

import trimesh  # noqa: E402

from app.core.domain import Capabilities, ProcessType  # noqa: E402
from app.viz.part_view import PartView  # noqa: E402

pytestmark = pytest.mark.gui


def _luma(px: np.ndarray) -> np.ndarray:
    return px[..., :3].astype(float) @ np.array([0.299, 0.587, 0.114])


def test_part_view_is_dark_with_plate_and_part_visible(qtbot, tmp_path: Path) -> None:
    stl = tmp_path / "block.stl"
    block = trimesh.creation.box((60, 40, 30))
    block.apply_translation((0, 0, 15))
    block.export(stl)
    view = PartView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    try:
        with qtbot.waitSignal(view.loaded, timeout=60_000):
            view.load(str(stl))
        view.set_machine(Capabilities(ProcessType.FDM, (220, 220, 250)), "ender")
        view.set_view("iso")
        img = view.plotter.screenshot(return_img=True)
        luma = _luma(img)
        corner = luma[:20, :20].mean()
        assert corner < 40, corner  # a dark background, as the theme's window
        background = img[2, 2, :3].astype(int)
        off = np.abs(img[..., :3].astype(int) - background).max(axis=2) > 30
        assert off.mean() > 0.10, off.mean()  # the plate and the part are drawn, well apart from the background
        assert (luma > 110).mean() > 0.01  # the part's light colour reads on the dark plate
    finally:
        view.close_view()
