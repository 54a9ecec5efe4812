"""Catalogue and marketplace: template instantiation (built-in; OpenSCAD when the program is installed) next to
reading the mesh it makes; thumbnail drawing per item next to reading the same file; and browsing 1,000 offers a
linked site published: time to the first page and to all of them after the link comes up, and reading a page, next
to a bare websocket round trip and our own link's round trip, all in the same run on 127.0.0.1.

Run from the repo root: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/catalogue.py [--offers 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from sites import Echo, OurLink, pct  # noqa: E402

from app.core.catalog import templates  # noqa: E402
from app.core.estimation import load_part  # noqa: E402
from app.core.store.db import open_store  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MESHES = ROOT.parent / "shared" / "data" / "meshes"
PAGE = 50
SCAD = "width = 20; // [5:100]\ndepth = 10; // [1:50]\ncube([width, depth, 2]);\n"


def _count_offers(conn) -> int:
    import sqlalchemy as sa

    from app.core.store.schema_market import market_offers

    return conn.execute(sa.select(sa.func.count()).select_from(market_offers)).scalar_one()


def _ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:.1f}"


async def instantiation(root: Path, repeats: int) -> list[tuple[str, str, str]]:
    store = open_store(f"sqlite:///{root / 'tpl.sqlite3'}")
    rows = []
    try:
        names = ["box", "plate", "bracket", "spacer"]
        if shutil.which("openscad"):
            scad = root / "tag.scad"
            scad.write_text(SCAD)
            await templates.add_scad(store, scad)
            names.append("tag")
        for name in names:
            made, read = [], []
            for k in range(repeats):
                t = time.perf_counter()
                out = await templates.make(store, root, name, {"quantity": k + 1})
                made.append(time.perf_counter() - t)
                t = time.perf_counter()
                load_part(out["file"])
                read.append(time.perf_counter() - t)
            rows.append((name, _ms(made), _ms(read)))
    finally:
        store.close()
    if not shutil.which("openscad"):
        rows.append(("OpenSCAD template", "not measured", "openscad is not installed here"))
    return rows


def thumbnails(root: Path, repeats: int) -> list[tuple[str, int, str, str]]:
    from PySide6.QtGui import QGuiApplication

    from app.viz.thumbnail import part_thumbnail

    _app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - QImage text and colours want one
    import trimesh

    ball = root / "ball.stl"
    trimesh.creation.icosphere(subdivisions=5, radius=20.0).export(ball)
    files = [MESHES / n for n in ("20mm-xyz-cube.stl", "teapot.stl", "featuretype.STL", "bp_case.stl")
             if (MESHES / n).is_file()] + [ball]
    rows = []
    for f in files:
        n = sum(len(o.triangles) for o in load_part(str(f)).objects)
        draw, read = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            load_part(str(f))
            read.append(time.perf_counter() - t)
            t = time.perf_counter()
            part_thumbnail(str(f), 220)
            draw.append(time.perf_counter() - t)
        rows.append((f.name, n, _ms(draw), _ms(read)))
    return rows


async def browsing(root: Path, n_offers: int) -> dict[str, float]:
    """Seller publishes ``n_offers`` to the buyer while they are not linked yet; the buyer pairs with the seller,
    and we time the link coming up, the first page browsable, and every offer browsable."""
    echo = await Echo().start(root)
    e_rtt = await echo.rtt(300)
    await echo.stop()
    link = await OurLink().start(root / "pair")
    l_rtt = await link.rtt(300)
    await link.stop()

    from app.core.bus import EventBus
    from app.core.clock import SystemClock
    from app.core.fleet.service import FleetService
    from app.core.jobs.service import JobService
    from app.core.sites.config import SitesConfig
    from app.core.sites.identity import load_or_create_identity
    from app.core.sites.service import SitesService

    made = []
    for name in ("maker", "studio"):
        store = open_store(f"sqlite:///{root / name / 'db.sqlite3'}")
        bus, clock = EventBus(), SystemClock()
        fleet = FleetService(store, bus, clock)
        jobs = JobService(store, bus, clock, fleet.list)
        ident = load_or_create_identity(root / name / "keys", name)
        cfg = SitesConfig(name=name, host="127.0.0.1", port=0, discovery=False, heartbeat_s=60, summary_s=1e6,
                          dead_after_s=600)
        svc = SitesService(store, bus, clock, ident, jobs, fleet.list, cfg)
        bus.start()
        await svc.start()
        made.append((svc, store, bus))
    (s, _, _), (b, _, _) = made
    try:
        await s.admin.pair(b.identity.site_id, "", "studio")  # maker allows studio; studio knows nothing yet
        t = time.perf_counter()
        await s.market.publish_many([{"kind": "capacity", "name": f"offer {i:04d}", "process": "fdm",
                                      "material": ("pla", "petg", "abs")[i % 3], "per_hour": 10 + i % 7,
                                      "per_part": 1.0} for i in range(n_offers)], ["studio"])
        publish_s = time.perf_counter() - t
        t0 = time.perf_counter()
        await b.admin.pair(s.identity.site_id, f"127.0.0.1:{s.port}", "maker")  # studio dials: the link comes up
        marks: dict[str, float] = {}
        while len(marks) < 3:
            if "link" not in marks and b.link(s.identity.site_id) is not None:
                marks["link"] = time.perf_counter() - t0
            got = await b.admin.read(_count_offers)
            if "first" not in marks and got >= PAGE:
                marks["first"] = time.perf_counter() - t0
            if got >= n_offers:
                marks["all"] = time.perf_counter() - t0
                marks.setdefault("link", marks["all"])
            await asyncio.sleep(0.005)
        page = []
        for k in range(20):
            t = time.perf_counter()
            rows = await b.market.offers(limit=PAGE, offset=(k * PAGE) % n_offers)
            page.append(time.perf_counter() - t)
            assert len(rows) == PAGE
        search = []
        for _ in range(10):
            t = time.perf_counter()
            await b.market.offers("petg", limit=PAGE)
            search.append(time.perf_counter() - t)
    finally:
        for svc, store, bus in made:
            await svc.stop()
            await bus.close()
            store.close()
    return {"publish_s": publish_s, "link_s": marks["link"], "first_s": marks["first"], "all_s": marks["all"],
            "page_s": statistics.median(page), "search_s": statistics.median(search),
            "echo_rtt_s": pct(e_rtt, 0.5), "link_rtt_s": pct(l_rtt, 0.5)}


async def main(n_offers: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tpl = await instantiation(root, repeats)
        th = thumbnails(root, repeats)
        br = await browsing(root, n_offers)
    print("template instantiation (median ms)")
    print(f"{'template':20}{'make':>14}{'read the mesh made':>32}")
    for name, made, read in tpl:
        print(f"{name:20}{made:>14}{read:>32}")
    print("\nthumbnail per item, 220 px (median ms)")
    print(f"{'file':22}{'triangles':>10}{'draw':>10}{'read the file':>16}")
    for name, n, draw, read in th:
        print(f"{name:22}{n:>10}{draw:>10}{read:>16}")
    print(f"\nbrowsing {n_offers} offers from a linked site")
    print(f"  published at the seller (link down):      {br['publish_s'] * 1000:.0f} ms")
    print(f"  link up, from the buyer's pairing:        {br['link_s'] * 1000:.0f} ms")
    print(f"  first page of {PAGE} browsable:             {br['first_s'] * 1000:.0f} ms")
    print(f"  all {n_offers} browsable:                   {br['all_s'] * 1000:.0f} ms")
    print(f"  one page of {PAGE} read at the buyer:         {br['page_s'] * 1000:.2f} ms")
    print(f"  search 'petg', first page:                {br['search_s'] * 1000:.2f} ms")
    print(f"  bare websocket round trip p50:            {br['echo_rtt_s'] * 1e6:.0f} us")
    print(f"  our link's round trip p50:                {br['link_rtt_s'] * 1e6:.0f} us")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--offers", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ns = ap.parse_args()
    asyncio.run(main(ns.offers, ns.repeats))
