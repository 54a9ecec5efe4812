"""Production tells the operator one way: a FaultReported on the bus, which the alert service stores (deduplicated
and rate limited like every other fault), plus an audit entry."""

import asyncio

from app.bootstrap import build_core
from app.core.clock import ManualClock
from app.core.config import load_config
from app.core.domain.enums import Severity
from app.core.events import AlertRaised, FaultReported
from app.core.production import outcomes
from app.core.store.repositories import AlertRepo, AuditRepo

from .helpers import FDM


def test_production_tells_the_operator_through_the_bus_and_the_alert_is_stored_once(tmp_path) -> None:
    async def go():
        core = build_core(load_config(str(tmp_path)), ManualClock(), connect_machines=False)
        await core.kernel.boot()
        try:
            node = await core.fleet.register("P1", FDM, bring_up=True)
            faults: list[FaultReported] = []
            raised: list = []
            core.bus.subscribe(FaultReported, faults.append)
            core.bus.subscribe(AlertRaised, lambda e: raised.append(e.alert))
            for _ in range(2):  # the same condition twice: one alert
                await outcomes.tell(core.production, node.id, "in_doubt", Severity.WARNING,
                                    "P1 went out of reach mid-job", "run-1", {"run": "run-1"})
            await core.bus.drain()

            def read():
                with core.store.connect() as conn:
                    return AlertRepo().list(conn), AuditRepo().list(conn, action_prefix="production.")

            alerts, entries = await core.store.run(read)
            return node, faults, raised, alerts, entries
        finally:
            await core.kernel.shutdown()

    node, faults, raised, alerts, entries = asyncio.run(go())
    assert [(f.kind, f.node_id, f.key) for f in faults] == [("in_doubt", node.id, "run-1")] * 2
    assert len(raised) == 1 and raised[0].type == "in_doubt" and raised[0].node_id == node.id
    assert [(a.type, a.node_id, a.message) for a in alerts] == [("in_doubt", node.id, "P1 went out of reach mid-job")]
    assert [e.action for e in entries] == ["production.in_doubt"] * 2 and entries[0].after["run"] == "run-1"
