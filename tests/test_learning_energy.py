"""The energy planner with learned kWh (issue 15): where the active model covers a machine, the planned draw of a
part on it adds up to the learned kWh (heat-up peak and idle as the machine's profile states them, the rest in the
steady part); elsewhere the machine's profile stays and the plan says "analytic"."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from app.core.domain.capabilities import Capabilities
from app.core.domain.entities import Job, Node, Part
from app.core.domain.enums import JobState, NodeState, ProcessType
from app.core.scheduling.builder import build_problem, learned_steady_w, machine_power
from app.core.scheduling.optimize import optimize
from app.core.scheduling.replan import cancel_job
from tests.test_learning_eta import MK4, copy_home, trained_home  # noqa: F401 - the fixture

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _planned_kwh(problem, op: int, m: int, d: int) -> float:  # type: ignore[no-untyped-def]
    idle = problem.machine_power[m].idle_w if problem.machine_power[m] else 0.0
    return sum((b - a) * (w + idle) for a, b, w in problem.power_steps(op, m, 0, d)) / 3.6e6


def _shop() -> tuple[list[Job], list[Node]]:
    nodes = [Node(name=n, capabilities=Capabilities.from_dict(MK4), state=NodeState.IDLE) for n in ("a", "b")]
    jobs = [Job(f"j{i}", state=JobState.VALIDATED, submitted_at=NOW, parts=[
        Part(uuid4(), "arm", ProcessType.FDM, "pla", (40, 30, 20), estimated_duration_s=3600,
             state=JobState.VALIDATED)]) for i in range(3)]
    return jobs, nodes


def test_the_planned_draw_adds_up_to_the_learned_kwh() -> None:
    jobs, nodes = _shop()
    plain = build_problem(jobs, nodes, NOW).problem
    learned = build_problem(jobs, nodes, NOW, energies=lambda part, node: 0.25 if node.name == "a" else None).problem
    assert learned.learned_w and all(m == 0 for _o, m in learned.learned_w)
    for op in range(learned.n_ops):
        assert _planned_kwh(learned, op, 0, 3600) == pytest.approx(0.25, rel=1e-6)  # machine a: learned
        assert _planned_kwh(learned, op, 1, 3600) == pytest.approx(_planned_kwh(plain, op, 1, 3600))  # b: profile
    assert _planned_kwh(plain, 0, 0, 3600) != pytest.approx(0.25)  # the profile said otherwise
    peak, _s, steady = learned.planned_w(0, 0)
    assert steady < peak and peak == plain.planned_w(0, 0)[0]  # heat-up stays as the profile says
    # a replanned shop keeps what was learned, in its own numbering
    plan = optimize(learned, 0.2)
    res = cancel_job(learned, plan, 0, 0)
    assert len(res.problem.learned_w) == len(learned.learned_w) - 1


def test_a_learned_figure_beyond_the_machine_stays_within_its_profile() -> None:
    mp = machine_power(Node(name="a", capabilities=Capabilities.from_dict(MK4)))
    assert mp is not None
    assert learned_steady_w(mp, 50.0, 3600) == pytest.approx(max(mp.peak_w, mp.steady_w) - mp.idle_w)
    assert learned_steady_w(mp, 0.0, 3600) == 0.0  # less than idle: idle and heat-up stay
    assert learned_steady_w(None, 0.36, 3600) == pytest.approx(360.0)  # no profile: the learned mean draw


pytest.importorskip("sklearn", reason="training needs the learn extra (scikit-learn, skl2onnx)")


def test_a_trained_site_plans_energy_with_the_learned_kwh(trained_home: Path, tmp_path: Path) -> None:  # noqa: F811
    from app.bootstrap import build_core
    from app.core.clock import ScaledClock
    from app.core.config import load_config
    from app.core.learning.runtime import record_for
    from app.core.learning.service import LearningService
    from app.core.store.db import open_store
    from app.devices.simulator import SimConfig, SimulatedMachine

    home = copy_home(trained_home, tmp_path / "home")

    async def go():  # type: ignore[no-untyped-def]
        clock = ScaledClock(10.0)
        core = build_core(load_config(str(home)), clock, connect_machines=False, plan_budget_s=0.05)
        await core.kernel.boot()
        try:
            nodes = {n: await core.fleet.register(n, MK4, bring_up=True) for n in ("prusa-mk4-a", "lab-fdm")}
            sims = [SimulatedMachine(n.name, n.capabilities, clock, SimConfig(telemetry_interval_s=30.0))
                    for n in nodes.values()]
            for n, sim in zip(nodes.values(), sims, strict=True):
                await core.machines.attach(n.id, sim)
            for i in range(2):
                await core.jobs.submit({"name": f"frame {i}", "parts": [
                    {"name": "arm", "process": "fdm", "material": "pla", "size": [40, 30, 20],
                     "estimated_duration_s": 3000}]})
            view = await core.production.cycle()
            for sim in sims:
                await sim.disconnect()
            parts = {p.id: p for j in await core.jobs.list() for p in j.parts}
            return view, parts, {k: core.fleet.get(v.id) for k, v in nodes.items()}, dict(core.learning.energy_flags)
        finally:
            await core.kernel.shutdown()

    view, parts, nodes, flags = asyncio.run(asyncio.wait_for(go(), 60))
    by_machine = {r.node_name: r for r in view.rows}
    assert set(by_machine) == {"prusa-mk4-a", "lab-fdm"}, view.rows
    learned_row, plain_row = by_machine["prusa-mk4-a"], by_machine["lab-fdm"]
    assert learned_row.energy_learned and not plain_row.energy_learned
    assert any("too little history for lab-fdm" in why for (_p, m), why in flags.items() if m == "lab-fdm")
    store = open_store(f"sqlite:///{home / 'imewe.sqlite3'}")
    try:
        svc = LearningService(store, home / "models")
        part = parts[learned_row.part_id]
        models = svc.models()
        assert models is not None
        kwh = models.energy([record_for(part, nodes["prusa-mk4-a"])])[0]
    finally:
        store.close()
    assert kwh.learned
    # the row's planned draw (heat-up then steady, idle included) over its planned time gives the learned kWh
    d = (learned_row.end - learned_row.start).total_seconds()
    planned = (learned_row.peak_w * min(learned_row.peak_s, d) + learned_row.steady_w * max(d - learned_row.peak_s, 0))
    assert planned / 3.6e6 == pytest.approx(kwh.value, rel=0.02)
