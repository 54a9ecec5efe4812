"""Settings of the site links, from the ``[sites]`` table of config.toml."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from app.core.domain.errors import ConfigError

DEFAULT_PORT = 47470


def _plain(site_id: str) -> str:
    """A site id without its grouping (dashes, spaces), upper case: what an operator may type either way."""
    return "".join(ch for ch in site_id.upper() if ch.isalnum())


@dataclass(slots=True)
class SitesConfig:
    name: str = "Imewe site"
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT  # 0: any free port (tests)
    heartbeat_s: float = 5.0
    dead_after_s: float = 20.0  # no message for this long: the link is dead, dial again
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    retry_s: float = 10.0  # resend an outbox message not acknowledged after this long
    rate_per_s: float = 5000.0  # messages a linked site may send us, on average ...
    burst: float = 10000.0  # ... and at once
    summary_s: float = 15.0
    epsilon: float = 1.0  # differential privacy: what each group of published numbers costs per period
    privacy_period_s: float = 3600.0  # a published number is drawn once per period and repeated within it
    epsilon_per_day: float = 130.0  # budget of each linked site per UTC day (24 hourly summaries and a location)
    location: str = ""  # "lat,lon"; published with geo noise; empty: not published
    location_radius_m: float = 2000.0
    discovery: bool = True
    interfaces: list[str] = field(default_factory=list)
    window: int = 256  # outbox messages in flight per link
    # Linked sites (site ids, at least their first 8 characters, or names) this site shares learned correction
    # statistics with and pools theirs from (issue 15): opt-in per link, both ways.
    learning_links: list[str] = field(default_factory=list)

    def shares_learning(self, peer_id: str, name: str = "") -> bool:
        """Whether the link to ``peer_id`` (named ``name`` here) is one this site learns across."""
        pid = _plain(peer_id)
        for entry in self.learning_links:
            e = str(entry).strip()
            if not e:
                continue
            if (name and e == name) or (len(_plain(e)) >= 8 and pid.startswith(_plain(e))):
                return True
        return False

    def lat_lon(self) -> tuple[float, float] | None:
        """The configured location, or None; a bad one is a ConfigError."""
        if not self.location.strip():
            return None
        try:
            lat, lon = (float(x) for x in self.location.split(","))
        except ValueError as exc:
            raise ConfigError(f"[sites] location = {self.location[:40]!r} must be \"lat,lon\", "
                              "e.g. \"52.52,13.40\"") from exc
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ConfigError("[sites] location: latitude within ±90, longitude within ±180 degrees")
        return lat, lon

    @classmethod
    def from_config(cls, config: Any) -> SitesConfig:
        raw = config.section("sites")
        out = cls(name=config.site_name, discovery=config.discovery, interfaces=list(config.interfaces))
        known = {f.name: f for f in fields(cls)}
        for k, v in raw.items():
            if k not in known:
                continue  # an unknown key is a warning with the nearest known one (app.core.config.check_config)
            try:
                cur = getattr(out, k)
                setattr(out, k, type(cur)(v) if not isinstance(cur, list) else list(v))
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"[sites] {k} = {v!r} is not valid") from exc
        if out.epsilon <= 0:
            raise ConfigError("[sites] epsilon must be positive (smaller is more private)")
        if out.privacy_period_s < 1 or out.epsilon_per_day <= 0:
            raise ConfigError("[sites] privacy_period_s must be at least 1 and epsilon_per_day positive")
        if out.location:
            out.lat_lon()
        if out.location_radius_m <= 0:
            raise ConfigError("[sites] location_radius_m must be positive")
        if not 0 <= out.port < 65536:
            raise ConfigError("[sites] port must be 0 to 65535")
        return out
