"""Cells and tables of the design review: a read-only table, its items, and how times and figures are written."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = int(round(seconds / 60))
    h, m = divmod(minutes, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min"


def range_text(low: float, high: float) -> str:
    """``45–58 min``, ``1 h 55–2 h 30 min``: one unit word at the end, so an 80 % range fits a table cell."""
    lo, hi = duration_text(low), duration_text(high)
    return f"{lo.removesuffix(' min')}–{hi}" if lo.endswith(" min") and hi.endswith(" min") else f"{lo}–{hi}"


def number_text(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def cell(text: str, tip: str = "", align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if tip:
        item.setToolTip(tip)
    if align_right:
        item.setTextAlignment(int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter))
    return item


def table_for(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    t.horizontalHeader().setStretchLastSection(True)
    t.resizeColumnsToContents()  # headers readable before the first row arrives
    return t
