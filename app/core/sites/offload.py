"""Job offload between sites, exactly once.

Sending side ("out"): the request sits in the persistent outbox until the other site acknowledges it; status
messages that come back move our offload record (newest version wins) and our job follows it.
Running side ("in"): the job, its offload record, the inbox entry that marks the key as seen and the first
status message are written in ONE transaction, so a retry after a lost ack or a restart finds the key and does
nothing twice. Statuses are derived from the job's stored state (``reconcile``), never from events alone, so a
restart or a dropped event cannot lose one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from app.core import audit
from app.core.bus import EventBus
from app.core.clock import Clock
from app.core.domain.enums import JobState
from app.core.domain.errors import ImeweError, ValidationError
from app.core.domain.states import JOB_TRANSITIONS
from app.core.jobs.service import JobService
from app.core.jobs.validation import parse_job_spec
from app.core.sites import files, repo
from app.core.sites.admin import new_key
from app.core.sites.errors import MessageRejected
from app.core.sites.repo import Offload
from app.core.sites.site_id import short_id
from app.core.store.db import Store
from app.core.store.repositories import HistoryRepo, JobRepo

log = logging.getLogger(__name__)
FINAL = frozenset({"COMPLETED", "CANCELLED", "REJECTED"})
_JOB_STATES = frozenset(s.value for s in JobState)
_STATES = _JOB_STATES | {"REJECTED", "PENDING"}


class OrderHook(Protocol):
    """What the marketplace does inside an offload's transactions (``app.core.sites.market``)."""

    def check_order(self, conn: Any, peer_id: str, order: dict[str, Any]) -> str: ...

    def on_offload(self, conn: Any, o: Offload, now: float, order: dict[str, Any] | None = None) -> None: ...


def actor_for(peer_id: str) -> str:
    return f"site:{short_id(peer_id)}"


def path(current: JobState, target: JobState) -> list[JobState]:
    """The shortest legal way from one state to another (empty if already there or impossible)."""
    if current is target:
        return []
    prev: dict[JobState, JobState] = {}
    todo = deque([current])
    while todo:
        s = todo.popleft()
        for n in JOB_TRANSITIONS[s]:
            if n not in prev and n is not current:
                prev[n] = s
                if n is target:
                    out = [n]
                    while out[-1] in prev and prev[out[-1]] is not current:
                        out.append(prev[out[-1]])
                    return out[::-1]
                todo.append(n)
    return []


