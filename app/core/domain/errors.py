"""Our own exception types. Every message is one an operator can act on."""

from __future__ import annotations


class ImeweError(Exception):
    """Base of every error Imewe raises on purpose; the CLI and UI show its message as-is."""


class ValidationError(ImeweError):
    """Input that breaks a rule. ``field`` names the offending field so a form can show it beside it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(ImeweError):
    pass


class IllegalTransitionError(ImeweError):
    def __init__(self, kind: str, obj_id: object, current: object, target: object) -> None:
        cur = getattr(current, "value", current)
        tgt = getattr(target, "value", target)
        super().__init__(f"{kind} {obj_id} cannot go from {cur} to {tgt}")
        self.kind = kind
        self.obj_id = obj_id
        self.current = current
        self.target = target


class StoreError(ImeweError):
    pass


class ConfigError(ImeweError):
    pass


class DeviceError(ImeweError):
    """A machine or its link failed; the message says what the machine reported."""


class AuthError(ImeweError):
    pass


class PermissionDenied(ImeweError):
    """The person is known but their role does not allow the action (HTTP 403, CLI exit 2)."""
