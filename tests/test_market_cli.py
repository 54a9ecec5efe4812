"""imewe market ... through the real CLI entry point, on two real sites linked on 127.0.0.1: the sites' link
services run in a thread of their own over the same homes the commands use."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import time

from app.cli.main import main

from .test_catalogue import SCAD, readme_playbook
from .test_sites_support import FDM, SiteRig


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


class Sites:
    """Two linked sites, run on an event loop in a background thread."""

    def __init__(self, root) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.seller = SiteRig(root, "maker")
        self.buyer = SiteRig(root, "studio")

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def start(self) -> None:
        await self.seller.start()
        await self.buyer.start()
        await self.seller.core.fleet.register("P-S", FDM, bring_up=True)
        await self.buyer.core.fleet.register("P-B", FDM, bring_up=True)
        await self.buyer.sites.admin.pair(self.seller.id, self.seller.address, "maker")
        await self.seller.sites.admin.accept(self.buyer.id, name="studio")

    async def stop(self) -> None:
        await self.buyer.stop()
        await self.seller.stop()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _until(fn, what: str, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_market_cli_publish_browse_quote_order_ledger(tmp_path, capsys) -> None:
    sites = Sites(tmp_path)
    sites.run(sites.start())
    maker, studio = str(sites.seller.home), str(sites.buyer.home)
    try:
        code, _, err = _run(capsys, "--home", maker, "market", "publish", "capacity", "fdm", "--to", "studio",
                            "--process", "fdm")
        assert code == 2 and "give a price" in err and "Traceback" not in err
        code, _, err = _run(capsys, "--home", maker, "market", "publish", "capacity", "fdm", "--to", "nobody",
                            "--process", "fdm", "--per-hour", "10")
        assert code == 2 and "no linked site" in err
        code, out, _ = _run(capsys, "--home", maker, "market", "publish", "capacity", "FDM PLA", "--to", "studio",
                            "--process", "fdm", "--material", "pla", "--per-hour", "10", "--per-part", "2",
                            "--lead-time", "24")
        assert code == 0 and "10 EUR/h + 2 EUR/part" in out
        # a template and a playbook offered, taken into the buyer's catalogue
        scad = tmp_path / "tag.scad"
        scad.write_text(SCAD, encoding="utf-8")
        assert _run(capsys, "--home", maker, "templates", "add", str(scad))[0] == 0
        book = tmp_path / "book.json"
        book.write_text(json.dumps(readme_playbook()))
        assert _run(capsys, "--home", maker, "playbooks", "add", str(book))[0] == 0
        for kind, name in (("template", "tag"), ("playbook", readme_playbook()["name"]), ("template", "box")):
            code, out, err = _run(capsys, "--home", maker, "market", "publish", kind, name, "--per-part", "3",
                                  "--to", "studio")
            assert code == 0, err
        _until(lambda: len(json.loads(_run(capsys, "--home", studio, "--json", "market", "offers")[1])) == 4,
               "the template and playbook offers")
        code, out, _ = _run(capsys, "--home", studio, "market", "take", "tag")
        assert code == 0 and "template tag: version 1 added" in out
        code, out, _ = _run(capsys, "--home", studio, "market", "take", "tag")
        assert code == 0 and "unchanged" in out
        code, out, _ = _run(capsys, "--home", studio, "market", "take", readme_playbook()["name"])
        assert code == 0 and "playbook" in out and "added" in out
        code, _, err = _run(capsys, "--home", studio, "market", "take", "box")
        assert code == 2 and "built-in" in err
        code, _, err = _run(capsys, "--home", studio, "market", "take", "FDM PLA")
        assert code == 2 and "only a template or playbook" in err
        code, out, _ = _run(capsys, "--home", studio, "--json", "templates", "show", "tag")
        assert code == 0 and json.loads(out)["source"] == SCAD
        offers_file = tmp_path / "offers.json"
        many = [{"kind": "capacity", "name": "CNC alu", "process": "cnc_mill", "material": "aluminium",
                 "per_hour": 45}, {"kind": "capacity", "name": "laser", "process": "laser"}]
        offers_file.write_text(json.dumps(many))
        code, _, err = _run(capsys, "--home", maker, "market", "publish", "--file", str(offers_file), "--to", "studio")
        assert code == 2 and "offer 2 ('laser')" in err and "give a price" in err
        many[1]["per_part"] = 0.8
        offers_file.write_text(json.dumps(many))
        code, out, _ = _run(capsys, "--home", maker, "market", "publish", "--file", str(offers_file), "--to", "studio")
        assert code == 0 and "2 offer(s) published" in out
        code, out, _ = _run(capsys, "--home", maker, "market", "offers", "--mine")
        assert "FDM PLA" in out and "CNC alu" in out and "SITES" in out
        code, out, _ = _run(capsys, "--home", studio, "market", "offers")
        code, out, _ = _run(capsys, "--home", studio, "market", "ledger")
        assert code == 0 and "ledger is empty" in out

        def offers() -> list:
            _, out, _ = _run(capsys, "--home", studio, "--json", "market", "offers", "--search", "fdm pla")
            return json.loads(out)

        (offer,) = _until(offers, "the offer at the buyer")
        assert offer["site_name"] == "maker" and offer["price_per_hour"] == 10
        code, out, _ = _run(capsys, "--home", studio, "market", "comment", "FDM PLA", "Black PLA?", "--author", "ana")
        assert code == 0 and "sent to 1 site(s)" in out
        code, _, err = _run(capsys, "--home", studio, "market", "comment", "no such offer", "hi")
        assert code == 2 and "no offer" in err
        _until(lambda: "ana (studio): Black PLA?" in _run(capsys, "--home", maker, "market", "comments",
                                                          "FDM PLA")[1], "the comment at the seller")
        code, out, _ = _run(capsys, "--home", studio, "--json", "jobs", "submit", "--name", "brackets",
                            "--process", "fdm", "--material", "pla", "--size", "20x20x10", "--quantity", "5")
        job = json.loads(out)["id"]
        code, out, _ = _run(capsys, "--home", studio, "--json", "market", "quote", "FDM PLA", "--job", job[:8])
        assert code == 0
        key = json.loads(out)["key"]

        def quoted() -> dict | None:
            _, out, _ = _run(capsys, "--home", studio, "--json", "market", "orders", "--side", "buy")
            rows = [o for o in json.loads(out) if o["key"] == key and o["state"] == "QUOTED"]
            return rows[0] if rows else None

        q = _until(quoted, "the quote")
        code, out, _ = _run(capsys, "--home", studio, "market", "order", key[:8])
        assert code == 0 and f"{q['amount']:,.2f} EUR" in out and "queued for maker" in out
        code, _, err = _run(capsys, "--home", studio, "market", "order", key[:8])
        assert code == 2 and "ORDERED" in err
        code, _, err = _run(capsys, "--home", studio, "market", "rate", key[:8], "5")
        assert code == 2 and "once it is done" in err

        def sold() -> list:
            _, out, _ = _run(capsys, "--home", maker, "market", "ledger", "--csv", "-")
            return list(csv.DictReader(io.StringIO(out)))

        (row,) = _until(sold, "the order at the seller")
        assert row["order"] == key and row["side"] == "sell" and row["site"] == "studio" and row["entry"] == "ordered"
        (bought,) = _until(lambda: list(csv.DictReader(io.StringIO(
            _run(capsys, "--home", studio, "market", "ledger", "--csv", "-")[1]))), "the buyer's ledger")
        assert bought["amount"] == row["amount"] == f"{q['amount']:.2f}"
        code, out, _ = _run(capsys, "--home", studio, "market", "ledger")
        assert "we owe" in out
        exported = tmp_path / "ledger.csv"
        assert _run(capsys, "--home", maker, "market", "ledger", "--csv", str(exported))[0] == 0
        assert exported.read_text().startswith("at_utc,order,entry")
    finally:
        sites.run(sites.stop())
        sites.close()
