"""Mesh volumes and units that are right, on fixtures built here with known answers: winding repaired per body
before volume and mass; declared units honoured (GLB in metres, 3MF's unit attribute); a metre-sized file with no
unit read as metres; an OBJ's ``o`` objects listed; the body rule; chamfers at exactly the overhang angle."""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from app.core.estimation import analyze_file, estimates_for
from app.core.estimation.mesh_analysis import analyze_part
from app.core.estimation.mesh_io import LoadedPart, PartObject, load_part


def _box(size: tuple[float, float, float], at: tuple[float, float, float] = (0, 0, 0)) -> trimesh.Trimesh:
    return trimesh.creation.box(size, trimesh.transformations.translation_matrix(at))


def _part(*meshes: trimesh.Trimesh, name: str = "fixture") -> LoadedPart:
    tris = np.concatenate([m.triangles for m in meshes]).astype(np.float32)
    return LoadedPart(Path(f"{name}.stl"), "test", [PartObject(name, tris)])


def _flipped(m: trimesh.Trimesh) -> trimesh.Trimesh:
    return trimesh.Trimesh(m.vertices, m.faces[:, ::-1], process=False)


def test_two_bodies_one_inside_out_are_measured_repaired() -> None:
    a, b = _box((10, 10, 10), (0, 0, 5)), _box((20, 10, 10), (40, 0, 5))  # 1000 + 2000 mm3
    broken = analyze_part(_part(a, _flipped(b)))
    assert broken.bodies == 2 and broken.volume_mm3 == pytest.approx(3000.0)
    assert broken.objects[0].volume_mm3 == pytest.approx(3000.0)
    assert broken.repaired_faces == 12
    assert broken.repairs == ["fixture: body 2 was inside out: 12 of 12 faces turned"]
    assert any(w.startswith("repaired: ") for w in broken.warnings)
    assert not broken.inverted  # the file as a whole is not inside out; one body was
    # the material estimate follows the repaired volume: the same as for the intact file
    good = analyze_part(_part(a, b))
    assert good.repairs == [] and good.volume_mm3 == pytest.approx(3000.0)
    e_broken = {e.process: e.material_g for e in estimates_for(broken, 1.0)}
    e_good = {e.process: e.material_g for e in estimates_for(good, 1.0)}
    assert e_broken == pytest.approx(e_good)


def test_faces_wound_against_their_neighbours_are_turned() -> None:
    a, b = _box((10, 10, 10), (0, 0, 5)), _box((20, 10, 10), (40, 0, 5))
    faces = b.faces.copy()
    faces[[0, 5]] = faces[[0, 5]][:, ::-1]  # two faces of the second body wound the wrong way
    b_bad = trimesh.Trimesh(b.vertices, faces, process=False)
    r = analyze_part(_part(a, b_bad))
    assert r.inconsistent_normal_edges > 0
    assert r.volume_mm3 == pytest.approx(3000.0)
    assert r.repaired_faces == 2
    assert r.repairs == ["fixture: body 2 had faces wound against their neighbours: 2 of 12 faces turned"]


def test_a_glb_is_read_in_metres(tmp_path: Path) -> None:
    path = tmp_path / "bracket.glb"
    _box((0.1, 0.05, 0.02)).export(path)  # glTF lengths are metres: a 100 x 50 x 20 mm part
    a = analyze_file(path)
    assert a.units_guess == "m" and a.scale_to_mm == 1000.0
    assert "declares its unit as meter" in a.units_basis
    assert tuple(round(v * a.scale_to_mm, 3) for v in a.bbox_mm) == (100.0, 50.0, 20.0)
    assert a.volume_mm3 * a.scale_to_mm**3 == pytest.approx(100_000.0, rel=1e-4)


def _3mf_with_unit(tmp_path: Path, unit: str) -> Path:
    src = tmp_path / "plain.3mf"
    _box((4.0, 2.0, 1.0)).export(src)
    out = tmp_path / f"part-{unit}.3mf"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith(".model"):
                text = data.decode("utf-8")
                text = re.sub(r'unit="[^"]*"', f'unit="{unit}"', text) if 'unit="' in text else \
                    text.replace("<model ", f'<model unit="{unit}" ', 1)
                data = text.encode("utf-8")
            zout.writestr(item, data)
    return out


@pytest.mark.parametrize(("unit", "key", "mm"), [("centimeter", "cm", 10.0), ("inch", "inch", 25.4),
                                                 ("meter", "m", 1000.0), ("micron", "um", 0.001)])
