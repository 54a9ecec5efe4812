"""A driver that talks to a node agent over websocket: the control room's side of ``imewe node``."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
from typing import Any
from uuid import UUID

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import ProcessType
from app.core.domain.errors import AuthError, DeviceError, ImeweError
from app.core.drivers import DriverBase, DriverJobRecord, DriverState, JobRequest
from app.devices import agent_protocol as proto
from app.devices.agent_journal import RunRecord
from app.devices.agent_tls import client_context, peer_key
from app.devices.network.backoff import Backoff

log = logging.getLogger(__name__)
COMMAND_TIMEOUT_S = 30.0


def tls_url(url: str) -> str:
    """Agents speak only TLS: an address given as ws:// is reached as wss://."""
    return "wss://" + url.removeprefix("ws://") if url.startswith("ws://") else url


def check_key(found: str, expected: str | None, url: str) -> None:
    if not expected:
        raise UntrustedAgent(found, f"the node agent at {url} (key {found}) is not accepted yet; "
                                    "nothing was sent to it (accept it with: imewe nodes accept NAME)")
    if found != expected:
        raise AuthError(f"the node agent at {url} shows key {found}, not the accepted {expected}; "
                        "the pairing token was not sent (someone else may be answering at that address)")


class UntrustedAgent(AuthError):
    """The agent's key is not accepted by a person yet (``fingerprint`` is what it showed)."""

    def __init__(self, fingerprint: str, message: str) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint


async def read_agent_key(url: str, timeout_s: float = 5.0) -> tuple[str, bytes]:
    """Open TLS to the agent, read the key its handshake proved, and close: nothing is sent to the agent."""
    from urllib.parse import urlsplit

    parts = urlsplit(tls_url(url))
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 443, ssl=client_context(),
                                    server_hostname=parts.hostname), timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DeviceError(f"cannot reach the node agent at {url}: {exc}") from exc
    try:
        return peer_key(writer.get_extra_info("ssl_object"))
    finally:
        writer.close()
        with contextlib.suppress(OSError, ConnectionError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 2.0)


