"""Learning across linked sites (issue 15), two (and a third) real sites on 127.0.0.1 with TLS: a site opted in for
a link sends its per-machine-type correction statistics with its summary, noised by its privacy ledger once a day
and charged to that site's daily budget; the other site, opted in too, estimates a new machine of the same type
with the pooled correction (learned, with an interval) before it has any history of its own. A link not opted in
gets nothing, and a site that did not opt in does not use what it got."""

from __future__ import annotations

import asyncio
import json
import math
from uuid import uuid4

import pytest

from app.core.domain.capabilities import Capabilities
from app.core.domain.entities import Node, Part
from app.core.domain.enums import ProcessType
from app.core.learning.estimates import Estimator
from app.core.learning.federated import correction_stats, pool, type_key
from app.core.learning.repository import LearningRepository
from app.core.learning.service import LearningService
from app.core.sites import repo
from app.core.sites.learning_share import linked_corrections
from app.devices.sim_history import simulate_history

from .test_sites_support import SiteRig, fast_config, wait_for

MK4 = Capabilities.from_dict({"process": "fdm", "build_volume_mm": [250, 210, 220], "materials": ["pla"],
                              "loaded_material": "pla", "max_power_w": 300, "max_speed_mm_s": 200})


def test_pooling_skips_what_is_malformed_or_too_small() -> None:
    good = {"types": {"fdm:5.2": {"n": 30, "sum": 6.0, "sq": 3.0}, "sla:2.1": {"n": 5, "sum": 1.0, "sq": 1.0}}}
    bad = {"types": {"fdm:5.2": {"n": "x", "sum": 1, "sq": 1}, "cnc:16.0": {"n": float("nan"), "sum": 0, "sq": 0}}}
    pooled = pool([good, bad, {"types": []}, "nonsense"])  # type: ignore[list-item]
    assert set(pooled) == {"fdm:5.2"} and pooled["fdm:5.2"].mean == pytest.approx(0.2)
    assert pooled["fdm:5.2"].sd == pytest.approx(math.sqrt(0.1 - 0.04))
    value, low, high = pooled["fdm:5.2"].predict(1000.0)
    assert low < value < high and value == pytest.approx(1000 * math.exp(0.2))


def _stats_source(store):  # type: ignore[no-untyped-def]
    async def stats() -> dict:
        return await store.run(lambda: correction_stats(LearningRepository(store).records()))

    return stats


def test_linked_sites_learn_from_each_others_statistics_without_the_data(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    rigs: dict[str, SiteRig] = {}

    async def go() -> None:
        alpha = SiteRig(tmp_path, "alpha", learning_links=["beta"])  # shares with beta only
        beta = SiteRig(tmp_path, "beta", learning_links=["alpha"])
        gamma = SiteRig(tmp_path, "gamma")
        rigs.update(alpha=alpha, beta=beta, gamma=gamma)
        for s in (alpha, beta, gamma):
            await s.start()
        try:
            history = simulate_history(400, seed=4)
            assert LearningRepository(alpha.core.store).add(history) == 400
            alpha.sites.summaries.sources.learning = _stats_source(alpha.core.store)
            for other in (beta, gamma):
                await alpha.sites.admin.pair(other.id, other.address, other.name)
                await other.sites.admin.accept(alpha.id, name=alpha.name)

            def got(site: SiteRig) -> dict | None:
                with site.core.store.connect() as conn:
                    body = repo.summaries(conn).get(alpha.id, (None, 0))[0]
                return body

            await wait_for(lambda: got(beta) is not None and got(gamma) is not None, what="alpha's summaries")
            await wait_for(lambda: "learning" in (got(beta) or {}), what="the learning statistics")
            sent = got(beta)["learning"]
            assert "learning" not in got(gamma)  # gamma's link is not opted in: nothing learned leaves for it

            # what left: noisy sums per machine type, no job, machine name or time
            true = correction_stats(history)
            mk4 = type_key("fdm", 250 * 210 / 10_000)
            assert mk4 in sent["types"] and set(sent["types"][mk4]) == {"n", "sum", "sq"}
            names = {r.machine for r in history} | {r.job_id for r in history}
            assert not any(n in str(sent) for n in names)
            assert any(sent["types"][k]["n"] != true[k][0] or sent["types"][k]["sum"] != round(true[k][1], 3)
                       for k in sent["types"])  # noised
            # charged to beta's budget on alpha, once for the day: three groups at epsilon 1 (none for gamma)
            spent = alpha.rows("SELECT peer_id, quantity, epsilon FROM site_dp_spent WHERE quantity LIKE 'learning%'")
            assert sorted((p == beta.id, q, e) for p, q, e in spent) == [
                (True, "learning.n", 1.0), (True, "learning.sq", 1.0), (True, "learning.sum", 1.0)]
            drawn = alpha.rows("SELECT quantity FROM site_dp_values WHERE quantity LIKE 'learning.n:%'")
            await asyncio.sleep(1.2)  # more summaries go out: the same values, no new draw
            assert alpha.rows("SELECT quantity FROM site_dp_values WHERE quantity LIKE 'learning.n:%'") == drawn
            assert got(beta)["learning"] == sent

            # beta, with no history of its own, estimates a new MK4-sized machine from alpha's correction
            svc = LearningService(beta.core.store, beta.home / "models")
            svc.pooled_of = linked_corrections(beta.core.store, fast_config("beta", learning_links=["alpha"]))
            node = Node(name="new-mk4", capabilities=MK4)
            small = Node(name="tiny", capabilities=Capabilities.from_dict(
                {"process": "fdm", "build_volume_mm": [100, 100, 100], "materials": ["pla"]}))
            parts = [Part(uuid4(), "arm", ProcessType.FDM, "pla", (40, 30, 20), estimated_duration_s=3000,
                          assigned_node=n.id) for n in (node, small)]
            est = Estimator(svc, {node.id: node, small.id: small}.get).durations(parts)
            mine = est[parts[0].id]
            n, s, _q = true[mk4]
            assert mine.learned and "learned from 1 linked site(s)" in mine.note
            assert mine.value_s == pytest.approx(3000 * math.exp(s / n), rel=0.05)
            assert mine.low_s == mine.value_s == mine.high_s  # no interval claimed: other machines, other spread
            assert "(" not in mine.label()  # neither a bracket nor "analytic estimate": learned, from elsewhere
            assert not est[parts[1].id].learned  # a machine type alpha has no history of: the analytic estimate
            assert svc.status()["linked"][mk4]["sites"] == 1

            # a site that did not opt in to learn from alpha does not use what it received
            assert linked_corrections(gamma.core.store, fast_config("gamma"))() == {}
            assert linked_corrections(beta.core.store, fast_config("beta"))() == {}
        finally:
            for s in (alpha, beta, gamma):
                await s.stop()

    asyncio.run(asyncio.wait_for(go(), 120))

    # the CLI of beta (its config opts in to alpha): which links learn, and what was pooled
    from app.cli.main import main

    beta, alpha = rigs["beta"], rigs["alpha"]
    (beta.home / "config.toml").write_text('[sites]\nlearning_links = ["alpha"]\n', encoding="utf-8")
    args = ["--home", str(beta.home), "--db", beta.db_url]
    assert main([*args, "--json", "sites", "status"]) == 0
    rows = {r["site_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[alpha.id]["learning"] is True
    assert main([*args, "sites", "status"]) == 0
    assert "LEARNING" in (out := capsys.readouterr().out) and "types in" in out
    assert main([*args, "learn", "status"]) == 0
    assert "from linked sites: fdm:5.2 machines run" in capsys.readouterr().out
