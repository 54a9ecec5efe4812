"""An OBJ file's named objects (``o`` lines) as separate triangle arrays.

trimesh reads OBJ geometry well but merges every ``o`` object of a file without materials into one mesh; a
designer who exported three parts into one OBJ expects three objects. This reader only splits: it follows ``v``,
``f`` (any ``v/vt/vn`` form, negative indices, polygons fanned into triangles) and ``o``; the loader checks its
triangle count against trimesh's before using it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_OBJ_BYTES = 512 * 1024 * 1024


def obj_objects(path: Path) -> list[tuple[str, np.ndarray]] | None:
    """[(name, (n, 3, 3) float32 triangles)] per ``o`` object, or None when the file names fewer than two
    objects or cannot be split this simply (the loader then keeps trimesh's single mesh)."""
    if path.stat().st_size > MAX_OBJ_BYTES:
        return None
    verts: list[tuple[float, float, float]] = []
    objects: list[tuple[str, list[tuple[int, int, int]]]] = []
    current: list[tuple[int, int, int]] | None = None
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if not parts:
                    continue
                tag = parts[0]
                if tag == "v":
                    verts.append((float(parts[1]), float(parts[2]), float(parts[3])))
                elif tag == "o":
                    current = []
                    objects.append((" ".join(parts[1:]) or f"object {len(objects) + 1}", current))
                elif tag == "f":
                    if current is None:
                        current = []
                        objects.append(("unnamed", current))
                    idx = []
                    for p in parts[1:]:
                        i = int(p.split("/")[0])
                        idx.append(i - 1 if i > 0 else len(verts) + i)
                    current.extend((idx[0], idx[k], idx[k + 1]) for k in range(1, len(idx) - 1))
    except (ValueError, IndexError, OSError):
        return None
    named = [(n, f) for n, f in objects if f]
    if len(named) < 2:
        return None
    v = np.asarray(verts, dtype=np.float64)
    out = []
    seen: dict[str, int] = {}
    for name, faces in named:
        f = np.asarray(faces, dtype=np.int64)
        if f.min() < 0 or f.max() >= len(v):
            return None
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name} ({seen[name]})"
        out.append((label, v[f].astype(np.float32)))
    return out
