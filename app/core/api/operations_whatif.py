"""What-if operations: the plan under a change next to the live one (``plan.whatif``, nothing changes), and
applying a change to the live plan (``plan.whatif_apply``) or dropping the applied ones (``plan.whatif_clear``).

Applying goes through the owner when one runs (its planner replans at once). With none, the command applies it
on the store itself (``call_site`` holds the site lock for it): the change is stored and audited, and the owner
plans with it from its start. The what-if comparison needs the owner's planner; with none there is no live plan
to compare with, which the CLI says before it asks to apply.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from app.core.api.jsonable import to_jsonable
from app.core.auth.permissions import Action
from app.core.auth.principal import authorize
from app.core.domain.errors import ImeweError, ValidationError
from app.core.production import overrides as stored
from app.core.production.runs import OPEN

if TYPE_CHECKING:
    from app.core.api.operations import SiteOps

Params = dict[str, Any]

_UNITS_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_UNITS_W = {"w": 1.0, "kw": 1000.0, "mw": 1e6}


class NoOwnerError(ImeweError):
    """The answer needs the site's owner (its planner) and none runs."""


def _param(p: Params, key: str) -> str | None:
    value = p.get(key)
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{key} must be text", key)
    return value


def _amount(text: str, units: dict[str, float], key: str, example: str) -> float:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = (m.group(2).lower() or next(iter(units))) if m else ""
    if m is None or unit not in units or float(m.group(1)) <= 0:
        raise ValidationError(f"{key} {text!r} is not an amount like {example}", key)
    return float(m.group(1)) * units[unit]


async def _change(site: SiteOps, p: Params, verb: str) -> tuple[Any, Any, float, float | None]:
    """(machine, job, seconds down, cap in W) of a what-if's parameters; a bad one is refused before anything."""
    down, rush, cap = _param(p, "down"), _param(p, "rush"), _param(p, "cap")
    if down is None and rush is None and cap is None:
        raise ValidationError(f"say what to {verb}: --down NODE [--for 4h], --rush JOB or --cap 20kW", "whatif")
    node = site.fleet.find(down) if down is not None else None
    job = await site.jobs.find(rush) if rush is not None else None
    for_s = _amount(_param(p, "for") or "4h", _UNITS_S, "for", "4h or 90m")
    cap_w = _amount(cap, _UNITS_W, "cap", "20kW or 3500W") if cap is not None else None
    return node, job, for_s, cap_w


async def plan_whatif(site: SiteOps, p: Params) -> Params:
    """The plan under a change, next to the live one; nothing live or stored changes."""
    node, job, for_s, cap_w = await _change(site, p, "try")
    if site.production is None:
        raise NoOwnerError("what-if plans are made by the site's owner: start imewe serve (or the control room)")
    out = await site.production.whatif(down=node.id if node else None, down_for_s=for_s,
                                       rush=job.id if job else None, cap_w=cap_w)
    return to_jsonable(out)


async def plan_whatif_apply(site: SiteOps, p: Params) -> Params:
    """Make a what-if's change live: the machine held out for the time, the job rushed (due now, top priority,
    until done), the lower cap. Returns the changes the live plan now follows, in words."""
    node, job, for_s, cap_w = await _change(site, p, "apply")
    if job is not None and job.state not in OPEN:
        raise ValidationError(f"job {job.name} has no open work to rush", "rush")
    if site.production is not None:
        applied = await site.production.apply_whatif(down=node.id if node else None, down_for_s=for_s,
                                                     rush=job.id if job else None, cap_w=cap_w, actor=site.actor)
        return {"applied": applied, "planned_now": True}
    who = authorize(site.actor, Action.PRIORITY)
    now = site.clock.now()

    def write() -> stored.Overrides:
        with site.store.begin() as conn:
            return stored.apply_stored(conn, now, who, down=node.id if node else None, down_for_s=for_s,
                                       rush=job.id if job else None, rush_name=job.name if job else "", cap_w=cap_w)

    ov = await site.store.run(write)
    names = {n.id: n.name for n in site.fleet.list()}
    return {"applied": ov.describe(names), "planned_now": False}


async def plan_whatif_clear(site: SiteOps, _: Params) -> Params:
    """Drop every applied what-if change: the site plans as configured again."""
    if site.production is not None:
        await site.production.clear_whatif(actor=site.actor)
        return {"applied": [], "planned_now": True}
    who = authorize(site.actor, Action.PRIORITY)
    now = site.clock.now()

    def write() -> None:
        with site.store.begin() as conn:
            stored.clear_stored(conn, now, who)

    await site.store.run(write)
    return {"applied": [], "planned_now": False}
