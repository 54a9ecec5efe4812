"""Network-printer connectors: many emulated printers reporting at 1 Hz, the control room's CPU and the delay from
a machine's report to the event on the bus, next to the raw client libraries doing the same requests in the same
run; and a large upload next to a bare HTTP upload of the same bytes.

Run from the repository root:  PYTHONPATH=. .venv/bin/python benchmarks/connectors.py [--per-kind 10] [--window 20]
[--write]. ``--write`` stores the table in benchmarks/results/connectors.md.

How the delay is read: the emulators are started with ``--stamp``, so each report's nozzle temperature is the
wall-clock second it was made (mod 1000, floored to 10 ms, so figures are over-estimated by less than 10 ms); the bus subscriber (ours) or the raw client's message
handler (reference) subtracts it from the time the reading arrives. For polled protocols (PrusaLink, Duet, OctoPrint
REST) the machine's report is its answer to the poll, so the poll period itself is not part of the figure. Each
emulator process serves all printers of its kind (one port each); each Bambu printer has its own mosquitto broker.
The printers are idle (no job) while measured: the same requests either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiomqtt  # noqa: E402
import httpx  # noqa: E402
from websockets.asyncio.client import connect as ws_connect  # noqa: E402

from app.core.bus import EventBus  # noqa: E402
from app.core.clock import SystemClock  # noqa: E402
from app.core.domain.capabilities import Capabilities  # noqa: E402
from app.core.domain.enums import ProcessType  # noqa: E402
from app.core.drivers import JobRequest  # noqa: E402
from app.core.events import TelemetryReceived  # noqa: E402
from app.core.fleet.driver_link import DriverLink  # noqa: E402
from app.core.fleet.service import FleetService  # noqa: E402
from app.core.store import open_store  # noqa: E402
from app.devices.emulators.mosquitto_broker import MosquittoBroker, make_printer_cert, mosquitto_available  # noqa: E402
from app.devices.emulators.spawn import EmulatorProcess  # noqa: E402
from app.devices.factory import NETWORK_DRIVERS, network_driver  # noqa: E402
from app.devices.network import duet_protocol as duet  # noqa: E402
from app.devices.network import moonraker_protocol as moonraker  # noqa: E402
from app.devices.network.pinned_tls import Pin  # noqa: E402

PASSWORD = "bench-pw"
API_KEY = "bench-api-key-0123456789abcdef"
ACCESS_CODE = "87654321"
SERIAL = "BENCH"


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def delay_s(stamp: float) -> float:
    """Now minus a stamp taken mod 1000 s (see the module's docstring), across the wrap."""
    d = (time.time() % 1000.0) - stamp
    return d - 1000.0 if d > 500.0 else d + 1000.0 if d < -500.0 else d


@dataclass
class Printer:
    kind: str
    name: str
    address: str
    secrets: dict[str, str]
    raw: Callable[[Printer, list[float], asyncio.Event], Awaitable[None]]


@dataclass
class Peers:
    printers: list[Printer] = field(default_factory=list)
    stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self.stops):
            with contextlib.suppress(Exception):
                stop()


# ---------------------------------------------------------------------- raw clients (the reference)
async def raw_prusalink(p: Printer, delays: list[float], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=p.address, auth=httpx.DigestAuth("maker", PASSWORD), timeout=10) as c:
        while not stop.is_set():
            data = json.loads((await c.get("/api/v1/status")).content)
            delays.append(delay_s(data["printer"]["temp_nozzle"]))
            await asyncio.sleep(1.0)


async def raw_duet(p: Printer, delays: list[float], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=p.address, timeout=10) as c:
        key = (await c.get("/rr_connect", params={"password": PASSWORD, "sessionKey": "yes"})).json()["sessionKey"]
        c.headers["X-Session-Key"] = str(key)
        while not stop.is_set():
            model = {k: json.loads((await c.get("/rr_model", params={"key": k, "flags": duet.MODEL_FLAGS})).content)
                     for k in duet.POLLED_KEYS}
            delays.append(delay_s(model["heat"]["result"]["heaters"][1]["current"]))
            await asyncio.sleep(1.0)


