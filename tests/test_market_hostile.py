"""Hostile and malformed marketplace and file messages from a linked site: each refused with a clear error, the
link stays up, and nothing stored changes; a forged order or a bad file list refuses the job, saying why. A
hypothesis fuzz feeds the new message types to the protocol and the handlers on a real store."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import string
import time
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.clock import SystemClock
from app.core.sites.admin import SiteAdmin
from app.core.sites.errors import MessageRejected
from app.core.sites.files import store_chunk
from app.core.sites.identity import load_or_create_identity
from app.core.sites.market import Market
from app.core.sites.presence import Presence
from app.core.sites.protocol import check_body, decode, encode
from app.core.store.db import open_store

from .test_sites_support import FDM, SiteRig, wait_for

UUID1 = "0b6f3f3e-5d0c-4a53-9a7e-1f7d6f0c2a11"
OFFER = {"id": UUID1, "kind": "capacity", "name": "fdm", "process": "fdm", "material": "pla", "price_per_hour": 1.0,
         "price_per_part": None, "currency": "EUR", "lead_time_h": None, "item": {}, "version": 1,
         "withdrawn": False}
PIECE = b"solid x\nendsolid x\n"
CHUNK = {"sha256": hashlib.sha256(PIECE).hexdigest(), "size": len(PIECE), "pos": 0,
         "data": base64.b64encode(PIECE).decode(), "chunk_sha256": hashlib.sha256(PIECE).hexdigest()}


def test_bad_market_and_file_messages_are_refused_and_change_nothing(tmp_path, db_urls) -> None:
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
            before = b.dump()
            bad = [
                *[("market.offers", {"offers": [OFFER | bad]}) for bad in (
                    {"id": "not-a-uuid"}, {"item": {"rm": "-rf"}},  # capacity carries no item
                    {"price_per_hour": None},  # no price
                    {"price_per_hour": -5}, {"currency": "euro"}, {"kind": "weapon"}, {"evil": 1},
                    {"name": "x" * 201}, {"version": 0})],
                ("market.offers", {"offers": [OFFER, "not an offer"]}),
                ("market.offers", {"offers": [OFFER, OFFER]}),  # the same offer twice
                ("market.offers", {"offers": [OFFER] * 101}),  # over a page
                ("market.offers", {"offers": OFFER}),
                ("market.quote.ask", {"quote": "q1", "offer": UUID1, "job_name": "j", "parts": 1, "hours": 1.0,
                                      "processes": [{"x": 1}], "materials": []}),
                ("market.quote.ask", {"quote": "q1", "offer": UUID1, "job_name": "j", "parts": 0, "hours": 1.0,
                                      "processes": [], "materials": []}),
                ("market.quote", {"quote": "nope", "state": "QUOTED", "amount": 1.0, "currency": "EUR",
                                  "valid_until": 1e12, "reason": ""}),  # no such quote asked
                ("market.quote", {"quote": "nope", "state": "QUOTED", "amount": None, "currency": "EUR",
                                  "valid_until": 1e12, "reason": ""}),
                ("market.rating", {"order": "nope", "stars": 5, "note": ""}),
                ("market.rating", {"order": "nope", "stars": 6, "note": ""}),
                ("file.chunk", CHUNK | {"data": "!!!not base64"}),
                ("file.chunk", CHUNK | {"pos": 7}),
                ("file.chunk", CHUNK | {"size": 10**12}),
                ("file.chunk", CHUNK | {"sha256": "Z" * 64}),
                ("file.chunk", CHUNK | {"chunk_sha256": "0" * 64}),  # damaged on the way
            ]
            for n, (type_, body) in enumerate(bad):
                await la.send(type_, body, key=f"bad-{n}")
            await wait_for(lambda: lb.errors_sent >= len(bad), what="one refusal per bad message")
            assert lb.errors_sent == len(bad)
            assert a.sites.link(b.id) is la and b.sites.link(a.id) is lb  # the link stays
            assert b.dump() == before

            # A forged order (no quote of beta's) and a bad file list: the job is refused, with the reason.
            spec = {"name": "forged", "parts": [{"name": "p", "process": "fdm", "material": "pla",
                                                 "size_mm": [10, 10, 10]}]}
            await la.send("offload.request", {"name": "forged", "spec": spec, "parts": [0],
                                              "order": {"quote": "deadbeef", "amount": 0.01, "currency": "EUR"}},
                          key="forged-order")
            await la.send("offload.request", {"name": "bad files", "spec": spec, "parts": [0],
                                              "files": [{"part": 5, "name": "../../etc/passwd", "sha256": "0" * 64,
                                                         "size": 1}]}, key="bad-files")
            await wait_for(lambda: len(b.rows("select key from site_offloads")) == 2, what="both refused")
            reasons = dict(b.rows("select key, reason from site_offloads where state = 'REJECTED'"))
            assert "no quote 'deadbeef'" in reasons["forged-order"]
            assert "files:" in reasons["bad-files"]
            assert b.rows("select count(*) from jobs") == [(0,)]
            assert b.rows("select count(*) from market_ledger") == [(0,)]
            assert b.rows("select count(*) from market_orders") == [(0,)]
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(asyncio.wait_for(go(), 120))


# ---------------------------------------------------------------- fuzz: protocol and handlers on a real store
_text = st.text(string.printable, max_size=50)
_value = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | _text,
                      lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_text, kids, max_size=3),
                      max_leaves=8)
SEEDS = {
    "market.offers": {"offers": [OFFER]},
    "market.quote.ask": {"quote": "q1", "offer": UUID1, "job_name": "j", "parts": 2, "hours": 1.5,
                         "processes": ["fdm"], "materials": ["pla"]},
    "market.quote": {"quote": "q1", "state": "QUOTED", "amount": 3.0, "currency": "EUR", "valid_until": 1e12,
                     "reason": ""},
    "market.rating": {"order": "q1", "stars": 4, "note": "ok"},
    "file.chunk": CHUNK,
    "market.comment": {"subject": f"offer:{UUID1}", "author": "ana", "text": "hi", "at": 1.0},
    "presence": {"subject": f"offer:{UUID1}", "who": "ana", "viewing": True},
}


@st.composite
def mutated_body(draw):
    type_ = draw(st.sampled_from(sorted(SEEDS)))
    body = dict(SEEDS[type_])
    target = body
    if type_ == "market.offers" and draw(st.booleans()):  # mutate the offer inside the page
        target = dict(OFFER)
        body = {"offers": [target]}
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from([*target, "extra"]))
        if draw(st.booleans()):
            target.pop(field, None)
        else:
            target[field] = draw(_value)
    return type_, body


def _snapshot(store) -> list:
    with store.connect() as conn:
        return [sorted(map(repr, conn.execute(sa.text(f"select * from {t}"))))
                for t in ("market_offers", "market_orders", "market_ledger", "site_file_chunks", "site_inbox",
                          "site_outbox")]


def test_fuzzed_market_and_file_messages_are_refused_cleanly_or_applied(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'fuzz.sqlite3'}")
    identity = load_or_create_identity(tmp_path / "keys", "fuzz")
    market = Market(SiteAdmin(store, SystemClock(), identity))
    presence = Presence(lambda _sid, _body: asyncio.sleep(0, True))

    def seen(conn, peer: str, key: str, body: dict, now: float) -> None:  # as the handler does it
        if not market.shares(conn, peer, body["subject"]):
            raise MessageRejected("unknown_subject", "not shared")
        presence.seen(peer, body)

    apply = {"market.offers": market.apply_offers, "market.quote.ask": market.apply_quote_ask,
             "market.quote": market.apply_quote, "market.rating": market.apply_rating, "file.chunk": store_chunk,
             "market.comment": market.apply_comment, "presence": seen}
    seq = [0]

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(msg=mutated_body())
    def check(msg) -> None:
        type_, body = msg
        seq[0] += 1
        key = f"k{seq[0]}"
        key = None if type_ == "presence" else key
        try:
            frame = encode(type_, 1, body, key)
        except (ValueError, TypeError):
            return  # not JSON at all: nothing the other site could send
        try:
            m = decode(frame)
            check_body(m.type, m.body, key)
        except MessageRejected:
            return
        before = _snapshot(store)
        try:
            with store.begin() as conn:
                apply[type_](conn, "PEER", key, m.body, time.time())
        except MessageRejected as exc:
            assert str(exc) and _snapshot(store) == before, json.dumps(body)[:200]

    check()
    store.close()
