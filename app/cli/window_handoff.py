"""The CLI's side of single instance: ``imewe open [FILE]`` while a window runs on the site hands the file to it.

Only an owner that shows a window takes it (the ``window.open`` operation); with none, or an owner that does not
answer, the caller carries on as before (and, the site being taken, refuses in one line naming the owner).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from app.core.api.channel import ChannelInfo, live_channel
from app.core.domain.errors import ImeweError

log = logging.getLogger(__name__)

WINDOW_COMMANDS = ("open", "demo")  # owners that may show a window ('serve' never does)
HANDOFF_TIMEOUT_S = 10.0


def hand_to_window(home: Path, file: Path | None) -> ChannelInfo | None:
    """Ask the window that runs this site to open ``file`` (None: to come to the front). The owner's channel
    when it took the request, else None."""
    info = live_channel(home)
    if info is None or info.command not in WINDOW_COMMANDS:
        return None
    from app.core.api.client import OwnerClient
    from app.core.api.operations import OPS

    params = {"path": str(file.resolve()) if file is not None else None}
    try:
        asyncio.run(OwnerClient(info, timeout_s=HANDOFF_TIMEOUT_S).call(OPS["window.open"], params))
    except ImeweError as exc:  # no window there (demo --text), or it does not answer: open our own or refuse
        log.info("the site's owner (process %d) did not take the file: %s", info.pid, exc)
        return None
    return info
