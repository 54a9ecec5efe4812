"""Building the telemetry service from the config (called by ``app/bootstrap.py``)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from app.core.bus import EventBus
from app.core.clock import Clock
from app.core.config import Config
from app.core.store.db import Store
from app.core.telemetry.service import TelemetryService, TelemetrySettings


def build_telemetry(config: Config, store: Store, bus: EventBus, clock: Clock,
                    materials_of: Callable[[UUID], dict[str, float]] | None = None,
                    loaded_of: Callable[[UUID], tuple[str, str]] | None = None) -> TelemetryService:
    """``materials_of``: a node's material levels (e.g. ``lambda n: fleet.get(n).material_levels``) so low
    material is checked when a NodeUpdated event says materials changed; ``loaded_of``: a node's name and
    loaded material, named in the low-material alert."""
    settings = TelemetrySettings.from_config(config.section("telemetry"))
    return TelemetryService(store, bus, clock, settings, materials_of=materials_of, loaded_of=loaded_of)
