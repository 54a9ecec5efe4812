"""Per-machine secrets (API keys, access codes, passwords, pinned certificates) under the home's ``keys/``.

One JSON file per machine, ``keys/machines/<node id>.json``, mode 0600 in a 0700 folder. The node record in the
database holds no secret: its id is the reference. Values are never logged and never part of a message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from uuid import UUID

from app.core.domain.errors import ConfigError


class SecretStore:
    def __init__(self, keys_dir: Path) -> None:
        self.dir = Path(keys_dir) / "machines"

    def path(self, node_id: UUID | str) -> Path:
        return self.dir / f"{UUID(str(node_id))}.json"

    def save(self, node_id: UUID | str, secrets: dict[str, str]) -> Path:
        """Write (replace) a machine's secrets atomically; only the owner can read them."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        target = self.path(node_id)
        tmp = target.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({k: str(v) for k, v in secrets.items() if v}, f)
        os.chmod(tmp, 0o600)  # O_CREAT's mode is masked by umask; make sure
        os.replace(tmp, target)
        return target

    def load(self, node_id: UUID | str) -> dict[str, str]:
        target = self.path(node_id)
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the machine secrets in {target}: {type(exc).__name__}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"the machine secrets in {target} are not a JSON object")
        return {str(k): str(v) for k, v in data.items()}

    def update(self, node_id: UUID | str, **values: str) -> None:
        """Add or change some values (e.g. a pinned certificate fingerprint) keeping the others."""
        self.save(node_id, {**self.load(node_id), **values})

    def delete(self, node_id: UUID | str) -> None:
        self.path(node_id).unlink(missing_ok=True)
