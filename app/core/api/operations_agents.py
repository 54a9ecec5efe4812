"""Node agents' keys (trust on first use by a person) and their software updates, as site operations.

``agents.accept`` and ``agents.refuse`` change who gets the pairing token; a running site acts on them at once.
"""

from __future__ import annotations

from app.core.api.jsonable import to_jsonable
from app.core.api.operations import Op, Params, SiteOps, _text
from app.core.auth.permissions import Action
from app.core.domain.errors import ImeweError


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


AGENT_OPS: tuple[Op, ...] = (
    Op("agents.list", "GET", "/agents", list_agents),
    Op("agents.accept", "POST", "/agents/{agent}/accept", accept_agent, Action.MACHINES),
    Op("agents.refuse", "POST", "/agents/{agent}/refuse", refuse_agent, Action.MACHINES),
)
