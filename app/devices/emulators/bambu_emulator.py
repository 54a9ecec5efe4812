"""A Bambu Lab printer in LAN mode, on 127.0.0.1 (run as its own process, beside a real mosquitto broker).

Follows the community's public description of the local protocol (Doridian/OpenBambuAPI ``mqtt.md`` and
``ftp.md``): the printer publishes JSON reports on ``device/<serial>/report`` (a ``print`` object with
``gcode_state``, ``mc_percent``, ``mc_remaining_time`` in minutes, ``layer_num``, temperatures...; full on
``pushall``, otherwise only the fields that changed, as P1/A1 printers do), takes ``print`` and ``pushing``
commands on ``device/<serial>/request`` and answers each with an echo carrying ``result``, and serves its SD card
over implicit FTPS with the same certificate and credentials (``bblp`` / access code). A stopped print ends as
``FAILED`` with ``print_error`` 0x0300400C, as the printers report a cancel.

    python -m app.devices.emulators.bambu_emulator --broker-port P --serial S --access-code C \
        --cert printer.crt --key printer.key --storage DIR [--ftps-port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import ssl
import sys
from pathlib import Path
from typing import Any

import aiomqtt

from app.devices.emulators.ftps_server import start_ftps
from app.devices.emulators.print_sim import PrintSim

CANCELLED_ERROR = 0x0300400C
HALTED_ERROR = 0x0300800A
_GCODE_STATE = {"idle": "IDLE", "printing": "RUNNING", "paused": "PAUSE", "finished": "FINISH",
                "cancelled": "FAILED", "failed": "FAILED", "halted": "FAILED"}


class BambuPrinter:
    def __init__(self, sim: PrintSim, serial: str, report_s: float = 1.0, garbage: bool = False) -> None:
        self.sim = sim
        self.serial = serial
        self.report_s = report_s
        self.garbage = garbage
        self._sent: dict[str, Any] = {}

    def full_status(self) -> dict[str, Any]:
        s = self.sim.s
        nozzle, nozzle_t, bed, bed_t = self.sim.temps()
        active = s.state in ("printing", "paused")
        error = {"cancelled": CANCELLED_ERROR, "halted": HALTED_ERROR}.get(s.state, 0)
        return {"command": "push_status", "gcode_state": _GCODE_STATE[s.state],
                "mc_percent": int(self.sim.fraction() * 100),
                "mc_remaining_time": int(round(self.sim.time_left_s() / 60.0)) if active else 0,
                "layer_num": self.sim.layer() if active else 0, "total_layer_num": s.layers,
                "nozzle_temper": nozzle, "nozzle_target_temper": nozzle_t, "bed_temper": bed,
                "bed_target_temper": bed_t, "chamber_temper": 28.0, "subtask_name": s.file,
                "gcode_file": s.file, "print_error": error, "job_id": str(s.job_id) if s.job_id else "",
                "wifi_signal": "-40dBm", "spd_lvl": 2, "print_type": "local", "nozzle_diameter": "0.4",
                "vt_tray": {"id": "254", "tray_type": "PETG", "tray_color": "FF6A13FF"}}

    def report(self, full: bool) -> bytes:
        self.sim.tick()
        status = self.full_status()
        if full:
            body = status
        else:
            body = {k: v for k, v in status.items() if self._sent.get(k) != v}
            body["command"] = "push_status"
        self._sent = status
        return json.dumps({"print": body}).encode()

    def on_request(self, payload: bytes) -> tuple[bytes | None, bool]:
        """A request → (echo to publish or None, whether a full report should follow)."""
        try:
            data = json.loads(payload)
        except ValueError:
            return None, False
        if isinstance(data.get("pushing"), dict) and data["pushing"].get("command") == "pushall":
            return None, True
        if isinstance(data.get("info"), dict) and data["info"].get("command") == "get_version":
            return json.dumps({"info": {"command": "get_version", "sequence_id": data["info"].get("sequence_id"),
                                        "module": [{"name": "ota", "sw_ver": "01.08.02.00", "hw_ver": "OTA"}],
                                        "result": "success"}}).encode(), False
        cmd = data.get("print") if isinstance(data.get("print"), dict) else None
        if cmd is None:
            return None, False
        name = str(cmd.get("command") or "")
        ok = False
        if name == "project_file":
            ok = self.sim.start(str(cmd.get("url") or "").removeprefix("file:///sdcard/").removeprefix("ftp://"))
        elif name == "gcode_file":
            ok = self.sim.start(str(cmd.get("param") or "").removeprefix("/sdcard/"))
        elif name == "pause":
            ok = self.sim.pause()
        elif name == "resume":
            ok = self.sim.resume()
        elif name == "stop":
            ok = self.sim.cancel() or self.sim.s.state in ("idle", "finished", "cancelled", "halted")
        elif name == "gcode_line":
            line = str(cmd.get("param") or "").strip().upper()
            if line.startswith("M112"):
                self.sim.halt()
            ok = True
        echo = {"print": {**cmd, "result": "success" if ok else "failed",
                          **({} if ok else {"reason": f"cannot {name} now"})}}
        return json.dumps(echo).encode(), True


def notify_datagram(serial: str, host: str = "127.0.0.1") -> bytes:
    """The SSDP NOTIFY a Bambu printer broadcasts (to port 2021) in LAN mode."""
    lines = ["NOTIFY * HTTP/1.1", "HOST: 239.255.255.250:1990", "Server: UPnP/1.0", f"Location: {host}",
             "NT: urn:bambulab-com:device:3dprinter:1", f"USN: {serial}", "Cache-Control: max-age=1800",
             "DevModel.bambu.com: C12", f"DevName.bambu.com: Emulated P1S {serial[-4:]}",
             "DevSignal.bambu.com: -44", "DevConnect.bambu.com: lan", "DevBind.bambu.com: free",
             "Devseclink.bambu.com: secure", "DevVersion.bambu.com: 01.08.02.00", "DevCap.bambu.com: 1"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def announce(serials: list[str], port: int, every_s: float = 2.0) -> None:
    """Announce the printers by SSDP to 127.0.0.1:``port`` (a real printer broadcasts to the LAN)."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=("127.0.0.1", port))
    try:
        while True:
            for serial in serials:
                transport.sendto(notify_datagram(serial))
            await asyncio.sleep(every_s)
    finally:
        transport.close()


