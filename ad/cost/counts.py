"""Counting and prediction: what a recorded program costs, and what each mode would cost.

* `tape_counts` walks a tape once (through `Tape.entries`, without residuals) and sums
  each primitive's own cost entry (`primitive.counts(in_shapes, out_shape, params)`,
  declared in the catalogue; there is no second table here), plus bytes moved, the peak of
  live values, and per primitive the work of each mode (`ad.cost.calibration.entry_work`).
  Equal entries (the same primitive, shapes and params: a loop's body) form one group,
  counted once (and remembered for the process, `_GROUPS`) and priced once.
* `predict` prices those counts in seconds with a calibration table
  (`ad.cost.calibration`, measured by `python -m ad.calibrate`): the time of f, of one JVP,
  of one VJP, and of the full Jacobian by forward mode (n directions in ceil(n / chunk)
  vector-mode passes) and by reverse mode (one recording, m cotangents in ceil(m / chunk)
  batched sweeps), with the peak memory of each and the terms that dominate. The passes
  come from `ad.tape.plan_blocks`, the same plan the transforms execute. `CostReport`
  prints the table and says which mode it chose and why; `jacobian(mode="auto")` uses it.

Imports `ad.primitive`, `ad.tape`, `ad.graph` and `ad.cost.calibration`; never the
catalogue (facts come from the primitive objects on the tape) or the transforms.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import operator
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ad.cost.calibration import (Calibration, current, entry_elements, entry_work, kind_of,
                                 variant)
from ad.cost.memory import STORE_ALL, RecomputePlan, budget_range, footprint, plan_recompute
from ad.graph import Graph, measure, trace
from ad.primitive import Primitive, float_dtype, primal_value, shape_of
from ad.tape import CONSTANT, BlockPlan, Tape, plan_blocks


# ----------------------------------------------------------------------------- counting
# Not frozen: a frozen dataclass sets each field through object.__setattr__ (4 us for these
# 23), and the selection makes one per decision. Read-only by convention.
@dataclass(eq=True)
class ProgramCounts:
    """What one evaluation of a traced program costs, summed from the catalogue's entries.

    `flops`, `jvp`, `vjp` (per direction) and `saved` (elements the tape keeps) are sums of
    `Primitive.counts`; `bytes` is the traffic of reading every input and writing every output
    of every primitive; `peak_live` the most elements alive at once (values still needed).
    """

    n: int
    m: int
    nodes: int
    edges: int
    flops: float
    jvp: float
    vjp: float
    saved: float
    bytes: float
    peak_live: float
    itemsize: int = 8
    #: JVP flops (per direction) spent on the identity seed of a single-input program: zero
    #: in a forward pass that seeds the whole identity at once (matmul skips A @ I).
    seed_jvp: float = 0.0
    #: The leaf shapes of the inputs and outputs: the block planner sizes passes from them.
    in_shapes: tuple = ()
    out_shapes: tuple = ()
    #: A primitive on the path that has a VJP only (a custom_vjp function): forward mode
    #: cannot go through it, so only reverse mode is on offer.
    reverse_only: str | None = None
    #: Per line of the calibration table (a primitive, or its `variant` with constant
    #: arguments): (line, kind, applications, value work, JVP work per direction, VJP work
    #: per cotangent, JVP work on an identity seed that costs nothing), summed over its
    #: entries (`entry_work`): what the calibration table prices.
    by_primitive: tuple = ()
    #: Elements (per cotangent) added into accumulators: a value read by r entries gets r
    #: contributions, r - 1 of them added (none for readers that fuse the addition).
    fan_in: float = 0.0
    #: Per group of equal entries (the same primitive on the same shapes and params):
    #: its line's row in `by_primitive`, how many entries it has, its work per entry and
    #: mode (value, JVP, VJP: columns of `entry_work`), the JVP work identity seeds make
    #: free (over all its entries), the elements one direction's rule reads and writes (its
    #: output and traced arguments: a block of k directions streams k times as many) and
    #: the elements its value moves. The calibration's memory curve prices each group by
    #: its block size.
    group_line: tuple = field(default=(), compare=False)
    group_tally: tuple = field(default=(), compare=False)
    group_work: tuple = field(default=(), compare=False)
    group_seed: tuple = field(default=(), compare=False)
    group_touched: tuple = field(default=(), compare=False)
    group_moved: tuple = field(default=(), compare=False)
    #: What predictions with one calibration table reuse (the priced work per line).
    memo: dict = field(default_factory=dict, compare=False, repr=False)


def tape_counts(tape: Tape, input_ids: Sequence[int], input_sizes: Sequence[int],
                output_ids: Sequence[int | None], m: int | None = None,
                itemsize: int = 8, out_shapes: Sequence[tuple] | None = None) -> ProgramCounts:
    """Count a recorded tape: one walk (`Tape.entries`, without residuals) finds each
    entry's group, then the values' bookkeeping (sizes, readers, the live-value peak, the
    fan-in, identity seeds) runs over the id columns, in NumPy on a long tape. `out_shapes`
    (default: those of the traced outputs) are what `predict` plans the Jacobian's blocks
    with.

    >>> import numpy as np, ad
    >>> g = ad.trace(lambda x: ad.numpy.sum(x * x), np.ones(4))
    >>> c = tape_counts(g.tape, g.inputs, [4], g.outputs)
    >>> c.flops, c.nodes, c.n, c.m      # multiply: 4, sum: 4
    (8.0, 2, 4, 1)
    """
    shapes = tape.shapes
    groups, gids = _groups(tape)
    output_ids = [o for o in output_ids if o is not None]
    values = _values_in_arrays if len(gids) >= ARRAYS_FROM else _values_in_lists
    sizes, edges, peak, fan_in, tally, seed_tally = values(
        tape, groups, gids, input_ids, input_sizes, output_ids)

    flops = jvp = vjp = saved = traffic = seed_jvp = 0.0
    work: dict[str, list] = {}      # line -> [kind, applications, value, jvp, vjp, seed]
    reverse_only = None
    for (primitive, counts, _, works, _, moved, line), times, seeds in zip(
            groups, tally, seed_tally):
        flops += times * counts.flops
        jvp += times * counts.jvp
        vjp += times * counts.vjp
        saved += times * counts.saved
        traffic += times * itemsize * moved
        seed_jvp += seeds * counts.jvp
        row = work.get(line)
        if row is None:
            row = work[line] = [kind_of(primitive), 0, 0.0, 0.0, 0.0, 0.0]
        row[1] += times
        for j in range(3):
            row[2 + j] += times * works[j]
        row[5] += seeds * counts.jvp
        if not primitive.forward_mode and reverse_only is None:
            reverse_only = primitive.name
    row_of = {line: j for j, line in enumerate(work)}
    if out_shapes is None:
        out_shapes = [shapes[o] for o in output_ids]
    if m is None:
        m = sum(int(sizes[o]) for o in output_ids)
    return ProgramCounts(
        int(sum(input_sizes)), int(m), len(gids), edges, flops, jvp, vjp, saved,
        traffic, peak, itemsize, seed_jvp, tuple(shapes[i] for i in input_ids),
        tuple(map(tuple, out_shapes)), reverse_only,
        tuple((name, *row) for name, row in work.items()), fan_in,
        tuple([row_of[g[6]] for g in groups]), tuple(tally), tuple([g[3] for g in groups]),
        tuple([s * g[1].jvp for g, s in zip(groups, seed_tally)]),
        tuple([g[4] for g in groups]), tuple([g[5] for g in groups]))


#: From this many entries on, `tape_counts` does the values' bookkeeping in NumPy: some 30
#: NumPy calls (about 40 us), then 0.2 us per entry where the lists take 0.5 us (even at
#: about 110 entries; the walk that finds the groups, 0.5 us per entry, is the same).
ARRAYS_FROM = 128


def _groups(tape: Tape) -> tuple[list[tuple], list[int]]:
    """The walk: each distinct entry (a group: the same primitive on the same shapes and
    params, a loop's body) counted once (`_group`, and remembered for the process in
    `_GROUPS`), and per entry its group's number."""
    shapes = tape.shapes
    shape = shapes.__getitem__
    memo: dict = {}
    groups: list[tuple] = []
    gids: list[int] = []
    record = gids.append
    for primitive, params, parents, constants, out in tape.entries(fields=_COUNTED):
        # the arguments' shapes (a constant's reads as shapes[-1], the same for every entry)
        # and, with constants, which arguments they are and their types: a Python or NumPy
        # scalar's shape is (), any other constant's goes into the key
        if constants is None:
            args = tuple(map(shape, parents))
        else:
            kinds = tuple(map(type, constants))
            args = (tuple(map(shape, parents)), tuple(map(CONSTANT.__eq__, parents)),
                    kinds if _SCALARS.issuperset(kinds) else tuple(map(_constant_shape, constants)))
        # the output's shape too: a boolean mask's selection is as long as its data says
        key = (primitive, args, shapes[out], tuple(params.items())) if params else \
            (primitive, args, shapes[out])
        try:
            group = memo.get(key)
        except TypeError:       # slices, index arrays: keyed by what they hold
            try:
                key = (primitive, args, shapes[out], _frozen(params))
                group = memo.get(key)
            except TypeError:   # something else: a group of its own
                key = group = None
        if group is None:
            facts = _GROUPS.get(key) if key is not None else None
            if facts is None:
                facts = _group(primitive, params, parents, tape.in_shapes(parents, constants),
                               tape.out_shape(primitive, out))
                if key is not None and _held(params) <= _GROUPS_ARRAY_BYTES:
                    if len(_GROUPS) >= _GROUPS_KEPT:
                        _GROUPS.clear()
                    _GROUPS[key] = facts
            group = len(groups)
            if key is not None:
                memo[key] = group
            groups.append(facts)
        record(group)
    return groups, gids


