"""Applying a what-if from the CLI and the API (`imewe plan whatif ... --apply`): through a running owner over its
control channel on 127.0.0.1 (the comparison first, then the change live and audited, the site replanning), and
with no owner on the store under the site lock (stored and audited; the owner plans with it when it starts).
Bad input or a refusal changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import sqlalchemy as sa

from app.bootstrap import build_core, build_store_core, wire_control_channel
from app.cli.main import main
from app.core.api.channel import read_channel
from app.core.config import load_config
from app.core.production import overrides as stored
from app.core.store import schema
from app.devices.simulator import SimConfig, SimulatedMachine

FDM = {"process": "fdm", "build_volume_mm": [250, 210, 210], "materials": ["pla", "petg"], "loaded_material": "pla",
       "max_power_w": 350, "max_speed_mm_s": 150}


def _job(name: str, duration_s: int, material: str = "pla") -> dict:
    return {"name": name, "parts": [{"name": name, "process": "fdm", "material": material, "size": [20, 20, 20],
                                     "estimated_duration_s": duration_s}]}


def _cli(home: Path, *args: str, stdin: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if stdin is not None:
            import sys

            old, sys.stdin = sys.stdin, stdin
        try:
            rc = main(["--home", str(home), *args])
        finally:
            if stdin is not None:
                sys.stdin = old
    return rc, out.getvalue(), err.getvalue()


class _Terminal(io.StringIO):
    """What an operator types at a terminal."""

    def isatty(self) -> bool:
        return True


def _stored(home: Path) -> tuple[stored.Overrides, list[str]]:
    core = build_store_core(load_config(str(home)))
    try:
        with core.store.begin() as conn:
            ov = stored.load(conn)
            actions = [r[0] for r in conn.execute(sa.select(schema.audit_log.c.action)
                                                  .where(schema.audit_log.c.action.like("plan.whatif%"))
                                                  .order_by(schema.audit_log.c.seq))]
        return ov, actions
    finally:
        core.store.close()


async def _fleet(core, names=("P0", "P1")) -> list[SimulatedMachine]:
    sims = []
    for name in names:
        node = await core.fleet.register(name, FDM, bring_up=True)
        sim = SimulatedMachine(node.name, node.capabilities, core.clock, SimConfig(seed=1))
        sims.append(sim)
        await core.machines.attach(node.id, sim)
    return sims


def test_apply_through_the_owner_over_its_channel(tmp_path: Path) -> None:
    async def go() -> None:
        core = build_core(load_config(str(tmp_path)), connect_machines=False, plan_budget_s=0.05)
        wire_control_channel(core, "serve")
        await core.kernel.boot()
        sims = await _fleet(core)
        try:
            assert "127.0.0.1" in read_channel(tmp_path).url  # type: ignore[union-attr]
            jobs = [await core.jobs.submit(_job(f"j{i}", 3600 * (i + 1), "petg" if i == 2 else "pla"))
                    for i in range(5)]
            await core.production.cycle()
            # the plan reports its material changes and their time (both machines have pla loaded)
            rc, out, err = await asyncio.to_thread(_cli, tmp_path, "plan", "show")
            assert rc == 0 and "1 material change, 0.2 h of setup in all" in out, out + err
            last = jobs[-1]
            j4 = str(last.id)
            # no terminal and no --yes: refused before anything changes
            rc, _, err = await asyncio.to_thread(_cli, tmp_path, "plan", "whatif", "--rush", j4, "--apply")
            assert rc == 2 and "add --yes" in err
            # the operator says no at the prompt: the comparison shows, nothing is applied
            rc, out, err = await asyncio.to_thread(_cli, tmp_path, "plan", "whatif", "--rush", j4, "--apply",
                                                   stdin=_Terminal("n\n"))
            assert rc == 0 and "job(s) move" in out and "not applied" in out, err
            assert not core.production.overrides.rushed
            # a bad amount: one line, nothing stored
            rc, _, err = await asyncio.to_thread(_cli, tmp_path, "plan", "whatif", "--cap", "lots", "--apply",
                                                 "--yes")
            assert rc == 2 and "not an amount" in err and core.production.overrides.cap_w is None
            # yes: the comparison, then the change live
            rc, out, err = await asyncio.to_thread(_cli, tmp_path, "plan", "whatif", "--rush", j4, "--down", "P1",
                                                   "--for", "2h", "--apply", "--yes", "--json")
            assert rc == 0, err
            data = json.loads(out)
            assert data["planned_now"] and any(c["job"] == str(last.id) for c in data["whatif"]["jobs"])
            assert "j4 rushed" in data["applied"] and any("P1 held out" in a for a in data["applied"])
            assert last.id in core.production.overrides.rushed
            assert core.fleet.find("P1").id in core.production.overrides.down
            assert core.production.applied_whatif()
            # the window's Clear does the same as the CLI's
            rc, out, _ = await asyncio.to_thread(_cli, tmp_path, "plan", "whatif", "--clear")
            assert rc == 0 and "dropped" in out and not core.production.overrides.rushed
        finally:
            for s in sims:
                await s.disconnect()
            await core.kernel.shutdown()

    asyncio.run(go())
    ov, actions = _stored(tmp_path)
    assert actions == ["plan.whatif_apply", "plan.whatif_clear"]
    assert not ov.rushed and not ov.down


def test_apply_without_an_owner_is_stored_and_the_owner_plans_with_it(tmp_path: Path) -> None:
    async def setup() -> None:
        core = build_store_core(load_config(str(tmp_path)))
        await core.kernel.boot()
        try:
            for name in ("P0", "P1"):
                await core.fleet.register(name, FDM, bring_up=True)
            await core.jobs.submit(_job("j0", 3600))
        finally:
            await core.kernel.shutdown()

    asyncio.run(setup())
    rc, out, err = _cli(tmp_path, "plan", "whatif", "--down", "P0", "--for", "6h", "--apply", "--yes")
    assert rc == 0, err
    assert "no live plan to compare with" in out and "P0 held out until" in out and "stored for the site" in out
    rc, _, err = _cli(tmp_path, "plan", "whatif", "--rush", "nosuchjob", "--apply", "--yes")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    ov, actions = _stored(tmp_path)
    assert len(ov.down) == 1 and actions == ["plan.whatif_apply"]
    # without --apply there is still nothing to compare without the owner: one line
    rc, _, err = _cli(tmp_path, "plan", "whatif", "--down", "P0")
    assert rc == 2 and "made by the site's owner" in err

    async def owner() -> None:
        core = build_core(load_config(str(tmp_path)), connect_machines=False, plan_budget_s=0.05)
        await core.kernel.boot()
        sims = []
        try:
            for node in core.fleet.list():
                sim = SimulatedMachine(node.name, node.capabilities, core.clock, SimConfig(seed=1))
                sims.append(sim)
                await core.machines.attach(node.id, sim)
            p0 = core.fleet.find("P0").id
            assert p0 in core.production.overrides.down
            plan = await core.production.cycle()
            assert plan.rows and all(r.node_id != p0 for r in plan.rows)  # held out: the work went to P1
            assert any("P0 held out" in a for a in core.production.applied_whatif())
        finally:
            for s in sims:
                await s.disconnect()
            await core.kernel.shutdown()

    asyncio.run(owner())
