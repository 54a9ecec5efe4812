"""Parts submitted with their files: size and duration come from the real mesh or G-code (shared/data)."""

import pytest

from app.core.domain import ValidationError

from .helpers import run_with_core

PRINTER = {"process": "fdm", "build_volume_mm": [250, 210, 220], "materials": ["pla", "petg"]}
SMALL = {"process": "fdm", "build_volume_mm": [100, 100, 100], "materials": ["pla"]}


def test_mesh_and_gcode_files_give_size_and_time(tmp_path, shared) -> None:
    cube = shared / "data" / "meshes" / "20mm-xyz-cube.stl"
    inch = shared / "data" / "meshes" / "featuretype.STL"
    vase = shared / "data" / "gcode" / "gcode-preview_vase_prusaslicer2.7.4_ender.gcode"

    async def go(core):
        await core.fleet.register("P1", PRINTER, bring_up=True)
        return await core.jobs.submit({"name": "from files", "parts": [
            {"name": "cube", "process": "fdm", "material": "pla", "file": str(cube)},
            {"name": "bracket", "process": "fdm", "material": "pla", "file": str(inch)},
            {"name": "vase", "process": "fdm", "material": "pla", "file": str(vase)}]})

    job = run_with_core(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", go)
    cube_p, bracket_p, vase_p = job.parts
    assert cube_p.size_mm == pytest.approx((20, 20, 20), abs=0.01)
    assert cube_p.estimated_duration_s > 0
    # featuretype.STL is drawn in inches (5 x 2.5 x 1.4): stored in mm.
    assert sorted(bracket_p.size_mm) == pytest.approx(sorted((127.0, 63.5, 35.56)), rel=0.02)
    assert vase_p.estimated_duration_s == pytest.approx(4000, rel=0.02)  # the slicer's own figure is 4000 s
    assert job.estimated_duration_s == sum(p.estimated_duration_s for p in job.parts)


def test_a_file_that_fits_no_machine_or_is_broken_is_rejected(tmp_path, shared) -> None:
    inch = shared / "data" / "meshes" / "featuretype.STL"
    empty = shared / "data" / "meshes" / "empty.stl"
    garbage = tmp_path / "garbage.stl"
    garbage.write_bytes(b"\x00\x01not a mesh" * 100)

    async def go(core):
        await core.fleet.register("P1", SMALL, bring_up=True)
        with pytest.raises(ValidationError, match="does not fit") as err:
            await core.jobs.submit({"name": "big", "parts": [
                {"name": "bracket", "process": "fdm", "material": "pla", "file": str(inch)}]})
        assert err.value.field == "parts[0]"
        for bad in (empty, garbage, tmp_path / "missing.stl"):
            with pytest.raises(ValidationError) as err:
                await core.jobs.submit({"name": "bad", "parts": [
                    {"name": "x", "process": "fdm", "material": "pla", "file": str(bad)}]})
            assert err.value.field == "parts[0].file" and "'x'" in str(err.value)
        with pytest.raises(ValidationError, match="needs|size"):
            await core.jobs.submit({"name": "nothing", "parts": [{"name": "x", "process": "fdm", "material": "pla"}]})
        return await core.jobs.list()

    assert run_with_core(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", go) == []
