"""OctoPrint driver: REST with ``X-Api-Key``, push over ``/sockjs/websocket`` (passive login, then ``auth``).

Upload is ``POST /api/files/local`` with ``select`` and ``print`` (one request: sent, selected, started); job
commands go to ``/api/job``; the emergency stop is ``M112`` through ``/api/printer/command``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, ClassVar

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from app.core.domain.errors import DeviceError
from app.devices.network.driver import MachineInfo, NetworkDriver
from app.devices.network.errors import BadReply, Unreachable
from app.devices.network.octoprint_protocol import (
    ESTOP_AFTER,
    OctoPrintState,
    capabilities_from_profile,
    current_profile,
    decode_push,
)

log = logging.getLogger(__name__)
QUIET_POLL_S = 20.0  # no push for this long: ask over REST, which also proves the server is alive


class OctoPrintDriver(NetworkDriver):
    kind: ClassVar[str] = "octoprint"
    label: ClassVar[str] = "OctoPrint"
    credential_name: ClassVar[str] = "API key"
    job_suffixes: ClassVar[tuple[str, ...]] = (".gcode", ".gco", ".g")  # no binary G-code: it streams text
    secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client = None
        self._ws: ClientConnection | None = None
        self.octo = OctoPrintState()

    def _headers(self) -> dict[str, str]:
        return {"X-Api-Key": self._secrets.get("api_key", "")}

    def _api(self):
        if self._client is None:
            self._client = self._http(self._headers())
        return self._client

    async def _close(self) -> None:
        ws, self._ws = self._ws, None
        client, self._client = self._client, None
        await self._close_clients(ws, client)

    # ------------------------------------------------------------------ the session
    async def _session(self) -> None:
        api = self._api()
        version = self._json(await api.get("/api/version"), "the version request")  # a wrong key stops here
        self.info = MachineInfo(self.info.name, self.info.model, str(version.get("text") or ""),
                                self.info.capabilities)
        login = self._json(await api.post("/api/login", json={"passive": True}), "the passive login")
        user, session = str(login.get("name") or ""), str(login.get("session") or "")
        if not user or not session:
            raise BadReply(f"{self.where}: the passive login gave no user session")
        self.octo = OctoPrintState()
        await self._poll_rest()
        self._report(self.octo.report())
        ws_url = self.address.replace("http", "ws", 1) + "/sockjs/websocket"
        try:
            self._ws = await asyncio.wait_for(ws_connect(ws_url, open_timeout=None, max_size=2**22),
                                              self.connect_timeout_s)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise Unreachable(f"{self.where}: the push socket did not open ({exc})") from exc
        await self._ws.send(json.dumps({"auth": f"{user}:{session}"}))
        self._connected()
        await self._follow(self._ws)

    async def _follow(self, ws: ClientConnection) -> None:
        while True:
            try:
                async with asyncio.timeout(QUIET_POLL_S):
                    raw = await ws.recv()
            except TimeoutError:
                await self._poll_rest()  # raises if the server is gone
                self._report(self.octo.report())
                continue
            except ConnectionClosed:
                return
            msg = decode_push(raw)
            if "reauthRequired" in msg:
                raise Unreachable(f"{self.where}: OctoPrint asked to log in again")
            if self.octo.apply_push(msg):
                self._report(self.octo.report())

    async def _poll_rest(self) -> None:
        api = self._api()
        self.octo.apply_connection(self._json(await api.get("/api/connection"), "the connection state"))
        printer = await api.get("/api/printer")
        if printer.status_code == 409:  # "printer is not operational": OctoPrint has no serial link to it
            self.octo.port_open = False
        else:
            self.octo.apply_printer(self._json(printer, "the printer state"))
        self.octo.apply_job(self._json(await api.get("/api/job"), "the job state"))

    # ------------------------------------------------------------------ commands
    async def _upload_and_start(self, path: Path, remote: str) -> None:
        data = await asyncio.get_running_loop().run_in_executor(None, path.read_bytes)
        resp = await self._api().post("/api/files/local", files={"file": (remote, data, "application/octet-stream")},
                                      data={"select": "true", "print": "true"},
                                      timeout=max(self.request_timeout_s, len(data) / 1_000_000))
        reply = self._json(resp, f"the upload of {path.name}")
        if not reply.get("done", True):
            raise DeviceError(f"{self.where}: OctoPrint did not accept {path.name}")

    async def _job_command(self, body: dict[str, Any], what: str) -> None:
        resp = await self._api().post("/api/job", json=body)
        if resp.status_code == 409:
            raise DeviceError(f"{self.where}: OctoPrint refused to {what}: {_error_text(resp)}")
        self._check(resp, what)

    async def _request_pause(self) -> None:
        await self._job_command({"command": "pause", "action": "pause"}, "pause")

    async def _request_resume(self) -> None:
        await self._job_command({"command": "pause", "action": "resume"}, "resume")

    async def _request_cancel(self) -> None:
        await self._job_command({"command": "cancel"}, "cancel")

    async def _send_gcode(self, lines: list[str]) -> None:
        resp = await self._api().post("/api/printer/command", json={"commands": lines})
        if resp.status_code == 409:
            raise DeviceError(f"{self.where}: the printer is not operational ({_error_text(resp)})")
        self._check(resp, "the command")

    async def _request_estop(self) -> str:
        await self._send_gcode(["M112"])
        return ESTOP_AFTER

    # ------------------------------------------------------------------ once, when adding the machine
    async def probe(self) -> MachineInfo:
        try:
            async with self._http(self._headers()) as api:
                version = self._json(await api.get("/api/version"), "the version request")
                profiles = self._json(await api.get("/api/printerprofiles"), "the printer profiles")
        except (OSError, httpx.TransportError) as exc:
            raise Unreachable(f"{self.where}: not reachable ({type(exc).__name__}: {exc})") from exc
        profile = current_profile(profiles)
        return MachineInfo(str(profile.get("name") or ""), str(profile.get("model") or ""),
                           str(version.get("text") or ""), capabilities_from_profile(profile))


def _error_text(resp: Any) -> str:
    try:
        data = resp.json()
    except ValueError:
        return resp.text[:80]
    return str(data.get("error") if isinstance(data, dict) else data)[:200]
