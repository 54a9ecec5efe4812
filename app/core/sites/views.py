"""What the Sites view and ``imewe sites status`` show for one site."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
