"""The design review's machines table: how each machine would make the part (fit, time, material, energy, cost,
CO₂, earliest finish) and the pick of the best one. Plain functions of the ``ReviewPanel`` they are methods of."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt

from app.core.jobs.eta import ANALYTIC
from app.core.review.candidates import PartFacts, average_rates, candidates
from app.ui.review_table import cell, duration_text, number_text, range_text
from app.ui.words import process_word

if TYPE_CHECKING:
    from app.ui.review_panel import ReviewPanel

log = logging.getLogger(__name__)

# units under the names, so the columns are as narrow as their figures and all of them fit at 1366 x 768
CANDIDATE_HEADERS = ["Machine", "Fits", "Time", "Material\n(g)", "Energy\n(kWh)", "Energy\ncost", "CO₂\n(kg)",
                     "Earliest\nfinish"]
FITS_COL, COST_COL, FINISH_COL = 1, 5, 7
FITS_WIDTH = 150  # px at most for the Fits column
MONEY_SIGNS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}


def headers(pane: ReviewPanel, zone_name: str) -> list[str]:
    """The headers with the site's currency under the cost and its time zone under the finish."""
    out = list(CANDIDATE_HEADERS)
    currency = getattr(getattr(pane.energy, "site", None), "currency", "") if pane.energy is not None else ""
    if currency:
        out[COST_COL] = f"Energy\ncost ({MONEY_SIGNS.get(currency.upper(), currency)})"
    if zone_name:
        out[FINISH_COL] = f"Earliest\nfinish ({zone_name})"
    return out


def busy_until(pane: ReviewPanel) -> dict:
    plan = pane.plan_port.plan if pane.plan_port is not None else None
    busy: dict = {}
    for row in plan.rows if plan else []:
        busy[row.node_id] = max(busy.get(row.node_id, row.end), row.end)
    return busy


def rates(pane: ReviewPanel) -> Any:
    if pane.energy is None:
        return None
    try:
        points = pane.energy.forecast(hours=72)
    except Exception:  # noqa: BLE001 - the table still shows time and material without the forecast
        log.exception("no energy forecast for the design review")
        return None
    return lambda start, end: average_rates(points, start, end)


def learned_port(pane: ReviewPanel) -> Any:
    """The machines' learned times for the reviewed part (None: no learning port, analytic times only)."""
    port = pane.learning
    if port is None:
        return None
    path = str(pane.path) if pane.path is not None else None

    def learned(node: Any, time_s: float, material: str, grams: float | None, size: Any) -> Any:
        try:
            return port.estimate_on(node, node.capabilities.process.value, material, size, time_s, grams or 0.0,
                                    path)
        except Exception:  # noqa: BLE001 - the analytic time stays; the review must still show
            log.exception("no learned time for %s", node.name)
            return None

    return learned


ANALYTIC_MARK = "*"  # after a time that is the analytic estimate; the footnote under the table says why


def reason(note: str) -> str:
    """Why the analytic estimate stands (``too little history for lab-fdm``), without saying "analytic" twice."""
    return note.removesuffix(f": {ANALYTIC}") if note and note != ANALYTIC else ""


def analytic_tip(note: str) -> str:
    """What the ``*`` after a time means: ``* analytic estimate: too little history for lab-fdm``."""
    why = reason(note)
    return f"{ANALYTIC_MARK} {ANALYTIC}: {why}" if why else f"{ANALYTIC_MARK} {ANALYTIC}"


