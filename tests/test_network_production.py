"""A job runs on a network printer through the whole site: planned, its G-code uploaded to the machine the plan
chose and started there, followed to its end; a part with only a mesh is refused with a clear reason."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

import pytest

from app.bootstrap import build_core
from app.core.clock import SystemClock
from app.core.config import load_config
from app.core.domain import JobState
from app.core.domain.errors import ValidationError
from app.core.drivers import JobRequest
from app.devices.factory import network_driver
from tests import network_scenarios as sc
from tests.test_network_duet import PASSWORD, duet_peer

FDM = {"process": "fdm", "build_volume_mm": [300, 300, 280], "materials": ["pla"], "loaded_material": "pla"}


def test_a_planned_job_is_uploaded_started_and_completed_on_a_duet(tmp_path: Path):
    peer = duet_peer(tmp_path / "board")
    peer.tmp.mkdir()
    peer.start()
    gcode = sc.gcode_file(tmp_path, "bracket.gcode")

    async def go():
        core = build_core(load_config(str(tmp_path / "home")), SystemClock(), connect_machines=False,
                          plan_budget_s=0.05)
        await core.kernel.boot()
        try:
            node = await core.fleet.register("duet-1", FDM, address=peer.address, driver="duet", bring_up=True)
            driver = network_driver("duet", name=node.name, address=peer.address, secrets={"password": PASSWORD},
                                    poll_s=0.2)
            await core.machines.attach(node.id, driver)
            await sc.until(lambda: driver.link_up, 15, "the board's link")
            job = await core.jobs.submit({"name": "bracket", "parts": [
                {"name": "bracket", "process": "fdm", "material": "pla", "file": str(gcode),
                 "estimated_duration_s": 4}]})
            deadline = asyncio.get_running_loop().time() + 60
            while (await core.jobs.get(job.id)).state is not JobState.COMPLETED:
                assert asyncio.get_running_loop().time() < deadline, "the job did not complete"
                await asyncio.sleep(0.1)
            return await core.jobs.get(job.id)
        finally:
            await core.kernel.shutdown()

    try:
        final = asyncio.run(go())
    finally:
        peer.kill()
    assert final.parts[0].state is JobState.COMPLETED
    state = peer.sim_state()
    assert state["starts"] == 1 and state["state"] == "finished" and state["file"].endswith("-bracket.gcode")


def test_a_part_with_only_a_mesh_is_refused_by_a_network_printer():
    driver = network_driver("duet", name="duet-1", address="http://127.0.0.1:9", secrets={})
    with pytest.raises(ValidationError, match="prints a sliced file"):
        asyncio.run(driver.execute(JobRequest(job_id=uuid4(), spec={"name": "mesh only"})))
    mesh = Path("part.stl")
    with pytest.raises(ValidationError, match="not part.stl"):
        asyncio.run(driver.execute(JobRequest(job_id=uuid4(), gcode_path=mesh)))
