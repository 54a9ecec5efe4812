"""The owner's control channel server: aiohttp on 127.0.0.1, an ephemeral port, on the site's own event loop.

Each request carries the bearer token from ``run/owner.json`` (mode 0600, so only the site's user can read it).
Bodies are JSON objects; answers are JSON, errors ``{"error": "...", "kind": "..."}`` with a status that says
what went wrong (400 bad input, 401 no or wrong token, 404 not found, 409 refused by the rules, 413 too large).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from app.core.api.channel import ChannelInfo, remove_channel, write_channel
from app.core.api.events_ws import EVENTS_PATH, stream_events
from app.core.api.listen import ApiListen
from app.core.api.openapi import OPENAPI_PATH, all_ops, body_limit, confine_part_files, openapi_document
from app.core.api.operations import Op, SiteOps, run_op
from app.core.api.operations_read import LOGIN
from app.core.auth.principal import LOCAL_OPERATOR, LOCAL_READER, ActorLike
from app.core.auth.service import UserService
from app.core.domain.errors import AuthError, ImeweError, NotFoundError, PermissionDenied, ValidationError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 24_000_000  # a batch of jobs may be large; the job service bounds its content
MAX_JSON_DEPTH = 64
SESSION_HEADER = "X-Imewe-Session"
ACTOR = web.RequestKey("actor", object)  # who asks, set by the guard for every request
LOCAL = web.RequestKey("local", bool)  # the caller holds the channel token (a process of the site's OS user)


class TooLarge(ImeweError):
    """A body over the operation's limit (413)."""


def error_status(exc: ImeweError) -> int:
    if isinstance(exc, ValidationError):
        return 400
    if isinstance(exc, AuthError):
        return 401
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, PermissionDenied):
        return 403
    return 409


def _error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response({"error": message, "kind": kind}, status=status)


def _depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth, without recursion (a hostile body must not exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


class ControlServer:
    """A kernel service: listens once the site is owned, writes the channel file, removes it on stop."""

    name = "control"

    def __init__(self, home: Path, site: SiteOps, command: str, users: UserService | None = None,
                 api: dict[str, Any] | None = None) -> None:
        self._home = home
        self._site = replace(site, users=users) if users is not None else site
        self._users = users
        self._listen = ApiListen.from_config(api or {})
        self._command = command
        self._token = secrets.token_urlsafe(32)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.api_port: int | None = None  # the TLS listener's port, when one is configured
        self.requests = 0

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._guard])
        app.router.add_get("/owner", self._who)
        app.router.add_get(OPENAPI_PATH, self._openapi)
        app.router.add_get(EVENTS_PATH, self._events)
        for op in all_ops():
            app.router.add_route(op.method, op.path, self._handler(op))
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        # The channel for this site's own processes: always plain HTTP on the loopback address.
        site = web.TCPSite(self._runner, "127.0.0.1", 0 if self._listen.separate else self._listen.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        if self._listen.separate:
            api = web.TCPSite(self._runner, self._listen.host, self._listen.port,
                              ssl_context=self._listen.ssl_context())
            await api.start()
            self.api_port = self._runner.addresses[-1][1]
            log.info("local API over TLS on %s:%d", self._listen.host, self.api_port)
        info = ChannelInfo(os.getpid(), socket.gethostname(), self.port, self._token, self._command,
                           datetime.now(UTC).isoformat())
        path = write_channel(self._home, info)
        log.info("control channel on 127.0.0.1:%d (%s)", self.port, path)

    async def stop(self) -> None:
        remove_channel(self._home, os.getpid())
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def health(self) -> str:
        return "ok" if self.port else "not listening"

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        try:
            open_route = request.path in (OPENAPI_PATH, LOGIN.path)
            request[ACTOR] = "anonymous" if open_route else await self._principal(request)
            return await handler(request)
        except TooLarge as exc:
            return _error(413, str(exc), "too_large")
        except web.HTTPException as exc:
            if exc.status == 413:
                return _error(413, f"request larger than {MAX_BODY_BYTES // 1_000_000} MB", "too_large")
            return _error(exc.status, exc.reason, "http")
        except ImeweError as exc:
            return _error(error_status(exc), str(exc), type(exc).__name__)
        except UnicodeError:
            return _error(400, "the request's headers are not text", "ValidationError")
        except Exception as exc:  # the owner keeps serving; the log has the details
            log.exception("control request %s %s failed", request.method, request.path)
            return _error(500, f"internal error in the site process: {type(exc).__name__}", "internal")

    async def _principal(self, request: web.Request) -> ActorLike:
        """Who asks. The channel token (readable only by the site's own OS user) with a person's session in
        ``X-Imewe-Session``, or, before the site has people, alone (the bootstrap rule: the one local operator).
        Other programs send a person's session token or an API key as the bearer."""
        given = request.headers.get("Authorization", "")
        bearer = given[7:].strip() if given[:7].lower() == "bearer " else ""
        if not bearer:
            raise AuthError("send a bearer token: a session token (imewe login) or an API key")
        loopback = request.remote in ("127.0.0.1", "::1") and request.transport is not None \
            and request.transport.get_extra_info("sslcontext") is None
        request[LOCAL] = loopback and hmac.compare_digest(bearer.encode(), self._token.encode())
        if request[LOCAL]:
            session = request.headers.get(SESSION_HEADER, "").strip()
            if self._users is None:
                return LOCAL_OPERATOR
            if session:
                return await self._users.resolve(session)
            return LOCAL_OPERATOR if not await self._users.people_exist() else LOCAL_READER
        if self._users is None:
            raise AuthError("the control channel needs the token from run/owner.json")
        return await self._users.resolve(bearer)

    async def _openapi(self, _: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    async def _events(self, request: web.Request) -> web.StreamResponse:
        return await stream_events(request, self._site.kernel.bus, request[ACTOR])

    async def _who(self, _: web.Request) -> web.Response:
        return web.json_response({"pid": os.getpid(), "command": self._command, "requests": self.requests})

    def _handler(self, op: Op) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            self.requests += 1
            params: dict[str, Any] = {}
            limit = body_limit(op)
            if request.content_length is not None and request.content_length > limit:
                raise TooLarge(f"{op.name} takes at most {limit // 1000} kB")
            if request.can_read_body:
                raw = await request.read()
                if len(raw) > limit:
                    raise TooLarge(f"{op.name} takes at most {limit // 1000} kB")
                try:
                    params = json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                    raise ValidationError(f"the request body is not JSON: {str(exc)[:80]}") from exc
                if not isinstance(params, dict):
                    raise ValidationError("the request body must be a JSON object")
                if _depth(params) > MAX_JSON_DEPTH:
                    raise ValidationError(f"the request nests deeper than {MAX_JSON_DEPTH} levels")
            else:
                params.update({k: v for k, v in request.query.items() if k not in params})
            params.update(request.match_info)
            if op.name in ("jobs.submit", "jobs.batch") and not request.get(LOCAL, False):
                confine_part_files(params, self._home / "parts")
            log.info("control: %s by %s (%s)", op.name, request[ACTOR], request.remote)
            actor = request[ACTOR]
            if op.own_user and request.get(LOCAL, False):
                # the site's own OS user (it holds the channel token), whoever it is signed in as in the CLI: a
                # double-click on a part file hands it to the window that user runs
                actor = LOCAL_READER if actor is not LOCAL_OPERATOR else actor
            return web.json_response(await run_op(op, self._site, params, actor))

        return handle
