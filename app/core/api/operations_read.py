"""The local API's reads and its admin routes (issue 14): jobs, machines, plan, alerts, energy; people, API keys,
the audit log and health. Each is an ``Op`` like the control channel's, so the CLI, the owner and other programs
share one definition, one permission check and one set of errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from app.core.api.jsonable import to_jsonable
from app.core.api.operations import Op, Params, SiteOps, _opt_text, _text, kernel_status
from app.core.api.views import job_dict, node_dict, waiting_dict
from app.core.audit import read_log, verify_log
from app.core.auth.permissions import Action
from app.core.domain.enums import JobState, NodeState
from app.core.domain.errors import ImeweError, ValidationError
from app.core.jobs.waiting import MachineWork, machine_work_from_store


def _limit(p: Params, default: int = 200, most: int = 10_000) -> int:
    raw = p.get("limit", default)
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"limit must be a whole number, not {str(raw)[:20]!r}", "limit") from exc
    if not 1 <= value <= most:
        raise ValidationError(f"limit is between 1 and {most}", "limit")
    return value


def _states(p: Params, enum: type, key: str = "state") -> set | None:
    raw = _opt_text(p, key)
    if not raw:
        return None
    try:
        return {enum(s.strip().upper()) for s in raw.split(",") if s.strip()}
    except ValueError as exc:
        raise ValidationError(f"unknown {key} {raw[:40]!r}; one of {', '.join(e.value for e in enum)}",
                              key) from exc


def _users(site: SiteOps):
    if site.users is None:
        raise ImeweError("people are not served by this process")
    return site.users


# ------------------------------------------------------------ reads
async def list_jobs(site: SiteOps, p: Params) -> list[Params]:
    jobs = await site.jobs.list(_states(p, JobState), _opt_text(p, "search"), _limit(p, 1000))
    busy = (await _machine_work(site)).busy
    return [to_jsonable(job_dict(j) | waiting_dict(j, busy, site.fleet)) for j in jobs]


async def get_job(site: SiteOps, p: Params) -> Params:
    job = await site.jobs.find(_text(p, "job"))
    return to_jsonable(job_dict(job) | waiting_dict(job, (await _machine_work(site)).busy, site.fleet))


async def _machine_work(site: SiteOps) -> MachineWork:
    """Which part each machine runs (for ``waiting_for``): in the owner, the part its production says the machine
    makes; else, as ``imewe jobs list --json`` does, the one that went in progress last."""
    now = site.clock.now() if site.clock is not None else datetime.now(UTC)
    return await machine_work_from_store(site.jobs, now, reported=_reported(site.production))


def _reported(production: object) -> Callable[[UUID], UUID | None] | None:
    run_on = getattr(production, "run_on", None)
    if run_on is None:
        return None

    def part_on(node_id: UUID) -> UUID | None:
        run = run_on(node_id)
        return None if run is None else run[1]

    return part_on


async def list_nodes(site: SiteOps, p: Params) -> list[Params]:
    return [to_jsonable(node_dict(n)) for n in site.fleet.list(_states(p, NodeState))]


async def get_node(site: SiteOps, p: Params) -> Params:
    return to_jsonable(node_dict(site.fleet.find(_text(p, "node"))))


async def list_alerts(site: SiteOps, p: Params) -> list[Params]:
    from app.core.store.repositories import AlertRepo

    open_only = str(p.get("open", "false")).lower() in ("1", "true", "yes")
    limit = _limit(p, 200, 5000)
    store = site.kernel.store

    def read():
        with store.connect() as conn:
            return AlertRepo().list(conn, open_only, limit)

    return to_jsonable(await store.run(read))


async def energy_status(site: SiteOps, _: Params) -> Params:
    if site.energy is None:
        raise ImeweError("no site process runs: the energy status comes from imewe serve (or imewe energy status)")
    data = site.energy.status()
    return to_jsonable(data | {"today": site.energy.totals("day")})


async def replan(site: SiteOps, _: Params) -> Params:
    site.replan()
    return {"requested": True}


# ------------------------------------------------------------ admin
def _user_view(u) -> Params:
    return {"name": u.name, "role": u.role.value, "active": u.active, "failed_logins": u.failed_logins,
            "locked_until": u.locked_until, "last_login_at": u.last_login_at}


def _key_view(k) -> Params:
    return {"id": k.id, "name": k.name, "user": k.user_name, "prefix": k.prefix,
            "scopes": sorted(s.value for s in k.scopes), "created_at": k.created_at, "expires_at": k.expires_at,
            "revoked": k.revoked_at is not None, "last_used_at": k.last_used_at}


async def users_list(site: SiteOps, _: Params) -> list[Params]:
    return [_user_view(u) for u in await _users(site).users(site.actor)]


async def users_add(site: SiteOps, p: Params) -> Params:
    return _user_view(await _users(site).add(site.actor, _text(p, "name"), _text(p, "password"), _text(p, "role")))


async def users_role(site: SiteOps, p: Params) -> Params:
    return _user_view(await _users(site).set_role(site.actor, _text(p, "name"), _text(p, "role")))


async def users_disable(site: SiteOps, p: Params) -> Params:
    return _user_view(await _users(site).set_active(site.actor, _text(p, "name"), False))


async def users_enable(site: SiteOps, p: Params) -> Params:
    return _user_view(await _users(site).set_active(site.actor, _text(p, "name"), True))


async def users_unlock(site: SiteOps, p: Params) -> Params:
    await _users(site).unlock(site.actor, _text(p, "name"))
    return {"name": _text(p, "name"), "unlocked": True}


async def keys_list(site: SiteOps, _: Params) -> list[Params]:
    return [_key_view(k) for k in await _users(site).keys(site.actor)]


async def keys_create(site: SiteOps, p: Params) -> Params:
    days = p.get("days", 90)
    if isinstance(days, bool) or not isinstance(days, int | float):
        raise ValidationError("days is a number", "days")
    secret, key = await _users(site).create_key(site.actor, _text(p, "name"), p.get("scopes"),
                                                float(days) * 86400.0, _opt_text(p, "user"))
    return _key_view(key) | {"key": secret}


async def keys_revoke(site: SiteOps, p: Params) -> Params:
    return _key_view(await _users(site).revoke_key(site.actor, _text(p, "key")))


async def audit_list(site: SiteOps, p: Params) -> list[Params]:
    entries = await read_log(site.kernel.store, site.actor, _limit(p, 100), _opt_text(p, "target"),
                             _opt_text(p, "action"), _opt_text(p, "actor"))
    return to_jsonable(entries)


async def audit_verify(site: SiteOps, _: Params) -> Params:
    r = await verify_log(site.kernel.store, site.actor)
    return {"ok": r.ok, "records": r.records, "broken_seq": r.broken_seq, "broken_id": r.broken_id,
            "reason": r.reason, "message": r.describe()}


async def login(site: SiteOps, p: Params) -> Params:
    hours = p.get("hours")
    if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int | float)):
        raise ValidationError("hours is a number", "hours")
    token, user = await _users(site).login(_text(p, "name"), _text(p, "password"),
                                           None if hours is None else float(hours) * 3600)
    return {"token": token, "name": user.name, "role": user.role.value}


async def whoami(site: SiteOps, _: Params) -> Params:
    a = site.actor
    return {"name": str(a), "role": getattr(getattr(a, "role", None), "value", "admin"),
            "kind": getattr(a, "kind", "local"),
            "scopes": sorted(s.value for s in a.scopes) if getattr(a, "scopes", None) else None}


READ_OPS: tuple[Op, ...] = (
    Op("jobs.list", "GET", "/jobs", list_jobs),
    Op("jobs.show", "GET", "/jobs/{job}", get_job),
    Op("nodes.list", "GET", "/nodes", list_nodes),
    Op("nodes.show", "GET", "/nodes/{node}", get_node),
    Op("scheduler.replan", "POST", "/scheduler/replan", replan, Action.PRIORITY),
    Op("telemetry.alerts", "GET", "/telemetry/alerts", list_alerts),
    Op("energy.status", "GET", "/energy/status", energy_status),
    Op("admin.health", "GET", "/admin/health", kernel_status),
    Op("admin.users", "GET", "/admin/users", users_list, Action.USERS),
    Op("admin.users.add", "POST", "/admin/users", users_add, Action.USERS),
    Op("admin.users.role", "POST", "/admin/users/{name}/role", users_role, Action.USERS),
    Op("admin.users.disable", "POST", "/admin/users/{name}/disable", users_disable, Action.USERS),
    Op("admin.users.enable", "POST", "/admin/users/{name}/enable", users_enable, Action.USERS),
    Op("admin.users.unlock", "POST", "/admin/users/{name}/unlock", users_unlock, Action.USERS),
    Op("admin.keys", "GET", "/admin/keys", keys_list),
    Op("admin.keys.create", "POST", "/admin/keys", keys_create),
    Op("admin.keys.revoke", "POST", "/admin/keys/{key}/revoke", keys_revoke),
    Op("admin.audit", "GET", "/admin/audit", audit_list, Action.AUDIT),
    Op("admin.audit.verify", "GET", "/admin/audit/verify", audit_verify, Action.AUDIT),
    Op("auth.whoami", "GET", "/auth/whoami", whoami),
)

# Answered with no one signed in (the password is the credential).
LOGIN = Op("auth.login", "POST", "/auth/login", login)
