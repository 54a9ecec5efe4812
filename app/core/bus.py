"""An in-process typed event bus: async subscribers, each with its own bounded queue.

Publishing never blocks the publisher. When a subscriber's queue is full its overflow policy decides:
``DROP_OLDEST`` (live views: the newest reading matters), ``DROP_NEWEST`` (keep what is queued), or
``BLOCK`` is not offered on purpose: a slow subscriber must never stall the machines. Every drop is counted
so the kernel's metrics show it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], Awaitable[None] | None]


class Overflow(StrEnum):
    DROP_OLDEST = "drop_oldest"
    DROP_NEWEST = "drop_newest"


@dataclass(eq=False)
class Subscription:
    name: str
    types: tuple[type, ...]
    handler: Handler
    maxsize: int
    overflow: Overflow
    queue: deque = field(default_factory=deque)
    dropped: int = 0
    delivered: int = 0
    failures: int = 0
    _wakeup: asyncio.Event | None = None
    _task: asyncio.Task | None = None

    def wants(self, event: object) -> bool:
        return isinstance(event, self.types)


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._closed = False

    def subscribe(
        self,
        types: type | tuple[type, ...],
        handler: Handler,
        *,
        name: str | None = None,
        maxsize: int = 10_000,
        overflow: Overflow = Overflow.DROP_OLDEST,
    ) -> Subscription:
        if maxsize < 1:
            raise ValueError("a subscriber queue holds at least one event")
        types_t = types if isinstance(types, tuple) else (types,)
        sub = Subscription(name or getattr(handler, "__qualname__", "subscriber"), types_t, handler, maxsize, overflow)
        self._subs.append(sub)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._start(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        if sub._task is not None:
            sub._task.cancel()

    def start(self) -> None:
        """Start delivery for subscribers made before the loop ran."""
        for sub in self._subs:
            if sub._task is None:
                self._start(sub)

    def wanted(self, event: object) -> bool:
        """Whether any subscriber takes ``event`` (a request nobody would act on can be refused at once)."""
        return any(sub.wants(event) for sub in self._subs)

    def publish(self, event: object) -> None:
        if self._closed:
            return
        for sub in self._subs:
            if not sub.wants(event):
                continue
            if len(sub.queue) >= sub.maxsize:
                sub.dropped += 1
                if sub.overflow is Overflow.DROP_NEWEST:
                    continue
                sub.queue.popleft()
            sub.queue.append(event)
            if sub._wakeup is not None:
                sub._wakeup.set()

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every started subscriber has handled what is queued (used on shutdown and in tests)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while any(s.queue and s._task is not None for s in self._subs):
            if asyncio.get_running_loop().time() > deadline:
                log.warning("event bus drain timed out with events still queued")
                return
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        await self.drain()
        self._closed = True
        for sub in list(self._subs):
            if sub._task is not None:
                sub._task.cancel()
        for sub in list(self._subs):
            if sub._task is not None:
                try:
                    await sub._task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - tasks end either way
                    pass

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            s.name: {"queued": len(s.queue), "dropped": s.dropped, "delivered": s.delivered, "failures": s.failures}
            for s in self._subs
        }

    def _start(self, sub: Subscription) -> None:
        sub._wakeup = asyncio.Event()
        if sub.queue:
            sub._wakeup.set()
        sub._task = asyncio.get_running_loop().create_task(self._pump(sub), name=f"bus:{sub.name}")

    async def _pump(self, sub: Subscription) -> None:
        assert sub._wakeup is not None
        while True:
            await sub._wakeup.wait()
            sub._wakeup.clear()
            while sub.queue:
                event = sub.queue[0]
                try:
                    result = sub.handler(event)
                    if asyncio.iscoroutine(result):
                        await result
                    sub.delivered += 1
                except asyncio.CancelledError:
                    raise
                except Exception:  # a broken subscriber must not stop the others
                    sub.failures += 1
                    log.exception("subscriber %s failed on %s", sub.name, type(event).__name__)
                finally:
                    if sub.queue and sub.queue[0] is event:
                        sub.queue.popleft()
