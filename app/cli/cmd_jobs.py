"""imewe jobs submit|batch|list|show|parts|timeline|priority|cancel|reschedule (the spec's /jobs operations)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.bootstrap import Core
from app.cli.output import add_json_flag, emit, table, when, with_core
from app.core.domain.entities import Job
from app.core.domain.enums import JobState
from app.core.domain.errors import ValidationError

MAX_SPEC_BYTES = 20_000_000


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
    add_json_flag(s)
    s.set_defaults(handler=lambda a: with_core(a, lambda c: _submit(a, c)))

    b = js.add_parser("batch", help="submit many jobs at once from a JSON list (all or nothing)")
    b.add_argument("spec", type=Path)
    add_json_flag(b)
    b.set_defaults(handler=lambda a: with_core(a, lambda c: _batch(a, c)))

    ls = js.add_parser("list", help="list jobs")
    ls.add_argument("--state", help="only jobs in this state")
    ls.add_argument("--search", help="name contains")
    ls.add_argument("--limit", type=int, default=200)
    add_json_flag(ls)
    ls.set_defaults(handler=lambda a: with_core(a, lambda c: _list(a, c)))

    for name, fn, help_ in (("show", _show, "one job with its parts"), ("parts", _parts, "a job's parts"),
                            ("timeline", _timeline, "every state change of a job and its parts"),
                            ("cancel", _cancel, "cancel a job"),
                            ("reschedule", _reschedule, "send a job back to the planner")):
        x = js.add_parser(name, help=help_)
        x.add_argument("job", help="job id or its first characters")
        add_json_flag(x)
        x.set_defaults(handler=lambda a, fn=fn: with_core(a, lambda c: fn(a, c)))

    pr = js.add_parser("priority", help="change a job's priority (1-10, 10 most urgent)")
    pr.add_argument("job")
    pr.add_argument("priority")
    add_json_flag(pr)
    pr.set_defaults(handler=lambda a: with_core(a, lambda c: _priority(a, c)))

    from app.cli.cmd_offload import add_offload_parser

    add_offload_parser(js)


def job_dict(j: Job) -> dict[str, Any]:
    return {"id": j.id, "name": j.name, "state": j.state, "priority": j.priority, "submitted_at": j.submitted_at,
            "due_at": j.due_at, "completed_at": j.completed_at, "progress": round(j.progress, 1),
            "estimated_duration_s": j.estimated_duration_s, "estimated_energy_kwh": j.estimated_energy_kwh,
            "parts": [{"id": p.id, "name": p.name, "process": p.process, "material": p.material_type,
                       "size_mm": list(p.size_mm), "quantity": p.quantity, "state": p.state,
                       "assigned_node": p.assigned_node, "progress": p.progress} for p in j.parts]}


def _read_json(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise ValidationError(f"{path} is larger than {MAX_SPEC_BYTES // 1_000_000} MB")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValidationError(f"no such file: {path}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path} is not a readable JSON file: {exc}") from exc


async def _submit(args: argparse.Namespace, core: Core) -> int:
    if args.spec:
        data = _read_json(args.spec)
    else:
        if not (args.name and args.process and args.material and args.size):
            raise ValidationError("give a JSON spec file, or --name, --process, --material and --size")
        data = {"name": args.name, "priority": args.priority, "due_at": args.due,
                "parts": [{"name": args.name, "process": args.process, "material": args.material,
                           "size": args.size, "units": args.units, "quantity": args.quantity, "file": args.file}]}
    job = await core.jobs.submit(data, actor="cli")
    emit(args, job_dict(job), lambda d: f"job {d['id']} {d['name']}: {d['state']}, {len(d['parts'])} part(s)")
    return 0


async def _batch(args: argparse.Namespace, core: Core) -> int:
    data = _read_json(args.spec)
    jobs = await core.jobs.submit_batch(data, actor="cli")
    emit(args, [job_dict(j) for j in jobs], lambda d: f"{len(d)} jobs submitted")
    return 0


async def _list(args: argparse.Namespace, core: Core) -> int:
    states = None
    if args.state:
        try:
            states = {JobState(args.state.upper())}
        except ValueError as exc:
            raise ValidationError(f"unknown state {args.state!r}") from exc
    jobs = await core.jobs.list(states, args.search, limit=max(1, min(args.limit, 10_000)))
    rows = [[str(j.id)[:8], j.name[:40], j.state.value, j.priority, len(j.parts), f"{j.progress:.0f}%",
             when(j.submitted_at)] for j in jobs]
    emit(args, [job_dict(j) for j in jobs], lambda _: table(
        rows, ["ID", "NAME", "STATE", "PRIO", "PARTS", "DONE", "SUBMITTED"]) if rows else "no jobs")
    return 0


async def _show(args: argparse.Namespace, core: Core) -> int:
    job = await core.jobs.find(args.job)

    def text(d: dict) -> str:
        lines = [f"{d['name']}  {d['state']}  priority {d['priority']}  ({d['id']})",
                 f"submitted {when(d['submitted_at'])}  due {when(d['due_at'])}  progress {d['progress']}%"]
        lines += [f"  {p['name']:<24} {p['process']:<10} {p['material']:<10} x{p['quantity']:<4} {p['state']}"
                  for p in d["parts"]]
        return "\n".join(lines)

    emit(args, job_dict(job), text)
    return 0


async def _parts(args: argparse.Namespace, core: Core) -> int:
    job = await core.jobs.find(args.job)
    d = job_dict(job)["parts"]
    emit(args, d, lambda ps: table([[p["name"], p["process"], p["material"], "x".join(f"{s:g}" for s in p["size_mm"]),
                                     p["quantity"], p["state"]] for p in ps],
                                   ["PART", "PROCESS", "MATERIAL", "SIZE MM", "QTY", "STATE"]))
    return 0


async def _timeline(args: argparse.Namespace, core: Core) -> int:
    job = await core.jobs.find(args.job)
    names = {job.id: f"job {job.name}"} | {p.id: f"part {p.name}" for p in job.parts}
    changes = await core.jobs.timeline(job.id)
    data = [{"at": c.at, "object": names.get(c.obj_id, str(c.obj_id)), "kind": c.kind, "from": c.from_state,
             "to": c.to_state, "reason": c.reason, "actor": c.actor} for c in changes]
    emit(args, data, lambda d: "\n".join(
        f"{when(c['at'])}  {c['object']:<30} {c['from'] or '-':>11} -> {c['to']:<11} {c['reason']}" for c in d))
    return 0


async def _priority(args: argparse.Namespace, core: Core) -> int:
    job = await core.jobs.find(args.job)
    job = await core.jobs.set_priority(job.id, args.priority, actor="cli")
    emit(args, job_dict(job), lambda d: f"{d['name']}: priority {d['priority']}")
    return 0


async def _cancel(args: argparse.Namespace, core: Core) -> int:
    job = await core.jobs.find(args.job)
    job = await core.jobs.cancel(job.id, actor="cli")
    emit(args, job_dict(job), lambda d: f"{d['name']}: {d['state']}")
    return 0


async def _reschedule(args: argparse.Namespace, core: Core) -> int:
    job = await core.jobs.find(args.job)
    job = await core.jobs.request_reschedule(job.id, actor="cli")
    emit(args, job_dict(job), lambda d: f"{d['name']}: back to the planner ({d['state']})")
    return 0
