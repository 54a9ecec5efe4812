"""Mesh analysis against trimesh's own (slower) results on real files, and on shapes with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from app.core.domain import Capabilities, MachineProfile, ProcessType
from app.core.estimation import analyze_file, analyze_part, fitting_machines
from app.core.estimation.mesh_io import LoadedPart, PartObject

from .shared_data import MESHES, needs_shared


@needs_shared
@pytest.mark.parametrize("name", ["20mm-xyz-cube.stl", "featuretype.STL", "teapot.stl", "bp_case.stl", "pyramids.3mf",
                                  "featuretype.3MF", "soup.stl"])
def test_matches_trimesh(name: str) -> None:
    a = analyze_file(MESHES / name)
    ref = trimesh.load(MESHES / name, force="mesh")
    assert a.area_mm2 == pytest.approx(ref.area, rel=1e-5)
    assert np.allclose(a.bbox_mm, ref.extents, atol=1e-4)
    assert a.watertight == ref.is_watertight
    assert a.bodies == len(ref.split(only_watertight=False))
    if ref.is_watertight:
        assert a.volume_mm3 == pytest.approx(ref.volume, rel=1e-5)


@needs_shared
def test_cube_facts() -> None:
    a = analyze_file(MESHES / "20mm-xyz-cube.stl")
    assert a.bbox_mm == pytest.approx((20, 20, 20), abs=1e-3)
    assert a.units_guess == "mm"
    assert (a.holes, a.boundary_edges, a.non_manifold_edges, a.inconsistent_normal_edges) == (0, 0, 0, 0)
    assert not a.inverted and not a.warnings


@needs_shared
def test_inch_part_is_flagged() -> None:
    stl = analyze_file(MESHES / "featuretype.STL")
    assert stl.units_guess == "inch" and "127 mm" in stl.units_basis
    threemf = analyze_file(MESHES / "featuretype.3MF")
    assert threemf.units_guess == "inch" and "declares" in threemf.units_basis
    assert not threemf.watertight and threemf.holes >= 1 and threemf.bodies == 2


@needs_shared
def test_open_and_broken_meshes() -> None:
    teapot = analyze_file(MESHES / "teapot.stl")
    assert not teapot.watertight and teapot.holes > 0 and teapot.bodies == 4
    soup = analyze_file(MESHES / "soup.stl")
    assert soup.bodies == 100 and soup.holes == 100 and soup.boundary_edges == 300
    assert any("not watertight" in w for w in soup.warnings)


@needs_shared
def test_several_objects_of_a_3mf() -> None:
    a = analyze_file(MESHES / "pyramids.3mf")
    assert len(a.objects) == 12 and a.bodies == 12 and a.watertight
    assert sum(o.volume_mm3 for o in a.objects) == pytest.approx(a.volume_mm3)


def _part(*meshes: trimesh.Trimesh) -> LoadedPart:
    tris = np.concatenate([m.triangles for m in meshes]).astype(np.float32)
    return LoadedPart(Path("synthetic.stl"), "test", [PartObject("synthetic", tris)])


def test_flipped_and_inverted_normals() -> None:
    box = trimesh.creation.box((10, 10, 10))
    inside_out = analyze_part(_part(trimesh.Trimesh(box.vertices, box.faces[:, ::-1])))
    # the file is reported inside out, and measured repaired (outwards) so the material estimate is right
    assert inside_out.inverted and inside_out.volume_mm3 == pytest.approx(1000)
    assert inside_out.repaired_faces == 12 and "inside out" in inside_out.repairs[0]
    faces = box.faces.copy()
    faces[0] = faces[0][::-1]
    one_flipped = analyze_part(_part(trimesh.Trimesh(box.vertices, faces, process=False)))
    assert one_flipped.inconsistent_normal_edges == 3


def test_overhang_area_of_a_mushroom() -> None:
    stem = trimesh.creation.box((10, 10, 10), trimesh.transformations.translation_matrix((0, 0, 5)))
    cap = trimesh.creation.box((30, 30, 10), trimesh.transformations.translation_matrix((0, 0, 15)))
    a = analyze_part(_part(stem, cap))
    assert a.overhang_area_mm2 == pytest.approx(900.0)  # the cap's underside; the stem's foot sits on the plate
    steep = analyze_part(_part(stem, cap), overhang_deg=89.9)
    assert steep.overhang_area_mm2 == pytest.approx(900.0)


def test_fit_per_machine_with_orientation() -> None:
    bar = trimesh.creation.box((280, 10, 10))
    a = analyze_part(_part(bar))
    small = MachineProfile("ender", Capabilities(ProcessType.FDM, (220, 220, 250)))
    tiny = MachineProfile("mini", Capabilities(ProcessType.FDM, (180, 180, 180)))
    open_bed = ("conveyor", Capabilities(ProcessType.FDM))
    fits = {f.machine: f for f in fitting_machines(a, [small, tiny, open_bed])}
    assert fits["ender"].fits and fits["ender"].orientation is not None
    assert 30 <= fits["ender"].orientation.rotate_z_deg <= 60  # only fits turned on the diagonal
    assert not fits["mini"].fits and "exceeds the build volume" in fits["mini"].reason
    assert fits["conveyor"].fits


@needs_shared
def test_fit_uses_scale_for_inch_parts() -> None:
    a = analyze_file(MESHES / "featuretype.STL")
    mini = Capabilities(ProcessType.FDM, (100, 100, 100))
    assert fitting_machines(a, [mini])[0].fits  # 5 x 2.5 x 1.4 units read as mm
    assert not fitting_machines(a, [mini], scale=25.4)[0].fits  # 127 mm long as inches
