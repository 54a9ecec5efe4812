"""Errors of the site links, each with a message a site admin can act on."""

from __future__ import annotations

from app.core.domain.errors import ImeweError, ValidationError


class SiteError(ImeweError):
    """Something about a linked site went wrong (identity, pairing, the link)."""


class BadSiteId(ValidationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "site_id")


class PeerRefused(SiteError):
    """A site tried to link and is not allowed (unknown, revoked, or its certificate does not match its ID)."""


class MessageRejected(SiteError):
    """A message from a linked site broke the protocol; the link stays up, the message is dropped."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.ref = ref
