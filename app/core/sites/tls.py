"""TLS contexts for site links. Certificates are self-signed, so trust is built from the allow list itself.

Two kinds of connection share one listening port, told apart by the server name the dialer sends:
- ``hello.imewe``: the dialer presents no certificate; it learns ours (checked against our ID by hash) and
  hands over its own certificate as data. Nothing else is said on it.
- ``link.imewe``: the real link, mutual TLS. Each side trusts exactly the pinned certificates of the sites on
  its allow list and checks the peer's certificate hash against the expected ID again after the handshake.

OpenSSL keeps the verify mode of the listening context when the server-name callback swaps contexts (only the
trust store follows the swap), so the listener runs CERT_OPTIONAL: a presented certificate must verify against
the allow list or the handshake fails, and a link connection that presents none is refused by ``peer_cert``
checks right after the handshake. The dialing side is CERT_REQUIRED.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable

from app.core.sites.identity import SiteIdentity

HELLO_NAME = "hello.imewe"
LINK_NAME = "link.imewe"


def _base(purpose: int, identity: SiteIdentity) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(str(identity.cert_path), str(identity.key_path))
    return ctx


def _trust(ctx: ssl.SSLContext, certs: Iterable[bytes]) -> None:
    data = b"".join(certs)
    if data:
        ctx.load_verify_locations(cadata=data)


def server_link_context(identity: SiteIdentity, trusted: Iterable[bytes]) -> ssl.SSLContext:
    ctx = _base(ssl.PROTOCOL_TLS_SERVER, identity)
    ctx.verify_mode = ssl.CERT_REQUIRED
    _trust(ctx, trusted)
    return ctx


def server_hello_context(identity: SiteIdentity) -> ssl.SSLContext:
    ctx = _base(ssl.PROTOCOL_TLS_SERVER, identity)
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def server_context(identity: SiteIdentity, link_context: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """The listening context: picks the hello or the link context per connection, from the server name.

    ``link_context`` is called for every link handshake so a revoked site is refused at once.
    """
    hello = server_hello_context(identity)
    # Without a matching name the handshake runs on an empty trust store: any certificate fails.
    default = server_link_context(identity, ())
    default.verify_mode = ssl.CERT_OPTIONAL

    def pick(sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        if server_name == HELLO_NAME:
            sslobj.context = hello
        elif server_name == LINK_NAME:
            sslobj.context = link_context()

    default.sni_callback = pick
    return default


def client_context(identity: SiteIdentity, pinned: bytes | None) -> ssl.SSLContext:
    """``pinned``: the peer's certificate, trusted alone. None: the hello probe, checked by hash afterwards."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # the peer is named by its certificate hash, not a host name
    if pinned is None:
        ctx.verify_mode = ssl.CERT_NONE  # the hello: no client certificate either
    else:
        ctx.load_cert_chain(str(identity.cert_path), str(identity.key_path))
        ctx.verify_mode = ssl.CERT_REQUIRED
        _trust(ctx, [pinned])
    return ctx


def peer_cert(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> bytes | None:
    if ssl_object is None:
        return None
    return ssl_object.getpeercert(binary_form=True)
