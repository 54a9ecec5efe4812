"""A request a codec wants sent, described without sending it (the transports do the I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.devices.network.errors import BadReply


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str  # path and query, already quoted
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    expect: tuple[int, ...] = (200,)  # status codes that mean "done as asked"


def json_object(body: bytes | str, what: str) -> dict[str, Any]:
    """Parse a reply that must be a JSON object, or say clearly that it was not."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadReply(f"{what}: the reply is not JSON ({_preview(body)})") from exc
    if not isinstance(data, dict):
        raise BadReply(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def _preview(body: bytes | str) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return repr(text[:60] + ("…" if len(text) > 60 else ""))


async def send(client: httpx.AsyncClient, req: HttpRequest, content: bytes | None = None) -> httpx.Response:
    """Send a described request on an open client (the codec said what, this does it)."""
    return await client.request(req.method, req.path, params=req.params or None, headers=req.headers or None,
                                content=content)
