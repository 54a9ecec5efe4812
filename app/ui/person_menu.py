"""The person working at the window, shown in the status bar: who (name, role, kiosk), and a menu to sign in,
switch person or sign out; and the sign-in dialog the session asks for."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QToolButton

from app.ui.password_dialog import PasswordDialog
from app.ui.session import WindowSession
from app.ui.sign_in_dialog import SignInDialog
from app.ui.tasks import spawn


class PersonMenu(QToolButton):
    def __init__(self, session: WindowSession, win: Any) -> None:
        super().__init__(win)
        self.session = session
        self.win = win
        self.setObjectName("person")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setAutoRaise(True)
        self.dialog: SignInDialog | None = None
        menu = QMenu(self)
        self.switch_action = QAction("Sign in…", self)
        self.sign_out_action = QAction("Sign out", self)
        self.password_action = QAction("Change my password…", self)
        self.first_admin_action = QAction("Create the first admin…", self)
        self.password_dialog: PasswordDialog | None = None
        for a in (self.switch_action, self.password_action, self.sign_out_action, self.first_admin_action):
            menu.addAction(a)
        self.setMenu(menu)
        self.switch_action.triggered.connect(lambda: self.ask(""))
        self.sign_out_action.triggered.connect(self.sign_out)
        self.first_admin_action.triggered.connect(self._first_admin)
        self.password_action.triggered.connect(self.change_password)
        session.changed.connect(self.refresh)
        session.ask.connect(self.ask)
        self.refresh()

    def refresh(self) -> None:
        s = self.session
        a = s.actor
        self.setText(("Person: " if a is not None else "") + s.describe())
        self.setToolTip("Who the window acts as: every change is made, checked and logged as this person" if a
                        else "Sign in to act; until then the window only watches" if s.people
                        else "No people on this site yet: create the first admin in the Admin tab; until then the "
                             "window acts as the local operator")
        # nobody signed in on a site with people: amber, like anything else that wants a person's attention
        self.setStyleSheet("font-weight: bold;" + ("" if a is not None or not s.people else " color: #d29922;"))
        self.switch_action.setText("Switch person…" if a is not None else "Sign in…")
        self.switch_action.setVisible(s.people)
        self.sign_out_action.setVisible(s.people and a is not None)
        self.sign_out_action.setText("Sign out (back to the kiosk person)" if s.kiosk_user_set else "Sign out")
        self.first_admin_action.setVisible(s.port is not None and not s.people)
        self.password_action.setVisible(a is not None and not s.kiosk)
        self.setEnabled(s.port is not None)

    def ask(self, why: str = "") -> SignInDialog | None:
        """The sign-in dialog (not modal: the e-stop stays one click behind it)."""
        if not self.session.people:
            return None
        if self.dialog is None:
            self.dialog = SignInDialog(self.session, self.win.ports.site.name, self.win)
        ended = self.session.ended
        self.dialog.ask(why, name=ended.name if ended is not None else "")
        return self.dialog

    def change_password(self) -> PasswordDialog | None:
        if self.session.actor is None or self.session.kiosk:
            return None
        self.password_dialog = PasswordDialog(self.session, self.win)
        self.password_dialog.accepted.connect(lambda: self.win.notify("password changed; your other sessions ended"))
        self.password_dialog.show()
        return self.password_dialog

    def sign_out(self) -> None:
        who = self.session.actor
        spawn(self.session.sign_out(), lambda _: self.win.notify(f"{who.name if who else 'nobody'} signed out"),
              lambda e: self.win.notify(str(e)))

    def _first_admin(self) -> None:
        admin = self.win.panels.get("admin")
        if admin is not None:
            self.win.tabs.setCurrentWidget(admin)
