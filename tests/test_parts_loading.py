"""Loading real part files, and the clear errors broken ones must give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from app.core.domain.errors import ImeweError
from app.core.estimation import (
    EmptyPartError,
    PartFileError,
    UnsupportedFormatError,
    analyze_file,
    load_part,
)

from .shared_data import MESHES, needs_shared


@needs_shared
@pytest.mark.parametrize(
    ("name", "fmt", "triangles", "objects"),
    [
        ("20mm-xyz-cube.stl", "stl-binary", 260, 1),
        ("featuretype.STL", "stl-binary", 3476, 1),
        ("teapot.stl", "stl-binary", 894, 1),
        ("bp_case.stl", "stl-ascii", 6008, 1),
        ("pyramids.3mf", "3mf", 3276, 12),
        ("featuretype.3MF", "3mf", 2208, 1),
    ],
)
def test_real_files_load(name: str, fmt: str, triangles: int, objects: int) -> None:
    part = load_part(MESHES / name)
    assert part.format == fmt
    assert part.triangle_count == triangles
    assert len(part.objects) == objects
    assert all(o.triangles.shape[1:] == (3, 3) for o in part.objects)


@needs_shared
def test_fast_stl_reader_matches_trimesh() -> None:
    ours = load_part(MESHES / "featuretype.STL").objects[0].triangles
    ref = trimesh.load(MESHES / "featuretype.STL", process=False)
    assert np.allclose(ours, ref.triangles, atol=1e-6)


@needs_shared
def test_empty_stl_is_a_clear_error() -> None:
    with pytest.raises(EmptyPartError, match="no triangles"):
        load_part(MESHES / "empty.stl")


@needs_shared
def test_truncated_binary_stl(tmp_path: Path) -> None:
    data = (MESHES / "20mm-xyz-cube.stl").read_bytes()
    bad = tmp_path / "cut.stl"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(PartFileError, match="truncated"):
        load_part(bad)


@pytest.mark.parametrize("suffix", [".stl", ".3mf", ".obj", ".ply", ".glb"])
def test_garbage_files_give_operator_errors(tmp_path: Path, suffix: str) -> None:
    bad = tmp_path / f"noise{suffix}"
    bad.write_bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ImeweError) as info:
        analyze_file(bad)
    assert "noise" in str(info.value)


def test_zero_byte_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "zero.stl"
    empty.write_bytes(b"")
    with pytest.raises(EmptyPartError, match="0 bytes"):
        load_part(empty)
    with pytest.raises(PartFileError, match="no such file"):
        load_part(tmp_path / "absent.stl")


def test_unknown_format_and_step_hint(tmp_path: Path) -> None:
    doc = tmp_path / "notes.docx"
    doc.write_bytes(b"hello")
    with pytest.raises(UnsupportedFormatError, match="unknown part format"):
        load_part(doc)
    step = tmp_path / "bracket.step"
    step.write_text("ISO-10303-21;\n")
    try:
        import cascadio  # noqa: F401
    except ImportError:
        with pytest.raises(UnsupportedFormatError, match="cascadio"):
            load_part(step)


@needs_shared
@pytest.mark.parametrize("file_type", ["stl_ascii", "obj", "ply", "glb"])
def test_other_formats_round_trip(tmp_path: Path, file_type: str) -> None:
    cube = trimesh.load(MESHES / "20mm-xyz-cube.stl")
    suffix = "stl" if file_type == "stl_ascii" else file_type
    out = tmp_path / f"cube.{suffix}"
    cube.export(out, file_type=file_type)
    a = analyze_file(out)
    assert a.volume_mm3 == pytest.approx(cube.volume, rel=1e-4)
    assert a.watertight


def test_broken_ascii_stl(tmp_path: Path) -> None:
    bad = tmp_path / "broken.stl"
    bad.write_text("solid broken\n facet normal 0 0 1\n  outer loop\n   vertex 0 0 zero\n")
    with pytest.raises(PartFileError, match="broken.stl"):
        analyze_file(bad)


def test_points_only_ply_is_empty(tmp_path: Path) -> None:
    cloud = tmp_path / "cloud.ply"
    trimesh.PointCloud(np.random.default_rng(1).random((50, 3))).export(cloud)
    with pytest.raises(EmptyPartError):
        load_part(cloud)
