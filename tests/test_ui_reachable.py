"""Every tab of the window can be opened from the command line (``imewe demo --tab``: Design review, What if,
Catalogue and Admin could not), and every keyboard shortcut the window answers is in Help > Keyboard shortcuts
(Ctrl+Shift+A, Add machine, was not)."""

from __future__ import annotations

from pathlib import Path

from app.cli.cmd_demo import TABS
from app.cli.main import build_parser
from app.ui.main_window import SHORTCUTS, ControlRoom
from tests import test_ui_support as ui
from tests.test_ui_support import booted_core, ports_of, settings_in

qloop = ui.qloop  # the fixture


def test_every_tab_and_shortcut_is_reachable(qloop, qtbot, tmp_path: Path) -> None:
    args = build_parser("demo").parse_args(["demo", "--tab", "design-review"])
    assert args.tab == "design-review"

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                titles = [win.tabs.tabText(i) for i in range(win.tabs.count())]
                assert sorted(t.lower().replace(" ", "-") for t in titles) == sorted(TABS)
                for name in TABS:  # what the demo's --tab hands the window
                    win.show_tab(name.replace("-", " "))
                    assert win.tabs.tabText(win.tabs.currentIndex()).lower() == name.replace("-", " ")
                listed = " ".join(keys for keys, _what in SHORTCUTS)
                for action in win.actions():
                    keys = action.shortcut().toString()
                    if keys and not action.text().startswith("Tab "):  # Ctrl+1 … Ctrl+7 is one line
                        assert keys in listed, (action.text(), keys)
                assert "machine panel" in dict(SHORTCUTS)["Ctrl+D"]  # the button's own name
            finally:
                win.close()

    qloop.run_until_complete(scenario())
