"""The rows the window's password dialogs share (sign in, change my password): the labelled password fields, the
one-line answer under them in red, and the buttons at the bottom right, the default one last."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton

ERROR_COLOUR = "#f85149"


def password_field(placeholder: str = "") -> QLineEdit:
    """A line edit that hides what is typed."""
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    if placeholder:
        field.setPlaceholderText(placeholder)
    return field


def form_rows(rows: list[tuple[str, QLineEdit]]) -> QFormLayout:
    """Label beside field, one row each, in the order given."""
    form = QFormLayout()
    for label, field in rows:
        form.addRow(label, field)
    return form


class AnswerLine(QLabel):
    """The core's one-line answer (a refusal, "Checking…"), hidden while there is nothing to say."""

    def __init__(self, object_name: str = "") -> None:
        super().__init__("")
        if object_name:
            self.setObjectName(object_name)
        self.setWordWrap(True)
        self.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.hide()

    def say(self, text: str) -> None:
        self.setText(text)
        self.setVisible(bool(text))


def button_row(*buttons: QPushButton) -> QHBoxLayout:
    """The buttons at the bottom right; the last one is the default (Return presses it)."""
    row = QHBoxLayout()
    row.addStretch(1)
    for b in buttons:
        row.addWidget(b)
    if buttons:
        buttons[-1].setDefault(True)
    return row
