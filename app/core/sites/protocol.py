"""The site-link protocol, sans I/O: versioned JSON envelopes, a schema per message type, size and rate limits,
and per-connection ordering. Text in, checked messages out; nothing here touches a socket or the store.

Envelope: ``{"v": 1, "type": "...", "seq": n, "key": "..."?, "body": {...}}``
- ``seq`` grows by at least one on every message a side sends on a connection; a smaller or equal one is
  out of order (a replay, or a bug) and is rejected. ``hello`` must come first, once.
- ``key`` marks a reliable message from the sender's persistent outbox: the receiver applies it at most once
  (inbox dedup) and acknowledges it by key, even when it has seen it before.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from app.core.sites.errors import MessageRejected

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
MAX_MESSAGE_BYTES = 1_048_576
# The websocket layer drops the link only above this; between the two a message is rejected, the link stays.
TRANSPORT_MAX_BYTES = 4 * MAX_MESSAGE_BYTES
MAX_KEY = 64
CHUNK_BYTES = 512 * 1024  # of a part file, per message: its base64 stays well under the message limit
CHUNK_B64 = 4 * ((CHUNK_BYTES + 2) // 3)
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_FILES = 100
MAX_OFFLOAD_FILE_BYTES = 1024 * 1024 * 1024  # all the files of one offload
MAX_PENDING_CHUNKS = 2 * MAX_OFFLOAD_FILE_BYTES // CHUNK_BYTES  # pieces a site may have waiting at another
MARKET = frozenset({"market.offers", "market.quote.ask", "market.quote", "market.rating", "market.comment"})
MAX_OFFERS = 100  # per message: a catalogue travels in pages
RELIABLE = frozenset({"offload.request", "offload.status", "offload.cancel", "share", "comment", "file.chunk"}) | MARKET

STR, INT, NUM, BOOL, DICT, LIST = str, int, float, bool, dict, list


@dataclass(frozen=True, slots=True)
class F:
    """One body field: its type, whether it must be there, and a bound (text length, list length, range)."""

    type: type
    required: bool = True
    max_len: int = 0
    lo: float | None = None
    hi: float | None = None
    choices: frozenset[str] | None = None
    nullable: bool = False


SCHEMAS: dict[str, dict[str, F]] = {
    "hello": {"name": F(STR, max_len=200), "versions": F(LIST, max_len=16)},
    "ping": {"t": F(NUM)},
    "pong": {"t": F(NUM)},
    "ack": {"keys": F(LIST, max_len=1000)},
    "error": {"code": F(STR, max_len=40), "message": F(STR, max_len=500), "ref": F(STR, False, MAX_KEY, nullable=True)},
    "summary": {"at": F(NUM), "machines": F(DICT), "capacity": F(LIST, max_len=500),
                "energy": F(DICT, nullable=True), "alerts": F(INT, lo=0, nullable=True), "jobs": F(DICT, False),
                "privacy": F(DICT, False), "location": F(DICT, False), "learning": F(DICT, False)},
    "offload.request": {"name": F(STR, max_len=200), "spec": F(DICT), "parts": F(LIST, max_len=1000),
                        "files": F(LIST, False, MAX_FILES), "order": F(DICT, False)},
    "file.chunk": {"sha256": F(STR, max_len=64), "size": F(INT, lo=0, hi=MAX_FILE_BYTES), "pos": F(INT, lo=0),
                   "data": F(STR, max_len=CHUNK_B64), "chunk_sha256": F(STR, max_len=64)},
    "offload.status": {"offload": F(STR, max_len=MAX_KEY), "state": F(STR, max_len=20), "version": F(INT, lo=0),
                       "reason": F(STR, max_len=1000), "remote_job_id": F(STR, False, 36, nullable=True),
                       "part_states": F(LIST, max_len=1000)},
    "offload.cancel": {"offload": F(STR, max_len=MAX_KEY), "reason": F(STR, max_len=1000)},
    "share": {"kind": F(STR, choices=frozenset({"template", "playbook"})), "id": F(STR, max_len=36),
              "name": F(STR, max_len=200), "version": F(INT, lo=1, hi=1_000_000), "item": F(DICT)},
    "market.offers": {"offers": F(LIST, max_len=MAX_OFFERS)},
    "market.quote.ask": {"quote": F(STR, max_len=MAX_KEY), "offer": F(STR, max_len=36), "job_name": F(STR, max_len=200),
                         "parts": F(INT, lo=1, hi=1_000_000), "hours": F(NUM, lo=0, hi=1e6),
                         "processes": F(LIST, max_len=50), "materials": F(LIST, max_len=50)},
    "market.quote": {"quote": F(STR, max_len=MAX_KEY), "state": F(STR, choices=frozenset({"QUOTED", "REFUSED"})),
                     "amount": F(NUM, lo=0, hi=1e15, nullable=True), "currency": F(STR, max_len=8),
                     "valid_until": F(NUM, nullable=True), "reason": F(STR, max_len=1000)},
    "market.rating": {"order": F(STR, max_len=MAX_KEY), "stars": F(INT, lo=1, hi=5), "note": F(STR, max_len=1000)},
    "market.comment": {"subject": F(STR, max_len=80), "author": F(STR, max_len=100), "text": F(STR, max_len=5000),
                       "at": F(NUM)},
    "presence": {"subject": F(STR, max_len=80), "who": F(STR, max_len=100), "viewing": F(BOOL)},
    "comment": {"offload": F(STR, max_len=MAX_KEY), "author": F(STR, max_len=100), "text": F(STR, max_len=5000),
                "at": F(NUM)},
}

# One offer of a "market.offers" message (checked by the marketplace, element by element).
OFFER_SCHEMA: dict[str, F] = {
    "id": F(STR, max_len=36), "kind": F(STR, choices=frozenset({"capacity", "template", "playbook"})),
    "name": F(STR, max_len=200), "process": F(STR, max_len=40), "material": F(STR, max_len=40),
    "price_per_hour": F(NUM, lo=0, hi=1e9, nullable=True), "price_per_part": F(NUM, lo=0, hi=1e9, nullable=True),
    "currency": F(STR, max_len=8), "lead_time_h": F(NUM, lo=0, hi=1e5, nullable=True), "item": F(DICT),
    "version": F(INT, lo=1, hi=1_000_000_000), "withdrawn": F(BOOL)}

_KEYS = {t: frozenset(fields) for t, fields in SCHEMAS.items()}


@dataclass(slots=True)  # not frozen: a frozen dataclass is slower to build, and this is on every message
class Message:
    type: str
    seq: int
    body: dict[str, Any]
    key: str | None = None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


# Built once: json.dumps/loads with options build a new coder on every call, which shows on a busy link.
_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_DECODE = json.JSONDecoder(parse_constant=_no_constant).decode


def encode(type_: str, seq: int, body: dict[str, Any], key: str | None = None) -> str:
    env: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": type_, "seq": seq, "body": body}
    if key is not None:
        env["key"] = key
    return _ENCODE(env)


def decode(data: str | bytes) -> Message:
    """Parse and check one message, or raise ``MessageRejected`` saying what is wrong."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageRejected("too_large", f"message of {len(data)} bytes is over the {MAX_MESSAGE_BYTES} limit")
    if isinstance(data, bytes):
        raise MessageRejected("malformed", "binary messages are not part of the protocol")
    try:
        env = _DECODE(data)
    except (ValueError, RecursionError) as exc:
        raise MessageRejected("malformed", f"not JSON: {str(exc)[:100]}") from exc
    if not isinstance(env, dict):
        raise MessageRejected("malformed", "a message is a JSON object")
    key = env.get("key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= MAX_KEY):
        raise MessageRejected("malformed", "key must be text of 1 to 64 characters")
    v = env.get("v")
    if v not in SUPPORTED_VERSIONS or isinstance(v, bool):
        raise MessageRejected("version", f"protocol version {str(v)[:10]} is not supported "
                                         f"(this site speaks {sorted(SUPPORTED_VERSIONS)})", key)
    type_ = env.get("type")
    if not isinstance(type_, str) or type_ not in SCHEMAS:
        raise MessageRejected("unknown_type", f"unknown message type {str(type_)[:40]!r}", key)
    seq = env.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise MessageRejected("malformed", "seq must be a non-negative whole number", key)
    if (type_ in RELIABLE) != (key is not None):
        raise MessageRejected("malformed", f"{type_} {'needs' if type_ in RELIABLE else 'takes no'} key", key)
    body = env.get("body")
    if not isinstance(body, dict):
        raise MessageRejected("malformed", "body must be an object", key)
    check_body(type_, body, key)
    return Message(type_, seq, body, key)


def check_body(type_: str, body: dict[str, Any], key: str | None = None,
               schema: dict[str, F] | None = None) -> None:
    """``body`` against the schema of its type (or the one given, for an element of a list)."""
    schema = schema if schema is not None else SCHEMAS[type_]
    extra = body.keys() - (_KEYS[type_] if type_ in _KEYS and schema is SCHEMAS[type_] else schema.keys())
    if extra:
        raise MessageRejected("schema", f"{type_}: unexpected field {sorted(extra)[0][:40]!r}", key)
    for name, f in schema.items():
        if name not in body:
            if f.required:
                raise MessageRejected("schema", f"{type_}: {name} is missing", key)
            continue
        value = body[name]
        if value is None:
            if not f.nullable:
                raise MessageRejected("schema", f"{type_}: {name} must not be null", key)
            continue
        _check_field(type_, name, f, value, key)


def _check_field(type_: str, name: str, f: F, value: Any, key: str | None) -> None:
    ok = isinstance(value, f.type) and not isinstance(value, bool) if f.type is not bool else isinstance(value, bool)
    if f.type is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        raise MessageRejected("schema", f"{type_}: {name} must be {f.type.__name__}", key)
    if f.max_len and isinstance(value, str | list) and len(value) > f.max_len:
        raise MessageRejected("schema", f"{type_}: {name} is longer than {f.max_len}", key)
    if f.lo is not None and value < f.lo or f.hi is not None and value > f.hi:
        raise MessageRejected("schema", f"{type_}: {name} is out of range", key)
    if f.choices is not None and value not in f.choices:
        raise MessageRejected("schema", f"{type_}: {name} must be one of {sorted(f.choices)}", key)


@dataclass(slots=True)
class TokenBucket:
    """Allows ``rate`` messages a second on average and bursts of ``burst``."""

    rate: float
    burst: float
    tokens: float = -1.0
    at: float = field(default_factory=time.monotonic)

    def allow(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if self.tokens < 0:
            self.tokens = self.burst
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class Session:
    """Per-connection receive state: order, the hello rule and the rate limit."""

    bucket: TokenBucket
    last_seq: int = -1
    greeted: bool = False
    rejected: int = 0

    def accept(self, data: str | bytes, now: float | None = None) -> Message:
        """Everything a message must pass before it is handled. Raises ``MessageRejected``; the link stays."""
        if not self.bucket.allow(now):
            raise MessageRejected("rate_limited", "too many messages; slow down")
        msg = decode(data)
        if msg.seq <= self.last_seq:
            raise MessageRejected("out_of_order", f"message {msg.seq} after {self.last_seq}", msg.key)
        if not self.greeted and msg.type != "hello":
            raise MessageRejected("out_of_order", f"{msg.type} before hello", msg.key)
        if self.greeted and msg.type == "hello":
            raise MessageRejected("out_of_order", "a second hello", msg.key)
        self.last_seq = msg.seq
        if msg.type == "hello":
            self.greeted = True
        return msg