class AgentDriver(DriverBase):
    """``keepalive_s``: a ping every so often, and the link counts as lost when a ping goes unanswered that long
    (a hung agent is OFFLINE after about twice this). A link that drops by itself is reopened with capped,
    jittered backoff until ``disconnect`` (discovery disconnects when the agent stops advertising)."""

    protocol = "agent"

    def __init__(self, url: str, token: str, *, name: str = "", expected_fingerprint: str | None = None,
                 connect_timeout_s: float = 10.0, keepalive_s: float = 20.0, backoff: Backoff | None = None,
                 site_key: str = "") -> None:
        """``site_key``: this site's public key (PEM), told to the agent once paired: it checks updates with it."""
        super().__init__(name or url, Capabilities(process=ProcessType.FDM))
        self.url = tls_url(url)
        self._token = token
        self.expected_fingerprint = expected_fingerprint
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self.node_id: str | None = None
        self.software_version = ""
        self.last_update: dict[str, Any] | None = None  # the agent's last software update: version, outcome
        self.site_key = site_key
        self.remote_driver = ""
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._retry: asyncio.Task | None = None
        self._backoff = backoff or Backoff(first_s=0.5, cap_s=30.0)
        self._wanted = False  # connected on purpose: a lost link is reopened
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reconnects = 0

    async def connect(self) -> None:
        self._set_state(DriverState.CONNECTING, f"connecting to {self.url}")
        await self._open()
        self._wanted = True

    async def _open(self) -> None:
        nonce = os.urandom(16)
        try:
            ws = await asyncio.wait_for(connect(self.url, ssl=client_context(), max_size=proto.MAX_MESSAGE_BYTES,
                                                open_timeout=None, ping_interval=self.keepalive_s,
                                                ping_timeout=self.keepalive_s,
                                                close_timeout=min(self.keepalive_s, 5.0)),
                                        self.connect_timeout_s)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self._set_state(DriverState.OFFLINE, "agent unreachable")
            raise DeviceError(f"cannot reach the node agent at {self.url}: {exc}") from exc
        try:
            # The agent proved in the TLS handshake that it holds its certificate's key: the token is sent only
            # when that key is the one accepted for this machine.
            check_key(peer_key(ws.transport.get_extra_info("ssl_object"))[0], self.expected_fingerprint, self.url)
        except AuthError:
            await ws.close()
            self._set_state(DriverState.OFFLINE, "node agent key refused")
            raise
        try:
            await ws.send(proto.encode("hello", token=self._token, nonce=nonce.hex(), client="imewe",
                                       site_key=self.site_key))
            msg = proto.decode(await asyncio.wait_for(ws.recv(), self.connect_timeout_s))
            if msg["type"] != "welcome":
                raise AuthError(f"the node agent at {self.url} refused us: {msg.get('message', msg['type'])}; "
                                "check the pairing token")
            proto.verify_welcome(msg, nonce, self.expected_fingerprint)
        except (ConnectionClosed, TimeoutError) as exc:
            await ws.close()
            self._set_state(DriverState.OFFLINE, "agent closed the link")
            raise AuthError(f"the node agent at {self.url} closed the link during pairing; "
                            "check the pairing token") from exc
        except ImeweError:
            await ws.close()
            self._set_state(DriverState.OFFLINE, "pairing failed")
            raise
        self._ws = ws
        self.node_id = str(msg.get("node_id") or "")
        self.name = str(msg.get("name") or self.name)
        self.software_version = str(msg.get("software_version") or "")
        last = msg.get("last_update")
        self.last_update = dict(last) if isinstance(last, dict) else None
        self.remote_driver = str(msg.get("driver") or "")
        self._caps = Capabilities.from_dict(dict(msg.get("capabilities") or {}))
        self._backoff.reset()
        # What ran while apart is told before the state, so the control room books it before it sees the
        # machine back (and never takes a machine that is still busy for one that lost its job).
        self._report_runs(msg.get("jobs"))
        self._reader = asyncio.get_running_loop().create_task(self._read_loop(ws), name=f"agent:{self.url}")
        self._set_state(DriverState(str(msg.get("state") or "idle")), "connected to node agent")

    def _report_runs(self, runs: Any) -> None:
        if not isinstance(runs, list):
            return
        for raw in reversed(runs[:20]):  # oldest first, so the current run is told last
            try:
                rec = RunRecord.from_dict(dict(raw))
                job_id = UUID(rec.job_id) if rec.job_id else None
                part_id = UUID(rec.part_id) if rec.part_id else None
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("%s: ignored a malformed run record from the agent: %s", self.name, exc)
                continue
            fraction = rec.fraction if math.isfinite(rec.fraction) else 0.0
            rec.fraction = min(max(fraction, 0.0), 1.0)
            if rec.state == "running":
                self._job_id, self._fraction = job_id, rec.fraction
                self._acked, self._total = rec.lines_acked, rec.lines_total
            self._emit(DriverJobRecord(job_id, rec.run_id, rec.state, rec.fraction, part_id, rec.copy, rec.message))

    async def disconnect(self) -> None:
        self._wanted = False
        retry, self._retry = self._retry, None
        if retry is not None:
            retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retry
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        self._set_state(DriverState.DISCONNECTED, "disconnected")

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                try:
                    msg = proto.decode(raw)
                    if msg["type"] == "event":
                        self._emit(proto.event_from_wire(msg))
                    elif msg["type"] == "result":
                        fut = self._pending.pop(int(msg.get("id") or 0), None)
                        if fut is not None and not fut.done():
                            fut.set_result(msg)
                except ImeweError as exc:
                    log.warning("%s: ignored a message from the agent: %s", self.name, exc)
        except ConnectionClosed:
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(DeviceError(f"{self.name}: the node agent link closed"))
            self._pending.clear()
            if self._ws is ws:  # not our own disconnect: the agent or the network went away
                self._ws = None
                self._set_state(DriverState.OFFLINE, "node agent link lost")
                if self._wanted and self._retry is None:
                    self._retry = asyncio.get_running_loop().create_task(self._reconnect(),
                                                                         name=f"agent-retry:{self.url}")

    async def _reconnect(self) -> None:
        try:
            while self._wanted and self._ws is None:
                delay = self._backoff.next_delay_s()
                await asyncio.sleep(delay)
                try:
                    await self._open()
                except ImeweError as exc:
                    log.info("%s: node agent still out of reach (attempt %d): %s", self.name,
                             self._backoff.attempts, exc)
                    continue
                self.reconnects += 1
                log.info("%s: link to the node agent is back", self.name)
        finally:
            if self._retry is asyncio.current_task():
                self._retry = None

    async def _call(self, op: str, **args: Any) -> dict[str, Any]:
        ws = self._ws
        if ws is None:
            raise DeviceError(f"{self.name} is not connected to its node agent")
        req_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            await ws.send(proto.encode("cmd", id=req_id, op=op, args=args))
            reply = await asyncio.wait_for(fut, COMMAND_TIMEOUT_S)
        except ConnectionClosed as exc:
            raise DeviceError(f"{self.name}: node agent link closed") from exc
        except TimeoutError as exc:
            raise DeviceError(f"{self.name}: node agent did not answer {op} in {COMMAND_TIMEOUT_S:.0f} s") from exc
        finally:
            self._pending.pop(req_id, None)
        if not reply.get("ok"):
            raise DeviceError(f"{self.name}: {reply.get('message') or op + ' refused'}")
        return reply

    async def execute(self, job: JobRequest) -> None:
        lines = job.gcode_lines
        if job.gcode_path is not None and lines is None:
            text = await asyncio.get_running_loop().run_in_executor(None, job.gcode_path.read_text, "utf-8")
            lines = text.splitlines()
        self._job_id = job.job_id
        await self._call("execute", job_id=str(job.job_id) if job.job_id else None, gcode_lines=lines,
                         estimate_s=job.estimate_s, material_g=job.material_g, spec=job.spec,
                         start_line=job.start_line, run_id=job.spec.get("run_id"))

    async def push_update(self, package: Any) -> str:
        """Send a signed ``AgentPackage``; the agent answers once it verified and unpacked it, then restarts."""
        import base64

        reply = await self._call("update", package=package.meta(), data=base64.b64encode(package.data).decode())
        return str(reply.get("message") or "")

    async def pause(self) -> None:
        await self._call("pause")

    async def resume(self) -> None:
        await self._call("resume")

    async def cancel(self) -> None:
        await self._call("cancel")

    async def emergency_stop(self) -> None:
        await self._call("estop")

    async def calibrate(self, what: str = "home") -> None:
        await self._call("calibrate", what=what)
