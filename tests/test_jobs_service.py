"""The job service on a real store: SQLite file and PostgreSQL."""

from datetime import UTC, datetime

import pytest

from app.core.domain import JobState, NodeState, ValidationError
from app.core.domain.errors import IllegalTransitionError
from app.core.store.repositories import AuditRepo

from .helpers import CNC, FDM, job_spec, run_with_core


def test_submit_stores_a_validated_multipart_job_that_survives_restart(tmp_path, db_url) -> None:
    async def submit(core):
        await core.fleet.register("P1", FDM, bring_up=True)
        await core.fleet.register("M1", CNC, bring_up=True)
        spec = {"name": "drone frame", "priority": 8, "due_at": "2026-12-01T17:00:00+00:00",
                "parts": [{"name": "arm", "process": "fdm", "material": "petg", "size": [120, 20, 10], "quantity": 4},
                          {"name": "plate", "process": "cnc_mill", "material": "aluminium",
                           "size": {"x": 3, "y": 3, "z": 0.2}, "units": "in"},
                          {"name": "assembly", "process": "fdm", "material": "pla", "size": [5, 5, 5],
                           "depends_on": [0, 1]}]}
        return await core.jobs.submit(spec, actor="alice")

    job = run_with_core(tmp_path, db_url, submit)
    assert job.state is JobState.VALIDATED

    async def read(core):
        return await core.jobs.get(job.id), await core.jobs.timeline(job.id)

    again, timeline = run_with_core(tmp_path, db_url, read)
    assert again.name == "drone frame" and again.priority == 8
    assert again.due_at == datetime(2026, 12, 1, 17, tzinfo=UTC)
    assert [p.name for p in again.parts] == ["arm", "plate", "assembly"]
    assert again.parts[1].size_mm == pytest.approx((76.2, 76.2, 5.08))
    assert again.parts[2].depends_on == [again.parts[0].id, again.parts[1].id]
    assert all(p.state is JobState.VALIDATED for p in again.parts)
    job_steps = [(c.from_state, c.to_state) for c in timeline if c.obj_id == job.id]
    assert job_steps == [(None, "SUBMITTED"), ("SUBMITTED", "VALIDATED")]
    assert len(timeline) == 2 * 4


def test_infeasible_part_is_rejected_with_the_reason_and_nothing_stored(tmp_path, db_url) -> None:
    async def go(core):
        await core.fleet.register("P1", FDM, bring_up=True)
        with pytest.raises(ValidationError, match="does not fit any FDM printer") as err:
            await core.jobs.submit(job_spec(parts=1) | {"parts": [
                {"name": "huge", "process": "fdm", "material": "pla", "size": [500, 10, 10]}]})
        assert err.value.field == "parts[0]"
        with pytest.raises(ValidationError, match=r"no Resin printer \(SLA\) is registered"):
            await core.jobs.submit({"name": "r", "parts": [
                {"name": "x", "process": "sla", "material": "resin-standard", "size": [5, 5, 5]}]})
        return await core.jobs.list()

    assert run_with_core(tmp_path, db_url, go) == []


def test_batch_is_all_or_nothing(tmp_path, db_url) -> None:
    async def go(core):
        await core.fleet.register("P1", FDM, bring_up=True)
        bad = [job_spec("a"), job_spec("b"), job_spec("c", priority=11)]
        with pytest.raises(ValidationError, match="job 3 of the batch: priority"):
            await core.jobs.submit_batch(bad)
        assert await core.jobs.list() == []
        jobs = await core.jobs.submit_batch([job_spec("a"), job_spec("b")])
        return jobs, await core.jobs.list()

    jobs, listed = run_with_core(tmp_path, db_url, go)
    assert {j.name for j in listed} == {"a", "b"} and len(jobs) == 2


