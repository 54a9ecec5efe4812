"""The services as bootstrap builds them from config.toml: they start, take samples from the bus, account
energy, and stop with everything stored."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from app.core.bus import EventBus
from app.core.clock import ManualClock
from app.core.config import load_config
from app.core.domain.entities import TelemetrySample
from app.core.domain.errors import ConfigError
from app.core.energy.wiring import build_energy
from app.core.events import NodeUpdated, TelemetryReceived
from app.core.store.db import open_store
from app.core.store.repositories import AlertRepo
from app.core.telemetry.repository import TelemetryRepo
from app.core.telemetry.wiring import build_telemetry

CONFIG = """
[telemetry]
raw_hours = 12
reorder_default = 200
[telemetry.rules]
vibration_limit = 2.0
"""


def test_built_services_run_on_the_bus(tmp_path: Path) -> None:
    home = Path(os.environ["IMEWE_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(CONFIG)
    config = load_config()
    store = open_store(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    clock = ManualClock()
    bus = EventBus()
    node = uuid.uuid4()
    levels = {node: {"pla": 150.0, "petg": 900.0}}
    tel = build_telemetry(config, store, bus, clock, materials_of=levels.__getitem__)
    energy = build_energy(config, store, bus, clock, demo=True)
    assert tel.settings.raw_keep_s == 12 * 3600 and tel.settings.limits.vibration_limit == 2.0
    assert energy.site.solar is not None and energy.site.battery is not None  # the demo site
    for svc in (tel, energy):
        assert isinstance(svc.name, str) and callable(svc.health)

    async def go():
        await tel.start()
        await energy.start()
        bus.start()
        for s in range(120):
            clock.advance(1.0)
            bus.publish(TelemetryReceived(TelemetrySample(node, clock.now(), {
                "power_w": 400.0, "vibration": 2.5 if s > 100 else 0.5}, uuid.uuid4())))
        bus.publish(NodeUpdated(node, "materials"))
        await bus.drain()
        await energy.tick(clock.now())
        health = tel.health(), energy.health()
        await energy.stop()
        await tel.stop()
        return health

    try:
        assert asyncio.run(go()) == ("ok", "ok")
        with store.connect() as conn:
            assert TelemetryRepo().count_raw(conn) == 240
            types = sorted(a.type for a in AlertRepo().list(conn))
        assert types == ["anomaly", "material_low", "vibration_high"]
        assert energy.ledger.machine_kwh == pytest.approx(400 * 119 / 3.6e6)
        assert energy.usage_of("node", node).kwh == pytest.approx(energy.ledger.machine_kwh)
        assert energy.manager.totals.load_kwh > energy.ledger.machine_kwh  # plus the site's base load
    finally:
        store.close()


def test_bad_telemetry_config_is_named(tmp_path: Path) -> None:
    home = Path(os.environ["IMEWE_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[telemetry]\nraw_hours = -1\n")
    store = open_store(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    try:
        with pytest.raises(ConfigError, match="telemetry"):
            build_telemetry(load_config(), store, EventBus(), ManualClock())
    finally:
        store.close()
