"""Operator-facing errors of part and G-code estimation."""

from __future__ import annotations

from app.core.domain.errors import ImeweError


class PartFileError(ImeweError):
    """A part file could not be read; the message names the file and what is wrong with it."""


class UnsupportedFormatError(PartFileError):
    """The file type is unknown, or needs an optional loader that is not installed."""


class EmptyPartError(PartFileError):
    """The file is readable but holds no triangles."""


class GcodeFileError(ImeweError):
    """A G-code file could not be read or holds no motion."""
