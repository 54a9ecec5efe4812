"""imewe offload JOB --to SITE (also meant as ``imewe jobs offload``): send a job, or some of its parts, to a
linked site. It goes through the persistent outbox, exactly once, when the site link is up."""

from __future__ import annotations

import argparse

from app.cli.output import add_json_flag, call_site, emit
from app.core.domain.errors import ValidationError


def register(sub: argparse._SubParsersAction) -> None:
    add_offload_parser(sub)


def add_offload_parser(sub: argparse._SubParsersAction) -> None:
    """Used twice: as the top-level ``imewe offload`` and inside ``imewe jobs``."""
    p = sub.add_parser("offload", help="send a job (or some of its parts) to a linked site")
    p.add_argument("job", help="job id or its first characters")
    p.add_argument("--to", required=True, dest="to", help="the linked site: name or ID")
    p.add_argument("--parts", default="", help="part numbers to send, e.g. 0,2 (default: all)")
    add_json_flag(p)
    p.set_defaults(handler=_offload)


def _parts(text: str) -> list[int] | None:
    if not text.strip():
        return None
    try:
        return [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError as exc:
        raise ValidationError(f"--parts takes part numbers like 0,2, not {text[:40]!r}", "parts") from exc


def _offload(args: argparse.Namespace) -> int:
    o = call_site(args, "jobs.offload", {"job": args.job, "to": args.to, "parts": _parts(args.parts)})
    emit(args, o, lambda d: f"job {d['job_name']}: queued for the linked site (offload {d['key'][:8]}); "
                            "it is sent when the link is up")
    return 0
