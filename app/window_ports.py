"""The window's ports, filled from a running core (the composition root's part for the control room).

Each port the window may use of the core is built here; ports whose modules are heavy (network printer clients,
the marketplace) are built on first use, so the window's first frame does not wait for them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.bootstrap import Core, agent_desk, log_file, site_admin, site_time_zone, user_service
from app.core.domain.errors import ImeweError

if TYPE_CHECKING:
    from app.ui.ports import Ports


class OnFirstUse:
    """An object built the first time any of its attributes is used."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._obj: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._obj is None:
            self._obj = self._build()
        return getattr(self._obj, name)


def _register(core: Core) -> Callable[..., Any]:
    """How the Add machine dialog's pages register a machine: in the fleet, brought up, as the person adding it."""
    async def register(**kw: Any) -> Any:
        return await core.fleet.register(kw.pop("name"), kw.pop("capabilities"), actor=kw.pop("actor", "operator"),
                                         bring_up=True, **kw)

    return register


def ui_ports(core: Core) -> Ports:
    """What the control room may use of a running core: one typed port per panel (see ``app/ui/ports.py``)."""
    from app.core.review.notes import NotesService
    from app.ui.ports import Ports, SiteInfo

    config = core.config
    zone = site_time_zone(config) or (core.energy.site.grid.timezone if core.demo else None)
    site_id = core.sites.identity.site_id if core.sites is not None else ""
    site = SiteInfo(config.site_name, config.paths.home, core.store.url, log_file(config), zone, site_id)
    return Ports(site, core.clock, core.bus, core.fleet, core.jobs, core.kernel, control=core.production,
                 alerts=core.telemetry.alerts, energy=core.energy, sites=core.sites, machines=machine_adder(core),
                 notes=NotesService(core.store, core.clock), plan=core.production,
                 local_machines=local_adder(core), admin=admin_access(core), learning=core.learning,
                 whatif=core.production,
                 catalogue=catalogue_browser(core))


def catalogue_browser(core: Core) -> Any:
    """The Catalogue tab's port: this site's templates, playbooks and parts, and what linked sites offer it."""
    from app.core.catalog.browse import Catalogue

    if core.sites is not None:
        return Catalogue(core.store, core.config.paths.home, core.sites.market.offers, social=core.sites,
                         market=core.sites.market, jobs=core.jobs, replan=core.production.request_replan)
    # no links run here: what linked sites offered before is still in the store, and quotes and orders wait in
    # the outbox (the identity is read, or made, on first use)
    market = OnFirstUse(lambda: _market_of(core))
    return Catalogue(core.store, core.config.paths.home, lambda: market.offers(), market=market, jobs=core.jobs,
                     replan=core.production.request_replan)


def _market_of(core: Core) -> Any:
    from app.core.sites.market import Market

    return Market(site_admin(core.config, core.store, core.clock))


def admin_access(core: Core) -> Any:
    """The Admin tab's port: people, API keys, the audit log, configuration problems."""
    from app.core.auth.admin_access import AdminAccess

    return AdminAccess(user_service(core.config, core.store, core.clock), core.store, core.config)


def local_adder(core: Core) -> Any:
    """The Add machine dialog's simulated, serial and node-agent pages (built when the dialog first uses them)."""
    return OnFirstUse(lambda: _local_adder(core))


def _local_adder(core: Core) -> Any:
    from app.core.discovery.serial_scan import SerialScanner
    from app.devices.local_adding import FoundAgent, LocalMachineAdder
    from app.devices.probe import list_serial_ports, probe_serial

    scanner = SerialScanner(core.bus, list_serial_ports, probe_serial)

    async def scan() -> list[Any]:
        driven = {n.address.removeprefix("serial:") for n in core.fleet.list() if n.address.startswith("serial:")}
        return await scanner.scan(skip=driven)  # a port a machine is driven on is never probed

    def agents() -> list[Any]:
        from uuid import UUID

        disc = core.discovery
        if disc is None:
            return []
        known = {n.address for n in core.fleet.list()}
        keys = {k.address: k for k in disc.trust.list()}
        out = []
        for a in disc.list_found("imewe-node"):
            key = keys.get(a.address)
            version = a.version
            if key is not None and UUID(key.node_id) in disc.links:  # what the linked agent said at its hello
                version = getattr(disc.links[UUID(key.node_id)].driver, "software_version", "") or version
            out.append(FoundAgent(a.name, a.address, a.address in known, key.fingerprint if key else
                                  a.properties.get("fp", ""), key.state if key else "", version,
                                  key.node_id if key else a.properties.get("id", "")))
        return out

    async def decide(fingerprint: str, accept: bool, replace: bool, actor: Any) -> Any:
        return await agent_desk(core).decide(actor, fingerprint, accept=accept, replace=replace)

    async def update(node_id: str | None, actor: Any) -> Any:
        updates = core.agent_updates
        if updates is None:
            raise ImeweError("agents are updated by a site with discovery on")
        return await updates.start(actor, node_id)

    def rollouts() -> list[Any]:
        return core.agent_updates.list() if core.agent_updates is not None else []

    return LocalMachineAdder(_register(core), scan, agents, decide, update, rollouts)


def machine_adder(core: Core) -> Any:
    """The Add machine dialog's port: network printers discovery sees, and registering one with its secrets."""
    return OnFirstUse(lambda: _machine_adder(core))


def _machine_adder(core: Core) -> Any:
    from app.devices.network.adding import MachineAdder, from_advert
    from app.devices.network.secrets import SecretStore

    def zeroconf() -> list[Any]:
        disc = core.discovery
        return [m for m in (from_advert(a) for a in disc.list_found()) if m is not None] if disc else []

    return MachineAdder(SecretStore(core.config.paths.keys), _register(core), [zeroconf])
