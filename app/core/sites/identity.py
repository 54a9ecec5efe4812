"""A site's identity: a key pair and a self-signed certificate, made on first start and kept in the keys folder.

The site ID is the SHA-256 of the certificate (see ``site_id``), so it never changes while the files stay.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.core.sites.errors import SiteError
from app.core.sites.site_id import site_id_for_cert

log = logging.getLogger(__name__)
KEY_FILE = "site.key"
CERT_FILE = "site.crt"
# RFC 5280: a certificate with no well-defined end; the ID must outlive any planned replacement.
NOT_AFTER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SiteIdentity:
    site_id: str
    cert_der: bytes
    key_path: Path
    cert_path: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert_path.read_bytes()


def load_or_create_identity(keys_dir: Path, name: str = "Imewe site") -> SiteIdentity:
    keys_dir.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = keys_dir / KEY_FILE, keys_dir / CERT_FILE
    if key_path.exists() != cert_path.exists():
        missing = cert_path if key_path.exists() else key_path
        raise SiteError(f"site identity is incomplete: {missing} is missing; restore it from a backup, or delete "
                        f"both {KEY_FILE} and {CERT_FILE} to make a new identity (linked sites must re-pair)")
    if not key_path.exists():
        _create(key_path, cert_path, name)
    _check_private(key_path)
    return _load(key_path, cert_path)


def _check_private(key_path: Path) -> None:
    """A site key other users can read is no secret any more: refuse it rather than use it."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(key_path.stat().st_mode)
    if mode & 0o077:
        raise SiteError(f"{key_path} can be read by other users (mode {mode:04o}); fix it with: chmod 600 {key_path}")


def _create(key_path: Path, cert_path: Path, name: str) -> None:
    # P-256: fast handshakes, supported by every TLS stack.
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imewe-site"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, (name or "Imewe site")[:64])])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("imewe-site")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    # The key is written 0600 from the start: never readable by others, not even for an instant.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.info("made a new site identity in %s", key_path.parent)


def _load(key_path: Path, cert_path: Path) -> SiteIdentity:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SiteError(f"cannot read the site identity in {key_path.parent}: {exc}") from exc
    pub = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if cert.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo) != pub:
        raise SiteError(f"{cert_path} does not belong to {key_path}; restore the matching pair from a backup")
    der = cert.public_bytes(serialization.Encoding.DER)
    return SiteIdentity(site_id_for_cert(der), der, key_path, cert_path)
