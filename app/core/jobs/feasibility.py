"""Is there any machine that could make this part? Checked at submission against the registered fleet."""

from __future__ import annotations

from pathlib import PurePath

from app.core.domain.entities import Job, Node, Part
from app.core.domain.enums import NodeState
from app.core.domain.errors import ValidationError
from app.core.domain.words import process_word


def machines_for(part: Part, nodes: list[Node]) -> list[Node]:
    return [
        n for n in nodes
        if n.state is not NodeState.DECOMMISSIONED
        and n.capabilities.process is part.process
        and n.capabilities.can_use(part.material_type)
        and n.capabilities.fits(part.size_mm)
        and n.capabilities.takes_file(part.file_path)
    ]


def why_not(part: Part, nodes: list[Node]) -> str:
    live = [n for n in nodes if n.state is not NodeState.DECOMMISSIONED]
    same = [n for n in live if n.capabilities.process is part.process]
    if not same:
        return f"no {process_word(part.process)} is registered"  # "no CNC mill", not "no cnc_mill machine"
    with_mat = [n for n in same if n.capabilities.can_use(part.material_type)]
    if not with_mat:
        return f"no {process_word(part.process)} takes {part.material_type}"
    fitting = [n for n in with_mat if n.capabilities.fits(part.size_mm)]
    if fitting:  # they fit, but each runs only sliced files and this part has none of them
        kinds = sorted(set().union(*(n.capabilities.file_kinds() for n in fitting)))
        what = f"only a mesh ({PurePath(part.file_path).name})" if part.file_path else "no file"
        return (f"the machines that fit ({', '.join(n.name for n in fitting[:3])}) print a "
                f"sliced file ({', '.join(kinds)}), and this part has {what}; slice it and attach the G-code")
    x, y, z = part.size_mm
    biggest = max(with_mat, key=lambda n: sorted(n.capabilities.build_volume_mm))
    bx, by, bz = biggest.capabilities.build_volume_mm
    return (f"{x:g} x {y:g} x {z:g} mm does not fit any {process_word(part.process)} "
            f"(largest: {biggest.name}, {bx:g} x {by:g} x {bz:g} mm)")


def check_feasible(job: Job, nodes: list[Node]) -> None:
    for i, part in enumerate(job.parts):
        if not machines_for(part, nodes):
            raise ValidationError(f"part {part.name!r} cannot be made here: {why_not(part, nodes)}",
                                  f"parts[{i}]")
