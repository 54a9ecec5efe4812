"""The state machines of the spec, each one explicit transition table.

``advance`` is the only way a state changes: it checks the table, raises
``IllegalTransitionError`` naming the object, its state and the target, and returns the
timestamped record that callers keep (a job's timeline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from app.core.domain.enums import JobState, NodeState
from app.core.domain.errors import IllegalTransitionError

J = JobState
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    J.SUBMITTED: frozenset({J.VALIDATED, J.FAILED, J.CANCELLED}),
    J.VALIDATED: frozenset({J.SCHEDULED, J.FAILED, J.CANCELLED}),
    J.SCHEDULED: frozenset({J.ASSIGNED, J.VALIDATED, J.FAILED, J.CANCELLED}),
    J.ASSIGNED: frozenset({J.IN_PROGRESS, J.SCHEDULED, J.VALIDATED, J.FAILED, J.CANCELLED}),
    J.IN_PROGRESS: frozenset({J.PAUSED, J.COMPLETED, J.FAILED, J.CANCELLED}),
    # A held machine: resume on it, move the work elsewhere (self-healing), or give up.
    J.PAUSED: frozenset({J.IN_PROGRESS, J.SCHEDULED, J.VALIDATED, J.FAILED, J.CANCELLED}),
    J.COMPLETED: frozenset(),
    # A failed job may be requested again (reschedule); it then goes through validation anew.
    J.FAILED: frozenset({J.VALIDATED}),
    J.CANCELLED: frozenset(),
}
# Parts have the same life cycle as jobs.
PART_TRANSITIONS = JOB_TRANSITIONS

N = NodeState
_LEAVE = {N.MAINTENANCE, N.OFFLINE, N.ERROR, N.DECOMMISSIONED}
NODE_TRANSITIONS: dict[NodeState, frozenset[NodeState]] = {
    N.REGISTERED: frozenset({N.CONFIGURED, N.OFFLINE, N.ERROR, N.DECOMMISSIONED}),
    N.CONFIGURED: frozenset({N.IDLE} | _LEAVE),
    N.IDLE: frozenset({N.ASSIGNED, N.CONFIGURED} | _LEAVE),
    N.ASSIGNED: frozenset({N.EXECUTING, N.IDLE, N.OFFLINE, N.ERROR}),
    N.EXECUTING: frozenset({N.COMPLETED, N.IDLE, N.OFFLINE, N.ERROR}),
    N.COMPLETED: frozenset({N.IDLE, N.ASSIGNED} | _LEAVE),
    N.MAINTENANCE: frozenset({N.IDLE, N.CONFIGURED, N.OFFLINE, N.DECOMMISSIONED}),
    N.OFFLINE: frozenset({N.IDLE, N.CONFIGURED, N.ERROR, N.MAINTENANCE, N.DECOMMISSIONED}),
    N.ERROR: frozenset({N.IDLE, N.CONFIGURED, N.OFFLINE, N.MAINTENANCE, N.DECOMMISSIONED}),
    N.DECOMMISSIONED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class StateChange:
    """One transition, kept forever: the timeline of a job, part or node."""

    kind: str  # "job", "part" or "node"
    obj_id: UUID
    from_state: str | None
    to_state: str
    at: datetime
    reason: str = ""
    actor: str = "system"
    extra: dict = field(default_factory=dict)


def check(kind: str, obj_id: UUID, current, target, table) -> None:
    if target not in table[current]:
        raise IllegalTransitionError(kind, obj_id, current, target)


def advance(obj, target, at: datetime, reason: str = "", actor: str = "system") -> StateChange:
    """Move ``obj`` (a Job, Part or Node) to ``target`` if its table allows it."""
    kind, table = _table_for(obj)
    check(kind, obj.id, obj.state, target, table)
    change = StateChange(kind, obj.id, obj.state.value, target.value, at, reason, actor)
    obj.state = target
    return change


def _table_for(obj):
    from app.core.domain.entities import Job, Node, Part

    if isinstance(obj, Job):
        return "job", JOB_TRANSITIONS
    if isinstance(obj, Part):
        return "part", PART_TRANSITIONS
    if isinstance(obj, Node):
        return "node", NODE_TRANSITIONS
    raise TypeError(f"no state machine for {type(obj).__name__}")
