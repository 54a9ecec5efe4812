"""Site links: Imewe sites linked peer to peer over mutual-TLS websockets (DESIGN flow 5).

Names are loaded on first use: every process builds the job service with ``follow.cancel_follows`` (plain store
code), and most never start a link, so the TLS and websocket modules stay unloaded there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.core.sites.config import SitesConfig
    from app.core.sites.identity import SiteIdentity, load_or_create_identity
    from app.core.sites.service import SitesService
    from app.core.sites.summary import SummarySources

_WHERE = {"SitesConfig": "config", "SiteIdentity": "identity", "load_or_create_identity": "identity",
          "SitesService": "service", "SummarySources": "summary"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"app.core.sites.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'app.core.sites' has no attribute {name!r}")


def make_sites_service(config: Any, store: Any, bus: Any, clock: Any, jobs: Any, nodes: Callable[[], list],
                       sources: SummarySources | None = None) -> SitesService:
    """The site-link service for a site's Config: identity from the keys folder, settings from ``[sites]``."""
    from app.core.sites.config import SitesConfig
    from app.core.sites.identity import load_or_create_identity
    from app.core.sites.service import SitesService

    identity = load_or_create_identity(config.paths.keys, config.site_name)
    return SitesService(store, bus, clock, identity, jobs, nodes, SitesConfig.from_config(config), sources)


__all__ = ["SiteIdentity", "SitesConfig", "SitesService", "SummarySources", "load_or_create_identity",
           "make_sites_service"]
