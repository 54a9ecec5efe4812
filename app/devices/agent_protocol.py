"""The node agent's wire protocol (versioned JSON over websocket with TLS) and its identity key.

    client → agent   {"v":2,"type":"hello","token":...,"nonce":<hex>,"client":...}
    agent  → client  {"v":2,"type":"welcome","node_id":...,"name":...,"capabilities":{...},"state":...,
                      "public_key":<hex>,"signature":<hex of Ed25519(nonce)>,
                      "jobs":[{"run_id","job_id","part_id","copy","state","fraction",...}, ...]}
    client → agent   {"v":2,"type":"cmd","id":n,"op":"execute|pause|resume|cancel|estop|calibrate|status","args":{}}
    agent  → client  {"v":2,"type":"result","id":n,"ok":true|false,"message":...,"status":{...}}
    agent  → client  {"v":2,"type":"event","event":"state|telemetry|progress|finished|fault",...}

``jobs`` is the agent's record of its current and last runs (newest first): a control room that lost the link
learns from it what ran, finished or failed while apart. Before the hello is accepted, frames are limited to
``PRE_AUTH_MAX_BYTES``.

The pairing token admits a control room; the agent proves who it is first, in the TLS handshake, with a
certificate self-signed by its Ed25519 key (``agent_tls``): the control room sends the hello only when that key's
fingerprint (SHA-256 of the public key) is the one a person accepted. The welcome signs the client's nonce with
the same key as well. The fingerprint is also in the zeroconf TXT record, to show before acceptance. The node id
is derived from the public key, so an agent keeps its id across restarts.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.core.discovery.agent_trust import key_fingerprint, node_id_for_key
from app.core.domain.errors import AuthError, DeviceError
from app.core.drivers import (
    DriverEvent,
    DriverFault,
    DriverJobFinished,
    DriverJobProgress,
    DriverState,
    DriverStateChanged,
    DriverTelemetry,
    JobCheckpoint,
    JobOutcome,
)

PROTOCOL_VERSION = 2  # 2: the link is TLS (wss), the key is checked before the token is sent
SERVICE_TYPE = "_imewe-node._tcp.local."
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a large G-code program travels in one execute message (once paired)
PRE_AUTH_MAX_BYTES = 64 * 1024  # a hello is tiny: anything bigger before pairing is refused unread
AUTH_CLOSE_CODE = 4401


def fingerprint(public_key_raw: bytes) -> str:
    return key_fingerprint(public_key_raw)


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> AgentIdentity:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> AgentIdentity:
        """The agent's key, kept in a file only its user can read (created on first start)."""
        if path.exists():
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (ValueError, OSError) as exc:
                raise DeviceError(f"cannot read the node key {path}: {exc}; delete it to make a new one") from exc
            if not isinstance(key, Ed25519PrivateKey):
                raise DeviceError(f"{path} is not an Ed25519 node key")
            return cls(key)
        ident = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ident.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())
        path.write_bytes(pem)
        path.chmod(0o600)
        return ident

    @property
    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_raw)

    @property
    def node_id(self) -> uuid.UUID:
        return node_id_for_key(self.public_raw)

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def verify_welcome(msg: dict[str, Any], nonce: bytes, expected_fingerprint: str | None) -> None:
    """Check that the agent holds the key it claims, and that it is the one we expect."""
    try:
        raw = bytes.fromhex(str(msg["public_key"]))
        sig = bytes.fromhex(str(msg["signature"]))
        Ed25519PublicKey.from_public_bytes(raw).verify(sig, nonce)
    except (KeyError, ValueError, InvalidSignature) as exc:
        raise AuthError("the node agent could not prove its identity (bad signature)") from exc
    if expected_fingerprint and fingerprint(raw) != expected_fingerprint:
        raise AuthError(f"the node agent's key fingerprint {fingerprint(raw)} is not the expected "
                        f"{expected_fingerprint}; someone else may be answering at that address")


def encode(kind: str, **fields: Any) -> str:
    return json.dumps({"v": PROTOCOL_VERSION, "type": kind, **fields}, separators=(",", ":"))


def decode(text: str | bytes) -> dict[str, Any]:
    try:
        msg = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeviceError("node agent message is not JSON") from exc
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise DeviceError("node agent message has no type")
    if msg.get("v") != PROTOCOL_VERSION:
        raise DeviceError(f"node agent protocol version {msg.get('v')!r} is not supported "
                          f"(this side speaks {PROTOCOL_VERSION}); update the older side")
    return msg


# ------------------------------------------------------------------ driver events ↔ JSON
def event_to_wire(ev: DriverEvent) -> dict[str, Any]:
    if isinstance(ev, DriverStateChanged):
        return {"event": "state", "state": ev.state.value, "reason": ev.reason}
    if isinstance(ev, DriverTelemetry):
        return {"event": "telemetry", "metrics": ev.metrics, "job_id": _s(ev.job_id)}
    if isinstance(ev, DriverJobProgress):
        return {"event": "progress", "job_id": _s(ev.job_id), "fraction": ev.fraction,
                "lines_acked": ev.lines_acked, "lines_total": ev.lines_total, "material_used_g": ev.material_used_g}
    if isinstance(ev, DriverJobFinished):
        cp = ev.checkpoint
        return {"event": "finished", "job_id": _s(ev.job_id), "outcome": ev.outcome.value, "message": ev.message,
                "checkpoint": None if cp is None else {"lines_acked": cp.lines_acked, "lines_total": cp.lines_total,
                                                       "fraction": cp.fraction, "position": cp.position}}
    if isinstance(ev, DriverFault):
        return {"event": "fault", "kind": ev.kind, "message": ev.message, "fatal": ev.fatal, "code": ev.code}
    raise TypeError(f"no wire form for {type(ev).__name__}")


def event_from_wire(msg: dict[str, Any]) -> DriverEvent:
    kind = msg.get("event")
    try:
        if kind == "state":
            return DriverStateChanged(DriverState(msg["state"]), str(msg.get("reason", "")))
        if kind == "telemetry":
            metrics = {str(k): float(v) for k, v in dict(msg["metrics"]).items()}
            return DriverTelemetry(metrics, _uuid(msg.get("job_id")))
        if kind == "progress":
            return DriverJobProgress(_uuid(msg.get("job_id")), float(msg["fraction"]), int(msg.get("lines_acked", 0)),
                                     int(msg.get("lines_total", 0)), float(msg.get("material_used_g", 0.0)))
        if kind == "finished":
            job_id = _uuid(msg.get("job_id"))
            cp = msg.get("checkpoint")
            checkpoint = None if not cp else JobCheckpoint(job_id, int(cp["lines_acked"]), int(cp["lines_total"]),
                                                           float(cp["fraction"]), dict(cp.get("position") or {}))
            return DriverJobFinished(job_id, JobOutcome(msg["outcome"]), str(msg.get("message", "")), checkpoint)
        if kind == "fault":
            code = msg.get("code")
            return DriverFault(str(msg["kind"]), str(msg["message"]), bool(msg.get("fatal", True)),
                               None if code is None else int(code))
    except (KeyError, ValueError, TypeError) as exc:
        raise DeviceError(f"malformed {kind} event from node agent: {exc}") from exc
    raise DeviceError(f"unknown event {kind!r} from node agent")


def _s(v: uuid.UUID | None) -> str | None:
    return None if v is None else str(v)


def _uuid(v: Any) -> uuid.UUID | None:
    return None if v in (None, "") else uuid.UUID(str(v))