def _seeds(primitive: Primitive, parents: tuple, constants: tuple | None, out: int,
           seeded: set) -> int:
    """Whether an entry's JVP meets an identity seed (1) or passes one on (`seeded` grows):
    one traced argument, still an identity (a single-input program's seed)."""
    if (len(parents) == 1 if constants is None else
            sum(p != CONSTANT for p in parents) == 1) and max(parents) in seeded:
        if primitive.identity_seed == "keeps":
            seeded.add(out)
        else:
            return 1
    return 0


def _values_in_lists(tape: Tape, groups: list[tuple], gids: list[int], input_ids, input_sizes,
                     output_ids: list[int]) -> tuple:
    """The values' bookkeeping in Python lists (a short tape): per value its size and last
    reader; the edges, the live-value peak (inputs from the start, each result from its
    entry until its last reader), the fan-in (a value read by r entries gets r
    contributions, r - 1 of them added, none for readers that fuse the addition), per group
    its entries and those meeting the identity seed."""
    shapes = tape.shapes
    n_values = len(shapes)
    # per value id, and one slot more at the end: a constant's parent id (-1) lands there
    sizes = [0] * (n_values + 1)
    for i, size in zip(input_ids, input_sizes):
        sizes[i] = int(size)
    last_use = [-1] * (n_values + 1)  # tape position after which a value is dead
    reads = [0] * (n_values + 1)
    fused: dict[int, int] = {}        # reads whose VJP adds into the accumulator in place
    seeded = set(input_ids) if len(input_ids) == 1 else None   # tangents still identities
    born: list[int] = []              # per position: the elements its entry creates
    tally = [0] * len(groups)
    seed_tally = [0] * len(groups)    # per group, its entries whose JVP meets the seed
    for position, (group, (parents, constants, out)) in enumerate(
            zip(gids, tape.entries(fields=("parents", "constants", "outs")))):
        for parent in parents:
            last_use[parent] = position
            reads[parent] += 1
        tally[group] += 1
        facts = groups[group]
        primitive = facts[0]
        k = primitive.n_outputs
        if k == 1:
            sizes[out] = size = facts[2]
            last_use[out] = position
        else:
            size = 0
            for o in range(out, out + k):
                sizes[o] = math.prod(shapes[o])
                size += sizes[o]
                last_use[o] = position
        born.append(size)
        if primitive.fuses_accumulation:
            for parent in parents:
                fused[parent] = fused.get(parent, 0) + 1
        if seeded and primitive.identity_seed is not None:
            seed_tally[group] += _seeds(primitive, parents, constants, out, seeded)
    nodes = len(gids)
    for o in output_ids:
        last_use[o] = nodes
    dying = [0.0] * (nodes + 1)
    held = set(input_ids)
    for i, (last, size) in enumerate(zip(last_use, sizes)):
        if last >= 0 and i not in held:
            dying[last] += size
    live = peak = float(sum(sizes[i] for i in input_ids))
    for size, dead in zip(born, dying):
        live += size
        if live > peak:
            peak = live
        live -= dead
    fan_in = float(sum(max(0, r - 1 - fused.get(i, 0)) * sizes[i]
                       for i, r in enumerate(reads) if r > 1))
    return sizes, sum(reads) - reads[CONSTANT], peak, fan_in, tally, seed_tally


