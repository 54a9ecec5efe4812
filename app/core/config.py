"""Configuration: defaults < config file (``config.toml`` in the home folder) < ``IMEWE_*`` variables < flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from typing import Any

from app.core.domain.errors import ConfigError
from app.core.paths import Paths
from app.core.store.db import sqlite_url

ENV_VARS = {
    "IMEWE_HOME": "folder for everything Imewe keeps",
    "IMEWE_DB_URL": "database URL (sqlite:///... or postgresql://user:pass@host/db)",
    "IMEWE_SITE_NAME": "this site's name",
    "IMEWE_LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR",
    "IMEWE_INTERFACES": "comma-separated addresses zeroconf binds (default: all)",
    "IMEWE_DISCOVERY": "1 or 0: browse the network for machines",
    "IMEWE_DEMO_SCALE": "how much faster than real time the demo runs",
}


@dataclass(slots=True)
class Config:
    paths: Paths
    db_url: str
    site_name: str = "Imewe site"
    log_level: str = "INFO"
    interfaces: list[str] = field(default_factory=list)  # empty: all
    discovery: bool = True
    demo_scale: float = 60.0
    raw: dict[str, Any] = field(default_factory=dict)  # the whole config file, for services' own sections

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] in {self.paths.config_file} must be a table")
        return value


def load_config(home: str | None = None, db_url: str | None = None, env: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    paths = Paths.resolve(home or env.get("IMEWE_HOME"))
    raw: dict[str, Any] = {}
    if paths.config_file.exists():
        try:
            raw = tomllib.loads(paths.config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {paths.config_file}: {exc}") from exc
    cfg = Config(paths=paths, db_url="", raw=raw)
    cfg.site_name = str(env.get("IMEWE_SITE_NAME") or raw.get("site_name") or cfg.site_name)
    cfg.log_level = str(env.get("IMEWE_LOG_LEVEL") or raw.get("log_level") or cfg.log_level).upper()
    if cfg.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"log level {cfg.log_level!r} is not DEBUG, INFO, WARNING or ERROR")
    interfaces = env.get("IMEWE_INTERFACES") or raw.get("interfaces") or []
    cfg.interfaces = [i.strip() for i in interfaces.split(",")] if isinstance(interfaces, str) else list(interfaces)
    disc = env.get("IMEWE_DISCOVERY", raw.get("discovery", True))
    cfg.discovery = str(disc).lower() not in ("0", "false", "no", "off")
    try:
        cfg.demo_scale = float(env.get("IMEWE_DEMO_SCALE") or raw.get("demo_scale") or cfg.demo_scale)
    except ValueError as exc:
        raise ConfigError("IMEWE_DEMO_SCALE must be a number") from exc
    if cfg.demo_scale <= 0:
        raise ConfigError("the demo time scale must be positive")
    cfg.db_url = db_url or env.get("IMEWE_DB_URL") or raw.get("db_url") or sqlite_url(paths.database)
    return cfg
