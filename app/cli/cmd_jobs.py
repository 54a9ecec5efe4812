"""imewe jobs submit|batch|list|show|parts|timeline|priority|cancel|reschedule (the spec's /jobs operations)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from app.bootstrap import StoreCore, learning_service, site_time_zone
from app.cli.output import add_json_flag, call_site, emit, table, when, with_core
from app.core.api.views import job_dict, waiting_dict
from app.core.domain.entities import Part
from app.core.domain.enums import JobState
from app.core.domain.errors import ImeweError, ValidationError
from app.core.domain.words import process_word
from app.core.jobs.eta import (
    DurationEstimate,
    duration_label,
    eta_fields,
    finish_label,
    job_eta_from_store,
    site_zone,
)
from app.core.jobs.waiting import (
    job_state_text,
    machine_work_from_store,
    part_state_text,
    waiting_note,
)
from app.core.json_input import read_json_file

MAX_SPEC_BYTES = 20_000_000
log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("jobs", help="jobs: submit, follow, reprioritise, cancel")
    js = p.add_subparsers(dest="jobs_cmd", metavar="ACTION", required=True)

    s = js.add_parser("submit", help="submit a job: from a JSON file, or one part from flags")
    s.add_argument("spec", nargs="?", type=Path, help="JSON file with {name, priority, due_at, parts: [...]}")
    s.add_argument("--name", help="job name (with the part flags)")
    s.add_argument("--process", help="process of the single part")
    s.add_argument("--material", help="material of the single part")
    s.add_argument("--size", help="part size, e.g. 40x30x12 (mm unless --units)")
    s.add_argument("--units", default="mm")
    s.add_argument("--quantity", default=1)
    s.add_argument("--priority", default=5)
    s.add_argument("--due", help="due date, ISO (2026-12-01T17:00)")
    s.add_argument("--file", help="the part's model or G-code file")
    s.add_argument("--attend", choices=("start", "end", "both", "none"),
                   help="when the job needs a person (staffed hours): at its start, end, both or none")
    add_json_flag(s)
    s.set_defaults(handler=_submit)

    b = js.add_parser("batch", help="submit many jobs at once from a JSON list (all or nothing)")
    b.add_argument("spec", type=Path)
    add_json_flag(b)
    b.set_defaults(handler=_batch)

    ls = js.add_parser("list", help="list jobs")
    ls.add_argument("--state", help="only jobs in this state")
    ls.add_argument("--search", help="name contains")
    ls.add_argument("--limit", type=int, default=200)
    add_json_flag(ls)
    ls.set_defaults(handler=lambda a: with_core(a, lambda c: _list(a, c)))

    for name, fn, help_ in (("show", _show, "one job with its parts"), ("parts", _parts, "a job's parts"),
                            ("timeline", _timeline, "every state change of a job and its parts")):
        x = js.add_parser(name, help=help_)
        x.add_argument("job", help="job id or its first characters")
        add_json_flag(x)
        x.set_defaults(handler=lambda a, fn=fn: with_core(a, lambda c: fn(a, c)))
    for name, help_, text in (("cancel", "cancel a job", lambda d: f"{d['name']}: {d['state']}"),
                              ("reschedule", "send a job back to the planner",
                               lambda d: f"{d['name']}: back to the planner ({d['state']})")):
        x = js.add_parser(name, help=help_)
        x.add_argument("job", help="job id or its first characters")
        add_json_flag(x)
        x.set_defaults(handler=lambda a, name=name, text=text: _on_job(a, f"jobs.{name}", {}, text))

    pr = js.add_parser("priority", help="change a job's priority (1-10, 10 most urgent)")
    pr.add_argument("job")
    pr.add_argument("priority")
    add_json_flag(pr)
    pr.set_defaults(handler=lambda a: _on_job(a, "jobs.priority", {"priority": a.priority},
                                              lambda d: f"{d['name']}: priority {d['priority']}"))

    from app.cli.cmd_offload import add_offload_parser

    add_offload_parser(js)


def _read_json(path: Path) -> Any:
    return read_json_file(path, MAX_SPEC_BYTES)


def _absolute_files(data: Any, base: Path) -> Any:
    """Part files named relative to where the command runs, made absolute: the owner runs elsewhere."""
    for part in data.get("parts", []) if isinstance(data, dict) and isinstance(data.get("parts"), list) else []:
        for key in ("file", "file_path"):
            if isinstance(part, dict) and isinstance(part.get(key), str) and part[key] \
                    and not Path(part[key]).is_absolute():
                part[key] = str(base / part[key])
    return data


def _submit(args: argparse.Namespace) -> int:
    if args.spec:
        data = _read_json(args.spec)
    else:
        if not (args.name and args.process and args.material and args.size):
            raise ValidationError("give a JSON spec file, or --name, --process, --material and --size")
        data = {"name": args.name, "priority": args.priority, "due_at": args.due,
                "parts": [{"name": args.name, "process": args.process, "material": args.material,
                           "size": args.size, "units": args.units, "quantity": args.quantity, "file": args.file}]}
    if getattr(args, "attend", None):
        data["metadata"] = dict(data.get("metadata") or {}, attend=args.attend)
    job = call_site(args, "jobs.submit", {"spec": _absolute_files(data, Path.cwd())})
    emit(args, job, lambda d: f"job {d['id']} {d['name']}: {d['state']}, {len(d['parts'])} part(s)")
    return 0


def _batch(args: argparse.Namespace) -> int:
    data = _read_json(args.spec)
    if isinstance(data, list):
        data = [_absolute_files(d, Path.cwd()) for d in data]
    jobs = call_site(args, "jobs.batch", {"specs": data})
    emit(args, jobs, lambda d: f"{len(d)} jobs submitted")
    return 0


def _on_job(args: argparse.Namespace, op: str, params: dict[str, Any], text: Callable[[dict], str]) -> int:
    emit(args, call_site(args, op, {"job": args.job} | params), text)
    return 0


async def _list(args: argparse.Namespace, core: StoreCore) -> int:
    states = None
    if args.state:
        try:
            states = {JobState(args.state.upper())}
        except ValueError as exc:
            raise ValidationError(f"unknown state {args.state!r}") from exc
    jobs = await core.jobs.list(states, args.search, limit=max(1, min(args.limit, 10_000)))
    now, zone = core.clock.now(), site_zone(site_time_zone(core.config))
    found = estimates_of(core, [p for j in jobs if not j.state.terminal for p in j.parts])
    work = await machine_work_from_store(core.jobs, now, lambda parts: estimates_of(core, parts))
    etas = [await job_eta_from_store(core.jobs, j, now, found, work.after(j)) for j in jobs]
    rows = [[str(j.id)[:8], j.name[:40], job_state_text(j, work.busy), j.priority, len(j.parts), f"{j.progress:.0f}%",
             duration_label(e.left_s) if e else "-", finish_label(e.finish_at, now, zone) if e else "-",
             when(j.submitted_at)] for j, e in zip(jobs, etas, strict=True)]
    emit(args, [job_dict(j) | eta_fields(e, now, zone) | waiting_dict(j, work.busy, core.fleet)
                for j, e in zip(jobs, etas, strict=True)], lambda _: table(
        rows, ["ID", "NAME", "STATE", "PRIO", "PARTS", "DONE", "LEFT", "FINISH", "SUBMITTED"]) if rows else "no jobs")
    return 0


async def _show(args: argparse.Namespace, core: StoreCore) -> int:
    job = await core.jobs.find(args.job)
    now, zone = core.clock.now(), site_zone(site_time_zone(core.config))
    found = estimates_of(core, [p for p in job.parts if p.state not in FINISHED_PARTS])
    work = await machine_work_from_store(core.jobs, now, lambda parts: estimates_of(core, parts))
    eta = await job_eta_from_store(core.jobs, job, now, found, work.after(job))
    part_words = {str(p.id): part_state_text(p, work.busy) for p in job.parts}

    def text(d: dict) -> str:
        lines = [f"{d['name']}  {job_state_text(job, work.busy)}  priority {d['priority']}  ({d['id']})",
                 f"submitted {when(d['submitted_at'])}  due {when(d['due_at'])}  progress {d['progress']}%"]
        if d["waiting_for"]:
            lines.append(waiting_note(d["waiting_for"]))
        if d["time_left_s"] is not None:
            lines.append(f"time left {d['time_left']}  finish {d['finish']}")
        for p in d["parts"]:
            est = p.get("estimate")
            took = f"  {est['label']}" if est else ""
            lines.append(f"  {p['name']:<24} {process_word(p['process']):<14} {p['material']:<10} "
                         f"x{p['quantity']:<4} {part_words.get(str(p['id']), p['state'])}{took}")
        notes = sorted({e.note for e in found.values() if not e.learned})
        if notes:
            lines.append("  analytic estimates: " + "; ".join(notes))
        return "\n".join(lines)

    d = job_dict(job) | eta_fields(eta, now, zone) | waiting_dict(job, work.busy, core.fleet)
    for p in d["parts"]:
        est = found.get(p["id"] if isinstance(p["id"], UUID) else UUID(str(p["id"])))
        p["estimate"] = est.to_dict() if est is not None else None
    emit(args, d, text)
    return 0


FINISHED_PARTS = (JobState.COMPLETED, JobState.CANCELLED, JobState.FAILED)


def estimates_of(core: StoreCore, parts: list[Part]) -> dict[UUID, DurationEstimate]:
    """Learned durations of parts on their machines (the active model under ``<home>/models``), else the
    analytic ones, flagged; never fails a listing (the analytic figures stay)."""
    if not parts:
        return {}
    from app.core.learning.registry import ModelRegistry

    if ModelRegistry(core.config.paths.home / "models").active() is None and not \
            core.config.section("sites").get("learning_links"):  # nothing learned here: onnxruntime is not loaded
        return {p.id: DurationEstimate.analytic(float(p.estimated_duration_s), "no trained model yet: analytic "
                                                "estimate") for p in parts if p.estimated_duration_s > 0}
    try:
        from app.core.learning.estimates import Estimator

        return Estimator(learning_service(core.config, core.store), core.fleet.get).durations(parts)
    except ImeweError as exc:
        log.warning("learned durations not available: %s", exc)
        return {}


async def _parts(args: argparse.Namespace, core: StoreCore) -> int:
    job = await core.jobs.find(args.job)
    d = job_dict(job)["parts"]
    busy = (await machine_work_from_store(core.jobs, core.clock.now())).busy
    words = [part_state_text(p, busy) for p in job.parts]
    emit(args, d, lambda ps: table([[p["name"], process_word(p["process"]), p["material"],
                                     "x".join(f"{s:g}" for s in p["size_mm"]), p["quantity"],
                                     w] for p, w in zip(ps, words, strict=True)],
                                   ["PART", "PROCESS", "MATERIAL", "SIZE MM", "QTY", "STATE"]))
    return 0


async def _timeline(args: argparse.Namespace, core: StoreCore) -> int:
    job = await core.jobs.find(args.job)
    names = {job.id: f"job {job.name}"} | {p.id: f"part {p.name}" for p in job.parts}
    changes = await core.jobs.timeline(job.id)
    data = [{"at": c.at, "object": names.get(c.obj_id, str(c.obj_id)), "kind": c.kind, "from": c.from_state,
             "to": c.to_state, "reason": c.reason, "actor": c.actor} for c in changes]
    emit(args, data, lambda d: "\n".join(
        f"{when(c['at'])}  {c['object']:<30} {c['from'] or '-':>11} -> {c['to']:<11} {c['reason']}" for c in d))
    return 0
