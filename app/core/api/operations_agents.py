"""Node agents' keys (trust on first use by a person) and their software updates, as site operations.

``agents.accept`` and ``agents.refuse`` change who gets the pairing token; a running site acts on them at once.
``agents.update`` starts a staged rollout in the running site and answers at once; ``agents.updates`` follows it.
"""

from __future__ import annotations

from app.core.api.jsonable import to_jsonable
from app.core.api.operations import Op, Params, SiteOps, _text
from app.core.auth.permissions import Action
from app.core.domain.errors import ImeweError, ValidationError


def _desk(site: SiteOps):
    if site.agents is None:
        raise ImeweError("this site process keeps no node agent keys")
    return site.agents


async def list_agents(site: SiteOps, _: Params) -> Params:
    in_fleet = {str(n.id): n for n in site.fleet.list()}
    out = []
    for key in _desk(site).list():
        d = key.to_dict()
        node = in_fleet.get(key.node_id)
        d["machine"] = node.name if node is not None else ""
        d["machine_state"] = node.state.value if node is not None else ""
        out.append(d)
    return to_jsonable({"agents": out})


async def accept_agent(site: SiteOps, p: Params) -> Params:
    key = await _desk(site).decide(site.actor, _text(p, "agent"), accept=True,
                                   fingerprint=_text(p, "fingerprint", ""), replace=bool(p.get("replace")))
    return to_jsonable(dict(key.to_dict(), site_running=site.production is not None))


async def refuse_agent(site: SiteOps, p: Params) -> Params:
    key = await _desk(site).decide(site.actor, _text(p, "agent"), accept=False)
    return to_jsonable(dict(key.to_dict(), site_running=site.production is not None))


def _updates(site: SiteOps):
    updates = _desk(site).updates
    if updates is None:
        raise ImeweError("agents are updated by the running site (imewe serve, or the control room) with discovery "
                         "on; none runs on this home")
    return updates


async def update_agents(site: SiteOps, p: Params) -> Params:
    """Push this install's version to one agent (``node``) or every older one (``all``), in stages."""
    ref = _text(p, "node", "") or None
    if ref is None and not p.get("all"):
        raise ValidationError("name the agent to update, or say all", "node")
    timeout = p.get("timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or not 1 <= timeout <= 3600):
        raise ValidationError("timeout_s must be a number of seconds from 1 to 3600", "timeout_s")
    rollout = await _updates(site).start(site.actor, ref, force=bool(p.get("force")),
                                         timeout_s=float(timeout) if timeout else None)
    return to_jsonable(rollout.to_dict())


async def list_updates(site: SiteOps, _: Params) -> Params:
    return to_jsonable({"rollouts": [r.to_dict() for r in _updates(site).list()]})


AGENT_OPS: tuple[Op, ...] = (
    Op("agents.update", "POST", "/agents/update", update_agents, Action.MACHINES),
    Op("agents.updates", "GET", "/agents/updates", list_updates),
    Op("agents.list", "GET", "/agents", list_agents),
    Op("agents.accept", "POST", "/agents/{agent}/accept", accept_agent, Action.MACHINES),
    Op("agents.refuse", "POST", "/agents/{agent}/refuse", refuse_agent, Action.MACHINES),
)
