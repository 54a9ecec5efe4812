"""The timeline shows the shop's constraints from the real production plan: material changes as their own bars,
a machine's maintenance window shaded on its row, the hours nobody is on the floor shaded across it. A picture at
1366x768 is made here (IMEWE_SAVE_SCREENSHOTS=1 writes it to resources/screenshots/)."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

from app.core.production import PlanView
from app.core.production.plan_view import SetupRow
from app.core.scheduling.builder import DEFAULT_MAINTENANCE_S
from app.ui.main_window import ControlRoom
from app.ui.plan_adapter import extras_from_plan
from app.viz.gantt_shades import CLOSED, MAINTENANCE, SETUP, SETUP_COLOUR
from tests import test_ui_support as ui
from tests.test_ui_support import FDM, RecordingDriver, booted_core, ports_of, settings_in, until

qloop = ui.qloop  # the fixture
ROOT = Path(__file__).resolve().parents[1]


def _job(name: str, material: str, hours: float) -> dict:
    return {"name": name, "parts": [{"name": name, "process": "fdm", "material": material, "size": [40, 30, 20],
                                     "estimated_duration_s": int(hours * 3600)}]}


def _share(img: QImage, hex_colour: str, tol: int = 8) -> float:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.sizeInBytes())
    px = buf.reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3].reshape(img.height(), img.width(), 3)
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return float(np.mean(np.all(np.abs(px.astype(int) - rgb) <= tol, axis=2)))


def test_setups_maintenance_and_closed_hours_from_a_plan() -> None:
    now = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    from app.core.domain.capabilities import Capabilities
    from app.core.domain.entities import Node
    a, b = Node("FDM-A", Capabilities.from_dict(FDM)), Node("FDM-B", Capabilities.from_dict(FDM))
    plan = PlanView(now, [], setups=[SetupRow(b.id, "FDM-B", now, now + timedelta(minutes=15), "pla", "petg")],
                    blocked=[(a.id, "FDM-A", now + timedelta(hours=2), now + timedelta(hours=6))],
                    unstaffed=[(now, now + timedelta(hours=1))])
    bars, shades = extras_from_plan(plan, [a, b], UTC, now)
    assert [(x.row, x.label, x.state, x.key) for x in bars] == [(1, "pla → petg", SETUP, None)]
    assert "material change pla → petg" in bars[0].tip and "FDM-B" in bars[0].tip
    assert [(s.row, s.kind, s.end_ts - s.start_ts) for s in shades] == [(0, MAINTENANCE, 4 * 3600),
                                                                        (None, CLOSED, 3600)]
    assert extras_from_plan(PlanView(now, []), [a, b], UTC, now) == ([], [])


def test_the_timeline_shows_setups_maintenance_and_closed_hours(qloop, qtbot, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    now = datetime.now(UTC)
    a, b = now + timedelta(hours=1), now + timedelta(hours=9)  # staffed from in an hour, for eight hours a day
    (home / "config.toml").write_text(
        "[site.staffed]\ntimezone = \"UTC\"\n" + "".join(
            f'{d} = "{a:%H:%M}-{b:%H:%M}"\n' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
        encoding="utf-8")

    async def scenario() -> dict:
        async with booted_core(home) as core:
            nodes = []
            for name in ("FDM-A", "FDM-B"):
                node = await core.fleet.register(name, FDM, bring_up=True)  # both have PLA loaded
                await core.machines.attach(node.id, RecordingDriver(node.name, FDM))
                nodes.append(node)
            await core.fleet.schedule_maintenance(nodes[1].id, core.clock.now() + timedelta(hours=3))
            win = ControlRoom(ports_of(core), settings=settings_in(tmp_path))
            qtbot.addWidget(win)
            win.resize(1366, 768)
            win.show()
            win.tabs.setCurrentWidget(win.timeline)
            out: dict = {}
            try:
                for i, (material, hours) in enumerate([("pla", 2), ("petg", 1.5), ("pla", 1), ("petg", 2),
                                                       ("pla", 1.5), ("petg", 1)]):
                    await core.jobs.submit(_job(f"{material.upper()} bracket {i + 1}", material, hours))
                core.production.request_replan()
                gantt = win.timeline.gantt
                await until(lambda: any(x.state == SETUP for x in gantt.items.bars())
                            and len([x for x in gantt.items.bars() if x.state != SETUP]) == 6, timeout=20,
                            what="the plan with its material changes")
                await asyncio.sleep(0.3)
                gantt.fit()
                await asyncio.sleep(0.3)
                out["setups"] = [x for x in gantt.items.bars() if x.state == SETUP]
                out["work"] = [x for x in gantt.items.bars() if x.state != SETUP]
                out["shades"] = gantt.shades.shades()
                out["legend"] = gantt.legend.text()
                out["source"] = win.timeline.source.text()
                out["plan"] = core.production.plan
                out["rows"] = list(gantt.rows)
                shot = win.grab()
                out["shot"] = tmp_path / "timeline-constraints.png"
                shot.save(str(out["shot"]))
                if os.environ.get("IMEWE_SAVE_SCREENSHOTS"):
                    shot.save(str(ROOT / "resources" / "screenshots" / "timeline-constraints.png"))
            finally:
                win.close()
            return out

    out = qloop.run_until_complete(scenario())
    setups, work, shades = out["setups"], out["work"], out["shades"]
    assert all(x.label in ("pla → petg", "petg → pla") for x in setups)
    closed = [s for s in shades if s.kind == CLOSED]
    for s in setups:  # each change ends where the work that needs it starts, on the same machine, with a person
        assert any(w.row == s.row and abs(w.start_ts - s.end_ts) < 1.5 for w in work)
        assert not any(c.start_ts < s.start_ts < c.end_ts - 1 for c in closed)
        assert abs(s.end_ts - s.start_ts - 900) < 1.5
    maint = [s for s in shades if s.kind == MAINTENANCE]
    assert [s.row for s in maint] == [out["rows"].index("FDM-B")]
    assert abs(maint[0].end_ts - maint[0].start_ts - DEFAULT_MAINTENANCE_S) < 2
    assert closed and closed[0].start_ts <= now.timestamp() + 60 and abs(closed[0].end_ts - a.timestamp()) < 61
    for w in work:  # nothing starts or ends while nobody is there, nor runs into the maintenance window
        assert not any(c.start_ts < w.start_ts < c.end_ts - 1 or c.start_ts + 1 < w.end_ts < c.end_ts
                       for c in closed), w.label
        if w.row == maint[0].row:
            assert w.end_ts <= maint[0].start_ts + 1 or w.start_ts >= maint[0].end_ts - 1, w.label
    assert "Setup" in out["legend"] and "Maintenance" in out["legend"] and "Nobody on the floor" in out["legend"]
    assert "material change" in out["source"]
    img = QImage(str(out["shot"]))
    assert (img.width(), img.height()) == (1366, 768)
    assert _share(img, SETUP_COLOUR) > 0.0005  # the setup bars are on screen
