"""What a site learns across its links (issue 15): the learned correction statistics its opted-in linked sites
sent with their summaries, pooled per machine type (``app/core/learning/federated.py``). Read from the store, so
the site's owner and a CLI command see the same."""

from __future__ import annotations

from collections.abc import Callable

from app.core.learning.federated import Pooled, pool
from app.core.sites import repo
from app.core.sites.config import SitesConfig
from app.core.sites.repo import ALLOWED
from app.core.store.db import Store


def linked_corrections(store: Store, config: SitesConfig) -> Callable[[], dict[str, Pooled]]:
    """A reader of the pooled statistics of the allowed linked sites this site opted in to learn from."""

    def read() -> dict[str, Pooled]:
        with store.connect() as conn:
            peers = {p.site_id: p for p in repo.list_peers(conn)}
            summaries = repo.summaries(conn)
        bodies = []
        for peer_id, (body, _at) in summaries.items():
            peer = peers.get(peer_id)
            if peer is None or peer.state != ALLOWED or not config.shares_learning(peer_id, peer.name):
                continue
            section = body.get("learning") if isinstance(body, dict) else None
            if isinstance(section, dict):
                bodies.append(section)
        return pool(bodies)

    return read
