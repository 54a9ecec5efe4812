"""The software a control room pushes to its node agents: a tarball of the ``app`` package it runs itself, signed
with the site's key.

The tarball holds only ``app/`` (Python sources and resources the agent needs; no caches), with fixed owners and
times, so the same install gives the same bytes. The signature (ECDSA P-256, SHA-256) covers a short statement of
the version and the tarball's SHA-256; the agent checks it against the site key it pinned when the site first
paired with it (with the pairing token), and installs nothing that does not verify.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.core.domain.errors import AuthError, ValidationError

MAX_PACKAGE_BYTES = 40 * 1024 * 1024
_SKIP_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".tmp")


@dataclass(frozen=True, slots=True)
class AgentPackage:
    version: str
    data: bytes  # the tar.gz
    sha256: str
    signature: str = ""  # hex

    def statement(self) -> bytes:
        return statement(self.version, self.sha256)

    def meta(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256, "size": len(self.data),
                "signature": self.signature}


def statement(version: str, sha256: str) -> bytes:
    return f"imewe-agent-package\n{version}\n{sha256}\n".encode()


def build_package(source: Path, version: str) -> AgentPackage:
    """A tarball of the ``app`` package at ``source`` (the folder named ``app``)."""
    if not (source / "__init__.py").is_file():
        raise ValidationError(f"{source} is not the app package (no __init__.py)")
    check_version(version)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source)
            if any(part in _SKIP_DIRS for part in rel.parts) or path.name.endswith(_SKIP_SUFFIXES) \
                    or path.is_symlink() or not path.is_file():
                continue
            info = tar.gettarinfo(str(path), arcname=f"app/{rel.as_posix()}")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o644
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    data = buf.getvalue()
    if len(data) > MAX_PACKAGE_BYTES:
        raise ValidationError(f"the package is {len(data) / 1e6:.1f} MB, over the {MAX_PACKAGE_BYTES // 2**20} MiB "
                              "an agent takes")
    return AgentPackage(version, data, hashlib.sha256(data).hexdigest())


def sign_package(package: AgentPackage, key_path: Path) -> AgentPackage:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise AuthError(f"{key_path} is not the site's EC key")
    sig = key.sign(package.statement(), ec.ECDSA(hashes.SHA256()))
    return AgentPackage(package.version, package.data, package.sha256, sig.hex())


def verify_package(meta: dict[str, Any], data: bytes, site_key_pem: bytes) -> str:
    """The package's version when ``data`` is what ``meta`` says and the site key signed it; AuthError if not."""
    version = str(meta.get("version") or "")
    check_version(version)
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta.get("sha256"):
        raise AuthError("the package is not the one signed (its SHA-256 differs): refused")
    try:
        key = serialization.load_pem_public_key(site_key_pem)
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("not an EC key")
        key.verify(bytes.fromhex(str(meta.get("signature") or "")), statement(version, digest),
                   ec.ECDSA(hashes.SHA256()))
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise AuthError("the package's signature does not verify with the site key this agent pinned: "
                        "refused, nothing installed") from exc
    return version


def site_public_pem(cert_pem: bytes) -> bytes:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_version(version: str) -> str:
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,40}", version or ""):
        raise ValidationError(f"{version[:50]!r} is not a version", "version")
    return version


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """Order versions by their leading numbers (0.10.0 after 0.9.2), then the rest of the text."""
    m = re.match(r"(\d+(?:\.\d+)*)(.*)", version or "")
    if m is None:
        return (), version or ""
    return tuple(int(x) for x in m.group(1).split(".")), m.group(2)


def is_older(version: str, than: str) -> bool:
    return version_key(version) < version_key(than)
