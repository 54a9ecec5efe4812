"""Bad messages from a linked site are rejected one by one: the link stays up and the store is not touched."""

from __future__ import annotations

import asyncio
import json
import time

from app.core.sites.protocol import MAX_MESSAGE_BYTES, encode

from .test_sites_support import FDM, SiteRig, wait_for


def _dump(rig: SiteRig) -> dict[str, list[str]]:
    return rig.dump()


def test_malformed_oversized_and_out_of_order_messages_are_rejected_without_harm(tmp_path, db_urls) -> None:
    async def go():
        quiet = {"heartbeat_s": 60.0, "summary_s": 1e6, "dead_after_s": 120.0}
        a = await SiteRig(tmp_path, "alpha", db_url=db_urls(), **quiet).start()
        b = await SiteRig(tmp_path, "beta", db_url=db_urls(), **quiet).start()
        try:
            await b.core.fleet.register("P1", FDM, bring_up=True)
            await a.core.fleet.register("P1", FDM, bring_up=True)
            await a.sites.admin.pair(b.id, b.address, "beta")
            await b.sites.admin.accept(a.id, name="alpha")
            await wait_for(lambda: a.sites.link(b.id) and b.sites.link(a.id), what="link")
            await wait_for(lambda: b.sites.links.summary(a.id) and a.sites.links.summary(b.id), what="summaries")
            await asyncio.sleep(0.3)
            before = _dump(b)
            la, lb = a.sites.link(b.id), b.sites.link(a.id)
            n = la._seq

            def nxt() -> int:
                nonlocal n
                n += 1
                return n

            bad = [
                "this is not JSON {",
                b"\x00\x01binary",
                "[1, 2, 3]",
                json.dumps({"v": 1, "type": "ping", "seq": nxt()}),  # no body
                json.dumps({"v": 2, "type": "ping", "seq": nxt(), "body": {"t": 1.0}}),
                json.dumps({"v": 1, "type": "format_disk", "seq": nxt(), "body": {}}),
                json.dumps({"v": 1, "type": "ping", "seq": nxt(), "body": {"t": "soon"}}),
                '{"v": 1, "type": "ping", "seq": ' + str(nxt()) + ', "body": {"t": NaN}}',
                json.dumps({"v": 1, "type": "ping", "seq": nxt(), "body": {"t": 1.0, "evil": True}}),
                encode("ping", 1, {"t": 1.0}),  # out of order: an old sequence number
                encode("hello", nxt(), {"name": "again", "versions": [1]}),  # a second hello
                encode("offload.request", nxt(), {"name": "x", "spec": {}, "parts": []}),  # reliable, no key
                encode("offload.request", nxt(), {"name": "x", "spec": "rm -rf", "parts": []}, key="k1"),
                encode("offload.status", nxt(), {"offload": "nope", "state": "COMPLETED", "version": 9,
                                                 "reason": "", "part_states": []}, key="k2"),
                encode("ping", n, {"t": 1.0}),  # out of order: the number of the status just before
                encode("comment", nxt(), {"offload": "nope", "author": "x", "text": "hi", "at": 1.0}, key="k3"),
                json.dumps({"v": 1, "type": "ping", "seq": nxt(), "body": {"t": "x" * (MAX_MESSAGE_BYTES + 10)}}),
            ]
            for frame in bad:
                await la.ws.send(frame)
            await wait_for(lambda: lb.errors_sent >= len(bad), what="one error reply per bad message")
            assert lb.errors_sent == len(bad)
            la._seq = n  # our own numbering goes on after the raw frames
            # The same link objects, still open, both ways.
            assert a.sites.link(b.id) is la and b.sites.link(a.id) is lb
            # The link still works: a ping gets its pong...
            la.latency_ms = None
            await la.send("ping", {"t": time.monotonic()})
            await wait_for(lambda: la.latency_ms is not None, what="pong after the junk")
            # ... and nothing of the junk reached beta's store.
            assert _dump(b) == before
            # Real work still goes through.
            job = await a.core.jobs.submit({"name": "after junk", "parts": [
                {"name": "p", "process": "fdm", "material": "pla", "size": [10, 10, 10]}]})
            await a.sites.admin.offload(job, b.id)
            await wait_for(lambda: _count_jobs(b) == 1, what="offload after the junk")
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(asyncio.wait_for(go(), 120))


def _count_jobs(rig: SiteRig) -> int:
    return rig.rows("select count(*) from jobs")[0][0]
