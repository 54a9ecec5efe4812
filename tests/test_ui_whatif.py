"""The What if tab: a machine down for some hours is tried on the real production service, the answer shows the
jobs that move with their ends, lateness and the twin's on-time odds next to the live plan; the live plan changes
only after Apply and its confirmation, and Clear undoes it. A picture at 1366x768 is made here
(IMEWE_SAVE_SCREENSHOTS=1 writes it to resources/screenshots/)."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from app.ui.main_window import ControlRoom
from app.ui.whatif_panel import DOWN, WhatIfPanel
from tests import test_ui_support as ui
from tests.test_ui_support import FDM, RecordingDriver, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture
ROOT = Path(__file__).resolve().parents[1]


def _job(name: str, hours: float, due_h: float | None = None, now=None) -> dict:
    out = {"name": name, "parts": [{"name": name, "process": "fdm", "material": "pla", "size": [40, 30, 20],
                                    "estimated_duration_s": int(hours * 3600)}]}
    if due_h is not None:
        out["due_at"] = (now + timedelta(hours=due_h)).isoformat()
    return out


def test_try_a_machine_down_then_apply_it_on_confirmation(qloop, qtbot, tmp_path: Path) -> None:
    async def scenario() -> dict:
        async with booted_core(tmp_path / "home") as core:
            nodes = []
            for name in ("FDM-A", "FDM-B", "FDM-C"):
                node = await core.fleet.register(name, FDM, bring_up=True)
                await core.machines.attach(node.id, RecordingDriver(node.name, FDM))
                nodes.append(node)
            now = core.clock.now()
            for i, (hours, due) in enumerate([(2, 6), (3, 8), (1.5, 4), (2.5, None), (1, 5), (2, 12), (3, None)]):
                await core.jobs.submit(_job(f"Bracket {i + 1}", hours, due, now))
            await core.production.cycle()
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.resize(1366, 768)
            win.show()
            panel: WhatIfPanel = win.panels["what if"]
            win.tabs.setCurrentWidget(panel)
            out: dict = {}
            try:
                assert panel.stack.currentWidget() is panel.empty and "Try it" in panel.empty.text()
                await until(lambda: panel.machine.count() == 3 and panel.job.count() == 7, what="the choices")
                panel.kind.setCurrentText(DOWN)
                panel.machine.setCurrentIndex(panel.machine.findText("FDM-A"))
                panel.hours.setValue(8)
                panel.try_btn.click()
                await until(lambda: panel.answer is not None, timeout=15, what="the what-if answer")
                await asyncio.sleep(0.2)
                out["rows"] = [[panel.table.item(r, c).text() for c in range(panel.table.columnCount())]
                               for r in range(panel.table.rowCount())]
                out["status"] = panel.status.text()
                out["apply_enabled"] = panel.apply_btn.isEnabled()
                # nothing applied: the live plan (replanned as the floor moves) still gives FDM-A work
                out["live_unchanged"] = core.production.applied_whatif() == [] and any(
                    r.node_id == nodes[0].id for r in core.production.plan.rows)
                shot = win.grab()
                out["shot"] = tmp_path / "whatif.png"
                shot.save(str(out["shot"]))
                if os.environ.get("IMEWE_SAVE_SCREENSHOTS"):
                    shot.save(str(ROOT / "resources" / "screenshots" / "whatif.png"))
                panel.apply_btn.click()
                box = await until(lambda: next((b for b in panel.findChildren(QMessageBox) if b.isVisible()), None),
                                  what="the confirmation")
                out["question"] = box.text()
                box.button(QMessageBox.StandardButton.Yes).click()
                await until(lambda: core.production.applied_whatif(), what="the change applied")
                await until(lambda: "Applied now" in panel.applied.text(), what="the applied line")
                out["applied"] = panel.applied.text()
                await until(lambda: core.production.plan is not None and not any(
                    r.node_id == nodes[0].id and r.state not in ("IN_PROGRESS", "RUNNING")
                    and r.start < now + timedelta(hours=7) for r in core.production.plan.rows), timeout=15,
                    what="the live plan without FDM-A")
                panel.clear_btn.click()
                await until(lambda: not core.production.applied_whatif(), what="the change cleared")
                await until(lambda: "Nothing applied" in panel.applied.text(), what="the cleared line")
            finally:
                win.close()
            return out

    out = qloop.run_until_complete(scenario())
    rows = out["rows"]
    assert len(rows) == 7 and out["apply_enabled"] and out["live_unchanged"]
    assert "FDM-A down for 8 h" in out["status"] and "simulated runs" in out["status"]
    moved = [r for r in rows if r[6] == "moves"]
    assert moved and rows[: len(moved)] == moved  # the jobs that move come first
    assert all("→" in r[5] or r[5] == "no due date" for r in rows)
    assert any("%" in r[5] for r in rows) and any(r[5] == "no due date" for r in rows)
    assert all(" – " in r[3] for r in rows)  # each job's likely finish span
    assert "FDM-A down for 8 h" in out["question"] and "FDM-A held out until" in out["applied"]
