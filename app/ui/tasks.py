"""Running core coroutines from Qt slots without blocking the one loop (qasync: Qt's loop is asyncio's).

Slots are plain functions; they hand coroutines to ``spawn``, which keeps a reference (so the task is not
garbage-collected mid-flight) and routes the result or the operator-facing error to callbacks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from app.core.domain.errors import ImeweError

log = logging.getLogger(__name__)

_tasks: set[asyncio.Task] = set()


def spawn(coro: Coroutine[Any, Any, Any], on_done: Callable[[Any], None] | None = None,
          on_error: Callable[[Exception], None] | None = None) -> asyncio.Task | None:
    """Schedule ``coro`` on the running loop; ``on_error`` gets ImeweErrors (and unexpected ones, logged)."""
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        coro.close()
        log.warning("no event loop: a core call was dropped")
        return None
    task = loop.create_task(coro)
    _tasks.add(task)

    def finished(t: asyncio.Task) -> None:
        _tasks.discard(t)
        if t.cancelled():
            return
        exc = t.exception()
        if exc is None:
            if on_done is not None:
                on_done(t.result())
            return
        if not isinstance(exc, ImeweError):
            log.error("a core call failed", exc_info=exc)
        if on_error is not None and isinstance(exc, Exception):
            on_error(exc)

    task.add_done_callback(finished)
    return task


def pending() -> int:
    return len(_tasks)
