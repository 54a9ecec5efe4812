"""The one place that builds concrete stores, services and drivers and wires them together."""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.bus import EventBus
from app.core.clock import Clock, ScaledClock, SystemClock
from app.core.config import Config, load_config
from app.core.demo_jobs import DemoJobFeed
from app.core.domain.entities import Node
from app.core.domain.errors import ImeweError, ValidationError
from app.core.drivers import FabricationDevice
from app.core.energy.service import EnergyService
from app.core.energy.wiring import build_energy
from app.core.fleet.machine_room import MachineRoom
from app.core.fleet.service import FleetService
from app.core.jobs.service import JobService
from app.core.kernel import Kernel
from app.core.production import ProductionService
from app.core.store.db import Store, open_store
from app.core.telemetry.service import TelemetryService
from app.core.telemetry.wiring import build_telemetry

if TYPE_CHECKING:
    from app.core.discovery.zeroconf_discovery import ZeroconfDiscovery
    from app.core.sites.service import SitesService
    from app.ui.ports import Ports

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

    @property
    def drivers(self):
        return self.machines.drivers


def log_file(config: Config) -> Path:
    return config.paths.logs / "imewe.log"


def setup_logging(config: Config, to_stderr: bool = False) -> None:
    config.paths.ensure()
    root = logging.getLogger()
    if any(getattr(h, "_imewe", False) for h in root.handlers):
        return
    handler = logging.handlers.RotatingFileHandler(log_file(config), maxBytes=5_000_000,
                                                   backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._imewe = True  # type: ignore[attr-defined]
    root.addHandler(handler)
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
        return driver
    if node.driver == "sim":
        return make_driver("sim", name=node.name, capabilities=node.capabilities, clock=clock,
                           sim={"telemetry_interval_s": 5.0})
    if node.driver in ("marlin", "grbl"):
        port = node.address.removeprefix("serial:")
        if not port:
            raise ValidationError(f"{node.name} has no serial port in its address (serial:/dev/ttyUSB0)")
        return make_driver(node.driver, name=node.name, capabilities=node.capabilities, port=port,
                           traffic_log=config.paths.device_logs / f"{node.id}.log")
    return None


def build_core(config: Config, clock: Clock | None = None, *, demo: bool = False,
               connect_machines: bool = True, plan_budget_s: float | None = None) -> Core:
    config.paths.ensure()
    clock = clock or SystemClock()
    store = open_store(config.db_url)
    bus = EventBus()
    fleet = FleetService(store, bus, clock)
    jobs = JobService(store, bus, clock, fleet.list)
    kernel = Kernel(store, bus, clock, fleet, jobs)
    factory = (lambda node: driver_for(node, clock, config)) if connect_machines else None
    machines = MachineRoom(fleet, bus, clock, factory)
    kernel.add(machines, depends_on=("fleet",))
    telemetry = build_telemetry(config, store, bus, clock, materials_of=lambda n: _materials(fleet, n))
    kernel.add(telemetry, depends_on=("fleet",))
    holder: dict[str, ProductionService] = {}
    energy = build_energy(config, store, bus, clock, demo=demo,
                          part_of=lambda node, job: holder["p"].part_of(node, job) if "p" in holder else None)
    kernel.add(energy)
    scheduler_cfg = config.section("scheduler")
    production = ProductionService(
        fleet, jobs, bus, clock, machines.drivers, store=store,
        plan_budget_s=plan_budget_s if plan_budget_s is not None else float(
            scheduler_cfg.get("plan_budget_s", 0.3 if demo else 1.0)),
        forecast_for=energy.plan_forecast, power_cap_w=energy.power_cap_w,
        energy_weight=float(scheduler_cfg.get("energy_weight", 0.0)),
        mode=str(scheduler_cfg.get("mode", "plan")))
    holder["p"] = production
    kernel.add(production, depends_on=("jobs", "machines", "energy"))
    return Core(config, store, bus, clock, kernel, fleet, jobs, machines, production, telemetry, energy, demo)


def _materials(fleet: FleetService, node_id) -> dict[str, float]:
    try:
        return fleet.get(node_id).material_levels
    except ImeweError:
        return {}


def build_demo_core(config: Config, scale: float | None = None) -> Core:
    """A site with the simulated demo fleet on a clock running ``scale`` times faster than real time, starting
    at dawn on midsummer's day so the solar charts move."""
    start = datetime(2026, 6, 21, 5, 0, tzinfo=UTC)
    return build_core(config, ScaledClock(scale or config.demo_scale, start=start), demo=True,
                      connect_machines=False)


async def start_demo(core: Core, *, feed: bool = True) -> None:
    """Register the demo fleet (first run only), attach its simulated machines, and start the job feed."""
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
async def running_core(home: str | None = None, db_url: str | None = None,
                       clock: Clock | None = None, *, connect_machines: bool = False) -> AsyncIterator[Core]:
    """Boot the core for one CLI command or test, and always shut it down cleanly. One-shot commands do not
    connect to machines unless asked."""
    config = load_config(home, db_url)
    setup_logging(config)
    core = build_core(config, clock, connect_machines=connect_machines)
    try:
        await core.kernel.boot()
        yield core
    finally:
        await stop_demo(core)
        await core.kernel.shutdown()


def node_token(config: Config) -> str:
    """The pairing token agents expect: IMEWE_NODE_TOKEN, ``node_token`` in config.toml, or the one
    ``imewe node`` keeps in keys/node-token (made on first use)."""
    import os
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


def free_capacity(core: Core, horizon_h: float = 24.0) -> list[dict[str, Any]]:
    """Per process: from when machines are free in the current plan, up to the horizon (for linked sites)."""
    now = core.clock.now()
    end = now + timedelta(hours=horizon_h)
    busy_until: dict = {}
    plan = core.production.plan
    for row in plan.rows if plan else []:
        busy_until[row.node_id] = max(busy_until.get(row.node_id, now), row.end)
    windows: dict[str, dict[str, Any]] = {}
    for node in core.fleet.list():
        if not node.state.in_service:
            continue
        free_from = min(max(busy_until.get(node.id, now), now), end)
        w = windows.setdefault(node.process.value, {"process": node.process.value, "start": free_from,
                                                    "end": end, "machines": 0})
        w["machines"] += 1
        w["start"] = min(w["start"], free_from)
    return [dict(w, start=w["start"].isoformat(), end=w["end"].isoformat()) for w in windows.values()
            if w["start"] < end]


def energy_now(core: Core) -> dict[str, Any] | None:
    st = core.energy.status()
    return {"solar_w": (st.get("solar_kw") or 0.0) * 1000.0, "battery_pct": (st.get("battery_soc") or 0.0) * 100.0,
            "price_per_kwh": st.get("price") or 0.0}


def wire_site_services(core: Core, *, discovery: bool | None = None, sites: bool = True) -> None:
    """What a running site adds to the one-shot core: network discovery of machines (when enabled) and the
    links to other sites (listening on the ``[sites]`` port)."""
    if sites:
        from app.core.sites import SummarySources, make_sites_service

        telemetry = core.telemetry

        async def open_alerts() -> int:
            return len(telemetry.alerts.open_alerts())

        link = make_sites_service(core.config, core.store, core.bus, core.clock, core.jobs, core.fleet.list,
                                  SummarySources(core.fleet.list, capacity=lambda: free_capacity(core),
                                                 energy=lambda: energy_now(core), alerts=open_alerts))
        core.kernel.add(link, depends_on=("jobs",))
        core.sites = link
        core.production.exclude_jobs(link.admin.offloaded_job_ids)
    use_discovery = core.config.discovery if discovery is None else discovery
    if use_discovery:
        from app.core.discovery.zeroconf_discovery import ZeroconfDiscovery
        from app.devices.factory import agent_driver_factory

        disc = ZeroconfDiscovery(core.fleet, core.bus, core.clock, agent_driver_factory(node_token(core.config)),
                                 interfaces=core.config.interfaces or None)
        core.kernel.add(disc, depends_on=("fleet",))
        core.machines.add_extra(lambda: disc.links)
        core.discovery = disc


def wire_optional_services(core: Core) -> None:
    wire_site_services(core)


def ui_ports(core: Core) -> Ports:
    """What the control room may use of a running core: one typed port per panel (see ``app/ui/ports.py``)."""
    from app.ui.ports import Ports, SiteInfo

    config = core.config
    site = SiteInfo(config.site_name, config.paths.home, core.store.url, log_file(config))
    return Ports(site, core.clock, core.bus, core.fleet, core.jobs, core.kernel, control=core.production,
                 alerts=core.telemetry.alerts, energy=core.energy, sites=core.sites)
