"""The Admin tab: sign in (or create the first admin), then people and roles, API keys, the audit log with filters
and its hash-chain check, and the configuration's problems. The panel acts as the person signed in here; the core
checks every action against the permission table, so a refusal shows the core's own one-line reason."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.auth.permissions import Role
from app.core.domain.errors import ImeweError
from app.ui.ports import AdminPort
from app.ui.tasks import spawn

log = logging.getLogger(__name__)


def _t(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M") if epoch else "-"


def _fill(table: QTableWidget, header: list[str], rows: list[list[str]]) -> None:
    table.clear()
    table.setColumnCount(len(header))
    table.setHorizontalHeaderLabels(header)
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))
    table.resizeColumnsToContents()


class AdminPanel(QWidget):
    def __init__(self, port: AdminPort | None, parent: QWidget | None = None, session: Any = None) -> None:
        super().__init__(parent)
        self.port = port
        # built after someone signed in at the window (the tab is built when first shown): act as them at once
        self.actor: Any = session.actor if session is not None else None
        # In the window, the panel acts as the person signed in at the window (app/ui/session.py): its own name
        # and password row only creates the first admin; sign-in and sign-out are the window's.
        self.session = session
        lay = QVBoxLayout(self)
        self.who = QLabel("")
        self.who.setWordWrap(True)  # the longest line must fit a 1366-pixel screen beside the machine panel
        self.message = QLabel("")
        self.message.setWordWrap(True)
        sign = QHBoxLayout()
        self.name = QLineEdit(placeholderText="name")
        self.password = QLineEdit(placeholderText="password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.sign_in_button = QPushButton("Sign in")
        self.first_admin_button = QPushButton("Create the first admin")
        self.sign_out_button = QPushButton("Sign out")
        for w in (self.name, self.password, self.sign_in_button, self.first_admin_button, self.sign_out_button):
            sign.addWidget(w)
        lay.addWidget(self.who)
        lay.addLayout(sign)
        lay.addWidget(self.message)
        self.tabs = QTabWidget()
        lay.addWidget(self.tabs)
        self._users_tab()
        self._keys_tab()
        self._audit_tab()
        self._health_tab()
        self.sign_in_button.clicked.connect(lambda: self._spawn(self.sign_in()))
        self.first_admin_button.clicked.connect(lambda: self._spawn(self.create_first_admin()))
        self.sign_out_button.clicked.connect(lambda: self._spawn(self.sign_out()))
        if port is None:
            self.who.setText("This process does not serve people (no site store).")
            self.setEnabled(False)
        if session is not None:
            session.changed.connect(self._follow_session)

    def _follow_session(self) -> None:
        self.actor = self.session.actor
        if self.actor is None:
            for table in (self.users, self.keys, self.audit):
                _fill(table, [], [])
        self._spawn(self.start())

    # ------------------------------------------------------------ layout
    def _users_tab(self) -> None:
        w = QWidget()
        v = QVBoxLayout(w)
        self.users = QTableWidget()
        form = QHBoxLayout()
        self.new_user = QLineEdit(placeholderText="new person's name")
        self.new_password = QLineEdit(placeholderText="their password")
        self.new_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.role = QComboBox()
        self.role.addItems([r.value for r in Role])
        self.add_user_button = QPushButton("Add")
        self.set_role_button = QPushButton("Set role of selected")
        self.disable_button = QPushButton("Disable selected")
        self.enable_button = QPushButton("Enable selected")
        self.unlock_button = QPushButton("Unlock selected")
        for x in (self.new_user, self.new_password, self.role, self.add_user_button):
            form.addWidget(x)
        selected = QHBoxLayout()  # a second row: the panel fits a 1366 x 768 screen beside the machine panel
        selected.addWidget(QLabel("Selected person:"))
        for x in (self.set_role_button, self.disable_button, self.enable_button, self.unlock_button):
            selected.addWidget(x)
        selected.addStretch(1)
        v.addWidget(self.users)
        v.addLayout(form)
        v.addLayout(selected)
        self.tabs.addTab(w, "People")
        self.add_user_button.clicked.connect(lambda: self._spawn(self.add_user()))
        self.set_role_button.clicked.connect(lambda: self._spawn(self._on_selected("role")))
        self.disable_button.clicked.connect(lambda: self._spawn(self._on_selected("disable")))
        self.enable_button.clicked.connect(lambda: self._spawn(self._on_selected("enable")))
        self.unlock_button.clicked.connect(lambda: self._spawn(self._on_selected("unlock")))

    def _keys_tab(self) -> None:
        w = QWidget()
        v = QVBoxLayout(w)
        self.keys = QTableWidget()
        form = QFormLayout()
        self.key_name = QLineEdit(placeholderText="what the key is for")
        self.key_scopes = QLineEdit("read")
        self.key_days = QLineEdit("90")
        self.key_user = QLineEdit(placeholderText="whose (default: you)")
        form.addRow("Name", self.key_name)
        form.addRow("Scopes", self.key_scopes)
        form.addRow("Days", self.key_days)
        form.addRow("User", self.key_user)
        self.create_key_button = QPushButton("Create key")
        self.revoke_key_button = QPushButton("Revoke selected")
        self.new_key = QLineEdit()
        self.new_key.setReadOnly(True)
        self.new_key.setPlaceholderText("a new key appears here once; copy it now")
        v.addWidget(self.keys)
        v.addLayout(form)
        v.addWidget(self.create_key_button)
        v.addWidget(self.new_key)
        v.addWidget(self.revoke_key_button)
        self.tabs.addTab(w, "API keys")
        self.create_key_button.clicked.connect(lambda: self._spawn(self.create_key()))
        self.revoke_key_button.clicked.connect(lambda: self._spawn(self.revoke_selected_key()))

    def _audit_tab(self) -> None:
        w = QWidget()
        v = QVBoxLayout(w)
        row = QHBoxLayout()
        self.audit_actor = QLineEdit(placeholderText="person")
        self.audit_action = QLineEdit(placeholderText="action starts with, e.g. job.")
        self.audit_target = QLineEdit(placeholderText="target, e.g. node:<id>")
        self.audit_refresh = QPushButton("Show")
        self.audit_verify = QPushButton("Verify chain")
        for x in (self.audit_actor, self.audit_action, self.audit_target, self.audit_refresh, self.audit_verify):
            row.addWidget(x)
        self.audit = QTableWidget()
        self.chain = QLabel("")
        v.addLayout(row)
        v.addWidget(self.audit)
        v.addWidget(self.chain)
        self.tabs.addTab(w, "Audit log")
        self.audit_refresh.clicked.connect(lambda: self._spawn(self.load_audit()))
        self.audit_verify.clicked.connect(lambda: self._spawn(self.verify_chain()))

    def _health_tab(self) -> None:
        w = QWidget()
        v = QVBoxLayout(w)
        self.config_text = QLabel("")
        self.config_text.setWordWrap(True)
        v.addWidget(QLabel("Configuration (config.toml):"))
        v.addWidget(self.config_text)
        v.addStretch(1)
        self.tabs.addTab(w, "Configuration")

    # ------------------------------------------------------------ behaviour
    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        spawn(coro, on_error=self._show_error)

    def _show_error(self, exc: Exception) -> None:
        self.message.setText(str(exc) if isinstance(exc, ImeweError) else f"failed: {type(exc).__name__}")

    async def _guard(self, coro: Coroutine[Any, Any, Any]) -> Any:
        try:
            return await coro
        except ImeweError as exc:
            self._show_error(exc)
            return None

    async def start(self) -> None:
        """First look: who acts, and everything that person may see."""
        if self.port is None:
            return
        people = await self.port.people_exist()
        self.first_admin_button.setVisible(not people)
        own_row = self.session is None or not people  # in the window: only the first admin is made here
        for w in (self.name, self.password):
            w.setVisible(own_row)
        self.sign_in_button.setVisible(self.session is None)
        self.sign_out_button.setVisible(self.session is None)
        acting = await self.port.acting(self.actor)
        if acting is None:
            self.who.setText("Sign in to manage people, keys and the audit log." if self.session is None else
                             "Sign in at the window (the person at the bottom right, or File > Sign in…) to manage "
                             "people, keys and the audit log.")
        else:
            if acting.kind == "local":
                self.who.setText(f"No people on this site yet: the window acts as the local operator "
                                 f"({acting.role.value}). Create the first admin:")
            else:
                self.who.setText(f"Acting as {acting.name} ({acting.role.value})")
        self.config_text.setText("\n".join(self.port.config_problems()) or "no unknown keys, no wrong types")
        if acting is not None:
            await self.reload(acting)

    async def reload(self, acting: Any) -> None:
        users = await self._guard(self.port.list_users(acting))
        _fill(self.users, ["Name", "Role", "Active", "Wrong passwords", "Locked until (UTC)", "Last sign-in (UTC)"],
              [[u.name, u.role.value, "yes" if u.active else "disabled", str(u.failed_logins), _t(u.locked_until),
                _t(u.last_login_at)] for u in users or []])
        keys = await self._guard(self.port.list_keys(acting))
        _fill(self.keys, ["Id", "Name", "User", "Key", "Scopes", "Expires (UTC)", "State"],
              [[k.id[:8], k.name, k.user_name, k.prefix + "...", ",".join(sorted(s.value for s in k.scopes)),
                _t(k.expires_at), "revoked" if k.revoked_at else "active"] for k in keys or []])
        await self.load_audit()

    async def _acting(self) -> Any:
        acting = await self.port.acting(self.actor)
        if acting is None:
            raise ImeweError("sign in first")
        return acting

    async def sign_in(self) -> None:
        if self.session is not None:
            await self.session.sign_in(self.name.text(), self.password.text())
            self.password.clear()
            return  # the session's change reloads the panel
        self.actor = await self.port.sign_in(self.name.text(), self.password.text())
        self.password.clear()
        self.message.setText("")
        await self.start()

    async def create_first_admin(self) -> None:
        if self.session is not None:  # the first admin is then signed in at the window
            self.actor = await self.session.first_admin(self.name.text(), self.password.text())
            self.password.clear()
            self.message.setText(f"{self.actor.name} is the site's admin and signed in; from now on people sign in")
            return
        self.actor = await self.port.first_admin(self.name.text(), self.password.text())
        self.password.clear()
        self.message.setText(f"{self.actor.name} is the site's admin; from now on people sign in")
        await self.start()

    async def sign_out(self) -> None:
        if self.session is not None:
            await self.session.sign_out()
            return
        self.actor = None
        _fill(self.users, [], [])
        _fill(self.keys, [], [])
        _fill(self.audit, [], [])
        await self.start()

    async def add_user(self) -> None:
        acting = await self._acting()
        u = await self.port.add_user(acting, self.new_user.text(), self.new_password.text(), self.role.currentText())
        self.new_password.clear()
        self.message.setText(f"added {u.name} ({u.role.value})")
        await self.reload(acting)

    def selected_user(self) -> str | None:
        row = self.users.currentRow()
        item = self.users.item(row, 0) if row >= 0 else None
        return item.text() if item is not None else None

    async def _on_selected(self, what: str) -> None:
        acting = await self._acting()
        name = self.selected_user()
        if name is None:
            raise ImeweError("select a person first")
        if what == "role":
            await self.port.set_role(acting, name, self.role.currentText())
        elif what in ("disable", "enable"):
            await self.port.set_active(acting, name, what == "enable")
        else:
            await self.port.unlock(acting, name)
        self.message.setText(f"{name}: {what} done")
        await self.reload(acting)

    async def create_key(self) -> None:
        acting = await self._acting()
        try:
            days = float(self.key_days.text())
        except ValueError as exc:
            raise ImeweError("days is a number") from exc
        secret, key = await self.port.create_key(acting, self.key_name.text(), self.key_scopes.text(), days,
                                                 self.key_user.text().strip() or None)
        self.new_key.setText(secret)  # shown this once; the store keeps only its hash
        self.message.setText(f"key {key.name} created for {key.user_name}: copy it now, it is not shown again")
        await self.reload(acting)

    async def revoke_selected_key(self) -> None:
        acting = await self._acting()
        row = self.keys.currentRow()
        item = self.keys.item(row, 0) if row >= 0 else None
        if item is None:
            raise ImeweError("select a key first")
        key = await self.port.revoke_key(acting, item.text())
        self.message.setText(f"revoked {key.name}")
        await self.reload(acting)

    async def load_audit(self) -> None:
        acting = await self._acting()
        entries = await self._guard(self.port.audit_log(
            acting, 500, self.audit_target.text().strip() or None, self.audit_action.text().strip() or None,
            self.audit_actor.text().strip() or None))
        _fill(self.audit, ["When (UTC)", "Person", "Action", "Target"],
              [[e.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.target] for e in entries or []])

    async def verify_chain(self) -> None:
        report = await self.port.verify_audit(await self._acting())
        self.chain.setText(report.describe())
