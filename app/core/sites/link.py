"""One live link to another site, and the two ways a link starts: dialing out, and being dialed.

A dial is two TLS connections: the hello (learn and pin the other site's certificate, hand over ours and hear
whether it allows us) and then the link itself with mutual TLS on the pinned certificates. After every
handshake the certificate's hash is compared with the site ID we expect: a site that answers with another
certificate, even one that is valid for another ID, is refused.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography import x509
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import WebSocketException

from app.core.sites import tls
from app.core.sites.errors import MessageRejected, PeerRefused
from app.core.sites.identity import SiteIdentity
from app.core.sites.protocol import TRANSPORT_MAX_BYTES, Session, TokenBucket, encode
from app.core.sites.site_id import short_id, site_id_for_cert

log = logging.getLogger(__name__)
HELLO_MAX = 16_384
CLOSE_REFUSED = 4403
CLOSE_DUPLICATE = 4409
WS_OPTIONS: dict[str, Any] = {"max_size": TRANSPORT_MAX_BYTES, "ping_interval": None, "compression": None,
                              "open_timeout": 10, "close_timeout": 2}


class TlsAccept:
    """The listening side's TLS, done per connection by us rather than inside the event loop, so that a refused
    handshake (a certificate not on the allow list, a port scanner, plain HTTP) is logged with the peer's address;
    asyncio reports those only in debug mode. Logged once a minute per address at most: a scanner cannot flood
    the log."""

    QUIET_S = 60.0

    def __init__(self, context: ssl.SSLContext, handshake_timeout_s: float = 10.0) -> None:
        self.context = context
        self.timeout_s = handshake_timeout_s
        self.refused = 0
        self._logged: dict[str, float] = {}
        self._pending: set[asyncio.Task] = set()  # handshakes under way, cancelled when the site stops

    def connection_class(self) -> Callable[..., ServerConnection]:
        gate = self

        class Accepted(ServerConnection):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                task = asyncio.get_running_loop().create_task(gate._wrap(self, transport))
                gate._pending.add(task)
                task.add_done_callback(gate._pending.discard)

        return Accepted

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)

    async def _wrap(self, conn: ServerConnection, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if peer else "?"
        try:
            wrapped = await asyncio.get_running_loop().start_tls(
                transport, conn, self.context, server_side=True, ssl_handshake_timeout=self.timeout_s)
        except (ssl.SSLError, OSError, TimeoutError, ConnectionError) as exc:
            transport.abort()
            self._refused(host, peer, exc)
            return
        except asyncio.CancelledError:
            transport.abort()
            raise
        if wrapped is None:
            return
        ServerConnection.connection_made(conn, wrapped)

    def _refused(self, host: str, peer: Any, exc: BaseException) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self._logged.get(host, -1e9) < self.QUIET_S:
            return
        if len(self._logged) > 10_000:
            self._logged.clear()
        self._logged[host] = now
        reason = getattr(exc, "reason", None) or type(exc).__name__
        log.warning("refused a TLS handshake on the site port from %s: %s", _addr(peer), reason)


def _addr(peer: Any) -> str:
    if not peer:
        return "an unknown address"
    host, port = str(peer[0]), peer[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def listen(handler: Callable[[ServerConnection], Awaitable[None]], host: str, port: int,
                 accept: TlsAccept) -> Server:
    """The site port: websockets over our own per-connection TLS (see ``TlsAccept``)."""
    return await serve(handler, host, port, create_connection=accept.connection_class(), **WS_OPTIONS)


class Link:
    """A mutual-TLS websocket to one site: numbered sending, checked receiving, latency."""

    def __init__(self, ws: ClientConnection | ServerConnection, peer_id: str, dialer: str,
                 rate: float, burst: float) -> None:
        self.ws = ws
        self.peer_id = peer_id
        self.dialer = dialer  # the site id that dialed; decides which of two duplicate links stays
        self.session = Session(TokenBucket(rate, burst))
        self.latency_ms: float | None = None
        self.last_seen = time.monotonic()
        self.opened_at = time.monotonic()
        self.errors_sent = 0
        self.pongs = 0
        self.tasks: list[asyncio.Task] = []  # its sender and heartbeat
        self.first_sent: dict[str, float] = {}  # outbox key -> when this link first sent it
        self.pong_waiter: asyncio.Future[float] | None = None  # for whoever measures round trips
        self._seq = 0
        self._error_bucket = TokenBucket(20.0, 40.0)

    @property
    def open(self) -> bool:
        return self.ws.state.name == "OPEN"

    async def send(self, type_: str, body: dict[str, Any], key: str | None = None) -> None:
        # No lock needed for sequence order: websockets writes a text frame to the transport before its first
        # await (it only waits afterwards, to drain), so numbering and writing happen in one step of the loop.
        self._seq += 1
        await self.ws.send(encode(type_, self._seq, body, key))

    async def reject(self, exc: MessageRejected) -> None:
        """Tell the other side what was wrong with its message (rate-limited, so a flood cannot echo back)."""
        if not self._error_bucket.allow():
            return
        self.errors_sent += 1
        await self.send("error", {"code": exc.code, "message": str(exc)[:500], "ref": exc.ref})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason[:120])


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _uri(address: str, path: str) -> str:
    host, port = split_address(address)
    host = f"[{host}]" if ":" in host else host
    return f"wss://{host}:{port}{path}"


def _check_peer(ws: ClientConnection, expected_id: str) -> bytes:
    der = tls.peer_cert(ws.transport.get_extra_info("ssl_object"))
    if der is None:
        raise PeerRefused("the other side presented no certificate")
    got = site_id_for_cert(der)
    if got != expected_id:
        raise PeerRefused(f"the address answered as site {short_id(got)}, not {short_id(expected_id)}")
    return der


async def say_hello(identity: SiteIdentity, name: str, address: str, expected_id: str) -> tuple[bytes, dict]:
    """Learn the other site's certificate (pinned by its ID) and give it ours. Returns (its cert, its reply)."""
    ctx = tls.client_context(identity, None)
    async with connect(_uri(address, "/hello"), ssl=ctx, server_hostname=tls.HELLO_NAME, **WS_OPTIONS) as ws:
        der = _check_peer(ws, expected_id)
        await ws.send(json.dumps({"cert": base64.b64encode(identity.cert_der).decode(), "name": name[:200]}))
        try:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        except (ValueError, TypeError) as exc:
            raise PeerRefused("the other site's hello reply is not JSON") from exc
    if not isinstance(reply, dict):
        raise PeerRefused("the other site's hello reply is not an object")
    return der, reply


