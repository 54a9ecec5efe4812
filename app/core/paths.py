"""Where Imewe keeps things. ``IMEWE_HOME`` (or ``--home``) relocates all of it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs


@dataclass(frozen=True, slots=True)
class Paths:
    home: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> Paths:
        chosen = home or os.environ.get("IMEWE_HOME")
        root = Path(chosen).expanduser() if chosen else Path(platformdirs.user_data_dir("imewe", "imewe"))
        return cls(root.resolve())

    @property
    def database(self) -> Path:
        return self.home / "imewe.sqlite3"

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"

    @property
    def keys(self) -> Path:
        return self.home / "keys"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def device_logs(self) -> Path:
        return self.logs / "devices"

    @property
    def exports(self) -> Path:
        return self.home / "exports"

    def ensure(self) -> Paths:
        for p in (self.home, self.keys, self.logs, self.device_logs, self.exports):
            p.mkdir(parents=True, exist_ok=True)
        try:
            self.keys.chmod(0o700)
        except OSError:
            pass
        return self