class OffloadEngine:
    def __init__(self, store: Store, bus: EventBus, clock: Clock, jobs: JobService,
                 files_dir: Path | None = None) -> None:
        self.store = store
        self.files_dir = files_dir  # where part files received with offloads are kept
        self.orders: OrderHook | None = None  # the marketplace, when it runs: orders ride on offloads
        self.bus = bus
        self.clock = clock
        self.jobs = jobs
        self._repo = JobRepo()
        self._history = HistoryRepo()
        # One mirror at a time: two passes reading the same job state would race to the same transition.
        self._mirror_lock = asyncio.Lock()
        self._stuck: dict[str, str] = {}  # offload key -> what was last logged about it not following

    def _now(self) -> float:
        return self.clock.now().timestamp()

    # ------------------------------------------------------------ running side
    async def apply_request(self, peer_id: str, key: str, body: dict[str, Any]) -> None:
        actor = actor_for(peer_id)
        spec = dict(body["spec"])
        meta = spec.get("metadata") or {}
        built = None
        reason = ""
        parts_n = len(body["parts"])
        entries: list[dict[str, Any]] = []
        try:
            entries = files.check_entries(body.get("files") or [], parts_n)
            paths = await self.store.run(self._files_of, peer_id, key, entries) if entries else {}
        except files.FileRefused as exc:
            reason, paths = str(exc), {}
        if paths is None:
            return  # seen before: applied then, acknowledged again now
        if not reason and not isinstance(meta, dict):
            reason = "metadata must be an object"
        elif not reason:
            spec["metadata"] = {**meta, "offload": {"from_site": peer_id, "key": key}}
            if paths and isinstance(spec.get("parts"), list):
                spec["parts"] = [dict(p, file=str(paths[i])) if i in paths and isinstance(p, dict) else p
                                 for i, p in enumerate(spec["parts"])]
            try:
                # The job service's own checks: schema, units, materials, and feasibility on our fleet.
                built = self.jobs.build_checked(parse_job_spec(spec), actor)
            except ValidationError as exc:
                reason = str(exc)
        now = self._now()
        order = body.get("order")

        def write() -> bool:
            nonlocal built, reason
            with self.store.begin() as conn:
                if not repo.inbox_claim(conn, peer_id, key, "offload.request", now):
                    return False
                if repo.get_offload(conn, key) is not None:
                    raise MessageRejected("conflict", "that offload key is already in use here", key)
                files.forget_chunks(conn, peer_id, [e["sha256"] for e in entries])
                if order is not None and built is not None and self.orders is not None:
                    refused = self.orders.check_order(conn, peer_id, order)
                    if refused:
                        built, reason = None, refused
                if built is None:
                    o = Offload(key, "in", peer_id, None, str(body["name"])[:200], list(body["parts"]), "REJECTED",
                                ["REJECTED"] * parts_n, reason=reason[:1000], version=1, created_at=now,
                                updated_at=now)
                else:
                    job, changes = built
                    self._repo.add_many(conn, [job])
                    self._history.add(conn, changes)
                    audit.record(conn, job.submitted_at, actor, "job.submit", f"job:{job.id}", None,
                                 {"name": job.name, "from_site": peer_id, "offload": key})
                    o = Offload(key, "in", peer_id, str(job.id), job.name, list(body["parts"]), job.state.value,
                                [p.state.value for p in job.parts], remote_job_id=None, version=1,
                                created_at=now, updated_at=now)
                repo.add_offload(conn, o)
                if order is not None and self.orders is not None:
                    self.orders.on_offload(conn, o, now, order)
                repo.enqueue(conn, peer_id, new_key(), "offload.status", _status_body(o), now)
                return True

        if await self.store.run(write) and built is not None:
            self.jobs.announce_new([built[0]], built[1])
        if built is None:
            log.info("offload %s from %s rejected: %s", key[:8], short_id(peer_id), reason)

    def _files_of(self, peer_id: str, key: str, entries: list[dict[str, Any]]) -> dict[int, Path] | None:
        """The request's part files, put together and checked (None if the request was applied before)."""
        with self.store.connect() as conn:
            if repo.inbox_seen(conn, peer_id, key):
                return None
            if self.files_dir is None:
                raise files.FileRefused("this site takes no part files over its links")
            return {e["part"]: files.assemble(conn, peer_id, e, self.files_dir) for e in entries}

    async def apply_cancel(self, peer_id: str, key: str, body: dict[str, Any]) -> None:
        now = self._now()

        def write() -> Offload | None:
            with self.store.begin() as conn:
                if not repo.inbox_claim(conn, peer_id, key, "offload.cancel", now):
                    return None
                o = repo.get_offload(conn, body["offload"])
                if o is None or o.direction != "in" or o.peer_id != peer_id:
                    return None
                repo.flag_cancel(conn, o.key, now)
                return o

        o = await self.store.run(write)
        if o is None or o.job_id is None:
            return
        job = await self.jobs.get(UUID(o.job_id))
        if not job.state.terminal:
            try:
                await self.jobs.cancel(job.id, actor=actor_for(peer_id), reason=body["reason"] or "cancelled by sender")
            except ImeweError as exc:
                log.warning("cannot cancel offloaded job %s: %s", job.id, exc)
        await self.reconcile([o.key])

    async def reconcile(self, keys: list[str] | None = None) -> int:
        """Send a status for every job we run for another site whose stored state moved. Returns how many."""
        now = self._now()

        def write() -> int:
            sent = 0
            with self.store.begin() as conn:
                rows = ([o for k in keys if (o := repo.get_offload(conn, k))] if keys is not None
                        else repo.list_offloads(conn, "in", open_only=True))
                rows = [o for o in rows if o.direction == "in" and o.job_id is not None and o.state not in FINAL]
                stored = repo.job_states(conn, [o.job_id for o in rows if o.job_id])
                for o in rows:
                    if o.job_id not in stored:
                        continue
                    state, states = stored[o.job_id]
                    if state == o.state and states == o.part_states:
                        continue
                    o.state, o.part_states, o.version = state, states, o.version + 1
                    # Another process may send the same status at the same time: one version, one message.
                    if not repo.move_offload(conn, o.key, o.version, state=o.state, part_states=states,
                                             version=o.version, updated_at=now):
                        continue
                    repo.enqueue(conn, o.peer_id, new_key(), "offload.status", _status_body(o), now)
                    if self.orders is not None:
                        self.orders.on_offload(conn, o, now)
                    sent += 1
            return sent

        return await self.store.run(write)

    # ------------------------------------------------------------ sending side
    async def apply_status(self, peer_id: str, key: str, body: dict[str, Any]) -> Offload | None:
        state = body["state"]
        if state not in _STATES or any(not isinstance(s, str) or s not in _STATES for s in body["part_states"]):
            raise MessageRejected("schema", f"offload.status: unknown state {str(state)[:20]!r}", key)
        now = self._now()

        def write() -> Offload | None:
            with self.store.begin() as conn:
                if not repo.inbox_claim(conn, peer_id, key, "offload.status", now):
                    return None
                o = repo.get_offload(conn, body["offload"])
                if o is None or o.direction != "out" or o.peer_id != peer_id:
                    raise MessageRejected("unknown_offload", "no offload of ours with that key", key)
                if len(body["part_states"]) != len(o.parts):
                    raise MessageRejected("schema", "offload.status: one state per part sent", key)
                o.state, o.part_states, o.version = state, list(body["part_states"]), body["version"]
                o.reason, o.remote_job_id = body["reason"], body.get("remote_job_id") or o.remote_job_id
                # Newest version wins; an older status arriving late (or at once in another process) changes nothing.
                if not repo.move_offload(conn, o.key, o.version, state=o.state, part_states=o.part_states,
                                         version=o.version, reason=o.reason, remote_job_id=o.remote_job_id,
                                         updated_at=now):
                    return None
                if self.orders is not None:
                    self.orders.on_offload(conn, o, now)
                return o

        o = await self.store.run(write)
        if o is not None:
            await self.mirror(o)
        return o

    async def mirror(self, o: Offload) -> None:
        """Our job follows what the other site reports, along legal transitions only."""
        async with self._mirror_lock:
            await self._mirror(o)

    async def _mirror(self, o: Offload) -> None:
        if o.job_id is None or o.state not in _JOB_STATES:
            return
        job = await self.jobs.get(UUID(o.job_id))
        whole = len(o.parts) == len(job.parts)
        jpath = path(job.state, JobState(o.state)) if whole else []
        ppaths: dict[UUID, list[JobState]] = {}
        for i, st in zip(o.parts, o.part_states, strict=False):
            if st in _JOB_STATES and i < len(job.parts):
                ppaths[job.parts[i].id] = path(job.parts[i].state, JobState(st))
        if whole and job.state.value != o.state and not jpath:
            if job.state is JobState.CANCELLED and not o.cancel_requested:
                # Cancelled here by a path that queued nothing (a store written by an older version): ask now.
                await self._ask_cancel(o)
            # Usually a cancel on its way (cancelled here, not yet there): said once, tried again each sweep.
            if self._stuck.get(o.key) != o.state:
                self._stuck[o.key] = o.state
                log.info("job %s is %s here but %s at site %s; waiting for the other site", job.name,
                         job.state.value, o.state, short_id(o.peer_id))
            return
        self._stuck.pop(o.key, None)
        steps = max([len(jpath), *(len(p) for p in ppaths.values())], default=0)
        target = job.state
        for k in range(steps):
            target = jpath[k] if k < len(jpath) else target
            parts = {pid: p[k] for pid, p in ppaths.items() if k < len(p)}
            try:
                await self.jobs.transition(job.id, target, f"reported by site {short_id(o.peer_id)}",
                                           actor_for(o.peer_id), parts=parts)
            except ImeweError as exc:
                if self._stuck.get(o.key) != f"error:{o.state}":
                    self._stuck[o.key] = f"error:{o.state}"
                    log.warning("job %s cannot follow site %s: %s", job.name, short_id(o.peer_id), exc)
                return

    async def _ask_cancel(self, o: Offload) -> None:
        now = self._now()

        def write() -> None:
            with self.store.begin() as conn:
                if repo.flag_cancel(conn, o.key, now):
                    repo.enqueue(conn, o.peer_id, new_key(), "offload.cancel",
                                 {"offload": o.key, "reason": "cancelled at the sending site"}, now)

        await self.store.run(write)
        o.cancel_requested = True

    async def mirror_all(self) -> int:
        """Bring every job we sent in line with its last reported state (after a restart, or a failed pass)."""

        def read() -> list[Offload]:
            with self.store.connect() as conn:
                rows = [o for o in repo.list_offloads(conn, "out") if o.job_id is not None and o.state in _JOB_STATES]
                stored = repo.job_states(conn, [o.job_id for o in rows if o.job_id])
            out = []
            for o in rows:
                if o.job_id not in stored:
                    continue
                state, states = stored[o.job_id]
                parts = [states[i] for i in o.parts if i < len(states)]
                whole = len(o.parts) == len(states)
                if (whole and state != o.state) or parts != o.part_states:
                    out.append(o)
            return out

        stale = await self.store.run(read)
        for o in stale:
            await self.mirror(o)
        return len(stale)


def _status_body(o: Offload) -> dict[str, Any]:
    return {"offload": o.key, "state": o.state, "version": o.version, "reason": o.reason,
            "remote_job_id": o.job_id, "part_states": o.part_states}
