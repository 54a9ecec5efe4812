"""A running job reads by its process everywhere in the window: a milled part is "Machining", a cut one "Cutting",
a printed one "Printing" (jobs list, job detail and its parts, the timeline's tooltip, the fleet, the machine panel);
a job of mixed processes and the timeline's legend say "Running"."""

from __future__ import annotations

from pathlib import Path

from app.core.domain.enums import JobState, NodeState, ProcessType
from app.ui.main_window import ControlRoom
from app.ui.words import JOB_WORDS, job_state_word, working_word
from tests import test_ui_support as ui
from tests.helpers import job_spec
from tests.test_ui_support import MILL, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture


def test_running_words_follow_the_process() -> None:
    running = JobState.IN_PROGRESS
    assert job_state_word(running, {ProcessType.LASER}) == "Cutting"
    assert job_state_word(running, {ProcessType.CNC_LATHE, ProcessType.CNC_MILL}) == "Machining"
    assert job_state_word(running, {ProcessType.SLA, ProcessType.FDM}) == "Printing"
    assert job_state_word(running, {ProcessType.FDM, ProcessType.CNC_MILL}) == "Running"  # mixed: not "Printing"
    assert job_state_word(running) == "Running" == JOB_WORDS[running]  # no process known: the neutral word
    assert job_state_word("IN_PROGRESS", {"cnc_mill"}) == "Machining"  # the plan's strings read the same
    assert job_state_word("RUNNING") == "Running" and working_word("no such process") == "Running"
    for state in JobState:  # every other state reads the same whatever the process
        if state is not running:
            assert job_state_word(state, {ProcessType.LASER}) == job_state_word(state, {ProcessType.FDM})


def test_a_running_cnc_job_reads_machining_in_the_window(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            node = await core.fleet.register("Sim mill", MILL, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                spec = job_spec("fixture plate", parts=1)
                spec["parts"][0].update(process="cnc_mill", material="aluminium", quantity=1)
                job = await core.jobs.submit(spec, actor="test")
                await until(lambda: any(j.id == job.id and j.state is JobState.IN_PROGRESS
                                        for j in win.jobs.model.jobs()), timeout=20, what="the CNC job to run")
                assert win.jobs.model.index(win.jobs.model.row_of(job.id), 1).data() == "Machining"

                win.open_job(job.id)
                detail = win.jobs.detail
                await until(lambda: detail.job is not None and detail.job.id == job.id
                            and detail.parts.rowCount() == 1, what="the job detail")
                await until(lambda: detail.state.text().startswith("Machining"), what="the detail's state word")
                cells = [detail.parts.item(0, c).text() for c in range(detail.parts.columnCount())]
                assert "CNC mill" in cells and "Machining" in cells, cells
                changes = [detail.timeline.item(r, 2).text() for r in range(detail.timeline.rowCount())]
                assert any("Machining" in c for c in changes) and not any("_" in c for c in changes), changes
                assert not any("Printing" in c for c in changes + cells + [detail.state.text()])

                win.timeline.redraw()
                bars = [b for b in win.timeline.gantt.items.bars() if b.key == job.id]
                assert bars and all("Printing" not in b.tip for b in bars), [b.tip for b in bars]
                assert any("State: Machining" in b.tip for b in bars), [b.tip for b in bars]

                fleet_row = win.fleet_model.row_of(node.id)
                await until(lambda: win.fleet_model.index(fleet_row, 2).data() == "Machining", what="the fleet")
                win.open_machine(core.fleet.get(node.id))
                await until(lambda: win.detail.state.text() == "Machining", what="the machine panel's state")
                await until(lambda: win.detail.work["file"].text() != "–", what="what the mill runs")
                # the machine reports it is done before the job's end reaches the window: it runs nothing now
                await core.fleet.set_state(node.id, NodeState.COMPLETED, "test")
                win.detail.show_node(node.id)
                await until(lambda: win.detail.work["file"].text() == "–" and not win.detail.job_line.text(),
                            what="no work shown on a machine that finished")
            finally:
                win.close()

    qloop.run_until_complete(scenario())
