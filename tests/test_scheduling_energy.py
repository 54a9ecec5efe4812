"""Energy-aware planning: never above the site power cap; flexible work moves into cheap hours when asked."""

from __future__ import annotations

from pathlib import Path

from app.core.scheduling import (
    INF,
    Objective,
    PeriodicForecast,
    Problem,
    load_instance,
    metrics,
    optimize,
    validate_plan,
)

HOUR = 3600
# a day: expensive until 10:00, cheap solar hours 10:00-16:00, expensive evening
DAY = PeriodicForecast(period_s=24 * HOUR, prices=tuple([0.40] * 10 + [0.05] * 6 + [0.40] * 8),
                       carbon=tuple([400.0] * 10 + [50.0] * 6 + [400.0] * 8))


def _shop(cap: float | None, energy_w: float = 0.0) -> Problem:
    # 8 one-hour jobs of 2 kW, 8 machines: unconstrained they would all start at 0 and draw 16 kW
    return Problem(n_machines=8, op_job=list(range(8)), alts=[[(m, HOUR) for m in range(8)] for _ in range(8)],
                   preds=[[] for _ in range(8)], power_w=[2000.0] * 8, power_cap_w=cap, forecast=DAY,
                   objective=Objective(makespan=1e-6 if energy_w else 1.0, energy=energy_w),
                   job_due=[INF] * 8)


def _peak(problem: Problem, plan) -> float:
    events = sorted([(plan.start[o], problem.power_w[o]) for o in range(problem.n_ops)]
                    + [(plan.end[o], -problem.power_w[o]) for o in range(problem.n_ops)], key=lambda e: (e[0], e[1]))
    level = peak = 0.0
    for _, dp in events:
        level += dp
        peak = max(peak, level)
    return peak


def test_power_cap_staggers_starts() -> None:
    free = optimize(_shop(None), time_limit_s=0.2)
    assert _peak(_shop(None), free) == 16000 and free.makespan == HOUR
    capped_p = _shop(cap=5000)
    capped = optimize(capped_p, time_limit_s=0.3)
    assert validate_plan(capped_p, capped) == []
    assert _peak(capped_p, capped) <= 5000
    assert capped.makespan == 4 * HOUR  # two at a time: staggered, not refused


def test_energy_weight_moves_flexible_work_into_cheap_hours() -> None:
    plain_p = _shop(cap=8000)
    plain = optimize(plain_p, time_limit_s=0.3)
    green_p = _shop(cap=8000, energy_w=1.0)
    green = optimize(green_p, time_limit_s=0.5)
    assert validate_plan(green_p, green) == []
    m_plain, m_green = metrics(plain_p, plain), metrics(green_p, green)
    assert m_green.energy_cost < 0.5 * m_plain.energy_cost
    assert all(10 * HOUR <= green.start[o] and green.end[o] <= 16 * HOUR for o in range(8))
    assert m_green.energy_co2_g < m_plain.energy_co2_g


def test_due_dates_limit_how_far_work_is_shifted() -> None:
    p = _shop(cap=None, energy_w=1.0)
    p.job_due = [3 * HOUR] * 8
    plan = optimize(p, time_limit_s=0.3)
    assert validate_plan(p, plan) == [] and metrics(p, plan).late_jobs == 0


def test_cap_and_windows_on_a_real_instance(shared: Path) -> None:
    base = load_instance(shared / "bench" / "fjsp" / "brandimarte" / "mk01.fjs")
    base.power_w = [100.0 * (1 + o % 3) for o in range(base.n_ops)]
    base.power_cap_w = 450.0
    base.unavailable = [[(10, 20)] if m % 2 == 0 else [] for m in range(base.n_machines)]
    plan = optimize(base, time_limit_s=0.5, seed=2)
    assert validate_plan(base, plan) == []
    assert _peak(base, plan) <= 450.0
