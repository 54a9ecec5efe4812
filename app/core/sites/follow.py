"""What a change to one of our jobs sends to a linked site, written in the job's own transaction.

The job service runs ``cancel_follows`` inside the transaction that cancels a job, in whichever process cancels
it (the site server, the window, a CLI command with no server running): the cancel of every open offload of
that job lands in the persistent outbox together with the job's new state, or neither does. The running site
service sends it when the link is up, whenever that is.
"""

from __future__ import annotations

import uuid

from sqlalchemy.engine import Connection

from app.core import audit
from app.core.domain.entities import Job
from app.core.domain.enums import JobState
from app.core.domain.states import StateChange
from app.core.sites import repo
from app.core.sites.site_id import short_id

FINAL = frozenset({"COMPLETED", "CANCELLED", "REJECTED"})


def cancel_follows(conn: Connection, job: Job, changes: list[StateChange], actor: str) -> None:
    """A job cancelled here: ask each linked site that runs some of it to cancel too (once)."""
    cancelled = [c for c in changes if c.kind == "job" and c.to_state == JobState.CANCELLED.value]
    if not cancelled:
        return
    at = cancelled[0].at
    for o in repo.offloads_for_job(conn, str(job.id)):
        if o.direction != "out" or o.state in FINAL:
            continue
        if actor == f"site:{short_id(o.peer_id)}":
            continue  # that site cancelled it itself: our job only follows
        if not repo.flag_cancel(conn, o.key, at.timestamp()):
            continue  # already asked for
        reason = (cancelled[0].reason or "cancelled at the sending site")[:1000]
        repo.enqueue(conn, o.peer_id, uuid.uuid4().hex, "offload.cancel", {"offload": o.key, "reason": reason},
                     at.timestamp())
        audit.record(conn, at, actor, "site.offload.cancel", f"offload:{o.key}", None, {"reason": reason[:200]})
