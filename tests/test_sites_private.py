"""The site port and the site key as an attacker meets them: a refused TLS handshake is logged with the address
it came from (once a minute per address), a host minting site IDs fills at most a few pending places, and a site
key other users can read is refused with the command that fixes it."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import stat

import pytest

from app.core.sites import repo, tls
from app.core.sites.errors import SiteError
from app.core.sites.identity import load_or_create_identity
from app.core.sites.link import say_hello
from app.core.store.db import open_store

from .test_sites_support import SiteRig, wait_for


def test_refused_tls_handshakes_are_logged_with_the_peer_address(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="app.core.sites.link")
    stranger = load_or_create_identity(tmp_path / "stranger", "stranger")

    async def go():
        site = await SiteRig(tmp_path, "site").start()
        try:
            # A site nobody allowed presents its certificate for a link: the handshake is refused.
            ctx = tls.client_context(stranger, site.identity.cert_der)
            with pytest.raises((ssl.SSLError, ConnectionError, OSError, asyncio.IncompleteReadError)):
                r, w = await asyncio.open_connection("127.0.0.1", site.port, ssl=ctx, server_hostname=tls.LINK_NAME)
                await r.readexactly(1)  # TLS 1.3: the client learns of the refusal on its first read
            # Plain text on the TLS port (a scanner, a browser): refused too, and logged.
            r, w = await asyncio.open_connection("127.0.0.1", site.port)
            w.write(b"GET / HTTP/1.0\r\n\r\n")
            await w.drain()
            assert await r.read() == b""  # the server closes without a word
            w.close()
            await wait_for(lambda: site.sites.tls_accept.refused >= 2, what="two refused handshakes")
            # The link still works for a real, allowed site afterwards.
            other = await SiteRig(tmp_path, "other").start()
            try:
                await site.sites.admin.pair(other.id, other.address, "other")
                await other.sites.admin.accept(site.id, name="site")
                await wait_for(lambda: site.sites.link(other.id) is not None, what="link after the refusals")
            finally:
                await other.stop()
        finally:
            await site.stop()

    asyncio.run(asyncio.wait_for(go(), 60))
    lines = [r.getMessage() for r in caplog.records if "refused a TLS handshake" in r.getMessage()]
    # Both came from 127.0.0.1 within a minute: the first is logged with its address and port, the second is
    # counted but not logged again.
    assert len(lines) == 1 and "from 127.0.0.1:" in lines[0], lines


def test_pending_sites_are_bounded_per_address_and_overall(db_url, monkeypatch) -> None:
    store = open_store(db_url)
    try:
        ids = [f"{i:07d}-" + "-".join([f"{i:07d}"] * 7) for i in range(12)]
        with store.begin() as conn:
            kept = [repo.record_attempt(conn, sid, 1.0, "not accepted", f"claims {n}", "10.0.0.66")
                    for n, sid in enumerate(ids[:8])]
        assert sum(p is not None for p in kept) == repo.MAX_PENDING_PER_ADDRESS
        monkeypatch.setattr(repo, "MAX_PENDING", 7)
        with store.begin() as conn:
            more = [repo.record_attempt(conn, sid, 1.0, "not accepted", "x", f"10.0.1.{n}")
                    for n, sid in enumerate(ids[8:])]
            pending = [p for p in repo.list_peers(conn) if p.state == repo.PENDING]
        assert sum(p is not None for p in more) == 2 and len(pending) == 7
        # A site already pending is still counted when it knocks again, whatever the bounds.
        with store.begin() as conn:
            again = repo.record_attempt(conn, ids[0], 2.0, "not accepted", "", "10.0.0.66")
        assert again is not None and again.attempts == 2
    finally:
        store.close()


def test_many_site_ids_from_one_host_fill_few_pending_places(tmp_path) -> None:
    async def go():
        site = await SiteRig(tmp_path, "site").start()
        try:
            for n in range(7):
                ident = load_or_create_identity(tmp_path / f"mint{n}", f"mint {n}")
                _, reply = await say_hello(ident, f"mint {n}", site.address, site.id)
                assert not reply["ok"]
            peers = await site.sites.admin.peers()
            assert len([p for p in peers if p.state == "pending"]) == repo.MAX_PENDING_PER_ADDRESS
            assert {p.address for p in peers} == {"127.0.0.1"}
        finally:
            await site.stop()

    asyncio.run(asyncio.wait_for(go(), 60))


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_site_key_others_can_read_is_refused_with_the_fix(tmp_path) -> None:
    ident = load_or_create_identity(tmp_path / "keys", "here")
    ident.key_path.chmod(0o644)
    with pytest.raises(SiteError, match="chmod 600") as err:
        load_or_create_identity(tmp_path / "keys", "here")
    assert str(ident.key_path) in str(err.value) and "\n" not in str(err.value)
    ident.key_path.chmod(0o600)
    assert load_or_create_identity(tmp_path / "keys", "here").site_id == ident.site_id
    assert stat.S_IMODE(ident.key_path.stat().st_mode) == 0o600


def test_a_silent_connection_neither_holds_the_port_nor_delays_stopping(tmp_path) -> None:
    async def go():
        site = await SiteRig(tmp_path, "site").start()
        silent = await asyncio.open_connection("127.0.0.1", site.port)  # connects, never says a word
        await asyncio.sleep(0.2)
        t0 = asyncio.get_running_loop().time()
        await site.stop()
        silent[1].close()
        return asyncio.get_running_loop().time() - t0

    assert asyncio.run(asyncio.wait_for(go(), 30)) < 3.0  # not the 10 s handshake timeout
