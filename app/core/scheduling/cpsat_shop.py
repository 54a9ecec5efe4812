"""The shop's own rules in the CP-SAT model: closed windows, started work, sequence-dependent material setups,
staffed hours and lateness. Each helper adds one kind of rule to a model ``cpsat.py`` builds; they follow the
rules exactly as ``validate.py`` reads them:

- a closed window [a, b) of a machine is a fixed interval in its no-overlap: work never runs in it (a setup may);
- a material setup is the gap ``setup(previous family, this family)`` between the end of the work before it on
  the machine (or the origin, from the family loaded there) and the start of the work that needs it; the order
  of work on a machine is a circuit of arc literals, so the gap is known per arc;
- work that needs a person at its start starts, its setup included, inside one staffed span [a, b); work that
  needs one at its end ends inside a staffed span [a, b].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.scheduling.problem import INF, Problem
from app.core.scheduling.staffing import END, START

MAX_SETUP_ARCS = 250_000  # a bigger order model takes CP-SAT longer to load than a replan may wait
FULL_ARCS = 12_000  # up to this many arcs every machine is open to every operation; past it, the hint's machines


@dataclass(slots=True)
class SetupModel:
    """What the setup circuits add: per machine its arcs [(from op, to op, literal)] (-1: the origin), and the
    model's total setup time (an expression)."""

    arcs: dict[int, list[tuple[int, int, Any]]] = field(default_factory=dict)
    total: Any = 0


def setup_machines(problem: Problem) -> list[int]:
    """Machines where the order of work changes setup time: two of their eligible operations (or the family
    loaded there and one) differ and changing between them costs time."""
    if not problem.has_setups:
        return []
    fams: list[set[int]] = [set() for _ in range(problem.n_machines)]
    for o, alts in enumerate(problem.alts):
        for m, _ in alts:
            fams[m].add(problem.family[o])
    out = []
    for m, fs in enumerate(fams):
        real = {f for f in fs if f >= 0} | ({problem.machine_family[m]} if problem.machine_family[m] >= 0 else set())
        if any(problem.setup(a, b) for a in real for b in real):
            out.append(m)
    return out


def too_many_arcs(problem: Problem, machines: list[int]) -> bool:
    """Whether circuits open to every eligible operation would be too big to load in time (then the model keeps
    each operation on the hint's machine: every order there stays open)."""
    count = dict.fromkeys(machines, 0)
    for alts in problem.alts:
        for m, _ in alts:
            if m in count:
                count[m] += 1
    return sum(n * n for n in count.values()) > FULL_ARCS


def setups_modelled(problem: Problem) -> bool:
    """Whether the circuit model holds this shop's setups: on every machine where order matters, each operation
    has a material family (work without one keeps the family before it, which an arc cannot see), and the order
    model is not too big to load in time."""
    machines = setup_machines(problem)
    if not machines:
        return True
    on = {m: 0 for m in machines}
    for o, alts in enumerate(problem.alts):
        for m, _ in alts:
            if m in on:
                if problem.family[o] < 0:
                    return False
                on[m] += 1
    return sum(n * n for n in on.values()) <= MAX_SETUP_ARCS


def add_windows(m: Any, problem: Problem, horizon: int, per_machine: dict[int, list]) -> None:
    """Each machine's closed windows as fixed intervals in its no-overlap."""
    for k, wins in enumerate(problem.unavailable):
        for a, b in wins:
            a, b = max(a, 0), min(b, horizon + 1)
            if b > a:
                per_machine.setdefault(k, []).append(m.NewIntervalVar(a, b - a, b, f"closed{k}_{a}"))


