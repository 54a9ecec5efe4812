"""The permission table: which role may do what. The one place it is written; the services check against it, and
the README shows it (``markdown_table``), so the window, the CLI and the API enforce the same rules.

Why these lines: an operator runs the floor (starts, pauses, stops, reacts), so they may touch machines and jobs
but not the machine list, the links to other sites, the configuration or people. An engineer keeps the machines
(adds, configures, maintains, retires) and may send work elsewhere. A designer sends parts in and follows them.
A viewer watches. Emergency stop belongs to every role that may touch a machine.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    ENGINEER = "engineer"
    OPERATOR = "operator"
    DESIGNER = "designer"
    VIEWER = "viewer"


class Action(StrEnum):
    READ = "read"
    SUBMIT = "submit"
    PRIORITY = "priority"
    CANCEL = "cancel"
    ESTOP = "estop"
    PAUSE = "pause"
    MACHINES = "machines"
    PAIR_SITES = "pair_sites"
    OFFLOAD = "offload"
    CONFIG = "config"
    USERS = "users"
    AUDIT = "audit"


DESCRIPTIONS: dict[Action, str] = {
    Action.READ: "see jobs, machines, telemetry, energy, the plan",
    Action.SUBMIT: "submit jobs",
    Action.PRIORITY: "change a job's priority, ask for a replan of it",
    Action.CANCEL: "cancel a job",
    Action.ESTOP: "emergency stop a machine",
    Action.PAUSE: "pause and resume a machine",
    Action.MACHINES: "add, configure, maintain or decommission machines",
    Action.PAIR_SITES: "pair with, accept or revoke other sites",
    Action.OFFLOAD: "offload a job to a linked site",
    Action.CONFIG: "change the configuration",
    Action.USERS: "manage users and API keys",
    Action.AUDIT: "read and verify the audit log",
}

_ALL = frozenset(Action)
_FLOOR = frozenset({Action.READ, Action.SUBMIT, Action.PRIORITY, Action.CANCEL, Action.ESTOP, Action.PAUSE})

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: _ALL,
    Role.ENGINEER: _FLOOR | {Action.MACHINES, Action.OFFLOAD, Action.CONFIG, Action.AUDIT},
    Role.OPERATOR: _FLOOR,
    Role.DESIGNER: frozenset({Action.READ, Action.SUBMIT}),
    Role.VIEWER: frozenset({Action.READ}),
}


def allowed(role: Role, action: Action) -> bool:
    return action in PERMISSIONS[role]


def parse_role(text: str) -> Role:
    from app.core.domain.errors import ValidationError

    try:
        return Role(str(text).strip().lower())
    except ValueError as exc:
        raise ValidationError(f"unknown role {str(text)[:40]!r}; roles: {', '.join(r.value for r in Role)}",
                              "role") from exc


def parse_scopes(items: object) -> frozenset[Action]:
    from app.core.domain.errors import ValidationError

    if isinstance(items, str):
        items = [s for s in items.replace(" ", ",").split(",") if s]
    if not isinstance(items, list | tuple | set | frozenset) or not items:
        raise ValidationError("scopes is a list of actions, e.g. read,submit", "scopes")
    out = set()
    for s in items:
        try:
            out.add(Action(str(s).strip().lower()))
        except ValueError as exc:
            raise ValidationError(f"unknown scope {str(s)[:40]!r}; scopes: {', '.join(a.value for a in Action)}",
                                  "scopes") from exc
    return frozenset(out)


def markdown_table() -> str:
    """The table as the README shows it (a test checks the README holds this exact text)."""
    roles = list(Role)
    lines = ["| action | " + " | ".join(r.value for r in roles) + " |",
             "|---|" + "---|" * len(roles)]
    for action in Action:
        marks = " | ".join("yes" if allowed(r, action) else "-" for r in roles)
        lines.append(f"| `{action.value}`: {DESCRIPTIONS[action]} | {marks} |")
    return "\n".join(lines)
