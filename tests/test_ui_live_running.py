"""Which part a machine runs, as the machine panel and the tiles' time left read it (``LiveData.running``): with a
batch part still in progress (3 of 12 clips made) while the machine prints another job's part, the part the
machine reports wins; the panel said "cable clips #2 / clip, 16 min left" for an hour while the printer made the
sign's stand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from app.core.domain.entities import Job, Part, TelemetrySample
from app.core.domain.enums import JobState, ProcessType
from app.ui.live_data import LiveData

NOW = datetime(2026, 6, 21, 6, 0, tzinfo=UTC)


def _job(name: str, part: str, node, progress: float) -> Job:
    job = Job(name, state=JobState.IN_PROGRESS)
    job.parts.append(Part(job.id, part, ProcessType.FDM, "pla", (20, 20, 5), quantity=12, assigned_node=node,
                          state=JobState.IN_PROGRESS, estimated_duration_s=600, progress=progress))
    return job


def test_the_part_the_machine_reports_is_the_one_it_runs() -> None:
    node = uuid4()
    clips = _job("cable clips #2", "clip", node, 25.0)
    sign = _job("sign #7", "stand", node, 40.0)
    live = LiveData(now=lambda: NOW)
    live.started[clips.parts[0].id] = NOW - timedelta(hours=1)
    live.started[sign.parts[0].id] = NOW - timedelta(minutes=10)
    live.set_jobs([sign, clips])  # the order the store lists them in must not decide
    assert live.running.get(node)[0].name == "sign #7"  # nothing reported yet: the one started last
    live.add_sample(TelemetrySample(node, NOW, {"progress": 0.4}, sign.parts[0].id))
    assert live.running[node][1].name == "stand"
    live.add_sample(TelemetrySample(node, NOW, {"progress": 0.3}, clips.parts[0].id))  # back on the clips
    assert live.running.get(node)[0].name == "cable clips #2"
    assert list(live.running) == [node] and len(live.running) == 1 and live.running.get(uuid4()) is None
