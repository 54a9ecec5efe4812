"""Design review notes travel with their part: a job sent to a linked site carries the notes pinned to its parts
(in the job's metadata there), over a real mutual-TLS link on 127.0.0.1."""

from __future__ import annotations

import asyncio
from uuid import UUID

import trimesh

from app.core.review.notes import NotesService, part_key

from .test_sites_support import FDM, SiteRig, wait_for


def test_notes_go_with_an_offloaded_job(tmp_path, db_urls) -> None:
    stl = tmp_path / "bracket.stl"
    trimesh.creation.box((20, 20, 10)).export(stl)

    async def go() -> None:
        a = await SiteRig(tmp_path, "origin", db_url=db_urls()).start()
        b = await SiteRig(tmp_path, "remote", db_url=db_urls()).start()
        try:
            await a.core.fleet.register("P-A", FDM, bring_up=True)
            await b.core.fleet.register("P-B", FDM, bring_up=True)
            await a.sites.admin.pair(b.id, f"127.0.0.1:{b.port}", "remote")
            await b.sites.admin.accept(a.id, name="origin")
            await wait_for(lambda: a.sites.link(b.id) is not None, what="the link")
            job = await a.core.jobs.submit({"name": "bracket", "parts": [
                {"name": "bracket", "process": "fdm", "material": "pla", "file": str(stl)}]})
            notes = NotesService(a.core.store, a.core.clock)
            key = part_key(stl)
            await notes.add(key, stl.name, (10.0, 0.0, 10.0), "chamfer the top edge", "ana")
            assert await notes.attach(key, job.parts[0].id, job.id) == 1
            await a.sites.admin.offload(await a.core.jobs.get(job.id), b.id)

            def remote_job() -> list:
                return b.rows("select job_id from site_offloads where direction='in' and job_id is not null")

            await wait_for(lambda: bool(remote_job()), what="the job at the remote site")
            there = await b.core.jobs.get(UUID(remote_job()[0][0]))
            travelled = there.metadata["review_notes"]
            assert [(n["text"], n["author"], n["state"], n["part"]) for n in travelled] == [
                ("chamfer the top edge", "ana", "open", 0)]
            assert travelled[0]["point"] == [10.0, 0.0, 10.0]
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(go())
