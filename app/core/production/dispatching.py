"""Starting work on machines: the plan's first operations, or the spec's node score in dispatch mode, and
booking a started copy in the store. Plain functions of the ``ProductionService`` they are methods of."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from app.core.domain.attend import START
from app.core.domain.entities import Job, Node, Part
from app.core.domain.errors import ImeweError
from app.core.drivers import FabricationDevice, JobRequest
from app.core.production.runs import Running, S
from app.core.scheduling import dispatch

if TYPE_CHECKING:
    from app.core.production.service import ProductionService

log = logging.getLogger(__name__)

_MACHINE_FILES = (".gcode", ".gco", ".nc", ".ngc", ".g")  # what serial machines run


async def dispatch_by_score(prod: ProductionService) -> None:
    jobs = await prod._jobs.list({S.SCHEDULED, S.ASSIGNED, S.IN_PROGRESS, S.PAUSED}, limit=5000)
    by_part = {p.id: (j, p) for j in jobs for p in j.parts}
    nodes = prod._fleet.list()
    for node in nodes:
        driver = prod._drivers.get(node.id)
        if driver is None or node.id in prod._running or not node.state.available:
            continue
        ready = [p for j, p in by_part.values() if prod._startable(j, p)]
        part = dispatch(node, ready, [n for n in nodes if n.id in prod._drivers],
                        priority={j.id: j.priority for j in jobs})
        if part is not None:
            job, part = by_part[part.id]
            copy = prod._done_copies.get(part.id, 0) + sum(r.part_id == part.id for r in prod._running.values())
            await prod._start(node, driver, job, part, copy)
            by_part[part.id] = (await prod._jobs.get(job.id), part)


def startable(prod: ProductionService, job: Job, part: Part) -> bool:
    if part.state not in (S.SCHEDULED, S.IN_PROGRESS):
        return False
    running = sum(r.part_id == part.id for r in prod._running.values())
    if max(part.quantity, 1) - prod._done_copies.get(part.id, 0) - running <= 0:
        return False
    staffed = prod._staffed  # work that needs a person at its start waits for someone to be there
    if staffed is not None and staffed.needs(job.metadata) & START and not staffed.is_staffed(prod._clock.now()):
        return False
    return all(prod._part_state(job, d) is S.COMPLETED for d in part.depends_on)


async def start_planned(prod: ProductionService, first_ops: dict[UUID, tuple[UUID, UUID, int]]) -> None:
    for node_id, (part_id, job_id, copy) in first_ops.items():
        node = prod._fleet.get(node_id)
        driver = prod._drivers.get(node_id)
        if driver is None or node_id in prod._running or not node.state.available:
            continue
        job = await prod._jobs.get(job_id)
        part = next((p for p in job.parts if p.id == part_id), None)
        if part is None or part.state not in (S.SCHEDULED, S.IN_PROGRESS):
            continue
        if any(prod._part_state(job, d) is not S.COMPLETED for d in part.depends_on):
            continue  # an assembly waits for every part it needs (the swarm's sync point)
        await prod._start(node, driver, job, part, copy)


async def start(prod: ProductionService, node: Node, driver: FabricationDevice, job: Job, part: Part,
                copy: int) -> None:
    if prod._before_start is not None:  # e.g. a failure-risk alert; done before the run is registered
        await prod._before_start(node, job, part)
    prod._starts += 1
    # The file goes to the machine when it is one the driver runs (network printers also take .bgcode, and a
    # Bambu printer a sliced .3mf); otherwise the driver gets none and refuses with its own reason.
    suffixes = tuple(getattr(driver, "job_suffixes", _MACHINE_FILES))
    gcode = part.file_path if part.file_path and part.file_path.lower().endswith(suffixes) else None
    request = JobRequest(job_id=job.id, gcode_path=Path(gcode) if gcode else None,
                         estimate_s=float(part.estimated_duration_s or 3600),
                         material_g=part.estimated_material_g,
                         spec={"name": f"{job.name}/{part.name}", "material": part.material_type,
                               "copy": copy, "part_id": str(part.id)})
    run = Running(part.id, job.id, copy, max(part.quantity, 1))
    request.spec["run_id"] = run.run_id
    prod._cancelled_copies.pop(node.id, None)  # the machine took new work: an old copy's end is not awaited
    prod._running[node.id] = run
    try:
        await driver.execute(request)
    except ImeweError as exc:
        prod._running.pop(node.id, None)
        log.warning("%s refused %s: %s", node.name, part.name, exc)
        return
    await prod._book_on_machine(job, part, node.id, f"on {node.name}")


async def book_on_machine(prod: ProductionService, job: Job, part: Part, node_id: UUID, reason: str,
                          reassign: bool = False) -> Job:
    """The store follows a copy that a machine has started (or, after a reconnect, is found making);
    ``reassign``: a part already in progress elsewhere is now this machine's."""
    if reassign and part.state is S.IN_PROGRESS and part.assigned_node != node_id:
        job = await prod._jobs.transition(job.id, job.state, reason, assign={part.id: node_id})
        part = next(p for p in job.parts if p.id == part.id)
    if part.state is S.VALIDATED:  # moved off a machine that came back still making it
        target = S.SCHEDULED if job.state is S.VALIDATED else job.state
        job = await prod._jobs.transition(job.id, target, reason, parts={part.id: S.SCHEDULED})
        part = next(p for p in job.parts if p.id == part.id)
    if part.state is S.SCHEDULED:
        target = S.ASSIGNED if job.state is S.SCHEDULED else job.state
        job = await prod._jobs.transition(job.id, target, reason, parts={part.id: S.ASSIGNED},
                                          assign={part.id: node_id})
        target = S.IN_PROGRESS if job.state in (S.ASSIGNED, S.PAUSED) else job.state
        job = await prod._jobs.transition(job.id, target, reason, parts={part.id: S.IN_PROGRESS})
    elif job.state is S.PAUSED:
        job = await prod._jobs.transition(job.id, S.IN_PROGRESS, reason, assign={part.id: node_id})
    return job
