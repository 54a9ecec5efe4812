"""Change my password: the person signed in at the window changes their own password with the current one (the
core's rules: at least 8 characters; every other session of theirs ends)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.domain.errors import ImeweError
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
        self.current, self.new, self.again = QLineEdit(), QLineEdit(), QLineEdit()
        form = QFormLayout()
        for label, field in (("Current password", self.current), ("New password", self.new),
                             ("New password again", self.again)):
            field.setEchoMode(QLineEdit.EchoMode.Password)
            form.addRow(label, field)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #f85149;")
        self.error.hide()
        self.change_button = QPushButton("Change password")
        self.change_button.setDefault(True)
        cancel = QPushButton("Cancel")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.change_button)
        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addLayout(buttons)
        cancel.clicked.connect(self.reject)
        self.change_button.clicked.connect(self.submit)

    def _say(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

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
