"""Memory in the cost model: what a tape keeps for its sweep, and which of it to recompute.

Reverse mode keeps every entry's residuals until the sweep; under a memory budget some
consecutive runs of entries (segments) keep nothing but the values they read from before
them, and the sweep re-runs each such segment when it reaches it (`ad.tape.Dropped`,
`Tape.recompute`). Choosing the segments is a knapsack: each dropped segment saves the
bytes only it holds and costs one re-evaluation of its entries. `plan_recompute` cuts the
tape into 1, 2, 4, ... segments of equal residual weight, takes segments by saving per
cost (greedy) until the predicted peak fits, and keeps the cut with the least predicted
extra work.

The facts come from a recording that measured instead of keeping
(`ad.reverse.MeasuringLevel`: per entry the bytes of its fresh residuals and the ids of
the values its residuals hold), read by `footprint`. The predicted peak is the bytes held
with the plan (kept residuals, held values, the dropped segments' inputs) plus the
largest dropped segment while it is recomputed; the tape's inputs are the caller's and
count nothing, and neither do the constants the tape keeps in any case.

Imports numpy, `ad.errors` and `ad.tape`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np

from ad.errors import ADError
from ad.tape import CONSTANT, Tape

#: What re-running one entry costs beyond its flops (the interpreter's Python work per
#: entry, about 4 µs), in flop-equivalents at about 1 GFlop/s.
ENTRY_FLOPS = 4000.0
#: The sweep's working set besides the tape, in the program's largest values: the cotangents
#: of an entry's output and inputs, the result, one value in flight while recomputing
#: (measured: 4 to 5.3 of them above the predicted tape on a 40-layer network).
WORKING_VALUES = 6
#: And in bytes per entry (the tape's rows and markers, the sweep's bookkeeping; measured
#: with tracemalloc: 210-250 bytes per entry on scalar chains, 310-370 on 3-vector RK4
#: steps and chains).
WORKING_PER_ENTRY = 350
#: The share of the budget the plan may fill: the allocator's slack takes the rest.
BUDGET_SHARE = 0.95
#: A budget nothing exceeds: the plan that stores everything (what the tape keeps).
STORE_ALL = 2 ** 62
#: The finest cut tried (segments); recomputing fewer, larger segments costs the same
#: flops, so finer cuts only help a budget far below the stored tape.
MAX_SEGMENTS = 1024


class MemoryBudgetError(ADError, ValueError):
    """No choice of recomputed segments fits the memory budget."""


@dataclass(frozen=True, eq=False)
class Footprint:
    """A measured tape's memory facts, as flat arrays (per entry and per value id)."""

    fresh: np.ndarray          # per entry: bytes of residual arrays only it holds
    out_bytes: np.ndarray      # per entry: bytes of its results
    work: np.ndarray           # per entry: flops of its value, plus ENTRY_FLOPS
    value_bytes: np.ndarray    # per id: bytes (0 for the tape's inputs)
    producer: np.ndarray       # per id: the position of the entry producing it (-1: input)
    held_entry: np.ndarray     # (entry, id) pairs: the entry's residuals hold the value
    held_value: np.ndarray
    read_entry: np.ndarray     # (entry, id) pairs: the entry reads the traced value
    read_value: np.ndarray
    opcodes: tuple
    #: per entry: bytes its VJP holds while it runs (`Primitive.sweep_bytes`)
    transient: np.ndarray | None = None

    @property
    def entries(self) -> int:
        return len(self.fresh)

    def held_bytes(self, dropped: np.ndarray, starts: np.ndarray, segment_of: np.ndarray
                   ) -> int:
        """Bytes held for the sweep when the entries marked in `dropped` keep nothing but
        their segment's inputs (segments start at `starts`, entry p in `segment_of[p]`)."""
        held = np.zeros(len(self.value_bytes), bool)
        held[self.held_value[~dropped[self.held_entry]]] = True
        reading = dropped[self.read_entry]
        outside = self.producer[self.read_value] < starts[segment_of[self.read_entry]]
        held[self.read_value[reading & outside]] = True
        return int(self.value_bytes[held].sum() + self.fresh[~dropped].sum())


