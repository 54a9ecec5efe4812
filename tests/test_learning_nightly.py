"""The nightly training (issue 15): besides after N finished jobs, once a day at ``[learning] nightly_hour`` in the
site's time zone, if there is any new finished job since the active version's data. Driven by a clock the test
moves by hand: no sleeps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.core.bus import EventBus
from app.core.clock import ManualClock
from app.core.domain.errors import ValidationError
from app.core.learning.nightly import next_nightly, poll_s
from app.core.learning.service import LearningSettings


def test_the_next_nightly_moment() -> None:
    at = datetime(2026, 12, 2, 2, 30, tzinfo=UTC)
    assert next_nightly(at, 3, UTC) == datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert next_nightly(datetime(2026, 12, 2, 3, 0, tzinfo=UTC), 3, UTC) == datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
    berlin = next_nightly(at, 3, ZoneInfo("Europe/Berlin"))  # 03:00 in Berlin is 02:00 UTC in December
    assert berlin is not None and berlin.astimezone(UTC) == datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    assert next_nightly(at, -1, UTC) is None
    assert poll_s(1.0) == 60.0 and poll_s(600.0) == 1.0 and poll_s(float("inf")) == 0.5


def test_a_nightly_hour_out_of_range_is_a_clear_error() -> None:
    assert LearningSettings.from_section({"nightly_hour": 22}).nightly_hour == 22
    with pytest.raises(ValidationError, match="nightly_hour = 24: use an hour 0..23, or -1 for never"):
        LearningSettings.from_section({"nightly_hour": 24})


pytest.importorskip("sklearn", reason="training needs the learn extra (scikit-learn, skl2onnx)")


async def _nights(tmp_path: Path) -> None:
    from app.core.learning.runtime import LearningRuntime
    from app.core.learning.service import LearningService
    from app.core.store.db import open_store
    from app.devices.sim_history import simulate_history

    store = open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    clock = ManualClock(datetime(2026, 12, 2, 1, 0, tzinfo=UTC))
    settings = LearningSettings(min_jobs=60, retrain_after_jobs=10_000, nightly_hour=3)  # only the nightly one
    svc = LearningService(store, tmp_path / "models", settings)
    rt = LearningRuntime(svc, EventBus(), clock, zone=UTC)
    rt.train_in_worker = False
    await rt.start()
    try:
        history = simulate_history(160, seed=4)
        svc.repo.add(history)
        assert rt.next_nightly == datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
        assert rt.nightly_tick() is None  # 01:00: not yet
        clock.advance(2 * 3600 - 60)
        assert rt.nightly_tick() is None  # 02:59: not yet
        clock.advance(120)  # 03:01: due, and there is data the (absent) model has not seen
        task = rt.nightly_tick()
        assert task is not None
        await task
        assert rt.last_nightly is not None and rt.last_nightly["trained"]
        assert rt.last_result is not None and rt.last_result["decision"]["promoted"]
        assert svc.registry.active() == "v0001"
        assert rt.next_nightly == datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
        clock.advance(1800)
        assert rt.nightly_tick() is None  # once a night

        clock.advance(24 * 3600)  # the next night: nothing new since v0001's data, so no training
        task = rt.nightly_tick()
        assert task is not None
        await task
        assert rt.last_nightly["trained"] is False and svc.registry.versions() == ["v0001"]

        # new finished jobs during the day: the night after trains a new version (promoted only if better)
        later = max(r.finished_at for r in history) + 3600
        assert svc.repo.add(simulate_history(5, seed=9, start_at=later)) == 5
        clock.advance(24 * 3600)
        task = rt.nightly_tick()
        assert task is not None
        await task
        assert rt.last_nightly["trained"] and svc.registry.versions() == ["v0001", "v0002"]
        assert "held-out duration error" in rt.last_nightly["decision"]["reason"]
    finally:
        await rt.stop()
        store.close()


def test_the_site_trains_once_a_night_when_there_is_new_data(tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(_nights(tmp_path), 120))


def test_the_nightly_loop_fires_on_its_own(tmp_path: Path) -> None:
    """Nothing calls the tick here: the runtime's own loop sees the hour pass on the moved clock."""
    from app.core.learning.runtime import LearningRuntime
    from app.core.learning.service import LearningService
    from app.core.store.db import open_store

    async def go() -> None:
        store = open_store(f"sqlite:///{tmp_path / 'l.sqlite3'}")
        clock = ManualClock(datetime(2026, 12, 2, 22, 0, tzinfo=UTC))
        rt = LearningRuntime(LearningService(store, tmp_path / "m", LearningSettings(nightly_hour=23)), EventBus(),
                             clock, zone=UTC)
        await rt.start()
        try:
            clock.advance(3601)
            for _ in range(100):  # the loop looks every 0.5 s on a hand-moved clock
                await asyncio.sleep(0.05)
                if rt.last_nightly is not None:
                    break
            assert rt.last_nightly is not None and rt.last_nightly["trained"] is False  # too little history
            assert rt.next_nightly == datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
        finally:
            await rt.stop()
            store.close()

    asyncio.run(asyncio.wait_for(go(), 30))
