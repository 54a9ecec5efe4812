"""Adding a network machine in one step: check its secrets, ask it who it is, and make its capabilities from what
it reports (used by ``imewe nodes add`` and the Add machine dialog)."""

from __future__ import annotations

from typing import Any

from app.core.domain.capabilities import FILE_FEATURE
from app.core.domain.errors import ValidationError
from app.devices.factory import NETWORK_DRIVERS, network_driver
from app.devices.network.driver import MachineInfo

# Which command-line option gives which secret (the dialog asks for the same).
SECRET_OPTIONS = {"api_key": "--api-key", "access_code": "--access-code", "serial": "--serial",
                  "user": "--user", "password": "--password"}
# What the Add machine dialog asks the operator for, per kind.
ASK_FOR = {"octoprint": ("api_key",), "moonraker": ("api_key",), "prusalink": ("user", "password"),
           "bambu": ("access_code", "serial"), "duet": ("password",)}


def check_secrets(kind: str, secrets: dict[str, str | None]) -> dict[str, str]:
    """The non-empty secrets, or a clear error naming the option that is missing."""
    cls = NETWORK_DRIVERS.get(kind)
    if cls is None:
        raise ValidationError(f"unknown network driver {kind!r}; known: {', '.join(NETWORK_DRIVERS)}", "driver")
    clean = {k: v.strip() for k, v in secrets.items() if v and v.strip()}
    missing = [f for f in cls.secret_fields if f not in clean]
    if missing:
        opts = " and ".join(SECRET_OPTIONS.get(f, f) for f in missing)
        raise ValidationError(f"{cls.label} needs its {cls.credential_name}: give {opts}", missing[0])
    return clean


async def read_machine(kind: str, address: str, secrets: dict[str, str]) -> tuple[str, MachineInfo]:
    """Ask the machine once; returns its normalised address and what it says. Refused credentials and an
    unreachable machine raise their own clear errors (nothing is registered then)."""
    driver = network_driver(kind, address=address, secrets=secrets)
    driver.save_secrets = secrets.update  # what asking teaches (a Bambu printer's certificate, pinned) is kept
    return driver.address, await driver.probe()


def capabilities_for(kind: str, info: MachineInfo | None, given: dict[str, Any]) -> dict[str, Any]:
    """What the operator gave wins; what the machine reports fills the rest (an FDM printer by default). The
    ``file:`` features say which files it prints, so a part with only a mesh is never planned on it."""
    cls = NETWORK_DRIVERS[kind]
    caps: dict[str, Any] = {"process": "fdm"}
    if info is not None:
        caps.update({k: v for k, v in info.capabilities.items() if v not in (None, "", [])})
    for key, value in given.items():
        if value in (None, "", [], [0, 0, 0], [0.0, 0.0, 0.0], 0.0):
            continue
        caps[key] = value
    caps["features"] = sorted({*caps.get("features", ()), *(FILE_FEATURE + s for s in cls.job_suffixes)})
    return caps
