"""imewe learn status|collect|export|train|predict|rollback|simulate: the learned estimates (issue 15)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.bootstrap import learning_service, setup_logging
from app.cli.output import add_json_flag, emit
from app.core.config import load_config
from app.core.domain.errors import ValidationError
from app.core.learning.service import LearningService
from app.core.store.db import open_store


def _with_service(args: argparse.Namespace, fn: Any) -> int:
    config = load_config(args.home, args.db)
    setup_logging(config)
    store = open_store(config.db_url)
    try:
        return int(fn(learning_service(config, store)) or 0)
    finally:
        store.close()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("learn", help="learned durations, energy and failure risk from the site's history")
    a = p.add_subparsers(dest="learn_cmd", metavar="ACTION", required=True)
    st = a.add_parser("status", help="history size, the active model version, its data range and metrics")
    add_json_flag(st)
    st.set_defaults(handler=lambda args: _with_service(args, lambda s: _status(args, s)))
    co = a.add_parser("collect", help="add every finished job not yet in the training data")
    add_json_flag(co)
    co.set_defaults(handler=lambda args: _with_service(args, lambda s: _collect(args, s)))
    ex = a.add_parser("export", help="write the training data to a .jsonl or .csv file")
    ex.add_argument("path", type=Path)
    add_json_flag(ex)
    ex.set_defaults(handler=lambda args: _with_service(args, lambda s: _export(args, s)))
    tr = a.add_parser("train", help="train a new version (in a worker process); it becomes active only if it "
                                    "beats the active one on the most recent jobs")
    add_json_flag(tr)
    tr.set_defaults(handler=lambda args: _with_service(args, lambda s: _train(args, s)))
    pr = a.add_parser("predict", help="predicted duration, energy and failure risk of a job in the history")
    pr.add_argument("job", help="job id (as in the training data)")
    add_json_flag(pr)
    pr.set_defaults(handler=lambda args: _with_service(args, lambda s: _predict(args, s)))
    rb = a.add_parser("rollback", help="make the previously active model version active again")
    add_json_flag(rb)
    rb.set_defaults(handler=lambda args: _with_service(args, lambda s: _rollback(args, s)))
    si = a.add_parser("simulate", help="add N finished jobs of a simulated fleet to the history (demo, trials)")
    si.add_argument("count", type=int)
    si.add_argument("--seed", type=int, default=0)
    add_json_flag(si)
    si.set_defaults(handler=lambda args: _with_service(args, lambda s: _simulate(args, s)))


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _status(args: argparse.Namespace, s: LearningService) -> None:
    data = s.status()

    def text(d: dict[str, Any]) -> str:
        lines = [f"history: {d['jobs']} finished jobs (learning needs {d['min_jobs']})"]
        if d["active"] is None:
            lines.append("active model: none, the analytic estimates are used")
        else:
            m = d["meta"]
            lines.append(f"active model: {d['active']} trained on {m['n_jobs']} jobs "
                         f"({_when(m['data_from'])} to {_when(m['data_to'])}) in {m['train_s']} s")
            met = m["metrics"]
            if "duration" in met:
                du = met["duration"]
                lines.append(f"  duration error {du['mape']:.1%} (analytic {du['mape_analytic']:.1%}, per-machine "
                             f"ratio {du['mape_ratio']:.1%}) on {du['n']} recent jobs")
            if "energy" in met:
                lines.append(f"  energy error {met['energy']['mape']:.1%} (rated power x time "
                             f"{met['energy']['mape_rated']:.1%})")
            if "failure" in met and met["failure"]["auc"] is not None:
                lines.append(f"  failure risk ROC AUC {met['failure']['auc']:.2f}")
        lines.append(f"versions: {', '.join(d['versions']) or 'none'}; training due: {'yes' if d['due'] else 'no'}")
        for key, p in (d.get("linked") or {}).items():
            lines.append(f"from linked sites: {key} machines run {p['ratio']:.2f} x the estimate (about {p['jobs']} "
                         f"jobs on {p['sites']} site(s))")
        return "\n".join(lines)

    emit(args, data, text)


def _collect(args: argparse.Namespace, s: LearningService) -> None:
    n = s.repo.collect()
    emit(args, {"added": n, "jobs": s.repo.count()}, lambda d: f"added {d['added']} jobs; {d['jobs']} in all")


def _export(args: argparse.Namespace, s: LearningService) -> None:
    n = s.repo.export(args.path)
    emit(args, {"path": str(args.path), "jobs": n}, lambda d: f"wrote {d['jobs']} jobs to {d['path']}")


def _train(args: argparse.Namespace, s: LearningService) -> None:
    meta = s.train()
    emit(args, {"version": meta["version"], "decision": meta["decision"], "metrics": meta["metrics"],
                "train_s": meta["train_s"]},
         lambda d: f"{d['version']}: {'active' if d['decision']['promoted'] else 'not promoted'} "
                   f"({d['decision']['reason']}); trained in {d['train_s']} s")


def _predict(args: argparse.Namespace, s: LearningService) -> None:
    rec = s.repo.get(args.job)
    if rec is None:
        raise ValidationError(f"no job {args.job!r} in the training data (imewe learn collect adds finished "
                              "jobs)", "job")
    p = s.predict([rec])[0]

    def text(d: dict[str, Any]) -> str:
        du = d["duration_s"]
        lines = [f"duration: {_hm(du['value'])} ({_hm(du['low'])} - {_hm(du['high'])})"
                 + ("" if du["learned"] else f" [analytic: {du.get('note') or d.get('note', '')}]"),
                 f"actual: {_hm(rec.duration_s)}, {rec.outcome}"]
        if d["energy_kwh"]:
            e = d["energy_kwh"]
            lines.append(f"energy: {e['value']:.2f} kWh ({e['low']:.2f} - {e['high']:.2f})"
                         + ("" if e["learned"] else " [rated power x time]") + f"; actual {rec.energy_kwh:.2f} kWh")
        if d["failure_risk"] is not None:
            lines.append(f"failure risk: {d['failure_risk']:.1%}")
        return "\n".join(lines)

    emit(args, p, text)


def _hm(s: float) -> str:
    m = int(round(s / 60))
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def _rollback(args: argparse.Namespace, s: LearningService) -> None:
    v = s.rollback()
    emit(args, {"active": v}, lambda d: f"active model: {d['active']}")


def _simulate(args: argparse.Namespace, s: LearningService) -> None:
    if not 1 <= args.count <= 100_000:
        raise ValidationError("count must be between 1 and 100000", "count")
    from app.bootstrap import simulated_history

    n = s.repo.add(simulated_history(args.count, args.seed))
    emit(args, {"added": n}, lambda d: f"added {d['added']} simulated jobs")
