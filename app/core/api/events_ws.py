"""Live events over a websocket (``GET /events``): the job, node and alert events of the site's bus, the same ones
the window gets, as one JSON object per message. A slow client loses the oldest events (the bus subscription is
bounded), never the site's memory."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import WSMsgType, web

from app.core.api.jsonable import to_jsonable
from app.core.auth.permissions import Action
from app.core.auth.principal import Actor
from app.core.bus import EventBus, Overflow
from app.core.domain.errors import PermissionDenied
from app.core.events import (
    AlertAcknowledged,
    AlertRaised,
    JobSubmitted,
    JobUpdated,
    NodeRegistered,
    NodeUpdated,
    StateChanged,
)

log = logging.getLogger(__name__)
EVENTS_PATH = "/events"
_TYPES = (StateChanged, JobSubmitted, JobUpdated, NodeRegistered, NodeUpdated, AlertRaised, AlertAcknowledged)


def event_json(event: object) -> dict[str, Any]:
    return {"type": type(event).__name__, "event": to_jsonable(event)}


async def stream_events(request: web.Request, bus: EventBus, actor: object) -> web.WebSocketResponse:
    if isinstance(actor, Actor) and not actor.may(Action.READ):
        raise PermissionDenied(f"{actor.name} may not read events")
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
    await ws.prepare(request)

    async def forward(event: object) -> None:
        if not ws.closed:
            await ws.send_json(event_json(event))

    sub = bus.subscribe(_TYPES, forward, name=f"api-events-{id(ws)}", maxsize=1000, overflow=Overflow.DROP_OLDEST)
    try:
        async for msg in ws:  # the client only listens; anything it sends is ignored, a close ends the stream
            if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break
    finally:
        bus.unsubscribe(sub)
    return ws
