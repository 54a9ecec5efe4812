"""What a running site knows about its live links, in memory: the open link to each site, the outbox messages
in flight on it, the last summary each site sent, where the LAN says each site is, the last dial error, and the
event that wakes each site's sender. The service, the message handlers and the views use it through these
methods only."""

from __future__ import annotations

import asyncio
from typing import Any

from app.core.sites.link import Link

Summary = tuple[dict[str, Any], float]  # (body, received at, epoch s)


class LinkState:
    def __init__(self) -> None:
        self._links: dict[str, Link] = {}
        self._in_flight: dict[str, dict[str, float]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._received: dict[str, Summary] = {}
        self._lan: dict[str, str] = {}
        self._errors: dict[str, str] = {}

    # ------------------------------------------------------------ links
    def live(self, site_id: str) -> Link | None:
        """The open link to a site, if there is one."""
        link = self._links.get(site_id)
        return link if link is not None and link.open else None

    def all(self) -> list[Link]:
        return list(self._links.values())

    def keep(self, new: Link, own_id: str) -> tuple[bool, Link | None]:
        """Register a new link. Both sites may dial at once: both keep the one dialed by the smaller site id.
        Returns whether ``new`` is kept, and the old link to close if it is replaced."""
        old = self._links.get(new.peer_id)
        if old is not None and old.open:
            preferred = min(own_id, new.peer_id)
            if old.dialer == preferred and new.dialer != preferred:
                return False, None
        else:
            old = None
        self._links[new.peer_id] = new
        self._in_flight[new.peer_id] = {}
        return True, old

    def drop(self, link: Link) -> bool:
        """Forget a link that ended; False if another link to that site replaced it meanwhile."""
        if self._links.get(link.peer_id) is not link:
            return False
        del self._links[link.peer_id]
        return True

    # ------------------------------------------------------------ sending
    def in_flight(self, site_id: str) -> dict[str, float]:
        """Outbox keys sent on the current link and not acknowledged yet -> when sent (monotonic s)."""
        return self._in_flight.setdefault(site_id, {})

    def acked(self, link: Link, keys: list[str]) -> None:
        in_flight = self._in_flight.get(link.peer_id, {})
        for k in keys:
            in_flight.pop(k, None)
            link.first_sent.pop(k, None)

    def sent_unacked(self, site_id: str, key: str) -> bool:
        return key in self._in_flight.get(site_id, {})

    def wake_event(self, site_id: str) -> asyncio.Event:
        return self._wake.setdefault(site_id, asyncio.Event())

    def wake(self, site_id: str) -> None:
        if site_id in self._wake:
            self._wake[site_id].set()

    def wake_all(self) -> None:
        for ev in self._wake.values():
            ev.set()

    # ------------------------------------------------------------ what sites told us
    def summary(self, site_id: str) -> Summary | None:
        return self._received.get(site_id)

    def set_summary(self, site_id: str, body: dict[str, Any], at: float) -> None:
        self._received[site_id] = (body, at)

    def lan_address(self, site_id: str) -> str:
        return self._lan.get(site_id, "")

    def set_lan_address(self, site_id: str, address: str) -> bool:
        """Note where the LAN says a site is; True if that is news."""
        if self._lan.get(site_id) == address:
            return False
        self._lan[site_id] = address
        return True

    def error(self, site_id: str) -> str | None:
        return self._errors.get(site_id)

    def set_error(self, site_id: str, error: str | None) -> None:
        if error is None:
            self._errors.pop(site_id, None)
        else:
            self._errors[site_id] = error[:500]
