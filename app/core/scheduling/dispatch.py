"""Real-time dispatch: the spec's weighted node score, used when a machine frees up.

score = 0.30 capability match + 0.20 (1 - load) + 0.20 energy efficiency + 0.15 material availability
        + 0.15 proximity (1 / (1 + distance))
Every term is in [0, 1]; weights are configurable (and are what a learned policy would tune).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from app.core.domain.entities import Node, Part
from app.core.domain.enums import NodeState
from app.core.scheduling.builder import node_can_run


@dataclass(frozen=True, slots=True)
class DispatchWeights:
    capability: float = 0.30
    load: float = 0.20
    energy: float = 0.20
    material: float = 0.15
    distance: float = 0.15


@dataclass(frozen=True, slots=True)
class NodeScore:
    node_id: UUID
    score: float
    terms: dict[str, float]


def _capability(node: Node, part: Part) -> float:
    """1 with the part's material loaded, 0.8 when it must be loaded; a tighter build volume scores a bit less
    so that big machines stay free for big parts."""
    caps = node.capabilities
    loaded = 1.0 if caps.loaded_material == part.material_type else 0.8
    vol = caps.build_volume_mm
    if any(vol) and any(part.size_mm):
        fill = 1.0
        for s, v in zip(sorted(part.size_mm), sorted(vol), strict=True):
            fill *= s / v if v else 1.0
        return loaded * (0.85 + 0.15 * fill)  # a snug fit wastes less machine
    return loaded


def score_nodes(part: Part, nodes: Sequence[Node], *, weights: DispatchWeights = DispatchWeights(),
                load: Mapping[UUID, float] | None = None, distance: Mapping[UUID, float] | None = None,
                tags: Sequence[str] = ()) -> list[NodeScore]:
    """Eligible nodes for ``part``, best first. ``load`` per node in [0, 1] (default: busy = 1 for a node with
    active jobs); ``distance`` per node in metres (or any unit; default 0)."""
    eligible = [n for n in nodes
                if node_can_run(n, part.process, part.material_type, part.size_mm, tags, part=part) is None]
    if not eligible:
        return []
    max_w = max((n.capabilities.max_power_w for n in eligible), default=0.0)
    out = []
    for n in eligible:
        ld = (load or {}).get(n.id, 1.0 if n.active_jobs or n.state == NodeState.EXECUTING else 0.0)
        w = n.capabilities.max_power_w
        energy = 1.0 - w / max_w if max_w > 0 else 1.0
        energy = 0.5 + 0.5 * energy  # the most power-hungry machine is still usable
        need = part.estimated_material_g * max(part.quantity, 1)
        have = n.material_levels.get(part.material_type)
        if have is None:
            mat = 0.5 if n.capabilities.loaded_material == part.material_type else 0.3
        else:
            mat = 1.0 if need <= 0 or have >= need else max(have / need, 0.0)
        dist = (distance or {}).get(n.id, 0.0)
        terms = {"capability": _capability(n, part), "load": 1.0 - min(max(ld, 0.0), 1.0), "energy": energy,
                 "material": mat, "distance": 1.0 / (1.0 + max(dist, 0.0))}
        score = (weights.capability * terms["capability"] + weights.load * terms["load"]
                 + weights.energy * terms["energy"] + weights.material * terms["material"]
                 + weights.distance * terms["distance"])
        out.append(NodeScore(n.id, score, terms))
    out.sort(key=lambda s: -s.score)
    return out


def dispatch(freed: Node, ready: Sequence[Part], nodes: Sequence[Node], *,
             weights: DispatchWeights = DispatchWeights(), load: Mapping[UUID, float] | None = None,
             distance: Mapping[UUID, float] | None = None, priority: Mapping[UUID, int] | None = None) -> Part | None:
    """The part the freed machine should start now, or None.

    A part goes to the freed machine only if no other *idle* machine scores higher for it (so a part is not
    grabbed by a worse machine a moment before its best one frees up); among those, the most urgent job first
    (``priority`` per job id, 1..10), then the best score.
    """
    idle = [n for n in nodes if n.id == freed.id or (not n.active_jobs and n.state == NodeState.IDLE)]
    best: tuple[tuple[float, float], Part] | None = None
    for part in ready:
        ranked = score_nodes(part, idle, weights=weights, load=load, distance=distance)
        mine = next((r.score for r in ranked if r.node_id == freed.id), None)
        if mine is None or ranked[0].score > mine + 1e-9:
            continue
        key = (float((priority or {}).get(part.job_id, 5)), mine)
        if best is None or key > best[0]:
            best = (key, part)
    return best[1] if best else None
