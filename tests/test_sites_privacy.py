"""Differential privacy of site summaries holds over time: a number is drawn once per period and kept in the store
(across restarts and for every linked site), so averaging publications learns nothing; each linked site's daily
budget is charged once per group and period, persisted, shown by ``imewe sites status``, and once spent the site
gets only the numbers it already paid for. Real SQLite file and real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import statistics
from datetime import UTC, datetime

import pytest

from app.cli.main import main
from app.core.clock import ManualClock
from app.core.config import load_config
from app.core.domain.errors import ConfigError
from app.core.sites import repo
from app.core.sites.config import SitesConfig
from app.core.sites.dp import GEO_LEVEL, PrivacyLedger
from app.core.sites.repo import Peer
from app.core.sites.summary import Location, SummaryMaker, SummarySources

from .test_sites_support import FDM, mini_core

PEERS = ["P" * 7 + "-" + "-".join([c * 7] * 7) for c in "ABC"]
START = datetime(2026, 12, 2, 0, 0, 5, tzinfo=UTC)


def _maker(core, seed: int, budget: float = 130.0, location: Location | None = None,
           energy: dict | None = None) -> SummaryMaker:
    ledger = PrivacyLedger(1.0, 3600.0, budget, seed)
    sources = SummarySources(core.fleet.list, energy=(lambda: energy) if energy else None)
    return SummaryMaker(core.store, core.clock, sources, ledger, location)


@pytest.fixture
def site(db_url):
    clock = ManualClock(START)
    core = mini_core(db_url, clock)
    asyncio.run(core.kernel.boot())
    for n in range(7):
        asyncio.run(core.fleet.register(f"P{n}", FDM, bring_up=True))
    with core.store.begin() as conn:
        for p in PEERS:
            repo.put_peer(conn, Peer(p, p[8:12], "", added_at=1.0, updated_at=1.0))
    yield core, clock, db_url
    asyncio.run(core.kernel.shutdown())


def test_a_period_repeats_one_draw_for_everyone_and_after_a_restart(site) -> None:
    core, clock, db_url = site
    first = asyncio.run(_maker(core, seed=1).make(PEERS[0]))
    idle = first["machines"]["fdm"]["IDLE"]
    for k in range(40):  # every 15 s for ten minutes, with fresh random generators each time
        clock.advance(15)
        again = asyncio.run(_maker(core, seed=100 + k).make(PEERS[k % 2]))
        assert again["machines"] == first["machines"] and again["alerts"] == first["alerts"]
        assert again["capacity"][0]["machines"] == first["capacity"][0]["machines"]
    # A machine changes state within the period: the published histogram stays as drawn (no exact difference).
    asyncio.run(core.fleet.set_state(core.fleet.list()[0].id, _state("MAINTENANCE")))
    assert asyncio.run(_maker(core, seed=7).make(PEERS[0]))["machines"]["fdm"].get("IDLE") == idle
    # A restart (new store connection, new generator) still publishes the kept value.
    core.store.close()
    from .test_sites_support import mini_core as again_core

    core2 = again_core(db_url, clock)
    try:
        kept = asyncio.run(SummaryMaker(core2.store, clock, SummarySources(core.fleet.list),
                                        PrivacyLedger(1.0, 3600.0, 130.0, 999)).make(PEERS[2]))
        assert kept["machines"]["fdm"].get("IDLE") == idle
    finally:
        core2.store.close()


def _state(name: str):
    from app.core.domain.enums import NodeState

    return NodeState[name]


def test_averaging_publications_does_not_converge_to_the_truth(site) -> None:
    core, clock, _ = site
    # 150 publications in one period: the mean is the one noisy draw, not the true count (7 idle machines).
    seen, solar = [], []
    for k in range(150):
        clock.advance(1)
        body = asyncio.run(_maker(core, seed=k, energy={"solar_w": 1234.0, "price_per_kwh": 0.2}).make(PEERS[k % 3]))
        seen.append(body["capacity"][0]["machines"])
        solar.append(body["energy"]["solar_w"])
    assert len(set(seen)) == 1 and len(set(solar)) == 1
    assert statistics.mean(solar) != 1234.0  # the average is the one draw (Laplace scale 100 W), not the truth
    assert body["energy"]["price_per_kwh"] == 0.2  # a public tariff is not noised
    # Over many periods fresh draws do average out, which is exactly what the daily budget pays for: the
    # spread of the draws is the Laplace scale the budget promises (sensitivity 1 / epsilon 1).
    draws = []
    for _ in range(40):
        clock.advance(3600)
        draws.append(asyncio.run(_maker(core, seed=len(draws), budget=1e6).make(PEERS[0]))["capacity"][0]["machines"])
    assert statistics.pstdev(draws) > 0.5


def test_budget_is_charged_once_per_group_and_period_persisted_and_then_stops_fresh_numbers(site) -> None:
    core, clock, db_url = site
    maker = _maker(core, seed=3, budget=10.0)
    body = asyncio.run(maker.make(PEERS[0]))
    assert body["privacy"]["epsilon_spent_today"] == 4.0  # machines, capacity, jobs, alerts
    for _ in range(20):  # the same period again: no new charge
        clock.advance(10)
        body = asyncio.run(maker.make(PEERS[0]))
    assert body["privacy"]["epsilon_spent_today"] == 4.0 and body["privacy"]["exhausted"] == []
    clock.advance(3600)  # next period: 4 more
    paid_before = asyncio.run(maker.make(PEERS[0]))
    assert paid_before["privacy"]["epsilon_spent_today"] == 8.0
    clock.advance(3600)  # 2 left: machines and capacity are paid, jobs and alerts are not
    body = asyncio.run(maker.make(PEERS[0]))
    assert body["privacy"]["epsilon_spent_today"] == 10.0
    assert body["privacy"]["exhausted"] == ["jobs", "alerts"]
    assert body["jobs"] == asyncio.run(maker.make(PEERS[0]))["jobs"]
    clock.advance(3600)  # nothing left: every group repeats what this site last paid for
    body = asyncio.run(maker.make(PEERS[0]))
    assert body["privacy"]["exhausted"] == ["machines", "capacity", "jobs", "alerts"]
    assert body["privacy"]["epsilon_spent_today"] == 10.0
    assert body["alerts"] == paid_before["alerts"]
    # Another linked site has its own budget.
    assert asyncio.run(maker.make(PEERS[1]))["privacy"]["epsilon_spent_today"] == 4.0
    # The next UTC day the budget is whole again.
    clock.advance(86_400)
    body = asyncio.run(maker.make(PEERS[0]))
    assert body["privacy"]["exhausted"] == [] and body["privacy"]["epsilon_spent_today"] == 4.0
    # What was spent is in the store, and `imewe sites status` shows it.
    spent = asyncio.run(_admin_spent(core))
    assert spent[PEERS[0]] == 4.0 and PEERS[1] not in spent  # PEERS[1] spent yesterday


async def _admin_spent(core) -> dict[str, float]:
    from app.core.sites.admin import SiteAdmin

    return await SiteAdmin(core.store, core.clock, None).privacy_spent()  # type: ignore[arg-type]


def test_location_is_moved_once_and_kept(site) -> None:
    core, clock, _ = site
    where = Location(52.52, 13.40, 2000.0)
    a = asyncio.run(_maker(core, seed=1, location=where).make(PEERS[0]))["location"]
    b = asyncio.run(_maker(core, seed=2, location=where).make(PEERS[1]))["location"]
    clock.advance(7 * 86_400)
    c = asyncio.run(_maker(core, seed=3, location=where).make(PEERS[0]))["location"]
    assert a == b == c and (a["lat"], a["lon"]) != (52.52, 13.40)
    assert abs(a["lat"] - 52.52) < 0.5 and abs(a["lon"] - 13.40) < 0.5
    first_day = asyncio.run(_maker(core, seed=1).make(PEERS[2]))["privacy"]["epsilon_spent_today"]
    assert first_day == 4.0  # no location configured there: not published, not charged
    assert "location" not in asyncio.run(_maker(core, seed=1).make(PEERS[2]))
    with core.store.connect() as conn:
        assert PrivacyLedger(1.0, 3600.0, 130.0).budget(conn, PEERS[1], START.timestamp()).spent == \
            pytest.approx(4.0 + GEO_LEVEL)


def test_sites_status_shows_the_budget_spent(tmp_path, capsys) -> None:
    home = tmp_path / "home"
    config = load_config(str(home))
    core = mini_core(config.db_url, ManualClock(datetime.now(UTC)))
    with core.store.begin() as conn:
        repo.put_peer(conn, Peer(PEERS[0], "other", "", added_at=1.0, updated_at=1.0))
    asyncio.run(_maker(core, seed=1).make(PEERS[0]))
    core.store.close()
    assert main(["--home", str(home), "--json", "sites", "status"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["privacy"] == {"epsilon_spent_today": 4.0, "epsilon_per_day": 130.0}
    assert main(["--home", str(home), "sites", "status"]) == 0
    assert "4/130" in capsys.readouterr().out


def test_privacy_settings_are_checked() -> None:
    cfg = SitesConfig(location="52.5,13.4")
    assert cfg.lat_lon() == (52.5, 13.4)
    with pytest.raises(ConfigError, match="lat,lon"):
        SitesConfig(location="Berlin").lat_lon()
    with pytest.raises(ConfigError, match="latitude"):
        SitesConfig(location="95,10").lat_lon()
    for bad in ((0.0, 3600.0, 10.0), (1.0, 0.0, 10.0), (1.0, 3600.0, 0.0)):
        with pytest.raises(ValueError):
            PrivacyLedger(*bad)
