"""Design review: a part on the plate of a chosen machine, how each machine would make it, notes pinned to
points of it, and sending it to production.

Meshes (STL, OBJ, PLY, 3MF, GLB) show in the recommended orientation (a toggle shows the file's own), with
overhangs shaded; G-code shows its toolpath with a layer slider and a colour legend (flat CNC and laser jobs from
the top). Loading and analysis run off the UI thread (``app/viz/background.py``); the store is reached through
the notes port, the plan and the energy forecast through theirs.
"""

from __future__ import annotations

import getpass
import logging
from datetime import tzinfo
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.clock import Clock
from app.core.domain.entities import Job, Node
from app.core.domain.enums import ProcessType
from app.core.domain.errors import ImeweError, ValidationError
from app.core.fleet.service import FleetService
from app.core.jobs.service import JobService
from app.core.review.candidates import Candidate, PartFacts
from app.core.review.notes import PartNote, part_key
from app.core.review.orient import Pose, PoseFinder
from app.ui import review_estimates, review_notes
from app.ui.part_files import GCODE_SUFFIXES, part_name
from app.ui.ports import EnergyPort, LearningPort, NotesPort, PlanPort
from app.ui.preview_pane import can_draw_3d
from app.ui.review_estimates import CANDIDATE_HEADERS
from app.ui.review_notes import build_notes_box
from app.ui.review_table import table_for
from app.ui.submit_dialog import materials_for
from app.ui.tasks import spawn
from app.ui.words import process_word
from app.viz.background import BackgroundTask

log = logging.getLogger(__name__)

REVIEW_MESH_SUFFIXES = {".stl", ".obj", ".ply", ".3mf", ".glb"}
REVIEW_SUFFIXES = REVIEW_MESH_SUFFIXES | GCODE_SUFFIXES
EMPTY_TEXT = ("Open a part file (Ctrl+O) or drop one here\n\n"
              "STL, OBJ, PLY, 3MF, GLB or G-code: see it on a machine's plate, how each machine would make it,\n"
              "pin notes to it and send it to production.")


def reviewable(path: str | Path) -> bool:
    return Path(path).suffix.lower() in REVIEW_SUFFIXES


SHOWN_ROWS = 3  # machines the candidates table shows at least, at 1366 x 768 with the machine panel open