async def raw_bambu(p: Printer, delays: list[float], stop: asyncio.Event) -> None:
    host_port = p.address.removeprefix("mqtts://").split("?")[0]
    port = int(host_port.rsplit(":", 1)[1])
    serial = p.secrets["serial"]
    async with aiomqtt.Client("127.0.0.1", port, username="bblp", password=ACCESS_CODE,
                              tls_context=Pin(None, "bench").context(), tls_insecure=True) as client:
        await client.subscribe(f"device/{serial}/report")
        await client.publish(f"device/{serial}/request", json.dumps({"pushing": {"command": "pushall"}}))
        async for message in client.messages:
            if stop.is_set():
                return
            body = json.loads(message.payload)  # type: ignore[arg-type]
            temp = body.get("print", {}).get("nozzle_temper")
            if temp is not None:
                delays.append(delay_s(temp))


async def raw_octoprint(p: Printer, delays: list[float], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=p.address, headers={"X-Api-Key": API_KEY}, timeout=10) as c:
        login = (await c.post("/api/login", json={"passive": True})).json()
        for path in ("/api/connection", "/api/printer", "/api/job"):
            (await c.get(path)).json()
    async with ws_connect(p.address.replace("http", "ws", 1) + "/sockjs/websocket") as ws:
        await ws.send(json.dumps({"auth": f"{login['name']}:{login['session']}"}))
        async for raw in ws:
            if stop.is_set():
                return
            msg = json.loads(raw)
            if "current" in msg:
                delays.append(delay_s(msg["current"]["temps"][-1]["tool0"]["actual"]))


async def raw_moonraker(p: Printer, delays: list[float], stop: asyncio.Event) -> None:
    async with ws_connect(p.address.replace("http", "ws", 1) + "/websocket") as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "printer.objects.subscribe",
                                  "params": {"objects": moonraker.SUBSCRIBE}}))
        async for raw in ws:
            if stop.is_set():
                return
            msg = json.loads(raw)
            if msg.get("method") == "notify_status_update":
                temp = msg["params"][0].get("extruder", {}).get("temperature")
                if temp is not None:
                    delays.append(delay_s(temp))


# ---------------------------------------------------------------------- the emulated printers
def start_moonraker(tmp: Path, n: int, peers: Peers) -> None:
    proc = EmulatorProcess("app.devices.emulators.moonraker_emulator",
                           ["--storage", str(tmp / "moon"), "--count", str(n), "--stamp", "--print-s", "3600",
                            "--update-s", "1.0"]).start()
    peers.stops.append(proc.stop)
    for i, port in enumerate(proc.ports):
        peers.printers.append(Printer("moonraker", f"voron-{i}", f"http://127.0.0.1:{port}", {}, raw_moonraker))


def start_octoprint(tmp: Path, n: int, peers: Peers) -> None:
    proc = EmulatorProcess("app.devices.emulators.octoprint_lite",
                           ["--api-key", API_KEY, "--storage", str(tmp / "octo"), "--count", str(n), "--stamp",
                            "--print-s", "3600"]).start()
    peers.stops.append(proc.stop)
    for i, port in enumerate(proc.ports):
        peers.printers.append(Printer("octoprint", f"octo-{i}", f"http://127.0.0.1:{port}", {"api_key": API_KEY},
                                      raw_octoprint))


def start_prusalink(tmp: Path, n: int, peers: Peers) -> None:
    proc = EmulatorProcess("app.devices.emulators.prusalink_emulator",
                           ["--password", PASSWORD, "--storage", str(tmp / "prusa"), "--count", str(n), "--stamp",
                            "--print-s", "3600"]).start()
    peers.stops.append(proc.stop)
    for i, port in enumerate(proc.ports):
        peers.printers.append(Printer("prusalink", f"mk4-{i}", f"http://127.0.0.1:{port}", {"password": PASSWORD},
                                      raw_prusalink))


