"""Adding a network machine in one step: check its secrets, ask it who it is, and make its capabilities from what
it reports (used by ``imewe nodes add`` and the Add machine dialog)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from app.core.domain.capabilities import FILE_FEATURE
from app.core.domain.errors import ValidationError
from app.devices.factory import NETWORK_DRIVERS, network_driver
from app.devices.network.driver import MachineInfo
from app.devices.network.secrets import SecretStore

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


@dataclass(frozen=True, slots=True)
class FoundMachine:
    """A network printer discovery saw (zeroconf, Bambu's SSDP), as the Add machine dialog lists it."""

    kind: str
    name: str
    address: str
    model: str = ""
    version: str = ""
    serial: str = ""  # Bambu: from its announcement, so the operator types only the access code

    @property
    def label(self) -> str:
        return NETWORK_DRIVERS[self.kind].label

    @property
    def asks_for(self) -> tuple[str, ...]:
        return tuple(f for f in ASK_FOR.get(self.kind, ()) if not (f == "serial" and self.serial))


def from_advert(advert: Any) -> FoundMachine | None:
    """A zeroconf advertisement (``kind``, ``name``, ``address``, ``properties``) of a network printer."""
    if advert.kind not in NETWORK_DRIVERS:
        return None
    p = dict(advert.properties or {})
    model = p.get("model") or p.get("printer_type") or p.get("printer") or p.get("vendor") or ""
    version = p.get("version") or p.get("ver") or p.get("firmware") or p.get("api_version") or p.get("api") or ""
    address = advert.address
    if advert.kind == "bambu":  # heard by SSDP: MQTT over TLS, and the serial comes with it
        address = f"mqtts://{advert.host}:{advert.port}"
    return FoundMachine(advert.kind, advert.name, address, str(model), str(version), str(p.get("serial") or ""))


def from_bambu(found: Any) -> FoundMachine:
    """A Bambu printer's SSDP announcement (``serial``, ``host``, ``name``, ``model``, ``firmware``)."""
    return FoundMachine("bambu", found.name or found.serial, found.address, found.model, found.firmware, found.serial)


Register = Callable[..., Awaitable[Any]]


class MachineAdder:
    """The Add machine dialog's port: what was found, and adding one (ask it, keep its secrets, register it).
    ``register(name=, capabilities=, address=, driver=, node_id=, software_version=)`` registers the node;
    ``sources`` return what discovery sees now."""

    def __init__(self, secrets: SecretStore, register: Register,
                 sources: Sequence[Callable[[], Iterable[FoundMachine]]] = ()) -> None:
        self.secrets = secrets
        self._register = register
        self._sources = list(sources)

    def found(self) -> list[FoundMachine]:
        out: dict[str, FoundMachine] = {}
        for source in self._sources:
            for machine in source():
                out.setdefault(machine.address, machine)
        return sorted(out.values(), key=lambda m: (m.kind, m.name))

    def kinds(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """kind → (label, what to ask) for a machine typed in by hand."""
        return {k: (cls.label, ASK_FOR.get(k, cls.secret_fields)) for k, cls in NETWORK_DRIVERS.items()}

    async def add(self, name: str, kind: str, address: str, secrets: dict[str, str], actor: Any = None) -> Any:
        """``actor``: the person adding it (the window's signed-in person), checked by the fleet's register."""
        clean = check_secrets(kind, dict(secrets))
        if not address.strip():
            raise ValidationError("give the machine's address", "address")
        address, info = await read_machine(kind, address, clean)
        node_id = uuid4()
        self.secrets.save(node_id, clean)
        try:
            return await self._register(name=(name.strip() or info.name or address), driver=kind, address=address,
                                        capabilities=capabilities_for(kind, info, {}), node_id=node_id,
                                        software_version=info.firmware,
                                        **({} if actor is None else {"actor": actor}))
        except BaseException:
            self.secrets.delete(node_id)  # nothing registered: no orphan secrets
            raise