def tls_server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


async def run_mqtt(printer: BambuPrinter, port: int, access_code: str, ready: asyncio.Event) -> None:
    client_ctx = ssl.create_default_context()
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE  # the printer talks to its own broker on the same board
    report, request = f"device/{printer.serial}/report", f"device/{printer.serial}/request"
    while True:
        try:
            async with aiomqtt.Client("127.0.0.1", port, username="bblp", password=access_code,
                                      tls_context=client_ctx, identifier=f"printer-{printer.serial}") as client:
                await client.subscribe(request)
                ready.set()  # the printer's firmware is on its broker: requests are heard from now on

                async def ticker() -> None:
                    while True:
                        body = b"{not json" if printer.garbage else printer.report(full=False)
                        await client.publish(report, body)
                        await asyncio.sleep(printer.report_s)

                tick = asyncio.create_task(ticker())
                try:
                    async for message in client.messages:
                        echo, push = printer.on_request(bytes(message.payload))  # type: ignore[arg-type]
                        if echo is not None:
                            await client.publish(report, echo)
                        if push and not printer.garbage:
                            await client.publish(report, printer.report(full=True))
                finally:
                    tick.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await tick
        except aiomqtt.MqttError:
            await asyncio.sleep(0.5)  # the broker restarts with the printer's network stack


async def serve(args: argparse.Namespace) -> None:
    ports = [int(p) for p in str(args.broker_port).split(",")]
    tasks, ftps_ports, readies = [], [], []
    for i, broker_port in enumerate(ports):  # several printers, one broker each (benchmarks)
        suffix = f"-{i}" if len(ports) > 1 else ""
        state = Path(args.state_file + suffix) if args.state_file else None
        sim = PrintSim(Path(args.storage + suffix), args.print_s, state, stamp=args.stamp)
        printer = BambuPrinter(sim, args.serial + suffix.replace("-", ""), args.report_s, args.garbage)

        def size(name: str, sim: PrintSim = sim) -> int | None:
            name = name.lstrip("/").rsplit("/", 1)[-1]
            return sim.size(name) if sim.has(name) else None

        ftps = await start_ftps(tls_server_context(Path(args.cert), Path(args.key)),
                                args.ftps_port + i if args.ftps_port else 0, "bblp", args.access_code, sim.store,
                                size)
        ftps_ports.append(ftps.sockets[0].getsockname()[1])
        readies.append(asyncio.Event())
        tasks.append(asyncio.create_task(run_mqtt(printer, broker_port, args.access_code, readies[-1])))
    if args.ssdp_port:
        serials = [args.serial + (str(i) if len(ports) > 1 else "") for i in range(len(ports))]
        tasks.append(asyncio.create_task(announce(serials, args.ssdp_port)))
    await asyncio.gather(*(r.wait() for r in readies))
    sys.stdout.write("READY " + " ".join(map(str, ftps_ports)) + "\n")
    sys.stdout.flush()
    await asyncio.gather(*tasks)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker-port", required=True, help="the broker's port (comma-separated: one printer each)")
    parser.add_argument("--ftps-port", type=int, default=0)
    parser.add_argument("--serial", required=True)
    parser.add_argument("--access-code", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--state-file", default="")
    parser.add_argument("--print-s", type=float, default=6.0)
    parser.add_argument("--report-s", type=float, default=1.0)
    parser.add_argument("--garbage", action="store_true")
    parser.add_argument("--ssdp-port", type=int, default=0, help="announce by SSDP to this UDP port on 127.0.0.1")
    parser.add_argument("--stamp", action="store_true", help="benchmarks: nozzle reading = wall clock mod 1000")
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
