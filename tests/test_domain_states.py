from datetime import UTC, datetime

import pytest

from app.core.domain import (
    Capabilities,
    IllegalTransitionError,
    Job,
    JobState,
    Node,
    NodeState,
    Part,
    ProcessType,
    advance,
)
from app.core.domain.states import JOB_TRANSITIONS, NODE_TRANSITIONS

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_job_walks_the_happy_path_and_every_step_is_timestamped() -> None:
    job = Job(name="j")
    path = [JobState.VALIDATED, JobState.SCHEDULED, JobState.ASSIGNED, JobState.IN_PROGRESS, JobState.PAUSED,
            JobState.IN_PROGRESS, JobState.COMPLETED]
    changes = [advance(job, s, T0, "step") for s in path]
    assert job.state is JobState.COMPLETED
    assert [c.to_state for c in changes] == [s.value for s in path]
    assert changes[0].from_state == "SUBMITTED" and all(c.at == T0 and c.obj_id == job.id for c in changes)


def test_illegal_transition_names_object_state_and_target() -> None:
    job = Job(name="j")
    with pytest.raises(IllegalTransitionError) as err:
        advance(job, JobState.COMPLETED, T0)
    msg = str(err.value)
    assert str(job.id) in msg and "SUBMITTED" in msg and "COMPLETED" in msg and msg.startswith("job ")
    assert job.state is JobState.SUBMITTED  # unchanged


def test_terminal_job_states_are_final() -> None:
    assert JOB_TRANSITIONS[JobState.COMPLETED] == frozenset()
    assert JOB_TRANSITIONS[JobState.CANCELLED] == frozenset()


def test_part_uses_its_own_table_and_kind() -> None:
    part = Part(job_id=Job(name="j").id, name="p", process=ProcessType.FDM, material_type="pla", size_mm=(1, 1, 1))
    change = advance(part, JobState.VALIDATED, T0)
    assert change.kind == "part"
    with pytest.raises(IllegalTransitionError, match="part"):
        advance(part, JobState.IN_PROGRESS, T0)


def test_node_lifecycle_from_the_spec() -> None:
    node = Node(name="n", capabilities=Capabilities(ProcessType.FDM))
    for s in (NodeState.CONFIGURED, NodeState.IDLE, NodeState.ASSIGNED, NodeState.EXECUTING,
              NodeState.COMPLETED, NodeState.IDLE, NodeState.MAINTENANCE, NodeState.IDLE,
              NodeState.DECOMMISSIONED):
        advance(node, s, T0)
    assert NODE_TRANSITIONS[NodeState.DECOMMISSIONED] == frozenset()
    with pytest.raises(IllegalTransitionError, match="DECOMMISSIONED"):
        advance(node, NodeState.IDLE, T0)


def test_every_state_has_a_row_in_its_table() -> None:
    assert set(JOB_TRANSITIONS) == set(JobState)
    assert set(NODE_TRANSITIONS) == set(NodeState)
    for table in (JOB_TRANSITIONS, NODE_TRANSITIONS):
        for targets in table.values():
            assert targets <= set(table)


def test_capabilities_fit_and_materials() -> None:
    caps = Capabilities.from_dict({"process": "FDM", "build_volume_mm": [250, 210, 210], "materials": ["PLA"]})
    assert caps.fits((200, 240, 10))  # rotated fits
    assert not caps.fits((200, 240, 10), rotate=False)
    assert not caps.fits((300, 10, 10))
    assert caps.can_use("pla") and not caps.can_use("petg")
    assert Capabilities.from_dict(caps.to_dict()) == caps
