"""A node agent takes a software update from its control room: checks the signature against the site key it pinned,
unpacks the package beside the version it runs (``<home>/node-versions/<version>-<sha>/app``), and restarts into
it through the update guard (``agent_guard``), which rolls back if the new version does not come up healthy.

The site key is pinned the first time a control room that holds the pairing token says hello (the hello carries
it); an update signed by any other key is refused, and a control room of another site may drive the machine (it
holds the token) but not change the agent's software.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import shutil
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.domain.errors import AuthError, DeviceError, ValidationError
from app.core.fleet.agent_package import MAX_PACKAGE_BYTES, check_version, is_older, verify_package
from app.devices.agent_guard import GUARDED_ENV, HEALTH_ENV, RESTART_CODE, VERSION_DIR_ENV

log = logging.getLogger(__name__)


class AgentUpdater:
    """``argv``: how to start this agent again (``-m app.cli.main ... node ...``, absolute paths, no token), or
    a function that says it when an update comes (the port is known only once the agent serves);
    ``env``: what the started agent needs in its environment besides this one's (the token)."""

    def __init__(self, home: Path, name: str, version: str, argv: list[str] | Callable[[], list[str]], *,
                 env: dict[str, str] | None = None,
                 timeout_s: float = 60.0, keys: Path | None = None) -> None:
        self.home = home
        self.name = name
        self.version = version
        self.argv = argv
        self.env = env or {}
        self.timeout_s = timeout_s
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)
        self.site_key_path = (keys or home / "keys") / f"node-{safe}-site.pem"
        self.versions = home / "node-versions"
        self.state_file = (keys or home / "keys") / f"node-{safe}-update-state.json"  # 0600: it holds the token
        self.result_file = home / f"node-{safe}-update.json"
        self.current_file = home / f"node-{safe}-current.json"
        self.health_file = home / "run" / f"node-{safe}-health.json"
        self.restart_requested = False
        self.on_restart: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------ the site key
    def pin_site_key(self, pem: Any) -> None:
        """The first site key a paired control room shows is the one updates must be signed with."""
        if not isinstance(pem, str) or not pem.startswith("-----BEGIN PUBLIC KEY-----") or len(pem) > 4000:
            return
        if self.site_key_path.exists():
            if self.site_key_path.read_text().strip() != pem.strip():
                log.info("a control room of another site paired; updates are taken from the pinned site only")
            return
        self.site_key_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.site_key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(pem.strip() + "\n")
        log.info("pinned the site key of the control room (updates must be signed with it)")

    def last_update(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.result_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    # ------------------------------------------------------------------ an update arrives
    async def install(self, args: dict[str, Any]) -> str:
        meta = args.get("package")
        data_b64 = args.get("data")
        if not isinstance(meta, dict) or not isinstance(data_b64, str):
            raise ValidationError("an update needs the package's description and its data", "package")
        if len(data_b64) > MAX_PACKAGE_BYTES * 4 // 3 + 4:
            raise ValidationError("the package is too large", "package")
        try:
            data = base64.b64decode(data_b64, validate=True)
        except ValueError as exc:
            raise ValidationError("the package data is not base64", "package") from exc
        if not self.site_key_path.exists():
            raise AuthError("this agent has no site key pinned yet, so it takes no update")
        version = verify_package(meta, data, self.site_key_path.read_bytes())
        if is_older(version, self.version):
            raise ValidationError(f"the package is version {version}, older than the {self.version} this agent runs: "
                                  "refused (a signed old package is not a reason to go back)", "package")
        target = self.versions / f"{check_version(version)}-{str(meta['sha256'])[:12]}"
        await asyncio.get_running_loop().run_in_executor(None, _unpack, data, target)
        self._write_state(target, version)
        self.restart_requested = True
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, self.on_restart)  # after the reply has gone out
        log.info("update to %s verified and unpacked in %s; restarting into it", version, target)
        return f"version {version} installed beside {self.version}; restarting into it"

    def _write_state(self, target: Path, version: str) -> None:
        here = os.environ.get(VERSION_DIR_ENV, "")
        previous: dict[str, Any] = {"dir": here, "version": self.version}
        if not here:  # the version the agent was installed with: started as it was
            previous.update(cwd=os.getcwd(), pythonpath=os.environ.get("PYTHONPATH", ""))
        argv = self.argv() if callable(self.argv) else self.argv
        if not argv:
            raise DeviceError("this agent does not know yet how to start again; try the update in a moment")
        state = {"trial": {"dir": str(target), "version": version}, "previous": previous, "argv": argv,
                 "env": self.env, "health_file": str(self.health_file), "result_file": str(self.result_file),
                 "current_file": str(self.current_file), "timeout_s": self.timeout_s}
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the token
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh)
        os.replace(tmp, self.state_file)

    def resume_installed(self, argv: list[str]) -> bool:
        """Started as installed (by hand or by the service) while a pushed version is the current one: restart
        into that version through the guard, which falls back to this one if it does not come up."""
        if os.environ.get(GUARDED_ENV):
            return False
        try:
            current = json.loads(self.current_file.read_text())
            target, version = Path(current["dir"]), str(current["version"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if not (target / "app" / "__init__.py").is_file():
            return False
        self.argv = argv
        self._write_state(target, version)
        self.restart_requested = True
        return True

    def restart_into_update(self) -> None:
        """After the agent stopped serving: hand over to the guard (exit for it when one already watches)."""
        if os.environ.get(GUARDED_ENV):
            sys.stdout.flush()
            os._exit(RESTART_CODE)
        os.execv(sys.executable, [sys.executable, "-m", "app.devices.agent_guard", str(self.state_file)])

    def report_healthy(self) -> None:
        """Tell the guard (when one started us) that this version serves and its machine is connected."""
        path = os.environ.get(HEALTH_ENV)
        if not path:
            return
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"pid": os.getpid(), "version": self.version}))


def _unpack(data: bytes, target: Path) -> None:
    import io

    if target.exists():
        shutil.rmtree(target)
    tmp = target.with_name(target.name + ".unpacking")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for m in tar.getmembers():
                if not (m.isfile() or m.isdir()) or not m.name.startswith("app/") or ".." in m.name.split("/"):
                    raise AuthError(f"the package holds {m.name!r}, which is not a file of the app: refused")
            tar.extractall(tmp, filter="data")
        if not (tmp / "app" / "__init__.py").is_file():
            raise DeviceError("the package holds no app package")
        tmp.rename(target)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DeviceError(f"cannot unpack the update: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
