"""The fleet: register, configure, maintain and decommission machines; their state is kept here.

Nodes live in memory (the UI and the scheduler read them often) and every change is written through to the
store, with its state change and an audit entry, in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from app.core import audit
from app.core.auth.permissions import Action
from app.core.auth.principal import ActorLike, authorize
from app.core.bus import EventBus
from app.core.clock import Clock
from app.core.domain.capabilities import Capabilities
from app.core.domain.entities import Node, NodeConfig, NodeMaintenance
from app.core.domain.enums import MaintenanceType, NodeState
from app.core.domain.errors import NotFoundError, StoreError, ValidationError
from app.core.domain.states import StateChange, advance
from app.core.events import NodeRegistered, NodeUpdated, StateChanged
from app.core.jobs.validation import check_name
from app.core.store.db import Store
from app.core.store.repositories import HistoryRepo, NodeRepo

log = logging.getLogger(__name__)
N = NodeState


class FleetService:
    name = "fleet"

    def __init__(self, store: Store, bus: EventBus, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._nodes_repo = NodeRepo()
        self._history = HistoryRepo()
        self._nodes: dict[UUID, Node] = {}
        self._write_locks: dict[UUID, asyncio.Lock] = {}  # read-modify-write of one machine, one at a time

    # ------------------------------------------------------------ life cycle
    async def start(self) -> None:
        nodes = await self._store.run(self._load)
        self._nodes = {n.id: n for n in nodes}

    async def stop(self) -> None:
        pass

    def health(self) -> str:
        return "ok"

    def _load(self) -> list[Node]:
        with self._store.connect() as conn:
            return self._nodes_repo.list(conn)

    # ------------------------------------------------------------ reads (in memory, instant)
    def list(self, states: set[NodeState] | None = None) -> list[Node]:
        nodes = sorted(self._nodes.values(), key=lambda n: n.name)
        return [n for n in nodes if states is None or n.state in states]

    def get(self, node_id: UUID) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError as exc:
            raise NotFoundError(f"no machine {node_id}") from exc

    def find(self, ref: str) -> Node:
        """A machine by id, id prefix or name (what an operator types)."""
        ref = ref.strip()
        for n in self._nodes.values():
            if n.name == ref or str(n.id) == ref:
                return n
        matches = [n for n in self._nodes.values() if len(ref) >= 4 and str(n.id).startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        raise NotFoundError(f"no machine named or numbered {ref[:60]!r}")

    def find_by_address(self, address: str) -> Node | None:
        return next((n for n in self._nodes.values() if n.address == address), None)

    def counts_by_state(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for n in self._nodes.values():
            out[n.state.value] = out.get(n.state.value, 0) + 1
        return out

    # ------------------------------------------------------------ writes
    async def register(
        self, name: str, capabilities: Capabilities | dict[str, Any], *, address: str = "", driver: str = "sim",
        location: str = "", node_id: UUID | None = None, software_version: str = "",
        actor: ActorLike = "system", bring_up: bool = False,
    ) -> Node:
        """The spec's register_node. With ``bring_up`` the machine goes REGISTERED → CONFIGURED → IDLE at once
        (plug-and-play: it told us its capabilities)."""
        actor = authorize(actor, Action.MACHINES)
        name = check_name(name, "machine name", "name")
        caps = capabilities if isinstance(capabilities, Capabilities) else Capabilities.from_dict(capabilities)
        if any(n.name == name for n in self._nodes.values()):
            raise ValidationError(f"a machine named {name!r} is already registered", "name")
        if node_id is not None and node_id in self._nodes:
            raise ValidationError(f"machine {node_id} is already registered", "node_id")
        now = self._clock.now()
        node = Node(name=name, capabilities=caps, address=address, driver=driver, location=location,
                    software_version=software_version, registered_at=now)
        if node_id is not None:
            node.id = node_id
        changes = [StateChange("node", node.id, None, N.REGISTERED.value, now, "registered", actor)]
        cfg = NodeConfig(node_id=node.id, capabilities=caps, software_version=software_version)
        if bring_up:
            node.config_profile_id = cfg.id
            changes.append(advance(node, N.CONFIGURED, now, "capabilities reported", actor))
            changes.append(advance(node, N.IDLE, now, "ready", actor))

        def write() -> None:
            with self._store.begin() as conn:
                self._nodes_repo.add(conn, node)
                if bring_up:
                    self._nodes_repo.add_config(conn, cfg, now.timestamp())
                self._history.add(conn, changes)
                audit.record(conn, now, actor, "node.register", f"node:{node.id}", None, _summary(node))

        await self._store.run(write)
        self._nodes[node.id] = node
        self._bus.publish(NodeRegistered(node.id))
        for c in changes:
            self._bus.publish(StateChanged(c))
        return node

    async def configure(
        self, node_id: UUID, capabilities: Capabilities | dict[str, Any] | None = None, *,
        settings: dict[str, Any] | None = None, location: str | None = None, address: str | None = None,
        software_version: str | None = None, actor: ActorLike = "system",
    ) -> Node:
        """Change capabilities, settings, location, address or software version (one write at a time per
        machine: a state change meanwhile is not overwritten by a copy taken before it)."""
        async with self._writing(node_id):
            return await self._configure(node_id, capabilities, settings=settings, location=location,
                                         address=address, software_version=software_version, actor=actor)

    async def _configure(
        self, node_id: UUID, capabilities: Capabilities | dict[str, Any] | None = None, *,
        settings: dict[str, Any] | None = None, location: str | None = None, address: str | None = None,
        software_version: str | None = None, actor: ActorLike = "system",
    ) -> Node:
        actor = authorize(actor, Action.MACHINES)
        node = self.get(node_id)
        before = _summary(node)
        new = replace(node, material_levels=dict(node.material_levels), active_jobs=list(node.active_jobs))
        if capabilities is not None:
            new.capabilities = (capabilities if isinstance(capabilities, Capabilities)
                                else Capabilities.from_dict(capabilities))
        if location is not None:
            new.location = location
        if address is not None:
            new.address = address
        if software_version is not None:
            new.software_version = software_version[:64]
        cfg = NodeConfig(node_id=node.id, capabilities=new.capabilities, software_version=new.software_version,
                         custom_settings=settings or {})
        new.config_profile_id = cfg.id
        now = self._clock.now()
        changes = []
        if node.state is N.REGISTERED:
            changes.append(advance(new, N.CONFIGURED, now, "configured", actor))

        def write() -> None:
            with self._store.begin() as conn:
                self._nodes_repo.update(conn, new)
                self._nodes_repo.add_config(conn, cfg, now.timestamp())
                self._history.add(conn, changes)
                audit.record(conn, now, actor, "node.configure", f"node:{node.id}", before, _summary(new))

        await self._store.run(write)
        self._nodes[node.id] = new
        self._bus.publish(NodeUpdated(node.id, "config"))
        for c in changes:
            self._bus.publish(StateChanged(c))
        return new

    async def set_state(self, node_id: UUID, target: NodeState | list[NodeState], reason: str = "",
                        actor: str = "system") -> Node:
        """Move a machine through one transition, or through the listed ones in order (each must be legal)."""
        async with self._writing(node_id):
            return await self._set_state(node_id, target, reason, actor)

    def _writing(self, node_id: UUID) -> asyncio.Lock:
        return self._write_locks.setdefault(node_id, asyncio.Lock())

    async def _set_state(self, node_id: UUID, target: NodeState | list[NodeState], reason: str,
                         actor: str) -> Node:
        node = self.get(node_id)
        path = list(target) if isinstance(target, list) else [target]
        if path == [node.state]:
            return node
        now = self._clock.now()
        new = replace(node, material_levels=dict(node.material_levels), active_jobs=list(node.active_jobs))
        changes = [advance(new, step, now, reason, actor) for step in path]

        def write() -> None:
            with self._store.begin() as conn:
                self._nodes_repo.update(conn, new)
                self._history.add(conn, changes)
                audit.record(conn, now, actor, "node.state", f"node:{node.id}", {"state": node.state.value},
                             {"state": new.state.value, "reason": reason})

        await self._store.run(write)
        self._nodes[node.id] = new
        for c in changes:
            self._bus.publish(StateChanged(c))
        return new

    async def update_live(self, node_id: UUID, *, power_w: float | None = None,
                          material_levels: dict[str, float] | None = None, uptime_s: int | None = None,
                          persist: bool = False) -> None:
        """Live values reported by a machine; kept in memory, written to the store when ``persist``."""
        node = self.get(node_id)
        if power_w is not None:
            node.energy_level = power_w
        if material_levels is not None:
            node.material_levels = dict(material_levels)
        if uptime_s is not None:
            node.uptime_s = uptime_s
        if persist:
            snapshot = replace(node, material_levels=dict(node.material_levels))

            def write() -> None:
                with self._store.begin() as conn:
                    self._nodes_repo.update(conn, snapshot)

            await self._store.run(write)
        self._bus.publish(NodeUpdated(node_id, "live"))

    async def schedule_maintenance(self, node_id: UUID, when: datetime, kind: MaintenanceType = MaintenanceType.SCHEDULED,
                                   notes: str = "", actor: ActorLike = "system") -> NodeMaintenance:
        actor = authorize(actor, Action.MACHINES)
        node = self.get(node_id)
        if node.state is N.DECOMMISSIONED:
            raise ValidationError(f"machine {node.name} is decommissioned", "node")
        if when.tzinfo is None:
            raise ValidationError("maintenance time needs a time zone", "when")
        m = NodeMaintenance(node_id=node.id, type=kind, scheduled_date=when, notes=notes[:5000])
        now = self._clock.now()

        def write() -> None:
            with self._store.begin() as conn:
                self._nodes_repo.add_maintenance(conn, m)
                audit.record(conn, now, actor, "node.maintenance.schedule", f"node:{node.id}", None,
                             {"maintenance": str(m.id), "type": kind.value, "when": when.isoformat()})

        await self._store.run(write)
        self._bus.publish(NodeUpdated(node.id, "maintenance"))
        return m

    async def start_maintenance(self, node_id: UUID, reason: str = "maintenance",
                                actor: ActorLike = "system") -> Node:
        actor = authorize(actor, Action.MACHINES)
        return await self.set_state(node_id, N.MAINTENANCE, reason, actor)

    async def complete_maintenance(self, node_id: UUID, notes: str = "", actor: ActorLike = "system") -> Node:
        """Close the machine's open maintenance (the latest scheduled one, or a new emergency record) and bring it
        back to IDLE, in one guarded transaction: of two completions at once, here or in another process, one
        completes and the other is refused with nothing changed."""
        actor = authorize(actor, Action.MACHINES)
        async with self._writing(node_id):
            return await self._complete_maintenance(node_id, notes, actor)

    async def _complete_maintenance(self, node_id: UUID, notes: str, actor: str) -> Node:
        node = self.get(node_id)
        if node.state is N.IDLE:
            raise ValidationError(f"machine {node.name} is idle: no maintenance to complete", "node")
        now = self._clock.now()
        new = replace(node, material_levels=dict(node.material_levels), active_jobs=list(node.active_jobs),
                      last_maintenance=now)
        changes = [advance(new, N.IDLE, now, "maintenance done", actor)]

        def write() -> Node | None:
            """None when done; the stored machine when another writer changed it first (nothing written)."""
            with self._store.begin() as conn:
                if not self._nodes_repo.move(conn, new, from_state=node.state):
                    return self._nodes_repo.get(conn, node.id)
                open_recs = self._nodes_repo.maintenance(conn, node.id, open_only=True)
                if open_recs:
                    rec = replace(open_recs[-1], completed_date=now)
                    rec.notes = (rec.notes + ("\n" if rec.notes and notes else "") + notes)[:5000]
                    if not self._nodes_repo.complete_maintenance(conn, rec):
                        raise StoreError(f"the maintenance of {node.name} changed while it was completed")
                else:
                    rec = NodeMaintenance(node_id=node.id, type=MaintenanceType.EMERGENCY, scheduled_date=now,
                                          completed_date=now, notes=notes[:5000])
                    self._nodes_repo.add_maintenance(conn, rec)
                self._history.add(conn, changes)
                audit.record(conn, now, actor, "node.maintenance.complete", f"node:{node.id}",
                             {"state": node.state.value}, {"state": new.state.value, "notes": notes[:200]})
                return None

        stored = await self._store.run(write)
        if stored is not None:
            self._nodes[node.id] = replace(node, state=stored.state, last_maintenance=stored.last_maintenance)
            raise ValidationError(f"machine {node.name} changed meanwhile (it is {stored.state.value.lower()} "
                                  "now; its maintenance was completed already?): nothing changed", "node")
        self._nodes[node.id] = new
        for c in changes:
            self._bus.publish(StateChanged(c))
        return new

    async def maintenance(self, node_id: UUID) -> list[NodeMaintenance]:
        self.get(node_id)

        def read() -> list[NodeMaintenance]:
            with self._store.connect() as conn:
                return self._nodes_repo.maintenance(conn, node_id)

        return await self._store.run(read)

    async def open_maintenance(self) -> list[NodeMaintenance]:
        """Every machine's maintenance not completed yet (what the planner keeps its machine free for)."""

        def read() -> list[NodeMaintenance]:
            with self._store.connect() as conn:
                return self._nodes_repo.maintenance(conn, None, open_only=True)

        return await self._store.run(read)

    async def decommission(self, node_id: UUID, actor: ActorLike = "system") -> Node:
        actor = authorize(actor, Action.MACHINES)
        node = self.get(node_id)
        if node.state in (N.ASSIGNED, N.EXECUTING):
            raise ValidationError(f"machine {node.name} is working; stop or move its job first", "node")
        return await self.set_state(node_id, N.DECOMMISSIONED, "decommissioned", actor)

    async def timeline(self, node_id: UUID) -> list[StateChange]:
        def read() -> list[StateChange]:
            with self._store.connect() as conn:
                return self._history.timeline(conn, [node_id])

        return await self._store.run(read)


def _summary(node: Node) -> dict[str, Any]:
    return {"name": node.name, "state": node.state.value, "address": node.address, "driver": node.driver,
            "location": node.location, "capabilities": node.capabilities.to_dict()}
