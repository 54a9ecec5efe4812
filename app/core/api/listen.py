"""Where the local API listens: 127.0.0.1 by default; on the LAN only over TLS (``[api]`` in config.toml)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.domain.errors import ConfigError

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass(frozen=True, slots=True)
class ApiListen:
    host: str = "127.0.0.1"
    port: int = 0
    tls_cert: str = ""
    tls_key: str = ""

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> ApiListen:
        host = str(section.get("host") or "127.0.0.1").strip()
        port = section.get("port", 0)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"[api] port must be 0-65535, not {port!r}")
        out = cls(host, port, str(section.get("tls_cert") or ""), str(section.get("tls_key") or ""))
        if bool(out.tls_cert) != bool(out.tls_key):
            raise ConfigError("[api] needs both tls_cert and tls_key, or neither")
        if not out.tls and host not in _LOOPBACK:
            raise ConfigError(f"[api] host {host!r} is not this machine only: the local API is served on the LAN "
                              "only over TLS; set tls_cert and tls_key, or host = \"127.0.0.1\"")
        return out

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert and self.tls_key)

    @property
    def separate(self) -> bool:
        """A listener of its own beside the loopback channel (TLS, or another address)."""
        return self.tls or self.host not in _LOOPBACK

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(Path(self.tls_cert).expanduser(), Path(self.tls_key).expanduser())
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"[api] cannot load tls_cert/tls_key: {exc}") from exc
        return ctx