def _values_in_arrays(tape: Tape, groups: list[tuple], gids: list[int], input_ids,
                      input_sizes, output_ids: list[int]) -> tuple:
    """`_values_in_lists` in NumPy over the id columns (a long tape): the same numbers."""
    shapes = tape.shapes
    n_values = len(shapes)
    nodes = len(gids)
    gid = np.array(gids, dtype=np.intp)
    outs = np.array(tape.outs, dtype=np.intp)
    parents = tape.parents
    arity = np.fromiter(map(len, parents), np.intp, nodes)
    flat = np.fromiter(itertools.chain.from_iterable(parents), np.intp, int(arity.sum()))
    flat[flat < 0] = n_values                # a constant's slot, as in the lists
    reader = np.repeat(np.arange(nodes), arity)
    k = np.array([g[0].n_outputs for g in groups], np.intp)[gid]
    single = k == 1
    sizes = np.zeros(n_values + 1)
    sizes[list(input_ids)] = input_sizes
    born = np.where(single, np.array([float(g[2]) for g in groups])[gid], 0.0)
    sizes[outs[single]] = born[single]
    last_use = np.full(n_values + 1, -1, np.intp)
    last_use[outs] = np.arange(nodes)
    for position in np.flatnonzero(~single).tolist():   # several outputs: consecutive ids
        first = int(outs[position])
        ids = range(first, first + int(k[position]))
        sizes[ids] = [math.prod(shapes[o]) for o in ids]
        last_use[ids] = position
        born[position] = sizes[ids].sum()
    np.maximum.at(last_use, flat, reader)
    last_use[output_ids] = nodes
    reads = np.bincount(flat, minlength=n_values + 1)
    fuses = np.array([g[0].fuses_accumulation for g in groups])
    fused = np.bincount(flat, weights=fuses[gid][reader], minlength=n_values + 1) \
        if fuses.any() else 0.0
    dies = last_use >= 0
    dies[list(input_ids)] = False
    dying = np.bincount(last_use[dies], weights=sizes[dies], minlength=nodes + 1)
    start = float(sum(float(sizes[i]) for i in input_ids))
    live = start + np.cumsum(born) - np.concatenate(([0.0], np.cumsum(dying[:nodes - 1])))
    peak = max(start, float(live.max())) if nodes else start
    added = np.maximum(0, reads - 1 - fused) * sizes
    fan_in = float(added[reads > 1].sum())
    tally = np.bincount(gid, minlength=len(groups)).tolist()
    seed_tally = [0] * len(groups)
    seeding = [j for j, g in enumerate(groups) if g[0].identity_seed is not None]
    if len(input_ids) == 1 and seeding:      # in order: a seed passed on reaches later entries
        seeded = set(input_ids)
        constants = tape.constants
        for position in np.flatnonzero(np.isin(gid, seeding)).tolist():
            group = gids[position]
            seed_tally[group] += _seeds(groups[group][0], parents[position],
                                        constants[position], int(outs[position]), seeded)
    return sizes, int(reads.sum() - reads[CONSTANT]), peak, fan_in, tally, seed_tally


