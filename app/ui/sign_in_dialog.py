"""Who is working? The window's sign-in dialog: a name and a password, the core's one-line answer when they are
wrong (slow-down and lock-out included), and "Only watch" to look without acting.

It is not modal: the window stays live behind it, so the emergency stop is never behind a dialog.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from app.core.domain.errors import ImeweError
from app.ui.password_rows import AnswerLine, button_row, form_rows, password_field
from app.ui.session import WindowSession
from app.ui.tasks import spawn


class SignInDialog(QDialog):
    def __init__(self, session: WindowSession, site_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("signIn")
        self.setWindowTitle("Who is working? — Imewe")
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setMinimumWidth(440)
        head = QLabel(f"<h3>Who is working at {html.escape(site_name)}?</h3>"
                      "<p>Sign in to start, pause, stop and cancel. Without signing in you can watch, not act.</p>")
        head.setWordWrap(True)
        self.reason = QLabel("")
        self.reason.setObjectName("signInReason")
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet("color: #d29922;")
        self.reason.hide()
        self.name = QLineEdit()
        self.name.setPlaceholderText("your user name")
        self.password = password_field("your password")
        self.error = AnswerLine("signInError")
        self.sign_in_button = QPushButton("Sign in")
        self.watch_button = QPushButton("Only watch")
        self.watch_button.setToolTip("Close this; sign in later from the name at the bottom right or File > Sign in…")
        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addWidget(self.reason)
        lay.addLayout(form_rows([("Name", self.name), ("Password", self.password)]))
        lay.addWidget(self.error)
        lay.addLayout(button_row(self.watch_button, self.sign_in_button))
        self.sign_in_button.clicked.connect(self.submit)
        self.password.returnPressed.connect(self.submit)
        self.name.returnPressed.connect(self.password.setFocus)
        self.watch_button.clicked.connect(self.reject)

    def ask(self, why: str = "", name: str = "") -> None:
        """Show (or bring forward) the dialog, saying why it asks."""
        self.reason.setText(why)
        self.reason.setVisible(bool(why))
        self._say("")
        if name and not self.name.text():
            self.name.setText(name)
        self.password.clear()
        self.sign_in_button.setEnabled(True)
        (self.password if self.name.text() else self.name).setFocus()
        self.show()
        self.raise_()
        self.activateWindow()

    def submit(self) -> None:
        if not self.sign_in_button.isEnabled():
            return
        name, password = self.name.text().strip(), self.password.text()
        if not name:
            self._say("Type your user name.")
            self.name.setFocus()
            return
        self.sign_in_button.setEnabled(False)
        self._say("Checking…")
        spawn(self.session.sign_in(name, password), self._signed_in, self._refused)

    def _signed_in(self, _actor: object) -> None:
        self.password.clear()
        self._say("")
        self.sign_in_button.setEnabled(True)
        self.accept()

    def _refused(self, exc: Exception) -> None:
        self.sign_in_button.setEnabled(True)
        self.password.clear()
        self.password.setFocus()
        self._say(str(exc) if isinstance(exc, ImeweError) else f"could not sign in: {type(exc).__name__}")

    def _say(self, text: str) -> None:
        self.error.say(text)
        self.adjustSize()
