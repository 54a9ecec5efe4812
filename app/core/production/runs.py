"""What production keeps of a copy a machine makes, and the job/node state sets it plans by."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID, uuid4

from app.core.domain.enums import JobState, NodeState

S = JobState
OPEN = {S.VALIDATED, S.SCHEDULED, S.ASSIGNED, S.IN_PROGRESS, S.PAUSED}
GONE = {NodeState.OFFLINE, NodeState.ERROR, NodeState.DECOMMISSIONED, NodeState.MAINTENANCE}
MAX_ATTEMPTS = 3
RESUMED_S = 10.0  # a machine back in reach, still making its copy, has this long for its node to leave OFFLINE
DISPATCH_SLACK_S = 1.0  # work planned to start within this is started now


@dataclass(slots=True)
class Running:
    part_id: UUID
    job_id: UUID
    copy: int
    quantity: int  # copies of the part in all, for progress without a store read per report
    fraction: float = 0.0
    run_id: str = field(default_factory=lambda: uuid4().hex)  # told to the machine; it names the run on return
