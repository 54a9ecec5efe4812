"""Which node agents' keys a person accepted: trust on first use, like SSH's known_hosts or a site ID.

A node agent is named by its Ed25519 key (its node id is derived from it). An agent heard for the first time is
kept *pending*, with the fingerprint it proved in the TLS handshake, until a person accepts it (``imewe nodes
accept``, or the Add machine dialog); only then is it sent the pairing token. An agent that shows another key under
the name of an accepted one is refused (``changed``) and an alert says so: a reinstalled machine is accepted again
on purpose (``--replace``), an impostor never gets the token.

The keys are kept in ``keys/known_agents.json`` (mode 0600, rewritten atomically). Public keys are no secret, but
the file decides who gets the pairing token, so it is kept with the other keys. A process that holds the file
notices another process's change by its modification time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.core.domain.errors import ConfigError, ImeweError, NotFoundError, ValidationError

log = logging.getLogger(__name__)
FILE_NAME = "known_agents.json"
MAX_WAITING = 100  # pending and changed keys kept at most (a flood of adverts cannot grow the file for ever)
PENDING, ACCEPTED, CHANGED, REFUSED = "pending", "accepted", "changed", "refused"
STATE_WORDS = {PENDING: "waiting for a person", ACCEPTED: "accepted", CHANGED: "key changed: refused",
               REFUSED: "refused"}


def key_fingerprint(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:32]


def node_id_for_key(public_raw: bytes) -> uuid.UUID:
    """The node id an agent with this key has (its id is derived from its key, so it survives restarts)."""
    return uuid.UUID(bytes=hashlib.sha256(b"imewe-node:" + public_raw).digest()[:16], version=4)


@dataclass(slots=True)
class AgentKey:
    fingerprint: str
    node_id: str
    name: str
    state: str
    address: str = ""
    version: str = ""
    first_seen: float = 0.0
    last_seen: float = 0.0
    decided_by: str = ""  # who accepted or refused it
    decided_at: float = 0.0
    replaces: str = ""  # a changed key: the fingerprint accepted for the same name

    @property
    def state_words(self) -> str:
        return STATE_WORDS.get(self.state, self.state)

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), state_words=self.state_words)


@dataclass(frozen=True, slots=True)
class Verdict:
    state: str  # accepted, pending, changed, refused
    key: AgentKey
    new: bool = False  # first time this key (or this change) was heard
    previous: AgentKey | None = field(default=None)  # changed: the accepted key it contradicts


class AgentTrust:
    """``path``: the known-agents file; None keeps the decisions in memory only (tests)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._keys: dict[str, AgentKey] = {}
        self._mtime: float | None = None
        self._reload()

    # ------------------------------------------------------------------ reads
    def list(self) -> list[AgentKey]:
        self._reload()
        return sorted(self._keys.values(), key=lambda k: (k.state != PENDING and k.state != CHANGED, k.name))

    def get(self, fingerprint: str) -> AgentKey | None:
        self._reload()
        return self._keys.get(fingerprint)

    def accepted_fingerprint(self, node_id: str) -> str | None:
        self._reload()
        return next((k.fingerprint for k in self._keys.values() if k.node_id == node_id and k.state == ACCEPTED),
                    None)

    def waiting(self) -> list[AgentKey]:
        return [k for k in self.list() if k.state in (PENDING, CHANGED)]

    def find(self, ref: str) -> AgentKey:
        """By name, fingerprint (or its first 6+ characters) or node id (or its first 6+ characters); a name that
        is both accepted and waiting under a changed key means the waiting one (that is what a person decides)."""
        ref = ref.strip().lower()
        if not ref:
            raise ValidationError("name the agent (its name, fingerprint or node id)", "agent")
        keys = self.list()
        by_name = [k for k in keys if k.name.lower() == ref]
        if len(by_name) > 1:
            by_name = [k for k in by_name if k.state in (PENDING, CHANGED)] or by_name
        hits = by_name or [k for k in keys if len(ref) >= 6 and (k.fingerprint.startswith(ref)
                                                                  or k.node_id.startswith(ref))]
        if not hits:
            raise NotFoundError(f"no node agent named or with the key {ref[:60]!r}; see: imewe nodes agents")
        if len(hits) > 1:
            raise ValidationError(f"{ref!r} names {len(hits)} agents; give the fingerprint instead "
                                  f"({', '.join(k.fingerprint[:12] for k in hits)})", "agent")
        return hits[0]

    # ------------------------------------------------------------------ what discovery hears
    def heard(self, fingerprint: str, node_id: str, name: str, address: str, version: str) -> Verdict:
        """An agent proved ``fingerprint`` in a TLS handshake: what may be done with it."""
        self._reload()
        now = time.time()
        key = self._keys.get(fingerprint)
        if key is not None:
            key.address, key.version, key.last_seen = address, version, now
            if key.state == ACCEPTED:
                key.name = name or key.name
            self._save()
            prev = self._accepted_named(key.name, fingerprint) if key.state == CHANGED else None
            return Verdict(key.state, key, previous=prev)
        prev = self._accepted_named(name, fingerprint)
        state = CHANGED if prev is not None else PENDING
        key = AgentKey(fingerprint, node_id, name, state, address, version, now, now,
                       replaces=prev.fingerprint if prev is not None else "")
        if len([k for k in self._keys.values() if k.state in (PENDING, CHANGED)]) >= MAX_WAITING:
            log.warning("%d node agents already wait for a person: %s (%s) is not kept", MAX_WAITING, name,
                        fingerprint)
            return Verdict(state, key, new=False, previous=prev)
        self._keys[fingerprint] = key
        self._save()
        return Verdict(state, key, new=True, previous=prev)

    def accept_existing(self, fingerprint: str, node_id: str, name: str, address: str, version: str) -> AgentKey:
        """A machine already in the fleet from before keys were accepted by people: its key (whose hash is its
        node id) is taken as accepted, so an upgrade does not stop a working floor."""
        now = time.time()
        key = AgentKey(fingerprint, node_id, name, ACCEPTED, address, version, now, now, "fleet (before upgrade)",
                       now)
        self._keys[fingerprint] = key
        self._save()
        return key

    # ------------------------------------------------------------------ what people decide
    def accept(self, ref: str, by: str, *, fingerprint: str = "", replace: bool = False) -> AgentKey:
        """Accept a waiting agent. ``fingerprint``: what the person read on the agent's screen, checked;
        ``replace``: a changed key takes the place of the accepted one of the same name (a reinstalled machine)."""
        key = self.find(ref)
        if fingerprint and not key.fingerprint.startswith(fingerprint.strip().lower().replace(":", "")):
            raise ImeweError(f"{key.name} shows the key {key.fingerprint}, not {fingerprint}; not accepted")
        if key.state == ACCEPTED:
            return key
        prev = self._accepted_named(key.name, key.fingerprint)
        if prev is not None:
            if not replace:
                raise ImeweError(f"{key.name} already has the accepted key {prev.fingerprint}; this one "
                                    f"({key.fingerprint}) is a different agent or a reinstalled one. To make it "
                                    f"the machine's key: imewe nodes accept {key.fingerprint[:12]} --replace")
            prev.state, prev.decided_by, prev.decided_at = REFUSED, by, time.time()
        key.state, key.decided_by, key.decided_at, key.replaces = ACCEPTED, by, time.time(), ""
        self._save()
        log.info("node agent %s (%s) accepted by %s", key.name, key.fingerprint, by)
        return key

    def refuse(self, ref: str, by: str) -> AgentKey:
        key = self.find(ref)
        key.state, key.decided_by, key.decided_at = REFUSED, by, time.time()
        self._save()
        log.info("node agent %s (%s) refused by %s", key.name, key.fingerprint, by)
        return key

    # ------------------------------------------------------------------ file
    def _accepted_named(self, name: str, other_than: str) -> AgentKey | None:
        return next((k for k in self._keys.values()
                     if k.name == name and k.state == ACCEPTED and k.fingerprint != other_than), None)

    def _reload(self) -> None:
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._mtime:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            keys = {str(d["fingerprint"]): AgentKey(**{k: d[k] for k in AgentKey.__slots__ if k in d})
                    for d in data.get("agents", [])}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Never fall back to trusting nobody silently nor to trusting anybody: say what is wrong.
            raise ConfigError(f"cannot read the accepted node agent keys {self.path}: {exc}; restore it from a "
                                "backup, or delete it to accept every agent again") from exc
        self._keys, self._mtime = keys, mtime

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"agents": [asdict(k) for k in self._keys.values()]}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime_ns
