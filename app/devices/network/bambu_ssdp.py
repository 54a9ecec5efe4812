"""Finding Bambu Lab printers by their SSDP announcements.

Bambu printers do not answer SSDP searches; they send ``NOTIFY * HTTP/1.1`` datagrams every few seconds to
255.255.255.255:2021 (and 239.255.255.250:1990), with ``NT: urn:bambulab-com:device:3dprinter:1``, the serial
number as ``USN``, the printer's address as ``Location`` and vendor headers ``DevModel.bambu.com``,
``DevName.bambu.com``, ``DevVersion.bambu.com``, ``DevConnect.bambu.com`` (``lan`` in LAN mode) — as described by
the community's public notes on the printers' discovery (OpenBambuAPI, bsnotify). Broadcasts do not cross
routers: a printer on another subnet is added by its address instead.

``parse_notify`` does no I/O; ``BambuSsdpListener`` is the UDP socket that feeds it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
NOTIFY_PORT = 2021
NT = "urn:bambulab-com:device:3dprinter:1"
# What the model codes in DevModel mean (the rest are shown as sent).
MODELS = {"3DPrinter-X1-Carbon": "X1 Carbon", "3DPrinter-X1": "X1", "C11": "P1P", "C12": "P1S", "C13": "X1E",
          "N1": "A1 mini", "N2S": "A1", "O1D": "H2D"}


@dataclass(frozen=True, slots=True)
class BambuAnnouncement:
    serial: str
    host: str
    name: str = ""
    model: str = ""
    firmware: str = ""
    lan_mode: bool = False  # DevConnect "lan": LAN-only mode is on, the access code works
    max_age_s: float = 1800.0

    @property
    def address(self) -> str:
        return f"mqtts://{self.host}:8883"


def parse_notify(datagram: bytes) -> BambuAnnouncement | None:
    """One UDP datagram → an announcement, or None for anything that is not a Bambu printer's NOTIFY."""
    try:
        text = datagram.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or not lines[0].upper().startswith("NOTIFY * HTTP/1."):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    if headers.get("nt") != NT or not headers.get("usn") or not headers.get("location"):
        return None
    max_age = 1800.0
    for part in headers.get("cache-control", "").split(","):
        key, _, value = part.strip().partition("=")
        if key.lower() == "max-age" and value.isdigit():
            max_age = float(value)
    model = headers.get("devmodel.bambu.com", "")
    host = headers["location"].removeprefix("http://").split("/")[0].split(":")[0]
    return BambuAnnouncement(serial=headers["usn"][:64], host=host[:255],
                             name=headers.get("devname.bambu.com", "")[:100], model=MODELS.get(model, model)[:60],
                             firmware=headers.get("devversion.bambu.com", "")[:40],
                             lan_mode=headers.get("devconnect.bambu.com", "").lower() == "lan", max_age_s=max_age)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: BambuSsdpListener) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        found = parse_notify(data[:4096])
        if found is not None:
            self.owner._seen(found)


class BambuSsdpListener:
    """Listens for announcements on ``host``:``port`` (all interfaces, 2021, in production) and keeps the
    printers heard within their ``max-age``; ``on_found`` hears of each printer the first time (bootstrap
    publishes it on the bus, where the Add machine dialog sees it). A site service (``start``/``stop``)."""

    name = "bambu-discovery"

    def __init__(self, host: str = "0.0.0.0", port: int = NOTIFY_PORT,
                 on_found: Callable[[BambuAnnouncement], None] | None = None) -> None:
        self.host = host
        self.port = port
        self.on_found = on_found
        self._found: dict[str, tuple[BambuAnnouncement, float]] = {}
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self),
                                                               local_addr=(self.host, self.port),
                                                               reuse_port=True, allow_broadcast=True)
        except OSError as exc:  # port taken by a slicer on this computer, or not allowed
            log.warning("Bambu printer discovery is off: cannot listen on UDP %s:%s (%s)", self.host, self.port, exc)
            return
        self._transport = transport  # type: ignore[assignment]
        if self.port == 0:
            self.port = transport.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def health(self) -> str:
        return "ok" if self._transport is not None else "not listening"

    def _seen(self, found: BambuAnnouncement) -> None:
        known = self._found.get(found.serial)
        self._found[found.serial] = (found, time.monotonic() + found.max_age_s)
        if known is None or known[0] != found:
            log.info("found Bambu Lab printer %s (%s) at %s", found.serial, found.model or "?", found.host)
            if self.on_found is not None:
                self.on_found(found)

    def found(self) -> list[BambuAnnouncement]:
        now = time.monotonic()
        self._found = {k: v for k, v in self._found.items() if v[1] > now}
        return sorted((a for a, _ in self._found.values()), key=lambda a: a.serial)
