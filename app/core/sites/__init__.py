"""Site links: Imewe sites linked peer to peer over mutual-TLS websockets (DESIGN flow 5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core.sites.config import SitesConfig
from app.core.sites.identity import SiteIdentity, load_or_create_identity
from app.core.sites.service import SitesService
from app.core.sites.summary import SummarySources


def make_sites_service(config: Any, store: Any, bus: Any, clock: Any, jobs: Any, nodes: Callable[[], list],
                       sources: SummarySources | None = None) -> SitesService:
    """The site-link service for a site's Config: identity from the keys folder, settings from ``[sites]``."""
    identity = load_or_create_identity(config.paths.keys, config.site_name)
    return SitesService(store, bus, clock, identity, jobs, nodes, SitesConfig.from_config(config), sources)


__all__ = ["SiteIdentity", "SitesConfig", "SitesService", "SummarySources", "load_or_create_identity",
           "make_sites_service"]