class ReviewPanel(QWidget):
    message = Signal(str)
    submitted = Signal(object)  # the stored Job
    opened = Signal(str)  # path, once its first frame is on screen
    analysed = Signal()  # candidates computed for the current part
    notes_changed = Signal()
    first_frame = Signal(float)  # seconds from open() to the part's first frame
    turning = Signal(bool)  # the part view is being turned (True) or is still again (False)

    def __init__(self, fleet: FleetService, jobs: JobService, clock: Clock, notes: NotesPort | None = None,
                 plan: PlanPort | None = None, energy: EnergyPort | None = None, author: str = "",
                 parent: QWidget | None = None, learning: LearningPort | None = None,
                 zone: tzinfo | None = None) -> None:
        super().__init__(parent)
        self.zone = zone  # the site's time zone: the earliest finishes read as the rest of the window
        self.setObjectName("designReview")
        self.fleet, self.jobs, self.clock = fleet, jobs, clock
        self.notes_port, self.plan_port, self.energy = notes, plan, energy
        self.learning = learning  # learned times on each machine (None: the analytic estimates)
        self.path: Path | None = None
        self.kind = ""  # "mesh" or "gcode"
        self.key = ""  # SHA-256 of the file: where its notes are kept
        self.notes: list[PartNote] = []
        self.rows: list[Candidate] = []
        self.pose: Pose | None = None  # the recommended pose on the chosen machine
        self.file_pose: Pose | None = None
        self.pending_point: tuple[float, float, float] | None = None
        self.node_poses: dict = {}  # machine id -> the recommended Pose on it
        self._finder: PoseFinder | None = None
        self._finder_of: tuple[Any, float] | None = None
        self._facts: PartFacts | None = None
        self._picked_machine = False  # the reviewer chose a machine for this file
        self.part_view: Any = None  # built on first use: a 3D view costs a GL context
        self.toolpath_view: Any = None
        self._tasks: list[BackgroundTask] = []
        self._t0 = 0.0
        self.file_dialog: QFileDialog | None = None
        self._closed = False
        self.setAcceptDrops(True)

        self.file_label = QLabel("No part open")
        self.file_label.setObjectName("title")
        # a long file name is cut, never widens the window (the tooltip has the full path)
        self.file_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.file_label.setMinimumWidth(80)
        open_btn = QPushButton("Open…")
        open_btn.setToolTip("Open a part file (Ctrl+O)")
        open_btn.clicked.connect(self.browse)
        self.machine_box = QComboBox()
        # "Prusa MK4 #1 · 250 x 210 x 210 mm" in full beside the machine panel (a "Machine" label before it cut
        # the unit off; the name and plate size say what the box is, and its tooltip)
        self.machine_box.setMinimumContentsLength(31)
        self.machine_box.setToolTip("The machine whose plate the part is shown on")
        self.machine_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.machine_box.currentIndexChanged.connect(self._machine_changed)
        self.orient_box = QComboBox()
        self.orient_box.addItems(["Recommended pose", "As in the file"])
        self.orient_box.setToolTip("Recommended: least support, then lowest, turned to fit the chosen machine")
        self.orient_box.currentIndexChanged.connect(lambda _i: self._apply_pose())
        head = QHBoxLayout()
        head.addWidget(self.file_label, 1)
        head.addWidget(open_btn)
        head.addWidget(self.machine_box)
        head.addWidget(self.orient_box)

        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)

        self.table = table_for(CANDIDATE_HEADERS)
        self.table.setToolTip("How each machine would make this part; double-click a row to show its plate")
        self.table.cellDoubleClicked.connect(self._row_machine)
        # At 768 px high (the machine panel open) the table showed two machines: it keeps room for SHOWN_ROWS
        # below its header, and the splitter gives the 3D view the rest (drag the handle for more of either).
        self.table.setMinimumHeight(self._table_height(SHOWN_ROWS))
        self.basis = QLabel("")
        self.basis.setWordWrap(True)
        self.basis.setObjectName("hint")
        machines = self.machines = QWidget()  # no group box: its title and frame took the view's height
        m_lay = QVBoxLayout(machines)
        m_lay.setContentsMargins(0, 0, 0, 0)
        m_lay.addWidget(self.table, 1)
        m_lay.addWidget(self.basis)

        build_notes_box(self, author or _user())

        self.process_box = QComboBox()
        for p in ProcessType:
            self.process_box.addItem(process_word(p), p.value)  # "CNC mill", not cnc_mill
        self.process_box.currentIndexChanged.connect(lambda _i: self._fill_materials())
        self.material_box = QComboBox()
        self.material_box.setEditable(True)
        self.quantity = QSpinBox(minimum=1, maximum=10_000)
        self.send_btn = QPushButton("Send to production")
        self.send_btn.setObjectName("sendToProduction")
        self.send_btn.setEnabled(False)
        self.send_btn.clicked.connect(self.send_to_production)
        self.send_error = QLabel("")
        self.send_error.setObjectName("fieldError")
        self.send_error.setWordWrap(True)
        self.send_error.hide()

        # The part's facts (the view's size, volume and fit line, and the pose shown) sit beside the view, with
        # what to send to production: under the view they took five lines of its height at 1366 x 768.
        self.facts_hint = QLabel("No part open: its size, volume and fit show here.")
        self.facts_hint.setWordWrap(True)
        self.facts_hint.setObjectName("hint")
        self.pose_label = QLabel("")
        self.pose_label.setWordWrap(True)
        self.part_box = QWidget()
        p_lay = self.part_lay = QVBoxLayout(self.part_box)
        p_lay.setContentsMargins(6, 4, 6, 4)  # the tab's own frame is margin enough
        p_lay.addWidget(self.facts_hint)
        p_lay.addWidget(self.pose_label)
        p_lay.addStretch(1)
        send_form = QFormLayout()
        send_form.addRow("Process", self.process_box)
        send_form.addRow("Material", self.material_box)
        send_form.addRow("Quantity", self.quantity)
        p_lay.addLayout(send_form)
        p_lay.addWidget(self.send_btn)
        p_lay.addWidget(self.send_error)
        part_scroll = self.part_scroll = QScrollArea()  # a long facts line scrolls rather than squeeze the form below it
        part_scroll.setWidgetResizable(True)
        part_scroll.setFrameShape(QFrame.Shape.NoFrame)
        part_scroll.setWidget(self.part_box)
        self.side = QTabWidget()
        self.side.setObjectName("reviewSide")
        self.side.addTab(part_scroll, "Part")
        self.side.addTab(self.notes_box, "Notes")
        side_col = QWidget()  # the tabs, and under them a toolpath's colour key (seen from either tab)
        self.side_lay = QVBoxLayout(side_col)
        self.side_lay.setContentsMargins(0, 0, 0, 0)
        self.side_lay.addWidget(self.side, 1)

        # The part and its facts and notes above; the machines table below across the whole width, so all its
        # columns fit beside the machine panel at 1366 x 768. The table keeps SHOWN_ROWS rows; the view the rest.
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.stack)
        self.split.addWidget(side_col)
        self.split.setStretchFactor(0, 2)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([560, 380])  # the part's facts in four or five lines, not seven, beside the machine panel
        outer = self.outer = QSplitter(Qt.Orientation.Vertical)
        outer.addWidget(self.split)
        outer.addWidget(machines)
        outer.setStretchFactor(0, 1)
        outer.setStretchFactor(1, 0)
        outer.setSizes([1000, 1])  # the machines take their least height (SHOWN_ROWS rows), the view the rest
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(head)
        lay.addWidget(outer, 1)
        self.note_btn.setEnabled(False)  # until a file is open
        self.orient_box.setEnabled(False)
        self.reload_machines()
        self._machine_changed()

    def fit_machines(self) -> None:
        """The machines' least height: the table's SHOWN_ROWS rows and the footnote in as many lines as it wraps
        to at this width (the splitter does not ask a wrapped label for its height, and cut the table's last row)."""
        spacing = max(self.machines.layout().spacing(), 0)
        self.table.setMinimumHeight(self._table_height(SHOWN_ROWS))  # the header's height follows its labels
        self.machines.setMinimumHeight(self.table.minimumHeight() + spacing
                                       + (self.basis.heightForWidth(self.machines.width()) if self.basis.text() else 0))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.fit_machines()

    def _table_height(self, rows: int) -> int:
        """The machines table's height for its (two-line) header and ``rows`` rows."""
        header = self.table.horizontalHeader().sizeHint().height()
        return header + rows * self.table.verticalHeader().defaultSectionSize() + 2 * self.table.frameWidth() + 4

    # ------------------------------------------------------------ opening
    def browse(self) -> QFileDialog:
        patterns = " ".join(f"*{s}" for s in sorted(REVIEW_SUFFIXES))
        dlg = QFileDialog(self, "Open a part", "", f"Parts and G-code ({patterns})")
        dlg.setFileMode(QFileDialog.FileMode.ExistingFile)
        dlg.fileSelected.connect(lambda f: self.open(Path(f)))
        dlg.open()
        self.file_dialog = dlg  # the one open now (tests and the benchmark choose a file in it)
        return dlg

    def open(self, path: str | Path) -> None:
        """Show this file (loading runs in the background); a file of another kind says so in one line."""
        import time

        p = Path(path)
        if not reviewable(p):
            raise ValidationError(f"{p.name}: not a part file (use STL, OBJ, PLY, 3MF, GLB or G-code)", "file")
        if not p.is_file():
            raise ValidationError(f"{p.name}: no such file", "file")
        self._t0 = time.perf_counter()
        self.path, self.key, self.notes, self.rows = p, "", [], []
        self.pose = self.file_pose = None
        self.pending_point = None
        self.node_poses, self._facts, self._picked_machine = {}, None, False
        self.kind = "gcode" if p.suffix.lower() in GCODE_SUFFIXES else "mesh"
        self.file_label.setText(p.name)
        self.file_label.setToolTip(str(p))
        self.send_btn.setEnabled(False)
        self.send_error.hide()
        self.table.setRowCount(0)
        self.side.setCurrentIndex(0)  # a new file: its facts first
        self._show_notes()
        self.pose_label.setText("reading the file …")
        self.orient_box.setEnabled(self.kind == "mesh")
        self.note_btn.setEnabled(True)  # a model's surface or a G-code file's toolpath
        if not can_draw_3d():  # Qt's offscreen platform has no OpenGL for VTK: say so instead of crashing
            self.empty.setText(f"{p.name}: 3D review needs a display (Qt platform "
                               f"{QGuiApplication.platformName()}); run the window on a desktop or under Xvfb")
            self.stack.setCurrentWidget(self.empty)
            self.pose_label.setText("")
            self.note_btn.setEnabled(False)  # nothing to click on
            return
        if self.kind == "mesh":
            view = self._part_view()
            self.stack.setCurrentWidget(view)
            self._show_facts_of(view)
            view.load(str(p))
        else:
            tv = self._toolpath_view()
            self.stack.setCurrentWidget(tv)
            self._show_facts_of(tv)
            tv.load(str(p))
        self._start(lambda report: part_key(p), self._keyed)

    def _part_view(self) -> Any:
        if self.part_view is None:
            from app.viz.part_view import PartView

            v = PartView(self)
            v.shown.connect(self._shown)
            v.loaded.connect(self._mesh_analysed)
            v.failed.connect(self._failed)
            v.picked.connect(self._picked)
            v.posed.connect(self._posed)
            v.turning.connect(self.turning)
            self.part_view = v
            self.stack.addWidget(v)
            self._take_facts(v)
            self._machine_changed()
        return self.part_view

    def _toolpath_view(self) -> Any:
        if self.toolpath_view is None:
            from app.viz.toolpath_view import ToolpathView

            v = ToolpathView(self)
            v.loaded.connect(lambda _scene: self._shown(v.first_frame_s or 0.0))
            v.analysed.connect(self._gcode_analysed)
            v.failed.connect(self._failed)
            v.picked.connect(self._picked)
            self.toolpath_view = v
            self.stack.addWidget(v)
            self._take_facts(v)
        return self.toolpath_view

    def _take_facts(self, view: Any) -> None:
        """The view's facts line (a part's size, volume and fit; a toolpath's moves and time) goes to the Part tab
        beside the view, and a toolpath's colour key under the tabs: under the view they took its height."""
        own = view.layout()
        for w in (view.info, getattr(view, "legend", None)):
            if w is not None and own is not None:
                own.removeWidget(w)
        self.part_lay.insertWidget(1, view.info)
        if getattr(view, "legend", None) is not None:
            self.side_lay.addWidget(view.legend)
        self.facts_hint.hide()

    def _show_facts_of(self, view: Any) -> None:
        for v in (self.part_view, self.toolpath_view):
            if v is not None:
                for w in (v.info, getattr(v, "legend", None)):
                    if w is not None:
                        w.setVisible(v is view)

    def _start(self, fn: Any, on_done: Any) -> BackgroundTask:
        task = BackgroundTask(fn, self)
        task.done.connect(on_done)
        task.failed.connect(lambda m: self.message.emit(f"Design review: {m}"))
        if self._closed:
            return task  # results queued before the window closed start no more work
        self._tasks = [t for t in self._tasks if t.running] + [task]
        task.start()
        return task

    def _shown(self, seconds: float) -> None:
        self.first_frame.emit(seconds)
        if self.path is not None:
            self.opened.emit(str(self.path))

    def _failed(self, message: str) -> None:
        self.pose_label.setText(f"Cannot show {self.path.name if self.path else 'this file'}: {message}")
        self.send_btn.setEnabled(False)
        self.message.emit(f"Design review: {message}")

    def _keyed(self, key: str) -> None:
        self.key = key
        self.reload_notes()

    # ------------------------------------------------------------ machines and orientation
    def reload_machines(self) -> None:
        current = self.machine_box.currentData()
        self.machine_box.blockSignals(True)
        self.machine_box.clear()
        nodes = self.fleet.list()
        for n in nodes:
            vol = n.capabilities.build_volume_mm
            size = " x ".join(f"{v:g}" for v in vol) + " mm" if any(vol) else "no size limit"
            self.machine_box.addItem(f"{n.name} · {size}", str(n.id))
        if not nodes:
            self.machine_box.addItem("no machines on this site", None)
        i = self.machine_box.findData(current)
        self.machine_box.setCurrentIndex(max(i, 0))
        self.machine_box.blockSignals(False)

    def machine(self) -> Node | None:
        node_id = self.machine_box.currentData()
        for n in self.fleet.list():
            if str(n.id) == node_id:
                return n
        return None

    def select_machine(self, node_id: Any) -> None:
        i = self.machine_box.findData(str(node_id))
        if i >= 0:
            self.machine_box.setCurrentIndex(i)

    def _machine_changed(self, _index: int = 0) -> None:
        node = self.machine()
        if self.part_view is not None:
            self.part_view.set_machine(node.capabilities if node else None, node.name if node else "")
            self._recommend()
        if node is not None:
            self._set_process(node.process)

    def _row_machine(self, row: int, _col: int) -> None:
        if 0 <= row < len(self.rows):
            self._picked_machine = True
            self.select_machine(self.rows[row].node_id)

    def _recommend(self) -> None:
        view = self.part_view
        if view is None or view.scene is None or view.analysis is None or self.kind != "mesh":
            return
        node = self.machine()
        caps = node.capabilities if node else None
        scene, scale = view.scene, view.scale
        nodes = self.fleet.list()
        finder = self._finder if self._finder is not None and self._finder_of == (scene, scale) else None

        def work(report: Any) -> tuple[PoseFinder, Pose, Pose, dict]:
            f = finder or PoseFinder(scene.part.all_triangles(), scale)
            per_node = {n.id: f.recommend(n.capabilities) for n in nodes}
            return f, f.recommend(caps), f.poses(caps, only="as drawn")[0], per_node

        self._start(work, lambda r: self._recommended(r, scene, scale))

    def _recommended(self, result: tuple[PoseFinder, Pose, Pose, dict], scene: Any, scale: float) -> None:
        if self.kind != "mesh" or self.part_view is None or self.part_view.scene is not scene:
            return  # another file was opened meanwhile
        self._finder, self._finder_of = result[0], (scene, scale)
        self.pose, self.file_pose, self.node_poses = result[1], result[2], result[3]
        self._apply_pose()
        self._fill_candidates()

    def chosen_pose(self) -> Pose | None:
        return self.file_pose if self.orient_box.currentIndex() == 1 else self.pose

    def _apply_pose(self) -> None:
        pose = self.chosen_pose()
        if pose is None or self.part_view is None:
            return
        self.part_view.set_rotation(pose.matrix)
        node = self.machine()
        where = f" on {node.name}" if node else ""
        which = "as in the file" if self.orient_box.currentIndex() == 1 else "recommended"
        size = " x ".join(f"{v:.1f}" for v in pose.size_mm)
        support = (f"support under {pose.overhang_mm2:.0f}\u00a0mm² of overhangs" if pose.overhang_mm2 >= 1
                   else "no overhangs need support")
        self.pose_label.setText(f"Shown {which}: {pose.describe()}{where}; {size} mm; {support}; "
                                f"{'fits' if pose.fits else 'does NOT fit'}.")

    def _posed(self) -> None:
        self._show_markers()

    # ------------------------------------------------------------ candidates
    def _mesh_analysed(self, analysis: Any) -> None:
        self._facts = PartFacts("mesh", analysis, self.part_view.scale)
        self._recommend()

    def _gcode_analysed(self, analysis: Any) -> None:
        self._facts = PartFacts("gcode", analysis, 1.0, analysis.flavor)
        process = {"printer": ProcessType.FDM, "laser": ProcessType.LASER}.get(analysis.flavor, ProcessType.CNC_MILL)
        self._set_process(process)
        size = " x ".join(f"{v:.1f}" for v in analysis.bbox_mm)
        units = ", written in inches (G20)" if analysis.units_inch else ""
        self.pose_label.setText(f"Toolpath {size} mm{units}; "
                                + ("seen from the top (a flat job)" if self.toolpath_view.flat else "3D view"))
        self._fill_candidates()

    # ------------------------------------------------------------ send to production
    def _set_process(self, process: ProcessType) -> None:
        i = self.process_box.findData(process.value)
        if i >= 0 and i != self.process_box.currentIndex():
            self.process_box.setCurrentIndex(i)
        else:
            self._fill_materials()

    def _fill_materials(self) -> None:
        process = ProcessType(self.process_box.currentData())
        current = self.material_box.currentText()
        self.material_box.clear()
        node = self.machine()
        mats = materials_for(self.fleet.list(), process)
        if node is not None and node.process is process and node.capabilities.loaded_material in mats:
            mats.remove(node.capabilities.loaded_material)
            mats.insert(0, node.capabilities.loaded_material)
        self.material_box.addItems(mats)
        j = self.material_box.findText(current)
        if j >= 0 and (node is None or node.process is not process):
            self.material_box.setCurrentIndex(j)

    def job_spec(self) -> dict[str, Any]:
        """The reviewed part as the job service's submit() takes it."""
        if self.path is None:
            raise ValidationError("open a part file first", "file")
        part: dict[str, Any] = {"name": part_name(self.path), "process": self.process_box.currentData(),
                                "material": self.material_box.currentText(), "quantity": self.quantity.value(),
                                "file": str(self.path)}
        meta: dict[str, Any] = {"source": "design review"}
        pose = self.chosen_pose()
        if self.kind == "mesh" and pose is not None:
            part["size_mm"] = [round(max(v, 0.01), 3) for v in pose.size_mm]
            meta["orientation"] = {"label": pose.label, "rotate_z_deg": pose.rotate_z_deg,
                                   "rotation": [list(r) for r in pose.rotation],
                                   "recommended": self.orient_box.currentIndex() == 0}
        if self.key:
            meta["review"] = {"part_key": self.key, "notes": len(self.notes),
                              "open_notes": sum(1 for n in self.notes if n.state == "open")}
        return {"name": part["name"], "priority": 5, "parts": [part], "metadata": meta}

    def send_to_production(self) -> None:
        self.send_error.hide()
        try:
            spec = self.job_spec()
        except ImeweError as exc:
            self._send_failed(exc)
            return
        self.send_btn.setEnabled(False)
        spawn(self.jobs.submit(spec, actor=self.author.text().strip() or "reviewer"), self._sent, self._send_failed)

    def _sent(self, job: Job) -> None:
        self.send_btn.setEnabled(True)
        if self.notes_port is not None and self.key and job.parts:
            spawn(self.notes_port.attach(self.key, job.parts[0].id, job.id), lambda _n: self.reload_notes(),
                  lambda e: self.message.emit(f"notes not attached to the job: {e}"))
        self.message.emit(f"{job.name}: sent to production ({self.quantity.value()} x, "
                          f"{self.process_box.currentText()}, {self.material_box.currentText()})")
        self.submitted.emit(job)

    def _send_failed(self, exc: Exception) -> None:
        self.send_btn.setEnabled(self.path is not None)
        text = str(exc) if isinstance(exc, ImeweError) else f"the job could not be stored ({type(exc).__name__})"
        self.send_error.setText(text)
        self.send_error.show()

    # The machines table's estimates (review_estimates) and the notes pinned to the part (review_notes) are
    # plain functions of the panel in their own modules, bound here as its methods.
    _busy_until = review_estimates.busy_until
    _rates = review_estimates.rates
    _fill_candidates = review_estimates.fill_candidates
    _note_mode = review_notes.note_mode
    _picked = review_notes.picked
    save_note = review_notes.save_note
    _note_saved = review_notes.note_saved
    reload_notes = review_notes.reload_notes
    _show_notes = review_notes.show_notes
    _show_markers = review_notes.show_markers
    _note_selected = review_notes.note_selected
    toggle_selected_note = review_notes.toggle_selected_note

    # ------------------------------------------------------------ drag and drop, closing
    def dragEnterEvent(self, event: Any) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(u.isLocalFile() and reviewable(u.toLocalFile()) for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: Any) -> None:
        for u in event.mimeData().urls():
            if u.isLocalFile() and reviewable(u.toLocalFile()):
                self.open(u.toLocalFile())
                event.acceptProposedAction()
                return

    def close_views(self) -> None:
        self._closed = True
        for t in self._tasks:
            t.finish()
        for v in (self.part_view, self.toolpath_view):
            if v is not None:
                v.close_view()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"
