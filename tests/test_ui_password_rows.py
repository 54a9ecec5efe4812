"""The sign-in and change-password dialogs are made of the same rows (app/ui/password_rows.py): labelled fields
that hide what is typed, the red answer line hidden until there is something to say, the default button last.
Real dialogs on a real X server; IMEWE_SCREENSHOTS=<folder> also saves their pictures there."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY"):
    pytest.skip("needs an X server: run under xvfb-run with QT_QPA_PLATFORM=xcb", allow_module_level=True)

from PySide6.QtWidgets import QApplication, QFormLayout, QLabel, QLineEdit  # noqa: E402

from app.ui.password_dialog import PasswordDialog  # noqa: E402
from app.ui.password_rows import AnswerLine  # noqa: E402
from app.ui.session import WindowSession  # noqa: E402
from app.ui.sign_in_dialog import SignInDialog  # noqa: E402

pytestmark = pytest.mark.gui


def _form_rows(dialog) -> list[tuple[QLabel, QLineEdit]]:
    form = next(item.layout() for item in (dialog.layout().itemAt(i) for i in range(dialog.layout().count()))
                if isinstance(item.layout(), QFormLayout))
    rows = []
    for r in range(form.rowCount()):
        label = form.itemAt(r, QFormLayout.ItemRole.LabelRole).widget()
        field = form.itemAt(r, QFormLayout.ItemRole.FieldRole).widget()
        rows.append((label, field))
    return rows


def _shown(dialog, qtbot, name: str, out: Path) -> None:
    dialog.show()
    qtbot.waitExposed(dialog)
    QApplication.processEvents()
    dialog.grab().save(str(out / name))


def test_both_dialogs_share_the_password_rows(qtbot, tmp_path: Path) -> None:
    out = Path(os.environ.get("IMEWE_SCREENSHOTS") or tmp_path)
    session = WindowSession(None, time.time)
    sign_in = SignInDialog(session, "Bay 3")
    change = PasswordDialog(session)
    qtbot.addWidget(sign_in)
    qtbot.addWidget(change)
    _shown(sign_in, qtbot, "sign-in-dialog.png", out)
    _shown(change, qtbot, "change-password-dialog.png", out)

    rows = {"sign in": _form_rows(sign_in), "change": _form_rows(change)}
    assert [label.text() for label, _ in rows["sign in"]] == ["Name", "Password"]
    assert [label.text() for label, _ in rows["change"]] == ["Current password", "New password",
                                                             "New password again"]
    for label, field in rows["sign in"][1:] + rows["change"]:
        assert field.echoMode() is QLineEdit.EchoMode.Password, label.text()
    for label, _ in rows["sign in"] + rows["change"]:  # every label reads whole, none cut
        assert label.isVisible() and label.width() >= label.sizeHint().width(), label.text()
    assert sign_in.sign_in_button.isDefault() and change.change_button.isDefault()

    for dialog in (sign_in, change):
        assert isinstance(dialog.error, AnswerLine) and not dialog.error.isVisible()
    sign_in.submit()  # no name typed: the answer line says so
    assert sign_in.error.isVisible() and sign_in.error.text() == "Type your user name."
    change.new.setText("a new horse 22")
    change.again.setText("a new horse 2")
    change.submit()
    assert change.error.isVisible() and change.error.text() == "The two new passwords differ."
    assert change.again.text() == "" and change.change_button.isEnabled()
    _shown(change, qtbot, "change-password-refused.png", out)
