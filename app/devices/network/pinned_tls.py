"""TLS to a machine with a self-signed certificate: no CA can vouch for it, so its SHA-256 fingerprint is pinned on
first use and every later connection must present the same certificate (trust on first use, as SSH does).

The check runs inside the TLS handshake of every socket made from the context (MQTT's and FTPS's control and
data connections alike), so nothing is sent to a machine whose certificate changed.
"""

from __future__ import annotations

import ftplib
import hashlib
import socket
import ssl
from collections.abc import Callable
from typing import Any

from app.devices.network.errors import CredentialsRefused


class CertificateChanged(CredentialsRefused):
    """The machine presents another certificate than the one pinned: refuse until an operator re-pins it."""

    alert_kind = "certificate_changed"


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


class Pin:
    """Holds the expected fingerprint (None: not pinned yet) and what was seen. ``on_pinned`` is told the
    fingerprint the first time one is seen (to store it with the machine's secrets)."""

    def __init__(self, expected: str | None, where: str,
                 on_pinned: Callable[[str], None] | None = None) -> None:
        self.expected = expected.lower().replace(":", "") if expected else None
        self.where = where
        self.on_pinned = on_pinned
        self.seen: str | None = None
        self.mismatch: str | None = None  # the fingerprint that was refused, if one was

    def check(self, der: bytes | None) -> None:
        if not der:
            raise ssl.SSLError(f"{self.where}: the machine presented no certificate")
        fp = fingerprint(der)
        self.seen = fp
        if self.expected is None:
            self.expected = fp
            if self.on_pinned is not None:
                self.on_pinned(fp)
            return
        if fp != self.expected:
            self.mismatch = fp
            raise ssl.SSLCertVerificationError(self.refusal())

    def refusal(self) -> str:
        return (f"{self.where}: the machine's TLS certificate changed (SHA-256 {self.mismatch or '?'}, pinned "
                f"{self.expected}); refused. If the printer was reset or replaced, re-pin it with "
                "imewe nodes add ... --repin")

    def context(self) -> ssl.SSLContext:
        """A client context that accepts only the pinned certificate (any certificate when none is pinned yet,
        and that one is pinned)."""
        # A bare context: no CA store to load (that costs the event loop tens of milliseconds per connection),
        # since no CA signs a printer's certificate: the pin is the check.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        pin = self

        class PinnedSocket(ssl.SSLSocket):
            def do_handshake(self, block: bool = False) -> None:
                super().do_handshake(block)
                pin.check(self.getpeercert(binary_form=True))

        ctx.sslsocket_class = PinnedSocket
        return ctx


class ImplicitFtps(ftplib.FTP_TLS):
    """FTP over TLS from the first byte (port 990), control and data connections both pinned; the data
    connections reuse the control connection's TLS session, as vsftpd-style servers require."""

    def connect(self, host: str = "", port: int = 0, timeout: float = -999,  # type: ignore[override]
                source_address: Any = None) -> str:
        self.host, self.port = host, port
        if timeout != -999:
            self.timeout = timeout
        raw = socket.create_connection((host, port), self.timeout)
        self.af = raw.family
        self.sock = self.context.wrap_socket(raw, server_hostname=host)
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def ntransfercmd(self, cmd: str, rest: Any = None) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)  # type: ignore[union-attr]
        return conn, size
