"""The demo site: a mixed simulated fleet described in ``resources/demo/fleet.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.core.clock import Clock, ScaledClock
from app.core.domain.capabilities import Capabilities
from app.core.domain.errors import ValidationError
from app.devices.factory import sim_config
from app.devices.simulator import SimulatedMachine

DEMO_FLEET = Path(__file__).resolve().parents[2] / "resources" / "demo" / "fleet.json"
_SIM_KEYS = ("faults", "material_left_g", "telemetry_interval_s", "seed")


def read_fleet_file(path: Path = DEMO_FLEET) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"cannot read the fleet description {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ValidationError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("machines"), list) or not data["machines"]:
        raise ValidationError(f"{path.name} must hold a non-empty \"machines\" list")
    return data


def load_demo_fleet(path: Path = DEMO_FLEET, clock: Clock | None = None
                    ) -> list[tuple[str, Capabilities, SimulatedMachine]]:
    """(name, capabilities, simulated driver) for every machine of the fleet file, on ``clock``; the machine's
    location is on ``driver.location``.

    The file's ``clock_scale`` is a suggestion for the caller's ScaledClock; ``telemetry_interval_s`` (simulated
    seconds) applies to every machine unless a machine sets its own.
    """
    data = read_fleet_file(path)
    clock = clock or ScaledClock(float(data.get("clock_scale", 60)))
    default_interval = float(data.get("telemetry_interval_s", 1.0))
    out = []
    names: set[str] = set()
    for i, entry in enumerate(data["machines"]):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ValidationError(f"machine {i + 1} in {path.name} has no name")
        name = str(entry["name"])
        if name in names:
            raise ValidationError(f"machine name {name!r} appears twice in {path.name}")
        names.add(name)
        caps = Capabilities.from_dict({k: v for k, v in entry.items() if k not in (*_SIM_KEYS, "name", "location")})
        cfg = sim_config({"telemetry_interval_s": default_interval, **{k: entry[k] for k in _SIM_KEYS if k in entry},
                          "seed": entry.get("seed", i + 1)})
        driver = SimulatedMachine(name, caps, clock, cfg)
        driver.location = str(entry.get("location", ""))
        out.append((name, caps, driver))
    return out
