"""The marketplace between two sites on 127.0.0.1 (real TLS, real stores): publish, browse, quote, order through a
link cut in the middle, the job with its file arrives once, status and rating flow back, both ledgers agree, and
the seller's quality shows beside its offers."""

from __future__ import annotations

import asyncio
import csv
import io
from uuid import UUID

import pytest

from app.core.domain.enums import JobState
from app.core.domain.errors import ValidationError

from .test_sites_offload import _move
from .test_sites_support import FDM, CutProxy, SiteRig, wait_for


def _ledger(rig: SiteRig) -> set[tuple]:
    return set(rig.rows("select order_key, entry, amount, currency from market_ledger"))


async def _linked(tmp_path, db_urls):
    seller = await SiteRig(tmp_path, "maker", db_url=db_urls()).start()
    buyer = await SiteRig(tmp_path, "studio", db_url=db_urls()).start()
    proxy = await CutProxy(seller.port).start()
    await seller.core.fleet.register("P-S", FDM, bring_up=True)
    await buyer.core.fleet.register("P-B", FDM, bring_up=True)
    await buyer.sites.admin.pair(seller.id, proxy.address, "maker")  # the buyer dials through the proxy
    await seller.sites.admin.accept(buyer.id, name="studio")
    await wait_for(lambda: buyer.sites.link(seller.id) is not None, what="link")
    return seller, buyer, proxy


def test_publish_browse_quote_order_rate_and_ledgers_agree_through_a_cut(tmp_path, db_urls, shared) -> None:
    cube = shared / "data" / "meshes" / "20mm-xyz-cube.stl"

    async def go():
        seller, buyer, proxy = await _linked(tmp_path, db_urls)
        sm, bm = seller.sites.market, buyer.sites.market
        try:
            offer = await sm.publish("capacity", "FDM in PLA", ["studio"], process="fdm", material="pla",
                                     per_hour=12, per_part=1.5, lead_time_h=48)
            await sm.publish("capacity", "resin", ["studio"], process="sla", material="resin", per_part=9)
            assert offer["version"] == 1 and offer["to_sites"] == [buyer.id]
            await wait_for(lambda: len(seller.rows("select 1 from site_outbox where acked_at is null")) == 0,
                           what="offers delivered")
            seen = await bm.offers()
            assert {o["name"] for o in seen} == {"FDM in PLA", "resin"}
            assert seen[0]["site_name"] == "maker" and seen[0]["quality"] is None  # no history yet
            assert [o["name"] for o in await bm.offers("pla")] == ["FDM in PLA"]
            assert await sm.offers() == []  # the seller is offered nothing

            job = await buyer.core.jobs.submit({"name": "housings", "parts": [
                {"name": "cube", "process": "fdm", "material": "pla", "file": str(cube), "quantity": 3},
                {"name": "lid", "process": "fdm", "material": "pla", "size": [30, 30, 4]}]})
            refused = await bm.ask_quote("resin", job)  # an offer for another process is refused, saying why
            quote = await bm.ask_quote("FDM in PLA", job)
            assert quote["state"] == "QUOTE_ASKED"

            async def state(ref: str) -> str:
                return (await bm.find_order(ref))["state"]

            await wait_for(lambda: state(quote["key"]), what="quote")
            await wait_for(lambda: _is(state(quote["key"]), "QUOTED"), what="quoted")
            await wait_for(lambda: _is(state(refused["key"]), "REFUSED"), what="refused")
            assert "for sla" in (await bm.find_order(refused["key"]))["reason"]
            q = await bm.find_order(quote["key"])
            hours = sum(p.estimated_duration_s * p.quantity for p in job.parts) / 3600
            assert q["amount"] == pytest.approx(1.5 * 4 + 12 * hours, abs=0.01) and q["currency"] == "EUR"
            with pytest.raises(ValidationError, match="job that was quoted"):
                await bm.order(quote["key"], await buyer.core.jobs.submit({"name": "other", "parts": [
                    {"name": "x", "process": "fdm", "material": "pla", "size": [5, 5, 5]}]}))

            # The link goes down as the order is placed, and again while its file travels.
            proxy.up = False
            proxy.cut()
            placed = await bm.order(quote["key"], await buyer.core.jobs.get(job.id))
            assert placed["state"] == "ORDERED" and placed["offload_key"]
            with pytest.raises(ValidationError, match="ORDERED"):
                await bm.order(quote["key"], await buyer.core.jobs.get(job.id))  # not twice
            await asyncio.sleep(0.3)
            proxy.up = True
            await wait_for(lambda: seller.rows("select count(*) from site_inbox where type='file.chunk'")[0][0] >= 1,
                           what="the file on its way")
            proxy.cut()
            await wait_for(lambda: seller.rows("select count(*) from jobs")[0][0] == 1, timeout=30, what="the job")
            (job_id, path), = seller.rows("select j.id, p.file_path from jobs j join parts p on p.job_id = j.id "
                                          "where p.name = 'cube'")
            assert open(path, "rb").read() == cube.read_bytes()
            sold = await sm.find_order(quote["key"], "sell")
            assert sold["key"] == quote["key"] and sold["job_id"] == job_id and sold["amount"] == q["amount"]

            # The seller makes it; the status flows back and the buyer's order and job follow.
            await _move(seller, UUID(job_id), JobState.COMPLETED)
            await wait_for(lambda: _is(state(quote["key"]), "COMPLETED"), timeout=30, what="done at the buyer")
            await wait_for(lambda: _is(_job_state(buyer, job.id), JobState.COMPLETED), what="the buyer's job follows")
            rated = await bm.rate(quote["key"], 5, "clean parts, early")
            assert rated["rating"] == 5
            with pytest.raises(ValidationError, match="rated already"):
                await bm.rate(quote["key"], 1)
            await wait_for(lambda: seller.rows(f"select rating from market_orders where key='{quote['key']}'")
                           == [(5,)], what="the rating at the seller")

            # Both ledgers hold the same entries; the job was made once.
            await wait_for(lambda: _ledger(seller) == _ledger(buyer) and _ledger(buyer), what="ledgers agree")
            assert _ledger(buyer) == {(quote["key"], "ordered", q["amount"], "EUR")}
            assert seller.rows("select count(*) from jobs") == [(1,)]
            rows = list(csv.DictReader(io.StringIO(await bm.ledger_csv())))
            assert [(r["order"], r["entry"], r["side"], r["site"], r["amount"]) for r in rows] == \
                [(quote["key"], "ordered", "buy", "maker", f"{q['amount']:.2f}")]

            # The seller's record shows beside its offers.
            quality = (await bm.offers("pla"))[0]["quality"]
            assert quality == {"jobs_sent": 1, "jobs_ended": 1, "failure_rate": 0.0, "on_time_rate": 1.0,
                               "avg_delay_h": 0.0, "rating": 5.0, "ratings": 1}
        finally:
            await proxy.stop()
            await buyer.stop()
            await seller.stop()

    asyncio.run(asyncio.wait_for(go(), 180))


