"""The design review's time cell says why a time is the analytic estimate in the same words as the machine panel
(``analytic_tip``, one helper for both), followed by the estimate's basis; a learned time shows its range."""

from __future__ import annotations

import uuid

import pytest

pytest.importorskip("PySide6.QtWidgets", reason="the review table's cells are Qt items")

from app.core.domain.enums import ProcessType  # noqa: E402
from app.core.jobs.eta import ANALYTIC  # noqa: E402
from app.core.review.candidates import Candidate  # noqa: E402
from app.ui.review_estimates import analytic_tip, time_cell  # noqa: E402

pytestmark = pytest.mark.gui


def _candidate(**over) -> Candidate:
    base = dict(node_id=uuid.uuid4(), machine="lab-fdm", process=ProcessType.FDM, fits=True, how="fits as drawn",
                time_s=3000.0, basis="G-code planner")
    return Candidate(**(base | over))


@pytest.mark.parametrize("note", [f"too little history for lab-fdm: {ANALYTIC}", ANALYTIC, ""])
def test_an_analytic_time_says_why_in_the_machine_panels_words(qapp, note: str) -> None:
    item = time_cell(_candidate(learned=False, note=note))
    assert item.text() == "50 min*"
    assert item.toolTip() == f"{analytic_tip(note)}; G-code planner"
    assert item.toolTip().startswith("* analytic estimate")


def test_a_learned_time_shows_its_range_and_no_mark(qapp) -> None:
    item = time_cell(_candidate(learned=True, low_s=2400.0, high_s=3900.0, basis="learned from 40 jobs"))
    assert item.text().startswith("50 min (") and not item.text().endswith("*")
    assert item.toolTip().startswith("learned from 40 jobs; 80 %")
