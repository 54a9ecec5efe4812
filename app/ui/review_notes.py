"""The design review's notes: pinned to a point of the part, listed, resolved and reopened. Plain functions of the
``ReviewPanel`` they are methods of."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from app.core.review.notes import PartNote
from app.ui.review_table import cell, table_for
from app.ui.tasks import spawn

if TYPE_CHECKING:
    from app.ui.review_panel import ReviewPanel

NOTE_COLOURS = {"open": "#f0883e", "resolved": "#3fb950"}
NOTE_HEADERS = ["#", "State", "Note", "Author", "When (UTC)"]



def build_notes_box(pane: ReviewPanel, author: str) -> None:
    """The Notes tab's widgets (``pane.notes_box``): add a note, the list, the note being typed, resolve."""
    pane.note_btn = QPushButton("Add note…")
    pane.note_btn.setCheckable(True)
    pane.note_btn.setToolTip("Then click the point of the part (or of the toolpath) the note is about")
    pane.note_btn.toggled.connect(pane._note_mode)
    pane.note_table = table_for(NOTE_HEADERS)
    pane.note_table.itemSelectionChanged.connect(pane._note_selected)
    pane.note_hint = QLabel("No notes yet. Press “Add note…”, click the part, then type the note.")
    pane.note_hint.setWordWrap(True)
    pane.note_text = QLineEdit(placeholderText="What should change here?")
    pane.note_text.returnPressed.connect(pane.save_note)
    pane.author = QLineEdit(author)
    pane.author.setToolTip("Reviewer")
    pane.save_btn = QPushButton("Save note")
    pane.save_btn.clicked.connect(pane.save_note)
    pane.resolve_btn = QPushButton("Resolve")
    pane.resolve_btn.setEnabled(False)
    pane.resolve_btn.clicked.connect(pane.toggle_selected_note)
    note_row = QHBoxLayout()
    note_row.addWidget(QLabel("by"))
    note_row.addWidget(pane.author, 1)
    note_row.addWidget(pane.save_btn)
    note_row.addWidget(pane.resolve_btn)
    pane.notes_box = QWidget()
    n_lay = QVBoxLayout(pane.notes_box)
    add_row = QHBoxLayout()  # here, not in the top row: there it cut the file's name beside the machine panel
    add_row.addWidget(pane.note_btn)
    add_row.addStretch(1)
    n_lay.addLayout(add_row)
    n_lay.addWidget(pane.note_table, 1)
    n_lay.addWidget(pane.note_hint)
    n_lay.addWidget(pane.note_text)
    n_lay.addLayout(note_row)


def current_view(pane: ReviewPanel) -> Any:
    """The 3D view of the open file: the part view for a model, the toolpath view for G-code."""
    return pane.part_view if pane.kind == "mesh" else pane.toolpath_view if pane.kind == "gcode" else None


def note_mode(pane: ReviewPanel, on: bool) -> None:
    view = current_view(pane)
    if view is not None:
        view.set_pick_mode(on)
    if on:
        what = "a move of the toolpath" if pane.kind == "gcode" else "the point of the part"
        pane.note_hint.setText(f"Click {what} the note is about.")
        pane.side.setCurrentWidget(pane.notes_box)  # where the note is typed


def picked(pane: ReviewPanel, point: tuple[float, float, float]) -> None:
    pane.pending_point = point
    pane.note_btn.setChecked(False)
    view = current_view(pane)
    w = view.world_point(point) if view is not None else point
    where = "on the toolpath" if pane.kind == "gcode" else "on the plate"
    pane.note_hint.setText("Point picked at x {:.1f}, y {:.1f}, z {:.1f} mm {}: type the note and "
                           "press Enter.".format(*w, where))
    pane.note_text.setFocus()


