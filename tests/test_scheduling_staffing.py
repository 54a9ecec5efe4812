"""Staffed hours: work that needs a person at its start or end starts / ends only when someone is on the floor,
in the planner's model, in the plans it makes (checked against the calendar itself) and in production."""

import asyncio
import random
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from app.bootstrap import build_core
from app.core.config import check_config, load_config
from app.core.domain import JobState
from app.core.domain.errors import ConfigError, ValidationError
from app.core.jobs.validation import parse_job_spec
from app.core.scheduling import optimize
from app.core.scheduling.plan import Plan
from app.core.scheduling.problem import Problem
from app.core.scheduling.staffing import END, START, StaffedHours, staffed_start
from app.core.scheduling.validate import validate_plan
from app.devices.simulator import SimConfig, SimulatedMachine

WEEK = {"timezone": "Europe/Berlin", "mon": ["07:00-12:00", "13:00-17:00"], "tue": "07:00-17:00",
        "wed": "07:00-17:00", "thu": "07:00-17:00", "fri": "22:00-06:00"}
MONDAY_5_UTC = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)  # 06:00 in Berlin: nobody there yet


def test_calendar_from_the_config() -> None:
    hours = StaffedHours.from_config(WEEK)
    assert hours is not None and hours.attend == START | END
    wins = hours.windows(MONDAY_5_UTC, 7)
    local = [(a.astimezone(hours.zone).strftime("%a %H:%M"), b.astimezone(hours.zone).strftime("%a %H:%M"))
             for a, b in wins if a >= MONDAY_5_UTC]
    assert local[:5] == [("Mon 07:00", "Mon 12:00"), ("Mon 13:00", "Mon 17:00"), ("Tue 07:00", "Tue 17:00"),
                         ("Wed 07:00", "Wed 17:00"), ("Thu 07:00", "Thu 17:00")]
    assert ("Fri 22:00", "Sat 06:00") in local  # a night shift runs into the next day
    plan = hours.plan_windows(MONDAY_5_UTC, 7)
    assert plan[0] == (3600, 6 * 3600) and plan[-1][1] == 1 << 60  # open-ended past the horizon
    closed = hours.closed(MONDAY_5_UTC, MONDAY_5_UTC + timedelta(hours=14))
    assert [(a - MONDAY_5_UTC, b - MONDAY_5_UTC) for a, b in closed] == [
        (timedelta(0), timedelta(hours=1)), (timedelta(hours=6), timedelta(hours=7)),
        (timedelta(hours=11), timedelta(hours=14))]
    assert StaffedHours.from_config(None) is None and StaffedHours.from_config({}) is None
    assert not hours.is_staffed(MONDAY_5_UTC) and hours.is_staffed(MONDAY_5_UTC + timedelta(hours=2))
    assert hours.needs({}) == START | END and hours.needs({"attend": "end"}) == END


@pytest.mark.parametrize(("section", "message"), [
    ({"mon": "7-17"}, "is not a time like 07:30"),
    ({"mon": "07:00"}, "is not a span like 07:00-17:00"),
    ({"mon": "25:00-26:00"}, "is not a time of day"),
    ({"mon": 8}, "must be \"HH:MM-HH:MM\" or a list of them"),
    ({"timezone": "Mars/Olympus"}, "is not a known time zone"),
    ({"attend": "sometimes"}, "attend must be one of none, start, end, both"),
])
def test_bad_hours_are_clear_errors(section, message) -> None:
    with pytest.raises(ConfigError, match=message):
        StaffedHours.from_config(section)


def test_schema_knows_the_table() -> None:
    assert check_config({"site": {"staffed": dict(WEEK, attend="start")}}) == []
    assert "did you mean" in check_config({"site": {"staffed": {"mon_": "07:00-17:00"}}})[0]


def test_job_attend_is_checked_at_submit() -> None:
    spec = {"name": "j", "parts": [{"name": "p", "process": "fdm", "material": "pla", "size": [10, 10, 10]}]}
    assert parse_job_spec(dict(spec, metadata={"attend": " End"})).metadata["attend"] == "end"
    with pytest.raises(ValidationError, match="metadata attend must be one of"):
        parse_job_spec(dict(spec, metadata={"attend": "later"}))


def test_staffed_start_moves_start_and_end_into_staffed_spans() -> None:
    wins = [(100, 200), (300, 400), (1000, 1 << 60)]
    assert staffed_start(wins, 150, 30, START | END) == 150
    assert staffed_start(wins, 50, 30, START) == 100
    assert staffed_start(wins, 180, 50, START) == 180  # runs past closing: only its start needs someone
    assert staffed_start(wins, 180, 50, START | END) == 300  # its end would fall after closing
    assert staffed_start(wins, 180, 150, END) == 180  # ends at 330, staffed
    assert staffed_start(wins, 190, 250, END) == 190 + (1000 - 440)  # ends at opening time of the last span
    assert staffed_start(wins, 190, 250, START | END) == 1000
    assert staffed_start(wins, 150, 30, 0) == 150
    assert staffed_start(wins, 120, 30, START, lead=30) == 130  # the setup before it needs the person too
    assert staffed_start(wins, 205, 30, START, lead=15) == 315  # setup and start in one staffed span


