"""A batch part that waits, partly made, while its printer runs another job's part: the Jobs table said
"Printing" with a finish time before the printer is even free (07:58 while it is busy until 08:15). Now the job
reads "Waiting" (the tooltip: "Waiting for FDM-A: ...") and finishes after the machine's current work (or at the plan's end for it, if later)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from PySide6.QtCore import Qt

from app.core.domain.entities import Job, Part
from app.core.domain.enums import JobState, ProcessType
from app.ui.jobs_model import ETA_COL, JobsModel
from app.ui.live_data import LiveData
from tests import test_ui_support as ui
from tests.helpers import clips_waiting_for_a_sign
from tests.test_ui_support import booted_core, until, window_at_1366

qloop = ui.qloop  # the fixture

NOW = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)


def _setup() -> tuple[LiveData, JobsModel, Job, Job]:
    node = uuid4()
    clips = Job("cable clips #2", state=JobState.IN_PROGRESS)
    clip = Part(clips.id, "clip", ProcessType.FDM, "pla", (20, 20, 5), quantity=12, state=JobState.IN_PROGRESS,
                assigned_node=node, estimated_duration_s=3600, progress=25.0)
    clips.parts.append(clip)
    sign = Job("sign #1", state=JobState.IN_PROGRESS)
    stand = Part(sign.id, "stand", ProcessType.FDM, "pla", (80, 40, 40), state=JobState.IN_PROGRESS,
                 assigned_node=node, estimated_duration_s=3600, progress=50.0)
    sign.parts.append(stand)
    live = LiveData(now=lambda: NOW, zone=UTC)
    live.started = {clip.id: NOW - timedelta(hours=1), stand.id: NOW - timedelta(minutes=30)}  # the stand runs now
    live.set_jobs([clips, sign])
    model = JobsModel(lambda n: "FDM-A" if n == node else "?", live=live)
    model.set_jobs([clips, sign])
    return live, model, clips, sign


def _row(model: JobsModel, job: Job) -> int:
    row = model.row_of(job.id)
    assert row is not None
    return row


def test_waiting_batch_part_reads_waiting_and_ends_after_the_machine() -> None:
    live, model, clips, sign = _setup()
    state = model.index(_row(model, clips), 1)
    assert state.data() == "Waiting", state.data()  # fits the narrow State column
    assert state.data(Qt.ItemDataRole.ToolTipRole).startswith("Waiting for FDM-A: ")
    assert model.index(_row(model, sign), 1).data() == "Printing"  # the part the machine really runs
    busy_until = model.eta(sign).finish_at  # the stand: half of an hour left
    assert busy_until == NOW + timedelta(minutes=30)
    eta = model.eta(clips)
    assert eta is not None and eta.finish_at >= busy_until + timedelta(minutes=45), eta  # 3/4 of an hour left after
    assert model.index(_row(model, clips), ETA_COL).data().endswith("08:45")


def test_waiting_part_follows_the_plan_but_never_before_the_machine_is_free() -> None:
    live, model, clips, _sign = _setup()
    clip = clips.parts[0]
    live.plan_end = {clip.id: NOW + timedelta(hours=3)}
    assert model.eta(clips).finish_at == NOW + timedelta(hours=3)
    live.plan_end = {clip.id: NOW + timedelta(minutes=10)}  # a stale plan: the machine is busy until 08:00
    assert model.eta(clips).finish_at >= NOW + timedelta(minutes=30)


def test_the_window_says_waiting_in_the_table_status_bar_search_state_filter_and_job_detail(qloop, qtbot, tmp_path: Path) -> None:
    """The same rule as ``imewe jobs list`` (the core's): the Jobs table, the status bar's counts (one running, one
    waiting), the table's search, its state choice (a "Waiting" choice; "Running" leaves the waiting jobs out) and
    the job's detail."""

    async def scenario() -> None:
        async with booted_core(tmp_path / "home", connect_machines=False) as core:
            async with window_at_1366(core, qtbot) as win:
                _node, clips, sign = await clips_waiting_for_a_sign(core)
                model = win.jobs.model
                await until(lambda: model.row_of(clips.id) is not None and model.row_of(sign.id) is not None
                            and model.index(model.row_of(clips.id), 1).data() == "Waiting", timeout=10,
                            what="the clips to read Waiting")
                assert model.index(model.row_of(sign.id), 1).data() == "Printing"

                win.status.refresh()  # the status bar counts the clips apart: they wait, they do not run
                await until(lambda: "waiting" in win.status.jobs.text(), what="the status bar's counts")
                assert win.status.jobs.text() == "Running jobs: 1 · 1 waiting · queued 0", win.status.jobs.text()
                assert win.status.jobs.toolTip().startswith("1 job(s) waiting: "), win.status.jobs.toolTip()

                win.jobs.search.setText("waiting")  # the search finds what the table says
                assert [win.jobs.proxy.index(r, 0).data() for r in range(win.jobs.proxy.rowCount())] == ["cable clips"]
                win.jobs.search.setText("printing")
                assert [win.jobs.proxy.index(r, 0).data() for r in range(win.jobs.proxy.rowCount())] == ["sign"]
                win.jobs.search.clear()

                def shown_under(choice: str) -> list[str]:  # the state choice as the operator picks it
                    combo = win.jobs.state
                    index = combo.findText(choice)
                    assert index >= 0, [combo.itemText(i) for i in range(combo.count())]
                    combo.setCurrentIndex(index)
                    return sorted(win.jobs.proxy.index(r, 0).data() for r in range(win.jobs.proxy.rowCount()))

                assert shown_under("Waiting") == ["cable clips"]
                assert shown_under("Running") == ["sign"]  # the clips read Waiting: they are not under Running
                assert shown_under("Open jobs") == ["cable clips", "sign"]
                clips_row = win.jobs.model.row_of(clips.id)
                assert win.jobs.model.index(clips_row, 1).data() == "Waiting"

                detail = win.jobs.detail
                win.open_job(clips.id)
                await until(lambda: detail.job is not None and detail.job.id == clips.id
                            and detail.parts.rowCount() == 1, what="the clips' detail")
                assert detail.state.text().startswith("Waiting"), detail.state.text()
                assert detail.state.toolTip().startswith("Waiting for FDM-A: "), detail.state.toolTip()
                cells = [detail.parts.item(0, c).text() for c in range(detail.parts.columnCount())]
                assert "Waiting" in cells and "Printing" not in cells, cells

                win.open_job(sign.id)
                await until(lambda: detail.job is not None and detail.job.id == sign.id, what="the sign's detail")
                assert detail.state.text().startswith("Printing") and not detail.state.toolTip()

    qloop.run_until_complete(scenario())
