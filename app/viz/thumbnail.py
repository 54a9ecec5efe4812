"""Small pictures of parts for lists (the catalogue): the mesh seen from the front, right and above, flat-shaded,
drawn into a QImage with the painter's algorithm. No 3D context is needed, so it runs in a worker thread (a
QImage, unlike a QPixmap or a VTK window, may be painted off the UI thread) and in any number at once."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF

from app.core.estimation import load_part

MAX_TRIANGLES = 12_000  # the largest ones are drawn; a thumbnail does not show more
_AZIMUTH, _TILT = math.radians(-35.0), math.radians(-60.0)
_LIGHT = np.array([0.35, 0.45, 1.0]) / np.linalg.norm([0.35, 0.45, 1.0])


def _view() -> np.ndarray:
    ca, sa, ct, st = math.cos(_AZIMUTH), math.sin(_AZIMUTH), math.cos(_TILT), math.sin(_TILT)
    rz = np.array([[ca, -sa, 0.0], [sa, ca, 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, ct, -st], [0.0, st, ct]])
    return rx @ rz


def draw_triangles(triangles: np.ndarray, size: int = 96, colour: str = "#9db4c0") -> QImage:
    """``triangles`` (N, 3, 3) in mm, any placement; a transparent square image ``size`` pixels wide."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    tris = np.asarray(triangles, dtype=np.float64).reshape(-1, 3, 3)
    tris = tris[np.isfinite(tris).all(axis=(1, 2))]
    if len(tris) == 0:
        return image
    v = (tris - tris.reshape(-1, 3).mean(axis=0)) @ _view().T
    normals = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    area = np.linalg.norm(normals, axis=1)
    if len(v) > MAX_TRIANGLES:  # a big mesh: its faces turned away are hidden anyway (when wound outwards)
        front = normals[:, 2] > 0
        if front.sum() > len(v) // 4:
            v, normals, area = v[front], normals[front], area[front]
    if len(v) > MAX_TRIANGLES:
        keep = np.argpartition(area, -MAX_TRIANGLES)[-MAX_TRIANGLES:]
        v, normals, area = v[keep], normals[keep], area[keep]
    shade = 0.35 + 0.65 * np.abs(normals @ _LIGHT) / np.maximum(area, 1e-12)
    lo, hi = v[..., :2].reshape(-1, 2).min(axis=0), v[..., :2].reshape(-1, 2).max(axis=0)
    scale = 0.86 * size / max(float((hi - lo).max()), 1e-9)
    mid = (lo + hi) / 2
    xy = (v[..., :2] - mid) * scale
    px, py = xy[..., 0] + size / 2, size / 2 - xy[..., 1]
    order = np.argsort(v[..., 2].mean(axis=1))  # far first; near faces paint over them
    base = QColor(colour)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, len(order) < 5000)
        for i in order:
            c = QColor.fromRgbF(base.redF() * shade[i], base.greenF() * shade[i], base.blueF() * shade[i])
            painter.setBrush(c)
            painter.setPen(QPen(c, 0.6))  # the edge in the face's colour closes the seams between faces
            painter.drawPolygon(QPolygonF([QPointF(px[i, k], py[i, k]) for k in range(3)]))
    finally:
        painter.end()
    return image


def part_thumbnail(path: str, size: int = 96) -> QImage:
    """A thumbnail of a part file (STL, OBJ, PLY, 3MF, GLB); blocking: call it in a worker thread."""
    part = load_part(path)
    return draw_triangles(np.concatenate([o.triangles for o in part.objects]), size)
