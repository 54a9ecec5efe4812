"""Readers for the public flexible job shop files: ``.fjs`` (Brandimarte style) and Birgin's assembly ``.txt``."""

from __future__ import annotations

from pathlib import Path

from app.core.domain.errors import ValidationError
from app.core.scheduling.problem import Problem


class FjsFormatError(ValidationError):
    """The file is not a readable FJSP instance; the message says where and why."""


def load_instance(path: str | Path) -> Problem:
    """Read ``.fjs``; a file whose header has three integers and arcs is read as a Birgin FAJSP ``.txt``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError as exc:
        raise FjsFormatError(f"{p}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise FjsFormatError(f"{p}: cannot read it as a text file ({exc.__class__.__name__})") from exc
    if p.suffix.lower() == ".txt":
        return parse_fajsp(text, str(p))
    return parse_fjs(text, str(p))


MAX_NUMBER = 10**9  # durations, counts and machine numbers: beyond this a file is not a shop's plan
MAX_MACHINES = 100_000
MAX_OPERATIONS = 1_000_000


def _ints(line: str, where: str) -> list[int]:
    """Whole numbers (written 5 or 5.0) from 0 to MAX_NUMBER; anything else names the line."""
    out: list[int] = []
    for t in line.split():
        try:
            v = float(t)
        except ValueError as exc:
            raise FjsFormatError(f"{where}: expected numbers, got {line.strip()[:60]!r}") from exc
        if not (v.is_integer() and abs(v) <= MAX_NUMBER):
            raise FjsFormatError(f"{where}: {t[:30]!r} is not a whole number up to {MAX_NUMBER:,}")
        out.append(int(v))
    return out


def _check_size(name: str, n_machines: int, n_ops: int) -> None:
    if n_machines > MAX_MACHINES:
        raise FjsFormatError(f"{name}: {n_machines:,} machines; at most {MAX_MACHINES:,} are planned")
    if n_ops > MAX_OPERATIONS:
        raise FjsFormatError(f"{name}: {n_ops:,} operations; at most {MAX_OPERATIONS:,} are planned")


def parse_fjs(text: str, name: str = "<fjs>") -> Problem:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise FjsFormatError(f"{name}: empty file")
    # '#jobs #machines', often followed by the mean machines per operation (a fraction, not read).
    head = _ints(" ".join(lines[0].split()[:2]), f"{name} line 1")
    if len(head) < 2 or head[0] <= 0 or head[1] <= 0:
        raise FjsFormatError(f"{name} line 1: expected '#jobs #machines', got {lines[0].strip()[:60]!r}")
    n_jobs, n_machines = head[0], head[1]
    _check_size(name, n_machines, 0)
    if len(lines) - 1 < n_jobs:
        raise FjsFormatError(f"{name}: header announces {n_jobs} jobs but the file has {len(lines) - 1} job lines")
    op_job: list[int] = []
    alts: list[list[tuple[int, int]]] = []
    preds: list[list[int]] = []
    op_names: list[str] = []
    for j in range(n_jobs):
        where = f"{name} line {j + 2}"
        nums = _ints(lines[j + 1], where)
        if not nums:
            raise FjsFormatError(f"{where}: empty job line")
        n_ops, i = nums[0], 1
        if n_ops <= 0:
            raise FjsFormatError(f"{where}: job {j} has {n_ops} operations; every job has at least one")
        _check_size(name, n_machines, len(op_job) + n_ops)
        for k in range(n_ops):
            if i >= len(nums):
                raise FjsFormatError(f"{where}: job {j} announces {n_ops} operations, line ends at operation {k}")
            n_alt = nums[i]
            i += 1
            if n_alt <= 0 or i + 2 * n_alt > len(nums):
                raise FjsFormatError(f"{where}: operation {k} of job {j} has a bad machine list")
            op_alts: list[tuple[int, int]] = []
            for a in range(n_alt):
                m, d = nums[i + 2 * a], nums[i + 2 * a + 1]
                if not 1 <= m <= n_machines:
                    raise FjsFormatError(f"{where}: operation {k} of job {j} names machine {m}, "
                                         f"the header says machines are 1..{n_machines}")
                if d < 0:
                    raise FjsFormatError(f"{where}: operation {k} of job {j} has a negative duration {d}")
                op_alts.append((m - 1, d))
            i += 2 * n_alt
            preds.append([len(op_job) - 1] if k > 0 else [])
            op_job.append(j)
            alts.append(op_alts)
            op_names.append(f"J{j}.O{k}")
        if i != len(nums):
            raise FjsFormatError(f"{where}: {len(nums) - i} numbers left over after job {j}'s operations")
    return Problem(n_machines=n_machines, op_job=op_job, alts=alts, preds=preds, op_names=op_names,
                   job_names=[f"J{j}" for j in range(n_jobs)])


def parse_fajsp(text: str, name: str = "<fajsp>") -> Problem:
    """Birgin et al. (2014): ``#ops #arcs #machines``, arcs ``pred succ``, then per op ``k m d ...`` (0-indexed).
    Lines starting with ``#`` are comments (the YFJS files open with some)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise FjsFormatError(f"{name}: empty file")
    head = _ints(lines[0], f"{name} line 1")
    if len(head) != 3:
        raise FjsFormatError(f"{name} line 1: expected '#operations #arcs #machines'")
    n_ops, n_arcs, n_machines = head
    if n_ops <= 0 or n_machines <= 0 or n_arcs < 0:
        raise FjsFormatError(f"{name} line 1: needs at least one operation and one machine")
    _check_size(name, n_machines, n_ops)
    if len(lines) < 1 + n_arcs + n_ops:
        raise FjsFormatError(f"{name}: expected {n_arcs} arcs and {n_ops} operations, the file is shorter")
    preds: list[list[int]] = [[] for _ in range(n_ops)]
    for a in range(n_arcs):
        arc = _ints(lines[1 + a], f"{name} line {a + 2}")
        if len(arc) != 2 or not all(0 <= x < n_ops for x in arc):
            raise FjsFormatError(f"{name} line {a + 2}: an arc is two operation numbers 0..{n_ops - 1}")
        preds[arc[1]].append(arc[0])
    alts: list[list[tuple[int, int]]] = []
    for o in range(n_ops):
        where = f"{name} line {2 + n_arcs + o}"
        nums = _ints(lines[1 + n_arcs + o], where)
        if not nums or len(nums) != 1 + 2 * nums[0] or nums[0] <= 0:
            raise FjsFormatError(f"{where}: expected 'k m1 d1 ... mk dk'")
        pairs = [(nums[1 + 2 * a], nums[2 + 2 * a]) for a in range(nums[0])]
        if any(not 0 <= m < n_machines or d < 0 for m, d in pairs):
            raise FjsFormatError(f"{where}: machine out of 0..{n_machines - 1} or negative duration")
        alts.append(pairs)
    # Jobs are the connected pieces of the DAG (one assembly each).
    parent = list(range(n_ops))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s, ps in enumerate(preds):
        for p in ps:
            parent[find(p)] = find(s)
    roots: dict[int, int] = {}
    op_job = [roots.setdefault(find(o), len(roots)) for o in range(n_ops)]
    return Problem(n_machines=n_machines, op_job=op_job, alts=alts, preds=preds,
                   op_names=[f"O{o}" for o in range(n_ops)])
