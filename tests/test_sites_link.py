"""Two and three sites on 127.0.0.1 with real mutual TLS: pairing, refusals, link health and summaries."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from websockets.exceptions import ConnectionClosed, InvalidMessage

from app.core.sites.errors import PeerRefused
from app.core.sites.identity import load_or_create_identity
from app.core.sites.link import dial_link, say_hello
from app.core.sites.site_id import short_id

from .test_sites_support import FDM, SiteRig, wait_for

REFUSED = (InvalidMessage, ConnectionClosed, ssl.SSLError, ConnectionError)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def _pair(a: SiteRig, b: SiteRig) -> None:
    await a.sites.admin.pair(b.id, b.address, b.name)
    await b.sites.admin.accept(a.id, name=a.name)
    await wait_for(lambda: a.sites.link(b.id) is not None and b.sites.link(a.id) is not None, what="link up")


def test_paired_sites_link_and_exchange_summaries_and_latency(tmp_path) -> None:
    async def go():
        a, b = await SiteRig(tmp_path, "alpha").start(), await SiteRig(tmp_path, "beta").start()
        try:
            await b.core.fleet.register("P1", FDM, bring_up=True)
            await _pair(a, b)

            async def has_summary():
                views = {v.site_id: v for v in await a.sites.views()}
                v = views[b.id]
                return v.summary is not None and "fdm" in v.summary["machines"] and v.latency_ms is not None

            await wait_for(has_summary, what="beta's summary and latency at alpha")
            v = {v.site_id: v for v in await a.sites.views()}[b.id]
            assert v.connected and v.state == "allowed" and v.name == "beta"
            assert 0 < v.latency_ms < 1000
            assert v.last_seen is not None
            assert set(v.summary) >= {"machines", "capacity", "energy", "alerts", "at", "privacy"}
            # What alpha's summaries cost at beta is accounted, and the Sites view shows it.
            mine = {v.site_id: v for v in await b.sites.views()}[a.id]
            assert mine.privacy_spent >= 4.0 and mine.privacy_budget == b.sites.config.epsilon_per_day
            # Exactly one link each way, whoever dialed.
            assert len(a.sites.links.all()) == 1 and len(b.sites.links.all()) == 1
        finally:
            await a.stop()
            await b.stop()

    run(go())


def test_unknown_site_is_refused_logged_and_linked_once_accepted(tmp_path) -> None:
    async def go():
        a, b = await SiteRig(tmp_path, "alpha").start(), await SiteRig(tmp_path, "beta").start()
        try:
            await a.sites.admin.pair(b.id, b.address, "beta")  # beta has not accepted alpha

            async def pending_at_b():
                views = {v.site_id: v for v in await b.sites.views()}
                return a.id in views and views[a.id].state == "pending" and views[a.id].attempts >= 1

            await wait_for(pending_at_b, what="alpha recorded as pending at beta")
            assert a.sites.link(b.id) is None and b.sites.link(a.id) is None
            va = {v.site_id: v for v in await a.sites.views()}[b.id]
            assert "refused" in va.last_error and "not accepted" in va.last_error
            assert "not accepted" in {v.site_id: v for v in await b.sites.views()}[a.id].last_error
            # The admin of beta accepts the pending request: the link comes up by itself.
            await b.sites.admin.accept(short_id(a.id).lower() + a.id[7:])  # as an admin may paste it
            await wait_for(lambda: a.sites.link(b.id) is not None, what="link after accept")
        finally:
            await a.stop()
            await b.stop()

    run(go())


def test_revoked_site_is_dropped_and_refused(tmp_path) -> None:
    async def go():
        a, b = await SiteRig(tmp_path, "alpha").start(), await SiteRig(tmp_path, "beta").start()
        try:
            await _pair(a, b)
            await b.sites.admin.revoke(a.id)
            await wait_for(lambda: b.sites.link(a.id) is None and a.sites.link(b.id) is None, what="link dropped")

            async def refused_again():
                views = {v.site_id: v for v in await b.sites.views()}
                return views[a.id].state == "revoked" and "revoked" in views[a.id].last_error

            await wait_for(refused_again, what="revoked attempt recorded")
            await asyncio.sleep(1.0)  # alpha keeps trying with backoff; beta keeps refusing
            assert b.sites.link(a.id) is None
            # Even with beta's pinned certificate, a direct link is refused at once.
            peer = {p.site_id: p for p in await a.sites.admin.peers()}[b.id]
            try:
                ws = await dial_link(a.identity, b.address, peer.cert_der, b.id)
                await asyncio.wait_for(ws.recv(), 5)
                raise AssertionError("a revoked site got a message")
            except REFUSED:
                pass  # TLS refuses it (its certificate left beta's trust store) or beta closes it with 4403
        finally:
            await a.stop()
            await b.stop()

    run(go())


def test_wrong_certificate_and_wrong_site_id_are_refused(tmp_path) -> None:
    async def go():
        a, b, c = [await SiteRig(tmp_path, n).start() for n in ("alpha", "beta", "gamma")]
        try:
            await _pair(a, b)
            # 1. A stranger with its own key pair and certificate: the TLS handshake fails at beta.
            stranger = load_or_create_identity(tmp_path / "stranger" / "keys", "stranger")
            pinned = {p.site_id: p for p in await a.sites.admin.peers()}[b.id].cert_der
            with pytest.raises(REFUSED):
                ws = await dial_link(stranger, b.address, pinned, b.id)
                await asyncio.wait_for(ws.recv(), 5)
            assert b.sites.link(stranger.site_id) is None
            # 2. gamma is a real site with a valid certificate; alpha even allows it. But alpha expects beta at
            #    an address where gamma answers: the certificate is valid for another ID and is refused.
            await a.sites.admin.pair(c.id, c.address, "gamma")
            await c.sites.admin.accept(a.id)
            with pytest.raises(PeerRefused, match="answered as site"):
                await say_hello(a.identity, "alpha", c.address, b.id)
            # 3. with beta's pinned certificate, gamma's handshake fails outright.
            with pytest.raises(ssl.SSLCertVerificationError):
                await dial_link(a.identity, c.address, pinned, b.id)
            # 4. A site entry whose address points at the wrong site never links and says why.
            await b.sites.admin.revoke(a.id)
            await a.sites.admin.pair(b.id, c.address, "beta")
            await asyncio.sleep(1.5)
            v = {v.site_id: v for v in await a.sites.views()}[b.id]
            assert not v.connected and "answered as site" in v.last_error
            await wait_for(lambda: a.sites.link(c.id) is not None, what="gamma link")
        finally:
            for s in (a, b, c):
                await s.stop()

    run(go())


def test_a_taken_site_port_leaves_the_site_running_and_it_still_dials_out(tmp_path) -> None:
    """Another program holds the site-link port: the site starts anyway, says why nobody can dial in, and links
    it dials itself still come up (an operator opening a file is never stopped by a busy port)."""
    import socket

    async def go():
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        b = await SiteRig(tmp_path, "beta").start()
        a = SiteRig(tmp_path, "alpha")
        a.port = taken
        try:
            await a.start()
            health, port = a.sites.health(), a.sites.port
            await _pair(a, b)  # alpha dials beta
            return health, port, taken, a.sites.link(b.id) is not None
        finally:
            await a.stop()
            await b.stop()
            holder.close()

    health, port, taken, linked = run(go())
    assert health.startswith("degraded: other sites cannot dial in") and f"127.0.0.1:{taken}" in health
    assert port == 0 and linked
