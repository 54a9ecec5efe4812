"""Turns a network machine's reports into driver events and keeps one job's story straight (sans-I/O).

The tracker never talks to the machine; the driver feeds it reports and emits what it returns. It decides:
- the driver state from the machine's phase;
- job progress, layer and time left (the machine's figure next to ours, from the planner's estimate);
- when the job ended and how (completed, cancelled on the machine, failed);
- after a lost link or a restart of Imewe, whether the job is still on the machine: then it is followed again,
  never started a second time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from uuid import UUID

from app.core.drivers import (
    DriverEvent,
    DriverFault,
    DriverJobFinished,
    DriverJobProgress,
    DriverState,
    DriverStateChanged,
    DriverTelemetry,
    JobOutcome,
)
from app.devices.network.report import MachinePhase, MachineReport, job_id_from_remote, same_file

P = MachinePhase
_RUNNING = {P.PRINTING, P.PAUSED, P.BUSY}


@dataclass(slots=True)
class ActiveJob:
    job_id: UUID | None
    remote_name: str
    estimate_s: float = 0.0
    submitted_at_s: float = 0.0
    seen_running: bool = False
    fraction: float = 0.0
    adopted: bool = False  # found on the machine (after a restart of Imewe), not sent by this process


class JobTracker:
    """``start_grace_s``: how long a machine may stay idle after being told to print before the job counts as
    refused (machines take a moment to select a file and start heating)."""

    def __init__(self, label: str, start_grace_s: float = 30.0) -> None:
        self.label = label
        self.start_grace_s = start_grace_s
        self.job: ActiveJob | None = None
        self._last_error = ""
        self._ended: deque[str] = deque(maxlen=16)  # files of jobs already closed: never adopted again

    # ------------------------------------------------------------------ our side
    def begin(self, job_id: UUID | None, remote_name: str, estimate_s: float, now_s: float) -> None:
        self.job = ActiveJob(job_id, remote_name, estimate_s, now_s)

    def drop(self) -> None:
        self.job = None

    def end(self, outcome: JobOutcome, message: str) -> list[DriverEvent]:
        """We ended the job (cancel, emergency stop): report it once; later reports of that file are old news."""
        job, self.job = self.job, None
        if job is None:
            return []
        self._ended.append(job.remote_name.rsplit("/", 1)[-1])
        return [DriverJobFinished(job.job_id, outcome, message)]

    # ------------------------------------------------------------------ the machine's side
    def update(self, report: MachineReport, now_s: float) -> list[DriverEvent]:
        events: list[DriverEvent] = []
        if self.job is None and report.phase in _RUNNING:
            job_id = job_id_from_remote(report.job_file)
            fresh = report.job_file is not None and _base(report.job_file) not in self._ended
            if job_id is not None and report.job_file and fresh:  # ours, from before a restart: follow it again
                self.job = ActiveJob(job_id, report.job_file, seen_running=True, adopted=True)
        job = self.job
        if report.phase is P.ERROR:
            events += self._error(report)
        else:
            self._last_error = ""
        if job is None:
            events.append(DriverStateChanged(_idle_state(report), _reason(report, self.label)))
        else:
            events += self._follow(job, report, now_s)
        metrics = dict(report.metrics)
        if self.job is not None:
            metrics.update(self._job_metrics(self.job, report))
        if metrics:
            events.append(DriverTelemetry(metrics, self.job.job_id if self.job is not None else None))
        return events

    def _follow(self, job: ActiveJob, report: MachineReport, now_s: float) -> list[DriverEvent]:
        mine = report.job_file is None or same_file(report.job_file, job.remote_name)
        phase = report.phase
        if phase in _RUNNING and mine:
            job.seen_running = True
            if report.progress is not None:
                job.fraction = min(max(report.progress, 0.0), 1.0)
            state = DriverState.PAUSED if phase is P.PAUSED else DriverState.WORKING
            reason = f"{'paused' if phase is P.PAUSED else 'printing'} {_base(job.remote_name)}"
            return [DriverStateChanged(state, reason), DriverJobProgress(job.job_id, job.fraction)]
        if phase is P.OFFLINE:
            return [DriverStateChanged(DriverState.OFFLINE, report.message or f"{self.label}: printer not connected")]
        if phase in _RUNNING:  # printing something else: our job is not there any more
            return self._finish(JobOutcome.FAILED, f"the machine is printing {_base(report.job_file)} instead",
                                _idle_state(report))
        if phase is P.FINISHED and (mine and (job.seen_running or report.job_file is not None)):
            return self._completed(job)
        if phase is P.CANCELLED and mine and (job.seen_running or report.job_file is not None):
            return self._finish(JobOutcome.CANCELLED, "cancelled on the machine", DriverState.IDLE)
        if phase is P.FAILED and mine and (job.seen_running or report.job_file is not None):
            return self._finish(JobOutcome.FAILED, report.message or "the print failed on the machine",
                                DriverState.IDLE)
        if phase is P.ERROR:
            return self._finish(JobOutcome.FAILED, report.message or "the machine reported an error",
                                DriverState.ERROR)
        # Idle: either it has not started yet, or the job went away while we were not looking.
        if not job.seen_running and now_s - job.submitted_at_s < self.start_grace_s:
            return [DriverStateChanged(DriverState.WORKING, f"starting {_base(job.remote_name)}")]
        if job.seen_running and job.fraction >= 0.999:  # the machine went idle at the end: it ran to 100 %
            return self._completed(job)
        why = ("the machine stopped the job" if job.seen_running else
               f"the machine did not start {_base(job.remote_name)} within {self.start_grace_s:.0f} s")
        return self._finish(JobOutcome.FAILED, why, DriverState.IDLE)

    def _completed(self, job: ActiveJob) -> list[DriverEvent]:
        job.fraction = 1.0
        return [DriverJobProgress(job.job_id, 1.0),
                *self._finish(JobOutcome.COMPLETED, f"finished {_base(job.remote_name)}", DriverState.IDLE)]

    def _finish(self, outcome: JobOutcome, message: str, state: DriverState) -> list[DriverEvent]:
        events = self.end(outcome, message)
        return [*events, DriverStateChanged(state, message)]

    def _error(self, report: MachineReport) -> list[DriverEvent]:
        message = f"{self.label}: {report.message or 'the machine reported an error'}"
        if message == self._last_error:
            return []
        self._last_error = message
        return [DriverFault("firmware_error", message, fatal=True)]

    @staticmethod
    def _job_metrics(job: ActiveJob, report: MachineReport) -> dict[str, float]:
        out: dict[str, float] = {"progress": round(job.fraction, 4)}
        if report.layer is not None:
            out["layer"] = float(report.layer)
        if report.layers_total:
            out["layers_total"] = float(report.layers_total)
        if report.time_left_s is not None:
            out["time_left_s"] = round(max(report.time_left_s, 0.0), 1)
        if job.estimate_s > 0:  # ours, next to the machine's
            out["time_left_est_s"] = round(job.estimate_s * (1.0 - job.fraction), 1)
        if report.elapsed_s is not None:
            out["elapsed_s"] = round(report.elapsed_s, 1)
        return out


def _idle_state(report: MachineReport) -> DriverState:
    return {P.PRINTING: DriverState.WORKING, P.BUSY: DriverState.WORKING, P.PAUSED: DriverState.PAUSED,
            P.ERROR: DriverState.ERROR, P.OFFLINE: DriverState.OFFLINE}.get(report.phase, DriverState.IDLE)


def _reason(report: MachineReport, label: str) -> str:
    if report.phase in _RUNNING and report.job_file:
        return f"printing {_base(report.job_file)} (not sent by Imewe)"
    return report.message or f"{label} {report.phase.value}"


def _base(name: str | None) -> str:
    return (name or "?").rsplit("/", 1)[-1]
