"""Signed, expiring session tokens: ``ims1.<payload>.<signature>``, HMAC-SHA256 with the site's signing key.

The payload names the user and the user's token version; the service checks both against the store on every use,
so a new password, a role change or disabling the person ends every session at once. Tokens are not encrypted
(they hold a name and times, no secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from app.core.domain.errors import AuthError

PREFIX = "ims1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: str
    name: str
    version: int
    issued_at: float
    expires_at: float


def sign(key: bytes, claims: Claims) -> str:
    body = _b64(json.dumps({"u": claims.user_id, "n": claims.name, "v": claims.version,
                            "iat": round(claims.issued_at, 3), "exp": round(claims.expires_at, 3)},
                           separators=(",", ":")).encode())
    sig = _b64(hmac.new(key, f"{PREFIX}.{body}".encode(), hashlib.sha256).digest())
    return f"{PREFIX}.{body}.{sig}"


def looks_like_session(token: str) -> bool:
    return token.startswith(PREFIX + ".")


def verify(key: bytes, token: str, now_s: float) -> Claims:
    """The claims of a well-signed, unexpired token, else AuthError (one line, nothing about the key)."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX or len(token) > 2048:
        raise AuthError("that is not an Imewe session token")
    expected = _b64(hmac.new(key, f"{PREFIX}.{parts[1]}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        raise AuthError("the session token's signature does not match this site; sign in again: imewe login")
    try:
        data = json.loads(_unb64(parts[1]))
        claims = Claims(str(data["u"]), str(data["n"]), int(data["v"]), float(data["iat"]), float(data["exp"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthError("the session token is damaged; sign in again: imewe login") from exc
    if claims.expires_at <= now_s:
        raise AuthError("the session has expired; sign in again: imewe login")
    return claims
