"""What a tab shows when its panel could not be built (or its first read failed): the error and where the log has
the details."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class ErrorPanel(QWidget):
    """Stands in for a broken panel so the operator sees that the view exists and why it is not working; as a
    banner (``headline`` given) it sits on top of a panel that works but could not load everything."""

    def __init__(self, title: str, error: BaseException, log_file: Path, parent: QWidget | None = None, *,
                 headline: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorPanel")
        self.error_text = str(error) or type(error).__name__
        rest = "The rest of the view works." if headline else "The rest of the control room works."
        self.label = QLabel(
            f"<h3>{escape(headline or f'The {title} view could not be opened')}</h3>"
            f"<p>{escape(self.error_text)}</p>"
            f"<p>{rest} Details are in the log: <code>{escape(str(log_file))}</code></p>")
        self.label.setObjectName("errorPanelText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # to copy into a report
        lay = QVBoxLayout(self)
        margin = 24 if headline is None else 6
        lay.setContentsMargins(margin, margin, margin, margin)
        lay.addWidget(self.label)
        if headline is None:
            lay.addStretch(1)
        else:
            self.setStyleSheet("#errorPanelText { color: #f85149; }")