async def _is(value, want) -> bool:
    return (await value) == want


def test_a_cancelled_order_is_reversed_in_both_ledgers_and_a_withdrawn_offer_is_gone(tmp_path, db_urls) -> None:
    async def go():
        seller, buyer, proxy = await _linked(tmp_path, db_urls)
        sm, bm = seller.sites.market, buyer.sites.market
        try:
            await sm.publish("capacity", "FDM", ["studio"], process="fdm", per_part=2)
            await wait_for(lambda: _count(bm.offers(), 1), what="offer")
            job = await buyer.core.jobs.submit({"name": "j", "parts": [
                {"name": "p", "process": "fdm", "material": "petg", "size": [10, 10, 10]}]})
            quote = await bm.ask_quote("FDM", job)
            await wait_for(lambda: _is(_state(bm, quote["key"]), "QUOTED"), what="quoted")
            await bm.order(quote["key"], await buyer.core.jobs.get(job.id))
            await wait_for(lambda: seller.rows("select count(*) from market_ledger") == [(1,)], what="sold")
            await buyer.core.jobs.cancel(job.id, actor="operator")  # the cancel follows the job over
            await wait_for(lambda: _is(_state(bm, quote["key"]), "CANCELLED"), timeout=30, what="cancelled")
            want = {(quote["key"], "ordered", 2.0, "EUR"), (quote["key"], "reversed", -2.0, "EUR")}
            await wait_for(lambda: _ledger(seller) == want == _ledger(buyer), timeout=30, what="both reversed")
            with pytest.raises(ValidationError, match="once it is done"):
                await bm.rate(quote["key"], 3)
            await sm.withdraw("FDM")
            await wait_for(lambda: _count(bm.offers(), 0), what="withdrawn")
        finally:
            await proxy.stop()
            await buyer.stop()
            await seller.stop()

    asyncio.run(asyncio.wait_for(go(), 120))


async def _count(rows, n: int) -> bool:
    return len(await rows) == n


async def _state(market, key: str) -> str:
    return (await market.find_order(key))["state"]


async def _job_state(rig: SiteRig, job_id) -> JobState:
    return (await rig.core.jobs.get(job_id)).state
