"""The words an operator reads for the core's enums: "Printing", "Queued", "CNC mill", not ``IN_PROGRESS``."""

from __future__ import annotations

from app.core.domain.enums import JobState, NodeState, ProcessType

PROCESS_WORDS: dict[ProcessType, str] = {
    ProcessType.FDM: "FDM printer", ProcessType.SLA: "Resin printer (SLA)", ProcessType.SLS: "SLS printer",
    ProcessType.MJF: "MJF printer", ProcessType.CNC_MILL: "CNC mill", ProcessType.CNC_LATHE: "CNC lathe",
    ProcessType.LASER: "Laser cutter", ProcessType.ROBOT_ARM: "Robot arm", ProcessType.PICK_AND_PLACE: "Pick and place",
    ProcessType.INSPECTION: "Inspection", ProcessType.POST_PROCESSING: "Post-processing",
}
JOB_WORDS: dict[JobState, str] = {
    JobState.SUBMITTED: "Submitted", JobState.VALIDATED: "Checked", JobState.SCHEDULED: "Queued",
    JobState.ASSIGNED: "Starting", JobState.IN_PROGRESS: "Printing", JobState.PAUSED: "Paused",
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


def node_state_word(state: NodeState, process: ProcessType | None = None) -> str:
    if state is NodeState.EXECUTING and process is not None:
        return _WORKING.get(process, "Printing")
    return NODE_WORDS.get(state, state.value.capitalize())


def job_state_word(state: JobState, processes: set[ProcessType] | None = None) -> str:
    """A job that prints nothing is "Running" (or what its one process does) rather than "Printing"."""
    if state is JobState.IN_PROGRESS and processes and not any(p.additive for p in processes):
        words = {_WORKING.get(p, "Running") for p in processes}
        return words.pop() if len(words) == 1 else "Running"
    return JOB_WORDS.get(state, state.value.capitalize())