def add_setups(m: Any, problem: Problem, machines: list[int], on_machine: dict[int, list[tuple[int, Any | None]]],
               starts: list, ends: list, lead: dict[int, dict[int, Any]], hint_seqs: list[list[int]] | None) -> SetupModel:
    """Per machine a circuit over its eligible operations (a node per operation, present when it runs there):
    an arc i -> j means j is the next work after i, and j starts no sooner than i's end plus the setup between
    their families; from the origin, the family loaded there. ``lead[o][v]`` (when given) is the literal "the
    setup just before ``o`` lasts v"; an arc implies its own. When every order would be too many arcs to load in time (big shops), an operation may follow
    only the ones near it in the hint's order of starts (and its own predecessor in the hint): a large
    neighbourhood of the hint, which then proves nothing. ``on_machine[k]``: (operation, its presence literal there, None when it has no other machine).
    Arc literals are hinted from ``hint_seqs`` (each machine's order in the hint)."""
    out = SetupModel()
    fam, fixed, mf = problem.family, problem.fixed, problem.machine_family
    terms = []
    for k in machines:
        ops = on_machine.get(k, [])
        node = {o: i + 1 for i, (o, _) in enumerate(ops)}
        seq = hint_seqs[k] if hint_seqs is not None else []
        nxt = {a: b for a, b in zip(seq, seq[1:], strict=False)}
        first, last = (seq[0], seq[-1]) if seq else (None, None)
        arcs, mine = [], []
        if ops:
            empty = m.NewBoolVar(f"empty{k}")
            arcs.append((0, 0, empty))
            if hint_seqs is not None:
                m.AddHint(empty, 0 if seq else 1)
        for o, present in ops:
            if present is not None:  # None: its only machine
                arcs.append((node[o], node[o], present.Not()))
            lit = m.NewBoolVar(f"first{k}_{o}")
            arcs.append((0, node[o], lit))
            mine.append((-1, o, lit))
            gap = problem.setup(mf[k], fam[o])
            if o not in fixed:
                if gap:
                    m.Add(starts[o] >= gap).OnlyEnforceIf(lit)
                    terms.append(gap * lit)
                if o in lead:
                    m.AddImplication(lit, lead[o][gap])
            lit_end = m.NewBoolVar(f"last{k}_{o}")
            arcs.append((node[o], 0, lit_end))
            if hint_seqs is not None:
                m.AddHint(lit, 1 if o == first else 0)
                m.AddHint(lit_end, 1 if o == last else 0)
        for i, _pi in ops:
            for j, _pj in ops:
                if i == j or _never_before(problem, j, i):
                    continue
                lit = m.NewBoolVar(f"a{k}_{i}_{j}")
                arcs.append((node[i], node[j], lit))
                mine.append((i, j, lit))
                gap = problem.setup(fam[i], fam[j])
                m.Add(starts[j] >= ends[i] + gap).OnlyEnforceIf(lit)
                if gap:
                    terms.append(gap * lit)
                if j in lead:
                    m.AddImplication(lit, lead[j][gap])
                if hint_seqs is not None:
                    m.AddHint(lit, 1 if nxt.get(i) == j else 0)
        if arcs:
            m.AddCircuit(arcs)
        out.arcs[k] = mine
    out.total = sum(terms) if terms else 0
    return out


def _never_before(problem: Problem, j: int, i: int) -> bool:
    """``j`` must end before ``i`` starts (its direct predecessor), so the arc i -> j can never be used."""
    return j in problem.preds[i]


def staffed_spans(problem: Problem, horizon: int) -> list[tuple[int, int]]:
    """The staffed calendar clipped to [0, horizon + the longest work] (past it nothing runs)."""
    longest = max((d for alts in problem.alts for _, d in alts), default=0)
    top = horizon + longest + 1
    out = []
    for a, b in problem.staffed or []:
        if a > top:
            break
        out.append((max(a, 0), min(b, top)))
    return out


def lead_values(problem: Problem, o: int) -> list[int]:
    """Every length the setup just before ``o`` can have (0 included)."""
    fams = {f for f in problem.family if f >= 0} | {f for f in problem.machine_family if f >= 0}
    return sorted({0} | {problem.setup(f, problem.family[o]) for f in fams})


def add_staffing(m: Any, problem: Problem, spans: list[tuple[int, int]], o: int, start: Any, end: Any,
                 lead: dict[int, Any] | None) -> None:
    """Work ``o`` that needs a person at its start starts in a staffed span [a, b), and its setup of v (the
    literal ``lead[v]``) too: it starts in [a + v, b). At its end, it ends in a staffed [a, b]."""
    from ortools.util.python import sorted_interval_list as sil

    need = problem.attend[o]
    first = problem.release[o]
    if need & END:
        m.AddLinearExpressionInDomain(end, sil.Domain.FromIntervals([[a, b] for a, b in spans if b >= first]))
    if not need & START:
        return
    for v, lit in (lead or {0: None}).items():
        dom = sil.Domain.FromIntervals([[a + v, b - 1] for a, b in spans if b - 1 >= max(a + v, first)])
        if lit is None:
            m.AddLinearExpressionInDomain(start, dom)
        else:
            m.AddLinearExpressionInDomain(start, dom).OnlyEnforceIf(lit)


def tardiness_terms(m: Any, problem: Problem, ends: list, horizon: int,
                    hint_ends: list[int] | None = None) -> list[tuple[float, Any]]:
    """Per job with a due time, (its weight, its lateness variable): no less than any of its ends past due
    (hinted with its lateness in ``hint_ends``)."""
    by_job: dict[int, list[int]] = {}
    for o, j in enumerate(problem.op_job):
        if not problem.succs[o]:
            by_job.setdefault(j, []).append(o)
    out = []
    for j, ops in sorted(by_job.items()):
        due = problem.job_due[j]
        if due >= INF or problem.job_weight[j] <= 0:
            continue
        late = m.NewIntVar(0, max(horizon - due, 0) + 1, f"late{j}")
        for o in ops:
            m.Add(late >= ends[o] - due)
        if hint_ends is not None:
            m.AddHint(late, max(0, max(hint_ends[o] for o in ops) - due))
        out.append((problem.job_weight[j], late))
    return out
