"""Non-blocking confirmations: a window-modal box opened with ``open()``, never a nested ``exec()``.

A nested event loop would re-enter asyncio tasks under qasync; ``open()`` keeps the one loop flat.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget

DANGER_CSS = "background: #b3121f; color: white; font-weight: bold; border: 2px solid #ff4d5a; padding: 6px 14px;"
NEUTRAL_CSS = "background: #2a323d; color: #e6edf3; border: 1px solid #4a5563; padding: 6px 14px;"


def confirm(parent: QWidget, title: str, text: str, on_yes: Callable[[], None], *, danger: bool = False,
            yes_text: str = "Yes") -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Warning if danger else QMessageBox.Icon.Question, title, text,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setObjectName("confirmBox")
    yes, no = box.button(QMessageBox.StandardButton.Yes), box.button(QMessageBox.StandardButton.No)
    yes.setText(yes_text)
    if danger:  # the stop is red, the cancel neutral: colour says which button does the dangerous thing
        yes.setObjectName("dangerYes")
        no.setObjectName("neutralNo")
        no.setText("Cancel")
        for button, css in ((yes, DANGER_CSS), (no, NEUTRAL_CSS)):
            button.setStyleSheet(css)  # also without the theme (a test, another style)
    # Safe default: Enter on a stray keypress does not stop or remove anything but the e-stop itself.
    box.setDefaultButton(QMessageBox.StandardButton.Yes if danger else QMessageBox.StandardButton.No)

    def done(result: int) -> None:
        if box.clickedButton() is box.button(QMessageBox.StandardButton.Yes):
            on_yes()
        box.deleteLater()

    box.finished.connect(done)
    box.open()
    return box


def show_error(parent: QWidget, text: str, title: str = "Imewe") -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorBox")
    box.finished.connect(lambda _r: box.deleteLater())
    box.open()
    return box
