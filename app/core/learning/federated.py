"""Learning across linked sites without sharing data: per-machine-type correction statistics.

What leaves a site (to the linked sites it opted in for, ``[sites] learning_links``) is, per machine type, three
sums over its completed jobs of ``x = log(real / estimated duration)``, clipped to ``±CLIP``: how many jobs, the sum
of ``x`` and the sum of ``x²``. One job moves one type's count by 1 and its sums by at most ``CLIP`` and ``CLIP²``:
those are the sensitivities the site's privacy ledger adds Laplace noise for, once per day, charged to each linked
site's daily budget (``app/core/sites/summary.py``). No job, part, machine name or time leaves.

A site pools what its opted-in linked sites sent: for a machine of a type with enough pooled jobs that its own
model does not cover yet (a new machine, a new site), the estimate is corrected by the pooled mean ratio, with an
80 % interval from the pooled spread. A machine type is the process and the bed (build plate) area: sites with the
same printer model share it.

Kept free of onnxruntime and the store: plain numbers in, plain numbers out."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.core.learning.features import analytic_s
from app.core.learning.records import JobRecord

CLIP = 1.0  # |log ratio| beyond this (a job 2.7x slower or faster than estimated) counts as this
POOLED_MIN = 20  # pooled (noisy) jobs of a type before linked sites' correction is used
Z80 = 1.2816  # the 10th and 90th percentiles of a normal: an 80 % interval
MIN_SD = 0.02  # noise can make the pooled variance vanish; real jobs never agree to within 2 %
MAX_TYPES = 200


def type_key(process: str, bed_area_dm2: float) -> str:
    """``fdm:5.2``: the process and the bed area in dm² (one decimal)."""
    return f"{process}:{float(bed_area_dm2 or 0.0):.1f}"


def record_type(r: JobRecord) -> str:
    return type_key(r.process, float(r.features.get("bed_area_dm2") or 0.0))


def correction_stats(records: Iterable[JobRecord]) -> dict[str, tuple[int, float, float]]:
    """Per machine type: (completed jobs, sum of clipped log ratios, sum of their squares). The true values; the
    site's privacy ledger adds the noise before anything leaves."""
    acc: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for r in records:
        if r.failed or r.duration_s <= 0:
            continue
        x = min(max(math.log(r.duration_s / analytic_s(r)), -CLIP), CLIP)
        a = acc[record_type(r)]
        a[0] += 1
        a[1] += x
        a[2] += x * x
    return {k: (int(a[0]), a[1], a[2]) for k, a in acc.items()}


@dataclass(frozen=True, slots=True)
class Pooled:
    """Linked sites' correction for one machine type: about ``n`` jobs on ``sites`` sites."""

    n: float
    mean: float  # of log(real / estimated)
    sd: float
    sites: int

    def predict(self, estimate_s: float) -> tuple[float, float, float]:
        """(value, low, high) of a job estimated at ``estimate_s``: the 80 % interval of such jobs."""
        return (estimate_s * math.exp(self.mean), estimate_s * math.exp(self.mean - Z80 * self.sd),
                estimate_s * math.exp(self.mean + Z80 * self.sd))


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def pool(bodies: Iterable[dict[str, Any]]) -> dict[str, Pooled]:
    """Pool the ``learning`` sections linked sites sent (already noisy; anything malformed is skipped)."""
    acc: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for body in bodies:
        types = body.get("types") if isinstance(body, dict) else None
        if not isinstance(types, dict):
            continue
        for key, v in list(types.items())[:MAX_TYPES]:
            if not isinstance(key, str) or len(key) > 60 or not isinstance(v, dict):
                continue
            n, s, q = _num(v.get("n")), _num(v.get("sum")), _num(v.get("sq"))
            if n is None or s is None or q is None or n <= 0:
                continue
            a = acc[key]
            a[0] += n
            a[1] += s
            a[2] += q
            a[3] += 1
    out: dict[str, Pooled] = {}
    for key, (n, s, q, sites) in acc.items():
        if n < POOLED_MIN:
            continue
        mean = min(max(s / n, -CLIP), CLIP)
        sd = math.sqrt(max(q / n - mean * mean, MIN_SD * MIN_SD))
        out[key] = Pooled(n, mean, min(sd, CLIP), int(sites))
    return out
