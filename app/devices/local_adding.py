"""Adding machines that are not network printers from the window: a simulated machine of a chosen process, a
Marlin or GRBL board found on a serial port, and the node agents discovery heard (they join by themselves).

Capabilities for a new simulated or serial machine start from the demo fleet's machine of that process (what a
typical one can do); the operator refines them later with ``imewe nodes configure``. Probing a port touches
hardware and blocks: ``scan`` runs it off the event loop (``SerialScanner`` uses the executor).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import ProcessType
from app.core.domain.errors import ValidationError
from app.core.drivers import SerialFind

Register = Callable[..., Awaitable[Any]]
Scan = Callable[[], Awaitable[list[SerialFind]]]
# What a serial board most often drives: Marlin prints, GRBL mills (or cuts; the operator picks).
SERIAL_PROCESS = {"marlin": ProcessType.FDM, "grbl": ProcessType.CNC_MILL}
_GENERIC = {"build_volume_mm": [200, 200, 200], "max_power_w": 300, "idle_power_w": 10}


@dataclass(frozen=True, slots=True)
class FoundAgent:
    """A node agent advertised on the network, whether it is in the fleet already, and its key: ``state`` is
    pending (waiting for a person), accepted, changed (another key under an accepted name: refused) or refused."""

    name: str
    address: str
    registered: bool
    fingerprint: str = ""
    state: str = ""
    version: str = ""
    node_id: str = ""


class LocalMachineAdder:
    """The window's way to add simulated and serial machines; ``register(name=, capabilities=, address=, driver=,
    location=)`` registers and brings up the node (the machine room connects its driver)."""

    def __init__(self, register: Register, scan: Scan | None = None,
                 agents: Callable[[], list[FoundAgent]] | None = None,
                 decide: Callable[..., Awaitable[Any]] | None = None,
                 update: Callable[..., Awaitable[Any]] | None = None,
                 rollouts: Callable[[], list[Any]] | None = None) -> None:
        """``decide(fingerprint, accept, replace, actor)``: a person accepts or refuses an agent's key;
        ``update(node_id or None, actor)``: push this install's version to one agent or every older one;
        ``rollouts()``: the latest software rollouts, newest first."""
        self._register = register
        self._scan = scan
        self._agents = agents
        self._decide = decide
        self._update = update
        self._rollouts = rollouts
        self._presets = _presets()

    def processes(self) -> list[ProcessType]:
        """Processes a simulated machine can be made for (those with a typical machine to start from, first)."""
        known = [p for p in ProcessType if p in self._presets]
        return known + [p for p in ProcessType if p not in self._presets]

    def capabilities_for(self, process: ProcessType | str) -> Capabilities:
        process = ProcessType(process)
        return Capabilities.from_dict(self._presets.get(process, {**_GENERIC, "process": process.value}))

    async def add_simulated(self, name: str, process: str, location: str = "", actor: Any = None) -> Any:
        try:
            process_t = ProcessType(process)
        except ValueError as exc:
            raise ValidationError(f"unknown process {process!r}", "process") from exc
        return await self._register(name=name.strip() or f"Simulated {process_t.value}",
                                    capabilities=self.capabilities_for(process_t), address="sim:", driver="sim",
                                    location=location.strip(), **({} if actor is None else {"actor": actor}))

    async def scan_serial(self) -> list[SerialFind]:
        """Every serial port that answered as Marlin or GRBL (probed off the event loop)."""
        if self._scan is None:
            return []
        return list(await self._scan())

    async def add_serial(self, name: str, found: SerialFind, process: str = "", location: str = "",
                         actor: Any = None) -> Any:
        if found.protocol not in SERIAL_PROCESS:
            raise ValidationError(f"{found.port} speaks {found.protocol!r}, which Imewe cannot drive", "port")
        try:
            process_t = ProcessType(process) if process else SERIAL_PROCESS[found.protocol]
        except ValueError as exc:
            raise ValidationError(f"unknown process {process!r}", "process") from exc
        return await self._register(name=name.strip() or found.firmware or found.port,
                                    capabilities=self.capabilities_for(process_t), address=f"serial:{found.port}",
                                    driver=found.protocol, location=location.strip(),
                                    **({} if actor is None else {"actor": actor}))

    def agents(self) -> list[FoundAgent]:
        return list(self._agents()) if self._agents is not None else []

    def site_version(self) -> str:
        from app import __version__

        return __version__

    async def update_agents(self, node_id: str | None = None, actor: Any = "operator") -> Any:
        """Push this install's version to one agent (by node id) or to every older one, in stages."""
        if self._update is None:
            raise ValidationError("this window cannot update node agents (no site runs here)", "agent")
        return await self._update(node_id, actor)

    def rollouts(self) -> list[Any]:
        return list(self._rollouts()) if self._rollouts is not None else []

    async def decide_agent(self, fingerprint: str, accept: bool, replace: bool = False,
                           actor: Any = "operator") -> Any:
        """Accept (linked at once by a running site) or refuse a node agent's key, as ``actor``."""
        if self._decide is None:
            raise ValidationError("this window cannot accept node agents (no site runs here)", "agent")
        return await self._decide(fingerprint, accept, replace, actor)


def _presets() -> dict[ProcessType, dict[str, Any]]:
    out: dict[ProcessType, dict[str, Any]] = {}
    try:
        from app.devices.demo import read_fleet_file  # the simulator and drivers: only when one is added

        machines = read_fleet_file()["machines"]
    except ValidationError:  # the demo fleet file is missing: generic figures
        return out
    for entry in machines:
        try:
            process = ProcessType(entry.get("process", ""))
        except ValueError:
            continue
        out.setdefault(process, {k: v for k, v in entry.items()
                                 if k not in ("name", "location", "faults", "material_left_g", "telemetry_interval_s",
                                              "seed")})
    return out
