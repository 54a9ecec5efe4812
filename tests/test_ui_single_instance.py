"""Single instance (issue 17): ``imewe open FILE`` while a window runs on the site hands the file to that window
over the owner's control channel (a real socket on 127.0.0.1), and the window shows it in Design review."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("the 3D views need an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

import trimesh  # noqa: E402

from app.bootstrap import build_core, wire_control_channel  # noqa: E402
from app.cli.main import main  # noqa: E402
from app.cli.window_handoff import hand_to_window  # noqa: E402
from app.core.api.channel import read_channel  # noqa: E402
from app.core.api.client import OwnerClient  # noqa: E402
from app.core.api.operations import OPS  # noqa: E402
from app.core.config import load_config  # noqa: E402
from app.core.domain.errors import ValidationError  # noqa: E402
from app.ui.main_window import ControlRoom  # noqa: E402
from tests import test_ui_support as ui  # noqa: E402
from tests.test_ui_support import ports_of, settings_in, until  # noqa: E402

qloop = ui.qloop  # the fixture
pytestmark = pytest.mark.gui


def _cli(home: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["--home", str(home), *args])
    return rc, out.getvalue(), err.getvalue()


@contextlib.asynccontextmanager
async def _window_owner(home: Path, command: str = "open"):  # type: ignore[no-untyped-def]
    core = build_core(load_config(str(home)), connect_machines=False, command=command)
    wire_control_channel(core, command)
    await core.kernel.boot()
    try:
        yield core
    finally:
        await core.kernel.shutdown()


def test_a_file_opened_while_the_window_runs_goes_to_that_window(qloop, qtbot, tmp_path: Path) -> None:
    home = tmp_path / "home"
    part = tmp_path / "bracket.stl"
    trimesh.creation.box(extents=(20.0, 10.0, 5.0)).export(part)

    async def scenario() -> None:
        async with _window_owner(home) as core:
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                review = win.review
                assert review is not None
                # what a double-click on the file runs: the second process hands it over and ends at once
                rc, out, err = await asyncio.to_thread(_cli, home, "open", str(part))
                assert rc == 0, err
                assert f"process {os.getpid()}" in out
                await until(lambda: review.path == part, timeout=30, what="the file in Design review")
                assert win.tabs.currentWidget() is review
                # plain 'imewe open' only brings the window forward; a bad path is refused in one line
                assert await asyncio.to_thread(hand_to_window, home, None) is not None
                client = OwnerClient(read_channel(home))
                for bad in ("relative.stl", "", "/tmp/a\0b.stl", 5):
                    with pytest.raises(ValidationError, match="absolute file path"):
                        await client.call(OPS["window.open"], {"path": bad})
                assert review.path == part
            finally:
                win.close()
            # the window closed (its bridge unsubscribed): the owner shows none and refuses; the CLI then
            # refuses too, naming the owner, instead of starting a second window on the site
            assert await asyncio.to_thread(hand_to_window, home, part) is None
            rc, _, err = await asyncio.to_thread(_cli, home, "open", str(part))
            assert rc == 2 and "imewe open" in err and len(err.strip().splitlines()) == 1

    qloop.run_until_complete(scenario())


def test_a_site_server_with_no_window_is_not_asked(qloop, tmp_path: Path) -> None:
    home = tmp_path / "home"
    part = tmp_path / "p.stl"
    trimesh.creation.box(extents=(5.0, 5.0, 5.0)).export(part)

    async def scenario() -> None:
        async with _window_owner(home, "serve"):
            assert await asyncio.to_thread(hand_to_window, home, part) is None
            rc, _, err = await asyncio.to_thread(_cli, home, "open", str(part))
            assert rc == 2 and "imewe serve" in err

    qloop.run_until_complete(scenario())
