"""A light OctoPrint stand-in for benchmarks with many printers (the tests drive a real OctoPrint server; ten of
those, each with its virtual printer, are too heavy for one benchmark machine).

Follows OctoPrint's REST API documentation (docs.octoprint.org: General information / authorization with
``X-Api-Key``, Version information, Login with ``passive``, Connection handling, Printer operations, Job
operations, File operations upload with ``select``/``print``, Printer profiles) and its Push updates page (the
SockJS endpoint's raw websocket transport at ``/sockjs/websocket``: a ``connected`` message, the client's
``auth`` message, then ``current`` messages). ``current`` is pushed once a second. Served by aiohttp.

    python -m app.devices.emulators.octoprint_lite --api-key KEY --storage DIR [--count N] [--stamp]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time

from aiohttp import WSMsgType, web

from app.devices.emulators.http_printers import printer_args, serve_printers
from app.devices.emulators.print_sim import PrintSim

_TEXT = {"idle": "Operational", "printing": "Printing", "paused": "Paused", "finished": "Operational",
         "cancelled": "Operational", "failed": "Operational", "halted": "Offline after error"}


class OctoPrintLite:
    def __init__(self, sim: PrintSim, api_key: str, push_s: float = 1.0) -> None:
        self.sim = sim
        self.api_key = api_key
        self.push_s = push_s
        self.sessions: set[str] = set()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth], client_max_size=1024 ** 3)
        r = app.router
        r.add_get("/api/version", self.version)
        r.add_post("/api/login", self.login)
        r.add_get("/api/connection", self.connection)
        r.add_get("/api/printer", self.printer)
        r.add_get("/api/job", self.job)
        r.add_post("/api/job", self.job_command)
        r.add_post("/api/files/local", self.upload)
        r.add_get("/api/printerprofiles", self.profiles)
        r.add_post("/api/printer/command", self.command)
        r.add_get("/sockjs/websocket", self.push)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        if request.path.startswith("/api/") and request.headers.get("X-Api-Key") != self.api_key:
            return web.json_response({"error": "Forbidden"}, status=403)
        self.sim.tick()
        return await handler(request)

    # ------------------------------------------------------------------ state in OctoPrint's words
    def _flags(self) -> dict[str, bool]:
        st = self.sim.s.state
        return {"operational": st != "halted", "printing": st == "printing", "paused": st == "paused",
                "pausing": False, "cancelling": False, "resuming": False, "finishing": False,
                "closedOrError": st == "halted", "error": False, "ready": st not in ("printing", "paused"),
                "sdReady": False}

    def _temps(self) -> dict[str, dict[str, float]]:
        nozzle, nozzle_t, bed, bed_t = self.sim.temps()
        return {"tool0": {"actual": nozzle, "target": nozzle_t}, "bed": {"actual": bed, "target": bed_t}}

    def _job(self) -> dict:
        s = self.sim.s
        active = s.state != "idle" and bool(s.file)
        return {"job": {"file": {"name": s.file or None, "path": s.file or None, "origin": "local",
                                 "size": s.size_b if active else None}},
                "progress": {"completion": round(self.sim.fraction() * 100, 2) if active else None,
                             "printTime": int(self.sim.elapsed_s()) if active else None,
                             "printTimeLeft": int(self.sim.time_left_s()) if active else None},
                "state": _TEXT[s.state]}

    # ------------------------------------------------------------------ REST
    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"api": "0.1", "server": "1.11.2", "text": "OctoPrint 1.11.2"})

    async def login(self, request: web.Request) -> web.Response:
        session = secrets.token_hex(16)
        self.sessions.add(session)
        return web.json_response({"name": "_api", "session": session, "active": True, "admin": True})

    async def connection(self, request: web.Request) -> web.Response:
        return web.json_response({"current": {"state": _TEXT[self.sim.s.state], "port": "VIRTUAL",
                                              "baudrate": 115200, "printerProfile": "_default"},
                                  "options": {"ports": ["VIRTUAL"], "baudrates": [115200]}})

    async def printer(self, request: web.Request) -> web.Response:
        return web.json_response({"state": {"text": _TEXT[self.sim.s.state], "flags": self._flags()},
                                  "temperature": self._temps()})

    async def job(self, request: web.Request) -> web.Response:
        return web.json_response(self._job())

    async def job_command(self, request: web.Request) -> web.Response:
        body = await request.json()
        cmd, action = body.get("command"), body.get("action", "toggle")
        ok = False
        if cmd == "pause":
            ok = self.sim.resume() if action == "resume" or (action == "toggle" and self.sim.s.state == "paused") \
                else self.sim.pause()
        elif cmd == "cancel":
            ok = self.sim.cancel()
        elif cmd == "start":
            ok = self.sim.start(self.sim.s.file)
        if not ok:
            return web.json_response({"error": "Printer is not operational or not printing"}, status=409)
        return web.Response(status=204)

    async def upload(self, request: web.Request) -> web.Response:
        reader = await request.multipart()
        fields: dict[str, str] = {}
        name = ""
        async for part in reader:
            if part.name == "file":
                name = part.filename or "upload.gcode"
                chunks = bytearray()
                while chunk := await part.read_chunk(1 << 20):
                    chunks += chunk
                self.sim.store(name, bytes(chunks))
            elif part.name:
                fields[part.name] = (await part.text()).strip().lower()
        if not name:
            return web.json_response({"error": "No file included"}, status=400)
        if fields.get("print") == "true" and not self.sim.start(name):
            return web.json_response({"error": "Printer is busy"}, status=409)
        return web.json_response({"done": True, "files": {"local": {"name": name, "path": name,
                                                                    "origin": "local"}}}, status=201)

    async def profiles(self, request: web.Request) -> web.Response:
        return web.json_response({"profiles": {"_default": {
            "id": "_default", "name": "Emulated printer", "model": "Generic RepRap Printer", "current": True,
            "volume": {"width": 220, "depth": 220, "height": 250}, "extruder": {"nozzleDiameter": 0.4}}}})

    async def command(self, request: web.Request) -> web.Response:
        body = await request.json()
        if any(str(c).strip().upper().startswith("M112") for c in body.get("commands") or ()):
            self.sim.halt()
        return web.Response(status=204)

    # ------------------------------------------------------------------ push
    async def push(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"connected": {"version": "1.11.2", "display_version": "1.11.2",
                                                    "branch": "", "plugin_hash": "", "config_hash": "",
                                                    "debug": False, "safe_mode": None}}))
        authed = asyncio.Event()

        async def reader() -> None:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    with contextlib.suppress(ValueError):
                        body = json.loads(msg.data)
                        user, _, session = str(body.get("auth") or "").partition(":")
                        if session in self.sessions:
                            authed.set()

        task = asyncio.create_task(reader())
        try:
            await asyncio.wait_for(authed.wait(), 10)
            while not ws.closed:
                self.sim.tick()
                current = {"state": {"text": _TEXT[self.sim.s.state], "flags": self._flags()}, **self._job(),
                           "currentZ": round(0.2 * self.sim.layer(), 2),
                           "temps": [{"time": int(time.time()), **self._temps()}], "logs": [], "messages": []}
                await ws.send_str(json.dumps({"current": current}))
                await asyncio.sleep(self.push_s)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            task.cancel()
        return ws


def main(argv: list[str] | None = None) -> None:
    parser = printer_args(__doc__.splitlines()[0])
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--push-s", type=float, default=1.0)
    args = parser.parse_args(argv)
    asyncio.run(serve_printers(args, lambda sim: OctoPrintLite(sim, args.api_key, args.push_s).app()))


if __name__ == "__main__":
    main()
