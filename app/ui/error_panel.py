"""What a tab shows when its panel could not be built: the error and where the log has the details."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class ErrorPanel(QWidget):
    """Stands in for a broken panel so the operator sees that the view exists and why it is not working."""

    def __init__(self, title: str, error: BaseException, log_file: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorPanel")
        self.error_text = str(error) or type(error).__name__
        self.label = QLabel(
            f"<h3>The {title} view could not be opened</h3>"
            f"<p>{escape(self.error_text)}</p>"
            f"<p>The rest of the control room works. Details are in the log: <code>{escape(str(log_file))}</code></p>")
        self.label.setObjectName("errorPanelText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # to copy into a report
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 24, 24, 24)
        lay.addWidget(self.label)
        lay.addStretch(1)

