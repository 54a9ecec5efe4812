"""Comments and presence on what two linked sites share in the marketplace (an offer, an order), on 127.0.0.1:
comments from either side arrive once with who and when; who is looking at an item now shows at the other site
and clears when they stop or go silent; comments and presence notes about anything not shared are refused."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.core.domain.errors import ValidationError
from app.core.sites.presence import TTL_S

from .test_market_flow import _linked
from .test_sites_support import wait_for


def test_comments_and_presence_on_an_offer_and_an_order(tmp_path, db_urls) -> None:
    async def go():
        seller, buyer, proxy = await _linked(tmp_path, db_urls)
        sm, bm = seller.sites.market, buyer.sites.market
        try:
            offer = await sm.publish("capacity", "FDM in PLA", ["studio"], process="fdm", material="pla", per_hour=12)
            await wait_for(lambda: _n(bm.offers(), 1), what="the offer at the buyer")
            await bm.comment("FDM in PLA", "ana", "Can you do 0.1 mm layers?")
            await wait_for(lambda: _n(sm.comments("FDM in PLA"), 1), what="the buyer's comment at the seller")
            await sm.comment(offer["id"][:8], "bo", "Yes, at the same price.")
            await wait_for(lambda: _n(bm.comments("FDM in PLA"), 2), what="the answer at the buyer")
            there, here = await sm.comments("FDM in PLA"), await bm.comments("FDM in PLA")
            assert [(c["author"], c["text"]) for c in there] == [(c["author"], c["text"]) for c in here] == [
                ("ana", "Can you do 0.1 mm layers?"), ("bo", "Yes, at the same price.")]
            assert [c["site_name"] for c in here] == ["this site", "maker"]
            assert [c["site_name"] for c in there] == ["studio", "this site"]
            assert here[0]["at"] <= here[1]["at"] <= time.time()
            with pytest.raises(ValidationError, match="1 to 5000"):
                await bm.comment("FDM in PLA", "ana", "  ")

            # an order (a quote asked) is shared too
            job = await buyer.core.jobs.submit({"name": "j", "parts": [
                {"name": "p", "process": "fdm", "material": "pla", "size": [10, 10, 10]}]})
            q = await bm.ask_quote("FDM in PLA", job)
            await wait_for(lambda: seller.rows(f"select 1 from market_orders where key='{q['key']}'"), what="asked")
            await sm.comment(q["key"][:8], "bo", "Quoted with a 10 % discount")
            await wait_for(lambda: _n(bm.comments(q["key"][:8]), 1), what="the order comment")

            # presence: ana looks at the offer at studio; maker sees it, then not
            assert await buyer.sites.view("FDM in PLA", "ana") == 1
            await wait_for(lambda: _who(seller.sites.viewers("FDM in PLA"), ["ana"]), what="ana seen at maker")
            (v,) = await seller.sites.viewers("FDM in PLA")
            assert v["site_name"] == "studio" and v["seconds_ago"] < 5
            await buyer.sites.view("FDM in PLA", "ana", viewing=False)
            await wait_for(lambda: _who(seller.sites.viewers("FDM in PLA"), []), what="ana gone")
            await buyer.sites.view("FDM in PLA", "carl")
            await wait_for(lambda: _who(seller.sites.viewers("FDM in PLA"), ["carl"]), what="carl seen")
            subject = f"offer:{offer['id']}"
            assert seller.sites.presence.viewers(subject, time.monotonic() + TTL_S + 1) == []  # silent: forgotten

            # a comment or presence note about something not shared is refused; nothing is kept
            lb = seller.sites.link(buyer.id)
            la = buyer.sites.link(seller.id)
            before, errors = _market_rows(seller), lb.errors_sent
            await la.send("market.comment", {"subject": "offer:0b6f3f3e-5d0c-4a53-9a7e-1f7d6f0c2a11",
                                             "author": "x", "text": "hi", "at": 1.0}, key="c-unknown")
            await la.send("market.comment", {"subject": "template:box", "author": "x", "text": "hi", "at": 1.0},
                          key="c-kind")
            await la.send("presence", {"subject": "order:nope", "who": "eve", "viewing": True})
            await wait_for(lambda: lb.errors_sent >= errors + 3, what="three refusals")
            assert _market_rows(seller) == before
            assert seller.sites.presence.viewers("order:nope") == []
        finally:
            await proxy.stop()
            await buyer.stop()
            await seller.stop()

    asyncio.run(asyncio.wait_for(go(), 120))


async def _n(rows, n: int) -> bool:
    return len(await rows) == n


async def _who(rows, names: list[str]) -> bool:
    return [r["who"] for r in await rows] == names


def _market_rows(rig) -> dict:
    """What a refused comment could have written (the link's own bookkeeping moves on meanwhile)."""
    d = rig.dump()
    return {k: v for k, v in d.items() if k.startswith("market_") or k == "site_inbox"}
