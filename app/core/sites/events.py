"""Events the site links publish on the bus (the Sites view and the audit follow them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SiteLinkChanged:
    site_id: str
    up: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SitePeerRefused:
    """A site tried to link and was refused; ``reason`` says why (unknown, revoked, wrong certificate)."""

    site_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class SiteSummaryReceived:
    site_id: str


@dataclass(frozen=True, slots=True)
class SiteFound:
    """A site announced itself on the LAN (``_imewe-site._tcp.local.``)."""

    site_id: str
    address: str
    name: str = ""
