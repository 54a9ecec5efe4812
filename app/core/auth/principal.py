"""Who is acting: an ``Actor`` passed into every service call that changes something, checked against the
permission table inside the service.

A plain string actor is the site's own code (the scheduler, recovery, discovery, a linked site's messages) or the
single local operator of a site that has no people yet (the bootstrap rule): it is trusted, as before people
existed. Everything that comes from a person (the CLI once an admin exists, the API, the signed-in window) passes
an ``Actor`` with a role, so the check cannot be skipped by the caller that holds a person's request.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.auth.permissions import PERMISSIONS, Action, Role
from app.core.domain.errors import AuthError, PermissionDenied


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    role: Role
    scopes: frozenset[Action] | None = None  # an API key's narrower scopes; None: all of the role's
    kind: str = "user"  # user | key | local

    def may(self, action: Action) -> bool:
        if action not in PERMISSIONS[self.role]:
            return False
        return self.scopes is None or action in self.scopes

    def __str__(self) -> str:
        return self.name


# The bootstrap rule: before any admin exists, whoever runs the CLI on the site's home is its one local operator,
# with every right (as it was before people existed). It is named "cli" in the audit log, as before.
LOCAL_OPERATOR = Actor("cli", Role.ADMIN, kind="local")

# Once the site has people, a process of the site's OS user that has not signed in may still read (it can read
# the database file anyway); anything else asks it to sign in.
LOCAL_READER = Actor("cli", Role.VIEWER, kind="local-reader")

ActorLike = Actor | str


def authorize(actor: ActorLike, action: Action) -> str:
    """The name to write in the audit log, or PermissionDenied naming the person, role and action."""
    if isinstance(actor, str):
        return actor
    if actor.kind == "local-reader" and action is not Action.READ:
        raise AuthError("this site has people: sign in first with imewe login (or set IMEWE_TOKEN)")
    if not actor.may(action):
        why = "this API key's scopes do not" if action in PERMISSIONS[actor.role] else f"the role {actor.role}" \
                                                                                        " does not"
        raise PermissionDenied(f"{actor.name} may not {action.value}: {why} allow it")
    return actor.name
