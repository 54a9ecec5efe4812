"""The client side of the control channel: send one operation to the site's owner and get its JSON answer back,
or the owner's error as our own exception type (so the CLI prints the same one line either way)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from app.core.api.channel import ChannelInfo
from app.core.api.operations import Op, Params
from app.core.domain.errors import AuthError, ImeweError, NotFoundError, PermissionDenied, ValidationError


class OwnerUnreachable(ImeweError):
    """Nothing answers where the channel file says the owner listens (it stopped, or was killed)."""


_ERRORS: dict[int, type[ImeweError]] = {400: ValidationError, 401: AuthError, 403: PermissionDenied,
                                        404: NotFoundError}


class OwnerClient:
    def __init__(self, info: ChannelInfo, timeout_s: float = 120.0, session: str | None = None) -> None:
        self.info = info
        self.session = session  # the person's session token, when the CLI has one
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=5.0)

    async def call(self, op: Op, params: Params) -> Any:
        headers = {"Authorization": f"Bearer {self.info.token}"}
        if self.session:
            headers["X-Imewe-Session"] = self.session
        body = op.body(params) if op.method != "GET" else None
        url = self.info.url + op.url_path(params)
        try:
            async with aiohttp.ClientSession(timeout=self._timeout) as session, session.request(
                    op.method, url, json=body, headers=headers) as resp:
                text = await resp.text()
                status = resp.status
        except aiohttp.ClientConnectionError as exc:
            raise OwnerUnreachable(f"the site process {self.info.pid} does not answer on its control channel "
                                   f"(127.0.0.1:{self.info.port}): {exc.__class__.__name__}") from exc
        except TimeoutError as exc:
            raise ImeweError(f"the site process {self.info.pid} did not answer {op.name} in time") from exc
        try:
            data = json.loads(text) if text else None
        except json.JSONDecodeError as exc:
            raise ImeweError(f"the site process answered {op.name} with something that is not JSON "
                             f"(HTTP {status})") from exc
        if status >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise _ERRORS.get(status, ImeweError)(str(message or f"the site process refused {op.name} "
                                                                  f"(HTTP {status})"))
        return data
