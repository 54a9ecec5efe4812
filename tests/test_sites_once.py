"""Exactly once is enforced by the database, not by one process's good manners: four writers, each with its own
connection pool (as four `imewe` processes would have), do the same thing at the same moment against one real
SQLite file or one real PostgreSQL database, and it happens once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from app.core.bus import EventBus
from app.core.clock import SystemClock
from app.core.domain.entities import Node
from app.core.domain.enums import JobState
from app.core.domain.errors import ImeweError
from app.core.jobs.service import JobService
from app.core.sites import repo
from app.core.sites.admin import SiteAdmin, spec_from_job
from app.core.sites.identity import load_or_create_identity
from app.core.sites.offload import OffloadEngine
from app.core.sites.repo import Peer
from app.core.store.db import Store, open_store

from .test_sites_support import FDM, mini_core

WRITERS = 4
PEER = "A" * 7 + "-" + "-".join(["B" * 7] * 7)  # only stored, never dialed


def _race(stores: list[Store], make: Callable[[int, Store], Coroutine[Any, Any, Any]]) -> list[Any]:
    """Run ``make(i, store_i)`` in WRITERS threads released at the same instant; results or exceptions."""
    barrier = threading.Barrier(len(stores))

    def one(i: int) -> Any:
        coro = make(i, stores[i])
        barrier.wait()
        try:
            return asyncio.run(coro)
        except ImeweError as exc:
            return exc

    with ThreadPoolExecutor(len(stores)) as pool:
        return list(pool.map(one, range(len(stores))))


def _offloaded_job(core, identity) -> tuple[Any, repo.Offload]:
    job = asyncio.run(core.jobs.submit({"name": "j", "parts": [
        {"name": "p", "process": "fdm", "material": "pla", "size": [10, 10, 10]}]}))
    return job, asyncio.run(SiteAdmin(core.store, core.clock, identity).offload(job, PEER))


def _engine(store: Store, clock, nodes) -> OffloadEngine:
    """The running side as another process would have it: its own bus and jobs service over its own pool."""
    bus = EventBus()
    return OffloadEngine(store, bus, clock, JobService(store, bus, clock, nodes))


def _count(store: Store, sql: str) -> int:
    with store.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


@pytest.fixture
def rig(db_url: str, tmp_path: Path):
    clock = SystemClock()
    core = mini_core(db_url, clock)
    asyncio.run(core.kernel.boot())
    node: Node = asyncio.run(core.fleet.register("P1", FDM, bring_up=True))
    with core.store.begin() as conn:
        repo.put_peer(conn, Peer(PEER, "other", "127.0.0.1:9", added_at=1.0, updated_at=1.0))
    stores = [open_store(db_url, migrate=False) for _ in range(WRITERS)]
    identity = load_or_create_identity(tmp_path / "keys", "here")
    yield core, stores, identity, (lambda: [node])
    for s in stores:
        s.close()
    asyncio.run(core.kernel.shutdown())


def test_four_offloads_of_one_job_at_once_send_it_once(rig) -> None:
    core, stores, identity, _ = rig
    clock = core.clock
    for n in range(6):
        job = asyncio.run(core.jobs.submit({"name": f"job {n}", "parts": [
            {"name": "p", "process": "fdm", "material": "pla", "size": [10, 10, 10]}]}))

        async def offload(_i: int, store: Store, job=job) -> Any:
            return await SiteAdmin(store, clock, identity).offload(job, PEER)

        results = _race(stores, offload)
        accepted = [r for r in results if isinstance(r, repo.Offload)]
        assert len(accepted) == 1, f"job {n}: {results}"
        assert all("already sent" in str(r) for r in results if r not in accepted)
        assert _count(core.store, f"select count(*) from site_offloads where job_id = '{job.id}'") == 1
        assert _count(core.store, f"select count(*) from site_outbox where key = '{accepted[0].key}'") == 1
    assert _count(core.store, "select count(*) from site_outbox where type = 'offload.request'") == 6


def test_four_cancels_of_one_offload_at_once_send_one_cancel(rig) -> None:
    core, stores, identity, _ = rig
    _, o = _offloaded_job(core, identity)

    async def cancel(_i: int, store: Store) -> Any:
        return await SiteAdmin(store, core.clock, identity).request_cancel(o.key)

    _race(stores, cancel)
    assert _count(core.store, "select count(*) from site_outbox where type = 'offload.cancel'") == 1


def test_one_request_delivered_to_four_writers_at_once_makes_one_job(rig) -> None:
    core, stores, _, nodes = rig
    src = asyncio.run(core.jobs.submit({"name": "theirs", "parts": [
        {"name": f"p{k}", "process": "fdm", "material": "pla", "size": [10, 10, 10]} for k in range(2)]}))
    body = {"name": "theirs", "spec": spec_from_job(src, [0, 1]), "parts": [0, 1]}
    jobs_before = _count(core.store, "select count(*) from jobs")

    for n in range(4):
        key = f"request-{n}"

        async def apply(_i: int, store: Store, key=key) -> Any:
            return await _engine(store, core.clock, nodes).apply_request(PEER, key, body)

        results = _race(stores, apply)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert _count(core.store, f"select count(*) from site_offloads where key = '{key}'") == 1
        assert _count(core.store, f"select count(*) from site_inbox where key = '{key}'") == 1
    assert _count(core.store, "select count(*) from jobs") == jobs_before + 4
    # One first status per job made, whoever made it.
    assert _count(core.store, "select count(*) from site_outbox where type = 'offload.status'") == 4

    # Four processes that each notice the same job moved send its new status once, not four times.
    key = "request-0"
    with core.store.connect() as conn:
        job_id = repo.get_offload(conn, key).job_id
    asyncio.run(core.jobs.transition(UUID(job_id), JobState.SCHEDULED, "test"))

    async def reconcile(_i: int, store: Store) -> Any:
        return await _engine(store, core.clock, nodes).reconcile([key])

    sent = _race(stores, reconcile)
    assert sum(sent) == 1, sent
    assert _count(core.store, "select count(*) from site_outbox where type = 'offload.status'") == 5


def test_statuses_arriving_at_four_writers_at_once_keep_the_newest(rig) -> None:
    core, stores, identity, nodes = rig
    _, o = _offloaded_job(core, identity)

    async def status(i: int, store: Store) -> Any:
        eng = _engine(store, core.clock, nodes)
        # Two keys, each delivered twice; versions 1 and 2 race.
        return await eng.apply_status(PEER, f"status-{i % 2}", {
            "offload": o.key, "state": ("VALIDATED", "SCHEDULED")[i % 2], "version": 1 + i % 2, "reason": "",
            "part_states": [("VALIDATED", "SCHEDULED")[i % 2]]})

    _race(stores, status)
    with core.store.connect() as conn:
        cur = repo.get_offload(conn, o.key)
    assert (cur.version, cur.state) == (2, "SCHEDULED")
    assert _count(core.store, "select count(*) from site_inbox where key like 'status-%'") == 2
