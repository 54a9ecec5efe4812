"""A PrusaLink printer on 127.0.0.1, for tests and benchmarks (run as its own process).

Follows the public PrusaLink OpenAPI description (prusa3d/Prusa-Link-Web, ``spec/openapi.yaml``) for the
endpoints and payloads, and RFC 7616 (HTTP Digest Access Authentication, MD5, ``qop=auth``) for the login,
which PrusaLink uses with the user and password shown on the printer's screen. Served by aiohttp.

    python -m app.devices.emulators.prusalink_emulator --port 0 --user maker --password secret --storage DIR

prints ``READY <port>`` once it listens. ``--garbage`` answers every API call with a non-JSON body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import time

from aiohttp import web

from app.devices.emulators.http_printers import printer_args, serve_printers
from app.devices.emulators.print_sim import PrintSim

REALM = "Printer API"
NONCE_TTL_S = 300.0
_STATES = {"idle": "IDLE", "printing": "PRINTING", "paused": "PAUSED", "finished": "FINISHED",
           "cancelled": "STOPPED", "failed": "ERROR", "halted": "ERROR"}
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


def short_name(name: str) -> str:
    """The FAT 8.3 name a USB stick gives a long file name (what Buddy firmware reports as ``name``)."""
    stem, _, ext = name.rpartition(".") if "." in name else (name, "", "")
    clean = "".join(c for c in stem.upper() if c.isalnum() or c in "-_")
    return f"{clean[:6]}~1.{ext.upper()[:3]}" if len(clean) > 8 or len(ext) > 3 else f"{clean}.{ext.upper()}"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class DigestGuard:
    """RFC 7616 Digest (MD5, qop=auth) with server nonces that expire and a nonce count that must grow."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password
        self._secret = os.urandom(16)
        self._last_nc: dict[str, int] = {}

    def _nonce(self) -> str:
        stamp = f"{time.time():.0f}"
        mac = hmac.new(self._secret, stamp.encode(), "sha256").hexdigest()[:16]
        return f"{stamp}-{mac}"

    def _nonce_fresh(self, nonce: str) -> bool | None:
        """True fresh, False stale (ours but old), None not ours."""
        stamp, _, mac = nonce.partition("-")
        good = hmac.new(self._secret, stamp.encode(), "sha256").hexdigest()[:16]
        if not hmac.compare_digest(mac, good):
            return None
        try:
            return time.time() - float(stamp) < NONCE_TTL_S
        except ValueError:
            return None

    def challenge(self, stale: bool = False) -> web.Response:
        header = (f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{self._nonce()}"'
                  + (", stale=true" if stale else ""))
        return web.json_response({"title": "Unauthorized"}, status=401, headers={"WWW-Authenticate": header})

    def check(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Digest "):
            return self.challenge()
        p = {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(auth[7:])}
        nonce = p.get("nonce", "")
        fresh = self._nonce_fresh(nonce)
        if fresh is None or p.get("username") != self.user or p.get("realm") != REALM:
            return self.challenge()
        if p.get("qop") != "auth" or not p.get("cnonce") or not p.get("nc"):
            return self.challenge()
        if p.get("uri") != request.path_qs:
            return web.json_response({"title": "Bad Request", "message": "digest uri mismatch"}, status=400)
        ha1 = _md5(f"{self.user}:{REALM}:{self.password}")
        ha2 = _md5(f"{request.method}:{p['uri']}")
        expected = _md5(f"{ha1}:{nonce}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        if not hmac.compare_digest(expected, p.get("response", "")):
            return self.challenge()
        if not fresh:
            return self.challenge(stale=True)
        try:
            nc = int(p["nc"], 16)
        except ValueError:
            return self.challenge()
        if nc <= self._last_nc.get(nonce + p["cnonce"], 0):  # a replayed request
            return self.challenge()
        self._last_nc[nonce + p["cnonce"]] = nc
        return None


class PrusaLinkEmulator:
    def __init__(self, sim: PrintSim, guard: DigestGuard, garbage: bool = False) -> None:
        self.sim = sim
        self.guard = guard
        self.garbage = garbage

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth], client_max_size=1024 ** 3)
        app.router.add_get("/api/version", self.version)
        app.router.add_get("/api/v1/info", self.info)
        app.router.add_get("/api/v1/status", self.status)
        app.router.add_get("/api/v1/job", self.job)
        app.router.add_put("/api/v1/files/{storage}/{path:.+}", self.upload)
        app.router.add_put("/api/v1/job/{id}/pause", self.pause)
        app.router.add_put("/api/v1/job/{id}/resume", self.resume)
        app.router.add_delete("/api/v1/job/{id}", self.stop)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        refused = self.guard.check(request)
        if refused is not None:
            return refused
        if self.garbage:
            return web.Response(text="<html><body>Gateway hiccup\x00\x01</body>", content_type="text/html")
        self.sim.tick()
        return await handler(request)

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"api": "2.0.0", "server": "2.1.2", "nozzle_diameter": 0.4,
                                  "text": "PrusaLink", "hostname": "emulated-mk4", "firmware": "6.1.3+7898",
                                  "capabilities": {"upload-by-put": True}})

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response({"nozzle_diameter": 0.4, "mmu": False, "serial": "EMU0000001",
                                  "hostname": "emulated-mk4", "min_extrusion_temp": 170})

    def _job_json(self) -> dict:
        s = self.sim.s
        return {"id": s.job_id, "progress": round(self.sim.fraction() * 100, 1),
                "time_remaining": int(self.sim.time_left_s()), "time_printing": int(self.sim.elapsed_s()),
                "file": {"name": short_name(s.file), "display_name": s.file, "path": "/usb", "size": s.size_b}}

    async def status(self, request: web.Request) -> web.Response:
        s = self.sim.s
        nozzle, nozzle_t, bed, bed_t = self.sim.temps()
        printer = {"state": _STATES[s.state], "temp_nozzle": nozzle, "target_nozzle": nozzle_t, "temp_bed": bed,
                   "target_bed": bed_t, "axis_z": round(0.2 * self.sim.layer(), 2), "flow": 100, "speed": 100,
                   "fan_hotend": 0, "fan_print": 0}
        body: dict = {"storage": {"path": "/usb/", "name": "usb", "read_only": False}, "printer": printer}
        if s.file and s.state != "idle":
            body["job"] = {k: v for k, v in self._job_json().items() if k != "file"}
        return web.json_response(body)

    async def job(self, request: web.Request) -> web.Response:
        s = self.sim.s
        if not s.file or s.state == "idle":
            return web.Response(status=204)
        return web.json_response({**self._job_json(), "state": _STATES[s.state]})

    async def upload(self, request: web.Request) -> web.Response:
        if request.match_info["storage"] not in ("usb", "local"):
            return web.json_response({"title": "Not Found", "message": "no such storage"}, status=404)
        name = request.match_info["path"]
        print_after = request.headers.get("Print-After-Upload", "?0") == "?1"
        if print_after and self.sim.s.state in ("printing", "paused"):
            return web.json_response({"title": "Conflict", "message": "printer is busy"}, status=409)
        if self.sim.has(name) and request.headers.get("Overwrite", "?0") != "?1":
            return web.json_response({"title": "Conflict", "message": "file exists"}, status=409)
        data = await request.read()
        self.sim.store(name, data)
        if print_after and not self.sim.start(name):
            return web.json_response({"title": "Conflict", "message": "cannot print now"}, status=409)
        return web.Response(status=201)

    def _job_matches(self, request: web.Request) -> web.Response | None:
        if request.match_info["id"] != str(self.sim.s.job_id) or self.sim.s.state not in ("printing", "paused"):
            return web.json_response({"title": "Not Found", "message": "no such job"}, status=404)
        return None

    async def pause(self, request: web.Request) -> web.Response:
        wrong = self._job_matches(request)
        if wrong is not None:
            return wrong
        return web.Response(status=204 if self.sim.pause() else 409)

    async def resume(self, request: web.Request) -> web.Response:
        wrong = self._job_matches(request)
        if wrong is not None:
            return wrong
        return web.Response(status=204 if self.sim.resume() else 409)

    async def stop(self, request: web.Request) -> web.Response:
        wrong = self._job_matches(request)
        if wrong is not None:
            return wrong
        return web.Response(status=204 if self.sim.cancel() else 409)


def main(argv: list[str] | None = None) -> None:
    parser = printer_args(__doc__.splitlines()[0])
    parser.add_argument("--user", default="maker")
    parser.add_argument("--password", required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve_printers(args, lambda sim: PrusaLinkEmulator(sim, DigestGuard(args.user, args.password), args.garbage).app()))


if __name__ == "__main__":
    main()
