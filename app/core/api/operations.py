"""The operations other processes may ask of a site, each with its HTTP route on the control channel.

An operation runs in the owner when one runs (the CLI sends it over the control channel, so the owner's machines,
plan and in-memory fleet see the change at once), or in the CLI's own process on the store when no owner runs.
Either way it is the same function with the same checks, and its result is plain JSON.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from app.core.api.handoff import open_in_window
from app.core.api.jsonable import to_jsonable
from app.core.api.operations_whatif import plan_whatif, plan_whatif_apply, plan_whatif_clear
from app.core.api.views import job_dict, node_dict, peer_dict
from app.core.auth.permissions import Action
from app.core.auth.principal import ActorLike
from app.core.domain.enums import MaintenanceType
from app.core.domain.errors import ImeweError, ValidationError
from app.core.fleet.service import FleetService
from app.core.jobs.service import JobService
from app.core.kernel import Kernel
from app.core.production.plan_view import PlanView, plan_power_dict, plan_rows_dict
from app.core.sites.admin import SiteAdmin

Params = dict[str, Any]


@dataclass(slots=True)
class SiteOps:
    """What operations act on. ``replan`` asks the owner's planner for a round now (a no-op with no owner)."""

    kernel: Kernel
    fleet: FleetService
    jobs: JobService
    sites_admin: Callable[[], SiteAdmin]
    home: str
    site_name: str
    replan: Callable[[], None] = lambda: None
    owner: dict[str, Any] | None = None  # who runs the site, for status
    actor: ActorLike = "cli"  # who asks: the person (an Actor) once the site has people
    production: Any = None  # the owner's ProductionService: it holds the machines' drivers (None off the owner)
    users: Any = None  # the UserService (people, sessions, API keys), set by the server that serves them
    energy: Any = None  # the owner's EnergyService
    plan: Callable[[], PlanView | None] = lambda: None  # the owner's current plan (none without an owner)
    solar_w: Callable[[datetime], float] | None = None  # the site's solar forecast at an instant
    agents: Any = None  # the AgentDesk: node agent keys people accept or refuse
    store: Any = None  # the site's Store (what a command with no owner writes in, under the site lock)
    clock: Any = None  # the site's Clock


@dataclass(frozen=True, slots=True)
class Op:
    name: str
    method: str
    path: str  # "/jobs/{job}/cancel": names in braces are taken from the parameters
    run: Callable[[SiteOps, Params], Awaitable[Any]]
    action: Action = Action.READ  # what the permission table calls it (the services check changes again)
    # The site's own OS user on the loopback control channel (it holds run/owner.json's token) may run it without
    # signing in: a double-click on a part file hands the file to the window that OS user already runs.
    own_user: bool = False

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.path))

    def url_path(self, params: Params) -> str:
        from urllib.parse import quote

        out = self.path
        for key in self.path_params:
            out = out.replace("{" + key + "}", quote(_text(params, key), safe=""))
        return out

    def body(self, params: Params) -> Params:
        return {k: v for k, v in params.items() if k not in self.path_params}


def _text(params: Params, key: str, default: str | None = None) -> str:
    value = params.get(key, default)
    if value is None:
        raise ValidationError(f"{key} is missing", key)
    if not isinstance(value, str):
        raise ValidationError(f"{key} must be text", key)
    return value


def _opt_text(params: Params, key: str) -> str | None:
    return None if params.get(key) is None else _text(params, key)


# ------------------------------------------------------------ kernel
async def kernel_status(site: SiteOps, _: Params) -> Params:
    st = site.kernel.status()
    return {"version": st.version, "state": st.state, "healthy": st.healthy, "services": st.services,
            "db": site.kernel.store.url, "home": site.home, "site": site.site_name, "owner": site.owner}


async def kernel_metrics(site: SiteOps, _: Params) -> Params:
    return to_jsonable(await site.kernel.metrics() | {"owner": site.owner})


# ------------------------------------------------------------ jobs
async def submit_job(site: SiteOps, p: Params) -> Params:
    job = await site.jobs.submit(p.get("spec"), actor=site.actor)
    site.replan()
    return to_jsonable(job_dict(job))


async def submit_batch(site: SiteOps, p: Params) -> list[Params]:
    jobs = await site.jobs.submit_batch(p.get("specs"), actor=site.actor)
    site.replan()
    return [to_jsonable(job_dict(j)) for j in jobs]


async def cancel_job(site: SiteOps, p: Params) -> Params:
    job = await site.jobs.find(_text(p, "job"))
    return to_jsonable(job_dict(await site.jobs.cancel(job.id, actor=site.actor)))


async def set_priority(site: SiteOps, p: Params) -> Params:
    job = await site.jobs.find(_text(p, "job"))
    return to_jsonable(job_dict(await site.jobs.set_priority(job.id, p.get("priority"), actor=site.actor)))


