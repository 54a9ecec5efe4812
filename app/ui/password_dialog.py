"""Change my password: the person signed in at the window changes their own password with the current one (the
core's rules: at least 8 characters; every other session of theirs ends)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from app.core.domain.errors import ImeweError
from app.ui.password_rows import AnswerLine, button_row, form_rows, password_field
from app.ui.session import WindowSession
from app.ui.tasks import spawn


class PasswordDialog(QDialog):
    def __init__(self, session: WindowSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("changePassword")
        who = session.actor.name if session.actor is not None else "?"
        self.setWindowTitle(f"Change the password of {who} — Imewe")
        self.setMinimumWidth(420)
        self.setWindowModality(Qt.WindowModality.NonModal)  # the e-stop is never behind a dialog of ours
        head = QLabel(f"<b>{who}</b>: a new password of at least 8 characters. Your other sessions (the command "
                      "line, other windows) end and sign in again with it.")
        head.setWordWrap(True)
        self.current, self.new, self.again = password_field(), password_field(), password_field()
        self.error = AnswerLine("changePasswordError")
        self.change_button = QPushButton("Change password")
        cancel = QPushButton("Cancel")
        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addLayout(form_rows([("Current password", self.current), ("New password", self.new),
                                 ("New password again", self.again)]))
        lay.addWidget(self.error)
        lay.addLayout(button_row(cancel, self.change_button))
        cancel.clicked.connect(self.reject)
        self.change_button.clicked.connect(self.submit)

    def _say(self, text: str) -> None:
        self.error.say(text)

    def submit(self) -> None:
        if self.new.text() != self.again.text():
            self._say("The two new passwords differ.")
            self.again.clear()
            self.again.setFocus()
            return
        self.change_button.setEnabled(False)
        self._say("")
        spawn(self.session.change_password(self.current.text(), self.new.text()), self._done, self._refused)

    def _done(self, _: object) -> None:
        for f in (self.current, self.new, self.again):
            f.clear()
        self.change_button.setEnabled(True)
        self.accept()

    def _refused(self, exc: Exception) -> None:
        self.change_button.setEnabled(True)
        self.current.clear()
        self.current.setFocus()
        self._say(str(exc) if isinstance(exc, ImeweError) else f"could not change it: {type(exc).__name__}")
