"""Build concrete drivers by kind. ``app/bootstrap.py`` calls these; nothing else builds drivers."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.clock import Clock, SystemClock
from app.core.domain.capabilities import Capabilities
from app.core.domain.errors import ValidationError
from app.core.drivers import FabricationDevice
from app.devices.agent_client import AgentDriver
from app.devices.grbl_driver import GrblDriver
from app.devices.line_stream import DEFAULT_STALL_TIMEOUT_S
from app.devices.marlin_driver import MarlinDriver
from app.devices.network.backoff import Backoff
from app.devices.simulator import FaultSpec, SimConfig, SimulatedMachine

if TYPE_CHECKING:
    from app.devices.network.driver import NetworkDriver


class _DriverClasses(Mapping[str, "type[NetworkDriver]"]):
    """Driver classes by kind, each module imported when its class is first asked for: a site, or a command,
    loads only the protocols (httpx, MQTT, TLS pinning) of the printers it drives (issue 17, fast start)."""

    def __init__(self, where: dict[str, str]) -> None:
        self._where = where  # kind -> "module:Class"
        self._loaded: dict[str, type[NetworkDriver]] = {}

    def __getitem__(self, kind: str) -> type[NetworkDriver]:
        cls = self._loaded.get(kind)
        if cls is None:
            module, name = self._where[kind].split(":")
            cls = self._loaded[kind] = getattr(importlib.import_module(module), name)
        return cls

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, kind: object) -> bool:
        return kind in self._where


# Network printers by ``node.driver`` kind (the class's ``kind``); each protocol adds its driver here (one line).
NETWORK_DRIVERS = _DriverClasses({
    "octoprint": "app.devices.network.octoprint:OctoPrintDriver",
    "moonraker": "app.devices.network.moonraker:MoonrakerDriver",
    "prusalink": "app.devices.network.prusalink:PrusaLinkDriver",
    "duet": "app.devices.network.duet:DuetDriver",
    "bambu": "app.devices.network.bambu:BambuDriver",
})
SERIAL_KINDS = ("sim", "marlin", "grbl", "agent")


def driver_kinds() -> tuple[str, ...]:
    return (*SERIAL_KINDS, *NETWORK_DRIVERS)


DRIVER_KINDS = SERIAL_KINDS  # kept for older callers; driver_kinds() includes the network printers


def _caps(value: Capabilities | dict[str, Any] | None) -> Capabilities | None:
    if value is None or isinstance(value, Capabilities):
        return value
    return Capabilities.from_dict(value)


def sim_config(data: dict[str, Any] | SimConfig | None) -> SimConfig:
    if isinstance(data, SimConfig):
        return data
    data = data or {}
    return SimConfig(telemetry_interval_s=float(data.get("telemetry_interval_s", 1.0)),
                     faults=[FaultSpec.from_dict(f) for f in data.get("faults") or ()],
                     material_left_g=float(data.get("material_left_g", 1000.0)), seed=int(data.get("seed", 0)))


def make_driver(kind: str, *, name: str = "", capabilities: Capabilities | dict[str, Any] | None = None,
                port: str = "", baud: int = 115200, clock: Clock | None = None,
                sim: dict[str, Any] | SimConfig | None = None, traffic_log: Path | None = None,
                url: str = "", token: str = "", expected_fingerprint: str | None = None,
                connect_timeout_s: float = 10.0, secrets: dict[str, str] | None = None,
                stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S,
                network_options: dict[str, Any] | None = None) -> FabricationDevice:
    """``kind``: sim (needs capabilities), marlin / grbl (need port), agent (needs url and token), a network
    printer kind from ``NETWORK_DRIVERS`` (needs url, and its secrets)."""
    caps = _caps(capabilities)
    if kind in NETWORK_DRIVERS:
        return network_driver(kind, name=name, address=url, secrets=secrets or {}, capabilities=caps,
                              connect_timeout_s=connect_timeout_s, **(network_options or {}))
    if kind == "sim":
        if caps is None:
            raise ValidationError("a simulated machine needs capabilities (at least a process)", "capabilities")
        return SimulatedMachine(name or caps.process.value, caps, clock or SystemClock(), sim_config(sim))
    if kind in ("marlin", "grbl"):
        if not port:
            raise ValidationError(f"the {kind} driver needs a serial port (e.g. /dev/ttyUSB0)", "port")
        cls = MarlinDriver if kind == "marlin" else GrblDriver
        return cls(name or port, port, baud, caps, traffic_log=traffic_log, connect_timeout_s=connect_timeout_s,
                   stall_timeout_s=stall_timeout_s)
    if kind == "agent":
        if not url or not token:
            raise ValidationError("the agent driver needs the agent's url and the pairing token", "url")
        return AgentDriver(url, token, name=name, expected_fingerprint=expected_fingerprint,
                           connect_timeout_s=connect_timeout_s)
    raise ValidationError(f"unknown driver {kind!r}; known: {', '.join(driver_kinds())}", "driver")


def network_driver(kind: str, *, name: str = "", address: str, secrets: dict[str, str],
                   capabilities: Capabilities | None = None, connect_timeout_s: float = 10.0,
                   **options: Any) -> NetworkDriver:
    """A network printer's driver; says which secret is missing instead of failing at the first request.
    ``options``: the driver's tuning (``request_timeout_s``, ``backoff``, ``start_grace_s``, ``poll_s``)."""
    cls = NETWORK_DRIVERS.get(kind)
    if cls is None:
        raise ValidationError(f"unknown network driver {kind!r}; known: {', '.join(NETWORK_DRIVERS)}", "driver")
    address = address.strip()
    example = f"{cls.schemes[0]}://host[:port]"
    if not address:
        raise ValidationError(f"the {kind} driver needs the machine's address ({example})", "address")
    if "://" not in address:
        address = f"{cls.schemes[0]}://{address}"
    if address.split("://", 1)[0].lower() not in cls.schemes:
        raise ValidationError(f"{cls.label} address {address!r} must look like {example}", "address")
    missing = [f for f in cls.secret_fields if not secrets.get(f)]
    if missing:
        raise ValidationError(f"the {kind} driver needs the machine's {cls.credential_name} "
                              f"({', '.join(missing)})", missing[0])
    return cls(name or address, address, secrets, capabilities, connect_timeout_s=connect_timeout_s, **options)


def agent_driver_factory(token: str | Callable[[Any], str], *, keepalive_s: float = 20.0,
                         reconnect_max_s: float = 30.0, connect_timeout_s: float = 10.0, site_key: str = "",
                         ) -> Callable[[Any, str], FabricationDevice]:
    """For ``ZeroconfDiscovery``: an advertisement (``.address``, ``.name``, ``.properties``) and the key
    fingerprint a person accepted for it → an agent driver that sends the token only to that key. ``token``: the site's pairing token, or a function that
    picks one per advertisement. ``keepalive_s`` and ``reconnect_max_s``: the ``[agents]`` settings."""

    def build(advert: Any, fingerprint: str) -> FabricationDevice:
        tok = token(advert) if callable(token) else token
        return AgentDriver(advert.address, tok, name=advert.properties.get("name") or advert.name,
                           expected_fingerprint=fingerprint,
                           connect_timeout_s=connect_timeout_s, keepalive_s=keepalive_s,
                           backoff=Backoff(first_s=min(0.5, reconnect_max_s), cap_s=reconnect_max_s),
                           site_key=site_key)

    return build
