"""Non-blocking confirmations: a window-modal box opened with ``open()``, never a nested ``exec()``.

A nested event loop would re-enter asyncio tasks under qasync; ``open()`` keeps the one loop flat.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget


def confirm(parent: QWidget, title: str, text: str, on_yes: Callable[[], None], *, danger: bool = False,
            yes_text: str = "Yes") -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Warning if danger else QMessageBox.Icon.Question, title, text,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setObjectName("confirmBox")
    box.button(QMessageBox.StandardButton.Yes).setText(yes_text)
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
