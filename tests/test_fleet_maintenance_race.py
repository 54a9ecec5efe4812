"""Completing a machine's maintenance is one guarded write: of two completions at once (two callers in one
process, or two processes on one database) exactly one completes; the other is refused and changes nothing."""

import asyncio
from datetime import UTC, datetime

import pytest

from app.core import audit
from app.core.bus import EventBus
from app.core.clock import ManualClock
from app.core.domain import NodeState
from app.core.domain.errors import ValidationError
from app.core.fleet.service import FleetService
from app.core.store.db import open_store

from .helpers import FDM, run_with_core


def _outcomes(results: list) -> tuple[list, list]:
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    return done, refused


async def _stored(fleet: FleetService, store, node_id) -> tuple[list, list, list]:
    maint = await fleet.maintenance(node_id)
    idle = [c for c in await fleet.timeline(node_id) if c.to_state == "IDLE" and c.reason == "maintenance done"]
    log = await audit.read_log(store, "system", target=f"node:{node_id}", action_prefix="node.maintenance.complete")
    return maint, idle, log


def test_two_completions_at_once_in_one_process_complete_once(tmp_path, db_url) -> None:
    async def go(core):
        node = await core.fleet.register("P1", FDM, bring_up=True)
        await core.fleet.schedule_maintenance(node.id, datetime(2026, 12, 1, 8, tzinfo=UTC), notes="nozzle")
        await core.fleet.start_maintenance(node.id)
        results = await asyncio.gather(core.fleet.complete_maintenance(node.id, notes="first"),
                                       core.fleet.complete_maintenance(node.id, notes="second"),
                                       return_exceptions=True)
        return results, core.fleet.get(node.id), await _stored(core.fleet, core.store, node.id)

    results, node, (maint, idle, log) = run_with_core(tmp_path, db_url, go)
    done, refused = _outcomes(results)
    assert len(done) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], ValidationError) and "no maintenance to complete" in str(refused[0])
    assert node.state is NodeState.IDLE
    assert len(maint) == 1 and maint[0].completed_date is not None
    assert maint[0].notes == "nozzle\nfirst"  # the winner's notes, once; the refused call added nothing
    assert len(idle) == 1 and len(log) == 1


def test_two_processes_completing_at_once_complete_once(tmp_path, db_url) -> None:
    """Two fleet services, each with its own store (own connection pool and writer thread) on one database: each
    believes the machine is in maintenance; the database decides."""
    async def go():
        stores = [open_store(db_url), open_store(db_url, migrate=False)]
        clock = ManualClock()
        fleets = [FleetService(s, EventBus(), clock) for s in stores]
        try:
            node = await fleets[0].register("P1", FDM, bring_up=True)
            await fleets[0].start_maintenance(node.id)
            await fleets[1].start()
            assert fleets[1].get(node.id).state is NodeState.MAINTENANCE
            results = await asyncio.gather(fleets[0].complete_maintenance(node.id, notes="by A"),
                                           fleets[1].complete_maintenance(node.id, notes="by B"),
                                           return_exceptions=True)
            return results, [f.get(node.id).state for f in fleets], await _stored(fleets[0], stores[0], node.id)
        finally:
            for s in stores:
                s.close()

    results, states, (maint, idle, log) = asyncio.run(go())
    done, refused = _outcomes(results)
    assert len(done) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], ValidationError) and "nothing changed" in str(refused[0])
    assert states == [NodeState.IDLE, NodeState.IDLE]  # the refused one now knows the machine is back
    assert len(maint) == 1 and maint[0].completed_date is not None  # one emergency record, not two
    assert maint[0].notes in ("by A", "by B")
    assert len(idle) == 1 and len(log) == 1


def test_completing_an_idle_machine_is_refused_with_a_clear_message(tmp_path) -> None:
    async def go(core):
        node = await core.fleet.register("P1", FDM, bring_up=True)
        with pytest.raises(ValidationError, match="idle: no maintenance to complete"):
            await core.fleet.complete_maintenance(node.id, notes="x")
        return await core.fleet.maintenance(node.id)

    assert run_with_core(tmp_path, f"sqlite:///{tmp_path / 'imewe.sqlite3'}", go) == []
