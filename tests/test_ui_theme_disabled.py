"""On the dark theme a field that cannot be changed now reads dimmed, as a disabled button does: the job detail's
priority with no job selected, the New job dialog's due date until "due by" is ticked (they looked editable)."""

from __future__ import annotations

from PySide6.QtWidgets import QDateTimeEdit, QSpinBox

from app.ui.theme import apply_theme
from tests.test_ui_screenshot import _pixels


def _brightest(widget, tmp_path, name: str) -> int:
    path = tmp_path / f"{name}.png"
    widget.grab().save(str(path))
    return int(_pixels(path).astype(int).sum(axis=2).max())


def test_disabled_fields_read_dimmed(qapp, qtbot, tmp_path) -> None:
    apply_theme(qapp)
    for make in (lambda: QSpinBox(minimum=1, maximum=999, value=888), lambda: QDateTimeEdit()):
        on, off = make(), make()
        off.setEnabled(False)
        for w in (on, off):
            qtbot.addWidget(w)
            w.resize(160, 34)
            w.show()
        qtbot.waitExposed(off)
        bright_on = _brightest(on, tmp_path, "on")
        bright_off = _brightest(off, tmp_path, "off")
        assert bright_on >= 3 * 0xD0, bright_on  # #e6edf3 text
        assert bright_off <= 3 * 0x80, bright_off  # #5c6672 text, the frame darker still
