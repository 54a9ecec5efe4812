"""What production decides when a machine comes back having run work that was moved (pure rules), and the
settings that bound it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid4

import pytest

from app.core.domain.errors import ConfigError
from app.core.fleet.link_settings import (
    DEFAULT_IN_DOUBT_GRACE_S,
    AgentLinkSettings,
    agent_link_settings,
    in_doubt_grace_s,
)
from app.core.production.in_doubt import MAX_APART, InDoubt, Verdict, decide


@pytest.mark.parametrize(("state", "fraction", "quantity", "done", "others", "open_", "verdict", "cancel"), [
    # not replanned yet / replanned copy not started: it carries on, nothing else runs
    ("running", 0.4, 1, 0, [], True, Verdict.CONTINUE, None),
    # the replanned copy started: one part wanted, keep the copy further along
    ("running", 0.6, 1, 0, [0.1], True, Verdict.KEEP_RETURNED, 0),
    ("running", 0.2, 1, 0, [0.7], True, Verdict.KEEP_OTHER, None),
    # three wanted, two copies running elsewhere: room for this one too, both count
    ("running", 0.2, 3, 0, [0.7, 0.1], True, Verdict.COUNT, None),
    # it finished while apart: counted; a redundant copy still running is cancelled (the least advanced)
    ("completed", 1.0, 1, 0, [0.9], True, Verdict.KEEP_RETURNED, 0),
    ("completed", 1.0, 2, 0, [0.5, 0.2], True, Verdict.KEEP_RETURNED, 1),
    ("completed", 1.0, 2, 0, [0.5], True, Verdict.COUNT, None),
    ("completed", 1.0, 1, 0, [], True, Verdict.COUNT, None),
    # the part was already made elsewhere: one too many, told; a copy still running is stopped
    ("completed", 1.0, 1, 1, [], False, Verdict.EXTRA, None),
    ("running", 0.5, 1, 1, [], False, Verdict.CANCEL_RETURNED, None),
    # it failed or stopped while apart: its work had moved already
    ("failed", 0.3, 1, 0, [0.1], True, Verdict.NOTHING, None),
    ("paused", 0.3, 1, 0, [], True, Verdict.NOTHING, None),
])
def test_reconcile_rules(state, fraction, quantity, done, others, open_, verdict, cancel) -> None:
    d = decide(state, fraction, quantity=quantity, done=done, others=others, part_open=open_)
    assert (d.verdict, d.cancel_other) == (verdict, cancel)


@dataclass
class _Run:
    job_id: object
    run_id: str


def test_in_doubt_bookkeeping_is_bounded_and_takes_each_run_once() -> None:
    doubt = InDoubt(10.0)
    node = uuid4()
    assert doubt.enter(node, 100.0) and not doubt.enter(node, 105.0)
    assert doubt.left_s(node, 104.0) == 6.0 and doubt.machines(120.0) == {node: 0.0}
    run = _Run(uuid4(), "r1")
    doubt.apart(node, run)
    assert doubt.take_for(node, run.job_id) == (node, run) and doubt.take("r1") is None
    for i in range(MAX_APART + 50):
        doubt.apart(node, _Run(uuid4(), f"x{i}"))
    assert doubt.apart_count == MAX_APART and doubt.take("x0") is None and doubt.take(f"x{MAX_APART + 49}")
    with pytest.raises(ValueError):
        InDoubt(-1)


def test_link_settings_are_checked() -> None:
    assert in_doubt_grace_s({}) == 120.0 and in_doubt_grace_s({"in_doubt_grace_s": 0}) == 0.0
    s = agent_link_settings({"keepalive_s": 5, "reconnect_max_s": 2.5})
    assert (s.keepalive_s, s.reconnect_max_s, s.connect_timeout_s) == (5.0, 2.5, 10.0)
    with pytest.raises(ConfigError, match=r"\[scheduler\] in_doubt_grace_s must be a number of seconds 0 or more"):
        in_doubt_grace_s({"in_doubt_grace_s": -1})
    with pytest.raises(ConfigError, match=r"\[agents\] keepalive_s"):
        agent_link_settings({"keepalive_s": 0})
    with pytest.raises(ConfigError, match="reconnect_max_s"):
        agent_link_settings({"reconnect_max_s": "soon"})


def test_the_config_schema_knows_these_keys_with_the_same_defaults() -> None:
    from app.core.config import SCHEMA, check_config

    d = AgentLinkSettings()
    assert {k: v.default for k, v in SCHEMA["agents"].items()} == {
        "keepalive_s": d.keepalive_s, "reconnect_max_s": d.reconnect_max_s, "connect_timeout_s": d.connect_timeout_s}
    assert SCHEMA["scheduler"]["in_doubt_grace_s"].default == DEFAULT_IN_DOUBT_GRACE_S == in_doubt_grace_s({})
    raw = {"scheduler": {"in_doubt_grace_s": 30}, "agents": {"keepalive_s": 5, "reconect_max_s": 9}}
    assert check_config(raw) == ["[agents] reconect_max_s is not a known key; did you mean reconnect_max_s?"]


def test_a_machine_that_said_it_still_runs_its_copy_is_not_taken_for_one_that_lost_it(tmp_path) -> None:
    """The order a real link gives: the run record first, the node's way out of OFFLINE after it; a planning
    round in between must neither put the machine in doubt again nor move its part."""
    import asyncio

    from app.bootstrap import build_core
    from app.core.clock import ScaledClock
    from app.core.config import load_config
    from app.core.device_events import DeviceJobRecord
    from app.core.domain import JobState, NodeState
    from app.core.fleet.driver_link import node_path
    from app.devices.simulator import SimConfig, SimulatedMachine

    async def go():
        clock = ScaledClock(10.0)
        core = build_core(load_config(str(tmp_path)), clock, connect_machines=False, plan_budget_s=0.05)
        await core.kernel.boot()
        try:
            node = await core.fleet.register("L1", {"process": "laser"}, bring_up=True)
            sim = SimulatedMachine("L1", node.capabilities, clock, SimConfig(telemetry_interval_s=30.0))
            await core.machines.attach(node.id, sim)
            job = await core.jobs.submit({"name": "sign", "parts": [
                {"name": "panel", "process": "laser", "material": "acrylic", "size": [50, 50, 3],
                 "estimated_duration_s": 36000}]})
            for _ in range(200):
                if core.production.run_on(node.id):
                    break
                await asyncio.sleep(0.02)
            job_id, part_id, run_id = core.production.run_on(node.id)

            async def move(to: NodeState) -> None:
                n = core.fleet.get(node.id)
                await core.fleet.set_state(node.id, node_path(n.state, to), "link", actor="test")

            await move(NodeState.OFFLINE)
            await core.production.cycle()
            held = core.production.doubt.pending(node.id)
            core.bus.publish(DeviceJobRecord(node.id, job_id, run_id, "running", 0.3, part_id, 0))
            await core.bus.drain()
            await core.production.cycle()  # the node is still OFFLINE here
            again = core.production.doubt.pending(node.id)
            await move(NodeState.EXECUTING)
            await core.production.cycle()
            part = (await core.jobs.get(job.id)).parts[0]
            still = core.production.run_on(node.id)
            await sim.disconnect()
            return held, again, part, still, run_id
        finally:
            await core.kernel.shutdown()

    held, again, part, still, run_id = asyncio.run(asyncio.wait_for(go(), 60))
    assert held and not again
    assert part.state is JobState.IN_PROGRESS and part.assigned_node is not None
    assert still is not None and still[2] == run_id  # the same run goes on: not moved, not started again
