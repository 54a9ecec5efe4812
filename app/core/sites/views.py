"""What the Sites view and ``imewe sites status`` show for one site."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.core.sites.service import SitesService


@dataclass(slots=True)
class SiteView:
    """One linked (or knocking) site as the Sites view and ``imewe sites status`` show it."""

    site_id: str
    name: str
    state: str
    address: str
    connected: bool
    latency_ms: float | None
    last_seen: float | None
    summary: dict[str, Any] | None
    summary_at: float | None
    outbox: int
    attempts: int
    last_error: str
    privacy_spent: float = 0.0  # epsilon this site's summaries to it cost today (UTC)
    privacy_budget: float = 0.0  # ... out of this much per day


async def site_views(svc: SitesService) -> list[SiteView]:
    """Every known site with its link health and last summary (live values from the service's links)."""
    peers = await svc.admin.peers()
    stored = await svc.admin.summaries()
    outbox = await svc.admin.outbox_counts()
    spent = await svc.admin.privacy_spent()
    out = []
    now_wall, now_mono = svc.clock.now().timestamp(), time.monotonic()
    for p in peers:
        link = svc.link(p.site_id)
        # The service's live caches come first; the store holds what was last known before a restart.
        summary, at = svc.links.summary(p.site_id) or stored.get(p.site_id) or (None, None)
        seen = now_wall - (now_mono - link.last_seen) if link else p.last_seen
        out.append(SiteView(p.site_id, p.name, p.state, p.address or svc.links.lan_address(p.site_id),
                            link is not None, link.latency_ms if link else p.latency_ms, seen, summary, at,
                            outbox.get(p.site_id, 0), p.attempts,
                            svc.links.error(p.site_id) or p.last_error, spent.get(p.site_id, 0.0),
                            svc.config.epsilon_per_day))
    return out
