"""What-if changes the operator applied to the live plan (a machine held out until a time, jobs rushed, a lower
power cap), and where they are kept: one row of the store's ``settings`` table, so that they outlive a restart
and a command can apply one with no site process running (under the site lock; the owner reads them when it
starts). Each change is audited by who applies it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from app.core import audit
from app.core.store import schema

log = logging.getLogger(__name__)

KEY = "plan.whatif_applied"


@dataclass(slots=True)
class Overrides:
    """Changes the operator applied from a what-if: machines held out until a time, jobs rushed (due at the
    moment they were rushed, top priority), a lower power cap."""

    down: dict[UUID, datetime] = field(default_factory=dict)
    rushed: dict[UUID, datetime] = field(default_factory=dict)
    cap_w: float | None = None
    labels: dict[UUID, str] = field(default_factory=dict)  # names of the jobs rushed, as they were applied

    def active(self, now: datetime) -> bool:
        return bool(self.rushed) or self.cap_w is not None or any(u > now for u in self.down.values())

    def describe(self, names: dict[UUID, str]) -> list[str]:
        out = [f"{names.get(n, str(n)[:8])} held out until {u:%H:%M} UTC" for n, u in self.down.items()]
        out += [f"{self.labels.get(j, str(j)[:8])} rushed" for j in self.rushed]
        if self.cap_w is not None:
            out.append(f"power cap {self.cap_w / 1000:g} kW")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"down": {str(n): u.isoformat() for n, u in self.down.items()},
                "rushed": {str(j): t.isoformat() for j, t in self.rushed.items()},
                "cap_w": self.cap_w, "labels": {str(j): name for j, name in self.labels.items()}}

    @classmethod
    def from_json(cls, data: Any) -> Overrides:
        """The stored changes; a row this version cannot read counts as none (logged), never an error."""
        try:
            return cls({UUID(n): datetime.fromisoformat(u) for n, u in data.get("down", {}).items()},
                       {UUID(j): datetime.fromisoformat(t) for j, t in data.get("rushed", {}).items()},
                       None if data.get("cap_w") is None else float(data["cap_w"]),
                       {UUID(j): str(name) for j, name in data.get("labels", {}).items()})
        except (AttributeError, TypeError, ValueError) as exc:
            log.warning("stored what-if changes are unreadable (%s); none applied", exc)
            return cls()


def load(conn: sa.Connection) -> Overrides:
    row = conn.execute(sa.select(schema.settings.c.value).where(schema.settings.c.key == KEY)).first()
    return Overrides() if row is None else Overrides.from_json(row[0])


def save(conn: sa.Connection, ov: Overrides) -> None:
    conn.execute(sa.delete(schema.settings).where(schema.settings.c.key == KEY))
    conn.execute(sa.insert(schema.settings).values(key=KEY, value=ov.to_json()))


def merge(ov: Overrides, now: datetime, *, down: UUID | None = None, down_for_s: float = 0.0,
          rush: UUID | None = None, rush_name: str = "", cap_w: float | None = None) -> Overrides:
    """``ov`` with one what-if's changes added (in place; returned for chaining)."""
    from datetime import timedelta

    if down is not None:
        ov.down[down] = now + timedelta(seconds=down_for_s)
    if rush is not None:
        ov.rushed[rush] = now
        ov.labels[rush] = rush_name
    if cap_w is not None:
        ov.cap_w = cap_w
    return ov


def apply_stored(conn: sa.Connection, now: datetime, actor: str, *, down: UUID | None = None,
                 down_for_s: float = 0.0, rush: UUID | None = None, rush_name: str = "",
                 cap_w: float | None = None) -> Overrides:
    """Add a what-if's changes to the stored ones and audit it, in the caller's transaction: the path of a
    command with no site process running (it holds the site lock)."""
    ov = merge(load(conn), now, down=down, down_for_s=down_for_s, rush=rush, rush_name=rush_name, cap_w=cap_w)
    save(conn, ov)
    audit.record(conn, now, actor, "plan.whatif_apply", "plan", None, detail(down, down_for_s, rush, cap_w))
    return ov


def clear_stored(conn: sa.Connection, now: datetime, actor: str) -> None:
    save(conn, Overrides())
    audit.record(conn, now, actor, "plan.whatif_clear", "plan", None, {})


def detail(down: UUID | None, down_for_s: float, rush: UUID | None, cap_w: float | None) -> dict[str, Any]:
    return {"down": str(down) if down else None, "for_s": down_for_s, "rush": str(rush) if rush else None,
            "cap_w": cap_w}
