"""Who is working at the window: the person signed in (or the floor terminal's kiosk person), their session, and
asking again when it ends.

- A site with no people yet has no session: the window acts as before (the bootstrap rule), and the Admin tab
  offers to create the first admin, who is then signed in here.
- Once the site has people, the window asks who is working at start (``ask``); without signing in one may
  watch, not act. ``[ui] kiosk_user`` signs that person in without a password instead (an operator, designer or
  viewer, never an admin or engineer; the core refuses the others), and signing out goes back to them, as does
  leaving the terminal untouched for ``[ui] kiosk_idle_s`` after someone else switched in. Without a kiosk
  person, ``[ui] idle_sign_out_s`` signs a person out of a window left untouched that long (and asks again).
- The session ends as everywhere (12 h by default, a new password, a role change, the person disabled): the
  window notices within a minute (at once on the next action) and asks again. Until someone signs in, the person
  whose session simply ran out may still press emergency stop (it stays one click); nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Signal

from app.core.auth.admin_access import SessionGrant
from app.core.auth.permissions import Action
from app.core.auth.principal import Actor
from app.core.domain.errors import AuthError, ImeweError
from app.ui.ports import AdminPort

log = logging.getLogger(__name__)
RECHECK_S = 60.0  # how often the window re-reads the session (a role changed or a person disabled elsewhere)


class WindowSession(QObject):
    changed = Signal()  # who acts changed: signed in, out, switched, the session ended
    ask = Signal(str)  # the window should ask who is working; the text says why ('' at start)
    refused = Signal(str)  # an action the person at the window may not take (app/ui/acting.py)
    notice = Signal(str)  # something the window should say in passing (a kiosk back to its person)

    def __init__(self, port: AdminPort | None, now: Callable[[], float], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.port = port
        self._now = now
        self.people = False
        self.grant: SessionGrant | None = None
        self.ended: Actor | None = None  # whose session ran out: they may still e-stop until someone signs in
        self.kiosk_problem = ""  # why [ui] kiosk_user could not be signed in ('' when it was, or none is set)
        self._checked_at = 0.0
        self._checking = False
        self._kiosk_name = ""
        self._kiosk_idle_s = 0.0
        self._idle_s = 0.0  # [ui] idle_sign_out_s when no kiosk person is set
        self._input_at = time.monotonic()  # the last key press or click in the window (touched())

    # ------------------------------------------------------------ who acts
    @property
    def actor(self) -> Actor | None:
        return self.grant.actor if self.grant is not None else None

    @property
    def kiosk_user_set(self) -> bool:
        """True when ``[ui] kiosk_user`` names someone (signing out then goes back to them)."""
        return bool(self._kiosk_name)

    @property
    def kiosk(self) -> bool:
        return self.grant is not None and self.grant.kiosk

    def describe(self) -> str:
        """One line for the status bar."""
        if self.port is None:
            return "No people on this site"
        if not self.people:
            return "No people yet (Admin tab)"  # short: the status bar holds it at 1366 px wide
        a = self.actor
        if a is None:
            return "Not signed in: watching only" if self.ended is None else \
                f"{self.ended.name}: session ended, sign in"
        return f"{a.name} · {a.role.value}" + (" · kiosk" if self.kiosk else "")

    async def actor_for(self, action: Action) -> Actor | None:
        """The person an action is made as; None before the site has people (the panels' own names, as before).
        Raises AuthError when nobody is signed in, or the session has ended (then the window asks again)."""
        if self.port is None:
            return None
        if not self.people:
            self.people = await self.port.people_exist()  # an admin may have been made elsewhere (the CLI)
            if not self.people:
                return None
            if self.grant is None and not await self._kiosk_in():
                self.ask.emit("This site has people now (an admin was made elsewhere): sign in to act.")
            self.changed.emit()
        grant = self.grant
        if grant is None:
            if action is Action.ESTOP and self.ended is not None:
                return self.ended
            raise AuthError("nobody is signed in at this window: sign in first (File > Sign in…, or 'Not signed "
                            "in' at the bottom right)")
        if action is Action.ESTOP:
            return grant.actor  # from memory: nothing stands between the button and the stop
        try:
            actor = await self.port.resume(grant.token)
        except AuthError as exc:
            await self._lost(grant, str(exc))
            raise
        self._update(grant, actor)
        return actor

    # ------------------------------------------------------------ signing in and out
    async def start(self) -> None:
        """At window start: nothing to do on a site without people; else the kiosk person, or ask."""
        if self.port is None:
            return
        self.people = await self.port.people_exist()
        if self.people and not await self._kiosk_in():
            self.ask.emit(self.kiosk_problem)
        self.changed.emit()

    async def sign_in(self, name: str, password: str) -> Actor:
        if self.port is None:
            raise ImeweError("this window serves no people (no site store)")
        self._set(await self.port.open_session(name, password))
        return self.grant.actor  # type: ignore[union-attr]

    async def first_admin(self, name: str, password: str) -> Actor:
        if self.port is None:
            raise ImeweError("this window serves no people (no site store)")
        grant = await self.port.first_admin_session(name, password)
        self.people = True
        self._set(grant)
        return grant.actor

    async def change_password(self, old: str, new: str) -> None:
        """The signed-in person's own password (the current one asked); the session goes on with a fresh token."""
        grant = self.grant
        if grant is None or self.port is None or grant.kiosk:
            raise AuthError("sign in with your own name and password first")
        self._set(await self.port.change_password(grant.actor, old, new))

    async def sign_out(self) -> None:
        """The person leaves: a kiosk goes back to its own person; otherwise the window asks who is working."""
        self.grant, self.ended = None, None
        if not await self._kiosk_in():
            self.changed.emit()
            self.ask.emit("")

    def touched(self) -> None:
        """A key press or a click in the window: whoever is signed in is still there."""
        self._input_at = time.monotonic()

    async def check(self) -> None:
        """Called every second by the window: a session past its end is dropped at once (and the window asks);
        once a minute the session is re-read, so a role change or a disabled person shows. On a kiosk, someone
        who switched in and left it untouched for ``kiosk_idle_s`` is signed out (back to the kiosk person)."""
        grant = self.grant
        if grant is None or self.port is None or self._checking:
            return
        idle = time.monotonic() - self._input_at
        if self.kiosk_user_set and not grant.kiosk and 0 < self._kiosk_idle_s <= idle:
            span = f"{idle:.0f} s" if idle < 120 else f"{idle / 60:.0f} min"
            self.notice.emit(f"{grant.actor.name} signed out after {span} untouched; the kiosk person is back")
            await self.sign_out()
            return
        if not self.kiosk_user_set and 0 < self._idle_s <= idle:
            span = f"{idle:.0f} s" if idle < 120 else f"{idle / 60:.0f} min"
            self.notice.emit(f"{grant.actor.name} signed out after {span} untouched")
            await self.sign_out()
            return
        now = self._now()
        if now < grant.expires_at and now - self._checked_at < RECHECK_S:
            return
        self._checking, self._checked_at = True, now
        try:
            if now >= grant.expires_at:
                await self._lost(grant, "the session has ended")
                return
            try:
                actor = await self.port.resume(grant.token)
            except AuthError as exc:
                await self._lost(grant, str(exc))
                return
            self._update(grant, actor)
        finally:
            self._checking = False

    # ------------------------------------------------------------ inside
    def _set(self, grant: SessionGrant) -> None:
        self.grant, self.ended, self._checked_at = grant, None, self._now()
        self.touched()
        log.info("%s signed in at the window (%s)%s", grant.actor.name, grant.actor.role.value,
                 " as the kiosk" if grant.kiosk else "")
        self.changed.emit()

    def _update(self, grant: SessionGrant, actor: Actor) -> None:
        if self.grant is grant and actor != grant.actor:  # a role changed elsewhere
            self.grant = SessionGrant(grant.token, actor, grant.expires_at, grant.kiosk)
            self.changed.emit()

    async def _kiosk_in(self) -> bool:
        if self.port is None:
            return False
        self.kiosk_problem = ""
        try:
            self._kiosk_name = self.port.kiosk_user()
            self._kiosk_idle_s = self.port.kiosk_idle_s() if self._kiosk_name else 0.0
            self._idle_s = 0.0 if self._kiosk_name else self.port.idle_sign_out_s()
            grant = await self.port.kiosk_session()
        except ImeweError as exc:
            self.kiosk_problem = f"The kiosk person could not be signed in: {exc}"
            log.warning("%s", self.kiosk_problem)
            return False
        if grant is None:
            return False
        self._set(grant)
        return True

    async def _lost(self, grant: SessionGrant, why: str) -> None:
        if self.grant is not grant:
            return  # someone signed in meanwhile
        self.grant = None
        ran_out = self._now() >= grant.expires_at
        self.ended = grant.actor if ran_out else None  # a person disabled or changed: not even e-stop
        log.info("the window's session of %s ended: %s", grant.actor.name, why)
        if grant.kiosk and await self._kiosk_in():
            return
        self.changed.emit()
        self.ask.emit(f"{grant.actor.name}: {why.split(';')[0]}. Sign in again.")


class InputWatch(QObject):
    """Tells the session of every key press, click or touch anywhere in the application (kiosk idle sign-out)."""

    KINDS = (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin)

    def __init__(self, session: WindowSession) -> None:
        super().__init__(session)
        self.session = session

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() in self.KINDS:
            self.session.touched()
        return False