def footprint(tape: Tape) -> Footprint:
    """The facts `plan_recompute` needs, from a tape recorded by `MeasuringLevel` (each
    residual slot holds `(fresh bytes, held ids)`)."""
    shapes, dtypes = tape.shapes, tape.dtypes
    value_bytes = np.array([math.prod(s) * (d.itemsize if d is not None else 8)
                            for s, d in zip(shapes, dtypes)], dtype=np.int64)
    value_bytes[tape.inputs] = 0
    producer = np.full(len(shapes), -1, dtype=np.int64)
    n = len(tape)
    fresh = np.zeros(n, np.int64)
    out_bytes = np.zeros(n, np.int64)
    work = np.zeros(n)
    transient = np.zeros(n, np.int64)
    held_entry, held_value, read_entry, read_value = [], [], [], []
    for position, (primitive, params, parents, constants, out, measured) in enumerate(
            tape.entries()):
        k = primitive.n_outputs
        producer[out:out + k] = position
        out_bytes[position] = value_bytes[out:out + k].sum()
        fresh[position], held = measured
        held_entry.extend([position] * len(held))
        held_value.extend(held)
        traced = [p for p in parents if p != CONSTANT]
        read_entry.extend([position] * len(traced))
        read_value.extend(traced)
        out_shape = tape.out_shape(primitive, out)
        in_shapes = tape.in_shapes(parents, constants)
        work[position] = ENTRY_FLOPS + primitive.counts(
            in_shapes, out_shape, params, [p != CONSTANT for p in parents]).flops
        if primitive.sweep_bytes is not None:
            in_bytes = [math.prod(shape) * (8 if p == CONSTANT or dtypes[p] is None
                                            else dtypes[p].itemsize)
                        for p, shape in zip(parents, in_shapes)]
            transient[position] = primitive.sweep_bytes(params, in_bytes,
                                                        int(out_bytes[position]))
    as_ids = lambda xs: np.asarray(xs, dtype=np.int64)   # noqa: E731
    return Footprint(fresh, out_bytes, work, value_bytes, producer, as_ids(held_entry),
                     as_ids(held_value), as_ids(read_entry), as_ids(read_value),
                     tuple(tape.opcodes), transient)


@dataclass(frozen=True)
class RecomputePlan:
    """Which entries of a recording keep no residuals under a memory budget.

    `ranges` are the dropped segments as [start, stop) entry positions; `stored_bytes` what
    the tape keeps with nothing dropped, `kept_bytes` with the plan, `peak_bytes` the
    predicted high-water mark (kept, plus the largest dropped segment while recomputed,
    plus the sweep's working set: WORKING_VALUES of the largest value and WORKING_PER_ENTRY
    bytes per entry);
    `extra_work` the flops of recomputation and `evaluation_work` those of one evaluation
    of the program (their ratio: how many extra evaluations the budget costs).

    >>> plan = RecomputePlan(1000, ((0, 5),), 10, 4000, 800, 900, 2e4, 1e5, 2)
    >>> print(plan)                                 # doctest: +NORMALIZE_WHITESPACE
    memory_budget 1000 B: 1 of 2 segments recomputed (5 of 10 entries), keeping 800 B
    (stored: 3.9 KiB), peak 900 B predicted, for 0.2 extra evaluations
    """

    budget: int
    ranges: tuple
    entries: int
    stored_bytes: int
    kept_bytes: int
    peak_bytes: int
    extra_work: float
    evaluation_work: float
    segments: int
    opcodes: tuple = ()
    working_bytes: int = 0

    @property
    def tape_peak_bytes(self) -> int:
        """The predicted peak of the tape alone (without the sweep's working set)."""
        return self.peak_bytes - self.working_bytes

    @property
    def extra_evaluations(self) -> float:
        return self.extra_work / max(self.evaluation_work, 1e-300)

    @property
    def dropped_entries(self) -> int:
        return sum(stop - start for start, stop in self.ranges)

    def __str__(self) -> str:
        if not self.ranges:
            return (f"memory_budget {_bytes(self.budget)}: the stored tape "
                    f"({_bytes(self.stored_bytes)}) fits; nothing recomputed")
        return (f"memory_budget {_bytes(self.budget)}: {len(self.ranges)} of "
                f"{self.segments} segments recomputed ({self.dropped_entries} of "
                f"{self.entries} entries), keeping {_bytes(self.kept_bytes)} (stored: "
                f"{_bytes(self.stored_bytes)}), peak {_bytes(self.peak_bytes)} predicted, "
                f"for {self.extra_evaluations:.2g} extra evaluations")


