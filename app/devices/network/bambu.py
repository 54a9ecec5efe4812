"""Bambu Lab printers (X1, P1, A1 series) in LAN mode: MQTT over TLS for state and commands, implicit FTPS for
files, both with the printer's self-signed certificate pinned on first use.

Address: ``mqtts://<printer ip>[:8883]`` (``?ftps_port=N`` when the file server is not on 990, as in tests).
Secrets: ``access_code`` (the printer's screen, LAN mode), ``serial`` (the printer's serial number; it names the
MQTT topics) and, once pinned, ``cert_sha256``. The protocol itself is in ``bambu_protocol``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import logging
import ssl
import uuid
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import aiomqtt

from app.core.domain.errors import DeviceError
from app.devices.network import bambu_protocol as proto
from app.devices.network.driver import MachineInfo, NetworkDriver
from app.devices.network.errors import BadReply, CredentialsRefused, Unreachable
from app.devices.network.pinned_tls import CertificateChanged, ImplicitFtps, Pin

log = logging.getLogger(__name__)
FIRST_REPORT_S = 10.0  # a printer answers pushall at once; silence means it is not a Bambu printer (or asleep)
_REFUSED_RC = {4, 5, 134, 135}  # MQTT 3.1.1 bad user name or password / not authorised, and their MQTT 5 codes


class BambuDriver(NetworkDriver):
    kind: ClassVar[str] = "bambu"
    label: ClassVar[str] = "Bambu Lab printer"
    credential_name: ClassVar[str] = "access code"
    secret_fields: ClassVar[tuple[str, ...]] = ("access_code", "serial")
    job_suffixes: ClassVar[tuple[str, ...]] = (".3mf", ".gcode")
    schemes: ClassVar[tuple[str, ...]] = ("mqtts",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parts = urlsplit(self.address)
        self.host = parts.hostname or "127.0.0.1"
        self.mqtt_port = parts.port or proto.MQTT_PORT
        query = parse_qs(parts.query)
        self.ftps_port = int(query.get("ftps_port", [proto.FTPS_PORT])[0])
        self.serial = self._secrets.get("serial", "")
        self.codec = proto.BambuCodec(self.serial)
        self.pin = Pin(self._secrets.get("cert_sha256") or None, self.where, self._pinned)
        self._client: aiomqtt.Client | None = None

    def _pinned(self, fp: str) -> None:
        self._secrets["cert_sha256"] = fp
        log.info("%s: pinned the printer's certificate (SHA-256 %s)", self.where, fp)
        if self.save_secrets is not None:
            self.save_secrets({"cert_sha256": fp})

    def _mqtt(self) -> aiomqtt.Client:
        return aiomqtt.Client(self.host, self.mqtt_port, username=proto.USER,
                              password=self._secrets.get("access_code", ""), tls_context=self.pin.context(),
                              tls_insecure=True,  # no host name to check on a self-signed cert: the pin is
                              identifier=f"imewe-{uuid.uuid4().hex[:12]}", keepalive=10,
                              timeout=self.request_timeout_s)

    def _translate(self, exc: aiomqtt.MqttError) -> Exception:
        if self.pin.mismatch is not None:
            return CertificateChanged(self.pin.refusal())
        rc = getattr(exc, "rc", None)
        code = getattr(rc, "value", rc)
        if isinstance(code, int) and code in _REFUSED_RC:
            return CredentialsRefused(f"{self.where}: the {self.credential_name} was refused")
        return Unreachable(f"{self.where}: {exc}")

    # ------------------------------------------------------------------ the link
    async def _session(self) -> None:
        self.codec = proto.BambuCodec(self.serial)
        client = self._mqtt()
        try:
            async with client:
                self._client = client
                await client.subscribe(proto.report_topic(self.serial))
                await client.publish(proto.request_topic(self.serial), self.codec.request_version())
                await client.publish(proto.request_topic(self.serial), self.codec.request_pushall())
                messages = client.messages.__aiter__()
                await asyncio.wait_for(self._first_report(messages), FIRST_REPORT_S)
                self._connected()
                async for message in messages:
                    self._on_message(message)
        except aiomqtt.MqttError as exc:
            raise self._translate(exc) from exc
        except TimeoutError as exc:
            raise Unreachable(f"{self.where}: no report from printer {self.serial} within "
                              f"{FIRST_REPORT_S:.0f} s; check the serial number and that LAN mode is on") from exc
        finally:
            self._client = None

    async def _first_report(self, messages: Any) -> None:
        while True:
            if self._on_message(await messages.__anext__()):
                return

    def _on_message(self, message: aiomqtt.Message) -> bool:
        payload = message.payload
        try:
            report = self.codec.update_report(payload if isinstance(payload, bytes | str) else b"")
        except BadReply as exc:
            raise BadReply(f"{self.where}: {exc}") from exc
        if report is not None:
            self._report(report)
            return True
        return False

    async def _close(self) -> None:
        self._client = None  # the session's ``async with`` closes the connection

    async def probe(self) -> MachineInfo:
        """One short session: the certificate is pinned (if it was not), the access code and serial checked."""
        client = self._mqtt()
        codec = proto.BambuCodec(self.serial)
        try:
            async with client:
                await client.subscribe(proto.report_topic(self.serial))
                await client.publish(proto.request_topic(self.serial), codec.request_version())
                await client.publish(proto.request_topic(self.serial), codec.request_pushall())

                messages = client.messages.__aiter__()

                async def until(done: Any) -> None:
                    while not done():
                        message = await messages.__anext__()
                        codec.update_report(message.payload if isinstance(message.payload, bytes | str) else b"")

                await asyncio.wait_for(until(lambda: "gcode_state" in codec.state), FIRST_REPORT_S)
                if not codec.info:  # the version answer is only for the dialog: ask once more, briefly
                    await client.publish(proto.request_topic(self.serial), codec.request_version())
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(until(lambda: bool(codec.info)), 3.0)
        except aiomqtt.MqttError as exc:
            raise self._translate(exc) from exc
        except TimeoutError as exc:
            raise Unreachable(f"{self.where}: no answer from printer {self.serial} within "
                              f"{FIRST_REPORT_S:.0f} s; check the serial number and that LAN mode is on") from exc
        return MachineInfo(name=self.serial, model="Bambu Lab", firmware=codec.firmware(),
                           capabilities=codec.capabilities())

    # ------------------------------------------------------------------ commands
    async def _publish(self, payload: bytes) -> None:
        client = self._client
        if client is None:
            raise DeviceError(f"{self.where}: not connected")
        try:
            await client.publish(proto.request_topic(self.serial), payload)
        except aiomqtt.MqttError as exc:
            raise DeviceError(f"{self.where}: the command was not sent ({exc})") from exc

    def _ftps_upload(self, path: Path, remote: str) -> None:
        """Runs in a worker thread: ftplib blocks."""
        ftp = ImplicitFtps(context=self.pin.context(), timeout=self.request_timeout_s)
        try:
            ftp.connect(self.host, self.ftps_port)
            try:
                ftp.login(proto.USER, self._secrets.get("access_code", ""))
            except ftplib.error_perm as exc:
                raise CredentialsRefused(f"{self.where}: the {self.credential_name} was refused "
                                         "by the file server") from exc
            ftp.prot_p()
            with path.open("rb") as f:
                ftp.storbinary(f"STOR {remote}", f, blocksize=256 * 1024)
        except ssl.SSLCertVerificationError as exc:
            raise CertificateChanged(self.pin.refusal()) from exc
        except (OSError, EOFError) as exc:
            raise DeviceError(f"{self.where}: sending {path.name} over FTPS failed: {exc}") from exc
        except ftplib.Error as exc:
            raise DeviceError(f"{self.where}: the file server refused {path.name}: {exc}") from exc
        finally:
            try:
                ftp.quit()
            except (OSError, EOFError, ftplib.Error):
                ftp.close()

    async def _upload_and_start(self, path: Path, remote: str) -> None:
        if self._client is None:
            raise DeviceError(f"{self.where}: not connected")
        await asyncio.get_running_loop().run_in_executor(None, self._ftps_upload, path, remote)
        await self._publish(self.codec.request_start(remote))

    async def _request_pause(self) -> None:
        await self._publish(self.codec.request_pause())

    async def _request_resume(self) -> None:
        await self._publish(self.codec.request_resume())

    async def _request_cancel(self) -> None:
        await self._publish(self.codec.request_stop())

    async def _request_estop(self) -> str:
        # LAN mode has no emergency-stop command: M112 through gcode_line halts the firmware, and a stop
        # follows in case this firmware ignores it.
        await self._publish(self.codec.request_gcode_line("M112"))
        await self._publish(self.codec.request_stop())
        return "M112 and a stop were sent; the printer must be power-cycled before the next job"

    async def _send_gcode(self, lines: list[str]) -> None:
        for line in lines:
            await self._publish(self.codec.request_gcode_line(line))

