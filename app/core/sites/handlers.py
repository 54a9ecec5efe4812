"""What a site does with each checked message from a linked site."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from app.core.sites import files, repo
from app.core.sites.errors import MessageRejected
from app.core.sites.events import SiteSummaryReceived
from app.core.sites.link import Link
from app.core.sites.protocol import MARKET, SUPPORTED_VERSIONS, Message

if TYPE_CHECKING:
    from app.core.sites.service import SitesService

log = logging.getLogger(__name__)
RESEND = frozenset({"rate_limited", "retry"})  # after these errors a message is sent again later


async def handle(svc: SitesService, link: Link, msg: Message) -> None:
    peer = link.peer_id
    t = msg.type
    if t == "ping":
        await link.send("pong", {"t": msg.body["t"]})
    elif t == "pong":
        rtt = time.monotonic() - msg.body["t"]
        if 0 <= rtt < 600:  # our own clock came back; anything else is not a reply to our ping
            link.latency_ms = round(rtt * 1000, 3)
            link.pongs += 1
            if link.pong_waiter is not None and not link.pong_waiter.done():
                link.pong_waiter.set_result(rtt)
    elif t == "hello":
        if not set(msg.body["versions"]) & SUPPORTED_VERSIONS:
            raise MessageRejected("version", f"no common protocol version (this site: {sorted(SUPPORTED_VERSIONS)})")
    elif t == "ack":
        await _acked(svc, link, [k for k in msg.body["keys"] if isinstance(k, str)][:1000])
    elif t == "error":
        await _error(svc, link, msg)
    elif t == "presence":
        if not await svc.admin.read(svc.market.shares, peer, msg.body["subject"]):
            raise MessageRejected("unknown_subject", "no offer or order shared with your site is called that")
        svc.presence.seen(peer, msg.body)
    elif t == "summary":
        now = svc.clock.now().timestamp()
        svc.links.set_summary(peer, msg.body, now)
        await svc.admin.write_quiet(repo.put_summary, peer, msg.body, now)
        svc.bus.publish(SiteSummaryReceived(peer))
    else:
        await _reliable(svc, link, msg)
        await link.send("ack", {"keys": [msg.key]})
        svc.wake(peer)


async def _reliable(svc: SitesService, link: Link, msg: Message) -> None:
    peer, key, body = link.peer_id, msg.key, msg.body
    assert key is not None
    if msg.type == "offload.request":
        await svc.engine.apply_request(peer, key, body)
    elif msg.type == "offload.status":
        await svc.engine.apply_status(peer, key, body)
    elif msg.type == "offload.cancel":
        await svc.engine.apply_cancel(peer, key, body)
    elif msg.type == "share":
        await svc.admin.write_quiet(_share, peer, key, body, svc.clock.now().timestamp())
    elif msg.type in MARKET:
        apply = {"market.offers": svc.market.apply_offers, "market.quote.ask": svc.market.apply_quote_ask,
                 "market.quote": svc.market.apply_quote, "market.rating": svc.market.apply_rating,
                 "market.comment": svc.market.apply_comment}[msg.type]
        await svc.admin.write_quiet(apply, peer, key, body, svc.clock.now().timestamp())
    elif msg.type == "file.chunk":
        await svc.admin.write_quiet(files.store_chunk, peer, key, body, svc.clock.now().timestamp())
    elif msg.type == "comment":
        await svc.admin.write_quiet(_comment, peer, key, body, svc.clock.now().timestamp())


def _share(conn, peer: str, key: str, body: dict, now: float) -> None:
    if not repo.inbox_claim(conn, peer, key, "share", now):
        return
    repo.put_shared(conn, peer, body["kind"], body["id"], body["name"], body["version"], body["item"], now)


def _comment(conn, peer: str, key: str, body: dict, now: float) -> None:
    if not repo.inbox_claim(conn, peer, key, "comment", now):
        return
    o = repo.get_offload(conn, body["offload"])
    if o is None or o.peer_id != peer:
        # Raising rolls the claim back with the rest: the key stays unseen.
        raise MessageRejected("unknown_offload", "no offload shared with your site has that key", key)
    repo.add_comment(conn, key, o.key, peer, body["author"], body["text"], body["at"])


async def _acked(svc: SitesService, link: Link, keys: list[str]) -> None:
    if not keys:
        return
    svc.links.acked(link, keys)
    await svc.admin.write_quiet(repo.ack_outbox, link.peer_id, keys, svc.clock.now().timestamp())
    svc.wake(link.peer_id)


async def _error(svc: SitesService, link: Link, msg: Message) -> None:
    ref, code = msg.body.get("ref"), msg.body["code"]
    log.warning("site %s rejected a message (%s): %s", link.peer_id[:7], code, msg.body["message"])
    if ref is None or code in RESEND:
        return  # resent after the retry delay
    if svc.links.sent_unacked(link.peer_id, ref):
        # Refused for good (bad content): keep it out of the queue so it cannot block what follows.
        await _acked(svc, link, [ref])
