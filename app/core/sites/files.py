"""Part files that travel with an offloaded job: read and cut into pieces at the sending site, put together and
checked by SHA-256 at the running site.

The pieces go through the persistent outbox ahead of the ``offload.request`` that names them (the outbox is sent
in order), each a reliable message applied at most once. A piece is checked against its own hash on arrival and
refused if it does not match; the whole file is checked when the request arrives. A file that does not match
the hash the sender gave refuses the job, with the reason, and nothing of it is kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.core.domain.entities import Job
from app.core.domain.errors import ValidationError
from app.core.sites import repo
from app.core.sites.errors import MessageRejected
from app.core.sites.protocol import (
    CHUNK_BYTES,
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_OFFLOAD_FILE_BYTES,
    MAX_PENDING_CHUNKS,
)
from app.core.store import schema_market as t

CHUNKS_KEPT_S = 7 * 86_400.0
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SAFE = re.compile(r"[^A-Za-z0-9._ -]")


class FileRefused(Exception):
    """A part file that cannot be used: its reason goes back to the sender with the refused job."""


@dataclass(frozen=True, slots=True)
class OutFile:
    part: int  # index in the offload's spec
    name: str
    sha256: str
    data: bytes

    def entry(self) -> dict[str, Any]:
        return {"part": self.part, "name": self.name, "sha256": self.sha256, "size": len(self.data)}

    def chunks(self) -> list[dict[str, Any]]:
        out = []
        for pos in range(0, max(len(self.data), 1), CHUNK_BYTES):
            piece = self.data[pos:pos + CHUNK_BYTES]
            out.append({"sha256": self.sha256, "size": len(self.data), "pos": pos,
                        "data": base64.b64encode(piece).decode("ascii"),
                        "chunk_sha256": hashlib.sha256(piece).hexdigest()})
        return out


def read_part_files(job: Job, indices: list[int]) -> list[OutFile]:
    """The files of the chosen parts (blocking: call off the event loop). A part whose file is gone or too big is
    a clear error: the job is not sent without it."""
    out = []
    for n, i in enumerate(indices):
        p = job.parts[i]
        if not p.file_path:
            continue
        path = Path(p.file_path)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise ValidationError(f"part {p.name!r}: its file {path.name} is {size / 1e6:.0f} MB; files of up to "
                                      f"{MAX_FILE_BYTES // 1_000_000} MB travel over a site link", "parts")
            data = path.read_bytes()
        except OSError as exc:
            raise ValidationError(f"part {p.name!r}: its file {p.file_path} cannot be read ({exc.strerror}); "
                                  "put it back or send the job without files", "parts") from exc
        out.append(OutFile(n, safe_name(path.name), hashlib.sha256(data).hexdigest(), data))
    if len(out) > MAX_FILES:
        raise ValidationError(f"at most {MAX_FILES} part files go with one offload", "parts")
    total = sum(len(f.data) for f in out)
    if total > MAX_OFFLOAD_FILE_BYTES:
        raise ValidationError(f"the parts' files add up to {total / 1e6:.0f} MB; at most "
                              f"{MAX_OFFLOAD_FILE_BYTES // 1_000_000} MB go with one offload: send fewer parts", "parts")
    return out


def safe_name(name: str) -> str:
    base = _SAFE.sub("_", os.path.basename(str(name)))[:100].strip(". ")
    return base or "part"


# ---------------------------------------------------------------- running side
def store_chunk(conn: Connection, peer_id: str, key: str, body: dict[str, Any], now: float) -> None:
    """One piece, checked and kept (at most once). Raises ``MessageRejected``: the transaction, claim included,
    rolls back."""
    sha, size, pos = body["sha256"], body["size"], body["pos"]
    if not _HEX64.fullmatch(sha) or not _HEX64.fullmatch(body["chunk_sha256"]):
        raise MessageRejected("schema", "file.chunk: hashes are 64 lowercase hex digits", key)
    if pos % CHUNK_BYTES or pos > size or (pos == size and size):
        raise MessageRejected("schema", f"file.chunk: no piece starts at byte {pos} of a {size}-byte file", key)
    try:
        data = base64.b64decode(body["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MessageRejected("schema", "file.chunk: data is not base64", key) from exc
    if len(data) != min(CHUNK_BYTES, size - pos):
        raise MessageRejected("schema", f"file.chunk: the piece at byte {pos} has {len(data)} bytes", key)
    if hashlib.sha256(data).hexdigest() != body["chunk_sha256"]:
        raise MessageRejected("hash_mismatch", f"file.chunk: the piece at byte {pos} of file {sha[:12]} arrived "
                                               "damaged (its SHA-256 does not match); refused", key)
    if not repo.inbox_claim(conn, peer_id, key, "file.chunk", now):
        return
    c = t.site_file_chunks.c
    waiting = conn.execute(sa.select(sa.func.count()).select_from(t.site_file_chunks)
                           .where(c.peer_id == peer_id)).scalar_one()
    if waiting >= MAX_PENDING_CHUNKS:  # the claim rolls back with this: the piece comes again later
        raise MessageRejected("retry", f"{waiting} pieces of part files from your site wait here for their job; "
                                       "try this one again later", key)
    ins = repo.dialect_insert(conn, t.site_file_chunks).values(peer_id=peer_id, sha256=sha, pos=pos, size=size,
                                                               data=data, received_at=now)
    conn.execute(ins.on_conflict_do_nothing(index_elements=["peer_id", "sha256", "pos"]))


def check_entries(files: Any, parts_n: int) -> list[dict[str, Any]]:
    """The ``files`` of an offload request, checked; raises ``FileRefused``."""
    if not isinstance(files, list) or len(files) > MAX_FILES:
        raise FileRefused(f"files must be a list of at most {MAX_FILES}")
    seen: set[int] = set()
    for f in files:
        ok = (isinstance(f, dict) and set(f) == {"part", "name", "sha256", "size"}
              and isinstance(f["part"], int) and not isinstance(f["part"], bool) and 0 <= f["part"] < parts_n
              and isinstance(f["name"], str) and 0 < len(f["name"]) <= 200
              and isinstance(f["sha256"], str) and _HEX64.fullmatch(f["sha256"]) is not None
              and isinstance(f["size"], int) and not isinstance(f["size"], bool) and 0 <= f["size"] <= MAX_FILE_BYTES)
        if not ok or f["part"] in seen:
            raise FileRefused("files: each entry names one part, a file name, its SHA-256 and its size")
        seen.add(f["part"])
    return files


def assemble(conn: Connection, peer_id: str, entry: dict[str, Any], folder: Path) -> Path:
    """The file an offload names, put together from its pieces, checked and written under ``folder``
    (blocking). Raises ``FileRefused`` with a reason the sender can act on."""
    sha, size, name = entry["sha256"], entry["size"], safe_name(entry["name"])
    dest = folder / sha[:2] / sha / name
    if dest.is_file() and _sha_of(dest) == sha:
        return dest  # already here (the same file with an earlier job)
    c = t.site_file_chunks.c
    rows = conn.execute(sa.select(c.pos, c.size, c.data).where(c.peer_id == peer_id, c.sha256 == sha)
                        .order_by(c.pos)).all()
    h, got = hashlib.sha256(), 0
    for r in rows:
        if r.pos != got or r.size != size:
            raise FileRefused(f"part file {name!r} arrived incomplete (a piece at byte {got} is missing)")
        h.update(r.data)
        got += len(r.data)
    if got != size:
        raise FileRefused(f"part file {name!r} arrived incomplete ({got} of {size} bytes)")
    if h.hexdigest() != sha:
        raise FileRefused(f"part file {name!r} does not match its SHA-256 (sent {sha[:12]}, arrived "
                          f"{h.hexdigest()[:12]}); refused")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    with open(tmp, "wb") as fh:
        for r in rows:
            fh.write(r.data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, dest)
    return dest


def forget_chunks(conn: Connection, peer_id: str, shas: list[str]) -> None:
    c = t.site_file_chunks.c
    if shas:
        conn.execute(t.site_file_chunks.delete().where(c.peer_id == peer_id, c.sha256.in_(shas)))


def prune_chunks(conn: Connection, older_than: float) -> int:
    """Forget pieces whose job never came (the sender cancelled, or lost its outbox): kept ``CHUNKS_KEPT_S``."""
    c = t.site_file_chunks.c
    return conn.execute(t.site_file_chunks.delete().where(c.received_at < older_than)).rowcount


def _sha_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
