"""Is there any machine that could make this part? Checked at submission against the registered fleet."""

from __future__ import annotations

from app.core.domain.entities import Job, Node, Part
from app.core.domain.enums import NodeState
from app.core.domain.errors import ValidationError


def machines_for(part: Part, nodes: list[Node]) -> list[Node]:
    return [
        n for n in nodes
        if n.state is not NodeState.DECOMMISSIONED
        and n.capabilities.process is part.process
        and n.capabilities.can_use(part.material_type)
        and n.capabilities.fits(part.size_mm)
    ]


def why_not(part: Part, nodes: list[Node]) -> str:
    live = [n for n in nodes if n.state is not NodeState.DECOMMISSIONED]
    same = [n for n in live if n.capabilities.process is part.process]
    if not same:
        return f"no {part.process.value} machine is registered"
    with_mat = [n for n in same if n.capabilities.can_use(part.material_type)]
    if not with_mat:
        return f"no {part.process.value} machine takes {part.material_type}"
    x, y, z = part.size_mm
    biggest = max(with_mat, key=lambda n: sorted(n.capabilities.build_volume_mm))
    bx, by, bz = biggest.capabilities.build_volume_mm
    return (f"{x:g} x {y:g} x {z:g} mm does not fit any {part.process.value} machine "
            f"(largest: {biggest.name}, {bx:g} x {by:g} x {bz:g} mm)")


def check_feasible(job: Job, nodes: list[Node]) -> None:
    for i, part in enumerate(job.parts):
        if not machines_for(part, nodes):
            raise ValidationError(f"part {part.name!r} cannot be made here: {why_not(part, nodes)}",
                                  f"parts[{i}]")
