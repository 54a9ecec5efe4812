"""Single instance: a file opened while Imewe's window runs goes to that window (issue 17).

``imewe open FILE`` (what a double-click on a part runs) finds the site's owner through its control channel; when
the owner shows a window, the CLI asks it to open the file and exits, instead of refusing because the site is
taken. The operation only publishes ``OpenInWindow`` on the owner's bus: the window's bridge turns it into a Qt
signal, and the window opens the file in Design review. An owner with no window (``imewe serve``, ``demo --text``)
has no subscriber for it and refuses in one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.domain.errors import ValidationError

if TYPE_CHECKING:
    from app.core.api.operations import Params, SiteOps

MAX_PATH_CHARS = 4096  # PATH_MAX: a longer "path" is not one


@dataclass(frozen=True, slots=True)
class OpenInWindow:
    """Open ``path`` in the running window's Design review (None: only bring the window to the front)."""

    path: str | None


async def open_in_window(site: SiteOps, p: Params) -> dict[str, Any]:
    path = p.get("path")
    if path is not None and (not isinstance(path, str) or not path or len(path) > MAX_PATH_CHARS
                             or "\0" in path or not os.path.isabs(path)):
        raise ValidationError("path must be an absolute file path", "path")
    event = OpenInWindow(path)
    bus = site.kernel.bus
    if not bus.wanted(event):
        raise ValidationError("this site's owner shows no window to open a file in", "path")
    bus.publish(event)
    return {"path": path, "pid": os.getpid()}
