"""Machines that went out of reach mid-job, and what to do when one comes back having run its work anyway.

A machine whose link drops (a hung agent, a pulled network cable) may well still be making its part. For
``grace_s`` its work stays with it ("in doubt"); after that the part is planned elsewhere and the run is kept
"apart" so that, should the machine come back and say what it did, the two copies are reconciled:

- still running, and no other copy started: it simply continues (the replanned copy is withdrawn);
- another copy started too: both count when the quantity allows; otherwise the copy further along is kept and
  the other cancelled;
- finished while apart: it is counted (cancelling a redundant copy still running); if the part was already made
  elsewhere, the extra part is reported. A part is never made twice without the operator being told.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

MAX_APART = 1000  # runs remembered after their work moved; the oldest are forgotten first


class Verdict(StrEnum):
    CONTINUE = "continue"  # its copy is the only one: it carries on, the replanned copy is withdrawn
    COUNT = "count"  # the quantity has room: its copy counts as one more
    KEEP_RETURNED = "keep_returned"  # its copy is kept, another running copy is cancelled
    KEEP_OTHER = "keep_other"  # another copy is further along: its copy is cancelled
    EXTRA = "extra"  # it finished a part that was already made: one part too many, told
    CANCEL_RETURNED = "cancel_returned"  # the part is no longer wanted (made, cancelled): its copy is stopped
    NOTHING = "nothing"  # it failed or stopped while apart: its work had moved already


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    cancel_other: int | None = None  # index into the other running copies


def decide(state: str, fraction: float, *, quantity: int, done: int, others: list[float],
           part_open: bool) -> Decision:
    """What to do with a run a machine reports after its work was moved. ``state``: ``running`` or the run's
    outcome; ``fraction``: how far it got; ``done``: copies of the part counted as made; ``others``: how far each
    other running copy of the part is; ``part_open``: the part is still wanted (not made, cancelled or failed)."""
    if state not in ("running", "completed"):
        return Decision(Verdict.NOTHING)
    if not part_open:
        return Decision(Verdict.EXTRA if state == "completed" else Verdict.CANCEL_RETURNED)
    room = max(quantity, 1) - done - len(others)
    if room >= 1:
        return Decision(Verdict.CONTINUE if state == "running" and not others else Verdict.COUNT)
    if not others:  # no room and nothing else running: every copy is made already
        return Decision(Verdict.EXTRA if state == "completed" else Verdict.CANCEL_RETURNED)
    least = min(range(len(others)), key=lambda i: others[i])
    if state == "completed" or fraction > others[least]:
        return Decision(Verdict.KEEP_RETURNED, least)
    return Decision(Verdict.KEEP_OTHER)


class InDoubt:
    """Which machines are in doubt since when (on the service's clock), and the runs kept apart."""

    def __init__(self, grace_s: float) -> None:
        if grace_s < 0:
            raise ValueError("the in-doubt grace period cannot be negative")
        self.grace_s = grace_s
        self._since: dict[UUID, float] = {}
        self._apart: OrderedDict[str, tuple[UUID, Any]] = OrderedDict()

    def enter(self, node_id: UUID, now: float) -> bool:
        """Start the grace period of a machine (True the first time)."""
        if node_id in self._since:
            return False
        self._since[node_id] = now
        return True

    def left_s(self, node_id: UUID, now: float) -> float:
        since = self._since.get(node_id)
        return 0.0 if since is None else self.grace_s - (now - since)

    def pending(self, node_id: UUID) -> bool:
        return node_id in self._since

    def clear(self, node_id: UUID) -> None:
        self._since.pop(node_id, None)

    def machines(self, now: float) -> dict[UUID, float]:
        """Machines in doubt and the seconds left before their work moves."""
        return {n: max(self.left_s(n, now), 0.0) for n in self._since}

    def apart(self, node_id: UUID, run: Any) -> None:
        """Its work moves; remember the run (``run.run_id``) in case the machine comes back having run it."""
        self._apart[run.run_id] = (node_id, run)
        while len(self._apart) > MAX_APART:
            self._apart.popitem(last=False)

    def take(self, run_id: str) -> tuple[UUID, Any] | None:
        return self._apart.pop(run_id, None)

    def take_for(self, node_id: UUID, job_id: UUID | None) -> tuple[UUID, Any] | None:
        """The newest run kept apart for this machine and job (a finish reported without a run id)."""
        for run_id, (nid, run) in reversed(self._apart.items()):
            if nid == node_id and run.job_id == job_id:
                return self._apart.pop(run_id)
        return None

    @property
    def apart_count(self) -> int:
        return len(self._apart)