def start_duet(tmp: Path, n: int, peers: Peers) -> None:
    proc = EmulatorProcess("app.devices.emulators.duet_emulator",
                           ["--password", PASSWORD, "--storage", str(tmp / "duet"), "--count", str(n), "--stamp",
                            "--print-s", "3600"]).start()
    peers.stops.append(proc.stop)
    for i, port in enumerate(proc.ports):
        peers.printers.append(Printer("duet", f"duet-{i}", f"http://127.0.0.1:{port}", {"password": PASSWORD},
                                      raw_duet))


def start_bambu(tmp: Path, n: int, peers: Peers) -> None:
    cert, key = make_printer_cert(tmp / "bambu-cert", SERIAL)
    brokers = [MosquittoBroker(tmp / f"broker-{i}", cert, key, ACCESS_CODE).start() for i in range(n)]
    peers.stops.extend(b.stop for b in brokers)
    proc = EmulatorProcess("app.devices.emulators.bambu_emulator",
                           ["--broker-port", ",".join(str(b.port) for b in brokers), "--serial", SERIAL,
                            "--access-code", ACCESS_CODE, "--cert", str(cert), "--key", str(key),
                            "--storage", str(tmp / "bambu"), "--report-s", "1.0", "--stamp",
                            "--print-s", "3600"]).start()
    peers.stops.append(proc.stop)
    for i, (broker, ftps_port) in enumerate(zip(brokers, proc.ports, strict=True)):
        serial = f"{SERIAL}{i}" if n > 1 else SERIAL
        peers.printers.append(Printer("bambu", f"x1c-{i}",
                                      f"mqtts://127.0.0.1:{broker.port}?ftps_port={ftps_port}",
                                      {"access_code": ACCESS_CODE, "serial": serial}, raw_bambu))


STARTERS: dict[str, Callable[[Path, int, Peers], None]] = {
    "octoprint": start_octoprint, "moonraker": start_moonraker, "prusalink": start_prusalink, "duet": start_duet, "bambu": start_bambu,
}


# ---------------------------------------------------------------------- the two sides of the comparison
async def measure_ours(printers: list[Printer], warmup_s: float, window_s: float) -> tuple[float, list[float], int]:
    tmp = tempfile.mkdtemp(prefix="imewe-bench-")
    store = open_store(f"sqlite:///{tmp}/f.sqlite")
    bus = EventBus()
    clock = SystemClock()
    fleet = FleetService(store, bus, clock)
    await fleet.start()
    delays: list[float] = []
    measuring = [False]

    def on_telemetry(event: TelemetryReceived) -> None:
        temp = event.sample.metrics.get("temperature")
        if measuring[0] and temp is not None:
            delays.append(delay_s(temp))

    bus.subscribe(TelemetryReceived, on_telemetry, name="bench")
    drivers, links = [], []
    for p in printers:
        node = await fleet.register(p.name, Capabilities(process=ProcessType.FDM), driver=p.kind, address=p.address,
                                    bring_up=True)
        driver = network_driver(p.kind, name=p.name, address=p.address, secrets=p.secrets)
        drivers.append(driver)
        links.append(DriverLink(fleet, bus, clock, node.id, driver).attach())
    await asyncio.gather(*(d.connect() for d in drivers))
    await asyncio.sleep(warmup_s)
    measuring[0] = True
    c0, t0 = cpu_s(), time.perf_counter()
    await asyncio.sleep(window_s)
    used = (cpu_s() - c0) / (time.perf_counter() - t0)
    measuring[0] = False
    offline = sum(1 for d in drivers if not d.link_up)
    await asyncio.gather(*(d.disconnect() for d in drivers))
    for link in links:
        await link.detach()
    await bus.close()
    store.close()
    return used, delays, offline


