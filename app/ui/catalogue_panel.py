"""Catalogue tab: this site's templates, playbooks and part files, and what linked sites offer, in one searchable
list with thumbnails (drawn by ``app.viz.thumbnail`` in a worker thread); a template made with chosen parameters
opens in Design review (with its estimates) before any job is made; templates and playbooks go to and come from
a single catalogue file."""

from __future__ import annotations

import asyncio
import getpass
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.catalog.browse import CatalogueItem
from app.core.catalog.params import parse_assignments
from app.core.domain.errors import ImeweError
from app.core.sites.presence import REPEAT_S
from app.ui.ports import CataloguePort
from app.ui.tasks import spawn

log = logging.getLogger(__name__)
KIND_FILTERS = {"Everything": ("template", "playbook", "part", "offer", "order"), "Templates": ("template",),
                "Playbooks": ("playbook",), "Parts": ("part",), "Offers from linked sites": ("offer",),
                "Quotes and orders": ("order",)}
KIND_WORDS = {"template": "Template", "playbook": "Playbook", "part": "Part file", "offer": "Offer", "order": "Order"}
ICON = 64
BIG = 220
SOCIAL_REFRESH_S = 5.0  # comments and presence of the chosen offer are read again this often
MAX_THUMBNAILS = 200  # drawn per listing, in order; the rest show their kind only
EMPTY = ("Nothing in the catalogue yet. Add a template (imewe templates add FILE.scad), a playbook (imewe "
         "playbooks add FILE.json), or import a catalogue file (Import…). Offers appear when linked sites publish "
         "them to this site.")


def _param_text(p: dict) -> str:
    unit = " mm" if p.get("kind") == "length" else ""
    limits = f" ({p['min']:g} to {p['max']:g}{unit})" if isinstance(p.get("min"), int | float) and \
        isinstance(p.get("max"), int | float) else ""
    default = f"{p['default']:g}" if isinstance(p.get("default"), int | float) and \
        not isinstance(p.get("default"), bool) else str(p.get("default"))
    return f"{p['name']} {default}{unit}{limits}"


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        lay.addWidget(w, 1 if isinstance(w, QLineEdit | QComboBox) else 0)
    return row


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "someone"


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d %b %H:%M UTC")


