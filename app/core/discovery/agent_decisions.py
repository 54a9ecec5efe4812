"""A person accepts or refuses a node agent's key: checked against the permission table, written to the audit log,
and acted on at once by a running site (an accepted agent is linked, a refused one dropped)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core import audit
from app.core.auth.permissions import Action
from app.core.auth.principal import ActorLike, authorize
from app.core.clock import Clock
from app.core.discovery.agent_trust import AgentKey, AgentTrust
from app.core.store.db import Store


async def decide_agent(trust: AgentTrust, store: Store, clock: Clock, actor: ActorLike, ref: str, *, accept: bool,
                       fingerprint: str = "", replace: bool = False, discovery: Any = None) -> AgentKey:
    """``ref``: the agent's name, fingerprint or node id; ``discovery``: the running site's, to act at once."""
    name = authorize(actor, Action.MACHINES)
    before = trust.find(ref).to_dict()
    if accept:
        key = trust.accept(ref, name, fingerprint=fingerprint, replace=replace)
    else:
        key = trust.refuse(ref, name)

    def write() -> None:
        with store.begin() as conn:
            audit.record(conn, clock.now(), name, f"agent.{'accept' if accept else 'refuse'}",
                         f"agent:{key.fingerprint}", {"state": before["state"]},
                         {"state": key.state, "name": key.name, "node_id": key.node_id})

    await store.run(write)
    if discovery is not None:
        await discovery.recheck()
    return key


@dataclass(slots=True)
class AgentDesk:
    """What the ``agents.*`` operations act on: the accepted keys, the store for the audit log, and the running
    site's discovery when there is one (None in a CLI process with no site running)."""

    trust: AgentTrust
    store: Store
    clock: Clock
    discovery: Any = None
    updates: Any = None  # the running site's AgentUpdates (software rollouts)

    def list(self) -> list[AgentKey]:
        return self.trust.list()

    async def decide(self, actor: ActorLike, ref: str, *, accept: bool, fingerprint: str = "",
                     replace: bool = False) -> AgentKey:
        return await decide_agent(self.trust, self.store, self.clock, actor, ref, accept=accept,
                                  fingerprint=fingerprint, replace=replace, discovery=self.discovery)