async def measure_raw(printers: list[Printer], warmup_s: float, window_s: float) -> tuple[float, list[float]]:
    delays: list[float] = []
    stop = asyncio.Event()
    warm: list[float] = []
    tasks = [asyncio.create_task(p.raw(p, warm, stop)) for p in printers]
    await asyncio.sleep(warmup_s)
    for t in tasks:  # a raw client that failed is a broken benchmark, not a figure
        if t.done() and t.exception() is not None:
            raise t.exception()  # type: ignore[misc]
    warm.clear()
    c0, t0 = cpu_s(), time.perf_counter()
    await asyncio.sleep(window_s)
    used = (cpu_s() - c0) / (time.perf_counter() - t0)
    delays = list(warm)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return used, delays


async def upload_bench(tmp: Path, size_mb: int, settle_s: float = 15.0) -> list[str]:
    """A large G-code file sent to OctoPrint by the driver (upload, select and print in one request) next to a
    bare multipart POST of the same bytes with httpx; both read the file inside the timed part."""
    big = tmp / "big.gcode"
    line = b"G1 X117.523 Y102.311 E0.04122 F1800 ; a typical extrusion move\n"
    with big.open("wb") as f:
        for _ in range(size_mb * 1_000_000 // len(line)):
            f.write(line)
    size = big.stat().st_size
    peer_name, address, key, stop = _upload_peer(tmp)
    ours: list[float] = []
    bare: list[float] = []

    async def bare_upload() -> None:
        async with httpx.AsyncClient(base_url=address, headers={"X-Api-Key": key}, timeout=300) as c:
            t0 = time.perf_counter()
            data = await asyncio.get_running_loop().run_in_executor(None, big.read_bytes)
            resp = await c.post("/api/files/local", files={"file": ("bare.gcode", data)},
                                data={"select": "true", "print": "true"})  # the driver's very request
            bare.append(time.perf_counter() - t0)
            assert resp.status_code == 201, resp.text
            await asyncio.sleep(1.0)
            await c.post("/api/job", json={"command": "cancel"})

    async def driver_upload() -> None:
        driver = network_driver("octoprint", name="octo", address=address, secrets={"api_key": key})
        await driver.connect()
        try:
            t0 = time.perf_counter()
            await driver.execute(JobRequest(job_id=uuid4(), gcode_path=big))
            ours.append(time.perf_counter() - t0)
            await asyncio.sleep(1.0)
            await driver.cancel()
        finally:
            await driver.disconnect()

    try:
        # alternate the order, and let OctoPrint finish analysing the last upload (it reads every uploaded
        # file in the background) before the next one, so neither side pays for the other's file
        for first, second in ((bare_upload, driver_upload), (driver_upload, bare_upload)):
            for step in (first, second):
                await step()
                await asyncio.sleep(settle_s)
    finally:
        stop()
    mb = size / 1e6
    best_ours, best_bare = min(ours), min(bare)
    print(f"  upload {mb:.0f} MB: ours {mb / best_ours:.1f} MB/s, bare httpx {mb / best_bare:.1f} MB/s")
    return [f"| upload of a {mb:.0f} MB G-code file to {peer_name}, best of 2 | "
            f"{mb / best_ours:.1f} MB/s (upload + select + print) | bare httpx multipart POST of the same bytes "
            f"{mb / best_bare:.1f} MB/s (ratio {best_bare / best_ours:.2f}) |"]


def _upload_peer(tmp: Path) -> tuple[str, str, str, Callable[[], None]]:
    """The real OctoPrint server (the tests' peer, in its own venv) when it is built; else the light emulator."""
    from tests.peers.octoprint_peer import OctoPrintPeer, octoprint_exe

    exe = octoprint_exe()
    if exe is not None:
        peer = OctoPrintPeer(exe, tmp / "octoprint-base")
        peer.prepare()
        peer.start()
        return "a real OctoPrint 1.11 server (virtual printer)", peer.url, peer.api_key, peer.stop
    proc = EmulatorProcess("app.devices.emulators.octoprint_lite",
                           ["--api-key", API_KEY, "--storage", str(tmp / "octo-upload"), "--print-s", "3600"]).start()
    return ("the light OctoPrint emulator (no OctoPrint peer built)", f"http://127.0.0.1:{proc.port}", API_KEY,
            proc.stop)


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=20)[18]


