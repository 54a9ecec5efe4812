"""From the shop's jobs, parts and nodes to a plan: eligibility, swarm jobs, follow-up steps, dispatch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.domain import (
    Capabilities,
    Job,
    JobState,
    MaintenanceType,
    Node,
    NodeMaintenance,
    NodeState,
    Part,
    ProcessType,
)
from app.core.domain.errors import ValidationError
from app.core.scheduling import (
    DispatchWeights,
    build_problem,
    critical_path,
    dispatch,
    optimize,
    plan_to_dict,
    score_nodes,
    validate_plan,
)

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def fdm(name: str, vol: float = 250, loaded: str = "pla", speed: float = 100, power: float = 300,
        state: NodeState = NodeState.IDLE, tags: frozenset[str] = frozenset()) -> Node:
    caps = Capabilities(ProcessType.FDM, (vol, vol, vol), frozenset({"pla", "petg"}), loaded, 0.4, power, 10, speed,
                        tags=tags)
    return Node(name, caps, state=state)


def part(job: Job, name: str, size: float = 50, material: str = "pla", secs: int = 3600, qty: int = 1,
         process: ProcessType = ProcessType.FDM) -> Part:
    p = Part(job.id, name, process, material, (size, size, size), quantity=qty, estimated_duration_s=secs)
    job.parts.append(p)
    return p


def test_eligibility_by_process_material_volume_state_and_tags() -> None:
    small, big = fdm("small", vol=150), fdm("big", vol=350)
    broken = fdm("broken", vol=350, state=NodeState.ERROR)
    laser = Node("laser", Capabilities(ProcessType.LASER, (600, 400, 10)), state=NodeState.IDLE)
    tagged = fdm("enclosed", vol=350, tags=frozenset({"enclosure"}))
    job = Job("bracket", priority=7)
    p_big = part(job, "housing", size=300)
    p_small = part(job, "clip", size=20)
    p_abs = part(job, "abs-part", material="abs")
    built = build_problem([job], [small, big, broken, laser, tagged], NOW)
    prob = built.problem
    names = {built.ops[o].part_id: {prob.machine_names[m] for m, _ in prob.alts[o]} for o in range(prob.n_ops)}
    assert names[p_big.id] == {"big", "enclosed"}
    assert names[p_small.id] == {"small", "big", "enclosed"}
    assert p_abs.id in built.skipped and "cannot use abs" in built.skipped[p_abs.id]
    job2 = Job("sealed", metadata={"tags": ["enclosure"]})
    p_t = part(job2, "seal")
    b2 = build_problem([job2], [small, big, tagged], NOW)
    assert {b2.problem.machine_names[m] for m, _ in b2.problem.alts[0]} == {"enclosed"}
    assert b2.ops[0].part_id == p_t.id


def test_swarm_job_assembly_waits_for_every_copy_and_shows_its_critical_path() -> None:
    nodes = [fdm(f"p{i}") for i in range(6)] + [
        Node("arm", Capabilities(ProcessType.ROBOT_ARM), state=NodeState.IDLE)]
    job = Job("drone", priority=9, due_at=NOW + timedelta(hours=10))
    arms = part(job, "arm", qty=4, secs=2 * 3600)
    body = part(job, "body", secs=5 * 3600)
    asm = part(job, "assembly", process=ProcessType.ROBOT_ARM, material="", secs=1800)
    asm.depends_on = [arms.id, body.id]
    built = build_problem([job], nodes, NOW)
    prob = built.problem
    plan = optimize(prob, time_limit_s=0.3)
    assert validate_plan(prob, plan) == []
    a = next(o for o, r in enumerate(built.ops) if r.part_id == asm.id)
    feeders = [o for o, r in enumerate(built.ops) if r.part_id in (arms.id, body.id)]
    assert len(feeders) == 5 and all(plan.end[f] <= plan.start[a] for f in feeders)
    assert len({plan.machine[f] for f in feeders}) == 5  # spread over the fleet
    assert plan.makespan == 5 * 3600 + 1800  # the body is the bottleneck
    cp = critical_path(prob, plan)
    assert built.ops[cp[0]].part_id == body.id and cp[-1] == a
    assert critical_path(prob, plan, job=0) == cp  # the only job: its own critical path is the plan's
    d = plan_to_dict(prob, plan)
    assert d["jobs"][0]["critical_path"] == d["critical_path"]
    assert d["critical_path"][-1].startswith("drone/assembly")
    got = built.assignments(plan)
    assert got[a].start == NOW + timedelta(seconds=plan.start[a]) and got[a].node_id == nodes[-1].id


def test_follow_up_steps_setups_maintenance_and_running_work() -> None:
    a, b = fdm("a", loaded="pla"), fdm("b", loaded="petg")
    wash = Node("wash", Capabilities(ProcessType.POST_PROCESSING), state=NodeState.IDLE)
    job = Job("batch")
    running = part(job, "running", secs=3600)
    running.state, running.assigned_node, running.progress = JobState.IN_PROGRESS, a.id, 50.0
    for i in range(4):
        part(job, f"x{i}", material="petg" if i % 2 else "pla", secs=1200)
    maint = [NodeMaintenance(b.id, MaintenanceType.SCHEDULED, NOW + timedelta(hours=1))]
    built = build_problem([job], [a, b, wash], NOW, follow_up={ProcessType.FDM: [(ProcessType.POST_PROCESSING, 600)]},
                          maintenance=maint, setup_s=900)
    prob = built.problem
    plan = optimize(prob, time_limit_s=0.3)
    assert validate_plan(prob, plan) == []
    r0 = next(o for o, r in enumerate(built.ops) if r.part_id == running.id and r.step == 0)
    assert (plan.machine[r0], plan.start[r0], plan.end[r0]) == (0, 0, 1800)  # pinned, half done
    for o, r in enumerate(built.ops):
        if r.step == 1:
            assert prob.machine_names[plan.machine[o]] == "wash"
            assert plan.start[o] >= plan.end[o - 1]
        if prob.machine_names[plan.machine[o]] == "b":
            assert plan.end[o] <= 3600 or plan.start[o] >= 3600 + 4 * 3600  # not during maintenance


def test_nothing_to_plan_is_a_clear_error() -> None:
    job = Job("j")
    part(job, "p", process=ProcessType.SLA, material="resin-standard")
    with pytest.raises(ValidationError, match="nothing to plan"):
        build_problem([job], [fdm("a")], NOW)


def test_score_prefers_loaded_material_free_efficient_close_machines() -> None:
    job = Job("j")
    p = part(job, "p", size=100)
    p.estimated_material_g = 100
    loaded, other = fdm("loaded", loaded="pla"), fdm("other", loaded="petg")
    loaded.material_levels, other.material_levels = {"pla": 500}, {"pla": 500}
    ranked = score_nodes(p, [other, loaded])
    assert [r.node_id for r in ranked] == [loaded.id, other.id]
    assert abs(sum(DispatchWeights().__getattribute__(k) for k in ranked[0].terms) - 1.0) < 1e-9
    busy = fdm("busy", loaded="pla")
    busy.material_levels = {"pla": 500}
    ranked = score_nodes(p, [busy, loaded], load={busy.id: 0.9, loaded.id: 0.0})
    assert ranked[0].node_id == loaded.id
    far = score_nodes(p, [busy, loaded], load={busy.id: 0.0, loaded.id: 0.0},
                      distance={busy.id: 0.0, loaded.id: 50.0})
    assert far[0].node_id == busy.id
    hungry = fdm("hungry", power=1200)
    hungry.material_levels = {"pla": 500}
    assert score_nodes(p, [hungry, loaded])[0].node_id == loaded.id
    low = fdm("low")
    low.material_levels = {"pla": 10}
    assert score_nodes(p, [low, loaded])[0].node_id == loaded.id
    # weights are configurable: with only distance counting, the closest wins
    w = DispatchWeights(capability=0, load=0, energy=0, material=0, distance=1)
    assert score_nodes(p, [other, loaded], weights=w, distance={other.id: 1, loaded.id: 9})[0].node_id == other.id


def test_dispatch_gives_the_freed_machine_the_right_part() -> None:
    small, big = fdm("small", vol=150), fdm("big", vol=350)
    urgent, normal = Job("urgent", priority=9), Job("normal", priority=3)
    p_big = part(normal, "big-only", size=300)
    p_urgent = part(urgent, "urgent-small", size=30)
    p_normal = part(normal, "normal-small", size=30)
    prio = {urgent.id: 9, normal.id: 3}
    assert dispatch(small, [p_normal, p_urgent, p_big], [small, big], priority=prio) is p_urgent
    assert dispatch(big, [p_big], [small, big], priority=prio) is p_big
    big.active_jobs = [normal.id]
    big.state = NodeState.EXECUTING
    assert dispatch(small, [p_big], [small, big], priority=prio) is None  # it cannot take the big part


def test_each_job_has_its_own_critical_path() -> None:
    nodes = [fdm(f"p{i}") for i in range(3)]
    big, small = Job("big"), Job("small")
    part(big, "slab", secs=8 * 3600)
    first = part(small, "base", secs=1800)
    top = part(small, "top", secs=900)
    top.depends_on = [first.id]
    built = build_problem([big, small], nodes, NOW)
    plan = optimize(built.problem, time_limit_s=0.2)
    names = built.problem.op_names
    assert [names[o] for o in critical_path(built.problem, plan)] == ["big/slab#1"]
    assert [names[o] for o in critical_path(built.problem, plan, job=1)] == ["small/base#1", "small/top#1"]