async def reschedule_job(site: SiteOps, p: Params) -> Params:
    job = await site.jobs.find(_text(p, "job"))
    return to_jsonable(job_dict(await site.jobs.request_reschedule(job.id, actor=site.actor)))


async def offload_job(site: SiteOps, p: Params) -> Params:
    job = await site.jobs.find(_text(p, "job"))
    parts = p.get("parts")
    if parts is not None and (not isinstance(parts, list) or not all(isinstance(i, int) for i in parts)):
        raise ValidationError("parts is a list of part numbers", "parts")
    o = await site.sites_admin().offload(job, _text(p, "to"), parts, actor=site.actor)
    site.replan()
    return {"key": o.key, "job": o.job_id, "job_name": job.name, "site": o.peer_id, "parts": o.parts,
            "state": o.state}


# ------------------------------------------------------------ nodes
async def add_node(site: SiteOps, p: Params) -> Params:
    caps = p.get("capabilities")
    if not isinstance(caps, dict):
        raise ValidationError("capabilities must be a JSON object", "capabilities")
    node_id = _opt_text(p, "node_id")  # chosen by the caller when it keeps the machine's secrets under that id
    try:
        chosen = UUID(node_id) if node_id else None
    except ValueError as exc:
        raise ValidationError(f"node_id {node_id!r} is not an id", "node_id") from exc
    node = await site.fleet.register(_text(p, "name"), caps, address=_text(p, "address", ""),
                                     driver=_text(p, "driver", "sim"), location=_text(p, "location", ""),
                                     actor=site.actor, bring_up=True, node_id=chosen,
                                     software_version=_text(p, "software_version", ""))
    return to_jsonable(node_dict(node))


async def configure_node(site: SiteOps, p: Params) -> Params:
    node = site.fleet.find(_text(p, "node"))
    caps = p.get("capabilities")
    if caps is not None and not isinstance(caps, dict):
        raise ValidationError("capabilities must be a JSON object", "capabilities")
    loaded = _opt_text(p, "loaded")
    if caps is None and loaded is not None:
        caps = node.capabilities.to_dict() | {"loaded_material": loaded}
    node = await site.fleet.configure(node.id, caps, location=_opt_text(p, "location"), actor=site.actor)
    return to_jsonable(node_dict(node))


async def node_maintenance(site: SiteOps, p: Params) -> Params:
    node = site.fleet.find(_text(p, "node"))
    action = _text(p, "action")
    notes = _text(p, "notes", "")
    if action == "schedule":
        at_text = _opt_text(p, "when")
        if not at_text:
            raise ValidationError("say when with --when 2026-12-01T08:00", "when")
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError as exc:
            raise ValidationError(f"--when {at_text[:60]!r} is not a date and time", "when") from exc
        try:
            kind = MaintenanceType(_text(p, "type", "scheduled"))
        except ValueError as exc:
            raise ValidationError(f"unknown maintenance type {p.get('type')!r}", "type") from exc
        m = await site.fleet.schedule_maintenance(node.id, at if at.tzinfo else at.replace(tzinfo=UTC), kind,
                                                  notes, actor=site.actor)
        return {"maintenance": to_jsonable(m), "node": to_jsonable(node_dict(site.fleet.get(node.id)))}
    if action == "start":
        n = await site.fleet.start_maintenance(node.id, notes or "maintenance", actor=site.actor)
    elif action == "done":
        n = await site.fleet.complete_maintenance(node.id, notes, actor=site.actor)
    else:
        raise ValidationError(f"unknown maintenance action {action[:30]!r}; use schedule, start or done", "action")
    return {"maintenance": None, "node": to_jsonable(node_dict(n))}


async def decommission_node(site: SiteOps, p: Params) -> Params:
    node = site.fleet.find(_text(p, "node"))
    return to_jsonable(node_dict(await site.fleet.decommission(node.id, actor=site.actor)))


async def _machine(site: SiteOps, p: Params, verb: str) -> Params:
    """Pause, resume, stop or emergency-stop a machine: only the owner drives machines."""
    node = site.fleet.find(_text(p, "node"))
    if site.production is None:
        raise ImeweError(f"no site process runs on this home, so nothing drives {node.name}: start imewe serve")
    await getattr(site.production, f"request_{verb}")(node.id, actor=site.actor)
    return {"node": str(node.id), "name": node.name, "requested": verb}


async def pause_node(site: SiteOps, p: Params) -> Params:
    return await _machine(site, p, "pause")


async def resume_node(site: SiteOps, p: Params) -> Params:
    return await _machine(site, p, "resume")


async def stop_node(site: SiteOps, p: Params) -> Params:
    return await _machine(site, p, "cancel")


async def estop_node(site: SiteOps, p: Params) -> Params:
    return await _machine(site, p, "emergency_stop")


