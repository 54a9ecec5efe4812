"""Design review without a window: notes kept with the part (SQLite and PostgreSQL), the recommended pose, and
the table of candidate machines with the plan's earliest finish and the forecast's price and carbon."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import numpy as np
import pytest
import trimesh

from app.core.clock import ManualClock
from app.core.domain.capabilities import Capabilities
from app.core.domain.entities import Node
from app.core.domain.enums import NodeState, ProcessType
from app.core.domain.errors import NotFoundError, ValidationError
from app.core.estimation import analyze_part, load_part
from app.core.review import (
    NotesService,
    PartFacts,
    PoseFinder,
    average_rates,
    candidates,
    part_key,
    recommend_pose,
)
from app.core.store.db import open_store

FDM = Capabilities(ProcessType.FDM, (250, 210, 210), frozenset({"pla"}), "pla", max_power_w=350)
SMALL = Capabilities(ProcessType.FDM, (120, 120, 120), frozenset({"pla"}), "pla", max_power_w=100)
MILL = Capabilities(ProcessType.CNC_MILL, (600, 400, 200), frozenset({"aluminium"}), "aluminium", max_power_w=1500)
LASER = Capabilities(ProcessType.LASER, (600, 400, 20), frozenset({"plywood"}), "plywood", max_power_w=400)


def _tee() -> trimesh.Trimesh:
    """A wide plate on a thin post: as drawn the plate overhangs; upside down nothing does."""
    post = trimesh.creation.box((10, 10, 30))
    post.apply_translation((0, 0, 15))
    top = trimesh.creation.box((60, 60, 5))
    top.apply_translation((0, 0, 32.5))
    return trimesh.util.concatenate([post, top])


def test_notes_persist_resolve_and_attach_to_the_part(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    clock = ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    notes = NotesService(store, clock)
    f = tmp_path / "tee.stl"
    _tee().export(f)
    key = part_key(f)
    assert len(key) == 64 and key == part_key(f)

    async def scenario() -> None:
        a = await notes.add(key, f.name, (1.0, 2.0, 35.0), "fillet this edge", "ana")
        clock.advance(60)
        await notes.add(key, f.name, (0.0, 0.0, 0.0), "  wall too thin  ", "bo")
        with pytest.raises(ValidationError, match="needs some text"):
            await notes.add(key, f.name, (0, 0, 0), "   ", "ana")
        with pytest.raises(ValidationError, match="author"):
            await notes.add(key, f.name, (0, 0, 0), "x", "")
        got = await notes.for_file(key)
        assert [n.text for n in got] == ["fillet this edge", "wall too thin"]
        assert got[0].point == (1.0, 2.0, 35.0) and got[0].author == "ana" and got[0].state == "open"
        assert got[0].created_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        done = await notes.set_state(a.id, "resolved", "bo")
        assert done.state == "resolved" and done.resolved_by == "bo" and done.resolved_at is not None
        with pytest.raises(NotFoundError):
            await notes.set_state(uuid4(), "resolved", "bo")
        with pytest.raises(ValidationError):
            await notes.set_state(a.id, "closed", "bo")
        assert await notes.for_file("0" * 64) == []

    asyncio.run(scenario())
    store.close()
    again = NotesService(open_store(db_url), clock)  # a new process on the same store
    kept = asyncio.run(again.for_file(key))
    assert [n.state for n in kept] == ["resolved", "open"]


def test_the_recommended_pose_needs_least_support_and_fits_the_machine() -> None:
    tris = _tee().triangles
    pose = recommend_pose(tris, FDM)
    assert pose.label == "upside down" and pose.fits
    assert np.allclose(pose.matrix @ pose.matrix.T, np.eye(3)) and np.linalg.det(pose.matrix) == pytest.approx(1)
    finder = PoseFinder(tris)
    as_drawn = finder.poses(FDM, only="as drawn")[0]
    assert as_drawn.overhang_mm2 > 10 * pose.overhang_mm2  # the plate's underside needs support as drawn
    long_bar = trimesh.creation.box((300, 20, 10)).triangles
    turned = recommend_pose(long_bar, FDM)
    assert turned.fits and turned.rotate_z_deg > 0  # only fits across the diagonal of 250 x 210
    assert turned.size_mm[0] <= 250 and turned.size_mm[1] <= 210
    too_big = recommend_pose(trimesh.creation.box((400, 400, 400)).triangles, FDM)
    assert not too_big.fits and "does not fit 250 x 210 x 210 mm" in too_big.reason


@dataclass
class _Point:
    at: datetime
    marginal_price: float
    marginal_carbon: float


def test_candidates_rank_by_earliest_finish_with_energy_cost_and_co2(tmp_path: Path) -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    mesh = tmp_path / "tee.stl"
    _tee().export(mesh)
    analysis = analyze_part(load_part(mesh))
    fdm, small, mill, laser = (Node(name, caps, state=NodeState.IDLE) for name, caps in
                               (("Prusa", FDM), ("Mini", SMALL), ("Mill", MILL), ("Laser", LASER)))
    off = Node("Broken", FDM, state=NodeState.OFFLINE)
    busy = {fdm.id: now + timedelta(hours=5)}  # the plan keeps the big printer busy for five hours
    points = [_Point(now + timedelta(hours=h), 0.20 if h < 3 else 0.40, 300.0) for h in range(48)]
    rows = candidates([fdm, small, mill, laser, off], PartFacts("mesh", analysis), now, material="pla",
                      busy_until=busy, rates=lambda a, b: average_rates(points, a, b))
    by = {c.machine: c for c in rows}
    assert not by["Laser"].fits and by["Laser"].how == "Laser cutter, another process"  # words, not "a laser machine" / "a sla machine"
    assert not by["Broken"].fits and "offline" in by["Broken"].how
    mini, prusa = by["Mini"], by["Prusa"]
    assert mini.fits and prusa.fits and mini.time_s == pytest.approx(prusa.time_s)
    assert prusa.earliest_finish == now + timedelta(hours=5, seconds=prusa.time_s)
    assert mini.earliest_finish == now + timedelta(seconds=mini.time_s)
    assert mini.energy_kwh == pytest.approx(100 * mini.time_s / 3.6e6)
    assert mini.cost == pytest.approx(mini.energy_kwh * 0.20)  # runs in the cheap hours
    assert prusa.cost == pytest.approx(prusa.energy_kwh * 0.40)  # after five hours: the dear ones
    assert mini.co2_g == pytest.approx(mini.energy_kwh * 300.0)
    assert mini.material == "pla" and mini.material_g and mini.material_g > 0
    assert by["Mill"].material == "aluminium"  # pla is not a mill's material: its own is used
    usable = [c.machine for c in rows if c.usable]
    assert usable[0] in ("Mini", "Mill") and usable.index("Mini") < usable.index("Prusa")
    assert rows[-1].machine in ("Broken", "Laser")
