"""What if: the plan a change would give (a machine down, a job rushed, a lower cap) next to the live plan,
answered by the owner's control-channel operation in under two seconds, the live plan untouched."""

import asyncio
import time
from datetime import datetime, timedelta

import pytest

from app.bootstrap import build_core, site_ops
from app.core.api.operations import OPS, run_op
from app.core.config import load_config
from app.core.domain.errors import ImeweError, ValidationError
from app.devices.simulator import SimConfig, SimulatedMachine

FDM = {"process": "fdm", "build_volume_mm": [250, 210, 210], "materials": ["pla"], "loaded_material": "pla",
       "max_power_w": 350, "max_speed_mm_s": 150}


def part(name: str, duration_s: int) -> dict:
    return {"name": name, "parts": [{"name": name, "process": "fdm", "material": "pla", "size": [20, 20, 20],
                                     "estimated_duration_s": duration_s}]}


def test_whatif_down_and_rush_leave_the_live_plan_alone(tmp_path) -> None:
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
            jobs = [await core.jobs.submit(part(f"j{i}", 3600 * (i + 1))) for i in range(5)]
            now = core.clock.now()
            await core.jobs.submit({**part("due", 1800), "due_at": (now + timedelta(hours=30)).isoformat()})
            live = await core.production.cycle()
            ops = site_ops(core, "serve")
            t0 = time.perf_counter()
            out = await run_op(OPS["plan.whatif"], ops, {"down": "P0", "for": "8h"}, "cli")
            assert time.perf_counter() - t0 < 2.0
            p0 = core.fleet.find("P0").id
            # Nothing live took the change: the site's next plan still uses P0, and nothing was stored for it.
            again = await core.production.cycle()
            assert any(r.node_id == p0 for r in again.rows) and await core.fleet.open_maintenance() == []
            # queued on P0 into the 8 h it is down (what P0 started at once runs on: it cannot move)
            on_p0 = {r.job_id for r in live.rows if r.node_id == p0 and r.state not in ("IN_PROGRESS", "RUNNING")
                     and now + timedelta(minutes=1) < r.start < now + timedelta(hours=8)}
            moved = {c["job"] for c in out["jobs"] if c["moved"]}
            assert on_p0 and {str(j) for j in on_p0} <= moved and out["jobs_moved"] == len(moved)
            # Rush the job the live plan ends last: due now at top priority, it ends sooner (by at least an hour).
            last = max((c for c in out["jobs"] if c["end_before"]), key=lambda c: c["end_before"])
            rushed = await run_op(OPS["plan.whatif"], ops, {"rush": last["job"]}, "cli")
            mine = next(c for c in rushed["jobs"] if c["job"] == last["job"])
            ends = [datetime.fromisoformat(mine[k]) for k in ("end_before", "end_after")]
            assert ends[1] <= ends[0] - timedelta(hours=1)
            with pytest.raises(ValidationError, match="not an amount"):
                await run_op(OPS["plan.whatif"], ops, {"down": "P0", "for": "soon"}, "cli")
            with pytest.raises(ValidationError, match="say what to try"):
                await run_op(OPS["plan.whatif"], ops, {}, "cli")
            assert len(jobs) == 5
        finally:
            for s in sims:
                await s.disconnect()
            await core.kernel.shutdown()

    asyncio.run(go())


def test_whatif_needs_the_owner(tmp_path) -> None:
    from app.bootstrap import build_store_core

    async def go():
        core = build_store_core(load_config(str(tmp_path)))
        await core.kernel.boot()
        try:
            await core.fleet.register("P0", FDM)
            with pytest.raises(ImeweError, match="made by the site's owner"):
                await run_op(OPS["plan.whatif"], site_ops(core), {"cap": "20kW"}, "cli")
        finally:
            await core.kernel.shutdown()

    asyncio.run(go())


def test_cli_whatif_without_an_owner_is_one_line(tmp_path, capsys) -> None:
    from app.cli.main import main

    home = str(tmp_path)
    assert main(["--home", home, "nodes", "add", "P0", "--process", "fdm", "--volume", "250x210x210",
                 "--materials", "pla", "--loaded", "pla", "--driver", "sim"]) == 0
    capsys.readouterr()
    assert main(["--home", home, "plan", "whatif", "--down", "P0", "--for", "4h"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "owner" in err[0]
    assert main(["--home", home, "plan", "whatif", "--down", "P0", "--for", "soon"]) == 2
    assert "not an amount" in capsys.readouterr().err
