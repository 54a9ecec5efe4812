"""The Catalogue tab as a real Qt widget on a real store: templates (built-in and OpenSCAD), a playbook, part
files and an offer a linked site published, searched and filtered; thumbnails drawn; a template made with
parameters for Design review; bad parameters in one line; the catalogue exported to one file and imported into
another site."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from app.bootstrap import build_store_core  # noqa: E402
from app.core.catalog import playbooks, templates  # noqa: E402
from app.core.catalog.browse import Catalogue  # noqa: E402
from app.core.config import load_config  # noqa: E402
from app.core.domain.errors import ValidationError  # noqa: E402
from app.core.sites import market_repo  # noqa: E402
from app.core.sites.admin import SiteAdmin  # noqa: E402
from app.core.sites.identity import load_or_create_identity  # noqa: E402
from app.core.sites.market import Market  # noqa: E402
from app.ui.catalogue_panel import CataloguePanel  # noqa: E402

from .test_catalogue import SCAD, readme_playbook  # noqa: E402

OTHER = "AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-GGGGGGG-HHHHHHH"
OFFER = {"id": "0b6f3f3e-5d0c-4a53-9a7e-1f7d6f0c2a11", "kind": "capacity", "name": "Night shift SLA",
         "process": "sla", "material": "resin-tough", "price_per_hour": 9.5, "price_per_part": None,
         "currency": "EUR", "lead_time_h": 24.0, "item": {}, "version": 2, "withdrawn": False}


async def _wait(pred, what: str, timeout: float = 20.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _settled(panel: CataloguePanel) -> None:
    await asyncio.sleep(0)
    if panel._load_task is not None:  # noqa: SLF001 - the reload the change started
        await panel._load_task  # noqa: SLF001


def _site(home: Path, shared: Path | None = None):
    core = build_store_core(load_config(str(home)))
    identity = load_or_create_identity(home / "keys", "here")
    market = Market(SiteAdmin(core.store, core.clock, identity))
    return core, Catalogue(core.store, home, market.offers)


def test_catalogue_panel_lists_searches_draws_previews_and_moves_one_file(qtbot, tmp_path: Path, shared) -> None:
    home = tmp_path / "home"
    core, cat = _site(home)
    files = templates.files_dir(home)
    files.mkdir(parents=True)
    shutil.copy(shared / "data" / "meshes" / "20mm-xyz-cube.stl", files / "cube.stl")
    scad = tmp_path / "tag.scad"
    scad.write_text(SCAD, encoding="utf-8")
    panel = CataloguePanel(cat)
    qtbot.addWidget(panel)
    panel.resize(1300, 650)
    panel.show()
    previews: list[str] = []
    panel.preview.connect(previews.append)

    async def go() -> None:
        await templates.add_scad(core.store, scad, "a name tag")
        await playbooks.add(core.store, readme_playbook())
        with core.store.begin() as conn:  # an offer a linked site published to this one
            market_repo.put_offer(conn, OTHER, OFFER, [], 1.0)
        await panel.load()
        kinds = [i.kind for i in panel.items]
        assert kinds.count("template") == 5 and kinds.count("playbook") == 1
        assert kinds.count("part") == 1 and kinds.count("offer") == 1
        assert "5 templates, 1 playbook, 1 part file, 1 offer" == panel.status.text()
        names = {i.name: n for n, i in enumerate(panel.items)}
        # thumbnails: the part file and the built-in templates (made once with their defaults) are drawn
        await _wait(lambda: {i.file for i in panel.items if i.name in ("cube.stl", "box")} <= set(panel._thumbs)
                    and None not in {i.file for i in panel.items if i.name in ("cube.stl", "box")},
                    "thumbnails")  # noqa: SLF001
        assert not panel.list.item(names["box"]).icon().pixmap(64).toImage().pixelColor(32, 32).alpha() == 0
        if shutil.which("openscad") is None:  # the OpenSCAD template says why it has no picture
            await _wait(lambda: "no_picture" in panel.items[names["tag"]].extra, "the tag's note")
            panel.list.setCurrentRow(names["tag"])
            assert "OpenSCAD is not installed" in panel.facts.text()
        # the offer: its site, price and record, no preview button
        panel.list.setCurrentRow(names["Night shift SLA"])
        assert "9.5 EUR/h" in panel.facts.text() and "no jobs sent yet" in panel.facts.text()
        assert panel.preview_button.isHidden()

        # search and filter
        panel.search.setText("spacer")  # each change reloads the list
        await _settled(panel)
        assert [i.name for i in panel.items] == ["spacer"]
        panel.search.setText("no such thing")
        await _settled(panel)
        assert panel.list.isHidden() and "Nothing matches" in panel.empty.text()
        panel.search.setText("")
        panel.kind.setCurrentText("Offers from linked sites")
        await _settled(panel)
        assert [i.name for i in panel.items] == ["Night shift SLA"]
        panel.kind.setCurrentText("Templates")
        await _settled(panel)

        # a template made with parameters, for Design review: no job is made
        panel.list.setCurrentRow([i.name for i in panel.items].index("box"))
        assert not panel.params.isHidden() and panel.preview_button.text() == "Preview in Design review"
        panel.params.setText("length=40 width=30 height=12")
        made = await panel.make_preview()
        assert previews == [made] and Path(made).is_file() and "40 × 30 × 12 mm" in panel.status.text()
        panel.params.setText("length=-3")
        with pytest.raises(ValidationError, match="length"):
            await panel.make_preview()

        # one file out, into another site, and a file that is not a catalogue
        out = tmp_path / "catalogue.json"
        n = await panel.export_to(out)
        assert n == {"templates": 1, "playbooks": 1} and json.loads(out.read_text())["format"] == "imewe-catalogue"
        core2, cat2 = _site(tmp_path / "other")
        other = CataloguePanel(cat2)
        qtbot.addWidget(other)
        assert await other.import_from(out) == {"added": 2, "unchanged": 0}
        assert {"tag", "resin bracket on a plate"} <= {i.name for i in other.items}
        assert await other.import_from(out) == {"added": 0, "unchanged": 2}  # nothing new twice
        bad = tmp_path / "bad.json"
        bad.write_text('{"format": "imewe-catalogue", "version": 1, "templates": [{"name": "box", '
                       '"definition": {"kind": "openscad", "source": "x = 1;"}}]}')
        with pytest.raises(ValidationError, match="built-in"):
            await other.import_from(bad)
        core2.store.close()

    try:
        asyncio.run(go())
    finally:
        core.store.close()


def test_catalogue_panel_comments_and_presence_on_an_offer_between_two_sites(qtbot, tmp_path: Path, db_urls) -> None:
    from app.ui.catalogue_panel import _user

    from .test_market_flow import _linked
    from .test_sites_support import wait_for

    async def go() -> None:
        seller, buyer, proxy = await _linked(tmp_path, db_urls)
        try:
            await seller.sites.market.publish("capacity", "FDM in PLA", ["studio"], process="fdm", per_hour=12)
            cat = Catalogue(buyer.core.store, buyer.home, buyer.sites.market.offers, social=buyer.sites)
            panel = CataloguePanel(cat)
            qtbot.addWidget(panel)
            panel.show()
            panel.kind.setCurrentText("Offers from linked sites")
            await wait_for(lambda: _load_count(panel, 1), what="the offer in the panel")
            panel.list.setCurrentRow(0)
            assert not panel.comment_row.isHidden() and not panel.discussion.isHidden()
            # the seller sees who looks at its offer at the buyer's site
            await wait_for(lambda: _viewers(seller, "FDM in PLA", [_user()]), what="presence at the seller")
            await wait_for(lambda: "No comments yet" in panel.discussion.text(), what="the empty state")
            panel.comment_text.setText("Can you print it in black?")
            await panel.send_comment()
            await wait_for(lambda: _count(seller.sites.market.comments("FDM in PLA"), 1), what="comment at seller")
            await seller.sites.market.comment("FDM in PLA", "bo", "Yes, black PLA is loaded.")
            await seller.sites.view("FDM in PLA", "bo")

            async def shown() -> bool:
                await panel.refresh_social()
                return "bo (maker" in panel.discussion.text() and "bo at maker" in panel.viewing_now.text()

            await wait_for(shown, what="the answer and bo's presence in the panel")
            assert f"{_user()} (this site" in panel.discussion.text()
            panel.kind.setCurrentText("Templates")  # another item: the seller is told we stopped looking
            await wait_for(lambda: panel.current() is not None and panel.current().kind == "template", what="list")
            await wait_for(lambda: _viewers(seller, "FDM in PLA", []), what="presence cleared")
            panel.kind.setCurrentText("Offers from linked sites")  # looking again, then the tab is left
            await wait_for(lambda: _viewers(seller, "FDM in PLA", [_user()]), what="presence again")
            panel.hide()
            await panel.refresh_social()
            await wait_for(lambda: _viewers(seller, "FDM in PLA", []), what="presence cleared with the tab")
        finally:
            await proxy.stop()
            await buyer.stop()
            await seller.stop()

    asyncio.run(asyncio.wait_for(go(), 120))


async def _load_count(panel: CataloguePanel, n: int) -> bool:
    await panel.load()
    return len(panel.items) == n


async def _viewers(rig, ref: str, who: list[str]) -> bool:
    return [v["who"] for v in await rig.sites.viewers(ref)] == who


async def _count(rows, n: int) -> bool:
    return len(await rows) == n


def test_catalogue_panel_quote_order_and_rate_between_two_sites(qtbot, tmp_path: Path, db_urls) -> None:
    from uuid import UUID

    from app.core.domain.enums import JobState

    from .test_market_flow import _linked
    from .test_sites_offload import _move
    from .test_sites_support import wait_for

    async def go() -> None:
        seller, buyer, proxy = await _linked(tmp_path, db_urls)
        try:
            await seller.sites.market.publish("capacity", "FDM in PLA", ["studio"], process="fdm", per_part=2.5)
            job = await buyer.core.jobs.submit({"name": "clips", "parts": [
                {"name": "clip", "process": "fdm", "material": "pla", "size": [20, 10, 5], "quantity": 4}]})
            cat = Catalogue(buyer.core.store, buyer.home, buyer.sites.market.offers, social=buyer.sites,
                            market=buyer.sites.market, jobs=buyer.core.jobs)
            panel = CataloguePanel(cat)
            qtbot.addWidget(panel)
            panel.show()
            panel.kind.setCurrentText("Offers from linked sites")
            await wait_for(lambda: _load_count(panel, 1), what="the offer")
            panel.list.setCurrentRow(0)
            assert not panel.quote_row.isHidden() and panel.order_button.isHidden()
            await wait_for(lambda: panel.jobs_box.findData(str(job.id)) >= 0, what="the job to quote")
            panel.jobs_box.setCurrentIndex(panel.jobs_box.findData(str(job.id)))
            q = await panel.ask_quote()
            assert "Quotes and orders" in panel.status.text()
            panel.kind.setCurrentText("Quotes and orders")

            async def quoted() -> bool:
                await panel.load()
                return bool(panel.items) and panel.items[0].extra["order"]["state"] == "QUOTED"

            await wait_for(quoted, what="the quote in the panel")
            panel.list.setCurrentRow(0)
            assert not panel.order_button.isHidden() and panel.order_button.text() == "Order at 10.00 EUR"
            assert "quoted; 10.00 EUR" in panel.facts.text()
            placed = await panel.place_order()
            assert placed["state"] == "ORDERED" and panel.order_button.isHidden()
            await wait_for(lambda: seller.rows("select job_id from market_orders where state <> 'QUOTED'"),
                           what="the order at the seller")
            (job_id,), = seller.rows(f"select job_id from market_orders where key = '{q['key']}'")
            await _move(seller, UUID(job_id), JobState.COMPLETED)

            async def done() -> bool:
                await panel._reload_keeping(q["key"])  # noqa: SLF001 - what a refresh does
                return panel.current().extra["order"]["state"] == "COMPLETED"

            await wait_for(done, timeout=30, what="completed in the panel")
            assert not panel.rate_row.isHidden()
            panel.stars.setCurrentText("4 stars")
            panel.rating_note.setText("on time")
            await panel.rate()
            assert panel.rate_row.isHidden() and "rated 4/5" in panel.facts.text()
            await wait_for(lambda: seller.rows(f"select rating, rating_note from market_orders where key='{q['key']}'")
                           == [(4, "on time")], what="the rating at the seller")
        finally:
            await proxy.stop()
            await buyer.stop()
            await seller.stop()

    asyncio.run(asyncio.wait_for(go(), 120))
