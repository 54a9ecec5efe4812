"""A cancel reaches the linked site that runs the job whichever process cancels it: here the CLI, a process of
its own on the sending site's home, while that site's link service runs. The cancel is queued in the outbox
with the job's change, the running site cancels its copy, and nobody logs the same complaint over and over."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from uuid import UUID

import pytest

from app.core.domain.enums import JobState

from .test_sites_offload import _move
from .test_sites_support import FDM, SiteRig, wait_for

S = JobState


def _cli(rig: SiteRig, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "IMEWE_DB_URL": rig.db_url, "IMEWE_DISCOVERY": "0", "PYTHONPATH": os.getcwd()}
    return subprocess.run([sys.executable, "-m", "app.cli.main", "--home", str(rig.home), *argv], env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_cli_cancel_on_the_sending_site_cancels_the_job_at_the_running_site(tmp_path, db_urls, caplog) -> None:
    caplog.set_level(logging.INFO, logger="app.core.sites")

    async def go():
        a = await SiteRig(tmp_path, "sender", db_url=db_urls()).start()
        b = await SiteRig(tmp_path, "runner", db_url=db_urls()).start()
        try:
            for s in (a, b):
                await s.core.fleet.register("P1", FDM, bring_up=True)
            await a.sites.admin.pair(b.id, b.address, "runner")
            await b.sites.admin.accept(a.id, name="sender")
            job = await a.core.jobs.submit({"name": "bracket", "parts": [
                {"name": "arm", "process": "fdm", "material": "pla", "size": [20, 20, 5]}]})
            o = await a.sites.admin.offload(job, b.id)
            await wait_for(lambda: b.rows(f"select job_id from site_offloads where key = '{o.key}'"),
                           what="the job at the running site")
            theirs = UUID(b.rows(f"select job_id from site_offloads where key = '{o.key}'")[0][0])
            await _move(b, theirs, S.IN_PROGRESS)  # the running site is making it

            async def ours_is(state: JobState) -> bool:
                return (await a.core.jobs.get(job.id)).state is state

            await wait_for(lambda: ours_is(S.IN_PROGRESS), what="our job following the running site")

            r = await asyncio.to_thread(_cli, a, "jobs", "cancel", str(job.id))
            assert r.returncode == 0, r.stderr
            # The cancel was written with the job's change, in the CLI's own transaction (its audit entry names
            # the CLI as the actor; the link service's later sweep would find nothing left to do).
            assert a.rows("select count(*) from site_outbox where type = 'offload.cancel'") == [(1,)]
            assert a.rows("select actor from audit_log where action = 'site.offload.cancel'") == [("cli",)]

            async def theirs_is(state: JobState) -> bool:
                return (await b.core.jobs.get(theirs)).state is state

            await wait_for(lambda: theirs_is(S.CANCELLED), what="the running site cancelling its copy")
            await wait_for(lambda: a.rows(f"select state from site_offloads where key = '{o.key}'")
                           == [("CANCELLED",)], what="the running site reporting the cancel")
            assert (await a.core.jobs.get(job.id)).state is S.CANCELLED
            await asyncio.sleep(2.0)  # several sweeps (heartbeat 0.3 s): none may repeat a complaint
            assert a.rows("select count(*) from site_outbox where acked_at is null") == [(0,)]
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(asyncio.wait_for(go(), 150))
    repeated = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO
                and ("cannot follow" in r.getMessage() or "here but" in r.getMessage())]
    assert len(repeated) <= 1, repeated


@pytest.mark.parametrize("who", ["operator"])
def test_cancel_and_outbox_row_commit_together(tmp_path, db_urls, who) -> None:
    """The job's cancel and the outbox row are one transaction: a failing outbox write leaves the job as it was."""

    async def go():
        a = await SiteRig(tmp_path, "sender", db_url=db_urls()).start()
        try:
            await a.core.fleet.register("P1", FDM, bring_up=True)
            peer = SiteRig(tmp_path, "elsewhere")
            await a.sites.admin.pair(peer.id, "127.0.0.1:9", "elsewhere")
            job = await a.core.jobs.submit({"name": "j", "parts": [
                {"name": "p", "process": "fdm", "material": "pla", "size": [10, 10, 10]}]})
            await a.sites.admin.offload(job, peer.id)

            def broken(conn, job, changes, actor) -> None:
                raise RuntimeError("disk full")

            a.core.jobs.add_write_hook(broken)
            with pytest.raises(RuntimeError):
                await a.core.jobs.cancel(job.id, actor=who)
            assert a.rows(f"select state from jobs where id = '{job.id}'") == [("VALIDATED",)]
            assert a.rows("select count(*) from site_outbox where type = 'offload.cancel'") == [(0,)]
        finally:
            await a.stop()

    asyncio.run(asyncio.wait_for(go(), 60))