#: Types of constants whose shape is (): what a constant argument's key may name by type.
_SCALARS = frozenset({type(None), bool, int, float, complex, *(
    np.dtype(code).type for code in "?bBhHiIlLqQefdgFDG")})


def _constant_shape(value) -> tuple | None:
    return None if value is None else shape_of(value)



#: The groups seen in this process, by key: an entry's counts and work depend on its
#: primitive, shapes and params only, so a program counted again (a fresh closure per
#: Newton step, a new signature of the same code) finds most of them here. At most
#: _GROUPS_KEPT are kept (then they are all let go); only keys of plain params (`_held`).
_GROUPS: dict = {}
_GROUPS_KEPT = 1 << 14
#: A key holding index arrays of more bytes than this is used for one tape only (a large
#: gather's positions are not worth keeping for the process).
_GROUPS_ARRAY_BYTES = 4096


def _held(value) -> float:
    """The bytes of index arrays in params, or infinity when they hold anything but plain
    data (numbers, strings, shapes, slices, arrays): a key holding a checkpointed function
    (and what it closes over) is not kept for the process."""
    if isinstance(value, dict):
        return sum(map(_held, value.values()))
    if isinstance(value, (tuple, list)):
        return sum(map(_held, value))
    if isinstance(value, slice):
        return _held((value.start, value.stop, value.step))
    if isinstance(value, np.ndarray):
        return value.nbytes
    plain = value is None or isinstance(value, (bool, int, float, complex, str, np.generic,
                                                np.dtype))
    return 0 if plain else math.inf


