"""A setup cost in the objective (``[scheduler] setup_weight``): plans group work by material even where the
makespan does not gain from it, and the plan reports its total setup time."""

from __future__ import annotations

import pytest

from app.core.domain.errors import ConfigError
from app.core.production.service import plan_objective
from app.core.scheduling import optimize, validate_plan
from app.core.scheduling.plan import metrics
from app.core.scheduling.problem import Objective, Problem


def _shop(objective: Objective) -> Problem:
    # a long job on machine 0 sets the makespan (100); machine 1 has A B A B (a change costs 10): in any order it
    # ends long before 100, so only a setup cost makes the plan group them
    return Problem(n_machines=2, op_job=[0, 1, 2, 3, 4], alts=[[(0, 100)]] + [[(1, 1)]] * 4,
                   preds=[[] for _ in range(5)], family=[-1, 0, 1, 0, 1], setup_time=[[0, 10], [10, 0]],
                   objective=objective)


@pytest.mark.parametrize("use_cpsat", [False, True])
def test_a_setup_cost_groups_work_by_material(use_cpsat: bool) -> None:
    p = _shop(Objective(makespan=1.0, setups=0.1))
    plan = optimize(p, time_limit_s=3.5 if use_cpsat else 0.5, workers=2 if use_cpsat else 1, use_cpsat=use_cpsat)
    assert validate_plan(p, plan) == []
    assert plan.makespan == 100
    assert metrics(p, plan).setup_time == 10  # one change: A A B B


def test_the_objective_takes_the_configured_weight() -> None:
    assert plan_objective("tardiness", setup_weight=2.0).setups == 2.0  # type: ignore[union-attr]
    assert plan_objective("makespan", setup_weight=0.5) == Objective(makespan=1.0, setups=0.5)
    assert plan_objective("makespan") is None  # the default: makespan alone
    with pytest.raises(ConfigError):
        plan_objective("makespan", setup_weight=-1.0)