def save_note(pane: ReviewPanel) -> None:
    if pane.notes_port is None:
        pane.note_hint.setText("Notes are not kept on this site (no store).")
        return
    if pane.pending_point is None:
        pane.note_hint.setText("First press “Add note…” and click the point of the part (or toolpath) the note "
                               "is about.")
        return
    if not pane.key:
        pane.note_hint.setText("Still reading the file; try again in a moment.")
        return
    assert pane.path is not None
    spawn(pane.notes_port.add(pane.key, pane.path.name, pane.pending_point, pane.note_text.text(),
                              pane.author.text()), pane._note_saved,
          lambda e: pane.note_hint.setText(str(e)))


def note_saved(pane: ReviewPanel, note: PartNote) -> None:
    pane.pending_point = None
    pane.note_text.clear()
    pane.notes.append(note)
    pane._show_notes()
    pane.message.emit(f"note {len(pane.notes)} saved on {note.file_name}")


def reload_notes(pane: ReviewPanel) -> None:
    if pane.notes_port is None or not pane.key:
        return
    key = pane.key

    def got(notes: list[PartNote]) -> None:
        if key == pane.key:
            pane.notes = notes
            pane._show_notes()

    spawn(pane.notes_port.for_file(key), got, lambda e: pane.note_hint.setText(str(e)))


def show_notes(pane: ReviewPanel) -> None:
    pane.note_table.setRowCount(len(pane.notes))
    open_n = sum(1 for n in pane.notes if n.state == "open")
    pane.side.setTabText(pane.side.indexOf(pane.notes_box), f"Notes ({open_n} open)" if open_n else "Notes")
    for r, n in enumerate(pane.notes):
        state = "Resolved" if n.state == "resolved" else "Open"
        tip = f"resolved by {n.resolved_by} {n.resolved_at:%Y-%m-%d %H:%M}" if n.resolved_at else ""
        cells = [cell(str(r + 1)), cell(state, tip), cell(n.text, n.text), cell(n.author),
                 cell(f"{n.created_at:%d %b %H:%M}")]
        cells[1].setForeground(Qt.GlobalColor.darkGreen if n.state == "resolved" else Qt.GlobalColor.darkYellow)
        for c, item in enumerate(cells):
            pane.note_table.setItem(r, c, item)
    pane.note_table.resizeColumnsToContents()
    pane.note_table.setColumnWidth(2, max(160, min(pane.note_table.columnWidth(2), 230)))
    if not pane.notes and pane.pending_point is None:
        what = "a move of the toolpath" if pane.kind == "gcode" else "the part"
        pane.note_hint.setText(f"No notes yet. Press “Add note…”, click {what}, then type the note.")
    elif pane.pending_point is None:
        noun = "note" if len(pane.notes) == 1 else "notes"
        pane.note_hint.setText(f"{len(pane.notes)} {noun}, {open_n} open. Select one to resolve or reopen it.")
    pane._show_markers()
    pane.notes_changed.emit()


def show_markers(pane: ReviewPanel) -> None:
    view = current_view(pane)
    if view is not None:
        view.set_markers([(n.point, NOTE_COLOURS.get(n.state, "#f0883e")) for n in pane.notes])


def note_selected(pane: ReviewPanel) -> None:
    rows = {i.row() for i in pane.note_table.selectedItems()}
    note = pane.notes[min(rows)] if rows and min(rows) < len(pane.notes) else None
    pane.resolve_btn.setEnabled(note is not None)
    pane.resolve_btn.setText("Reopen" if note is not None and note.state == "resolved" else "Resolve")


def toggle_selected_note(pane: ReviewPanel) -> None:
    rows = {i.row() for i in pane.note_table.selectedItems()}
    if not rows or pane.notes_port is None:
        return
    note = pane.notes[min(rows)]
    state = "open" if note.state == "resolved" else "resolved"

    def done(updated: PartNote) -> None:
        pane.notes = [updated if n.id == updated.id else n for n in pane.notes]
        pane._show_notes()
        pane._note_selected()

    spawn(pane.notes_port.set_state(note.id, state, pane.author.text()), done,
          lambda e: pane.note_hint.setText(str(e)))
