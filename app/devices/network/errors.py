"""What a network driver's link can fail with. All are ``ImeweError`` so the operator sees the message as-is."""

from __future__ import annotations

from app.core.domain.errors import AuthError, DeviceError


class CredentialsRefused(AuthError):
    """The machine refused the key / access code / password: retrying will not help, an operator must act."""


class Unreachable(DeviceError):
    """Nothing answered at the address (refused, timed out, DNS): retried with backoff."""


class BadReply(DeviceError):
    """The machine answered with something that is not its documented protocol (malformed JSON, wrong shape)."""
