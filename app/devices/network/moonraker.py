"""Klipper through Moonraker: JSON-RPC 2.0 over ``/websocket`` with a subscription to the printer objects, upload
over HTTP (``/server/files/upload`` with ``print=true``), ``printer.print.*`` and ``printer.emergency_stop``.

Authentication: with an API key, HTTP requests carry ``X-Api-Key`` and the websocket is opened with a one-shot
token from ``/access/oneshot_token`` (as Moonraker documents for clients that cannot set headers); without a key,
Moonraker must trust the control room's address (``[authorization] trusted_clients``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any, ClassVar

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from app.core.domain.errors import DeviceError
from app.devices.network.driver import MachineInfo, NetworkDriver
from app.devices.network.errors import BadReply, CredentialsRefused, Unreachable
from app.devices.network.moonraker_protocol import (
    ESTOP_AFTER,
    SUBSCRIBE,
    JsonRpc,
    MoonrakerState,
    RpcReply,
    capabilities_from_config,
    decode,
)

log = logging.getLogger(__name__)
QUIET_S = 30.0  # Klipper reports at least every few seconds while temperatures are read; silence this long = gone
KLIPPY_WAIT_S = 2.0


class MoonrakerDriver(NetworkDriver):
    kind: ClassVar[str] = "moonraker"
    label: ClassVar[str] = "Klipper (Moonraker)"
    credential_name: ClassVar[str] = "API key"
    job_suffixes: ClassVar[tuple[str, ...]] = (".gcode", ".gco", ".g")  # no binary G-code: it streams text
    secret_fields: ClassVar[tuple[str, ...]] = ()  # the key is optional: Moonraker may trust the address

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: httpx.AsyncClient | None = None
        self._ws: ClientConnection | None = None
        self._rpc = JsonRpc()
        self._pending: dict[int, asyncio.Future[RpcReply]] = {}
        self.moon = MoonrakerState()

    def _headers(self) -> dict[str, str]:
        key = self._secrets.get("api_key", "")
        return {"X-Api-Key": key} if key else {}

    def _api(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = self._http(self._headers())
        return self._client

    async def _close(self) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(DeviceError(f"{self.where}: the link closed"))
        self._pending.clear()
        ws, self._ws = self._ws, None
        client, self._client = self._client, None
        await self._close_clients(ws, client)

    def _result(self, resp: httpx.Response, what: str) -> Any:
        data = self._json(resp, what)
        if "result" not in data:
            raise BadReply(f"{self.where}: {what} answered without a result")
        return data["result"]

    # ------------------------------------------------------------------ the session
    async def _session(self) -> None:
        api = self._api()
        info = self._result(await api.get("/server/info"), "the server info")  # a wrong key stops here
        if not isinstance(info, dict):
            raise BadReply(f"{self.where}: the server info is not an object")
        url = self.address.replace("http", "ws", 1) + "/websocket"
        if self._headers():
            token = self._result(await api.get("/access/oneshot_token"), "the one-shot token")
            url += f"?token={token}"
        try:
            self._ws = await asyncio.wait_for(ws_connect(url, open_timeout=None, max_size=2**23),
                                              self.connect_timeout_s)
        except InvalidStatus as exc:
            if exc.response.status_code in (401, 403):
                raise CredentialsRefused(f"{self.where}: the {self.credential_name} was refused") from exc
            raise Unreachable(f"{self.where}: the websocket was refused ({exc})") from exc
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise Unreachable(f"{self.where}: the websocket did not open ({exc})") from exc
        ws = self._ws
        self.moon = MoonrakerState(klippy=str(info.get("klippy_state") or "ready"))
        reader = asyncio.get_running_loop().create_task(self._read(ws), name=f"moonraker-read:{self.address}")
        try:
            await self._subscribe()
            if not self._link_up:
                self._connected()
            await reader
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _subscribe(self) -> None:
        """Subscribe to the printer objects; while Klipper itself is not ready, say so and try again."""
        while True:
            try:
                result = await self._call("printer.objects.subscribe", {"objects": SUBSCRIBE})
            except DeviceError as exc:
                if self._ws is None:
                    raise
                self.moon.klippy = "startup" if self.moon.klippy == "ready" else self.moon.klippy
                self.moon.klippy_message = f"Klipper is not ready ({exc})"
                self._report(self.moon.report())
                if not self._link_up:
                    self._connected()  # Moonraker answers; the printer behind it is what is missing
                await asyncio.sleep(KLIPPY_WAIT_S)
                continue
            status = result.get("status") if isinstance(result, dict) else None
            self.moon.klippy = "ready"
            self.moon.apply_status(status or {})
            self._report(self.moon.report())
            return

    async def _read(self, ws: ClientConnection) -> None:
        while True:
            try:
                async with asyncio.timeout(QUIET_S):
                    raw = await ws.recv()
            except TimeoutError as exc:
                raise Unreachable(f"{self.where}: no report in {QUIET_S:.0f} s") from exc
            except ConnectionClosed:
                return
            msg = decode(raw)
            if isinstance(msg, RpcReply):
                fut = self._pending.pop(msg.id, None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
                continue
            was_ready = self.moon.klippy == "ready"
            if self.moon.apply_notice(msg):
                self._report(self.moon.report())
                if msg.method == "notify_klippy_ready" and not was_ready:
                    asyncio.get_running_loop().create_task(self._subscribe())

    async def _call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        ws = self._ws
        if ws is None:
            raise DeviceError(f"{self.where}: not connected")
        req_id, text = self._rpc.request(method, params)
        fut: asyncio.Future[RpcReply] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            await ws.send(text)
            async with asyncio.timeout(self.request_timeout_s):
                reply = await fut
        except ConnectionClosed as exc:
            raise DeviceError(f"{self.where}: the link closed during {method}") from exc
        except TimeoutError as exc:
            raise DeviceError(f"{self.where}: no answer to {method} in {self.request_timeout_s:.0f} s") from exc
        finally:
            self._pending.pop(req_id, None)
        if reply.error is not None:
            raise DeviceError(f"{self.where}: {method} refused: {reply.error}")
        return reply.result

    # ------------------------------------------------------------------ commands
    async def _upload_and_start(self, path: Path, remote: str) -> None:
        data = await asyncio.get_running_loop().run_in_executor(None, path.read_bytes)
        resp = await self._api().post("/server/files/upload",
                                      files={"file": (remote, data, "application/octet-stream")},
                                      data={"root": "gcodes", "print": "true"},
                                      timeout=max(self.request_timeout_s, len(data) / 1_000_000))
        result = self._result(resp, f"the upload of {path.name}")
        if isinstance(result, dict) and result.get("print_started") is False:
            raise DeviceError(f"{self.where}: {path.name} was stored but Klipper did not start it")

    async def _request_pause(self) -> None:
        await self._call("printer.print.pause")

    async def _request_resume(self) -> None:
        await self._call("printer.print.resume")

    async def _request_cancel(self) -> None:
        await self._call("printer.print.cancel")

    async def _send_gcode(self, lines: list[str]) -> None:
        await self._call("printer.gcode.script", {"script": "\n".join(lines)})

    async def _request_estop(self) -> str:
        await self._call("printer.emergency_stop")
        return ESTOP_AFTER

    # ------------------------------------------------------------------ once, when adding the machine
    async def probe(self) -> MachineInfo:
        try:
            async with self._http(self._headers()) as api:
                info = self._result(await api.get("/printer/info"), "the printer info")
                query = self._result(await api.get("/printer/objects/query", params={"configfile": "settings"}),
                                     "the configuration")
        except (OSError, httpx.TransportError) as exc:
            raise Unreachable(f"{self.where}: not reachable ({type(exc).__name__}: {exc})") from exc
        info = info if isinstance(info, dict) else {}
        settings = ((query or {}).get("status", {}).get("configfile", {}).get("settings", {})
                    if isinstance(query, dict) else {})
        return MachineInfo(str(info.get("hostname") or ""), "Klipper",
                           f"Klipper {info.get('software_version') or ''}".strip(),
                           capabilities_from_config(settings if isinstance(settings, dict) else {}))
