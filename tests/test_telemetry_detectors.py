"""Both anomaly detectors through the telemetry service, chosen by ``[telemetry] detector``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from app.core.bus import EventBus
from app.core.clock import ManualClock
from app.core.domain.errors import ConfigError
from app.core.store.db import open_store
from app.core.telemetry.detectors import EwmaZ, RobustZ
from app.core.telemetry.service import TelemetryService, TelemetrySettings
from tests.test_telemetry_support import T0, samples

NODE = uuid.UUID(int=11)


def anomalies(tmp_path: Path, detector: str, burst: float) -> tuple[list[str], type]:
    store = open_store(f"sqlite:///{tmp_path / f'{detector}.sqlite3'}")
    try:
        settings = TelemetrySettings.from_config({"detector": detector})
        svc = TelemetryService(store, EventBus(), ManualClock(T0), settings)
        found = []
        for s in samples([NODE], 200, start=T0):
            found += [f.message for f in svc.ingest(s) if f.type == "anomaly"]
        assert found == []  # steady noisy work is not an anomaly
        for k in range(5):
            s = samples([NODE], 1, start=T0 + timedelta(seconds=300 + k), seed=k)[0]
            s.metrics["vibration"] = burst
            found += [f.message for f in svc.ingest(s) if f.type == "anomaly"]
        return found, type(svc._detectors[(NODE, "vibration")])  # noqa: SLF001 - which class the setting chose
    finally:
        store.close()


@pytest.mark.parametrize(("detector", "cls"), [("ewma", EwmaZ), ("robust", RobustZ)])
def test_the_configured_detector_flags_a_sustained_rise(tmp_path: Path, detector: str, cls: type) -> None:
    found, used = anomalies(tmp_path, detector, burst=3.0)
    assert used is cls
    assert found and all(m.startswith("vibration 3 is unusual") for m in found)
    quiet, _ = anomalies(tmp_path / "q", detector, burst=0.31)
    assert quiet == []


def test_robust_detector_ignores_one_spike_and_a_step_down() -> None:
    det = RobustZ(window=60, min_samples=20)
    for k in range(60):
        assert det.update(1.0 + 0.01 * (k % 5)) is None
    assert det.update(50.0) is None  # one spike: not yet a verdict
    assert det.update(1.02) is None
    verdicts = [det.update(9.0) for _ in range(3)]
    assert verdicts[-1] is not None and verdicts[-1].baseline == pytest.approx(1.02, abs=0.03)


def test_an_unknown_detector_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="detector 'median' is not one of ewma, robust"):
        TelemetrySettings.from_config({"detector": "median"})