def _bytes(x: float) -> str:
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if x >= scale:
            return f"{x / scale:.1f} {unit}"
    return f"{int(x)} B"


def _cut(weights: np.ndarray, k: int) -> np.ndarray:
    """Start positions of about k consecutive segments of equal total weight."""
    total = np.cumsum(weights, dtype=float)
    if total[-1] <= 0:
        return np.arange(0, len(weights), max(len(weights) // k, 1))
    ends = np.searchsorted(total, total[-1] * np.arange(1, k) / k, side="left") + 1
    return np.unique(np.concatenate([[0], ends[ends < len(weights)]]))


#: Bytes an infinite budget stands for (every plan fits; the stored tape is chosen).
UNLIMITED = 1 << 62


def check_budget(budget) -> int:
    """A memory budget as a positive int of bytes (infinity: UNLIMITED), or a ValueError
    naming the bad one."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer, np.floating)) \
            or not budget >= 1:
        raise ValueError(f"memory_budget must be a positive number of bytes, not {budget!r}")
    return int(min(budget, UNLIMITED))


def plan_recompute(facts: Footprint, budget: int) -> RecomputePlan:
    """The cheapest choice of dropped segments whose predicted peak fits in `budget`
    bytes (times BUDGET_SHARE); `MemoryBudgetError` when none does."""
    budget = check_budget(budget)
    best, lowest, stored = _search(facts, BUDGET_SHARE * budget, budget)
    if best is None:
        raise MemoryBudgetError(
            f"memory_budget={_bytes(budget)} is below what this program can be reversed "
            f"in: its tape keeps {_bytes(stored)} and the sweep's working set takes "
            f"{_bytes(_working(facts))} (its bookkeeping per entry, the largest values, a "
            f"checkpointed loop's states), and no choice of recomputed segments "
            f"(up to {min(facts.entries, MAX_SEGMENTS)}) brings the predicted peak under "
            f"{_bytes(BUDGET_SHARE * budget)} ({BUDGET_SHARE:.0%} of the budget; the least "
            f"found is {_bytes(lowest)}, a budget of "
            f"{_bytes(math.ceil(lowest / BUDGET_SHARE))}); "
            "raise the budget, or wrap its loops in ad.loop(..., checkpoints=...)")
    return best


def budget_range(facts: Footprint) -> tuple[int, int]:
    """The least budget any plan fits in and the least the stored tape fits in (bytes):
    budgets between them recompute, above the second nothing is.

    >>> import numpy as np, ad.numpy as anp
    >>> from ad.graph import measure
    >>> least, stored = budget_range(footprint(measure(lambda x: anp.sum(anp.sin(x)),
    ...                                                np.ones(10))))
    >>> least <= stored
    True
    """
    _, lowest, stored = _search(facts, -1.0, 1)
    working = _working(facts)
    return (math.ceil(lowest / BUDGET_SHARE),
            math.ceil((stored + working) / BUDGET_SHARE))


def _working(facts: Footprint) -> int:
    """The sweep's working set: WORKING_VALUES of the largest value, WORKING_PER_ENTRY
    bytes per entry, and the most any one entry's VJP holds while it runs (a checkpointed
    loop's states: `Primitive.sweep_bytes`)."""
    transient = 0 if facts.transient is None else int(facts.transient.max(initial=0))
    return (WORKING_VALUES * int(facts.value_bytes.max(initial=0))
            + WORKING_PER_ENTRY * facts.entries + transient)


def _search(facts: Footprint, limit: float, budget: int):
    """(the cheapest plan whose predicted peak is at most `limit`, or None; the least
    predicted peak seen; the stored tape's bytes)."""
    n = facts.entries
    evaluation = float(facts.work.sum())
    nothing = np.zeros(n, bool)
    stored = facts.held_bytes(nothing, np.zeros(1, np.int64), np.zeros(n, np.int64))
    working = _working(facts)
    make = lambda ranges, kept, peak, extra, segments: RecomputePlan(   # noqa: E731
        int(budget), ranges, n, stored, kept, peak, extra, evaluation, segments,
        facts.opcodes, working)
    if stored + working <= limit or n == 0:
        return make((), stored, stored + working, 0.0, 1), stored + working, stored
    best, least, lowest = None, math.inf, stored + working
    weights = facts.fresh + facts.out_bytes
    k = 1
    while True:
        starts = _cut(weights, k)
        lengths = np.diff(np.append(starts, n))
        segment_of = np.repeat(np.arange(len(starts)), lengths)
        # a segment being recomputed holds its residuals (fresh, and the values they hold
        # that it produces) and, for a moment, one more result
        produced_held = segment_of[facts.held_entry] == segment_of[np.maximum(
            facts.producer[facts.held_value], 0)]
        produced_held &= facts.producer[facts.held_value] >= 0
        full = np.bincount(segment_of, facts.fresh, len(starts)).astype(float)
        inner = np.unique(facts.held_value[produced_held])
        np.add.at(full, segment_of[facts.producer[inner]], facts.value_bytes[inner])
        full += np.maximum.reduceat(facts.out_bytes, starts)
        cost = np.bincount(segment_of, facts.work, len(starts))
        # a segment's saving when dropped alone, roughly: what it holds minus its inputs
        own = full - np.maximum.reduceat(facts.out_bytes, starts)
        order = np.argsort(-own / np.maximum(cost, 1.0), kind="stable")
        order = order[own[order] > 0]

        def peak_of(count: int) -> tuple[int, int]:
            dropped_segments = np.zeros(len(starts), bool)
            dropped_segments[order[:count]] = True
            kept = facts.held_bytes(dropped_segments[segment_of], starts, segment_of)
            return kept, kept + int(full[dropped_segments].max(initial=0)) + working

        lo, hi = 0, len(order)                       # the fewest segments that fit
        all_dropped = peak_of(hi)[1] if hi else stored + working
        lowest = min(lowest, all_dropped)
        if hi and all_dropped <= limit:
            while lo < hi:
                mid = (lo + hi) // 2
                if peak_of(mid)[1] <= limit:
                    hi = mid
                else:
                    lo = mid + 1
            extra = float(cost[order[:hi]].sum())
            if extra < least:
                kept, peak = peak_of(hi)
                chosen = np.sort(order[:hi])
                ranges = tuple((int(starts[s]), int(starts[s] + lengths[s])) for s in chosen)
                best, least = make(ranges, kept, peak, extra, len(starts)), extra
        if k >= min(n, MAX_SEGMENTS):
            break
        k = min(2 * k, n, MAX_SEGMENTS)
    return best, lowest, stored


__all__ = ["ENTRY_FLOPS", "STORE_ALL", "WORKING_VALUES", "WORKING_PER_ENTRY", "BUDGET_SHARE",
           "MemoryBudgetError", "check_budget", "Footprint", "footprint", "RecomputePlan",
           "plan_recompute", "budget_range"]
