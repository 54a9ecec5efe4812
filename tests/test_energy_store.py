"""The energy tables on every backend (SQLite file; PostgreSQL when IMEWE_TEST_PG_URL is set)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.core.bus import EventBus
from app.core.clock import ManualClock
from app.core.energy.config import demo_site
from app.core.energy.service import EnergyService
from app.core.store.db import open_store

START = datetime(2026, 6, 21, 4, 0, tzinfo=UTC)


def test_flows_and_usage_add_up_on_every_backend(db_url: str) -> None:
    store = open_store(db_url)
    try:
        svc = EnergyService(store, EventBus(), ManualClock(START), demo_site())
        nodes = [uuid.uuid4() for _ in range(3)]
        job = uuid.uuid4()

        async def go():
            svc._last_tick = START
            for s in range(0, 3 * 3600 + 1, 60):
                at = START + timedelta(seconds=s)
                for i, n in enumerate(nodes):
                    svc.record(n, at, 1000.0 * (i + 1), job if i == 0 else None)
                if s % 600 == 0 and s:
                    await svc.tick(at)

        asyncio.run(go())
        ranking = svc.ranking("day", START)
        assert [round(u.kwh, 6) for _, u in ranking] == [9.0, 6.0, 3.0]
        assert svc.usage_of("job", job).kwh == pytest.approx(3.0)
        tot = svc.totals("day", START)
        m = svc.manager.totals
        assert tot["load_kwh"] == pytest.approx(m.load_kwh) and tot["cost"] == pytest.approx(m.cost)
        assert tot["solar_kwh"] == pytest.approx(m.solar_kwh) and tot["grid_kwh"] == pytest.approx(m.grid_kwh)
        assert len(svc.flows(START)) == 18
    finally:
        store.close()


def test_service_segments_follow_the_clock_unless_an_origin_is_set(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        clock = ManualClock(START.replace(hour=20))  # 22:00 in Berlin: night, no sun
        svc = EnergyService(store, EventBus(), clock, demo_site())
        assert svc.segments(0, 3600) == svc.plan_forecast(clock.now()).segments(0, 3600)
        assert svc.segments(0, 3600)[0][2] == 0.18  # the 21-24 h tariff: no solar at night
        clock.advance(3 * 3600)  # 01:00 local: the cheap night tariff
        assert svc.segments(0, 3600)[0][2] == 0.12
        svc.set_plan_origin(START.replace(hour=20))
        clock.advance(3600)
        assert svc.segments(0, 3600)[0][2] == 0.18
    finally:
        store.close()
