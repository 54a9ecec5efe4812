"""Part files travel with an offloaded job: two sites on 127.0.0.1 (real TLS, real stores), a link cut in the
middle of the transfer, the job arrives once with its files, byte for byte; a file that does not match its hash
is refused with the reason, and nothing of it is kept."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path

import trimesh

from app.core.sites.protocol import CHUNK_BYTES

from .test_sites_support import FDM, CutProxy, SiteRig, wait_for


def _big_stl(path: Path) -> Path:
    """A binary STL of about 1 MB (more than one piece on the wire)."""
    trimesh.creation.icosphere(subdivisions=5, radius=20.0).export(path)
    assert path.stat().st_size > CHUNK_BYTES
    return path


def test_part_files_arrive_once_byte_for_byte_through_a_cut(tmp_path, db_urls, shared) -> None:
    cube = shared / "data" / "meshes" / "20mm-xyz-cube.stl"
    ball = _big_stl(tmp_path / "ball.stl")

    async def go():
        a = await SiteRig(tmp_path, "origin", db_url=db_urls()).start()
        b = await SiteRig(tmp_path, "remote", db_url=db_urls()).start()
        proxy = await CutProxy(b.port).start()
        try:
            await a.core.fleet.register("P-A", FDM, bring_up=True)
            await b.core.fleet.register("P-B", FDM, bring_up=True)
            await a.sites.admin.pair(b.id, proxy.address, "remote")
            await b.sites.admin.accept(a.id, name="origin")
            await wait_for(lambda: a.sites.link(b.id) is not None, what="first link")
            job = await a.core.jobs.submit({"name": "with files", "parts": [
                {"name": "cube", "process": "fdm", "material": "pla", "file": str(cube)},
                {"name": "plain", "process": "fdm", "material": "pla", "size": [10, 10, 10]},
                {"name": "ball", "process": "fdm", "material": "pla", "file": str(ball)}]})
            proxy.up = False  # the link is down when the job is sent: everything waits in the outbox
            proxy.cut()
            o = await a.sites.admin.offload(job, b.id)
            queued = a.rows("select type from site_outbox where acked_at is null order by seq")
            pieces = sum(-(-f.stat().st_size // CHUNK_BYTES) for f in (cube, ball))
            assert [r[0] for r in queued] == ["file.chunk"] * pieces + ["offload.request"]  # pieces first
            proxy.up = True

            def chunks_there() -> int:
                return b.rows("select count(*) from site_inbox where type='file.chunk'")[0][0]

            await wait_for(lambda: chunks_there() >= 1, what="the first piece")
            proxy.cut()  # in the middle of the transfer
            await wait_for(lambda: b.rows("select count(*) from jobs")[0][0] == 1, timeout=30, what="the job")
            await wait_for(lambda: a.rows(f"select state from site_offloads where key='{o.key}'")[0][0] == "VALIDATED",
                           what="the status back")
            await asyncio.sleep(0.5)
            assert b.rows("select count(*) from jobs")[0][0] == 1  # once
            got = dict(b.rows("select name, file_path from parts"))
            assert got["plain"] is None
            for name, src in (("cube", cube), ("ball", ball)):
                there = Path(got[name])
                assert there.is_relative_to(b.home / "received")
                assert there.read_bytes() == src.read_bytes()
                assert there.parent.name == hashlib.sha256(src.read_bytes()).hexdigest()
            assert b.rows("select count(*) from site_file_chunks") == [(0,)]  # the pieces are not kept twice
        finally:
            await proxy.stop()
            await a.stop()
            await b.stop()

    asyncio.run(asyncio.wait_for(go(), 120))


def test_a_file_that_does_not_match_its_hash_is_refused_and_nothing_kept(tmp_path, db_urls) -> None:
    async def go():
        quiet = {"heartbeat_s": 60.0, "summary_s": 1e6, "dead_after_s": 120.0}
        a = await SiteRig(tmp_path, "alpha", db_url=db_urls(), **quiet).start()
        b = await SiteRig(tmp_path, "beta", db_url=db_urls(), **quiet).start()
        try:
            await b.core.fleet.register("P1", FDM, bring_up=True)
            await a.sites.admin.pair(b.id, b.address, "beta")
            await b.sites.admin.accept(a.id, name="alpha")
            await wait_for(lambda: a.sites.link(b.id) and b.sites.link(a.id), what="link")
            await asyncio.sleep(0.3)
            la, lb = a.sites.link(b.id), b.sites.link(a.id)
            data = b"solid x\nendsolid x\n" * 10
            real = hashlib.sha256(data).hexdigest()
            claimed = hashlib.sha256(b"something else").hexdigest()
            before = b.dump()
            # A piece damaged on the way (its own hash does not match): refused at once, nothing stored.
            await la.send("file.chunk", {"sha256": real, "size": len(data), "pos": 0,
                                         "data": base64.b64encode(data[:-1] + b"?").decode(),
                                         "chunk_sha256": real}, key="bad-piece")
            await wait_for(lambda: lb.errors_sent >= 1, what="the refusal")
            assert b.dump() == before
            # A whole file that is not the one the offload names: the job is refused, saying why.
            await la.send("file.chunk", {"sha256": claimed, "size": len(data), "pos": 0,
                                         "data": base64.b64encode(data).decode(), "chunk_sha256": real}, key="piece")
            spec = {"name": "liar", "parts": [{"name": "p", "process": "fdm", "material": "pla",
                                               "size_mm": [10, 10, 10]}]}
            await la.send("offload.request", {"name": "liar", "spec": spec, "parts": [0],
                                              "files": [{"part": 0, "name": "p.stl", "sha256": claimed,
                                                         "size": len(data)}]}, key="k-liar")
            await wait_for(lambda: b.rows("select state, reason from site_offloads"), what="the refusal")
            (state, reason), = b.rows("select state, reason from site_offloads")
            assert state == "REJECTED" and "does not match its SHA-256" in reason and "p.stl" in reason
            assert b.rows("select count(*) from jobs") == [(0,)]
            assert b.rows("select count(*) from site_file_chunks") == [(0,)]
            assert not (b.home / "received").exists()
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(asyncio.wait_for(go(), 120))


def test_pieces_waiting_for_their_job_are_capped_per_site(tmp_path, monkeypatch) -> None:
    """A site cannot fill another's disk with pieces of files no job names: past the cap a piece is refused for
    now (the sender tries again later), and nothing of it is kept."""
    from app.core.sites import files
    from app.core.sites.errors import MessageRejected
    from app.core.store.db import open_store

    monkeypatch.setattr(files, "MAX_PENDING_CHUNKS", 2)
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    refused = []
    try:
        for n in range(3):
            data = f"piece {n}".encode()
            sha = hashlib.sha256(data).hexdigest()
            body = {"sha256": sha, "size": len(data), "pos": 0, "data": base64.b64encode(data).decode(),
                    "chunk_sha256": sha}
            try:
                with store.begin() as conn:
                    files.store_chunk(conn, "PEER", f"k{n}", body, 1.0)
            except MessageRejected as exc:
                assert exc.code == "retry" and "try this one again later" in str(exc)
                refused.append(n)
        assert refused == [2]
        with store.connect() as conn:
            import sqlalchemy as sa

            assert conn.execute(sa.text("select count(*) from site_file_chunks")).scalar_one() == 2
            assert conn.execute(sa.text("select count(*) from site_inbox")).scalar_one() == 2  # k2 not claimed
        with store.begin() as conn:  # pieces whose job never came are forgotten after a week
            assert files.prune_chunks(conn, 1.0) == 0  # received at 1.0: not older than that
        with store.begin() as conn:
            assert files.prune_chunks(conn, 2.0) == 2
    finally:
        store.close()
