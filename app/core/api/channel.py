"""The control channel file, ``run/owner.json`` in the home: where the owner listens and the token it expects.

The owner writes it (mode 0600, atomically) once its server listens and removes it when it stops cleanly. A file
left by an owner that was killed is stale: its process is gone, or nothing answers on its port. Clients find
that out and carry on as if no owner ran; the next owner simply writes a new one.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


def channel_path(home: Path) -> Path:
    return home / "run" / "owner.json"


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    pid: int
    host: str
    port: int
    token: str
    command: str = ""
    started_at: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def write_channel(home: Path, info: ChannelInfo) -> Path:
    path = channel_path(home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".owner.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(info), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def remove_channel(home: Path, pid: int) -> None:
    """Remove the file if it is still this process's (a newer owner's file is left alone)."""
    path = channel_path(home)
    info = read_channel(home)
    if info is not None and info.pid == pid:
        path.unlink(missing_ok=True)


def read_channel(home: Path) -> ChannelInfo | None:
    try:
        data = json.loads(channel_path(home).read_text(encoding="utf-8"))
        return ChannelInfo(int(data["pid"]), str(data["host"]), int(data["port"]), str(data["token"]),
                           str(data.get("command") or ""), str(data.get("started_at") or ""))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring an unreadable control channel file %s: %s", channel_path(home), exc)
        return None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    except OSError:
        return False
    return True


def live_channel(home: Path) -> ChannelInfo | None:
    """The owner's channel, or None when there is no file or it is stale (its process is gone)."""
    info = read_channel(home)
    if info is None:
        return None
    if info.host == socket.gethostname() and not process_alive(info.pid):
        log.info("stale control channel file (process %d is gone)", info.pid)
        return None
    return info
