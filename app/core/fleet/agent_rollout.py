"""Pushing this site's software to its node agents, in stages: one agent first, the rest only once it came back
healthy on the new version. An agent that rolls back (or does not come back in time) stops the rollout there.

Drivers are reached through the running site's links (the agent link's driver has ``push_update``,
``software_version`` and ``last_update``); a link replaced while the agent restarts is looked up again each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

from app.core.auth.permissions import Action
from app.core.auth.principal import ActorLike, authorize
from app.core.domain.enums import NodeState
from app.core.domain.errors import ImeweError, ValidationError
from app.core.fleet.agent_package import AgentPackage, is_older
from app.core.fleet.service import FleetService

log = logging.getLogger(__name__)
UP_STATES = {"idle", "working", "paused", "error"}


@dataclass(slots=True)
class Step:
    node_id: str
    name: str
    from_version: str
    state: str = "waiting"  # waiting, sending, restarting, updated, rolled back, failed, not sent
    message: str = ""


@dataclass(slots=True)
class Rollout:
    id: int
    version: str
    by: str
    started_at: float
    state: str = "running"  # running, done, stopped
    message: str = ""
    steps: list[Step] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AgentUpdates:
    """``links()``: the running site's agent links by node id; ``package()``: this install, packed and signed."""

    def __init__(self, fleet: FleetService, links: Callable[[], dict[UUID, Any]],
                 package: Callable[[], AgentPackage], *, timeout_s: float = 120.0) -> None:
        self.fleet = fleet
        self.links = links
        self.package = package
        self.timeout_s = timeout_s
        self.rollouts: list[Rollout] = []
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()

    def list(self) -> list[Rollout]:
        return list(reversed(self.rollouts))

    def targets(self, ref: str | None, version: str, *, force: bool = False) -> list[tuple[Any, str]]:
        """(node, its version) of the linked agents to update: one by name or id, or every agent older than
        ``version`` (``force``: whatever version they run)."""
        links = self.links()
        if ref:
            node = self.fleet.find(ref)
            if node.id not in links or node.driver != "agent":
                raise ValidationError(f"{node.name} is not a node agent linked to this site now", "node")
            nodes = [node]
        else:
            nodes = [n for n in self.fleet.list() if n.id in links and n.driver == "agent"]
        out = []
        for n in nodes:
            running = str(getattr(links[n.id].driver, "software_version", "") or n.software_version)
            if force or not running or is_older(running, version) or (ref and running != version):
                out.append((n, running))
        return out

    async def start(self, actor: ActorLike, ref: str | None = None, *, force: bool = False,
                    package: AgentPackage | None = None, timeout_s: float | None = None) -> Rollout:
        by = authorize(actor, Action.MACHINES)
        if any(r.state == "running" for r in self.rollouts):
            raise ImeweError("an update of the agents is already running: see imewe nodes updates")
        pkg = package or self.package()
        targets = self.targets(ref, pkg.version, force=force)
        rollout = Rollout(next(self._ids), pkg.version, by, time.time(),
                          steps=[Step(str(n.id), n.name, v) for n, v in targets])
        if not targets:
            rollout.state, rollout.message = "done", f"every linked agent already runs {pkg.version}"
        self.rollouts.append(rollout)
        del self.rollouts[:-20]
        if targets:
            task = asyncio.get_running_loop().create_task(self._run(rollout, pkg, timeout_s or self.timeout_s))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return rollout

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, rollout: Rollout, pkg: AgentPackage, timeout_s: float) -> None:
        first, rest = rollout.steps[0], rollout.steps[1:]
        log.info("updating node agents to %s: %s first, then %d more", pkg.version, first.name, len(rest))
        if not await self._one(first, pkg, timeout_s):
            for s in rest:
                s.state, s.message = "not sent", f"{first.name} did not come up healthy on {pkg.version}"
            rollout.state = "stopped"
            rollout.message = f"stopped after {first.name}: {first.message}; the others were left as they are"
            return
        results = await asyncio.gather(*(self._one(s, pkg, timeout_s) for s in rest))
        rollout.state = "done" if all(results) else "stopped"
        failed = [s.name for s, ok in zip(rest, results, strict=True) if not ok]
        rollout.message = f"{len(rollout.steps) - len(failed)} of {len(rollout.steps)} agents run {pkg.version}" + (
            f"; not: {', '.join(failed)}" if failed else "")

    async def _one(self, step: Step, pkg: AgentPackage, timeout_s: float) -> bool:
        node_id = UUID(step.node_id)
        link = self.links().get(node_id)
        if link is None:
            step.state, step.message = "failed", "not linked now"
            return False
        before = (link.driver.last_update or {}).get("at")
        first_link, reconnects = link, getattr(link.driver, "reconnects", 0)
        step.state = "sending"
        try:
            step.message = await link.driver.push_update(pkg)
        except ImeweError as exc:
            step.state, step.message = "failed", str(exc)
            return False
        step.state = "restarting"
        deadline = time.monotonic() + timeout_s
        went_down = False  # the agent must be seen to restart: the same version (--force) is no proof
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            link = self.links().get(node_id)
            if link is None:
                went_down = True
                continue
            d = link.driver
            if link is not first_link or getattr(d, "reconnects", 0) != reconnects:
                went_down = True
            if d.status().state.value not in UP_STATES:
                went_down = True
                continue
            if not went_down:
                continue
            last = d.last_update or {}
            if last.get("at") != before and last.get("outcome") == "rolled back":
                step.state, step.message = "rolled back", str(last.get("message") or "rolled back")
                return False
            if d.software_version == pkg.version:
                step.state, step.message = "updated", f"{step.from_version or '?'} → {pkg.version}"
                await self._record_version(node_id, pkg.version)
                return True
        step.state = "failed"
        step.message = f"did not come back on {pkg.version} within {timeout_s:.0f} s"
        return False

    async def _record_version(self, node_id: UUID, version: str) -> None:
        with contextlib.suppress(ImeweError):
            if self.fleet.get(node_id).state is not NodeState.DECOMMISSIONED:
                await self.fleet.configure(node_id, software_version=version, actor="updates")
