"""The scheduler: problem model, constructive rules, anytime optimiser, dispatch, replanning, validator.

Entry points for services:
- ``build_problem(jobs, nodes, now, ...)`` -> ``BuiltProblem`` (``.problem``, ``.assignments(plan)``)
- ``optimize(problem, time_limit_s, seed)`` -> ``Plan``; ``validate_plan(problem, plan)`` -> violations
- ``machine_failed / op_finished / add_job / cancel_job`` -> ``ReplanResult`` (incremental replanning)
- ``score_nodes / dispatch`` for real-time decisions when a machine frees up
"""

from app.core.scheduling.builder import Assignment, BuiltProblem, build_problem, node_can_run
from app.core.scheduling.constructive import construct
from app.core.scheduling.dispatch import DispatchWeights, NodeScore, dispatch, score_nodes
from app.core.scheduling.fjs_io import FjsFormatError, load_instance, parse_fajsp, parse_fjs
from app.core.scheduling.forecast import EnergyForecast, FlatForecast, PeriodicForecast
from app.core.scheduling.optimize import optimize
from app.core.scheduling.plan import Metrics, Plan, critical_path, metrics, objective_value, plan_to_dict
from app.core.scheduling.problem import INF, Objective, Problem
from app.core.scheduling.replan import ReplanResult, add_job, cancel_job, machine_failed, op_finished, repair
from app.core.scheduling.validate import validate_plan

__all__ = [
    "INF", "Assignment", "BuiltProblem", "DispatchWeights", "EnergyForecast", "FjsFormatError", "FlatForecast",
    "Metrics", "NodeScore", "Objective", "PeriodicForecast", "Plan", "Problem", "ReplanResult", "add_job",
    "build_problem", "cancel_job", "construct", "critical_path", "dispatch", "load_instance", "machine_failed",
    "metrics", "node_can_run", "objective_value", "op_finished", "optimize", "parse_fajsp", "parse_fjs",
    "plan_to_dict", "repair", "score_nodes", "validate_plan",
]
