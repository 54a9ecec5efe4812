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
        """Create the folders. The home, keys and logs are private to the user (0700) when we create them: the
        database, the logs and the keys inside say what the site makes and how to reach its machines."""
        private = (self.home, self.keys, self.logs)
        for p in (self.home, self.keys, self.logs, self.device_logs, self.exports):
            if p.is_dir():
                continue
            p.mkdir(parents=True, exist_ok=True)
            if p in private:
                _chmod(p, 0o700)
        _chmod(self.keys, 0o700)  # keys are private even in a home someone else made
        return self


def _chmod(path: Path, mode: int) -> None:
    try:
        path.chmod(mode)
    except OSError:
        pass  # a file system without modes (a mounted share): nothing more we can do


def sqlite_url(path: Path) -> str:
    """The database URL of a SQLite file (the home's default database; no SQLAlchemy needed to name it)."""
    return f"sqlite:///{path}"
