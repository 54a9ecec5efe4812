"""Building the energy service from the config (called by ``app/bootstrap.py``)."""

from __future__ import annotations

from app.core.bus import EventBus
from app.core.clock import Clock
from app.core.config import Config
from app.core.energy.accounting import PartResolver
from app.core.energy.config import demo_site, site_from_config
from app.core.energy.service import EnergyService
from app.core.store.db import Store


def build_energy(config: Config, store: Store, bus: EventBus, clock: Clock, *, demo: bool = False,
                 part_of: PartResolver | None = None) -> EnergyService:
    """The demo site (sunny day, battery, time-of-use grid) unless the config has an ``[energy]`` table."""
    section = config.section("energy")
    site = demo_site() if demo and not section else site_from_config(section)
    return EnergyService(store, bus, clock, site, part_of=part_of)
