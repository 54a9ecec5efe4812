"""Duet boards running RepRapFirmware 3.x in standalone mode, over the ``rr_*`` HTTP requests.

A session starts with ``rr_connect`` (the machine password, if one is set; RRF 3.5 hands back a session key sent
as ``X-Session-Key`` from then on); the object model is polled once a second. The protocol itself is in
``duet_protocol``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx

from app.core.domain.errors import DeviceError
from app.devices.network import duet_protocol as proto
from app.devices.network.driver import MachineInfo, NetworkDriver
from app.devices.network.errors import BadReply
from app.devices.network.http_request import HttpRequest, send

log = logging.getLogger(__name__)
PAUSE_WAIT_S = 20.0  # a pause finishes the moves in the queue before the board says "paused"


class DuetDriver(NetworkDriver):
    kind: ClassVar[str] = "duet"
    label: ClassVar[str] = "Duet"
    credential_name: ClassVar[str] = "machine password"
    secret_fields: ClassVar[tuple[str, ...]] = ()  # a board without a password (RRF's default) needs none
    job_suffixes: ClassVar[tuple[str, ...]] = (".gcode", ".gco", ".g")
    poll_s: float = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: httpx.AsyncClient | None = None
        self._status = ""
        self._tools: list[Any] = []  # which heater each tool uses, read once per session

    async def _call(self, req: HttpRequest, what: str, content: bytes | None = None) -> httpx.Response:
        if self._client is None:
            raise DeviceError(f"{self.where}: not connected")
        resp = await send(self._client, req, content)
        if resp.status_code == 401:
            # Only rr_connect judges the password; a 401 later means the board dropped our session (it expires
            # after a few seconds without requests, and a reset forgets it): reconnect, do not give up.
            raise DeviceError(f"{self.where}: the board ended our session")
        return self._check(resp, what)

    async def _open(self) -> None:
        await self._close()
        self._client = self._http()
        resp = await send(self._client, proto.request_connect(self._secrets.get("password", "")))
        session = proto.update_connect(self._check(resp, "rr_connect").content, self.address)
        if session["session_key"]:
            self._client.headers["X-Session-Key"] = session["session_key"]

    # ------------------------------------------------------------------ the link
    async def _session(self) -> None:
        await self._open()
        self.info = await self._describe()
        await self._poll()
        self._connected()
        while True:
            await asyncio.sleep(self.poll_s)
            await self._poll()

    async def _model(self, key: str = "") -> Any:
        resp = await self._call(proto.request_model(key), f"reading the object model ({key or 'all'})")
        return proto.model_result(resp.content, key)

    async def _poll(self) -> None:
        model: dict[str, Any] = {"tools": self._tools}
        for key in proto.POLLED_KEYS:
            model[key] = await self._model(key)
        if not isinstance(model["state"], dict):
            raise BadReply(f"{self.where}: the object model's state is not an object")
        self._status = str(model["state"].get("status") or "")
        self._report(proto.update_model(model))

    async def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                if "X-Session-Key" in client.headers:
                    await send(client, proto.request_disconnect())
            except httpx.HTTPError:
                pass  # the board may be gone already
            finally:
                await client.aclose()

    async def _describe(self) -> MachineInfo:
        boards = await self._model("boards")
        move = await self._model("move")
        network = await self._model("network")
        tools = await self._model("tools")
        self._tools = tools if isinstance(tools, list) else []
        board = proto.update_board({"boards": boards if isinstance(boards, list) else []})
        caps: dict[str, Any] = {}
        axes = {a.get("letter"): a for a in (move or {}).get("axes") or () if isinstance(a, dict)}
        if all(k in axes for k in "XYZ"):
            caps["build_volume_mm"] = [float(axes[k].get("max", 0)) - float(axes[k].get("min", 0)) for k in "XYZ"]
        name = str((network or {}).get("name") or "") if isinstance(network, dict) else ""
        return MachineInfo(name=name or board.get("board", ""), model=board.get("board", "Duet"),
                           firmware=board.get("firmware", ""), capabilities=caps)

    async def probe(self) -> MachineInfo:
        await self._open()
        try:
            return await self._describe()
        finally:
            await self._close()

    # ------------------------------------------------------------------ commands
    async def _gcode(self, code: str) -> None:
        await self._call(proto.request_gcode(code), f"sending {code.split()[0]}")

    async def _upload_and_start(self, path: Path, remote: str) -> None:
        data = await asyncio.get_running_loop().run_in_executor(None, path.read_bytes)
        crc = await asyncio.get_running_loop().run_in_executor(None, proto.crc32, data)
        resp = await self._call(proto.request_upload(remote, crc), f"sending {path.name}", data)
        proto.update_err(resp.content, f"{self.where}: sending {path.name}")
        await self._call(proto.request_start(remote), f"starting {path.name}")

    async def _request_pause(self) -> None:
        await self._gcode("M25")

    async def _request_resume(self) -> None:
        await self._gcode("M24")

    async def _request_cancel(self) -> None:
        # RepRapFirmware cancels a print only once it is paused (M0 after M25).
        if self._status != "paused":
            await self._gcode("M25")
            deadline = time.monotonic() + PAUSE_WAIT_S
            while self._status != "paused":
                if time.monotonic() > deadline:
                    raise DeviceError(f"{self.where}: the board did not pause within {PAUSE_WAIT_S:.0f} s, "
                                      "so the print could not be cancelled")
                await asyncio.sleep(0.1)
                state = await self._model("state")
                self._status = str((state or {}).get("status") or "") if isinstance(state, dict) else ""
        await self._gcode("M0")

    async def _request_estop(self) -> str:
        await self._gcode("M112")
        return "the board halted with heaters and motors off; send M999 or reset it before the next job"

    async def _send_gcode(self, lines: list[str]) -> None:
        for line in lines:
            await self._gcode(line)
