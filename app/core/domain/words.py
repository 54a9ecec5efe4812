"""The words a person reads for the core's enums: "Printing", "Machining", "Queued", "CNC mill", not ``IN_PROGRESS``
(the window and the command line's text output; ``--json`` keeps the enum values)."""

from __future__ import annotations

from collections.abc import Iterable

from app.core.domain.enums import JobState, NodeState, ProcessType

PROCESS_WORDS: dict[ProcessType, str] = {
    ProcessType.FDM: "FDM printer", ProcessType.SLA: "Resin printer (SLA)", ProcessType.SLS: "SLS printer",
    ProcessType.MJF: "MJF printer", ProcessType.CNC_MILL: "CNC mill", ProcessType.CNC_LATHE: "CNC lathe",
    ProcessType.LASER: "Laser cutter", ProcessType.ROBOT_ARM: "Robot arm", ProcessType.PICK_AND_PLACE: "Pick and place",
    ProcessType.INSPECTION: "Inspection", ProcessType.POST_PROCESSING: "Post-processing",
}
JOB_WORDS: dict[JobState, str] = {
    JobState.SUBMITTED: "Submitted", JobState.VALIDATED: "Checked", JobState.SCHEDULED: "Queued",
    JobState.ASSIGNED: "Starting", JobState.IN_PROGRESS: "Running", JobState.PAUSED: "Paused",
    JobState.COMPLETED: "Done", JobState.FAILED: "Failed", JobState.CANCELLED: "Cancelled",
}
NODE_WORDS: dict[NodeState, str] = {
    NodeState.REGISTERED: "New", NodeState.CONFIGURED: "Set up", NodeState.IDLE: "Ready",
    NodeState.ASSIGNED: "Starting", NodeState.EXECUTING: "Printing", NodeState.COMPLETED: "Finished",
    NodeState.MAINTENANCE: "Maintenance", NodeState.OFFLINE: "Offline", NodeState.ERROR: "Error",
    NodeState.DECOMMISSIONED: "Retired",
}
# What "working" is called on machines that do not print.
_WORKING = {ProcessType.CNC_MILL: "Machining", ProcessType.CNC_LATHE: "Machining", ProcessType.LASER: "Cutting",
            ProcessType.INSPECTION: "Inspecting", ProcessType.ROBOT_ARM: "Working",
            ProcessType.PICK_AND_PLACE: "Working", ProcessType.POST_PROCESSING: "Working"}


def process_word(process: ProcessType | str) -> str:
    try:
        return PROCESS_WORDS[ProcessType(process)]
    except ValueError:
        return str(process).replace("_", " ")


def working_word(process: ProcessType | str | None) -> str:
    """What a machine of this process is doing while it works: "Printing", "Machining", "Cutting", ..."""
    try:
        process = ProcessType(process) if process is not None else None
    except ValueError:
        return "Running"
    if process is None:
        return "Running"
    return _WORKING.get(process, "Printing" if process.additive else "Running")


def node_state_word(state: NodeState, process: ProcessType | None = None) -> str:
    if state is NodeState.EXECUTING and process is not None:
        return working_word(process)
    return NODE_WORDS.get(state, state.value.capitalize())


def job_state_word(state: JobState | str, processes: Iterable[ProcessType | str] | None = None) -> str:
    """A running job reads by what its machines do: "Printing" when every part prints, "Machining" or "Cutting"
    when every part is milled or cut, else "Running" (a job of mixed processes, or with none known)."""
    try:
        state = JobState(state)
    except ValueError:
        return str(state).replace("_", " ").capitalize()
    if state is JobState.IN_PROGRESS:
        words = {working_word(p) for p in processes or ()}
        return words.pop() if len(words) == 1 else "Running"
    return JOB_WORDS.get(state, state.value.capitalize())
