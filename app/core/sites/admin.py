"""What a site admin does with linked sites, without the network: pair, accept, revoke, offload, share,
comment. Everything lands in the store (allow list, persistent outbox); the running site service sends it.

The CLI uses this directly; the service uses it too and then wakes its senders.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from app.core import audit
from app.core.auth.permissions import Action
from app.core.auth.principal import ActorLike, authorize
from app.core.clock import Clock
from app.core.domain.entities import Job
from app.core.domain.enums import JobState
from app.core.domain.errors import NotFoundError, ValidationError
from app.core.sites import repo
from app.core.sites.errors import BadSiteId, SiteError
from app.core.sites.files import read_part_files
from app.core.sites.repo import ALLOWED, PENDING, REVOKED, Offload, Peer
from app.core.sites.site_id import parse_site_id, short_id
from app.core.store.db import Store

if TYPE_CHECKING:
    from app.core.sites.identity import SiteIdentity

log = logging.getLogger(__name__)
_ADDR_RE = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")
OPEN_STATES = ("PENDING", "SUBMITTED", "VALIDATED", "SCHEDULED", "ASSIGNED", "IN_PROGRESS", "PAUSED", "FAILED")


def check_address(address: str) -> str:
    address = (address or "").strip()
    if not address:
        return ""
    m = _ADDR_RE.match(address)
    if not m or not 0 < int(m.group(2)) < 65536:
        raise ValidationError(f"address {address[:60]!r} must be host:port, e.g. 192.168.1.20:47470", "address")
    return address


def new_key() -> str:
    return uuid.uuid4().hex


def spec_from_job(job: Job, part_indices: Sequence[int]) -> dict[str, Any]:
    """The job as the JSON a remote site validates; dependencies outside the chosen parts are dropped."""
    chosen = list(part_indices)
    where = {job.parts[i].id: n for n, i in enumerate(chosen)}
    parts = []
    for i in chosen:
        p = job.parts[i]
        parts.append({"name": p.name, "process": p.process.value, "material": p.material_type,
                      "size_mm": list(p.size_mm), "quantity": p.quantity, "complexity": p.complexity,
                      "batch_group": p.batch_group, "estimated_duration_s": p.estimated_duration_s,
                      "depends_on": [where[d] for d in p.depends_on if d in where]})
    return {"name": job.name, "priority": job.priority,
            "due_at": job.due_at.isoformat() if job.due_at else None, "parts": parts}


class SiteAdmin:
    def __init__(self, store: Store, clock: Clock, identity: SiteIdentity,
                 on_change: Callable[[], None] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.identity = identity
        self._on_change = on_change or (lambda: None)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    async def write(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Run ``fn(conn, *args, **kw)`` in one transaction on the store's writer thread."""

        def run() -> Any:
            with self.store.begin() as conn:
                return fn(conn, *args, **kw)

        out = await self.store.run(run)
        self._on_change()
        return out

    async def write_quiet(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Like ``write`` for bookkeeping (link health, pinned certificates) that changes no decision."""

        def run() -> Any:
            with self.store.begin() as conn:
                return fn(conn, *args, **kw)

        return await self.store.run(run)

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        def run() -> Any:
            with self.store.connect() as conn:
                return fn(conn, *args)

        return await self.store.run(run)

    # ------------------------------------------------------------ allow list
    async def pair(self, site_ref: str, address: str = "", name: str = "", actor: ActorLike = "admin") -> Peer:
        """Allow a site by its ID (and, to dial it, its address). Accepting a pending request is the same."""
        actor = authorize(actor, Action.PAIR_SITES)
        site_id = parse_site_id(site_ref)
        if site_id == self.identity.site_id:
            raise BadSiteId("that is this site's own ID; give the ID of the other site")
        address = check_address(address)
        now = self._now()

        def write(conn) -> Peer:
            peer = repo.get_peer(conn, site_id) or Peer(site_id, added_at=now)
            before = None if peer.updated_at == 0 else {"state": peer.state, "address": peer.address}
            peer.state, peer.updated_at, peer.last_error = ALLOWED, now, ""
            # A pending site's stored address is only the host it knocked from, not where it listens.
            peer.address = address or (peer.address if peer.state != PENDING else "")
            peer.name = (name or peer.name or short_id(site_id))[:200]
            repo.put_peer(conn, peer)
            audit.record(conn, self.clock.now(), actor, "site.allow", f"site:{site_id}", before,
                         {"state": ALLOWED, "address": peer.address, "name": peer.name})
            return peer

        return await self.write(write)

    async def accept(self, site_ref: str, address: str = "", name: str = "", actor: ActorLike = "admin") -> Peer:
        return await self.pair(site_ref, address, name, actor)

    async def revoke(self, site_ref: str, actor: ActorLike = "admin") -> Peer:
        actor = authorize(actor, Action.PAIR_SITES)
        peer = await self.find_peer(site_ref)
        now = self._now()

        def write(conn) -> Peer:
            repo.update_peer(conn, peer.site_id, state=REVOKED, updated_at=now)
            audit.record(conn, self.clock.now(), actor, "site.revoke", f"site:{peer.site_id}",
                         {"state": peer.state}, {"state": REVOKED})
            peer.state = REVOKED
            return peer

        return await self.write(write)

    async def peers(self) -> list[Peer]:
        return await self.read(repo.list_peers)

    async def find_peer(self, ref: str) -> Peer:
        """A site by its name, its full ID, or the first group(s) of its ID."""
        ref = (ref or "").strip()
        peers = await self.peers()
        for p in peers:
            if p.name == ref:
                return p
        try:
            full = parse_site_id(ref)
            for p in peers:
                if p.site_id == full:
                    return p
        except BadSiteId:
            pass
        clean = ref.upper().replace(" ", "")
        hits = [p for p in peers if len(clean) >= 4 and p.site_id.startswith(clean)]
        if len(hits) == 1:
            return hits[0]
        raise NotFoundError(f"no linked site named or numbered {ref[:70]!r}" if not hits
                            else f"{ref!r} matches several sites; give more of the ID")

    # ------------------------------------------------------------ offload
    async def offload(self, job: Job, to_ref: str, parts: Sequence[int] | None = None,
                      actor: ActorLike = "admin", order: dict[str, Any] | None = None,
                      on_write: Callable[[Any, Offload], None] | None = None) -> Offload:
        """Queue a job (or some of its parts) for a linked site, exactly once, through the outbox, with the parts'
        files (each checked by SHA-256 where it arrives). ``order``: the marketplace order it carries;
        ``on_write(conn, offload)`` runs in the same transaction."""
        # the review package loads the mesh tools (scipy): when a job is sent, not on every command; off the loop,
        # and never inside the write's transaction (the job's row stays locked while it runs)
        notes_for_parts = (await asyncio.to_thread(importlib.import_module, "app.core.review.notes")).notes_for_parts

        actor = authorize(actor, Action.OFFLOAD)
        peer = await self.find_peer(to_ref)
        if peer.state != ALLOWED:
            raise SiteError(f"site {peer.name} is {peer.state}; pair with it before sending work")
        if job.state.terminal or job.state.active:
            raise ValidationError(f"job {job.name} is {job.state.value}; only waiting jobs can be sent", "job")
        idx = list(range(len(job.parts))) if not parts else sorted(set(parts))
        if any(not 0 <= i < len(job.parts) for i in idx):
            raise ValidationError(f"job {job.name} has parts 0 to {len(job.parts) - 1}", "parts")
        out_files = await asyncio.to_thread(read_part_files, job, idx)
        now = self._now()
        key = new_key()
        body: dict[str, Any] = {"name": job.name, "spec": spec_from_job(job, idx), "parts": idx}
        if out_files:
            body["files"] = [f.entry() for f in out_files]
        if order is not None:
            body["order"] = order

        def write(conn) -> Offload:
            # The job's row lock makes offloads of one job queue up (four CLIs at once on PostgreSQL included):
            # each one sees the offloads the others committed before it.
            state = repo.lock_job(conn, str(job.id))
            if state is None:
                raise NotFoundError(f"job {job.name} is no longer in the store")
            if JobState(state).terminal or JobState(state).active:
                raise ValidationError(f"job {job.name} is {state}; only waiting jobs can be sent", "job")
            for o in repo.offloads_for_job(conn, str(job.id)):
                if o.direction == "out" and o.state in OPEN_STATES and set(o.parts) & set(idx):
                    raise ValidationError(f"job {job.name} is already sent to a linked site ({o.key[:8]})", "job")
            o = Offload(key, "out", peer.site_id, str(job.id), job.name, idx, "PENDING",
                        ["PENDING"] * len(idx), created_at=now, updated_at=now, version=0)
            notes = notes_for_parts(conn, [job.parts[i].id for i in idx])
            if notes:  # design review notes travel with the parts they were pinned to
                body["spec"]["metadata"] = {"review_notes": notes}
            repo.add_offload(conn, o)
            for f in out_files:  # the pieces first: the outbox is sent in order
                for chunk in f.chunks():
                    repo.enqueue(conn, peer.site_id, new_key(), "file.chunk", chunk, now)
            repo.enqueue(conn, peer.site_id, key, "offload.request", body, now)
            if on_write is not None:
                on_write(conn, o)
            audit.record(conn, self.clock.now(), actor, "site.offload", f"job:{job.id}", None,
                         {"site": peer.site_id, "key": key, "parts": idx, "files": len(out_files)})
            return o

        return await self.write(write)

    async def request_cancel(self, offload_key: str, reason: str = "cancelled at the sending site",
                             actor: str = "admin") -> Offload:
        o = await self.offload_by_key(offload_key)
        if o.direction != "out":
            raise ValidationError("this site runs that job; cancel the job itself", "offload")
        now = self._now()

        def write(conn) -> Offload:
            cur = repo.get_offload(conn, o.key)
            assert cur is not None
            if not repo.flag_cancel(conn, o.key, now):
                return cur  # already asked for, here or by another process at the same moment
            repo.enqueue(conn, o.peer_id, new_key(), "offload.cancel", {"offload": o.key, "reason": reason[:1000]},
                         now)
            audit.record(conn, self.clock.now(), actor, "site.offload.cancel", f"offload:{o.key}", None,
                         {"reason": reason[:200]})
            cur.cancel_requested = True
            return cur

        return await self.write(write)

    async def offload_by_key(self, key: str) -> Offload:
        key = (key or "").strip().lower()
        rows = [o for o in await self.read(repo.list_offloads) if o.key.startswith(key)] if len(key) >= 4 else []
        if len(rows) != 1:
            raise NotFoundError(f"no offload {key[:40]!r}" if not rows else f"{key!r} matches several offloads")
        return rows[0]

    async def offloads(self, direction: str | None = None, open_only: bool = False) -> list[Offload]:
        return await self.read(repo.list_offloads, direction, open_only)

    async def offloaded_job_ids(self) -> set[UUID]:
        """Our jobs that a linked site runs now: the local planner must leave them alone."""
        return {UUID(o.job_id) for o in await self.offloads("out", open_only=True) if o.job_id}

    # ------------------------------------------------------------ sharing
    async def share(self, kind: str, item: dict[str, Any], to_ref: str, actor: ActorLike = "admin") -> str:
        actor = authorize(actor, Action.PAIR_SITES)
        if kind not in ("template", "playbook"):
            raise ValidationError("only templates and playbooks can be shared", "kind")
        peer = await self.find_peer(to_ref)
        try:
            body = {"kind": kind, "id": str(UUID(str(item["id"]))), "name": str(item["name"])[:200],
                    "version": int(item.get("version", 1)), "item": dict(item)}
        except (KeyError, ValueError, TypeError) as exc:
            raise ValidationError(f"a shared {kind} needs an id, a name and a version", kind) from exc
        now, key = self._now(), new_key()

        def write(conn) -> str:
            repo.put_shared(conn, self.identity.site_id, kind, body["id"], body["name"], body["version"],
                            body["item"], now)
            repo.enqueue(conn, peer.site_id, key, "share", body, now)
            audit.record(conn, self.clock.now(), actor, f"site.share.{kind}", f"site:{peer.site_id}", None,
                         {"id": body["id"], "version": body["version"]})
            return key

        return await self.write(write)

    async def comment(self, offload_key: str, author: str, text: str) -> str:
        o = await self.offload_by_key(offload_key)
        text = (text or "").strip()
        if not text or len(text) > 5000:
            raise ValidationError("a comment has 1 to 5000 characters", "text")
        now, key = self._now(), new_key()
        body = {"offload": o.key, "author": author[:100], "text": text, "at": now}

        def write(conn) -> str:
            repo.add_comment(conn, key, o.key, self.identity.site_id, author[:100], text, now)
            repo.enqueue(conn, o.peer_id, key, "comment", body, now)
            return key

        return await self.write(write)

    async def comments(self, offload_key: str) -> list[dict[str, Any]]:
        o = await self.offload_by_key(offload_key)
        return await self.read(repo.comments, o.key)

    async def shared(self, kind: str | None = None) -> list[dict[str, Any]]:
        return await self.read(repo.list_shared, kind)

    async def outbox_counts(self) -> dict[str, int]:
        return await self.read(repo.outbox_counts)

    async def summaries(self) -> dict[str, tuple[dict[str, Any], float]]:
        return await self.read(repo.summaries)

    async def privacy_spent(self) -> dict[str, float]:
        """Epsilon charged to each linked site today (UTC) for what this site published to it."""
        # numpy comes with dp: loaded here, not by every command that touches the sites' tables
        from app.core.sites.dp import spent_today

        return await self.read(spent_today, self._now())


__all__ = ["SiteAdmin", "check_address", "spec_from_job", "PENDING"]
