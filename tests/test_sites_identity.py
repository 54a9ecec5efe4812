"""Site identity and IDs, the protocol codec, privacy noise and LAN discovery (zeroconf on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat

import pytest
from cryptography import x509

from app.core.bus import EventBus
from app.core.sites.config import SitesConfig
from app.core.sites.discovery import SiteDiscovery
from app.core.sites.errors import BadSiteId, MessageRejected, SiteError
from app.core.sites.events import SiteFound
from app.core.sites.identity import load_or_create_identity
from app.core.sites.protocol import Session, TokenBucket, decode, encode
from app.core.sites.site_id import format_site_id, parse_site_id

from .mdns import LOOPBACK, SITE_TYPE


def test_identity_is_made_once_and_its_id_is_the_certificate_hash(tmp_path) -> None:
    ident = load_or_create_identity(tmp_path / "keys", "Lagos")
    again = load_or_create_identity(tmp_path / "keys", "Lagos")
    assert again.site_id == ident.site_id and again.cert_der == ident.cert_der
    assert ident.site_id == format_site_id(hashlib.sha256(ident.cert_der).digest())
    cert = x509.load_der_x509_certificate(ident.cert_der)
    assert cert.issuer == cert.subject  # self-signed
    assert stat.S_IMODE(os.stat(ident.key_path).st_mode) == 0o600
    groups = ident.site_id.split("-")
    assert len(groups) == 8 and all(len(g) == 7 for g in groups)
    other = load_or_create_identity(tmp_path / "other", "Kano")
    assert other.site_id != ident.site_id


def test_broken_identity_files_give_a_clear_error(tmp_path) -> None:
    ident = load_or_create_identity(tmp_path / "k", "x")
    ident.cert_path.unlink()
    with pytest.raises(SiteError, match="incomplete"):
        load_or_create_identity(tmp_path / "k", "x")
    other = load_or_create_identity(tmp_path / "o", "y")
    ident.cert_path.write_bytes(other.cert_path.read_bytes())
    with pytest.raises(SiteError, match="does not belong"):
        load_or_create_identity(tmp_path / "k", "x")


def test_site_ids_parse_forgivingly_and_catch_typos(tmp_path) -> None:
    sid = load_or_create_identity(tmp_path / "k", "x").site_id
    assert parse_site_id(sid) == sid
    assert parse_site_id(sid.lower().replace("-", " ")) == sid
    raw = sid.replace("-", "")
    no_checks = "".join(raw[i:i + 13] for i in range(0, 56, 14))
    assert parse_site_id(no_checks) == sid
    # Every single-character typo is caught by the check characters.
    for pos in range(0, 56, 5):
        c = raw[pos]
        wrong = raw[:pos] + ("A" if c != "A" else "B") + raw[pos + 1:]
        with pytest.raises(BadSiteId):
            parse_site_id(wrong)
    for bad in ("", "hello", sid + "A", sid.replace(sid[0], "!", 1)):
        with pytest.raises(BadSiteId):
            parse_site_id(bad)


def test_codec_round_trip_and_rules() -> None:
    msg = decode(encode("offload.cancel", 3, {"offload": "k", "reason": "r"}, key="abc"))
    assert msg.type == "offload.cancel" and msg.seq == 3 and msg.key == "abc"
    with pytest.raises(MessageRejected) as e:
        decode(encode("ping", 1, {"t": 1.0}, key="k"))
    assert e.value.code == "malformed"
    s = Session(TokenBucket(rate=1.0, burst=2.0))
    with pytest.raises(MessageRejected, match="before hello"):
        s.accept(encode("ping", 1, {"t": 1.0}))
    s.accept(encode("hello", 2, {"name": "x", "versions": [1]}))
    with pytest.raises(MessageRejected) as e:
        s.accept(encode("ping", 3, {"t": 1.0}))
    assert e.value.code == "rate_limited"  # the burst of 2 is used up: a rejected message counts too


def test_config_from_the_sites_table(tmp_path) -> None:
    from app.core.config import load_config
    from app.core.domain.errors import ConfigError

    (tmp_path / "config.toml").write_text('[sites]\nport = 5000\nepsilon = 0.3\n', encoding="utf-8")
    cfg = SitesConfig.from_config(load_config(str(tmp_path), env={}))
    assert cfg.port == 5000 and cfg.epsilon == 0.3
    (tmp_path / "config.toml").write_text('[sites]\nepsilon = -1\n', encoding="utf-8")
    with pytest.raises(ConfigError):
        SitesConfig.from_config(load_config(str(tmp_path), env={}))


def test_sites_find_each_other_on_the_lan(tmp_path) -> None:
    async def go():
        bus_a, bus_b = EventBus(), EventBus()
        found: list[SiteFound] = []
        bus_a.subscribe(SiteFound, found.append)
        a = load_or_create_identity(tmp_path / "a", "a")
        b = load_or_create_identity(tmp_path / "b", "b")
        da = SiteDiscovery(a.site_id, "alpha", 41001, bus_a, LOOPBACK, SITE_TYPE)
        db = SiteDiscovery(b.site_id, "beta", 41002, bus_b, LOOPBACK, SITE_TYPE)
        await da.start()
        await db.start()
        try:
            for _ in range(200):
                if any(f.site_id == b.site_id for f in found):
                    break
                await asyncio.sleep(0.05)
        finally:
            await da.stop()
            await db.stop()
            await bus_a.close()
            await bus_b.close()
        hit = next(f for f in found if f.site_id == b.site_id)
        assert hit.address == "127.0.0.1:41002" and hit.name == "beta"
        assert all(f.site_id != a.site_id for f in found)  # never itself
        assert {f.site_id for f in found} == {b.site_id}  # this run's service type: no other run's sites

    asyncio.run(asyncio.wait_for(go(), 30))
