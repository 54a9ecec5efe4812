"""PrusaLink printers (MK4, MK3.9, MINI, XL, CORE One) over their HTTP API v1 with Digest authentication.

The printer is polled once a second (PrusaLink has no push channel); a job is sent with a single upload that
also starts it (``Print-After-Upload``). The protocol itself is in ``prusalink_protocol``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, ClassVar

import httpx

from app.core.domain.errors import DeviceError
from app.devices.network import prusalink_protocol as proto
from app.devices.network.driver import MachineInfo, NetworkDriver
from app.devices.network.http_request import HttpRequest, send

log = logging.getLogger(__name__)
DEFAULT_USER = "maker"  # what the printer's screen shows unless the owner changed it


class PrusaLinkDriver(NetworkDriver):
    kind: ClassVar[str] = "prusalink"
    label: ClassVar[str] = "PrusaLink"
    credential_name: ClassVar[str] = "user and password"
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    job_suffixes: ClassVar[tuple[str, ...]] = (".gcode", ".bgcode")
    poll_s: float = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: httpx.AsyncClient | None = None
        self._job_names: dict[str, str] = {}  # the machine's job number → its file name
        self._remote_job_id: str | None = None

    def _auth(self) -> httpx.DigestAuth:
        return httpx.DigestAuth(self._secrets.get("user") or DEFAULT_USER, self._secrets.get("password", ""))

    def _open(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = self._http(auth=self._auth())
        return self._client

    async def _call(self, req: HttpRequest, what: str, content: bytes | None = None) -> httpx.Response:
        resp = self._check(await send(self._open(), req, content), what)
        if resp.status_code not in req.expect:
            raise DeviceError(f"{self.where}: {what} answered HTTP {resp.status_code}")
        return resp

    # ------------------------------------------------------------------ the link
    async def _session(self) -> None:
        self.info = await self.probe()
        await self._poll()
        self._connected()
        while True:
            await asyncio.sleep(self.poll_s)
            await self._poll()

    async def _poll(self) -> None:
        body = (await self._call(proto.request_status(), "reading the status")).content
        job_id = proto.status_job_id(body)
        self._remote_job_id = job_id
        if job_id is not None and job_id not in self._job_names:
            # The status names no file: ask once per job which file it is (to recognise our jobs).
            resp = await self._call(proto.request_job(), "reading the job")
            if resp.status_code == 200:
                got_id, name = proto.update_job(resp.content)
                self._job_names[got_id] = name
        self._report(proto.update_status(body, self._job_names.get(job_id) if job_id else None))

    async def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def probe(self) -> MachineInfo:
        version = proto.update_version((await self._call(proto.request_version(), "reading the version")).content)
        info = proto.update_info((await self._call(proto.request_info(), "reading the printer info")).content)
        caps = {"nozzle_mm": info["nozzle_mm"]} if "nozzle_mm" in info else {}
        return MachineInfo(name=info.get("name") or info.get("hostname") or version.get("hostname", ""),
                           model=version.get("hostname", "") or "Prusa printer",
                           firmware=" ".join(f for f in (version.get("firmware", ""),
                                                         f"PrusaLink {version.get('server', '')}".strip()) if f),
                           capabilities=caps)

    # ------------------------------------------------------------------ commands
    async def _upload_and_start(self, path: Path, remote: str) -> None:
        data = await asyncio.get_running_loop().run_in_executor(None, path.read_bytes)
        try:
            await self._call(proto.request_upload(remote), f"sending {path.name}", data)
        except DeviceError as exc:
            if "HTTP 409" in str(exc):
                raise DeviceError(f"{self.where}: the printer is busy and did not take {path.name}") from exc
            raise

    async def _job_number(self) -> str:
        if self._remote_job_id is None:
            resp = await self._call(proto.request_job(), "reading the job")
            if resp.status_code != 200:
                raise DeviceError(f"{self.where}: the printer has no job to act on")
            self._remote_job_id = proto.update_job(resp.content)[0]
        return self._remote_job_id

    async def _request_pause(self) -> None:
        await self._call(proto.request_pause(await self._job_number()), "pausing")

    async def _request_resume(self) -> None:
        await self._call(proto.request_resume(await self._job_number()), "resuming")

    async def _request_cancel(self) -> None:
        await self._call(proto.request_stop(await self._job_number()), "stopping the job")

    async def _request_estop(self) -> str:
        # PrusaLink's API has no emergency stop and no G-code endpoint: stopping the job is the strongest
        # command it offers. Say so, so nobody takes it for a hardware stop.
        if self.tracker.job is not None or self._remote_job_id is not None:
            await self._request_cancel()
            return ("PrusaLink has no emergency stop: the job was stopped and the printer runs its own stop "
                    "routine; use the printer's reset button for a hard stop")
        return "PrusaLink has no emergency stop and no job was running; use the printer's reset button"

    async def _send_gcode(self, lines: list[str]) -> None:
        raise DeviceError(f"{self.where}: PrusaLink's API takes no G-code; calibrate from the printer's menu")