async def main_async(args: argparse.Namespace) -> list[str]:
    kinds = [k for k in STARTERS if k in NETWORK_DRIVERS]
    if "bambu" in kinds and mosquitto_available() is None:
        print("bambu: skipped (mosquitto is not installed)")
        kinds.remove("bambu")
    missing = [k for k in ("octoprint", "moonraker", "prusalink", "bambu", "duet") if k not in kinds]
    tmp = Path(tempfile.mkdtemp(prefix="imewe-connectors-"))
    peers = Peers()
    rows: list[str] = []
    try:
        for kind in kinds:
            STARTERS[kind](tmp, args.per_kind, peers)
        n = len(peers.printers)
        print(f"{n} emulated printers ({', '.join(f'{args.per_kind} {k}' for k in kinds)}) at 1 Hz, "
              f"window {args.window:.0f} s")
        ours_cpu, ours_delays, offline = await measure_ours(peers.printers, args.warmup, args.window)
        raw_cpu, raw_delays = await measure_raw(peers.printers, args.warmup, args.window)
        rate = len(ours_delays) / args.window
        print(f"  ours: CPU {ours_cpu:.1%} of one core, {rate:.1f} reports/s on the bus, delay p50 "
              f"{statistics.median(ours_delays) * 1000:.1f} ms, p95 {p95(ours_delays) * 1000:.1f} ms, "
              f"{offline} offline")
        print(f"  raw clients: CPU {raw_cpu:.1%}, {len(raw_delays) / args.window:.1f} reports/s, delay p50 "
              f"{statistics.median(raw_delays) * 1000:.1f} ms, p95 {p95(raw_delays) * 1000:.1f} ms")
        who = ", ".join(f"{args.per_kind} {k}" for k in kinds)
        rows.append(f"| {n} printers at 1 Hz ({who}): core CPU (drivers + links + fleet + bus) | "
                    f"{ours_cpu:.1%} of one core | raw clients {raw_cpu:.1%} (ratio {ours_cpu / raw_cpu:.1f}); "
                    f"target < 25 % |")
        rows.append(f"| same: delay machine report → event on the bus, p95 (p50) | {p95(ours_delays) * 1000:.1f} ms "
                    f"({statistics.median(ours_delays) * 1000:.1f} ms), {rate:.1f} events/s | raw client → its "
                    f"handler {p95(raw_delays) * 1000:.1f} ms ({statistics.median(raw_delays) * 1000:.1f} ms); "
                    f"target < 100 ms |")
        if missing:
            rows.append(f"| not measured here | {', '.join(missing)} | no driver registered or no emulator for "
                        "the benchmark yet |")
        if "octoprint" in NETWORK_DRIVERS and args.upload_mb > 0:
            rows.extend(await upload_bench(tmp, args.upload_mb))
    finally:
        peers.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=10)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--upload-mb", type=int, default=50)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = asyncio.run(main_async(args))
    load = os.getloadavg()[0]
    table = ["| what | figure | reference (same run) |", "|---|---|---|", *rows]
    print("\n".join(table))
    if args.write:
        out = ROOT / "benchmarks" / "results" / "connectors.md"
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        out.write_text("# Network-printer connectors (issue 12)\n\n"
                       f"Command: `PYTHONPATH=. .venv/bin/python benchmarks/connectors.py --write` (2-core shared "
                       f"machine, {stamp}, load average at the end {load:.1f}). The upload goes to the real OctoPrint "
                       "peer when `.peers/octoprint-venv` is built (`./dev test` builds it; `IMEWE_OCTOPRINT_VENV` "
                       "points elsewhere), else to the light emulator, as the row says. The 1 Hz fleet uses "
                       "`app/devices/emulators/octoprint_lite.py` for OctoPrint: ten real servers with their virtual "
                       "printers are too heavy for one benchmark machine.\n\n" + "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
