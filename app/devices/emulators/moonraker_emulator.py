"""Klipper behind Moonraker, on 127.0.0.1 (run as its own process): the API a Moonraker client sees.

Follows Moonraker's public API documentation (moonraker.readthedocs.io, "Web API" / "Websocket API"):
``GET /server/info``, ``GET /printer/info``, ``GET /printer/objects/query``, ``GET /access/oneshot_token``,
``POST /server/files/upload`` (multipart, ``root``, ``print``), and JSON-RPC 2.0 over ``/websocket`` with
``printer.objects.subscribe`` (then ``notify_status_update`` with only what changed, about every 250 ms),
``printer.print.start/pause/resume/cancel``, ``printer.emergency_stop``, ``printer.gcode.script`` and
``printer.firmware_restart``; the printer objects follow Klipper's "Status reference" (``print_stats``,
``virtual_sdcard``, ``display_status``, ``extruder``, ``heater_bed``, ``webhooks``, ``toolhead``,
``configfile``). With ``--api-key``, HTTP needs ``X-Api-Key`` (401 otherwise) and the websocket a one-shot token
(``?token=``) or the header. ``--state-file`` keeps the print across a restart (Moonraker restarting while
Klipper prints on).

    python -m app.devices.emulators.moonraker_emulator --storage DIR [--api-key K] [--print-s 6]
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from app.devices.emulators.http_printers import printer_args, serve_printers
from app.devices.emulators.print_sim import PrintSim

UPDATE_S = 0.25
TOKEN_TTL_S = 5.0
_PRINT_STATS = {"idle": "standby", "printing": "printing", "paused": "paused", "finished": "complete",
                "cancelled": "cancelled", "failed": "error", "halted": "error"}
VOLUME_MM = (235.0, 235.0, 250.0)


class MoonrakerEmulator:
    def __init__(self, sim: PrintSim, api_key: str = "", garbage: bool = False, hostname: str = "voron-1") -> None:
        self.sim = sim
        self.api_key = api_key
        self.garbage = garbage
        self.hostname = hostname
        self.tokens: dict[str, float] = {}

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=1024 ** 3)
        app.router.add_get("/server/info", self.server_info)
        app.router.add_get("/printer/info", self.printer_info)
        app.router.add_get("/printer/objects/query", self.query)
        app.router.add_get("/access/oneshot_token", self.oneshot)
        app.router.add_post("/server/files/upload", self.upload)
        app.router.add_get("/websocket", self.websocket)
        return app

    # ------------------------------------------------------------------ access
    def _allowed(self, request: web.Request) -> bool:
        if not self.api_key or request.headers.get("X-Api-Key") == self.api_key:
            return True
        token = request.query.get("token", "")
        if request.path == "/websocket" and token in self.tokens:
            return time.monotonic() - self.tokens.pop(token) < TOKEN_TTL_S  # one use only
        return False

    @web.middleware
    async def _guard(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        if self.garbage:
            return web.Response(body=b'{"result": {"klippy_state": "rea', content_type="application/json")
        if not self._allowed(request):
            return web.json_response({"error": {"code": 401, "message": "Unauthorized"}}, status=401)
        return await handler(request)

    async def oneshot(self, request: web.Request) -> web.Response:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.monotonic()
        return web.json_response({"result": token})

    # ------------------------------------------------------------------ HTTP
    def _klippy(self) -> str:
        return "shutdown" if self.sim.s.state == "halted" else "ready"

    async def server_info(self, request: web.Request) -> web.Response:
        return web.json_response({"result": {"klippy_connected": True, "klippy_state": self._klippy(),
                                             "components": ["file_manager", "websockets"],
                                             "moonraker_version": "v0.9.3-emulated", "api_version": [1, 5, 0]}})

    async def printer_info(self, request: web.Request) -> web.Response:
        return web.json_response({"result": {"state": self._klippy(), "state_message": self._state_message(),
                                             "hostname": self.hostname, "software_version": "v0.12.0-emulated",
                                             "klipper_path": "/home/pi/klipper"}})

    async def query(self, request: web.Request) -> web.Response:
        status = self.status()
        wanted = {k: status.get(k, {}) for k in request.query}
        return web.json_response({"result": {"eventtime": time.monotonic(), "status": wanted}})

    async def upload(self, request: web.Request) -> web.Response:
        reader = await request.multipart()
        fields: dict[str, str] = {}
        name, data = "", b""
        async for part in reader:
            if part.name == "file":
                name = part.filename or "upload.gcode"
                data = await part.read()
            elif part.name:
                fields[part.name] = (await part.read()).decode()
        if not name:
            return web.json_response({"error": {"code": 400, "message": "No file"}}, status=400)
        self.sim.store(name, data)
        started = fields.get("print", "false").lower() == "true" and self.sim.start(name)
        return web.json_response({"result": {"item": {"path": Path(name).name, "root": fields.get("root", "gcodes")},
                                             "print_started": started, "print_queued": False,
                                             "action": "create_file"}}, status=201)

    # ------------------------------------------------------------------ printer objects
    def _state_message(self) -> str:
        return "Shutdown due to M112 command" if self.sim.s.state == "halted" else "Printer is ready"

    def status(self) -> dict[str, dict[str, Any]]:
        sim = self.sim
        sim.tick()
        nozzle, nozzle_t, bed, bed_t = sim.temps()
        frac = sim.fraction()
        state = _PRINT_STATS.get(sim.s.state, "standby")
        return {
            "webhooks": {"state": self._klippy(), "state_message": self._state_message()},
            "print_stats": {"filename": sim.s.file, "state": state, "print_duration": round(sim.elapsed_s(), 2),
                            "total_duration": round(sim.elapsed_s(), 2), "filament_used": round(frac * 1200, 1),
                            "message": "", "info": {"total_layer": sim.s.layers or None,
                                                    "current_layer": sim.layer() or None}},
            "virtual_sdcard": {"file_path": sim.s.file, "progress": round(frac, 4),
                               "is_active": sim.s.state == "printing",
                               "file_position": int(frac * sim.s.size_b), "file_size": sim.s.size_b},
            "display_status": {"progress": round(frac, 4), "message": None},
            "extruder": {"temperature": nozzle, "target": nozzle_t, "power": 0.5 if nozzle_t else 0.0},
            "heater_bed": {"temperature": bed, "target": bed_t, "power": 0.3 if bed_t else 0.0},
            "toolhead": {"position": [120.0, 110.0, round(frac * 40.0, 2), 0.0]},
            "configfile": {"settings": {"stepper_x": {"position_min": 0.0, "position_max": VOLUME_MM[0]},
                                        "stepper_y": {"position_min": 0.0, "position_max": VOLUME_MM[1]},
                                        "stepper_z": {"position_min": -2.0, "position_max": VOLUME_MM[2] - 2.0},
                                        "extruder": {"nozzle_diameter": 0.4}}},
        }

    # ------------------------------------------------------------------ websocket
    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        subscribed: dict[str, Any] = {}
        last: dict[str, dict[str, Any]] = {}

        async def push() -> None:
            while not ws.closed:
                await asyncio.sleep(UPDATE_S)
                if not subscribed:
                    continue
                now = {k: v for k, v in self.status().items() if k in subscribed}
                diff = {k: {f: x for f, x in v.items() if last.get(k, {}).get(f) != x} for k, v in now.items()}
                diff = {k: v for k, v in diff.items() if v}
                last.update(now)
                if diff:
                    await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "notify_status_update",
                                                  "params": [diff, time.monotonic()]}))

        pusher = asyncio.get_running_loop().create_task(push())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                reply = self._rpc(msg.data, subscribed, last)
                if reply is not None:
                    await ws.send_str(json.dumps(reply))
        finally:
            pusher.cancel()
        return ws

    def _rpc(self, text: str, subscribed: dict[str, Any], last: dict[str, dict[str, Any]]) -> dict | None:
        try:
            req = json.loads(text)
            method, req_id, params = req["method"], req.get("id"), req.get("params") or {}
        except (ValueError, KeyError, TypeError):
            return {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
        sim = self.sim
        result: Any = "ok"
        error = ""
        if method == "printer.objects.subscribe":
            subscribed.clear()
            subscribed.update(params.get("objects") or {})
            status = {k: v for k, v in self.status().items() if k in subscribed}
            last.clear()
            last.update(status)
            result = {"eventtime": time.monotonic(), "status": status}
        elif method == "server.info":
            result = {"klippy_state": self._klippy()}
        elif self._klippy() != "ready" and method != "printer.firmware_restart":
            error = "Klippy host not connected" if method != "printer.emergency_stop" else ""
            if method == "printer.emergency_stop":
                sim.halt()
        elif method == "printer.print.start":
            if not sim.start(str(params.get("filename") or "")):
                error = "Print already in progress" if sim.s.state in ("printing", "paused") else "File not found"
        elif method == "printer.print.pause":
            sim.pause()
        elif method == "printer.print.resume":
            sim.resume()
        elif method == "printer.print.cancel":
            sim.cancel()
        elif method == "printer.emergency_stop":
            sim.halt()
        elif method == "printer.firmware_restart":
            sim.reset()
        elif method == "printer.gcode.script":
            result = "ok"
        else:
            return {"jsonrpc": "2.0", "error": {"code": -32601, "message": f"Method not found: {method}"},
                    "id": req_id}
        if error:
            return {"jsonrpc": "2.0", "error": {"code": 400, "message": error}, "id": req_id}
        return {"jsonrpc": "2.0", "result": result, "id": req_id}


def main(argv: list[str] | None = None) -> None:
    global UPDATE_S
    parser = printer_args(__doc__.splitlines()[0])
    parser.add_argument("--api-key", default="")
    parser.add_argument("--update-s", type=float, default=UPDATE_S, help="status push period (benchmarks: 1.0)")
    args = parser.parse_args(argv)
    UPDATE_S = args.update_s
    asyncio.run(serve_printers(args, lambda sim: MoonrakerEmulator(sim, args.api_key, args.garbage).app()))


if __name__ == "__main__":
    main()
