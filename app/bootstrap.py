"""The one place that builds concrete stores, services and drivers and wires them together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.bus import EventBus
from app.core.clock import Clock, ScaledClock, SystemClock
from app.core.config import Config, load_config
from app.core.domain.errors import ImeweError, ValidationError
from app.core.fleet.service import FleetService
from app.core.jobs.service import JobService
from app.core.kernel import Kernel
from app.core.ownership import SiteBusyError, SiteLock, site_lock
from app.core.store.db import Store, open_store

if TYPE_CHECKING:  # what only the owner of a site builds is imported where it is built: light commands start fast
    from app.core.api.operations import SiteOps
    from app.core.api.server import ControlServer
    from app.core.auth.service import UserService
    from app.core.demo_jobs import DemoJobFeed
    from app.core.discovery.zeroconf_discovery import ZeroconfDiscovery
    from app.core.domain.entities import Node
    from app.core.drivers import FabricationDevice
    from app.core.energy.service import EnergyService
    from app.core.fleet.machine_room import MachineRoom
    from app.core.ownership import Ownership
    from app.core.production import ProductionService
    from app.core.sites.admin import SiteAdmin
    from app.core.sites.service import SitesService
    from app.core.telemetry.service import TelemetryService

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Core:
    config: Config
    store: Store
    bus: EventBus
    clock: Clock
    kernel: Kernel
    fleet: FleetService
    jobs: JobService
    machines: MachineRoom
    production: ProductionService
    telemetry: TelemetryService
    energy: EnergyService
    demo: bool = False
    # What a running site adds (wire_site_services, start_demo); None when not wired.
    sites: SitesService | None = None
    discovery: ZeroconfDiscovery | None = None
    demo_feed: DemoJobFeed | None = None
    ownership: Ownership | None = None
    control: ControlServer | None = None
    learning: Any = None  # the LearningRuntime (learned estimates; app/core/learning/runtime.py)
    agent_updates: Any = None  # software updates of node agents (app/core/fleet/agent_rollout.py)

    @property
    def drivers(self):
        return self.machines.drivers


@dataclass(slots=True)
class StoreCore:
    """A process that does not own the site (a CLI command): the store with the fleet and jobs services."""

    config: Config
    store: Store
    bus: EventBus
    clock: Clock
    kernel: Kernel
    fleet: FleetService
    jobs: JobService


class _PrivateLogFile(logging.handlers.RotatingFileHandler):
    """The log (and each file it rotates into) is readable by its user only (0600): it names machines, jobs and
    addresses."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: SIM115 - the handler keeps it


def log_file(config: Config) -> Path:
    return config.paths.logs / "imewe.log"


