"""Where the shared corpus (real meshes, G-code, FJSP benchmarks) is, and how tests that need it skip without it.

A fresh clone has no ``../shared``: tests that read it skip with one line saying so, and nothing here touches the
folder at import time beyond checking that it exists. Core behaviour is covered by fixtures the tests make.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IMEWE_SHARED") or ROOT.parent / "shared")
MESHES = SHARED / "data" / "meshes"
GCODE = SHARED / "data" / "gcode"
FJSP = SHARED / "bench" / "fjsp"
HAVE_SHARED = SHARED.is_dir()
REASON = f"shared corpus not found at {SHARED} (set IMEWE_SHARED to run the tests that read it)"

needs_shared = pytest.mark.skipif(not HAVE_SHARED, reason=REASON)


def files_in(folder: Path) -> list:
    """Parameters for a test run once per file of a shared folder; one skipped case when the folder is absent."""
    if not folder.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=REASON), id="no-shared-corpus")]
    return [pytest.param(p, id=p.name) for p in sorted(folder.iterdir())]


def require_shared() -> Path:
    if not HAVE_SHARED:
        pytest.skip(REASON)
    return SHARED
