"""Model versions on disk: ``<home>/models/v0001/`` (ONNX files and meta.json) and ``active.json`` naming the
one in use. A new version becomes active only if it beats the active one on the same held-out recent jobs;
``rollback`` makes the previous active version active again. Every change is one small file rewrite, atomic."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from app.core.domain.errors import ValidationError

log = logging.getLogger(__name__)


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = root

    def versions(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and (p / "meta.json").exists())

    def meta(self, version: str) -> dict[str, Any]:
        try:
            return json.loads((self.root / version / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValidationError(f"no readable model version {version!r} in {self.root}", "learn") from exc

    def new_folder(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        nums = [int(v[1:]) for v in self.versions() if v[1:].isdigit()]
        nums += [int(p.name[1:]) for p in self.root.glob("v*") if p.name[1:].isdigit()]
        folder = self.root / f"v{max(nums, default=0) + 1:04d}"
        folder.mkdir()
        return folder

    def _state(self) -> dict[str, Any]:
        try:
            return json.loads((self.root / "active.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"active": None, "history": []}

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self.root / "active.json.tmp"
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(tmp, self.root / "active.json")

    def active(self) -> str | None:
        v = self._state().get("active")
        return v if v and (self.root / v / "meta.json").exists() else None

    def active_folder(self) -> Path | None:
        v = self.active()
        return None if v is None else self.root / v

    def activate(self, version: str, reason: str) -> None:
        self.meta(version)  # must exist
        state = self._state()
        if state.get("active"):
            state.setdefault("history", []).append(state["active"])
        state["active"] = version
        state["reason"] = reason
        state["at"] = time.time()
        self._write_state(state)
        log.info("model version %s active: %s", version, reason)

    def rollback(self) -> str:
        state = self._state()
        history = [v for v in state.get("history", []) if (self.root / v / "meta.json").exists()]
        if not history:
            raise ValidationError("no earlier model version to roll back to", "learn")
        previous = history.pop()
        state.update(active=previous, history=history, reason=f"rolled back from {state.get('active')}",
                     at=time.time())
        self._write_state(state)
        return previous

    def discard(self, version: str) -> None:
        shutil.rmtree(self.root / version, ignore_errors=True)