def _frozen(value):
    """A hashable stand-in for params that hold slices, lists or arrays, equal exactly
    when the values are (TypeError for anything else unhashable)."""
    if isinstance(value, dict):
        return tuple((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, (tuple, list)):
        return (type(value), *map(_frozen, value))
    if isinstance(value, slice):
        return (slice, value.start, value.stop, value.step)
    if isinstance(value, np.ndarray):
        return (np.ndarray, value.dtype.str, value.shape, value.tobytes())
    hash(value)
    return value


#: The columns `tape_counts` reads (no residuals: a dropped segment is not recomputed).
_COUNTED = ("opcodes", "params", "parents", "constants", "outs")


def recorded_counts(tape: Tape, input_ids: Sequence[int], in_primals: Sequence,
                    output_ids: Sequence[int | None], out_primals: Sequence) -> ProgramCounts:
    """`tape_counts` of a recording from its inputs' and outputs' values (sizes, itemsize,
    the outputs as the Jacobian's rows): what the transforms predict from."""
    shapes, dtypes = tape.shapes, tape.dtypes      # the tape noted them when recording
    out_shapes = [shape_of(p) if o is None else shapes[o] for o, p in zip(output_ids, out_primals)]
    itemsize = max((float_dtype(x).itemsize if d is None else d.itemsize if d.kind in "fc"
                    else 8 for d, x in zip(map(dtypes.__getitem__, input_ids), in_primals)),
                   default=8)
    return tape_counts(tape, input_ids, [math.prod(shapes[i]) for i in input_ids],
                       output_ids, sum(map(math.prod, out_shapes)), itemsize, out_shapes)


def _group(primitive, params, parents, in_shapes, out_shape) -> tuple:
    """What one entry costs: (primitive, counts, output size, work per mode, elements a
    direction's rule touches, elements moved by the value, the line that prices it)."""
    traced = [parent != CONSTANT for parent in parents]
    counts = primitive.counts(list(in_shapes), out_shape, params, traced)
    out_size, touched, moved = entry_elements(
        in_shapes, [out_shape] if primitive.n_outputs == 1 else out_shape, traced)
    return (primitive, counts, out_size, entry_work(counts, in_shapes, out_size, traced),
            touched, moved, variant(primitive.name, traced))


def count(graph: Graph) -> ProgramCounts:
    """Counts of a traced graph.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> count(ad.trace(anp.tanh, np.zeros(10))).flops    # the catalogue: tanh is 20 flops
    200.0
    """
    itemsize = max((np.dtype(_dtype(graph.values[i])).itemsize for i in graph.inputs),
                   default=8)
    return tape_counts(graph.tape, graph.inputs, [graph.nodes[i].size for i in graph.inputs],
                       graph.outputs, graph.m, itemsize,
                       [np.shape(v) for v in graph.output_values])


def _dtype(value) -> np.dtype:
    dtype = getattr(primal_value(value), "dtype", None)
    return np.dtype(np.float64) if dtype is None else dtype

# ----------------------------------------------------------------------------- predictions
@dataclass(eq=True)   # read-only by convention (not frozen: see ProgramCounts)
class ModeCost:
    """Predicted cost of one way of computing derivatives.

    `seconds` is the predicted time (what strategies are ranked by; `cost` is the same);
    `overhead` the part of it spent in the engines' own terms (per entry, per pass, per
    call, seeds and assembly) rather than in the primitives' rules; `terms` the largest
    contributions as (what, seconds), largest first; `flops` the catalogue's flop count;
    `passes` forward passes or sweeps; `peak_bytes` the memory high-water mark (values,
    tangents, tape, cotangents).
    """

    label: str
    directions: int
    passes: int
    flops: float
    seconds: float
    overhead: float
    bytes: float
    peak_bytes: float
    terms: tuple = ()

    @property
    def cost(self) -> float:
        return self.seconds


_second = operator.itemgetter(1)


def _priced(label: str, directions: int, passes: int, flops: float, bytes_: float,
            peak: float, primitive_terms: dict[str, float], engine_terms: dict[str, float]
            ) -> ModeCost:
    overhead = sum(engine_terms.values())
    terms = sorted([*primitive_terms.items(), *engine_terms.items()], key=_second, reverse=True)
    return ModeCost(label, directions, passes, flops, sum(primitive_terms.values()) + overhead,
                    overhead, bytes_, peak, tuple((what, t) for what, t in terms if t > 0))


def _rules(c: ProgramCounts, table: Calibration, value_passes: float, mode: str | None,
           applications: float, directions: float, seeded: bool = False,
           width: float = 1.0) -> dict[str, float]:
    """Seconds per primitive: `value_passes` evaluations of its value, and its `mode` rule
    applied `applications` times per entry on `directions` directions in all, in blocks
    of `width` (the memory curve prices each entry's work by the bytes its block streams)."""
    rows = c.by_primitive
    if not rows:
        return {}
    k = len(rows)
    if c.memo.get("table") is not table:       # what predictions with this table reuse
        c.memo.clear()
        c.memo["table"] = table
    memo = c.memo
    factor, bytes_ = table.memory_factor, c.itemsize
    base = memo.get("value")
    if base is None:
        # streaming primitives pay the memory curve; matrix products and factorisations
        # are blocked for the caches, and their lines are fitted at large sizes already
        streams = memo["streams"] = [rows[j][1] != "other" for j in c.group_line]
        value_work = [0.0] * k
        for j, times, work, moved, streaming in zip(c.group_line, c.group_tally, c.group_work,
                                                    c.group_moved, streams):
            value_work[j] += times * work[0] * (factor(moved * bytes_) if streaming else 1.0)
        base = memo["value"] = (   # per row: its value work, one evaluation's seconds, name
            value_work, [table.line(line, "value", kind)(count, work) for (line, kind, count,
                                                                          *_), work
                         in zip(rows, value_work)],
            [line.split("~")[0] for line, *_ in rows])   # terms name primitives
    value_work, value_seconds, names = base
    out: dict[str, float] = {}
    if mode is None:
        for name, t in zip(names, value_seconds):
            out[name] = out.get(name, 0.0) + value_passes * t
        return out
    key = (mode, seeded, width)
    mode_work = memo.get(key)
    if mode_work is None:
        column, seeds = (1, seeded) if mode == "jvp" else (2, False)
        mode_work = memo[key] = [0.0] * k
        for j, times, work, seed, touched, streaming in zip(
                c.group_line, c.group_tally, c.group_work, c.group_seed, c.group_touched,
                memo["streams"]):
            mode_work[j] += (times * work[column] - (seed if seeds else 0.0)) * (
                factor(width * touched * bytes_, mode) if streaming else 1.0)
    lines = memo.get(mode)
    if lines is None:
        lines = memo[mode] = [table.line(line, mode, kind) for line, kind, *_ in rows]
    for name, line, (_, _, count, *_), value, seconds, work in zip(
            names, lines, rows, value_work, value_seconds, mode_work):
        t = value_passes * seconds + line(applications * count, directions * work,
                                          applications * value)
        out[name] = out.get(name, 0.0) + t
    return out


def _assembly(c: ProgramCounts, table: Calibration, directions: int,
              stored: float | None = None) -> float:
    """Seed blocks and the assembled Jacobian, per element (priced by the Jacobian's size:
    n x m, or the `stored` elements of a sparse one)."""
    stored = c.n * c.m if stored is None else stored
    return table.assembly_seconds(float(directions * (c.n + c.m)), float(stored * c.itemsize))


#: A measured recording is charged at most this many times its predicted seconds as f's
#: own Python (see `own_python`): one-time costs of a first call (loading kernels,
#: imports) are not a price every later run pays.
OWN_PYTHON_CAP = 4.0


def recording_seconds(c: ProgramCounts, table: Calibration | None = None) -> float:
    """Predicted seconds of one recording of f: its value pass and per-entry recording."""
    table = table or current()
    e = table.engine
    value = c.memo.get("value") if c.memo.get("table") is table else None
    if value is None:
        _rules(c, table, 1, None, 0, 0)     # prices the value pass once, into c.memo
        value = c.memo.get("value")
    return e["record_pass"] + c.nodes * e["record_entry"] + (sum(value[1]) if value else 0.0)


def own_python(c: ProgramCounts, recorded: float | None,
               table: Calibration | None = None) -> float:
    """The seconds of one run of f that its counts do not explain, from a measured
    recording (`recorded` seconds): the user's own Python between primitives, ad.numpy's
    argument handling, inner transforms' bookkeeping. Every run of f pays it again (each
    forward pass, the recording); 0 when nothing was measured. At most OWN_PYTHON_CAP
    times the predicted recording."""
    if not recorded:
        return 0.0
    predicted = recording_seconds(c, table)
    return min(max(0.0, recorded - predicted), OWN_PYTHON_CAP * predicted)


def forward_cost(c: ProgramCounts, directions: int, chunk: int,
                 table: Calibration | None = None, stored: float | None = None,
                 python: float = 0.0) -> ModeCost:
    """`directions` tangents pushed in ceil(directions / chunk) vector-mode passes, each a
    fresh evaluation of f on duals; `stored`: the result's elements when it is sparse;
    `python`: f's own Python per run (`own_python`)."""
    table = table or current()
    e = table.engine
    passes = max(1, math.ceil(directions / chunk))   # = BlockPlan.passes(directions)
    width = min(chunk, max(directions, 1))
    seeded = passes == 1 and directions == c.n        # the seed is one identity block
    seed = c.seed_jvp if seeded else 0.0
    rules = _rules(c, table, passes, "jvp", passes, directions, seeded, width)
    engine = {"forward passes (per entry)": passes * c.nodes * e["forward_entry"],
              "pass and call fixed costs": passes * e["forward_pass"] + e["call"],
              "seeds and assembly": _assembly(c, table, directions, stored)}
    if python:
        engine["f's own Python (measured)"] = passes * python
    return _priced("Jacobian by forward mode", directions, passes,
                   passes * c.flops + directions * (c.jvp - seed), c.bytes * (passes + directions),
                   c.itemsize * c.peak_live * (1 + width), rules, engine)


def reverse_cost(c: ProgramCounts, directions: int, chunk: int,
                 table: Calibration | None = None, stored: float | None = None,
                 python: float = 0.0) -> ModeCost:
    """One recording, then `directions` cotangents in ceil(directions / chunk) sweeps;
    `stored`: the result's elements when it is sparse; `python`: f's own Python per run
    (`own_python`), paid once by the recording."""
    table = table or current()
    e = table.engine
    sweeps = max(1, math.ceil(directions / chunk))
    width = min(chunk, max(directions, 1))
    rules = _rules(c, table, 1, "vjp", sweeps, directions, width=width)
    engine = {"recording and sweeps (per entry)":
              c.nodes * (e["record_entry"] + sweeps * e["sweep_entry"]),
              "pass and call fixed costs":
              e["record_pass"] + sweeps * e["sweep_pass"] + e["call"],
              "cotangent accumulation": e["accumulate"] * directions * c.fan_in,
              "seeds and assembly": _assembly(c, table, directions, stored)}
    if python:
        engine["f's own Python (measured)"] = python
    return _priced("Jacobian by reverse mode", directions, sweeps, c.flops + directions * c.vjp,
                   c.bytes * (1 + directions), c.itemsize * (c.saved + c.peak_live * (1 + width)),
                   rules, engine)


@dataclass(eq=True)   # read-only by convention (not frozen: see ProgramCounts)
class CostReport:
    """The predicted costs of f and of its derivatives, and the mode `auto` picks.

    Printing gives a table; `choice` is "forward" or "reverse" and `reason` says why.
    `measured` holds the seconds of calls actually made (`jacobian(mode="auto")` notes its
    chosen mode's after every call, `record_measured` adds more), printed next to the
    prediction.
    """

    counts: ProgramCounts
    chunk: int
    forward: ModeCost
    reverse: ModeCost
    choice: str
    reason: str
    plan: BlockPlan | None = None
    calibration: str = "fixed"
    #: mode -> seconds of the last call actually made in that mode.
    measured: dict = field(default_factory=dict, compare=False)
    #: What `jacobian(mode="auto")`'s first call spent deciding: counting its recording
    #: and predicting (seconds; 0 for a report made otherwise).
    selection_seconds: float = field(default=0.0, compare=False)
    #: The table the prices came from (the rows below are priced on demand with it).
    table: Calibration | None = field(default=None, compare=False, repr=False)
    #: What reverse mode's tape keeps, measured, and what it would recompute under a memory
    #: budget (`ad.cost.memory.RecomputePlan`; `cost_report(memory_budget=)`).
    memory: RecomputePlan | None = field(default=None, compare=False)
    #: The budgets a plan can fit in: (the least any plan fits in, the least the stored tape
    #: fits in), bytes (`ad.cost.memory.budget_range`).
    memory_range: tuple | None = field(default=None, compare=False)
    #: With `cost_report(compile=True)`: the compiled tape's strategies (`ModeCost`s: one
    #: VJP, the Jacobian by forward and by reverse mode, `ad.compiled.compiled_costs`) and
    #: what `jacobian(compile=True)` picks, or why f does not lower.
    compiled: tuple = field(default=(), compare=False)
    compiled_reason: str = field(default="", compare=False)

    # f, one JVP and one VJP: for the table, not for the choice, so priced when asked for
    @functools.cached_property
    def evaluation(self) -> ModeCost:
        c, e = self.counts, self.table.engine
        return _priced("f", 0, 1, c.flops, c.bytes, c.itemsize * c.peak_live,
                       _rules(c, self.table, 1, None, 0, 0),
                       {"evaluation (per entry)": c.nodes * e["eval_entry"]})

    @functools.cached_property
    def jvp(self) -> ModeCost:
        c, e = self.counts, self.table.engine
        return _priced("one JVP", 1, 1, c.flops + c.jvp, 2 * c.bytes,
                       2 * c.itemsize * c.peak_live, _rules(c, self.table, 1, "jvp", 1, 1),
                       {"forward pass (per entry)": c.nodes * e["forward_entry"],
                        "pass fixed cost": e["forward_pass"]})

    @functools.cached_property
    def vjp(self) -> ModeCost:
        c, e = self.counts, self.table.engine
        tape = c.itemsize * c.saved if self.memory is None else self.memory.stored_bytes
        return _priced("one VJP", 1, 1, c.flops + c.vjp, 2 * c.bytes,
                       tape + 2 * c.itemsize * c.peak_live,
                       _rules(c, self.table, 1, "vjp", 1, 1),
                       {"recording and sweep (per entry)":
                        c.nodes * (e["record_entry"] + e["sweep_entry"]),
                        "pass fixed costs": e["record_pass"] + e["sweep_pass"],
                        "cotangent accumulation": e["accumulate"] * c.fan_in})

    @functools.cached_property
    def budgeted(self) -> ModeCost | None:
        """One VJP under the memory budget: the recomputation priced as that share of an
        evaluation of f, the tape's peak the plan's."""
        plan = self.memory
        if plan is None or plan.budget >= STORE_ALL:
            return None
        c, vjp, share = self.counts, self.vjp, plan.extra_evaluations
        extra = share * self.evaluation.seconds
        return ModeCost("one VJP, budget", 1, 1, vjp.flops + share * c.flops,
                        vjp.seconds + extra, vjp.overhead, vjp.bytes + share * c.bytes,
                        plan.tape_peak_bytes + 2 * c.itemsize * c.peak_live,
                        tuple(sorted([*vjp.terms, ("recomputation", extra)],
                                     key=lambda t: -t[1])))

    @property
    def ratio(self) -> float:
        """Predicted forward time / reverse time (> 1 means reverse is cheaper)."""
        return self.forward.seconds / max(self.reverse.seconds, 1e-300)

    def record_measured(self, mode: str, seconds: float) -> None:
        """Note a measured time for `mode` ("forward" or "reverse"), printed next to the
        prediction."""
        self.measured[mode] = float(seconds)

    def __str__(self) -> str:
        c = self.counts
        head = (f"cost of f: R^{c.n} -> R^{c.m}, {c.nodes} primitive applications, "
                f"{c.edges} edges (chunk size {self.chunk}, {c.itemsize}-byte floats; "
                f"calibration: {self.calibration})")
        measured = self.measured
        rows = [("", "flops", "predicted", "measured", "largest terms", "peak memory",
                 "passes")]
        compiled = tuple((mc, "compiled " + mc.label.rsplit(" ", 2)[-2])
                         if mc.label.endswith(" mode") else (mc, None) for mc in self.compiled)
        for mc, mode in ((self.evaluation, None), (self.jvp, None), (self.vjp, None),
                         (self.budgeted, None), (self.forward, "forward"),
                         (self.reverse, "reverse"), *compiled):
            if mc is None:
                continue
            rows.append((mc.label, _num(mc.flops), _seconds(mc.seconds),
                         _seconds(measured[mode]) if mode in measured else "",
                         _terms(mc), _bytes(mc.peak_bytes), _passes(mc)))
        widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
        lines = [head]
        for r in rows:
            lines.append("  " + r[0].ljust(widths[0]) + "".join(
                "  " + (cell.ljust(w) if k == 3 else cell.rjust(w))
                for k, (cell, w) in enumerate(zip(r[1:], widths[1:]))))
        lines.append(f"auto mode: {self.reason}")
        if self.compiled_reason:
            lines.append(f"compiled tape: {self.compiled_reason}")
        if self.memory is not None:
            lines.append(f"memory: forward mode keeps no tape (peak {_bytes(self.jvp.peak_bytes)}"
                         f" for one JVP: live values and their tangents); reverse mode's tape "
                         f"keeps {_bytes(self.memory.stored_bytes)} for its sweep")
            if self.memory_range is not None:
                least, most = self.memory_range
                lines.append(f"  memory_budget= from {_bytes(least)} (the least any plan of "
                             f"recomputed segments fits in) to {_bytes(most)} (the stored "
                             "tape fits)")
            if self.budgeted is not None:
                lines.append(f"  {self.memory}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:   # IPython shows the table
        p.text(str(self))


def _terms(mc: ModeCost, how_many: int = 2) -> str:
    total = max(mc.seconds, 1e-300)
    return ", ".join(f"{what} {100 * t / total:.0f}%" for what, t in mc.terms[:how_many])


def _seconds(t: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale or unit == "us":
            return f"{t / scale:.3g} {unit}"
    return ""  # pragma: no cover


def _passes(mc: ModeCost) -> str:
    label = mc.label.removeprefix("compiled ")
    if label.startswith("Jacobian by forward"):
        return f"{mc.passes} x {min(mc.directions, math.ceil(mc.directions / mc.passes))} dirs"
    if label.startswith("Jacobian by reverse"):    # a compiled tape records once, earlier
        recording = "" if mc.label.startswith("compiled") else "rec + "
        return f"{recording}{mc.passes} x {math.ceil(mc.directions / mc.passes)} cots"
    return "1"


def _num(x: float) -> str:
    return f"{x:.3g}" if x < 1e4 else f"{x:.2e}"


def _bytes(x: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if x < 1024 or unit == "GiB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return f"{x:.1f} TiB"  # pragma: no cover


def predict(counts: ProgramCounts, chunk_size: int | BlockPlan | None = None,
            table: Calibration | None = None, recorded: float | None = None) -> CostReport:
    """Predicted times from counts, and the mode with the lower predicted Jacobian time.

    The passes are those of `plan_blocks(counts.in_shapes, counts.out_shapes, chunk_size)`
    (or of the `BlockPlan` given), which is what the transforms execute; the prices are
    `table`'s (default: `ad.cost.calibration.current()`). `recorded`: the measured
    seconds of the recording the counts came from; what the counts do not explain of it
    is f's own Python, charged to every run of f (`own_python`).

    >>> import numpy as np, ad, ad.numpy as anp
    >>> r = predict(count(ad.trace(lambda x: anp.sum(anp.tanh(x)), np.ones(500))))
    >>> r.choice
    'reverse'
    """
    c = counts
    table = table or current()
    plan = chunk_size if isinstance(chunk_size, BlockPlan) else plan_blocks(
        c.in_shapes or [(c.n,)], c.out_shapes or [(c.m,)], chunk_size)
    chunk = plan.chunk
    python = own_python(c, recorded, table)
    fwd = forward_cost(c, c.n, chunk, table, python=python)
    rev = reverse_cost(c, c.m, chunk, table, python=python)
    choice, reason = _choose(fwd, rev, c.n, c.m)
    if c.reverse_only is not None:
        choice, reason = "reverse", (f"reverse mode: forward mode cannot go through "
                                     f"{c.reverse_only}, which has a VJP only")
    return CostReport(c, chunk, fwd, rev, choice, reason, plan, table.source, table=table)


def _choose(fwd: ModeCost, rev: ModeCost, n: int, m: int) -> tuple[str, str]:
    if fwd.seconds <= rev.seconds:
        choice, win, lose = "forward", fwd, rev
    else:
        choice, win, lose = "reverse", rev, fwd
    factor = lose.seconds / max(win.seconds, 1e-300)
    reason = (f"{choice} mode, predicted {factor:.3g}x faster ({_seconds(win.seconds)} vs "
              f"{_seconds(lose.seconds)}: {fwd.passes} forward pass(es) for n={n} vs "
              f"a recording and {rev.passes} sweep(s) for m={m})")
    naive = "forward" if n < m else "reverse" if n > m else None
    if naive is not None and naive != choice:
        reason += (f"; comparing n with m alone would pick {naive}, but "
                   + ("the per-pass and per-entry costs of the extra passes outweigh it"
                      if win.overhead < lose.overhead else
                      "the calibrated JVP and VJP rules differ enough to reverse it"))
    if win.terms:
        reason += f"; {choice} mode's largest term: {win.terms[0][0]}"
    return choice, reason


#: What prices a compiled tape for `cost_report(compile=True)`: `ad.compiled` puts its
#: `compiled_costs` here when imported (this layer does not import the compiled engine).
COMPILED_PRICER: list[Callable] = []


def cost_report(f: Callable, *args, argnums: int | Sequence[int] = 0,
                chunk_size: int | None = None, table: Calibration | None = None,
                memory_budget: int | None = None, compile: bool = False,
                **kwargs) -> CostReport:
    """Trace `f` at `args` and predict what each way of differentiating it costs; a
    second run measures what reverse mode's tape keeps (`report.memory`), and with
    `memory_budget` (bytes) what it would recompute to fit (the "one VJP, budget" row:
    the plan `grad(f, memory_budget=)` executes). With `compile=True`, f is lowered too
    and the compiled tape's strategies are priced beside the interpreted ones
    (`report.compiled`; the rows labelled "compiled"). With this machine's prices (no
    `table`), the Jacobian rows also charge f's own Python, what the second run's time
    shows beyond its counts ("f's own Python (measured)"); a given table prices the counts
    alone, deterministically.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> r = ad.cost_report(lambda x: anp.tanh(x[:, None] * x), np.ones(3))
    >>> r.counts.n, r.counts.m, r.choice
    (3, 9, 'forward')
    """
    graph = trace(f, *args, argnums=argnums, **kwargs)
    start = time.perf_counter()          # a second run of f, recorded: with this machine's
    tape = measure(f, *args, argnums=argnums, **kwargs)   # prices its time also prices f's
    recorded = time.perf_counter() - start                # own Python (`own_python`); a
    report = predict(count(graph), chunk_size, table,     # given table prices the counts
                     recorded=recorded if table is None else None)   # alone
    facts = footprint(tape)
    compiled, why = (), ""
    if compile:              # priced by the compiled engine (it lowers f), which registers
        if not COMPILED_PRICER:
            raise RuntimeError("cost_report(compile=True): ad.compiled is not imported")
        compiled, why = COMPILED_PRICER[0](f, args, kwargs, argnums, chunk_size, report)
    return dataclasses.replace(report, memory=plan_recompute(
        facts, STORE_ALL if memory_budget is None else memory_budget),
        memory_range=budget_range(facts), compiled=compiled, compiled_reason=why)


__all__ = ["ProgramCounts", "tape_counts", "recorded_counts", "count", "ModeCost", "forward_cost",
           "reverse_cost", "CostReport", "predict", "cost_report"]
