"""The site lock and the owner's control channel, in this process: the lock on a real SQLite home and a real
PostgreSQL database, recovery only behind it, and the channel's errors over a real socket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from app.bootstrap import build_core, build_store_core, wire_control_channel
from app.cli.main import main
from app.core.api.channel import ChannelInfo, channel_path, live_channel, read_channel, write_channel
from app.core.api.client import OwnerClient
from app.core.api.operations import OPS
from app.core.clock import ManualClock
from app.core.config import load_config
from app.core.domain.enums import JobState
from app.core.domain.errors import AuthError, ImeweError, NotFoundError, ValidationError
from app.core.ownership import Ownership, SiteBusyError, site_lock
from app.core.production import ProductionService
from app.devices.factory import make_driver

from .helpers import FDM, job_spec

S = JobState


def test_second_lock_on_a_site_is_refused_naming_the_owner(tmp_path: Path, db_url: str) -> None:
    first = site_lock(tmp_path, db_url, "serve")
    second = site_lock(tmp_path, db_url, "open")
    first.acquire()
    try:
        with pytest.raises(SiteBusyError) as err:
            second.acquire()
        assert f"process {os.getpid()}" in str(err.value) and "imewe serve" in str(err.value)
        assert not second.held and second.owner().pid == os.getpid()
    finally:
        first.release()
    second.acquire()  # released: the next one takes it
    assert second.held
    second.release()


async def _job_in_progress(home: Path, db_url: str) -> str:
    """A job that a machine is making, as an owner that was then killed leaves it in the store."""
    core = build_store_core(load_config(str(home), db_url), ManualClock())
    await core.kernel.boot()
    try:
        node = await core.fleet.register("p1", FDM, bring_up=True)
        job = await core.jobs.submit(job_spec(parts=1))
        part = job.parts[0].id
        job = await core.jobs.transition(job.id, S.SCHEDULED, "planned", parts={part: S.SCHEDULED})
        job = await core.jobs.transition(job.id, S.ASSIGNED, "on p1", parts={part: S.ASSIGNED},
                                         assign={part: node.id})
        await core.jobs.transition(job.id, S.IN_PROGRESS, "on p1", parts={part: S.IN_PROGRESS})
        return str(job.id)
    finally:
        await core.kernel.shutdown()


async def _state(home: Path, db_url: str, job_id: str) -> JobState:
    core = build_store_core(load_config(str(home), db_url))
    await core.kernel.boot()
    try:
        return (await core.jobs.find(job_id)).state
    finally:
        await core.kernel.shutdown()


def test_recovery_runs_only_behind_the_lock(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        job_id = await _job_in_progress(tmp_path, db_url)
        owner = site_lock(tmp_path, db_url, "serve")
        owner.acquire()
        try:
            core = build_core(load_config(str(tmp_path), db_url), ManualClock(), connect_machines=False)
            with pytest.raises(SiteBusyError):
                await core.kernel.boot()
            assert core.kernel.status().services["production"]["status"] == "stopped"
            assert await _state(tmp_path, db_url, job_id) is S.IN_PROGRESS  # nobody reset the running work
        finally:
            owner.release()
        core = build_core(load_config(str(tmp_path), db_url), ManualClock(), connect_machines=False)
        await core.kernel.boot()  # now this process owns the site: the interrupted work goes back to planning
        try:
            assert (await core.jobs.find(job_id)).state is S.PAUSED
        finally:
            await core.kernel.shutdown()

    asyncio.run(go())


def test_production_refuses_to_start_without_the_site(tmp_path: Path) -> None:
    async def go() -> None:
        core = build_store_core(load_config(str(tmp_path)))
        ownership = Ownership(site_lock(tmp_path, core.config.db_url, "serve"))
        production = ProductionService(core.fleet, core.jobs, core.bus, core.clock, {}, ownership=ownership)
        with pytest.raises(ImeweError, match="owns the site"):
            await production.start()
        core.store.close()

    asyncio.run(go())


@contextlib.asynccontextmanager
async def _owner(home: Path):
    core = build_core(load_config(str(home)), connect_machines=False, plan_budget_s=0.05)
    wire_control_channel(core, "serve")
    await core.kernel.boot()
    try:
        yield core, read_channel(home)
    finally:
        await core.kernel.shutdown()


def test_control_channel_file_and_errors(tmp_path: Path) -> None:
    async def go() -> None:
        async with _owner(tmp_path) as (core, info):
            assert info is not None and info.pid == os.getpid()
            assert stat.S_IMODE(channel_path(tmp_path).stat().st_mode) == 0o600
            client = OwnerClient(info)
            node = await core.fleet.register("p1", FDM, bring_up=True)
            await core.machines.attach(node.id, make_driver("sim", name="p1", capabilities=FDM, clock=core.clock))
            job = await client.call(OPS["jobs.submit"], {"spec": job_spec(parts=1)})
            for _ in range(150):  # the owner plans it at once, not at its next round (30 s away)
                if (await core.jobs.find(job["id"])).state is not S.VALIDATED:
                    break
                await asyncio.sleep(0.02)
            assert (await core.jobs.find(job["id"])).state in (S.SCHEDULED, S.ASSIGNED, S.IN_PROGRESS)
            with pytest.raises(ValidationError, match="at least one part"):
                await client.call(OPS["jobs.submit"], {"spec": {"name": "x", "parts": []}})
            with pytest.raises(NotFoundError):
                await client.call(OPS["jobs.cancel"], {"job": "ffffffff"})
            with pytest.raises(AuthError):
                await OwnerClient(ChannelInfo(info.pid, info.host, info.port, "wrong")).call(OPS["kernel.status"], {})
            headers = {"Authorization": f"Bearer {info.token}"}
            async with aiohttp.ClientSession() as http:
                for body in (b"{not json", b"[1, 2]", b'{"a": ' * 200 + b"1" + b"}" * 200):
                    async with http.post(f"{info.url}/jobs", data=body, headers=headers) as resp:
                        assert resp.status == 400 and "error" in await resp.json()
            status = await client.call(OPS["kernel.status"], {})
            assert status["owner"]["pid"] == os.getpid() and status["services"]["control"]["status"] == "running"
        assert not channel_path(tmp_path).exists()  # removed on a clean stop

    asyncio.run(go())


def _cli(home: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["--home", str(home), *args])
    return rc, out.getvalue(), err.getvalue()


def test_stale_channel_files_are_ignored(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = int(dead.stdout)
    import socket

    write_channel(tmp_path, ChannelInfo(gone, socket.gethostname(), 9, "t"))
    assert live_channel(tmp_path) is None  # its process is gone
    # A live process (this one) with nothing listening, and no lock held: the CLI acts on the store.
    write_channel(tmp_path, ChannelInfo(os.getpid(), socket.gethostname(), 9, "t"))
    assert live_channel(tmp_path) is not None
    rc, out, err = _cli(tmp_path, "nodes", "add", "p1", "--process", "fdm", "--volume", "250x210x210",
                        "--materials", "pla", "--json")
    assert rc == 0, err
    assert json.loads(out)["state"] == "IDLE"


def test_cli_error_from_the_owner_is_one_line_exit_2(tmp_path: Path) -> None:
    async def go() -> tuple[int, str]:
        async with _owner(tmp_path):
            rc, _, err = await asyncio.to_thread(_cli, tmp_path, "jobs", "cancel", "ffffffff")
            return rc, err

    rc, err = asyncio.run(go())
    assert rc == 2 and err.startswith("imewe: no job") and len(err.strip().splitlines()) == 1


def test_an_owner_without_a_channel_is_not_written_past(tmp_path: Path, db_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import app.cli.output

    monkeypatch.setattr(app.cli.output, "WAIT_FOR_SITE_S", 0.3)
    owner = site_lock(tmp_path, db_url, "serve")
    owner.acquire()  # an owner that has not opened its channel (yet)
    try:
        rc, _, err = _cli(tmp_path, "--db", db_url, "nodes", "add", "p1", "--process", "fdm")
        assert rc == 2 and f"process {os.getpid()}" in err and "no control channel" in err
        rc, out, _ = _cli(tmp_path, "--db", db_url, "nodes", "list")
        assert rc == 0 and "no machines" in out
    finally:
        owner.release()


@pytest.mark.postgres
def test_a_lost_database_session_is_noticed(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the advisory lock lives in a PostgreSQL session; a file lock cannot be cut from outside")
    import sqlalchemy as sa

    def cut_owner_session() -> None:
        engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1),
                                  isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name "
                                 "LIKE 'imewe owner %%' AND datname = current_database()")
        engine.dispose()

    async def go() -> tuple[list[str], str]:
        lost: list[str] = []
        # The watcher looks once a second: after it takes the lock back (phase one ends just after that), the
        # rival below has most of a second to take it first, however busy the machine is.
        ownership = Ownership(site_lock(tmp_path, db_url, "serve"), check_every_s=1.0, on_lost=lost.append)
        await ownership.start()
        try:
            await asyncio.to_thread(cut_owner_session)
            for _ in range(50):  # nobody else wants it: the watcher takes it again
                await asyncio.sleep(0.1)
                if ownership.held and await asyncio.to_thread(ownership.lock.alive):
                    break
            assert ownership.held and ownership.health() == "ok" and not lost
            await asyncio.to_thread(cut_owner_session)
            rival = site_lock(tmp_path, db_url, "open")
            for _ in range(100):  # another process takes it first
                try:
                    await asyncio.to_thread(rival.acquire)
                    break
                except SiteBusyError:
                    await asyncio.sleep(0.01)
            try:
                assert rival.held
                for _ in range(50):
                    if lost:
                        break
                    await asyncio.sleep(0.1)
                return lost, ownership.health()
            finally:
                rival.release()
        finally:
            await ownership.stop()

    lost, health = asyncio.run(go())
    assert lost and "imewe open" in lost[0] and health.startswith("lost:")


def test_an_owner_waits_for_a_command_writing_but_not_for_another_owner(tmp_path: Path, db_url: str) -> None:
    import threading

    from app.bootstrap import claim_site

    config = load_config(str(tmp_path), db_url)
    writer = site_lock(tmp_path, db_url, "cli")  # a CLI command writing to the store with no owner running
    writer.acquire()
    threading.Timer(0.5, writer.release).start()
    t0 = time.monotonic()
    owner = claim_site(config, "serve")
    try:
        assert owner.held and 0.4 < time.monotonic() - t0 < 5
        with pytest.raises(SiteBusyError):
            claim_site(config, "open", wait_for_cli_s=5)  # an owner is not waited for: refused at once
    finally:
        owner.release()
