"""The Catalogue tab in the control room at 1366 x 768 under Xvfb: the list with its thumbnails (a picture is
saved and checked), and a template made with parameters opens in Design review with its estimates, before any
job is made. With IMEWE_SCREENSHOTS=<folder> the pictures are also saved there:

    IMEWE_SCREENSHOTS=resources/screenshots QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" \\
        .venv/bin/python -m pytest -q tests/test_ui_catalogue_window.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("the 3D views need an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

import numpy as np  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402

from app.core.catalog import playbooks, templates  # noqa: E402
from app.core.sites import market_repo  # noqa: E402
from app.ui.catalogue_panel import CataloguePanel  # noqa: E402
from app.ui.main_window import ControlRoom  # noqa: E402
from app.ui.runner import save_screenshot  # noqa: E402
from tests import test_ui_support as ui  # noqa: E402
from tests.test_ui_screenshot import _pixels  # noqa: E402
from tests.test_ui_support import FDM, booted_core, until, window_at_1366  # noqa: E402

from .shared_data import MESHES  # noqa: E402
from .test_catalogue import readme_playbook  # noqa: E402
from .test_ui_catalogue import OFFER, OTHER  # noqa: E402

qloop = ui.qloop  # the fixture
pytestmark = pytest.mark.gui


async def _grab(win: ControlRoom, path: Path) -> np.ndarray:
    done: asyncio.Future = asyncio.get_running_loop().create_future()
    QTimer.singleShot(0, lambda: done.set_result(save_screenshot(win, path)))
    return _pixels(await done)


def test_catalogue_tab_at_1366_and_a_template_previewed_in_design_review(qloop, qapp, qtbot, tmp_path: Path) -> None:
    from app.ui.theme import apply_theme

    apply_theme(qapp)
    out = Path(os.environ.get("IMEWE_SCREENSHOTS") or tmp_path)
    home = tmp_path / "home"

    async def scenario() -> None:
        async with booted_core(home) as core:
            await core.fleet.register("Prusa MK4", FDM, bring_up=True)
            for name in ("housing clips x40", "brackets x12", "lids x20"):  # the printer takes one; two wait
                await core.jobs.submit({"name": name, "parts": [
                    {"name": "p", "process": "fdm", "material": "pla", "size": [20, 10, 5], "quantity": 40}]})
            await playbooks.add(core.store, readme_playbook())
            files = templates.files_dir(home)
            files.mkdir(parents=True, exist_ok=True)
            for name in ("20mm-xyz-cube.stl", "teapot.stl", "featuretype.STL"):
                if (MESHES / name).is_file():
                    shutil.copy(MESHES / name, files / name)
            with core.store.begin() as conn:
                market_repo.put_offer(conn, OTHER, OFFER, [], 1.0)
            async with window_at_1366(core, qtbot) as win:
                win.detail_dock.hide()
                win.show_tab("catalogue")
                panel = win.panels["catalogue"]
                assert isinstance(panel, CataloguePanel)
                await until(lambda: panel.items, timeout=20, what="the list")
                drawn = [i for i in panel.items if i.kind in ("template", "part")]
                await until(lambda: all(i.file in panel._thumbs for i in drawn),  # noqa: SLF001
                            timeout=60, what="every thumbnail")
                panel.list.setCurrentRow([i.name for i in panel.items].index("bracket"))
                await asyncio.sleep(0.2)
                pic = await _grab(win, out / "catalogue.png")
                assert pic.shape[1] >= 1300 and len(np.unique(pic.reshape(-1, pic.shape[2]), axis=0)) > 50
                panel.list.setCurrentRow([i.kind for i in panel.items].index("offer"))
                await until(lambda: panel.jobs_box.count() >= 1 and panel.quote_button.isEnabled(),
                            what="the job to quote")
                assert panel.quote_row.isVisible() and not panel.picture.isVisible()
                await _grab(win, out / "catalogue-offer.png")
                panel.list.setCurrentRow([i.name for i in panel.items].index("bracket"))
                panel.params.setText("length=60 height=35")
                panel.preview_button.click()
                review = win.review
                await until(lambda: win.tabs.currentWidget() is review and review.key and review.rows, timeout=60,
                            what="the template made and opened in Design review")
                assert review.path is not None and review.path.name.startswith("bracket-")
                assert len(await core.jobs.list()) == 3  # the preview made no job
                await asyncio.sleep(0.5)
                await _grab(win, out / "catalogue-preview.png")

    qloop.run_until_complete(scenario())