class CataloguePanel(QWidget):
    preview = Signal(str)  # a mesh file to open in Design review
    message = Signal(str)

    def __init__(self, port: CataloguePort, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.port = port
        self.items: list[CatalogueItem] = []
        self._thumbs: dict[str, QPixmap] = {}  # mesh file -> its picture
        self._load_task: asyncio.Task | None = None
        self._thumb_task: asyncio.Task | None = None

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search templates, playbooks, parts and offers (words: name, process, "
                                       "material, site…)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self.reload())
        self.kind = QComboBox()
        self.kind.addItems(list(KIND_FILTERS))
        self.kind.currentIndexChanged.connect(lambda _i: self.reload())
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Add the templates and playbooks of a catalogue file (.json)")
        self.import_button.clicked.connect(self._ask_import)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write this site's templates and playbooks, every version, to one file")
        self.export_button.clicked.connect(self._ask_export)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.kind)
        top.addWidget(self.import_button)
        top.addWidget(self.export_button)

        self.list = QListWidget()
        self.list.setObjectName("catalogueList")
        self.list.setIconSize(QSize(ICON, ICON))
        self.list.setSpacing(2)
        self.list.setWordWrap(True)
        self.list.currentRowChanged.connect(self._show)
        self.empty = QLabel(EMPTY)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #666; padding: 24px;")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.list, 1)
        ll.addWidget(self.empty, 1)

        self.picture = QLabel()
        self.picture.setFixedSize(BIG, BIG)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setStyleSheet("border: 1px solid palette(mid);")
        self.title = QLabel()
        self.title.setStyleSheet("font-size: 15px; font-weight: bold;")
        self.title.setWordWrap(True)
        self.facts = QLabel()
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.params = QLineEdit()
        self.params.setPlaceholderText("parameters, e.g. length=40 width=30 material=petg (defaults when empty)")
        self.preview_button = QPushButton("Preview in Design review")
        self.preview_button.setToolTip("Make the mesh with these parameters and open it in Design review, with "
                                       "its estimates; no job is made")
        self.preview_button.clicked.connect(lambda: spawn(self.make_preview(), on_error=self._error))
        # comments and presence on an offer shared with a linked site
        self.viewing_now = QLabel()
        self.viewing_now.setObjectName("viewingNow")
        self.viewing_now.setWordWrap(True)
        self.discussion = QLabel()
        self.discussion.setObjectName("comments")
        self.discussion.setWordWrap(True)
        self.discussion.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.comment_text = QLineEdit()
        self.comment_text.setPlaceholderText("Write a comment for the other site")
        self.comment_text.returnPressed.connect(lambda: spawn(self.send_comment(), on_error=self._error))
        self.comment_button = QPushButton("Comment")
        self.comment_button.clicked.connect(lambda: spawn(self.send_comment(), on_error=self._error))
        self.comment_row = _row(self.comment_text, self.comment_button)
        # quotes, orders and ratings
        self.jobs_box = QComboBox()
        self.jobs_box.setMinimumContentsLength(18)
        self.quote_button = QPushButton("Ask for a quote")
        self.quote_button.setToolTip("Ask the offering site to price the chosen job under this offer")
        self.quote_button.clicked.connect(lambda: spawn(self.ask_quote(), on_error=self._error))
        self.quote_row = _row(QLabel("Job"), self.jobs_box, self.quote_button)
        self.order_button = QPushButton("Order")
        self.order_button.setToolTip("Send the job to the selling site at the quoted price (once)")
        self.order_button.clicked.connect(lambda: spawn(self.place_order(), on_error=self._error))
        self.stars = QComboBox()
        self.stars.addItems(["5 stars", "4 stars", "3 stars", "2 stars", "1 star"])
        self.rating_note = QLineEdit()
        self.rating_note.setPlaceholderText("a note for the seller (optional)")
        self.rate_button = QPushButton("Rate")
        self.rate_button.clicked.connect(lambda: spawn(self.rate(), on_error=self._error))
        self.rate_row = _row(self.stars, self.rating_note, self.rate_button)
        self._viewed: CatalogueItem | None = None  # the offer we told its site we are looking at
        self._social_timer = QTimer(self)
        self._social_timer.setInterval(int(SOCIAL_REFRESH_S * 1000))
        self._social_timer.timeout.connect(lambda: spawn(self.refresh_social(), on_error=self._error))
        self._social_timer.start()
        self._announced_at = 0.0
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.addWidget(self.picture, 0, Qt.AlignmentFlag.AlignHCenter)
        rl.addWidget(self.title)
        rl.addWidget(self.facts)
        rl.addWidget(self.params)
        rl.addWidget(self.preview_button)
        rl.addWidget(self.quote_row)
        rl.addWidget(self.order_button)
        rl.addWidget(self.rate_row)
        rl.addWidget(self.viewing_now)
        rl.addWidget(self.discussion)
        rl.addWidget(self.comment_row)
        rl.addStretch(1)
        self.split = QSplitter()
        self.split.addWidget(left)
        self.split.addWidget(right)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        right.setMinimumWidth(BIG + 160)
        self.split.setSizes([800, 520])

        self.status = QLabel()
        self.status.setObjectName("catalogueStatus")
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.split, 1)
        lay.addWidget(self.status)
        self._show(-1)

    # ------------------------------------------------------------ loading
    def reload(self) -> None:
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self._load_task = spawn(self.load(), on_error=self._error)

    async def load(self) -> None:
        words = self.search.text()
        self.items = await self.port.items(words, KIND_FILTERS[self.kind.currentText()])
        self.list.clear()
        for it in self.items:
            row = QListWidgetItem(self._label(it))
            row.setSizeHint(QSize(0, ICON + 10))
            row.setIcon(QIcon(self._thumbs.get(it.file or "") or self._blank()))
            self.list.addItem(row)
        nothing = not self.items
        self.list.setVisible(not nothing)
        self.empty.setVisible(nothing)
        self.empty.setText(f"Nothing matches “{words.strip()}”." if nothing and words.strip() else EMPTY)
        counts = {k: sum(1 for i in self.items if i.kind == k) for k in KIND_WORDS}
        self.status.setText(", ".join(f"{n} {KIND_WORDS[k].lower()}{'s' if n != 1 else ''}"
                                      for k, n in counts.items() if n) or "")
        if self.items:
            self.list.setCurrentRow(0)
        else:
            self._show(-1)
        if self._thumb_task is not None and not self._thumb_task.done():
            self._thumb_task.cancel()
        self._thumb_task = spawn(self.draw_thumbnails(), on_error=self._error)

    def _blank(self) -> QPixmap:
        """An empty square, so rows without a picture line up with the others."""
        pix = QPixmap(ICON, ICON)
        pix.fill(Qt.GlobalColor.transparent)
        return pix

    @staticmethod
    def _label(it: CatalogueItem) -> str:
        head = f"{it.name}    {KIND_WORDS[it.kind]}"
        if it.version is not None:
            head += f" · version {it.version}" + (f" of {it.versions}" if it.versions > 1 else "")
        if it.site and it.kind == "offer":
            head += f" · from {it.site}"
        sub = " — ".join(x for x in (it.description, it.detail) if x)
        return f"{head}\n{sub[:160]}"

    async def draw_thumbnails(self) -> None:
        """One item after the other, off the UI thread; a part that cannot be drawn keeps its text."""
        from app.viz.thumbnail import part_thumbnail

        for row, it in enumerate(list(self.items)[:MAX_THUMBNAILS]):
            try:
                file = await self.port.thumbnail_file(it)
            except ImeweError as exc:  # e.g. an OpenSCAD template with no openscad program here
                it.extra["no_picture"] = str(exc)
                continue
            if not file:
                continue
            pix = self._thumbs.get(file)
            if pix is None:
                try:
                    image = await asyncio.to_thread(part_thumbnail, file, BIG)
                except (ImeweError, OSError, ValueError) as exc:
                    it.extra["no_picture"] = str(exc)
                    continue
                pix = self._thumbs[file] = QPixmap.fromImage(image)
            if row < self.list.count() and self.items[row] is it:
                self.list.item(row).setIcon(QIcon(pix))
                if self.list.currentRow() == row:
                    self._show(row)

    # ------------------------------------------------------------ one item
    def current(self) -> CatalogueItem | None:
        row = self.list.currentRow()
        return self.items[row] if 0 <= row < len(self.items) else None

    def _show(self, row: int) -> None:
        it = self.items[row] if 0 <= row < len(self.items) else None
        if it is None:
            self.title.setText("Choose an item")
            self.facts.setText("Pick a template, playbook, part or offer on the left to see it here.")
            self.picture.clear()
            for w in (self.params, self.preview_button, self.viewing_now, self.discussion, self.comment_row,
                      self.quote_row, self.order_button, self.rate_row):
                w.hide()
            return
        self.title.setText(it.name)
        lines = [KIND_WORDS[it.kind] + (f", version {it.version}" if it.version is not None else "")
                 + (f" ({it.versions} versions)" if it.versions > 1 else "")]
        if it.site:
            lines.append(f"Offered by {it.site}")
        lines += [x for x in (it.description, it.detail) if x]
        if it.kind == "template":
            lines.append("Parameters: " + "; ".join(_param_text(p) for p in it.extra.get("params", [])))
        if it.kind == "part":
            lines.append(it.file or "")
        if "no_picture" in it.extra:
            lines.append(f"No picture: {it.extra['no_picture']}")
        self.facts.setText("\n".join(lines))
        pix = self._thumbs.get(it.file or "")
        self.picture.setVisible(it.kind in ("template", "part"))  # the others have no shape to show
        if pix is not None:
            self.picture.setPixmap(pix)
        else:
            self.picture.clear()
            self.picture.setText("no picture" if it.kind in ("playbook", "offer", "order") or "no_picture" in it.extra
                                 else "drawing…")
        trade = self.port.can_trade(it)
        order = it.extra.get("order") or {}
        self.quote_row.setVisible(trade and it.kind == "offer")
        if trade and it.kind == "offer":
            spawn(self._fill_jobs(), on_error=self._error)
        buying = trade and order.get("side") == "buy"
        self.order_button.setVisible(buying and order.get("state") == "QUOTED")
        if order.get("amount") is not None:
            self.order_button.setText(f"Order at {order['amount']:,.2f} {order['currency']}")
        self.rate_row.setVisible(buying and order.get("state") in ("COMPLETED", "FAILED")
                                 and order.get("rating") is None)
        social = self.port.social(it)
        for w in (self.viewing_now, self.discussion, self.comment_row):
            w.setVisible(social)
        if social:
            self.viewing_now.setText("")
            self.discussion.setText("Loading comments…")
            spawn(self.refresh_social(announce=True), on_error=self._error)
        elif self._viewed is not None:
            spawn(self._stop_viewing(), on_error=self._error)
        self.params.setVisible(it.kind == "template")
        self.preview_button.setVisible(it.kind in ("template", "part"))
        self.preview_button.setText("Preview in Design review" if it.kind == "template" else "Open in Design review")

    async def _fill_jobs(self) -> None:
        jobs = await self.port.waiting_jobs()
        keep = self.jobs_box.currentData()
        self.jobs_box.clear()
        for job_id, name in jobs:
            self.jobs_box.addItem(name, job_id)
        if keep is not None and self.jobs_box.findData(keep) >= 0:
            self.jobs_box.setCurrentIndex(self.jobs_box.findData(keep))
        self.quote_button.setEnabled(bool(jobs))
        if not jobs:
            self.jobs_box.addItem("no waiting job: submit one first")

    async def ask_quote(self) -> dict | None:
        it, job_id = self.current(), self.jobs_box.currentData()
        if it is None or job_id is None:
            return None
        q = await self.port.quote(it, job_id)
        self.status.setText(f"Quote {q['key'][:8]} asked of {it.site} for {q['job_name']}; it shows under "
                            "Quotes and orders when the site answers")
        return q

    async def place_order(self) -> dict | None:
        it = self.current()
        if it is None:
            return None
        placed = await self.port.order(it)
        self.status.setText(f"Ordered {placed['job_name']} from {placed['site_name']} for "
                            f"{placed['amount']:,.2f} {placed['currency']}; the job goes when the link is up")
        await self._reload_keeping(it.ref)
        return placed

    async def rate(self) -> dict | None:
        it = self.current()
        if it is None:
            return None
        stars = 5 - self.stars.currentIndex()
        done = await self.port.rate(it, stars, self.rating_note.text())
        self.rating_note.clear()
        self.status.setText(f"Rated {stars}/5; the seller is told when the link is up")
        await self._reload_keeping(it.ref)
        return done

    async def _reload_keeping(self, ref: str) -> None:
        await self.load()
        for n, i in enumerate(self.items):
            if i.ref == ref:
                self.list.setCurrentRow(n)
                return

    async def refresh_social(self, announce: bool = False) -> None:
        """Comments and who is looking at the chosen offer now; tell its site we look at it (again every
        ``REPEAT_S``, and that we stopped when another item is chosen)."""
        it = self.current()
        if not self.isVisible():  # another tab, or the window closed: nobody here looks at it any more
            if self._viewed is not None:
                await self._stop_viewing()
            return
        if it is None or not self.port.social(it):
            return
        if self._viewed is not None and self._viewed is not it:
            await self._stop_viewing()
        now = time.monotonic()
        if announce or self._viewed is None or now - self._announced_at >= REPEAT_S:
            await self.port.view(it, _user(), True)
            self._viewed, self._announced_at = it, now
        viewers = await self.port.viewers(it)
        comments = await self.port.comments(it)
        if self.current() is not it:
            return
        self.viewing_now.setText("Looking at it now: " + ", ".join(f"{v['who']} at {v['site_name']}"
                                                                   for v in viewers) if viewers
                                 else "Nobody at the other site is looking at it now.")
        self.discussion.setText("\n".join(
            f"{c['author']} ({c['site_name']}, {_clock(c['at'])}): {c['text']}" for c in comments[-8:])
            if comments else "No comments yet: ask the other site here.")

    async def _stop_viewing(self) -> None:
        it, self._viewed = self._viewed, None
        if it is not None:
            await self.port.view(it, _user(), False)

    async def send_comment(self) -> None:
        it = self.current()
        text = self.comment_text.text().strip()
        if it is None or not text:
            return
        await self.port.comment(it, _user(), text)
        self.comment_text.clear()
        await self.refresh_social()

    async def make_preview(self) -> str | None:
        """Make the chosen template's mesh with the parameters typed (or open the chosen part) in Design review."""
        it = self.current()
        if it is None or it.kind not in ("template", "part"):
            return None
        if it.kind == "part":
            self.preview.emit(it.file or "")
            return it.file
        made = await self.port.make(it.name, parse_assignments(self.params.text().split()))
        size = " × ".join(f"{s:g}" for s in made["size_mm"])
        self.status.setText(f"{it.name}: made {Path(made['file']).name} ({size} mm); opening it in Design review")
        self.preview.emit(made["file"])
        return made["file"]

    # ------------------------------------------------------------ one file
    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the catalogue", "catalogue.json", "Catalogue (*.json)")
        if path:
            spawn(self.export_to(path), on_error=self._error)

    def _ask_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a catalogue", "", "Catalogue (*.json)")
        if path:
            spawn(self.import_from(path), on_error=self._error)

    async def export_to(self, path: str | Path) -> dict[str, int]:
        n = await self.port.export_to(Path(path))
        self.status.setText(f"Exported {n['templates']} template version(s) and {n['playbooks']} playbook "
                            f"version(s) to {path}")
        return n

    async def import_from(self, path: str | Path) -> dict[str, int]:
        n = await self.port.import_from(Path(path))
        self.status.setText(f"Imported {Path(path).name}: {n['added']} new version(s), {n['unchanged']} unchanged")
        await self.load()
        return n

    def _error(self, exc: Exception) -> None:
        self.status.setText(str(exc))
        self.message.emit(str(exc))
