"""TLS for the agent link, with no certificate authority: the agent's certificate is self-signed with its own
Ed25519 identity key, and the control room trusts the key, not the certificate.

The agent makes a fresh certificate for its key at each start (only the key is kept). The control room does not
verify a chain: after the TLS 1.3 handshake (whose CertificateVerify proves the agent holds the certificate's
private key) it reads the key out of the certificate and compares its fingerprint with the one a person accepted.
Only then does it send the pairing token, so the token never reaches anyone but the accepted agent, and never
crosses the network in clear.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import NameOID

from app.core.domain.errors import AuthError
from app.devices.agent_protocol import AgentIdentity, fingerprint


def certificate_pem(identity: AgentIdentity) -> bytes:
    """A self-signed certificate for the agent's key (Ed25519 signs it; no digest is named)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"imewe-node-{identity.fingerprint[:16]}")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(identity.private_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(identity.private_key, None))
    return cert.public_bytes(serialization.Encoding.PEM)


def server_context(identity: AgentIdentity) -> ssl.SSLContext:
    """The agent's listening context. The key and certificate pass through a private temporary folder (the ssl
    module loads only files) that is removed as soon as they are loaded."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    folder = Path(tempfile.mkdtemp(prefix="imewe-node-tls-"))  # mode 0700
    try:
        key_path, cert_path = folder / "node.key", folder / "node.crt"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(identity.private_key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
        cert_path.write_bytes(certificate_pem(identity))
        ctx.load_cert_chain(str(cert_path), str(key_path))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ctx


def client_context() -> ssl.SSLContext:
    """The control room's context: no chain and no host name to check (the agent is named by its key, checked
    with ``peer_key`` right after the handshake, before anything is sent)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def peer_key(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> tuple[str, bytes]:
    """The fingerprint and raw Ed25519 public key of the agent's certificate on this TLS connection."""
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        raise AuthError("the node agent showed no certificate")
    try:
        key = x509.load_der_x509_certificate(der).public_key()
    except ValueError as exc:
        raise AuthError(f"the node agent's certificate is unreadable: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AuthError("the node agent's certificate does not carry an Ed25519 node key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return fingerprint(raw), raw
