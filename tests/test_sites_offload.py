"""Job offload exactly once across a link that breaks: a TCP proxy on 127.0.0.1 drops every connection ten
times while 100 jobs go out, and each site restarts once. At the remote site the test plays planner and machines
(jobs scheduled, running, done), some jobs are cancelled from each side. In the end every job exists exactly once
at the remote site and both sites agree on the state of every job and every part."""

from __future__ import annotations

import asyncio
import random
from uuid import UUID

import pytest

from app.core.domain.enums import JobState
from app.core.sites.offload import path

from .test_sites_support import FDM, CutProxy, SiteRig, wait_for

S = JobState


def _rows(rig: SiteRig, sql: str) -> list[tuple]:
    return rig.rows(sql)


async def _move(rig: SiteRig, job_id: UUID, target: JobState) -> None:
    """What the remote planner and machines would do: walk the job and its parts to ``target``."""
    job = await rig.core.jobs.get(job_id)
    for step in path(job.state, target):
        job = await rig.core.jobs.get(job_id)
        await rig.core.jobs.transition(job_id, step, "test", parts={p.id: step for p in job.parts})


def test_path_follows_the_state_machine() -> None:
    assert path(S.VALIDATED, S.COMPLETED) == [S.SCHEDULED, S.ASSIGNED, S.IN_PROGRESS, S.COMPLETED]
    assert path(S.VALIDATED, S.VALIDATED) == []
    assert path(S.COMPLETED, S.VALIDATED) == []
    assert path(S.SCHEDULED, S.CANCELLED) == [S.CANCELLED]


@pytest.mark.slow
def test_100_offloads_through_10_cuts_and_restarts_land_exactly_once_and_agree(tmp_path, db_urls) -> None:
    rnd = random.Random(8)

    async def go():
        a = await SiteRig(tmp_path, "origin", db_url=db_urls()).start()
        b = await SiteRig(tmp_path, "remote", db_url=db_urls()).start()
        proxy = await CutProxy(b.port).start()
        try:
            await a.core.fleet.register("P-A", FDM, bring_up=True)
            for n in range(4):
                await b.core.fleet.register(f"P-B{n}", FDM, bring_up=True)
            await a.sites.admin.pair(b.id, proxy.address, "remote")  # the only way from origin to remote
            await b.sites.admin.accept(a.id, name="origin")  # remote does not dial back
            await wait_for(lambda: a.sites.link(b.id) is not None, what="first link")
            jobs = [await a.core.jobs.submit({"name": f"job {i}", "parts": [
                {"name": f"j{i} p{k}", "process": "fdm", "material": "pla", "size": [20, 20, 5 + k],
                 } for k in range(1 + i % 3)]}) for i in range(100)]
            sent: dict[UUID, str] = {}
            for i, job in enumerate(jobs):
                if i == 50:
                    await b.restart()  # the running site goes down and up mid-stream
                if i == 75:
                    await a.restart()  # and the sending site too
                o = await a.sites.admin.offload(await a.core.jobs.get(job.id), b.id)
                sent[job.id] = o.key
                if i % 10 == 9:  # ten cuts during traffic, the link down for a while each time
                    proxy.up = False
                    proxy.cut()
                    await asyncio.sleep(rnd.uniform(0.05, 0.4))
                    proxy.up = True
                if i in (20, 70, 90):  # the sending site takes a few back: the cancel goes to the remote site
                    await a.sites.admin.request_cancel(sent[jobs[i - 1].id])
                await asyncio.sleep(rnd.uniform(0, 0.03))
            assert proxy.cuts == 10

            def remote_ids() -> dict[str, str]:
                return dict(_rows(b, "select key, job_id from site_offloads where direction='in'"))

            try:
                await wait_for(lambda: len(remote_ids()) == 100, timeout=60, what="all 100 jobs at the remote site")
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {len(remote_ids())} there, "
                                     f"{_rows(a, 'select count(*) from site_outbox where acked_at is null')} "
                                     f"not acknowledged") from None
            by_key = remote_ids()
            # The remote site works: planned, running, done; one job cancelled there by its operator.
            for n, job in enumerate(jobs[30:60]):
                await _move(b, UUID(by_key[sent[job.id]]), (S.SCHEDULED, S.IN_PROGRESS, S.COMPLETED)[n % 3])
            await b.core.jobs.cancel(UUID(by_key[sent[jobs[98].id]]), actor="remote operator")
            # An operator at the sending site cancels a job the plain way: the cancel follows it over.
            await a.core.jobs.cancel(jobs[75].id, actor="operator")
            last: list[str] = []

            async def settled() -> bool:
                for job in jobs:
                    local = await a.core.jobs.get(job.id)
                    remote = await b.core.jobs.get(UUID(by_key[sent[job.id]]))
                    same = local.state is remote.state and \
                        [p.state for p in local.parts] == [p.state for p in remote.parts]
                    if not same:
                        last[:] = [f"{job.name}: here {local.state} {[p.state.value for p in local.parts]}, "
                                   f"there {remote.state} {[p.state.value for p in remote.parts]}",
                                   _rows(a, f"select state, part_states, version from site_offloads "
                                            f"where key='{sent[job.id]}'"),
                                   _rows(b, f"select state, version from site_offloads where key='{sent[job.id]}'"),
                                   _rows(b, "select type, count(*) from site_outbox where acked_at is null "
                                            "group by type"),
                                   [(t.get_name(), t.done()) for t in getattr(b.sites.link(a.id), "tasks", [])],
                                   len(b.sites.links.in_flight(a.id))]
                        return False
                queued = (_rows(a, "select type, count(*) from site_outbox where acked_at is null group by type"),
                          _rows(b, "select type, count(*) from site_outbox where acked_at is null group by type"))
                last[:] = [f"queued: {queued}, link up: {a.sites.link(b.id) is not None}"]
                return not queued[0] and not queued[1]

            try:
                await wait_for(settled, timeout=90, what="both sites agreeing on every job")
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {last}") from None
            # Exactly once: 100 jobs at the remote site, one per idempotency key, all of ours.
            assert _rows(b, "select count(*) from jobs") == [(100,)]
            assert sorted(by_key) == sorted(sent.values())
            assert len(set(by_key.values())) == 100
            assert _rows(b, "select count(*) from site_inbox where type='offload.request'") == [(100,)]
            # The offload records on both sides say the same, and most jobs were really made remotely.
            out = dict(_rows(a, "select key, state from site_offloads where direction='out'"))
            inn = dict(_rows(b, "select key, state from site_offloads where direction='in'"))
            assert out == inn
            states = list(out.values())
            assert states.count("CANCELLED") == 5 and states.count("COMPLETED") == 10
            assert states.count("IN_PROGRESS") == 10 and states.count("SCHEDULED") == 10
            # The status of each job went through the stages the issue names.
            seen = {r[0] for r in _rows(a, "select to_state from state_changes where actor like 'site:%'")}
            assert {"SCHEDULED", "IN_PROGRESS", "COMPLETED"} <= seen
        finally:
            await proxy.stop()
            await a.stop()
            await b.stop()

    asyncio.run(asyncio.wait_for(go(), 280))