def test_priority_cancel_reschedule_are_audited(tmp_path, db_url) -> None:
    async def go(core):
        await core.fleet.register("P1", FDM, bring_up=True)
        job = await core.jobs.submit(job_spec())
        await core.jobs.set_priority(job.id, 9, actor="bob")
        with pytest.raises(ValidationError, match="priority"):
            await core.jobs.set_priority(job.id, 0)
        await core.jobs.transition(job.id, JobState.SCHEDULED, "planned",
                                   parts={p.id: JobState.SCHEDULED for p in job.parts})
        back = await core.jobs.request_reschedule(job.id, actor="bob")
        assert back.state is JobState.VALIDATED and all(p.state is JobState.VALIDATED for p in back.parts)
        cancelled = await core.jobs.cancel(job.id, actor="bob")
        with pytest.raises(IllegalTransitionError, match="CANCELLED"):
            await core.jobs.cancel(job.id)
        with core.store.connect() as conn:
            audit = AuditRepo().list(conn, target=f"job:{job.id}")
        return cancelled, audit

    cancelled, audit = run_with_core(tmp_path, db_url, go)
    assert cancelled.state is JobState.CANCELLED
    assert all(p.state is JobState.CANCELLED for p in cancelled.parts)
    actions = [a.action for a in reversed(audit)]
    assert actions == ["job.submit", "job.priority", "job.scheduled", "job.reschedule", "job.cancel"]
    prio = next(a for a in audit if a.action == "job.priority")
    assert prio.actor == "bob" and prio.before == {"priority": 5} and prio.after == {"priority": 9}


def test_list_filters_by_state_and_name_and_find_by_prefix(tmp_path, db_url) -> None:
    async def go(core):
        await core.fleet.register("P1", FDM, bring_up=True)
        a = await core.jobs.submit(job_spec("alpha 100%"))
        b = await core.jobs.submit(job_spec("beta"))
        await core.jobs.cancel(b.id)
        found = await core.jobs.find(str(a.id)[:8])
        return (await core.jobs.list({JobState.CANCELLED}), await core.jobs.list(search="100%"), found, a)

    cancelled, searched, found, a = run_with_core(tmp_path, db_url, go)
    assert [j.name for j in cancelled] == ["beta"]
    assert [j.name for j in searched] == ["alpha 100%"]
    assert found.id == a.id


def test_fleet_register_configure_maintain_decommission(tmp_path, db_url) -> None:
    async def go(core):
        node = await core.fleet.register("P1", FDM, location="bay 1", bring_up=True)
        assert node.state is NodeState.IDLE
        with pytest.raises(ValidationError, match="already registered"):
            await core.fleet.register("P1", FDM)
        await core.fleet.configure(node.id, FDM | {"loaded_material": "petg"}, actor="admin")
        await core.fleet.schedule_maintenance(node.id, datetime(2026, 12, 1, 8, tzinfo=UTC), notes="nozzle")
        await core.fleet.start_maintenance(node.id)
        await core.fleet.complete_maintenance(node.id, notes="nozzle swapped")
        await core.fleet.set_state(node.id, [NodeState.ASSIGNED, NodeState.EXECUTING])
        with pytest.raises(ValidationError, match="working"):
            await core.fleet.decommission(node.id)
        await core.fleet.set_state(node.id, [NodeState.COMPLETED, NodeState.IDLE])
        await core.fleet.decommission(node.id)
        return node.id

    node_id = run_with_core(tmp_path, db_url, go)

    async def read(core):
        return core.fleet.get(node_id), await core.fleet.maintenance(node_id), await core.fleet.timeline(node_id)

    node, maint, timeline = run_with_core(tmp_path, db_url, read)
    assert node.state is NodeState.DECOMMISSIONED and node.capabilities.loaded_material == "petg"
    assert node.last_maintenance is not None
    assert len(maint) == 1 and maint[0].completed_date is not None and "nozzle swapped" in maint[0].notes
    assert [c.to_state for c in timeline] == ["REGISTERED", "CONFIGURED", "IDLE", "MAINTENANCE", "IDLE",
                                              "ASSIGNED", "EXECUTING", "COMPLETED", "IDLE", "DECOMMISSIONED"]
