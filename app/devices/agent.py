"""The node agent: drives one machine through a driver and serves it over websocket with TLS (see ``agent_tls``)
to paired control rooms."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from pathlib import Path
from typing import Any
from uuid import UUID

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from app.core.domain.errors import ImeweError
from app.core.drivers import DriverEvent, DriverJobFinished, DriverJobProgress, FabricationDevice
from app.devices import agent_protocol as proto
from app.devices.agent_advertise import Advertiser
from app.devices.agent_commands import execute_request
from app.devices.agent_journal import RunJournal
from app.devices.agent_tls import server_context

log = logging.getLogger(__name__)
HELLO_TIMEOUT_S = 5.0
CLIENT_QUEUE = 2000


class NodeAgent:
    def __init__(self, driver: FabricationDevice, *, token: str, identity: proto.AgentIdentity,
                 host: str = "127.0.0.1", port: int = 0, advertise: bool = True,
                 interfaces: list[str] | None = None, software_version: str = "", files_dir: Path | None = None,
                 journal: RunJournal | None = None, updater: Any = None,
                 service_type: str = proto.SERVICE_TYPE) -> None:
        """``files_dir``: the only folder whose files a control room may ask the agent to read itself;
        ``journal``: where the record of what ran is kept (in memory only when not given); ``updater``: takes
        software updates (an ``AgentUpdater``; none: the agent refuses them); ``service_type``: what it is
        advertised as (tests: a type of their run's own)."""
        if len(token) < 8:
            raise ImeweError("the pairing token must be at least 8 characters")
        self.driver = driver
        self.identity = identity
        self.host = host
        self.port = port
        self._token = token
        self._advertise = advertise
        self._interfaces = interfaces
        self._service_type = service_type
        self.software_version = software_version
        self.files_dir = files_dir
        self.journal = journal or RunJournal()
        self.updater = updater
        self._server: Server | None = None
        self._clients: dict[ServerConnection, asyncio.Queue[str]] = {}
        self._advertiser: Advertiser | None = None
        self.rejected = 0  # hellos with a wrong token
        self.hellos = 0  # hellos received at all (a control room that refused our key sends none)

    @property
    def node_id(self) -> UUID:
        return self.identity.node_id

    async def start(self) -> None:
        self.driver.add_listener(self._on_driver_event)
        # Small frames until a client has shown the token: a stranger cannot make the agent hold big messages.
        self._server = await serve(self._handle, self.host, self.port, max_size=proto.PRE_AUTH_MAX_BYTES,
                                   ssl=server_context(self.identity))
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        log.info("node agent %s serving wss on %s:%d", self.driver.name, self.host, self.port)
        if self._advertise:
            self._advertiser = Advertiser(self._interfaces, self._service_type)
            await self._advertiser.register(self.driver.name, self.host, self.port, self.txt())

    def txt(self) -> dict[str, str]:
        return {"id": str(self.node_id), "name": self.driver.name,
                "process": self.driver.capabilities.process.value, "proto": str(proto.PROTOCOL_VERSION),
                "fp": self.identity.fingerprint, "ver": self.software_version}

    async def stop(self) -> None:
        if self._advertiser is not None:
            await self._advertiser.close()
            self._advertiser = None
        self.driver.remove_listener(self._on_driver_event)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # ------------------------------------------------------------------ connections
    async def _handle(self, ws: ServerConnection) -> None:
        try:
            msg = proto.decode(await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT_S))
        except (TimeoutError, ConnectionClosed, ImeweError) as exc:
            await ws.close(proto.AUTH_CLOSE_CODE, f"hello expected: {exc}"[:120])
            return
        self.hellos += msg["type"] == "hello"
        token = str(msg.get("token", ""))
        if msg["type"] != "hello" or not hmac.compare_digest(token.encode(), self._token.encode()):
            self.rejected += 1
            await ws.send(proto.encode("error", message="pairing token refused"))
            await ws.close(proto.AUTH_CLOSE_CODE, "pairing token refused")
            return
        try:
            nonce = bytes.fromhex(str(msg.get("nonce", "")))
        except ValueError:
            nonce = b""
        ws.protocol.max_message_size = proto.MAX_MESSAGE_BYTES  # paired: a whole G-code program may follow
        if self.updater is not None:
            self.updater.pin_site_key(msg.get("site_key"))
        await ws.send(proto.encode("welcome", **self._welcome(nonce)))
        queue: asyncio.Queue[str] = asyncio.Queue(CLIENT_QUEUE)
        self._clients[ws] = queue
        sender = asyncio.get_running_loop().create_task(self._sender(ws, queue))
        try:
            async for raw in ws:
                await self._on_message(ws, raw)
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(ws, None)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    def _welcome(self, nonce: bytes) -> dict[str, Any]:
        st = self.driver.status()
        return {"node_id": str(self.node_id), "name": self.driver.name,
                "capabilities": self.driver.capabilities.to_dict(), "state": st.state.value,
                "driver": getattr(self.driver, "protocol", ""), "software_version": self.software_version,
                "public_key": self.identity.public_raw.hex(), "signature": self.identity.sign(nonce).hex(),
                "jobs": self.journal.recent(),
                "last_update": self.updater.last_update() if self.updater is not None else None}

    async def _sender(self, ws: ServerConnection, queue: asyncio.Queue[str]) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send(await queue.get())

    def _on_driver_event(self, event: DriverEvent) -> None:
        if isinstance(event, DriverJobProgress):
            self.journal.progress(event.fraction, event.lines_acked, event.lines_total)
        elif isinstance(event, DriverJobFinished):
            self.journal.finished(None if event.job_id is None else str(event.job_id), event.outcome.value,
                                  event.message)
        text = proto.encode("event", **proto.event_to_wire(event))
        for queue in self._clients.values():
            if queue.full():  # a stalled control room loses old readings, never the machine's time
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(text)

    async def _on_message(self, ws: ServerConnection, raw: str | bytes) -> None:
        try:
            msg = proto.decode(raw)
        except ImeweError as exc:
            await ws.send(proto.encode("result", id=None, ok=False, message=str(exc)))
            return
        if msg["type"] != "cmd":
            return
        req_id = msg.get("id")
        try:
            said = await self._command(str(msg.get("op", "")), dict(msg.get("args") or {}))
            reply = {"ok": True, "message": said or ""}
        except ImeweError as exc:
            reply = {"ok": False, "message": str(exc)}
        except (TypeError, ValueError, OverflowError, KeyError) as exc:
            reply = {"ok": False, "message": f"bad arguments: {exc}"}
        st = self.driver.status()
        reply["status"] = {"state": st.state.value, "fraction": st.fraction, "lines_acked": st.lines_acked,
                           "lines_total": st.lines_total, "message": st.message}
        self._clients.get(ws, asyncio.Queue()).put_nowait(proto.encode("result", id=req_id, **reply))

    async def _command(self, op: str, args: dict[str, Any]) -> str | None:
        d = self.driver
        if op == "update":
            if self.updater is None:
                raise ImeweError("this node agent takes no software updates (it was not started by imewe node)")
            if d.status().state.value in ("working", "paused"):
                raise ImeweError(f"{d.name} is running a job: update it when it is idle")
            return await self.updater.install(args)
        if op == "execute":
            request, run_id = execute_request(args, self.files_dir)
            copy = request.spec.get("copy")
            # Recorded before the machine starts: a job that ends at once still finds its record.
            self.journal.started(run_id, None if request.job_id is None else str(request.job_id),
                                 _text(request.spec.get("part_id")), copy if isinstance(copy, int) else None)
            try:
                await d.execute(request)
            except BaseException:
                self.journal.refused(run_id)
                raise
        elif op == "pause":
            await d.pause()
        elif op == "resume":
            await d.resume()
        elif op == "cancel":
            await d.cancel()
        elif op == "estop":
            await d.emergency_stop()
        elif op == "calibrate":
            await d.calibrate(str(args.get("what") or "home"))
        elif op != "status":
            raise ImeweError(f"unknown command {op!r}")


def _text(v: Any) -> str | None:
    return None if v in (None, "") else str(v)[:64]
