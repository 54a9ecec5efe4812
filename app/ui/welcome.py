"""The first start: a short welcome, shown once (issue 17). It says which site this window runs and where its data
lives, and offers the two ways to begin: add a first machine, or try the demo site (a separate simulated site in a
temporary folder, so nothing of it lands in this site's data)."""

from __future__ import annotations

import html
import logging
import sys
from typing import Any

from PySide6.QtCore import QProcess, QSettings, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.ui.ports import SiteInfo

log = logging.getLogger(__name__)
SHOWN_KEY = "welcome/shown"


class WelcomeDialog(QDialog):
    add_machine_requested = Signal()
    demo_requested = Signal()

    def __init__(self, site: SiteInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to Imewe")
        self.setObjectName("welcome")
        self.setMinimumWidth(520)
        home = html.escape(str(site.home))
        self.text = QLabel(
            f"<h2>Welcome to Imewe</h2>"
            f"<p>This control room runs the site <b>{html.escape(site.name)}</b>. Rename it with "
            f"<code>site_name</code> in <code>{home}/config.toml</code>.</p>"
            f"<p>Everything it keeps lives in <b>{home}</b>:<br>"
            f"database <code>{html.escape(site.database)}</code><br>"
            f"log <code>{html.escape(str(site.log_file))}</code></p>"
            "<p>Begin with a machine of your own (a network printer, a serial machine or a node agent), or try "
            "the demo site: thirteen simulated machines with jobs flowing, in a window of its own; nothing of it "
            "is kept here.</p>")
        self.text.setWordWrap(True)
        self.add_btn = QPushButton("Add my first machine…")
        self.demo_btn = QPushButton("Try the demo site")
        self.close_btn = QPushButton("Close")
        self.add_btn.setDefault(True)
        self.add_btn.clicked.connect(lambda: self._then(self.add_machine_requested))
        self.demo_btn.clicked.connect(lambda: self._then(self.demo_requested))
        self.close_btn.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_btn)
        buttons.addWidget(self.demo_btn)
        buttons.addStretch(1)
        buttons.addWidget(self.close_btn)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addLayout(buttons)

    def _then(self, signal: Any) -> None:
        self.accept()
        signal.emit()


def start_demo_process() -> bool:
    """The demo site in its own process (it owns its own temporary site, not this one)."""
    frozen = getattr(sys, "frozen", False)  # the packaged build: the executable is imewe itself
    program, args = (sys.executable, ["demo"]) if frozen else (sys.executable, ["-m", "app", "demo"])
    started = QProcess.startDetached(program, args)
    ok = bool(started[0] if isinstance(started, tuple) else started)
    if not ok:
        log.warning("could not start the demo site (%s %s)", program, " ".join(args))
    return ok


def show_welcome_once(win: Any, settings: QSettings) -> WelcomeDialog | None:
    """The welcome on the first start of this user's control room; None on every later one."""
    if settings.value(SHOWN_KEY, False, type=bool):
        return None
    settings.setValue(SHOWN_KEY, True)
    settings.sync()
    dialog = WelcomeDialog(win.ports.site, win)
    dialog.add_machine_requested.connect(win.open_add_machine)
    dialog.demo_requested.connect(start_demo_process)
    dialog.open()
    return dialog