def time_cell(c: Any) -> Any:
    """The row's time, short so the other columns keep their room: learned with its 80 % range, or the analytic
    estimate marked ``*``; the whole reason in the tooltip and the footnote under the table."""
    if c.learned and c.time_s is not None:
        low, high = min(c.low_s or c.time_s, c.time_s), max(c.high_s or c.time_s, c.time_s)
        text = duration_text(c.time_s)
        if duration_text(low) != duration_text(high):
            text += f" ({range_text(low, high)})"
        return cell(text, f"{c.basis}; 80 % of such jobs on this machine took a time in the bracket", True)
    if c.learned is False and c.time_s is not None:  # learning runs here, but not for this machine: say so
        return cell(f"{duration_text(c.time_s)}{ANALYTIC_MARK}", f"{analytic_tip(c.note)}; {c.basis}", True)
    return cell(duration_text(c.time_s), c.basis, True)


def footnote(rows: list, kind: str) -> str:
    """One line under the table: where the figures come from, what ``*`` and the brackets mean."""
    text = ("Pre-slice estimates (hover a time for its basis); energy at rated power; cost, CO₂ from the forecast."
            if kind == "mesh" else "Time from the G-code planner; energy at rated power; cost, CO₂ from the forecast.")
    if any(c.learned for c in rows):
        text += " (…–…): 80 % of such jobs took that long."
    analytic = [c for c in rows if c.learned is False and c.time_s is not None]
    notes = sorted({reason(c.note) for c in analytic} - {""})
    if analytic:
        text += f" {ANALYTIC_MARK} {ANALYTIC}" + (f": {'; '.join(notes)}." if notes else ".")
    return text


def fill_candidates(pane: ReviewPanel) -> None:
    facts = pane._facts
    if facts is None:
        return
    if facts.kind == "mesh":
        facts = PartFacts("mesh", facts.analysis, facts.scale, poses=pane.node_poses)
    material = pane.material_box.currentText() or None
    pane.rows = candidates(pane.fleet.list(), facts, pane.clock.now(), material=material,
                           busy_until=pane._busy_until(), rates=pane._rates(), learned=learned_port(pane))
    pane.table.setRowCount(len(pane.rows))
    zone_name = ""
    for r, c in enumerate(pane.rows):
        how = c.how.removeprefix("fits").strip(" ,")
        fits = ("yes" if c.fits else "no") + (f": {how}" if how else "")
        local = c.earliest_finish.astimezone(pane.zone) if c.earliest_finish else None
        finish = local.strftime("%a %d %b %H:%M") if local else "-"
        zone_name = zone_name or ((local.tzname() or "") if local else "")
        cells = [cell(c.machine, process_word(c.process)), cell(fits, c.how),
                 time_cell(c),
                 cell(number_text(c.material_g, ".1f" if (c.material_g or 0) < 10 else ".0f"), c.material, True),
                 cell(number_text(c.energy_kwh, ".2f"), "", True),
                 cell(number_text(c.cost, ".2f"), "at the site's tariff, for the hours it would run", True),
                 cell(number_text(None if c.co2_g is None else c.co2_g / 1000, ".2f"), "", True),
                 cell(finish, "when the current plan frees this machine, plus the part's time")]
        for col, item in enumerate(cells):
            if not c.fits:
                item.setForeground(Qt.GlobalColor.gray)
            pane.table.setItem(r, col, item)
    pane.table.setHorizontalHeaderLabels(headers(pane, zone_name))
    pane.table.resizeColumnsToContents()
    # "no: 400 x 300 x 50 mm is bigger than ..." would push the finish off a 1366 screen: cut, whole in its tooltip
    pane.table.setColumnWidth(FITS_COL, min(pane.table.columnWidth(FITS_COL), FITS_WIDTH))
    best = next((c for c in pane.rows if c.usable and (facts.kind != "mesh" or c.process.additive)), None)
    best = best or next((c for c in pane.rows if c.usable), None)
    pane.basis.setText(footnote(pane.rows, facts.kind))
    pane.fit_machines()
    if best is not None and not pane._picked_machine:
        pane._picked_machine = True  # once per file: after that the reviewer's choice stands
        if pane.machine() is None or pane.machine().id != best.node_id:
            pane.select_machine(best.node_id)
    pane.send_btn.setEnabled(True)
    pane.analysed.emit()
