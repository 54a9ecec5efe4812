"""The dark control-room theme: palette, style sheet, and the colours that mean something (states, alerts)."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from app.core.domain.enums import JobState, NodeState, ProcessType, Severity

log = logging.getLogger(__name__)
RESOURCES = Path(__file__).resolve().parents[2] / "resources"
QSS = RESOURCES / "theme" / "dark.qss"

NODE_COLOURS: dict[NodeState, str] = {
    NodeState.REGISTERED: "#6e7681",
    NodeState.CONFIGURED: "#8b949e",
    NodeState.IDLE: "#3fb950",  # ready
    NodeState.ASSIGNED: "#58a6ff",
    NodeState.EXECUTING: "#1f6feb",  # working
    NodeState.COMPLETED: "#a371f7",  # done, waiting to be cleared
    NodeState.MAINTENANCE: "#d29922",
    NodeState.OFFLINE: "#484f58",
    NodeState.ERROR: "#f85149",
    NodeState.DECOMMISSIONED: "#30363d",
}
JOB_COLOURS: dict[JobState, str] = {
    JobState.SUBMITTED: "#8b949e",
    JobState.VALIDATED: "#79c0ff",
    JobState.SCHEDULED: "#58a6ff",
    JobState.ASSIGNED: "#388bfd",
    JobState.IN_PROGRESS: "#1f6feb",
    JobState.PAUSED: "#d29922",
    JobState.COMPLETED: "#3fb950",
    JobState.FAILED: "#f85149",
    JobState.CANCELLED: "#6e7681",
}
SEVERITY_COLOURS: dict[Severity, str] = {
    Severity.INFO: "#58a6ff",
    Severity.WARNING: "#d29922",
    Severity.CRITICAL: "#f85149",
}
# A short glyph per process, drawn in tiles and tables (no icon font needed, readable at any size).
PROCESS_GLYPHS: dict[ProcessType, str] = {
    ProcessType.FDM: "FDM", ProcessType.SLA: "SLA", ProcessType.SLS: "SLS", ProcessType.MJF: "MJF",
    ProcessType.CNC_MILL: "MILL", ProcessType.CNC_LATHE: "LATHE", ProcessType.LASER: "LASER",
    ProcessType.ROBOT_ARM: "ARM", ProcessType.PICK_AND_PLACE: "P&P", ProcessType.INSPECTION: "QC",
    ProcessType.POST_PROCESSING: "POST",
}


def node_colour(state: NodeState) -> QColor:
    return QColor(NODE_COLOURS.get(state, "#8b949e"))


def job_colour(state: JobState) -> QColor:
    return QColor(JOB_COLOURS.get(state, "#8b949e"))


def apply_theme(app: QApplication) -> None:
    """Dark palette (also for widgets the style sheet does not reach) plus the style sheet."""
    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, "#12161c"), (QPalette.ColorRole.WindowText, "#e6edf3"),
        (QPalette.ColorRole.Base, "#0f1318"), (QPalette.ColorRole.AlternateBase, "#141a21"),
        (QPalette.ColorRole.Text, "#e6edf3"), (QPalette.ColorRole.Button, "#1f2833"),
        (QPalette.ColorRole.ButtonText, "#e6edf3"), (QPalette.ColorRole.Highlight, "#2f5d9c"),
        (QPalette.ColorRole.HighlightedText, "#ffffff"), (QPalette.ColorRole.ToolTipBase, "#1f2833"),
        (QPalette.ColorRole.ToolTipText, "#e6edf3"), (QPalette.ColorRole.PlaceholderText, "#6e7681"),
    ):
        pal.setColor(role, QColor(colour))
    app.setPalette(pal)
    font = QFont(app.font())
    font.setPointSize(12)
    app.setFont(font)
    try:
        app.setStyleSheet(QSS.read_text(encoding="utf-8"))
    except OSError:
        log.warning("theme file %s is missing; using the plain dark palette", QSS)
    # The charts' colours are set where pyqtgraph is first loaded (app/viz/charts_base.py), after the first frame
