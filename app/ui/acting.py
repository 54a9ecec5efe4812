"""The window acts as the person working at it: the ports its panels get, with every call that changes something
carrying the signed-in person (``app/ui/session.py``) in place of whatever name the panel passes.

Each wrapped call asks the session who acts (re-reading the person's session, so an expired one or a role
changed since is noticed), checks the core's permission table (``authorize``) before anything is sent, and passes
the person to the core service, which checks the table again and writes their name in the audit log. A site with
no people yet keeps the panels' own names (the bootstrap rule). Reads pass straight through.

Emergency stop is the exception to the round trip: the session answers from memory (no store read before the
stop), so it stays one click for every role that may touch machines.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from app.core.auth.permissions import DESCRIPTIONS, Action
from app.core.auth.principal import ActorLike, authorize
from app.core.domain.errors import AuthError, PermissionDenied
from app.ui.ports import Ports
from app.ui.session import WindowSession

# method name -> (the permission it needs, the parameter that names who acts, pass the Actor or only its name)
Calls = Mapping[str, tuple[Action, str, bool]]

JOBS: Calls = {
    "submit": (Action.SUBMIT, "actor", True),
    "submit_batch": (Action.SUBMIT, "actor", True),
    "set_priority": (Action.PRIORITY, "actor", True),
    "request_reschedule": (Action.PRIORITY, "actor", True),
    "cancel": (Action.CANCEL, "actor", True),
}
FLEET: Calls = {
    "register": (Action.MACHINES, "actor", True),
    "start_maintenance": (Action.MACHINES, "actor", True),
    "complete_maintenance": (Action.MACHINES, "actor", True),
    "decommission": (Action.MACHINES, "actor", True),
}
ALERTS: Calls = {"acknowledge": (Action.READ, "by", False)}
SITES_ADMIN: Calls = {name: (Action.PAIR_SITES, "actor", True) for name in ("pair", "accept", "revoke")}
MACHINES: Calls = {"add": (Action.MACHINES, "actor", True)}
LOCAL_MACHINES: Calls = {"add_simulated": (Action.MACHINES, "actor", True),
                         "add_serial": (Action.MACHINES, "actor", True),
                         "decide_agent": (Action.MACHINES, "actor", True),
                         "update_agents": (Action.MACHINES, "actor", True)}
NOTES: Calls = {"add": (Action.READ, "author", False), "set_state": (Action.READ, "by", False)}
WHATIF: Calls = {"apply_whatif": (Action.PRIORITY, "actor", True), "clear_whatif": (Action.PRIORITY, "actor", True)}


class ActingPort:
    """One port, its changing calls made as the session's person; everything else is the port itself."""

    def __init__(self, inner: Any, session: WindowSession, calls: Calls,
                 nested: Mapping[str, Calls] | None = None) -> None:
        self._inner = inner
        self._session = session
        self._calls = calls
        self._nested = nested or {}

    @property
    def inner(self) -> Any:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name in self._nested:
            return ActingPort(value, self._session, self._nested[name])
        spec = self._calls.get(name)
        return value if spec is None else _as_person(value, self._session, *spec)


def _as_person(fn: Callable[..., Any], session: WindowSession, action: Action, keyword: str,
               whole: bool) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        actor = None
        try:
            actor = await session.actor_for(action)
            if actor is not None:
                authorize(actor, action)  # refused here, before anything is sent, in the core's words
        except (AuthError, PermissionDenied) as exc:  # a notice in the window, beside the panel's own line
            session.refused.emit(f"Refused: {actor.name} ({actor.role.value}) may not {DESCRIPTIONS[action]}."
                                 if isinstance(exc, PermissionDenied) and actor is not None else f"Refused: {exc}")
            raise
        if actor is None:  # no people yet: as before, the panel's own name
            return await fn(*args, **kwargs)
        bound = inspect.signature(fn).bind_partial(*args, **kwargs)
        bound.arguments[keyword] = actor if whole else actor.name
        return await fn(*bound.args, **bound.kwargs)

    return call


class ActingControl:
    """The machine buttons (``MachineControl``) as the session's person (the machine panel shows a refusal with
    the machine's name)."""

    def __init__(self, inner: Any, session: WindowSession) -> None:
        self.inner = inner
        self._session = session

    async def _send(self, verb: str, action: Action, node_id: UUID, given: ActorLike) -> None:
        actor = await self._session.actor_for(action)
        if actor is not None:
            authorize(actor, action)
        await getattr(self.inner, f"request_{verb}")(node_id, actor=given if actor is None else actor)

    async def request_pause(self, node_id: UUID, actor: ActorLike = "operator") -> None:
        await self._send("pause", Action.PAUSE, node_id, actor)

    async def request_resume(self, node_id: UUID, actor: ActorLike = "operator") -> None:
        await self._send("resume", Action.PAUSE, node_id, actor)

    async def request_cancel(self, node_id: UUID, actor: ActorLike = "operator") -> None:
        await self._send("cancel", Action.CANCEL, node_id, actor)

    async def request_emergency_stop(self, node_id: UUID, actor: ActorLike = "operator") -> None:
        await self._send("emergency_stop", Action.ESTOP, node_id, actor)


def acting_ports(ports: Ports, session: WindowSession) -> Ports:
    """The window's ports, every changing call made as the person signed in at ``session``."""

    def wrap(port: Any, calls: Calls, nested: Mapping[str, Calls] | None = None) -> Any:
        return None if port is None else ActingPort(port, session, calls, nested)

    return dataclasses.replace(
        ports,
        jobs=wrap(ports.jobs, JOBS),
        fleet=wrap(ports.fleet, FLEET),
        control=None if ports.control is None else ActingControl(ports.control, session),
        alerts=wrap(ports.alerts, ALERTS),
        sites=wrap(ports.sites, {}, {"admin": SITES_ADMIN}),
        machines=wrap(ports.machines, MACHINES),
        local_machines=wrap(ports.local_machines, LOCAL_MACHINES),
        notes=wrap(ports.notes, NOTES),
        whatif=wrap(ports.whatif, WHATIF),
    )
