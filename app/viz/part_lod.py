"""Levels of detail for big parts, as professional viewers draw them: a vertex-clustered proxy of the mesh (made on
the worker thread) is what the view draws while it turns and, for a very big part, in the first frame; the full
mesh is drawn when the view is still again (app/viz/turning.py paces and shrinks the frames while it turns). The
full mesh is what every analysis uses; a proxy is only drawn.

Software OpenGL (llvmpipe, Xvfb, remote desktops) draws about a million triangles a second on this project's
machines, on the UI thread: a 1M-triangle part costs about a second a frame, a 20k proxy a few tens of ms.
"""

from __future__ import annotations

import numpy as np
import pyvista as pv

INTERACTIVE_CELLS = 20_000  # drawn while the view turns: a frame in a few tens of ms in software OpenGL
FIRST_FRAME_CELLS = 150_000  # a bigger part shows a proxy of about this size first, the full mesh right after


def cluster(verts: np.ndarray, faces: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex clustering (the idea of VTK's vtkQuadricClustering, with plain averages): vertices in one cell of a
    regular grid merge into their mean, triangles whose corners merge vanish. The grid is refined or coarsened until
    at most about ``target`` triangles remain. Triangle winding is kept, so faces still point outwards."""
    verts = np.asarray(verts, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if len(faces) <= target or not len(verts):
        return verts.astype(np.float32), faces
    lo = verts.min(axis=0)
    extent = float(max((verts.max(axis=0) - lo).max(), 1e-9))
    cells = max(8.0, np.sqrt(target / 4.0))  # a closed surface gets about 4 triangles per grid cell it crosses
    best: tuple[np.ndarray, np.ndarray] | None = None
    for _ in range(6):
        q = np.floor((verts - lo) * (cells / extent)).astype(np.int64)
        n = int(cells) + 1
        key = (q[:, 0] * n + q[:, 1]) * n + q[:, 2]
        _, inv = np.unique(key, return_inverse=True)
        inv = inv.ravel()
        count = np.bincount(inv).astype(np.float64)
        merged = np.stack([np.bincount(inv, verts[:, i]) / count for i in range(3)], axis=1)
        f = inv[faces]
        f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
        if len(f) <= target * 1.15 or cells <= 8.0:
            best = (merged.astype(np.float32), f)
            if len(f) >= target * 0.5 or cells <= 8.0:
                break
            cells *= np.sqrt(target / max(len(f), 1)) * 0.95  # far too coarse: a finer grid
        else:
            cells = max(8.0, cells * np.sqrt(target / len(f)) * 0.95)
    if best is None:
        best = (merged.astype(np.float32), f)
    return best


def proxy_mesh(verts: np.ndarray, faces: np.ndarray, target: int) -> tuple[pv.PolyData, np.ndarray]:
    """A clustered mesh of about ``target`` triangles, and its triangles as (n, 3, 3) corners (for overhangs)."""
    v, f = cluster(verts, faces, target)
    cells = np.empty((len(f), 4), dtype=np.int64)
    cells[:, 0] = 3
    cells[:, 1:] = f
    return pv.PolyData(v, cells.ravel()), v[f]