def _shop(seed: int, staffed: list[tuple[int, int]] | None, setups: bool = False) -> Problem:
    rng = random.Random(seed)
    n_jobs, n_m = 12, 3
    op_job, alts, preds, attend = [], [], [], []
    for j in range(n_jobs):
        prev = None
        for _k in range(2):
            o = len(op_job)
            op_job.append(j)
            alts.append([(m, rng.randint(20, 90)) for m in rng.sample(range(n_m), 2)])
            preds.append([prev] if prev is not None else [])
            attend.append(rng.choice((START, END, START | END, 0)))
            prev = o
    if not setups:
        return Problem(n_m, op_job, alts, preds, staffed=staffed, attend=attend)
    family = [rng.randrange(3) for _ in op_job]  # three materials, a change costs 15 units
    return Problem(n_m, op_job, alts, preds, staffed=staffed, attend=attend, family=family,
                   setup_time=[[0 if a == b else 15 for b in range(3)] for a in range(3)], machine_family=[0, 1, 2])


def _check_against_calendar(problem: Problem, plan: Plan, wins: list[tuple[int, int]]) -> None:
    for o in range(problem.n_ops):
        if problem.attend[o] & START:
            assert any(a <= plan.start[o] < b for a, b in wins), (o, plan.start[o])
        if problem.attend[o] & END:
            assert any(a <= plan.end[o] <= b for a, b in wins), (o, plan.end[o])


@pytest.mark.parametrize(("seed", "setups"), [(1, False), (2, False), (3, True), (4, True)])
def test_plans_keep_to_staffed_hours(seed, setups) -> None:
    # staffed 100 of every 240 time units (a short "day"), open-ended after 3000
    wins = [(240 * k, 240 * k + 100) for k in range(13)] + [(3120, 1 << 60)]
    problem = _shop(seed, wins, setups)
    free = optimize(_shop(seed, None, setups), 0.2, seed=seed)
    assert validate_plan(problem, free), "the unstaffed plan should break the staffed hours (a test that can fail)"
    for budget in (0.0, 0.3):
        plan = optimize(problem, budget, seed=seed)
        assert validate_plan(problem, plan) == []
        _check_against_calendar(problem, plan, wins)
        if setups:  # a material change needs the person too: it starts in staffed hours
            for m, seq in enumerate(plan.sequences(problem.n_machines)):
                fam = problem.machine_family[m]
                for o in seq:
                    gap = problem.setup(fam, problem.family[o])
                    if problem.attend[o] & START:
                        assert any(a <= plan.start[o] - gap and plan.start[o] < b for a, b in wins)
                    fam = problem.family[o]
        assert plan.makespan >= free.makespan


FDM = {"process": "fdm", "build_volume_mm": [250, 210, 210], "materials": ["pla"], "loaded_material": "pla",
       "max_power_w": 350, "max_speed_mm_s": 150}


def _job(name: str, duration_s: int, attend: str | None = None) -> dict:
    out = {"name": name, "parts": [{"name": name, "process": "fdm", "material": "pla", "size": [20, 20, 20],
                                    "estimated_duration_s": duration_s}]}
    if attend:
        out["metadata"] = {"attend": attend}
    return out


def test_production_starts_attended_work_only_in_staffed_hours(tmp_path) -> None:
    now = datetime.now(UTC)
    a, b = now + timedelta(hours=2), now + timedelta(hours=8)  # staffed from in two hours, every day
    (tmp_path / "config.toml").write_text(
        "[site.staffed]\ntimezone = \"UTC\"\n" + "".join(
            f'{d} = "{a:%H:%M}-{b:%H:%M}"\n' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
        encoding="utf-8")

    async def go():
        core = build_core(load_config(str(tmp_path)), connect_machines=False, plan_budget_s=0.05)
        await core.kernel.boot()
        drivers: dict[UUID, SimulatedMachine] = {}
        try:
            for name in ("P0", "P1"):
                node = await core.fleet.register(name, FDM, bring_up=True)
                sim = SimulatedMachine(node.name, node.capabilities, core.clock, SimConfig(seed=1))
                drivers[node.id] = sim
                await core.machines.attach(node.id, sim)
            attended = await core.jobs.submit(_job("attended", 3600))
            unattended = await core.jobs.submit(_job("lights-out", 3600, attend="none"))
            view = await core.production.cycle()
            row = next(r for r in view.rows if r.job_id == attended.id)
            assert row.start >= a.replace(second=0, microsecond=0)
            assert (await core.jobs.get(attended.id)).state is JobState.SCHEDULED  # held for the morning
            assert view.unstaffed and view.unstaffed[0][0] <= now + timedelta(seconds=5) <= view.unstaffed[0][1]
            for _ in range(50):
                if (await core.jobs.get(unattended.id)).state is JobState.IN_PROGRESS:
                    break
                await asyncio.sleep(0.05)
            assert (await core.jobs.get(unattended.id)).state is JobState.IN_PROGRESS  # needs nobody: runs now
        finally:
            for d in drivers.values():
                await d.disconnect()
            await core.kernel.shutdown()

    asyncio.run(go())
