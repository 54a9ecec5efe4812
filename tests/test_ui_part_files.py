"""Part files in the New job dialog are measured as the machine will read them (G20 inches, relative moves)
and an empty or broken file is refused when it is added, not at submit. Plain widgets: runs off screen."""

from __future__ import annotations

from pathlib import Path

import pytest
import trimesh

from app.core.domain.enums import ProcessType
from app.core.domain.errors import ImeweError
from app.ui.main_window import ControlRoom
from app.ui.part_files import inspect_file
from tests import test_ui_support as ui
from tests.test_ui_support import FDM, MILL, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture

# 6 x 1.2 inches cut at one depth: 152.4 x 30.48 mm, flat (the working moves all lie at Z -0.05 in)
INCH_JOB = "G20 G90\nM3 S10000\nG0 X0 Y0 Z0.1\nG1 Z-0.05 F20\nG1 X6 F40\nG1 Y1.2\nG1 X0\nG1 Y0\nG0 Z0.2\nM5\n"


def test_g20_is_measured_in_inches_and_relative_moves_count(tmp_path: Path) -> None:
    nc = tmp_path / "plate.nc"
    nc.write_text(INCH_JOB)
    g = inspect_file(nc)
    assert g.process is ProcessType.CNC_MILL
    assert g.size_mm == pytest.approx((152.4, 30.48, 0.01), abs=0.01)
    assert "inches" in g.note
    rel = tmp_path / "rel.nc"
    rel.write_text("G21 G91\nM3 S9000\nG1 Z-1 F100\nG1 X50 F300\nG1 Y20\nG1 X-50\nM5\n")
    assert inspect_file(rel).size_mm == pytest.approx((50.0, 20.0, 0.01), abs=0.01)


@pytest.mark.parametrize("name,body", [("empty.gcode", ""), ("words.gcode", "; only a comment\nM104 S200\n"),
                                       ("empty.stl", "solid nothing\nendsolid nothing\n"),
                                       ("junk.stl", "this is not a mesh at all")])
def test_an_empty_or_broken_file_is_refused_with_one_line(tmp_path: Path, name: str, body: str) -> None:
    f = tmp_path / name
    f.write_text(body)
    with pytest.raises(ImeweError) as err:
        inspect_file(f)
    assert name in str(err.value) and "\n" not in str(err.value)


def test_the_dialog_refuses_broken_files_at_add_and_sizes_g20_in_inches(qloop, qtbot, tmp_path: Path) -> None:
    nc = tmp_path / "plate.nc"
    nc.write_text(INCH_JOB)
    empty = tmp_path / "empty.gcode"
    empty.write_text("")
    cube = tmp_path / "cube.stl"
    trimesh.creation.box((20, 20, 20)).export(cube)

    async def scenario() -> None:
        async with booted_core(tmp_path / "home") as core:
            await core.fleet.register("Mill", MILL, bring_up=True)
            await core.fleet.register("FDM-1", FDM, bring_up=True)
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.show()
            try:
                dialog = win.jobs.open_submit()
                dialog.add_files([nc, empty, cube])
                await until(lambda: len(dialog.rows) == 2 and all(r.size.text() for r in dialog.rows),
                            what="the good files read, the empty one refused")
                assert dialog.parts_error.isVisible() and "empty.gcode" in dialog.parts_error.text()
                assert "Refused" in dialog.parts_error.text()
                plate, box = dialog.rows
                assert plate.size.text() == "152.4 x 30.48 x 0.01" and plate.process.currentData() == "cnc_mill"
                assert plate.fit.text() == "fits Mill"
                assert box.size.text() == "20 x 20 x 20" and box.fit.text() == "fits FDM-1"
                assert dialog.preview.path in (plate.path, box.path)  # the last file read shows in the preview
                plate.fit.click()
                assert dialog.preview.path == plate.path
                box.fit.click()
                assert dialog.preview.path == box.path
                dialog.submit_btn.click()
                await until(lambda: not dialog.isVisible(), timeout=30, what="the job stored")
                job = (await core.jobs.list())[0]
                sizes = {p.name: p.size_mm for p in job.parts}
                assert sizes["plate"] == pytest.approx((152.4, 30.48, 0.01), abs=0.01)
            finally:
                win.close()

    qloop.run_until_complete(scenario())