async def dial_link(identity: SiteIdentity, address: str, pinned: bytes, expected_id: str) -> ClientConnection:
    ctx = tls.client_context(identity, pinned)
    ws = await connect(_uri(address, "/link"), ssl=ctx, server_hostname=tls.LINK_NAME, **WS_OPTIONS)
    try:
        _check_peer(ws, expected_id)
    except PeerRefused:
        await ws.close(CLOSE_REFUSED, "wrong site")
        raise
    return ws


def parse_hello(data: str | bytes) -> tuple[str, bytes, str]:
    """A hello from a dialer → (its site id, its certificate, its name). Raises PeerRefused."""
    if not isinstance(data, str) or len(data) > HELLO_MAX:
        raise PeerRefused("hello must be a short JSON text")
    try:
        msg = json.loads(data)
        der = base64.b64decode(msg["cert"], validate=True)
        x509.load_der_x509_certificate(der)
        name = str(msg.get("name", ""))[:200]
    except (ValueError, KeyError, TypeError) as exc:
        raise PeerRefused(f"hello is malformed: {str(exc)[:80]}") from exc
    return site_id_for_cert(der), der, name


class Gate:
    """The server side: answers hellos and admits links, asking the allow list through callbacks."""

    def __init__(self, *, admit: Callable[[str, bytes | None, str, str], Awaitable[tuple[bool, str]]],
                 run: Callable[[ServerConnection, str], Awaitable[None]]) -> None:
        self._admit = admit  # (site id, cert or None, name, peer host) -> (allowed, reason); records refusals
        self._run = run

    async def handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        try:
            if path == "/hello":
                await self._hello(ws)
            elif path == "/link":
                await self._link(ws)
            else:
                await ws.close(CLOSE_REFUSED, "unknown path")
        except (TimeoutError, WebSocketException, OSError) as exc:
            log.debug("site connection ended: %s", exc)

    async def _hello(self, ws: ServerConnection) -> None:
        try:
            site_id, der, name = parse_hello(await asyncio.wait_for(ws.recv(), 10))
        except PeerRefused as exc:
            await ws.close(CLOSE_REFUSED, str(exc))
            return
        ok, reason = await self._admit(site_id, der, name, _host(ws))
        await ws.send(json.dumps({"ok": ok, "reason": reason}))
        await ws.close()

    async def _link(self, ws: ServerConnection) -> None:
        der = tls.peer_cert(ws.transport.get_extra_info("ssl_object"))
        if der is None:
            await ws.close(CLOSE_REFUSED, "a link needs a client certificate")
            return
        site_id = site_id_for_cert(der)
        ok, reason = await self._admit(site_id, None, "", _host(ws))
        if not ok:
            await ws.close(CLOSE_REFUSED, reason)
            return
        await self._run(ws, site_id)


def _host(ws: ServerConnection) -> str:
    peer = ws.remote_address
    return str(peer[0]) if peer else ""