def setup_logging(config: Config, to_stderr: bool = False) -> None:
    config.paths.ensure()
    root = logging.getLogger()
    if any(getattr(h, "_imewe", False) for h in root.handlers):
        return
    handler = _PrivateLogFile(log_file(config), maxBytes=5_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._imewe = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    from app.journal import journal_handler

    if (journal := journal_handler()) is not None:  # running as a systemd service: the journal too
        root.addHandler(journal)
    root.setLevel(config.log_level)
    for problem in config.problems:
        log.warning("%s: %s (see: imewe config check)", config.paths.config_file, problem)
    # httpx logs every request URL at INFO, and a Duet's rr_connect carries its password in the query string
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def driver_for(node: Node, clock: Clock, config: Config) -> FabricationDevice | None:
    """The driver a registered machine gets when this site starts (agents come through discovery)."""
    from app.devices.factory import NETWORK_DRIVERS, make_driver

    if node.driver in NETWORK_DRIVERS:  # OctoPrint, Moonraker, ...: secrets from keys/, by node id
        from app.devices.network.secrets import SecretStore

        store = SecretStore(config.paths.keys)
        driver = make_driver(node.driver, name=node.name, capabilities=node.capabilities, url=node.address,
                             secrets=store.load(node.id))
        # a secret the driver learns (a Bambu printer's certificate, pinned on first use) is kept with the others
        driver.save_secrets = lambda values, node_id=node.id: store.update(node_id, **values)  # type: ignore[attr-defined]
        driver.load_secrets = lambda node_id=node.id: store.load(node_id)  # type: ignore[attr-defined]
        return driver
    if node.driver == "sim":
        return make_driver("sim", name=node.name, capabilities=node.capabilities, clock=clock,
                           sim={"telemetry_interval_s": 5.0})
    if node.driver in ("marlin", "grbl"):
        port = node.address.removeprefix("serial:")
        if not port:
            raise ValidationError(f"{node.name} has no serial port in its address (serial:/dev/ttyUSB0)")
        return make_driver(node.driver, name=node.name, capabilities=node.capabilities, port=port,
                           traffic_log=config.paths.device_logs / f"{node.id}.log",
                           stall_timeout_s=config.serial_stall_timeout_s)
    return None


def build_core(config: Config, clock: Clock | None = None, *, demo: bool = False,
               connect_machines: bool = True, plan_budget_s: float | None = None,
               lock: SiteLock | None = None, command: str = "serve") -> Core:
    """The core of the process that owns the site. Nothing that acts as the owner (machines, telemetry, energy,
    production and its crash recovery) starts before the ``ownership`` service has taken the site's lock, and a
    boot on a site that has an owner stops there with SiteBusyError."""
    from app.core.energy.wiring import build_energy
    from app.core.fleet.link_settings import in_doubt_grace_s
    from app.core.fleet.machine_room import MachineRoom
    from app.core.ownership import Ownership
    from app.core.production import ProductionService
    from app.core.scheduling.staffing import StaffedHours
    from app.core.telemetry.wiring import build_telemetry

    config.paths.ensure()
    clock = clock or SystemClock()
    store = open_store(config.db_url)
    bus = EventBus()
    fleet = FleetService(store, bus, clock)
    jobs = jobs_service(store, bus, clock, fleet)
    kernel = Kernel(store, bus, clock, fleet, jobs)
    ownership = Ownership(lock or site_lock(config.paths.home, config.db_url, command))
    kernel.add(ownership)
    factory = (lambda node: driver_for(node, clock, config)) if connect_machines else None
    machines = MachineRoom(fleet, bus, clock, factory)
    kernel.add(machines, depends_on=("fleet", "ownership"))
    telemetry = build_telemetry(config, store, bus, clock, materials_of=lambda n: _materials(fleet, n),
                                loaded_of=lambda n: _loaded(fleet, n))
    kernel.add(telemetry, depends_on=("fleet", "ownership"))
    holder: dict[str, ProductionService] = {}
    energy = build_energy(config, store, bus, clock, demo=demo,
                          part_of=lambda node, job: holder["p"].part_of(node, job) if "p" in holder else None)
    kernel.add(energy, depends_on=("ownership",))
    scheduler_cfg = config.section("scheduler")
    learning = learning_runtime(config, store, bus, clock, telemetry.alerts.raise_alert, fleet.get, jobs.get)
    kernel.add(learning)
    production = ProductionService(
        fleet, jobs, bus, clock, machines.drivers, store=store,
        plan_budget_s=plan_budget_s if plan_budget_s is not None else float(
            scheduler_cfg.get("plan_budget_s", 0.3 if demo else 1.0)),
        forecast_for=energy.plan_forecast, power_cap_w=energy.power_cap_w,
        energy_weight=float(scheduler_cfg.get("energy_weight", 0.0)),
        objective=str(scheduler_cfg.get("objective", "makespan")),
        setup_weight=float(scheduler_cfg.get("setup_weight", 0.0)),
        mode=str(scheduler_cfg.get("mode", "plan")), ownership=ownership,
        in_doubt_grace_s=in_doubt_grace_s(scheduler_cfg),
        durations=learning.durations, energies=learning.energies, before_start=learning.before_start,
        staffed=StaffedHours.from_config(config.section("site").get("staffed")), spreads=learning.spreads)
    holder["p"] = production
    kernel.add(production, depends_on=("jobs", "machines", "energy", "ownership"))
    # Another process owns the site now (our database session was cut and it took the lock): stop planning and
    # dispatching here at once; 'imewe serve' also exits.
    ownership.on_lost = lambda why: asyncio.get_running_loop().create_task(production.stop())
    return Core(config, store, bus, clock, kernel, fleet, jobs, machines, production, telemetry, energy, demo,
                ownership=ownership, learning=learning)


def jobs_service(store: Store, bus: EventBus, clock: Clock, fleet: FleetService) -> JobService:
    """The jobs service of every process, owner or not: what must follow a job's change (a cancel for the
    linked site that runs it) is written in the job's own transaction, whichever process changes it."""
    jobs = JobService(store, bus, clock, fleet.list)
    jobs.add_write_hook(_cancel_follows)
    return jobs


def _cancel_follows(*args: Any, **kwargs: Any) -> Any:
    from app.core.sites.follow import cancel_follows  # linked sites' tables: loaded by the first write only

    return cancel_follows(*args, **kwargs)


def build_store_core(config: Config, clock: Clock | None = None) -> StoreCore:
    """The core of a process that does not own the site: the fleet and jobs services over the store."""
    config.paths.ensure()
    clock = clock or SystemClock()
    store = open_store(config.db_url)
    bus = EventBus()
    fleet = FleetService(store, bus, clock)
    jobs = jobs_service(store, bus, clock, fleet)
    return StoreCore(config, store, bus, clock, Kernel(store, bus, clock, fleet, jobs), fleet, jobs)


def claim_site(config: Config, command: str, wait_for_cli_s: float = 15.0) -> SiteLock:
    """Take the site's lock now, before anything slow starts; SiteBusyError names the owner if there is one.
    A CLI command writing to the store holds the lock for a moment: that is waited for, not refused."""
    config.paths.ensure()
    lock = site_lock(config.paths.home, config.db_url, command)
    deadline = time.monotonic() + wait_for_cli_s
    while True:
        try:
            lock.acquire()
            return lock
        except SiteBusyError as exc:
            # No name yet: the holder has only just taken the lock and is writing who it is.
            brief = exc.owner is None or exc.owner.command == "cli"
            if not brief or time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def site_admin(config: Config, store: Store, clock: Clock) -> SiteAdmin:
    from app.core.sites.admin import SiteAdmin
    from app.core.sites.identity import load_or_create_identity

    identity = load_or_create_identity(config.paths.keys, config.site_name)
    return SiteAdmin(store, clock, identity)


def site_ops(core: Core | StoreCore, command: str = "", actor: str = "cli") -> SiteOps:
    """What control-channel operations act on: the owner's live services (``command`` names how the owner was
    started), or the store-side ones."""
    from app.core.api.operations import (
        SiteOps,  # the whole operations table: not for commands that read the store
    )

    if isinstance(core, Core):
        link = core.sites
        admin = (lambda: link.admin) if link is not None else (lambda: site_admin(core.config, core.store,
                                                                                  core.clock))
        return SiteOps(core.kernel, core.fleet, core.jobs, admin, str(core.config.paths.home),
                       core.config.site_name, replan=core.production.request_replan,
                       owner={"pid": os.getpid(), "command": command}, actor=actor,
                       plan=lambda: core.production.plan, solar_w=_solar_w(core.energy), production=core.production,
                       energy=core.energy, agents=agent_desk(core), store=core.store, clock=core.clock)
    return SiteOps(core.kernel, core.fleet, core.jobs, lambda: site_admin(core.config, core.store, core.clock),
                   str(core.config.paths.home), core.config.site_name, actor=actor, agents=agent_desk(core),
                   store=core.store, clock=core.clock)


def agent_desk(core: Core | StoreCore) -> Any:
    """Node agent keys for the ``agents.*`` operations: the running discovery's, or the file's."""
    from app.core.discovery.agent_decisions import AgentDesk

    disc = getattr(core, "discovery", None)
    trust = disc.trust if disc is not None else agent_trust(core.config)
    return AgentDesk(trust, core.store, core.clock, disc, getattr(core, "agent_updates", None))


def _solar_w(energy: EnergyService) -> Callable[[datetime], float]:
    def solar_w(at: datetime) -> float:
        solar = energy.manager.site.solar
        return solar.power_kw(at) * 1000.0 if solar is not None else 0.0
    return solar_w


def user_service(config: Config, store: Store, clock: Clock) -> UserService:
    """People, sign-in and API keys of the site (issue 14); the signing key lives in the home's keys/."""
    from app.core.auth.service import UserService

    return UserService(store, clock, config.paths.keys)


def wire_control_channel(core: Core, command: str) -> None:
    """The owner's local control channel, for the CLI and other windows on this site."""
    from app.core.api.server import ControlServer

    server = ControlServer(core.config.paths.home, site_ops(core, command), command,
                           users=user_service(core.config, core.store, core.clock), api=core.config.section("api"))
    needs = ("ownership", "jobs") + (("sites",) if core.sites is not None else ())
    core.kernel.add(server, depends_on=needs)
    core.control = server


def _materials(fleet: FleetService, node_id) -> dict[str, float]:
    try:
        return fleet.get(node_id).material_levels
    except ImeweError:
        return {}


def _loaded(fleet: FleetService, node_id) -> tuple[str, str]:
    """A machine's name and loaded material, for the low-material alert."""
    try:
        node = fleet.get(node_id)
    except ImeweError:
        return "", "loaded material"
    return node.name, node.capabilities.loaded_material or "loaded material"


def build_demo_core(config: Config, scale: float | None = None, lock: SiteLock | None = None) -> Core:
    """A site with the simulated demo fleet on a clock running ``scale`` times faster than real time, starting
    at dawn on midsummer's day so the solar charts move."""
    start = datetime(2026, 6, 21, 5, 0, tzinfo=UTC)
    return build_core(config, ScaledClock(scale or config.demo_scale, start=start), demo=True,
                      connect_machines=False, lock=lock, command="demo")


async def start_demo(core: Core, *, feed: bool = True) -> None:
    """Register the demo fleet (first run only), attach its simulated machines, and start the job feed."""
    from app.core.demo_jobs import DemoJobFeed
    from app.devices.demo import load_demo_fleet, read_fleet_file

    data = read_fleet_file()
    for name, caps, driver in load_demo_fleet(clock=core.clock):
        node = next((n for n in core.fleet.list() if n.name == name), None)
        if node is None:
            node = await core.fleet.register(name, caps, driver="sim", location=getattr(driver, "location", ""),
                                             address=f"sim:{name}", bring_up=True, actor="demo")
        await core.machines.attach(node.id, driver)
    if feed:
        demo_feed = DemoJobFeed(core.jobs, core.clock)
        await demo_feed.start()
        core.demo_feed = demo_feed
    core.config.site_name = str(data.get("site") or core.config.site_name)
    core.production.request_replan()


async def stop_demo(core: Core) -> None:
    feed, core.demo_feed = core.demo_feed, None
    if feed is not None:
        await feed.stop()


@asynccontextmanager
async def store_core(home: str | None = None, db_url: str | None = None,
                     clock: Clock | None = None) -> AsyncIterator[StoreCore]:
    """Boot the store-side core for one CLI command, and always shut it down cleanly. It never drives machines,
    plans or recovers: that is the owner's work."""
    config = load_config(home, db_url)
    setup_logging(config)
    core = build_store_core(config, clock)
    try:
        await core.kernel.boot()
        yield core
    finally:
        await core.kernel.shutdown()


def node_token(config: Config) -> str:
    """The pairing token agents expect: IMEWE_NODE_TOKEN, ``node_token`` in config.toml, or the one
    ``imewe node`` keeps in keys/node-token (made on first use)."""
    import secrets

    token = os.environ.get("IMEWE_NODE_TOKEN") or str(config.raw.get("node_token") or "")
    if token:
        return token
    path = config.paths.keys / "node-token"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    token = secrets.token_urlsafe(18)
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    return token


def site_public_key(config: Config) -> str:
    """This site's public key (PEM): agents pin it and take software updates signed with it only."""
    from app.core.fleet.agent_package import site_public_pem
    from app.core.sites.identity import load_or_create_identity

    return site_public_pem(load_or_create_identity(config.paths.keys, config.site_name).cert_pem).decode()


def agent_updates(core: Core, disc: Any) -> Any:
    """Software updates of the linked agents: this install's ``app`` package, signed with the site key."""
    import functools
    from pathlib import Path

    import app
    from app.core.fleet.agent_package import build_package, sign_package
    from app.core.fleet.agent_rollout import AgentUpdates
    from app.core.sites.identity import load_or_create_identity

    @functools.cache
    def package() -> Any:
        key = load_or_create_identity(core.config.paths.keys, core.config.site_name).key_path
        return sign_package(build_package(Path(app.__file__).parent, app.__version__), key)

    return AgentUpdates(core.fleet, lambda: disc.links, package)


def agent_trust(config: Config) -> Any:
    """The node agent keys people accepted (``keys/known_agents.json``)."""
    from app.core.discovery.agent_trust import FILE_NAME, AgentTrust

    return AgentTrust(config.paths.keys / FILE_NAME)


def wire_site_services(core: Core, *, discovery: bool | None = None, sites: bool = True) -> None:
    """What a running site adds to the one-shot core: network discovery of machines (when enabled) and the
    links to other sites (listening on the ``[sites]`` port)."""
    if sites:
        from app.core.sites import SummarySources, make_sites_service

        telemetry = core.telemetry

        async def open_alerts() -> int:
            return len(telemetry.alerts.open_alerts())

        link = make_sites_service(core.config, core.store, core.bus, core.clock, core.jobs, core.fleet.list,
                                  SummarySources(core.fleet.list, capacity=core.production.free_capacity,
                                                 energy=core.energy.now_summary, alerts=open_alerts,
                                                 learning=learning_stats(core)))
        core.kernel.add(link, depends_on=("jobs",))
        core.sites = link
        core.production.exclude_jobs(link.admin.offloaded_job_ids)
    use_discovery = core.config.discovery if discovery is None else discovery
    if use_discovery:
        from app.core.discovery.zeroconf_discovery import Advert, ZeroconfDiscovery
        from app.core.fleet.link_settings import agent_link_settings
        from app.devices.agent_client import read_agent_key
        from app.devices.factory import agent_driver_factory

        links = agent_link_settings(core.config.section("agents"))
        factory = agent_driver_factory(node_token(core.config), keepalive_s=links.keepalive_s,
                                       reconnect_max_s=links.reconnect_max_s,
                                       connect_timeout_s=links.connect_timeout_s, site_key=site_public_key(core.config))
        disc = ZeroconfDiscovery(core.fleet, core.bus, core.clock, factory, interfaces=core.config.interfaces or None,
                                 trust=agent_trust(core.config), key_probe=read_agent_key)
        core.kernel.add(disc, depends_on=("fleet",))
        core.machines.add_extra(lambda: disc.links)
        core.discovery = disc
        core.agent_updates = agent_updates(core, disc)
        from app.core.events import NodeDiscovered
        from app.devices.network.bambu_ssdp import BambuSsdpListener

        bus = core.bus  # Bambu printers announce themselves by SSDP broadcasts, not zeroconf

        def bambu_found(a: Any) -> None:
            props = {"serial": a.serial, "model": a.model, "firmware": a.firmware,
                     "lan_mode": "yes" if a.lan_mode else "no"}
            disc.found[f"{a.serial}._bambu-ssdp"] = Advert("bambu", a.name or a.serial, a.host, 8883, props)
            bus.publish(NodeDiscovered("bambu", a.name or a.serial, a.address, props))

        # on the address zeroconf is limited to, if any (UDP 2021, where Bambu printers broadcast)
        listen_on = (core.config.interfaces or ["0.0.0.0"])[0]
        core.kernel.add(BambuSsdpListener(listen_on, on_found=bambu_found))


def wire_optional_services(core: Core, command: str = "serve") -> None:
    wire_site_services(core)
    wire_control_channel(core, command)


def site_time_zone(config: Config) -> str | None:
    """The zone the site's clocks read (``[energy.grid] timezone``); None when not set (this computer's own)."""
    grid = config.section("energy").get("grid", {})
    zone = grid.get("timezone") if isinstance(grid, dict) else None
    return str(zone) if zone else None


def simulated_history(count: int, seed: int = 0) -> list:
    """Finished jobs of the simulated fleet (issue 15): training data for the demo and for trials."""
    from app.devices.sim_history import simulate_history

    return simulate_history(count, seed)


def learning_runtime(config: Config, store: Store, bus: EventBus, clock: Clock, raise_alert: Any,
                     node_of: Any = None, job_of: Any = None) -> Any:
    """The learned estimates (issue 15): models under ``<home>/models``, settings from ``[learning]``."""
    from app.core.jobs.eta import site_zone
    from app.core.learning.runtime import LearningRuntime

    return LearningRuntime(learning_service(config, store), bus, clock, raise_alert, node_of,
                           zone=site_zone(site_time_zone(config)), job_of=job_of)


def learning_stats(core: Core) -> Any:
    """What this site's history says per machine type (true values; the summary's privacy ledger adds the noise),
    read again at most every ten minutes."""
    from app.core.learning.federated import correction_stats

    repo = core.learning.service.repo
    held: dict[str, Any] = {}

    async def stats() -> dict:
        if "at" not in held or time.monotonic() - held["at"] > 600:
            held["stats"] = await core.store.run(lambda: correction_stats(repo.records()))
            held["at"] = time.monotonic()
        return held["stats"]

    return stats


def learning_service(config: Config, store: Store) -> Any:
    from app.core.learning.service import LearningService, LearningSettings

    settings = LearningSettings.from_section(config.section("learning"))
    service = LearningService(store, config.paths.home / "models", settings)
    if config.section("sites").get("learning_links"):  # learning across the links opted in for it
        from app.core.sites.config import SitesConfig
        from app.core.sites.learning_share import linked_corrections

        service.pooled_of = linked_corrections(store, SitesConfig.from_config(config))
    return service
