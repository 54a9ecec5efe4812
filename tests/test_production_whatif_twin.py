"""What if, second step: the digital twin's odds in the answer (each job's chance of ending by its due date in the
live plan and under the change, and its finish spread), and the change applied to the live plan only when the
operator confirms it (then cleared again)."""

import asyncio
import time
from datetime import datetime, timedelta

import pytest

from app.bootstrap import build_core, site_ops
from app.core.api.operations import OPS, run_op
from app.core.config import load_config
from app.core.domain.errors import ValidationError
from app.devices.simulator import SimConfig, SimulatedMachine
from tests.test_production_whatif import FDM, part

RUNS = ("IN_PROGRESS", "RUNNING")  # work a machine runs now stays on it


def test_whatif_answer_has_the_twins_odds_and_apply_changes_the_live_plan(tmp_path) -> None:
    async def go():
        core = build_core(load_config(str(tmp_path)), connect_machines=False, plan_budget_s=0.05)
        await core.kernel.boot()
        sims = []
        try:
            for name in ("P0", "P1"):
                node = await core.fleet.register(name, FDM, bring_up=True)
                sim = SimulatedMachine(node.name, node.capabilities, core.clock, SimConfig(seed=1))
                sims.append(sim)
                await core.machines.attach(node.id, sim)
            for i in range(4):
                await core.jobs.submit(part(f"j{i}", 3600 * (i + 1)))
            now = core.clock.now()
            tight = await core.jobs.submit({**part("tight", 1800),
                                            "due_at": (now + timedelta(hours=5)).isoformat()})
            loose = await core.jobs.submit({**part("loose", 1800),
                                            "due_at": (now + timedelta(days=3)).isoformat()})
            live = await core.production.cycle()
            p0 = core.fleet.find("P0").id
            ops = site_ops(core, "serve")
            t0 = time.perf_counter()
            out = await run_op(OPS["plan.whatif"], ops, {"down": "P0", "for": "10h"}, "cli")
            assert time.perf_counter() - t0 < 2.0  # a plan and 2 x 1,000 replays
            assert out["replays"] == 1000
            by = {c["name"]: c for c in out["jobs"]}
            assert by["loose"]["on_time_before"] == 1.0 and by["loose"]["on_time_after"] == 1.0
            assert by["j0"]["on_time_after"] is None  # no due date: no odds
            t = by["tight"]
            assert t["on_time_before"] is not None and t["on_time_after"] is not None
            assert t["on_time_after"] <= t["on_time_before"]  # one machine fewer for ten hours: no sooner
            for c in out["jobs"]:
                p10, p50, p90 = (datetime.fromisoformat(c[k]) for k in ("finish_p10", "finish_p50", "finish_p90"))
                assert p10 <= p50 <= p90 and p90 > p10  # durations are drawn: a real spread
                assert abs((p50 - datetime.fromisoformat(c["end_after"])).total_seconds()) < 3 * 3600
            assert out["learned_spread_ops"] == 0 and out["ops"] >= 6  # no model yet: the default spread
            # A learned spread (here a wide one for every part) is what the twin draws durations with.
            core.production._spreads = lambda part, node: 0.6
            wide = await run_op(OPS["plan.whatif"], ops, {"down": "P0", "for": "10h"}, "cli")
            core.production._spreads = None
            assert wide["learned_spread_ops"] >= 6

            def span(c):
                return (datetime.fromisoformat(c["finish_p90"]) - datetime.fromisoformat(c["finish_p10"])).total_seconds()

            w = {c["name"]: c for c in wide["jobs"]}
            assert span(w["j3"]) > 2 * span(by["j3"])
            # Nothing applied yet: the next round still uses P0.
            again = await core.production.cycle()
            assert any(r.node_id == p0 and r.state not in RUNS for r in again.rows) or \
                not any(r.node_id == p0 for r in live.rows)
            assert core.production.applied_whatif() == []
            # The operator confirms: P0 is held out of the plan for ten hours; its queued work moves.
            words = await core.production.apply_whatif(down=p0, down_for_s=10 * 3600, actor="operator")
            assert words and "P0 held out until" in words[0]
            held = await core.production.cycle()
            assert not any(r.node_id == p0 and r.start < now + timedelta(hours=9) and r.state not in RUNS
                           for r in held.rows)
            assert any(b[0] == p0 for b in held.blocked)  # shown as a closed window on the timeline
            await core.production.apply_whatif(rush=tight.id, actor="operator")
            assert any("tight rushed" in w for w in core.production.applied_whatif())
            rushed = await core.production.cycle()
            first = min(rushed.rows, key=lambda r: r.start if r.state not in RUNS else now + timedelta(days=9))
            assert first.job_id == tight.id
            with pytest.raises(ValidationError, match="say what to apply"):
                await core.production.apply_whatif(actor="operator")
            await core.production.clear_whatif(actor="operator")
            assert core.production.applied_whatif() == []
            assert loose.id
        finally:
            for s in sims:
                await s.disconnect()
            await core.kernel.shutdown()

    asyncio.run(go())
