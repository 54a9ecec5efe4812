"""Sharing templates and playbooks (newest version wins), comments on offloaded jobs both ways, and sending
only some parts of a job: two linked sites on 127.0.0.1."""

from __future__ import annotations

import asyncio
import uuid

from app.core.domain.enums import JobState

from .test_sites_support import FDM, SiteRig, wait_for


def test_shared_items_comments_and_partial_offload(tmp_path, db_urls) -> None:
    async def go():
        a = await SiteRig(tmp_path, "alpha", db_url=db_urls()).start()
        b = await SiteRig(tmp_path, "beta", db_url=db_urls()).start()
        try:
            for s in (a, b):
                await s.core.fleet.register("P1", FDM, bring_up=True)
            await a.sites.admin.pair(b.id, b.address, "beta")
            await b.sites.admin.accept(a.id, name="alpha")
            await wait_for(lambda: a.sites.link(b.id) is not None, what="link")
            tid = str(uuid.uuid4())
            for version in (1, 3, 2):  # 2 arrives last but is older than 3
                await a.sites.admin.share("template", {"id": tid, "name": "bracket kit", "version": version,
                                                       "parts": [{"name": "arm", "process": "fdm"}]}, "beta")
            await a.sites.admin.share("playbook", {"id": str(uuid.uuid4()), "name": "print, wash, cure",
                                                   "version": 1, "steps": [{"do": "print"}]}, "beta")

            async def shared_at_b():
                items = [i for i in await b.sites.admin.shared() if i["peer_id"] == a.id]
                return len(items) == 2 and not (await a.sites.admin.outbox_counts()).get(b.id)

            await wait_for(shared_at_b, what="template and playbook at beta")
            tpl = next(i for i in await b.sites.admin.shared("template"))
            assert tpl["version"] == 3 and tpl["name"] == "bracket kit" and tpl["body"]["parts"][0]["name"] == "arm"

            # Only the second part of a two-part job goes to beta.
            job = await a.core.jobs.submit({"name": "frame", "parts": [
                {"name": "plate", "process": "fdm", "material": "pla", "size": [50, 50, 3]},
                {"name": "clip", "process": "fdm", "material": "petg", "size": [10, 10, 10], "quantity": 4}]})
            o = await a.sites.admin.offload(job, "beta", parts=[1])
            await wait_for(lambda: b.sites.engine is not None and _remote(b), what="partial job at beta")
            remote = (await b.core.jobs.list())[0]
            assert [p.name for p in remote.parts] == ["clip"] and remote.parts[0].quantity == 4
            assert remote.metadata["offload"] == {"from_site": a.id, "key": o.key}
            await b.core.jobs.transition(remote.id, JobState.SCHEDULED, "planned",
                                         parts={remote.parts[0].id: JobState.SCHEDULED})

            async def part_follows():
                j = await a.core.jobs.get(job.id)
                return j.parts[1].state is JobState.SCHEDULED

            await wait_for(part_follows, what="the sent part follows beta's plan")
            local = await a.core.jobs.get(job.id)
            assert local.state is JobState.VALIDATED and local.parts[0].state is JobState.VALIDATED  # not sent

            # Comments on the offloaded job, both ways.
            await a.sites.admin.comment(o.key, "ada", "please use the black PETG")
            await b.sites.admin.comment(o.key, "bola", "done, black it is")

            async def both_comments(site: SiteRig):
                return [c["text"] for c in await site.sites.admin.comments(o.key)] == [
                    "please use the black PETG", "done, black it is"]

            await wait_for(lambda: both_comments(a), what="comments at alpha")
            await wait_for(lambda: both_comments(b), what="comments at beta")
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(asyncio.wait_for(go(), 90))


def _remote(rig: SiteRig) -> bool:
    return rig.rows("select count(*) from jobs")[0][0] == 1
