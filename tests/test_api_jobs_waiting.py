"""The local API's job view says which machines a job waits for (``waiting_for``), by the core's one rule, as
``imewe jobs list --json`` does: the clips paused between copies while their printer makes a sign's stand wait
for it; the sign does not. In the process that drives the machines, what a machine reports it makes wins over
the order the parts went in progress."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.bootstrap import site_ops, store_core
from app.core.api.openapi import all_ops, openapi_document
from app.core.clock import SystemClock
from app.core.jobs.waiting import machine_work_from_store
from tests.helpers import clips_waiting_for_a_sign, run_with_core

OPS = {op.name: op for op in all_ops()}


def test_api_jobs_list_and_show_say_waiting_for(tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "home"
    node, clips, sign = run_with_core(home, db_url, clips_waiting_for_a_sign, clock=SystemClock())

    async def go() -> tuple[list[dict], dict, dict, dict, dict]:
        async with store_core(str(home), db_url) as core:
            site = site_ops(core)
            listed = await OPS["jobs.list"].run(site, {})
            shown = await OPS["jobs.show"].run(site, {"job": str(clips.id)[:8]})
            running = await OPS["jobs.show"].run(site, {"job": str(sign.id)})
            # the machine says it makes the clips: then the stand waits, and the clips do not
            said = await machine_work_from_store(core.jobs, core.clock.now(), reported=lambda _n: clips.parts[0].id)
            last = await machine_work_from_store(core.jobs, core.clock.now())
            return listed, shown, running, said.busy, last.busy

    listed, shown, running, said, last = asyncio.run(go())
    by_name = {d["name"]: d for d in listed}
    assert by_name["cable clips"]["waiting_for"] == ["FDM-A"], by_name["cable clips"]
    assert by_name["sign"]["waiting_for"] == []
    assert by_name["cable clips"]["state"] == "IN_PROGRESS"  # the state stays the enum, as in the CLI's --json
    assert shown["waiting_for"] == ["FDM-A"] and running["waiting_for"] == []
    assert last == {node.id: sign.parts[0].id}  # nothing reported: the part that went in progress last
    assert said == {node.id: clips.parts[0].id}


def test_the_api_document_names_waiting_for() -> None:
    paths = openapi_document()["paths"]
    for path in ("/jobs", "/jobs/{job}"):
        assert "waiting_for" in paths[path]["get"]["responses"]["200"]["description"], path
