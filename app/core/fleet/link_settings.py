"""Settings of the links to machines that can drop and come back: ``[agents]`` (keepalive, reconnect backoff) and
``[scheduler] in_doubt_grace_s`` (how long a machine that dropped mid-job keeps its work before it is replanned)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from app.core.domain.errors import ConfigError

DEFAULT_IN_DOUBT_GRACE_S = 120.0


@dataclass(frozen=True, slots=True)
class AgentLinkSettings:
    keepalive_s: float = 20.0  # a ping this often; unanswered this long: the link is lost (hung agent: ~2x)
    reconnect_max_s: float = 30.0  # longest wait between attempts to reopen a lost link
    connect_timeout_s: float = 10.0  # one attempt (connect and pairing) may take this long


def agent_link_settings(section: dict[str, Any]) -> AgentLinkSettings:
    d = AgentLinkSettings()
    return AgentLinkSettings(_seconds(section, "agents", "keepalive_s", d.keepalive_s, positive=True),
                             _seconds(section, "agents", "reconnect_max_s", d.reconnect_max_s, positive=True),
                             _seconds(section, "agents", "connect_timeout_s", d.connect_timeout_s, positive=True))


def in_doubt_grace_s(scheduler: dict[str, Any]) -> float:
    return _seconds(scheduler, "scheduler", "in_doubt_grace_s", DEFAULT_IN_DOUBT_GRACE_S, positive=False)


def _seconds(section: dict[str, Any], table: str, key: str, default: float, *, positive: bool) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0 or (positive and value == 0):
        bound = "above 0" if positive else "0 or more"
        raise ConfigError(f"[{table}] {key} must be a number of seconds {bound}, not {value!r}")
    return float(value)