def test_a_3mf_unit_attribute_is_honoured(tmp_path: Path, unit: str, key: str, mm: float) -> None:
    a = analyze_file(_3mf_with_unit(tmp_path, unit))
    assert a.units_guess == key and a.scale_to_mm == mm
    assert a.units_basis == f"the file declares its unit as {unit}"


def test_no_declared_unit_guesses_from_size_and_says_why(tmp_path: Path) -> None:
    metres = tmp_path / "metres.stl"
    _box((0.12, 0.08, 0.03)).export(metres)  # a 120 mm part written in metres, as many exporters do
    a = analyze_file(metres)
    assert a.units_guess == "m" and a.scale_to_mm == 1000.0
    assert "120 mm as metres" in a.units_basis and "no unit declared" in a.units_basis
    assert any(w.startswith("units read as m: ") for w in a.warnings)
    inches = tmp_path / "inches.stl"
    _box((4.0, 2.0, 1.0)).export(inches)
    assert analyze_file(inches).units_guess == "inch"
    mm = tmp_path / "mm.stl"
    _box((40.0, 20.0, 10.0)).export(mm)
    b = analyze_file(mm)
    assert b.units_guess == "mm" and b.scale_to_mm == 1.0 and not any("units" in w for w in b.warnings)


def test_an_obj_with_two_objects_lists_them(tmp_path: Path) -> None:
    path = tmp_path / "pair.obj"
    tet = "v {x} 0 0\nv {x1} 0 0\nv {x} 1 0\nv {x} 0 1\n"
    path.write_text("# two named objects\n"
                    "o left\n" + tet.format(x=0, x1=1) + "f 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"
                    "o right\n" + tet.format(x=5, x1=6) + "f -4 -2 -3\nf -4 -3 -1\nf -4 -1 -2\nf -3 -2 -1\n")
    part = load_part(path)
    assert [o.name for o in part.objects] == ["left", "right"]
    assert [len(o.triangles) for o in part.objects] == [4, 4]
    a = analyze_file(path)
    assert [o.name for o in a.objects] == ["left", "right"] and a.bodies == 2
    assert all(o.volume_mm3 == pytest.approx(1 / 6) for o in a.objects)


def test_the_body_rule_joins_through_edges_not_corners() -> None:
    # two cubes touching at one corner only: two bodies
    corner = analyze_part(_part(_box((10, 10, 10), (5, 5, 5)), _box((10, 10, 10), (15, 15, 15))))
    assert corner.bodies == 2
    # two cubes sharing one whole edge (a non-manifold edge, four faces on it): one body
    edge = analyze_part(_part(_box((10, 10, 10), (5, 5, 5)), _box((10, 10, 10), (15, 15, 5))))
    assert edge.non_manifold_edges >= 1 and edge.bodies == 1


def _frustum(at: tuple[float, float, float]) -> trimesh.Trimesh:
    """A square frustum standing on its small end: 10 x 10 at the bottom, 30 x 30 at the top, 10 tall, so every
    side faces down at exactly 45 degrees from vertical."""
    x, y, z = at
    bottom = [(x - 5, y - 5, z), (x + 5, y - 5, z), (x + 5, y + 5, z), (x - 5, y + 5, z)]
    top = [(x - 15, y - 15, z + 10), (x + 15, y - 15, z + 10), (x + 15, y + 15, z + 10), (x - 15, y + 15, z + 10)]
    v = np.array(bottom + top, dtype=np.float64)
    f = [(0, 2, 1), (0, 3, 2), (4, 5, 6), (4, 6, 7)]
    for i in range(4):
        j = (i + 1) % 4
        f += [(i, j, 4 + j), (i, 4 + j, 4 + i)]
    return trimesh.Trimesh(v, np.array(f), process=False)


def test_chamfers_at_exactly_the_overhang_angle_fall_on_one_side() -> None:
    # the same 45 degree sides at awkward coordinates, where float32 rounding differs from face to face
    parts = [_frustum((123.456 + 47.3 * k, -78.9 + 31.7 * k, 0.0)) for k in range(6)]
    side_area = 6 * 4 * (10 + 30) / 2 * 10 * math.sqrt(2)
    at_angle = analyze_part(_part(*parts))
    assert at_angle.volume_mm3 == pytest.approx(6 * 10 / 3 * (100 + 900 + 300))
    assert at_angle.overhang_area_mm2 == 0.0  # at the angle is fine, every one of them
    steeper = analyze_part(_part(*parts), overhang_deg=44.0)
    assert steeper.overhang_area_mm2 == pytest.approx(side_area, rel=1e-6)  # beyond it: all of them (float32 file)
