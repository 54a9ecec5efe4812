"""Review notes: a reviewer clicks a point on a part and leaves a remark (author, time, open or resolved).

Notes are keyed by the SHA-256 of the part file's bytes, so the same file finds its notes again wherever it
lies; when the part goes to production they are attached to the stored part and its job, and travel with them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.core.clock import Clock
from app.core.domain.errors import ImeweError, NotFoundError, ValidationError
from app.core.store.db import Store
from app.core.store.schema_review import part_notes

log = logging.getLogger(__name__)
NOTE_STATES = ("open", "resolved")
MAX_NOTE_CHARS = 4000


def part_key(path: str | Path) -> str:
    """SHA-256 of the file's bytes (blocking: run off the UI thread for big files)."""
    h = hashlib.sha256()
    try:
        with Path(path).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise ImeweError(f"cannot read {Path(path).name}: {exc.strerror or exc}") from exc
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class PartNote:
    id: UUID
    part_key: str
    file_name: str
    point: tuple[float, float, float]  # in the file's own coordinates and units
    text: str
    author: str
    created_at: datetime
    state: str = "open"
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    part_id: UUID | None = None
    job_id: UUID | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "file_name": self.file_name, "point": list(self.point), "text": self.text,
                "author": self.author, "created_at": self.created_at.isoformat(), "state": self.state,
                "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
                "resolved_by": self.resolved_by}


def _when(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _note(r: Any) -> PartNote:
    return PartNote(UUID(r.id), r.part_key, r.file_name, (r.x, r.y, r.z), r.text, r.author,
                    _when(r.created_at) or datetime.fromtimestamp(0, UTC), r.state, _when(r.resolved_at),
                    r.resolved_by, UUID(r.part_id) if r.part_id else None, UUID(r.job_id) if r.job_id else None)


MAX_TRAVELLING_NOTES = 200  # per offloaded job: the message stays small


def notes_for_parts(conn: Connection, part_ids: list[UUID]) -> list[dict[str, Any]]:
    """The review notes of these stored parts as plain JSON, each with ``part`` = its index in ``part_ids``: what
    travels with a job sent to another site (inside the caller's transaction)."""
    where = {str(pid): i for i, pid in enumerate(part_ids)}
    if not where:
        return []
    rows = conn.execute(sa.select(part_notes).where(part_notes.c.part_id.in_(list(where)))
                        .order_by(part_notes.c.created_at).limit(MAX_TRAVELLING_NOTES))
    return [dict(_note(r).to_dict(), part=where[r.part_id]) for r in rows]


class NotesService:
    name = "notes"

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def for_file(self, key: str) -> list[PartNote]:
        return await self._read(lambda c: c.execute(
            sa.select(part_notes).where(part_notes.c.part_key == key).order_by(part_notes.c.created_at)))

    async def for_part(self, part_id: UUID) -> list[PartNote]:
        return await self._read(lambda c: c.execute(
            sa.select(part_notes).where(part_notes.c.part_id == str(part_id)).order_by(part_notes.c.created_at)))

    async def add(self, key: str, file_name: str, point: tuple[float, float, float], text: str,
                  author: str) -> PartNote:
        text, author = (text or "").strip(), (author or "").strip()
        if not text:
            raise ValidationError("a note needs some text", "text")
        if len(text) > MAX_NOTE_CHARS:
            raise ValidationError(f"a note is at most {MAX_NOTE_CHARS} characters", "text")
        if not author:
            raise ValidationError("a note needs an author", "author")
        if len(key) != 64:
            raise ValidationError("the part's file has no key; open the file again", "part_key")
        note = PartNote(uuid4(), key, file_name[:300], tuple(float(v) for v in point),  # type: ignore[arg-type]
                        text, author[:100], self._clock.now())
        row = {"id": str(note.id), "part_key": key, "file_name": note.file_name, "x": note.point[0],
               "y": note.point[1], "z": note.point[2], "text": text, "author": note.author,
               "created_at": note.created_at.timestamp(), "state": "open"}

        def write() -> None:
            with self._store.begin() as conn:
                conn.execute(part_notes.insert().values(**row))

        await self._store.run(write)
        log.info("note %s added to %s by %s", note.id, file_name, note.author)
        return note

    async def set_state(self, note_id: UUID, state: str, by: str) -> PartNote:
        if state not in NOTE_STATES:
            raise ValidationError(f"a note is {' or '.join(NOTE_STATES)}, not {state!r}", "state")
        now = self._clock.now().timestamp()
        values = {"state": state, "resolved_at": now if state == "resolved" else None,
                  "resolved_by": (by or "")[:100] if state == "resolved" else None}

        def write() -> PartNote:
            with self._store.begin() as conn:
                done = conn.execute(part_notes.update().where(part_notes.c.id == str(note_id)).values(**values))
                if not done.rowcount:
                    raise NotFoundError(f"no note {note_id}")
                return _note(conn.execute(sa.select(part_notes).where(part_notes.c.id == str(note_id))).one())

        return await self._store.run(write)

    async def attach(self, key: str, part_id: UUID, job_id: UUID) -> int:
        """The file's notes now also belong to this stored part and its job (when it goes to production)."""
        def write() -> int:
            with self._store.begin() as conn:
                return int(conn.execute(part_notes.update().where(part_notes.c.part_key == key).values(
                    part_id=str(part_id), job_id=str(job_id))).rowcount or 0)

        return await self._store.run(write)

    async def _read(self, query: Any) -> list[PartNote]:
        def run() -> list[PartNote]:
            conn: Connection
            with self._store.connect() as conn:
                return [_note(r) for r in query(conn)]

        return await self._store.run(run)
