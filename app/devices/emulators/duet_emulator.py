"""A Duet board running RepRapFirmware 3.5 in standalone mode, on 127.0.0.1 (run as its own process).

Follows Duet3D's public "HTTP requests" page (RepRapFirmware wiki) and ``Developer-documentation/OpenAPI.yaml``
for ``rr_connect`` / ``rr_disconnect`` / ``rr_model`` / ``rr_upload`` / ``rr_gcode``, the RepRapFirmware object
model documentation for the ``state``, ``job``, ``heat``, ``tools``, ``boards`` and ``move`` keys, and the G-code
dictionary for M32/M24/M25/M0/M112/M999. With a password set, every request except ``rr_connect`` needs the
session key ``rr_connect`` handed out (``X-Session-Key``) and gets 401 without it; sessions expire after 8 s
without a request, as on the board.

    python -m app.devices.emulators.duet_emulator --port 0 --password secret --storage DIR
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import zlib

from aiohttp import web

from app.devices.emulators.http_printers import printer_args, serve_printers
from app.devices.emulators.print_sim import PrintSim

SESSION_TIMEOUT_S = 8.0
_STATUS = {"idle": "idle", "printing": "processing", "paused": "paused", "finished": "idle",
           "cancelled": "idle", "failed": "idle", "halted": "halted"}
_M32 = re.compile(r'^\s*M32\s+"?([^"]+)"?\s*$', re.IGNORECASE)


class DuetEmulator:
    def __init__(self, sim: PrintSim, password: str, garbage: bool = False) -> None:
        self.sim = sim
        self.password = password
        self.garbage = garbage
        self.sessions: dict[str, float] = {}

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=1024 ** 3)
        app.router.add_get("/rr_connect", self.connect)
        app.router.add_get("/rr_disconnect", self.disconnect)
        app.router.add_get("/rr_model", self.model)
        app.router.add_post("/rr_upload", self.upload)
        app.router.add_get("/rr_gcode", self.gcode)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        if self.garbage:
            return web.Response(body=b"\xff\xfe{{{ not json", content_type="application/json")
        now = time.monotonic()
        self.sessions = {k: t for k, t in self.sessions.items() if now - t < SESSION_TIMEOUT_S}
        if request.path != "/rr_connect" and self.password:
            key = request.headers.get("X-Session-Key", "")
            if key not in self.sessions:
                return web.json_response({"err": 1}, status=401)
            self.sessions[key] = now
        self.sim.tick()
        return await handler(request)

    async def connect(self, request: web.Request) -> web.Response:
        if self.password and request.query.get("password", "reprap") != self.password:
            return web.json_response({"err": 1})
        if len(self.sessions) >= 8:
            return web.json_response({"err": 2})
        body: dict = {"err": 0, "sessionTimeout": int(SESSION_TIMEOUT_S * 1000), "boardType": "duet3mb6hc102",
                      "apiLevel": 1}
        if request.query.get("sessionKey") == "yes":
            key = str(secrets.randbelow(2 ** 31 - 1) + 1)
            self.sessions[key] = time.monotonic()
            body["sessionKey"] = int(key)
        return web.json_response(body)

    async def disconnect(self, request: web.Request) -> web.Response:
        self.sessions.pop(request.headers.get("X-Session-Key", ""), None)
        return web.json_response({"err": 0})

    def _model(self) -> dict:
        s = self.sim.s
        nozzle, nozzle_t, bed, bed_t = self.sim.temps()
        active = s.state in ("printing", "paused")
        job: dict = {"filePosition": int(self.sim.fraction() * s.size_b) if active else None,
                     "layer": self.sim.layer() if active else None,
                     "timesLeft": {"file": int(self.sim.time_left_s()) if active else None,
                                   "filament": None, "slicer": int(self.sim.time_left_s()) if active else None},
                     "lastFileName": s.file if s.state in ("finished", "cancelled", "failed") else None,
                     "lastFileCancelled": s.state == "cancelled", "lastFileAborted": s.state == "failed",
                     "file": {"fileName": f"0:/gcodes/{s.file}", "size": s.size_b, "numLayers": s.layers}
                     if active else {"fileName": None}}
        heaters = [{"current": bed, "active": bed_t, "state": "active" if bed_t else "off"},
                   {"current": nozzle, "active": nozzle_t, "state": "active" if nozzle_t else "off"}]
        return {"state": {"status": _STATUS[s.state], "upTime": int(time.monotonic())}, "job": job,
                "heat": {"bedHeaters": [0, -1, -1], "chamberHeaters": [-1], "heaters": heaters},
                "tools": [{"number": 0, "heaters": [1], "extruders": [0]}],
                "boards": [{"name": "Duet 3 MB6HC", "shortName": "MB6HC", "firmwareName": "RepRapFirmware",
                            "firmwareVersion": "3.5.1"}],
                "network": {"name": "emulated-duet", "hostname": "emulated-duet"},
                "move": {"axes": [{"letter": "X", "min": 0, "max": 300}, {"letter": "Y", "min": 0, "max": 300},
                                  {"letter": "Z", "min": 0, "max": 280}]}}

    async def model(self, request: web.Request) -> web.Response:
        key = request.query.get("key", "")
        result: object = self._model()
        for part in [p for p in key.split(".") if p]:
            result = result.get(part) if isinstance(result, dict) else None
        return web.json_response({"key": key, "flags": request.query.get("flags", ""), "result": result})

    async def upload(self, request: web.Request) -> web.Response:
        name = request.query.get("name", "")
        if not name.startswith("0:/gcodes/"):
            return web.json_response({"err": 1})
        data = await request.read()
        crc = request.query.get("crc32")
        if crc is not None and f"{zlib.crc32(data) & 0xFFFFFFFF:08x}" != crc.lower().zfill(8):
            return web.json_response({"err": 1})
        self.sim.store(name.rsplit("/", 1)[-1], data)
        return web.json_response({"err": 0})

    async def gcode(self, request: web.Request) -> web.Response:
        code = request.query.get("gcode", "").strip()
        word = code.split()[0].upper() if code else ""
        if self.sim.s.state == "halted" and word not in ("M999", "M112"):
            return web.json_response({"buff": 255})  # a halted board ignores everything but a reset
        m = _M32.match(code)
        if m:
            self.sim.start(m.group(1).rsplit("/", 1)[-1])
        elif word == "M25":
            self.sim.pause()
        elif word == "M24":
            self.sim.resume()
        elif word == "M0" and self.sim.s.state == "paused":
            self.sim.cancel()
        elif word == "M112":
            self.sim.halt()
        elif word == "M999":
            self.sim.reset()
        return web.json_response({"buff": 255})


def main(argv: list[str] | None = None) -> None:
    parser = printer_args(__doc__.splitlines()[0])
    parser.add_argument("--password", default="")
    args = parser.parse_args(argv)
    asyncio.run(serve_printers(args, lambda sim: DuetEmulator(sim, args.password, args.garbage).app()))


if __name__ == "__main__":
    main()