# ------------------------------------------------------------ linked sites
async def allow_site(site: SiteOps, p: Params) -> Params:
    peer = await site.sites_admin().pair(_text(p, "site_id"), _text(p, "address", ""), _text(p, "name", ""),
                                         actor=site.actor)
    return to_jsonable(peer_dict(peer))


async def accept_site(site: SiteOps, p: Params) -> Params:
    admin = site.sites_admin()
    ref = _text(p, "site")
    try:
        ref = (await admin.find_peer(ref)).site_id
    except ImeweError:  # not known yet: take it as a full ID
        pass
    peer = await admin.accept(ref, _text(p, "address", ""), _text(p, "name", ""), actor=site.actor)
    return to_jsonable(peer_dict(peer))


async def revoke_site(site: SiteOps, p: Params) -> Params:
    return to_jsonable(peer_dict(await site.sites_admin().revoke(_text(p, "site"), actor=site.actor)))


def _no_owner_note(site: SiteOps, plan: PlanView | None) -> str:
    if plan is not None:
        return ""
    if site.owner is None:
        return "no site process runs: plans are made by the site's owner (imewe serve, or the control room)"
    return "the site has not made a plan yet"


async def plan_show(site: SiteOps, _: Params) -> Params:
    plan = site.plan()
    return to_jsonable(dict(plan_rows_dict(plan), note=_no_owner_note(site, plan)))


async def plan_power(site: SiteOps, _: Params) -> Params:
    plan = site.plan()
    return to_jsonable(dict(plan_power_dict(plan, site.solar_w), note=_no_owner_note(site, plan)))


OPS: dict[str, Op] = {op.name: op for op in (
    Op("kernel.status", "GET", "/kernel/status", kernel_status),
    Op("kernel.metrics", "GET", "/kernel/metrics", kernel_metrics),
    Op("plan.show", "GET", "/plan", plan_show),
    Op("plan.power", "GET", "/plan/power", plan_power),
    Op("plan.whatif", "POST", "/plan/whatif", plan_whatif),
    Op("plan.whatif_apply", "POST", "/plan/whatif/apply", plan_whatif_apply, Action.PRIORITY),
    Op("plan.whatif_clear", "POST", "/plan/whatif/clear", plan_whatif_clear, Action.PRIORITY),
    Op("jobs.submit", "POST", "/jobs", submit_job, Action.SUBMIT),
    Op("jobs.batch", "POST", "/jobs/batch", submit_batch, Action.SUBMIT),
    Op("jobs.cancel", "POST", "/jobs/{job}/cancel", cancel_job, Action.CANCEL),
    Op("jobs.priority", "POST", "/jobs/{job}/priority", set_priority, Action.PRIORITY),
    Op("jobs.reschedule", "POST", "/jobs/{job}/reschedule", reschedule_job, Action.PRIORITY),
    Op("jobs.offload", "POST", "/jobs/{job}/offload", offload_job, Action.OFFLOAD),
    Op("nodes.add", "POST", "/nodes", add_node, Action.MACHINES),
    Op("nodes.configure", "POST", "/nodes/{node}/configure", configure_node, Action.MACHINES),
    Op("nodes.maintenance", "POST", "/nodes/{node}/maintenance", node_maintenance, Action.MACHINES),
    Op("nodes.decommission", "POST", "/nodes/{node}/decommission", decommission_node, Action.MACHINES),
    Op("nodes.pause", "POST", "/nodes/{node}/pause", pause_node, Action.PAUSE),
    Op("nodes.resume", "POST", "/nodes/{node}/resume", resume_node, Action.PAUSE),
    Op("nodes.stop", "POST", "/nodes/{node}/stop", stop_node, Action.CANCEL),
    Op("nodes.estop", "POST", "/nodes/{node}/estop", estop_node, Action.ESTOP),
    Op("sites.add", "POST", "/sites", allow_site, Action.PAIR_SITES),
    Op("sites.accept", "POST", "/sites/{site}/accept", accept_site, Action.PAIR_SITES),
    Op("sites.revoke", "POST", "/sites/{site}/revoke", revoke_site, Action.PAIR_SITES),
    # single instance: a file for the window. It puts a file in front of whoever works at the window, as sending a
    # part does (submit); the site's own OS user (a double-click on a part file) may always hand one over.
    Op("window.open", "POST", "/window/open", open_in_window, Action.SUBMIT, own_user=True),
)}


async def run_op(op: Op, site: SiteOps, params: Params, actor: ActorLike) -> Any:
    """Run an operation as ``actor``: the table is checked here for every operation (reads and an API key's
    scopes) and again inside the services for every change."""
    from dataclasses import replace

    from app.core.auth.principal import authorize

    if not (op.own_user and getattr(actor, "kind", "") in ("local", "local-reader")):
        authorize(actor, op.action)
    return await op.run(replace(site, actor=actor), params)
