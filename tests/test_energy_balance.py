"""A simulated day on the demo site: the energy balance closes, accounting adds up per machine and job, the
stored flows agree with the manager, and a plan made under the site's power cap never exceeds it."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.bus import EventBus
from app.core.clock import ManualClock
from app.core.domain.entities import TelemetrySample
from app.core.energy.config import demo_site
from app.core.energy.service import EnergyService
from app.core.events import TelemetryReceived
from app.core.scheduling.forecast import EnergyForecast
from app.core.scheduling.optimize import optimize
from app.core.scheduling.problem import Objective
from app.core.scheduling.validate import validate_plan
from app.core.store.db import open_store

START = datetime(2026, 6, 20, 22, 0, tzinfo=UTC)  # midnight in Berlin (UTC+2)
NODES = [uuid.UUID(int=1000 + i) for i in range(8)]


def machine_power_w(i: int, t: float) -> float:
    """Printers that idle, heat and print on staggered cycles (a few hundred W each)."""
    phase = (t / 3600.0 + i * 0.7) % 6.0
    if phase < 0.2:
        return 350.0 + 20 * i  # heat-up
    if phase < 4.5:
        return 180.0 + 15 * i + 40 * math.sin(t / 97.0 + i)  # printing
    return 12.0  # idle


def simulate_day(tmp_path: Path, db_url: str | None = None, hours: int = 24):
    store = open_store(db_url or f"sqlite:///{tmp_path / 'e.sqlite3'}")
    clock = ManualClock(START)
    bus = EventBus()
    svc = EnergyService(store, bus, clock, demo_site())
    jobs = {n: uuid.uuid4() for n in NODES}
    soc0 = svc.site.battery.soc

    async def go():
        await svc.start()
        for s in range(0, hours * 3600 + 1, 10):  # samples every 10 s, a dispatch step every 60 s
            at = START + timedelta(seconds=s)
            clock.advance(at.timestamp() - clock.now().timestamp())
            for i, n in enumerate(NODES):
                p = machine_power_w(i, s)
                bus.publish(TelemetryReceived(TelemetrySample(n, at, {"power_w": p}, job_id=jobs[n])))
            if s % 60 == 0 and s:
                await bus.drain()
                await svc.tick(at)
        svc._task.cancel()  # stop the wall-clock loop; ticks above are driven by hand
        await svc.stop()

    asyncio.run(go())
    return store, svc, jobs, soc0


@pytest.mark.slow
def test_energy_balance_closes_over_a_simulated_day(tmp_path: Path) -> None:
    store, svc, jobs, soc0 = simulate_day(tmp_path)
    try:
        tot = svc.manager.totals
        measured = svc.ledger.machine_kwh + svc.site.base_load_kw * 24
        sources = tot.solar_to_load_kwh + tot.battery_to_load_kwh + tot.grid_to_load_kwh + tot.fuel_kwh
        assert tot.unserved_kwh == 0
        assert abs(measured - sources) / measured < 0.005, (measured, sources)
        assert abs(tot.load_kwh - measured) / measured < 0.005
        # Storage closes too: what went in, times the efficiency, minus what came out, is the change in charge.
        b = svc.site.battery
        eta = math.sqrt(b.round_trip_efficiency)
        stored = tot.battery_charged_kwh * eta - tot.battery_to_load_kwh / eta
        assert stored == pytest.approx((b.soc - soc0) * b.capacity_kwh, rel=1e-6, abs=1e-6)
        # A sunny day with a battery: every source moved.
        assert tot.solar_kwh > 40 and tot.battery_to_load_kwh > 5 and tot.grid_kwh > 1
        # The stored flows agree with the manager.
        day = svc.totals("day", START + timedelta(hours=12))
        assert day["load_kwh"] == pytest.approx(tot.load_kwh, rel=1e-9)
        assert day["cost"] == pytest.approx(tot.cost, rel=1e-9) and day["co2_g"] == pytest.approx(tot.co2_g)
        # Per machine and per job: measured kWh, and all of the site's cost except the base load's share.
        ranking = svc.ranking("day", START + timedelta(hours=12))
        assert len(ranking) == len(NODES) and ranking[0][1].kwh >= ranking[-1][1].kwh
        assert sum(u.kwh for _, u in ranking) == pytest.approx(svc.ledger.machine_kwh, rel=1e-9)
        site = svc.ranking("day", START + timedelta(hours=12), kind="site")
        assert site[0][1].cost == pytest.approx(tot.cost) and site[0][1].kwh == pytest.approx(tot.load_kwh)
        machines_cost = sum(u.cost for _, u in ranking)
        assert 0 < machines_cost < tot.cost  # the base load carries the rest
        for n, j in jobs.items():
            assert svc.usage_of("job", j).kwh == pytest.approx(svc.usage_of("node", n).kwh, rel=1e-9)
        week = svc.totals("week", START + timedelta(hours=12))
        assert week["load_kwh"] == pytest.approx(day["load_kwh"])
    finally:
        store.close()


def test_service_restarts_with_the_battery_where_it_was(tmp_path: Path) -> None:
    store, svc, _jobs, soc0 = simulate_day(tmp_path, hours=10)
    soc = svc.site.battery.soc
    assert soc != soc0
    store.close()
    store = open_store(f"sqlite:///{tmp_path / 'e.sqlite3'}")
    try:
        again = EnergyService(store, EventBus(), ManualClock(START + timedelta(days=1)), demo_site())

        async def go():
            await again.start()
            await again.stop()

        asyncio.run(go())
        assert again.site.battery.soc == pytest.approx(soc)
    finally:
        store.close()


def test_plan_under_the_site_cap_never_exceeds_it(tmp_path: Path) -> None:
    """The scheduler's public API (build_problem, optimize) plans 30 print jobs on 12 printers against this
    energy service's forecast and cap; at no moment does the planned draw exceed the cap."""
    from app.core.domain.capabilities import Capabilities
    from app.core.domain.entities import Job, Node, Part
    from app.core.domain.enums import NodeState, ProcessType
    from app.core.scheduling.builder import build_problem

    store = open_store(f"sqlite:///{tmp_path / 'cap.sqlite3'}")
    try:
        site = demo_site()
        site.power_cap_kw = 12.0
        svc = EnergyService(store, EventBus(), ManualClock(START), site)
        cap = svc.power_cap_w()
        assert cap == pytest.approx((12.0 - 0.8) * 1000)
        nodes = [Node(f"printer-{i}", Capabilities(ProcessType.FDM, (250, 210, 210), frozenset({"pla"}),
                                                   loaded_material="pla", max_power_w=1500.0 + 100 * (i % 4),
                                                   max_speed_mm_s=100.0), state=NodeState.IDLE)
                 for i in range(12)]
        jobs = []
        for k in range(30):
            job = Job(f"job-{k}", priority=1 + k % 10)
            job.parts = [Part(job.id, f"part-{k}", ProcessType.FDM, "pla", (40, 40, 20),
                              estimated_duration_s=1800 + 600 * (k % 5))]
            jobs.append(job)
        built = build_problem(jobs, nodes, START, power_cap_w=cap, forecast=svc.plan_forecast(START),
                              objective=Objective(makespan=1.0, energy=100.0))
        problem = built.problem
        assert problem.power_cap_w == cap and isinstance(problem.forecast, EnergyForecast)
        plan = optimize(problem, time_limit_s=1.0)
        assert validate_plan(problem, plan) == []
        # the draw of the machine each operation was given (not an average over the machines that could run it)
        events = sorted([(plan.start[o], problem.planned_w(o, plan.machine[o])[0]) for o in range(problem.n_ops)]
                        + [(plan.end[o], -problem.planned_w(o, plan.machine[o])[0]) for o in range(problem.n_ops)])
        level = peak = 0.0
        i = 0
        while i < len(events):  # every instant: ends and starts at the same time are applied together
            t = events[i][0]
            same = [w for tt, w in events if tt == t]
            level += sum(same)
            peak = max(peak, level)
            i += len(same)
        assert 0 < peak <= cap + 1e-6
        assert peak > 0.7 * cap  # the cap binds: 12 printers at once would draw ~19 kW
        assert sum(problem.planned_w(o, plan.machine[o])[0] for o in range(problem.n_ops)) > 2 * cap
    finally:
        store.close()


def test_load_shifting_moves_flexible_work_into_the_sun() -> None:
    """With the manager's forecast and an energy weight, the scheduler starts flexible prints in the sunny
    hours (own solar is the cheapest kWh) instead of at midnight."""
    from app.core.energy.manager import EnergyManager
    from app.core.scheduling.forecast import energy_cost
    from app.core.scheduling.problem import Problem

    fc = EnergyManager(demo_site(), expected_load_kw=1.0, origin=START)  # plan time 0: local midnight
    n = 6
    problem = Problem(n, list(range(n)), [[(i, 3600)] for i in range(n)], [[] for _ in range(n)],
                      power_w=[2000.0] * n, forecast=fc, objective=Objective(makespan=0.001, energy=100.0))
    plan = optimize(problem, time_limit_s=0.5)
    assert validate_plan(problem, plan) == []
    for o in range(n):
        hour_local = (plan.start[o] // 3600) % 24
        assert 6 <= hour_local <= 18, plan.start  # in daylight
    shifted = sum(energy_cost(fc, plan.start[o], plan.end[o], 2000.0)[0] for o in range(n))
    at_once = sum(energy_cost(fc, 0, 3600, 2000.0)[0] for _ in range(n))
    assert shifted < 0.2 * at_once
