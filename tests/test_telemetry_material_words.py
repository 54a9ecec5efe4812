"""A low-material alert reads as an operator would say it: the machine's name, the loaded material and the
amounts in grams (it said "Low material: loaded at node 52e266a4-… (100 left, reorder below 100)"), and the
loaded material's own threshold applies."""

from __future__ import annotations

import uuid
from pathlib import Path

from app.core.bus import EventBus
from app.core.clock import ManualClock
from app.core.store.db import open_store
from app.core.telemetry.service import TelemetryService, TelemetrySettings
from tests.test_telemetry_support import T0, samples

NODE = uuid.UUID(int=9)


def _low(svc: TelemetryService, grams: float) -> list:
    s = samples([NODE], 1, start=T0)[0]
    s.metrics["material_remaining"] = grams
    return [f for f in svc.ingest(s) if f.type == "material_low"]


def test_low_material_names_the_machine_and_material_with_grams(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    try:
        settings = TelemetrySettings(material_thresholds={"petg": 300.0})
        svc = TelemetryService(store, EventBus(), ManualClock(T0), settings,
                               loaded_of=lambda n: ("Raise3D Pro3", "petg") if n == NODE else ("", "?"))
        (low,) = _low(svc, 250.0)  # below petg's own 300 g (the default 100 g would say nothing)
        assert low.message == "Low material: petg on Raise3D Pro3, 250 g left (reorder below 300 g)"
        assert low.metric == "material:petg"
        assert str(NODE) not in low.message and "node" not in low.message
        plain = TelemetryService(store, EventBus(), ManualClock(T0))  # nothing to name it by: the id, still grams
        (low,) = _low(plain, 50.0)
        assert low.message == f"Low material: loaded material on machine {NODE}, 50 g left (reorder below 100 g)"
    finally:
        store.close()
