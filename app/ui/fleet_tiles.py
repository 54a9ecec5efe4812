"""Machine tiles: a list view in icon mode over the same filtered model as the table, painted by a delegate.

Painting straight from the model keeps 500 tiles cheap: only the visible ones are drawn, and there is no
widget per machine.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.ui.fleet_model import ROW_ROLE, MachineRow
from app.ui.theme import PROCESS_GLYPHS, SEVERITY_COLOURS, node_colour
from app.ui.words import node_state_word

TILE = QSize(250, 148)


class TileDelegate(QStyledItemDelegate):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fonts: tuple[QFont, QFont, QFont] | None = None  # made once: paint runs for every visible tile

    def fonts(self, base: QFont) -> tuple[QFont, QFont, QFont]:
        if self._fonts is None:
            title, small, normal = QFont(base), QFont(base), QFont(base)
            title.setPointSize(13)
            title.setBold(True)
            small.setPointSize(10)
            small.setBold(True)
            normal.setPointSize(11)
            self._fonts = (title, small, normal)
        return self._fonts

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return TILE

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        row: MachineRow | None = index.data(ROW_ROLE)
        if row is None:
            return
        node = row.node
        r = option.rect.adjusted(4, 4, -4, -4)  # type: ignore[attr-defined]
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        p.setPen(QPen(QColor("#58a6ff") if selected else QColor("#2a323d"), 2 if selected else 1))
        p.setBrush(QColor("#18202a"))
        p.drawRoundedRect(r, 6, 6)
        colour = node_colour(node.state)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        p.drawRoundedRect(QRect(r.left(), r.top(), 8, r.height()), 3, 3)

        x, w = r.left() + 16, r.width() - 22
        font, small, normal = self.fonts(option.font)  # type: ignore[attr-defined]
        p.setFont(font)
        p.setPen(QColor("#e6edf3"))
        p.drawText(QRect(x, r.top() + 6, w - 60, 24), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   p.fontMetrics().elidedText(node.name, Qt.TextElideMode.ElideRight, w - 60))
        p.setFont(small)
        p.setPen(QColor("#8b949e"))
        glyph = PROCESS_GLYPHS.get(node.process, node.process.value)
        p.drawText(QRect(r.right() - 64, r.top() + 8, 56, 20),
                   Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, glyph)

        p.setPen(colour.lighter(130))
        p.drawText(QRect(x, r.top() + 32, w, 20), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   node_state_word(node.state, node.process) + (f"  ·  {node.location}" if node.location else ""))

        p.setFont(normal)
        p.setPen(QColor("#c9d4df"))
        job = row.job or "no job"
        p.drawText(QRect(x, r.top() + 54, w, 20), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   p.fontMetrics().elidedText(job, Qt.TextElideMode.ElideRight, w))
        bar = QRect(x, r.top() + 78, w, 10)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#0d1116"))
        p.drawRoundedRect(bar, 3, 3)
        if row.progress is not None:
            p.setBrush(QColor("#3fb950"))
            p.drawRoundedRect(QRect(bar.left(), bar.top(), int(bar.width() * row.progress), bar.height()), 3, 3)

        if row.eta is not None:  # time left and finish time: what an operator looks for first
            p.setPen(QColor("#e6edf3"))
            p.drawText(QRect(x, r.top() + 92, w, 20), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       p.fontMetrics().elidedText(f"{row.eta_text.replace(' · ', ' left · done ')}",
                                                  Qt.TextElideMode.ElideRight, w))
        bits = [f"{n} {v:.0f}°C" for n, v in row.temps[:1]]  # the hottest heater; the table shows more
        if row.power_w is not None:
            bits.append(f"{row.power_w:.0f} W")
        p.setPen(QColor("#9da7b3"))
        p.setFont(normal)
        p.drawText(QRect(x, r.top() + 114, w, 22), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   "   ".join(bits) or "–")
        if row.alert is not None:
            badge = QRect(r.right() - 30, r.top() + 30, 24, 24)
            p.setBrush(QColor(SEVERITY_COLOURS[row.alert]))
            p.setPen(Qt.PenStyle.NoPen)
            p.drawEllipse(badge)
            p.setPen(QColor("white"))
            p.setFont(small)
            p.drawText(badge, Qt.AlignmentFlag.AlignCenter, str(min(row.alerts, 99)))
        p.restore()


class TileView(QListView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setGridSize(TILE)
        self.setSpacing(0)
        self.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.setItemDelegate(TileDelegate(self))
        self.setMouseTracking(False)
        self.setObjectName("fleetTiles")
