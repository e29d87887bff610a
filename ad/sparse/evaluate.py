"""Sparse Jacobians and Hessians by compressed passes, in the strategy the cost model prices
cheapest.

For each input signature, `prepare` detects the pattern once (`ad.sparse.detect`),
colours it (`ad.sparse.coloring`: columns, rows, both, or star for a Hessian) and prices
every strategy with the calibrated cost model: dense forward (n tangents), dense reverse
(m cotangents), column-coloured forward (one tangent per column colour), row-coloured
reverse (one cotangent per row colour) and bicoloured (both, tried when a dense row and a
dense column make both one-sided colourings large: `BICOLOR_WHEN`); for a Hessian, dense or
star-coloured forward-over-reverse. The passes are the block planner's
(`plan_blocks(..., groups=...)`), priced by `ad.cost.counts.forward_cost` /
`reverse_cost` on the recording's own counts. Later calls with the same signature reuse
the pattern, colouring and choice (a local pattern is re-detected when the inputs change).
Results are `scipy.sparse.csr_array`s with one row per output element and one column per
input element (leaves flattened in order), or dense arrays shaped like `jacobian`'s
(`dense_output=True`).

Imports numpy, `ad.sparse.detect`, `ad.sparse.coloring`, `ad.tape`, `ad.cost`,
`ad.primitive`, `ad.recording` and `ad.tree`.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ad import tree
from ad.cost.calibration import current
from ad.cost.counts import forward_cost, recorded_counts, reverse_cost
from ad.context import inside_transform
from ad.errors import DTypeError, TracerConversionError
from ad.primitive import float_dtype, value_dtype
from ad.recording import (Recording, as_scalar, check_callable, flatten_inputs, name_of,
                          normalize_argnums, per_argnum, push_forward)
from ad.sparse import coloring
from ad.sparse.detect import Detected, SparsityError, detect, gradient_of, require_scipy
from ad.tape import chunk_of, plan_blocks

#: The strategies a sparse Jacobian is computed by, in the report's order.
JACOBIAN_STRATEGIES = ("dense forward", "dense reverse", "column-coloured forward",
                       "row-coloured reverse", "bicoloured")
HESSIAN_STRATEGIES = ("dense", "star-coloured")
#: What `mode=` names for a sparse Jacobian, and the strategy it fixes.
MODES = {"forward": "column-coloured forward", "reverse": "row-coloured reverse",
         "bidirectional": "bicoloured"}


@dataclass(frozen=True)
class Candidate:
    """One way of computing the derivative: `forward` tangent and `reverse` cotangent
    directions, the predicted seconds and their largest terms."""

    strategy: str
    forward: int
    reverse: int
    seconds: float
    terms: tuple = ()


@dataclass
class SparseReport:
    """What `jacobian(f, sparse=True)` (or `hessian`) found and chose for one signature:
    the pattern's size, the colourings, every strategy with its predicted time, the choice,
    and the one-off costs (detection, colouring) and measured times of the calls."""

    n: int
    m: int
    nnz: int
    candidates: list[Candidate]
    choice: str
    reason: str
    detect_seconds: float
    color_seconds: float
    local: bool
    hessian: bool
    colorings: dict = field(default_factory=dict)
    measured: dict = field(default_factory=dict)
    #: With an executor: how the last call's colour groups ran as tasks
    #: (`ad.distributed.DistributedReport`).
    distributed: object = None

    def record_measured(self, strategy: str, seconds: float) -> None:
        self.measured.setdefault(strategy, []).append(seconds)

    def candidate(self, strategy: str) -> Candidate:
        return next(c for c in self.candidates if c.strategy == strategy)

    def __str__(self) -> str:
        what = "Hessian" if self.hessian else "Jacobian"
        lines = [f"sparse {what} {self.m} x {self.n}, {self.nnz} nonzeros "
                 f"({'local' if self.local else 'global'} pattern; detection "
                 f"{_ms(self.detect_seconds)}, colouring {_ms(self.color_seconds)})",
                 f"{'strategy':<26}{'tangents':>9}{'cotangents':>11}{'predicted':>12}"
                 f"{'measured':>12}"]
        for c in self.candidates:
            times = self.measured.get(c.strategy)
            measured = _ms(float(np.median(times))) if times else "-"
            mark = " <- chosen" if c.strategy == self.choice else ""
            lines.append(f"{c.strategy:<26}{c.forward:>9}{c.reverse:>11}"
                         f"{_ms(c.seconds):>12}{measured:>12}{mark}")
        lines.append(self.reason)
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:   # IPython shows the table
        p.text(str(self))


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


# ----------------------------------------------------------------------------- preparation
@dataclass
class Prepared:
    """One signature's pattern, colourings, strategy and block plan."""

    detected: Detected
    report: SparseReport
    colorings: dict
    chunk: int
    digest: bytes | None


def _digest(leaves) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for leaf in leaves:
        value = np.ascontiguousarray(np.asarray(leaf))
        h.update(str((value.shape, value.dtype)).encode())
        h.update(value.tobytes())
    return h.digest()


#: Bicolouring (the dearest colouring) is tried when both one-sided colourings need more
#: than this many times the mean nonzeros per row and per column: what a dense row and a
#: dense column do (an arrowhead), and what a uniformly sparse pattern never does.
BICOLOR_WHEN = 4


def _bicolouring_may_help(pattern, column_colors: int, row_colors: int) -> bool:
    m, n = pattern.shape
    mean = max(pattern.nnz / max(m, 1), pattern.nnz / max(n, 1))
    return min(column_colors, row_colors) > BICOLOR_WHEN * mean


def _counts(detected: Detected):
    recording = detected.recording
    return recorded_counts(recording.level.tape, recording.in_ids, recording.in_primals,
                           recording.out_ids, recording.out_primals)


def prepare(f, args, kwargs, nums, *, local: bool, hessian: bool, mode: str,
            chunk_size: int | None, transform: str) -> Prepared:
    """Detect, colour and price (see the module docstring)."""
    start = time.perf_counter()
    detected = detect(f, args, kwargs, nums, local=local, hessian=hessian, transform=transform)
    recording = detected.recording
    for k, out in enumerate(recording.out_primals):   # as the dense transforms refuse
        if value_dtype(out).kind not in "fc":
            raise DTypeError(f"{transform}({name_of(f)}, sparse=True): output leaf {k} has "
                             f"dtype {value_dtype(out)}; a derivative needs a floating-point "
                             "output")
    if any(value_dtype(v).kind == "c" for v in (*recording.in_primals,
                                                 *recording.out_primals)):
        raise DTypeError(f"{transform}({name_of(f)}, sparse=True): complex inputs or outputs "
                         "are not supported by the sparse evaluation (its compressed blocks "
                         "are real); use the dense transform with holomorphic=True, or "
                         "split real and imaginary parts")
    detected_at = time.perf_counter()
    pattern = detected.pattern
    m, n = pattern.shape
    if hessian:
        colorings = {"star-coloured": coloring.star_coloring(pattern)}
    else:
        colorings = {"column-coloured forward": coloring.column_coloring(pattern),
                     "row-coloured reverse": coloring.row_coloring(pattern)}
        if mode == "bidirectional" or (mode == "auto" and _bicolouring_may_help(
                pattern, colorings["column-coloured forward"].n_colors,
                colorings["row-coloured reverse"].n_colors)):
            colorings["bicoloured"] = coloring.bicoloring(pattern)
    colored_at = time.perf_counter()
    plan = plan_blocks(detected.in_shapes, detected.out_shapes, chunk_size)
    counts = _counts(detected)
    table = current()
    stored = pattern.nnz
    candidates = []

    def forward(k):
        return forward_cost(counts, k, plan.chunk, table, stored)

    def reverse(k):
        return reverse_cost(counts, k, plan.chunk, table, stored)

    if hessian:   # the recording is the gradient's: tangents pushed through it
        p = colorings["star-coloured"].n_colors
        for strategy, k in (("dense", n), ("star-coloured", p)):
            cost = forward(k)
            candidates.append(Candidate(strategy, k, 0, cost.seconds, cost.terms[:2]))
    else:
        col = colorings["column-coloured forward"].n_colors
        row = colorings["row-coloured reverse"].n_colors
        ways = [("dense forward", n, 0), ("dense reverse", 0, m),
                ("column-coloured forward", col, 0), ("row-coloured reverse", 0, row)]
        bi = colorings.get("bicoloured")
        if bi is not None and (mode == "bidirectional" or (
                bi.n_column_colors and bi.n_row_colors)):   # else a one-sided one above
            ways.append(("bicoloured", bi.n_column_colors, bi.n_row_colors))
        for strategy, k_forward, k_reverse in ways:
            if k_forward and counts.reverse_only is not None:
                continue                        # forward mode cannot pass a VJP-only step
            seconds, terms = 0.0, []
            if k_forward or not k_reverse:
                cost = forward(k_forward)
                seconds += cost.seconds
                terms += cost.terms[:2]
            if k_reverse:
                cost = reverse(k_reverse)
                seconds += cost.seconds
                terms += cost.terms[:2]
            candidates.append(Candidate(strategy, k_forward, k_reverse, seconds,
                                        tuple(sorted(terms, key=lambda t: -t[1])[:2])))
    if mode == "auto":
        best = min(candidates, key=lambda c: c.seconds)
        runner_up = sorted(candidates, key=lambda c: c.seconds)[1:2]
        reason = (f"{best.strategy}: predicted {_ms(best.seconds)}"
                  + (f", {runner_up[0].seconds / max(best.seconds, 1e-300):.3g}x faster than "
                     f"{runner_up[0].strategy}" if runner_up else ""))
        if best.terms:
            reason += f"; its largest term: {best.terms[0][0]}"
    else:
        wanted = "star-coloured" if hessian else MODES[mode]
        best = next((c for c in candidates if c.strategy == wanted), None)
        if best is None:
            raise SparsityError(f"{transform}({name_of(f)}): mode={mode!r} runs forward mode, "
                                f"which cannot go through {counts.reverse_only} (a VJP only)")
        reason = f"{best.strategy}: the mode asked for (mode={mode!r})"
    report = SparseReport(n, m, pattern.nnz, candidates, best.strategy, reason,
                          detected_at - start, colored_at - detected_at, local, hessian,
                          {k: v.n_colors for k, v in colorings.items()})
    digest = _digest(detected.recording.in_primals) if local else None
    return Prepared(detected, report, colorings, plan.chunk, digest)


# ----------------------------------------------------------------------------- the passes
def _split(block: np.ndarray, shapes, dtypes) -> list[np.ndarray]:
    """A (k, total) block of directions as one (k,) + shape array per leaf."""
    out, start = [], 0
    for shape, dtype in zip(shapes, dtypes):
        size = math.prod(shape)
        out.append(np.ascontiguousarray(block[:, start:start + size], dtype=dtype)
                   .reshape((len(block),) + tuple(shape)))
        start += size
    return out


def _joined(pieces, shapes, k: int, empty=np.float64) -> np.ndarray:
    """Per-leaf (k,) + shape results (None: constant) as one (k, total) block, in the
    pieces' dtype (float32 stays float32, as the dense transforms keep it). Pieces of other
    shapes than those the pattern was detected with are refused by name: something the
    signature does not see (a global, a closure's variable) changed f. `empty`: the dtype
    when every piece is constant."""
    got = [None if p is None else np.shape(p)[1:] for p in pieces]
    if len(pieces) != len(shapes) or any(
            g is not None and (np.shape(p)[:1] != (k,) or tuple(g) != tuple(s))
            for p, g, s in zip(pieces, got, shapes)):
        raise SparsityError(
            f"f's leaves have shapes {[g for g in got]} here, but the sparsity pattern was "
            f"detected with {[tuple(s) for s in shapes]}: something the call's signature "
            "(the arguments' shapes, dtypes and static values) does not see changed f (a "
            "global, a closure's variable, an attribute); pass it as an argument, or make a "
            "new transform")
    dtype = np.result_type(*[p for p in pieces if p is not None], np.float32) \
        if any(p is not None for p in pieces) else empty
    parts = [np.zeros((k, math.prod(s)), dtype) if p is None else
             np.asarray(p).reshape(k, -1) for p, s in zip(pieces, shapes)]
    return np.concatenate(parts, axis=1) if parts else np.zeros((k, 0))


def _tangent_passes(push, seeds: np.ndarray, in_shapes, in_dtypes, out_shapes, plan):
    """J @ seeds (total out x k) in the plan's forward blocks; `push(blocks)` returns the
    output tangents (one per output leaf, None where constant)."""
    total = sum(math.prod(s) for s in out_shapes)
    # with no tangent (f constant) or no colour: at the arguments' precision
    precision = np.result_type(*in_dtypes, np.float32)
    columns = []
    for start, stop in plan.forward_blocks:
        if stop == start:
            continue
        tangents = push(_split(seeds[:, start:stop].T, in_shapes, in_dtypes))
        columns.append(_joined(tangents, out_shapes, stop - start, precision).T)
    return np.concatenate(columns, axis=1) if columns else np.zeros((total, 0), precision)


def _cotangent_passes(recording: Recording, seeds: np.ndarray, in_shapes, out_shapes,
                      out_dtypes, plan):
    """seeds.T @ J (k x total in) in the plan's reverse blocks of one recording."""
    total = sum(math.prod(s) for s in in_shapes)
    # a cotangent takes its argument's dtype (none reached, or no colour: the same)
    precision = np.result_type(*[float_dtype(x) for x in recording.in_primals], np.float32)
    rows = []
    for start, stop in plan.reverse_blocks:
        if stop == start:
            continue
        cotangents = recording.pull(_split(seeds[:, start:stop].T, out_shapes, out_dtypes),
                                    batch=(stop - start,))
        rows.append(_joined(cotangents, in_shapes, stop - start, precision))
    return np.concatenate(rows, axis=0) if rows else np.zeros((0, total), precision)


def _sparse_forward_task(payload, start: int, stop: int) -> np.ndarray:
    """Seed columns start..stop pushed forward on duals (a task: f, its arguments and the
    compressed seeds travel in `payload`; for a Hessian, through f's gradient)."""
    f, args, kwargs, nums, transform, seeds, hessian = payload
    leaves, structures = flatten_inputs(args, nums, transform, f)
    fun = gradient_of(f, nums, transform) if hessian else f
    in_shapes = [np.shape(x) for x in leaves]
    primals, tangents, _ = push_forward(fun, args, kwargs, nums, leaves, structures, _split(
        seeds[:, start:stop].T, in_shapes, [float_dtype(x) for x in leaves]), transform)
    return _joined(tangents, [np.shape(p) for p in primals], stop - start).T


def _sparse_reverse_task(payload, start: int, stop: int) -> np.ndarray:
    """Seed rows start..stop pulled back through one recording of f (a task)."""
    f, args, kwargs, nums, transform, seeds, _ = payload
    recording = Recording(f, args, kwargs, nums, False, transform)
    out_shapes = [np.shape(p) for p in recording.out_primals]
    cotangents = recording.pull(_split(seeds[:, start:stop].T, out_shapes,
                                       [float_dtype(p) for p in recording.out_primals]),
                                batch=(stop - start,))
    return _joined(cotangents, [np.shape(x) for x in recording.in_primals], stop - start)


class _Tasks:
    """The colour groups of one sparse Jacobian (or Hessian) as tasks on an executor: each
    pass's blocks from the block planner, sized so that a task takes about
    `ad.distributed.TASK_SECONDS` by the prepared candidate's predicted time."""

    def __init__(self, distribute, f, args, kwargs, nums, transform, hessian, candidate,
                 in_shapes, out_shapes) -> None:
        self.executor, self.retries, self.progress = distribute
        self.payload = (f, args, kwargs, nums, transform)
        self.hessian = hessian
        self.candidate = candidate
        self.in_shapes, self.out_shapes = in_shapes, out_shapes
        self.timings: list = []
        self.chunks: list = []

    def _plan(self, k: int, forward: bool):
        from ad import distributed
        directions = self.candidate.forward + self.candidate.reverse
        per_direction = self.candidate.seconds / max(directions, 1)
        chunk = distributed.task_chunk(per_direction)
        self.chunks.append(chunk)
        plan = plan_blocks(self.in_shapes, self.out_shapes, chunk,
                           groups=(k, 0) if forward else (0, k))
        return plan.forward_blocks if forward else plan.reverse_blocks

    def run(self, seeds: np.ndarray, forward: bool) -> np.ndarray:
        """The compressed product: J @ seeds (forward) or seeds.T @ J (reverse)."""
        from ad import distributed
        blocks = [b for b in self._plan(seeds.shape[1], forward) if b[1] > b[0]]
        results, timings = distributed.run_blocks(
            self.executor, _sparse_forward_task if forward else _sparse_reverse_task,
            (*self.payload, seeds, self.hessian), blocks, retries=self.retries,
            progress=self.progress, what=self.payload[4])
        self.timings += timings
        if not results:                          # no colour on this side
            return (np.zeros((sum(map(math.prod, self.out_shapes)), 0)) if forward else
                    np.zeros((0, sum(map(math.prod, self.in_shapes)))))
        return np.concatenate(results, axis=1 if forward else 0)

    def report(self, start: float):
        from ad import distributed
        return distributed.DistributedReport(
            self.candidate.strategy, max(self.chunks, default=0),
            self.candidate.seconds / max(self.candidate.forward + self.candidate.reverse, 1)
            * max(self.chunks, default=0), distributed.executor_name(self.executor),
            self.timings, time.perf_counter() - start)


def _on_pattern(pattern, dense: np.ndarray):
    """A dense Jacobian as a CSR array with the pattern's structure."""
    return coloring._on_pattern(pattern, dense[coloring._row_of_each_entry(pattern),
                                               pattern.indices])


def _jacobian_once(f, args, kwargs, nums, prepared: Prepared, recording: Recording | None,
                   tasks: _Tasks | None = None):
    """The sparse Jacobian at these arguments by the prepared strategy (its passes as tasks
    on an executor with `tasks`)."""
    detected, strategy = prepared.detected, prepared.report.choice
    pattern = detected.pattern
    in_shapes, out_shapes = detected.in_shapes, detected.out_shapes
    leaves, structures = flatten_inputs(args, nums, "jacobian", f)
    in_dtypes = [float_dtype(x) for x in leaves]

    def dual_push(blocks):
        return push_forward(f, args, kwargs, nums, leaves, structures, blocks, "jacobian")[1]

    def recorded():
        return recording if recording is not None else Recording(
            f, args, kwargs, nums, False, "jacobian")

    candidate = prepared.report.candidate(strategy)
    plan = plan_blocks(in_shapes, out_shapes, prepared.chunk,
                       groups=(candidate.forward, candidate.reverse))
    n, m = pattern.shape[1], pattern.shape[0]
    if strategy in ("dense forward", "column-coloured forward"):
        seeds = (np.eye(n) if strategy == "dense forward" else
                 prepared.colorings[strategy].seeds())
        push = recording.push if recording is not None else dual_push
        compressed = (tasks.run(seeds, True) if tasks is not None else
                      _tangent_passes(push, seeds, in_shapes, in_dtypes, out_shapes, plan))
        if strategy == "dense forward":
            return _on_pattern(pattern, compressed)
        return coloring.decompress_columns(pattern, prepared.colorings[strategy], compressed)
    if tasks is not None:
        if strategy in ("dense reverse", "row-coloured reverse"):
            seeds = (np.eye(m) if strategy == "dense reverse" else
                     prepared.colorings[strategy].seeds())
            compressed = tasks.run(seeds, False)
            if strategy == "dense reverse":
                return _on_pattern(pattern, compressed)
            return coloring.decompress_rows(pattern, prepared.colorings[strategy], compressed)
        bi = prepared.colorings["bicoloured"]
        return coloring.decompress_bicolored(pattern, bi, tasks.run(bi.column_seeds(), True),
                                             tasks.run(bi.row_seeds(), False))
    tape_of = recorded()
    out_dtypes = [float_dtype(p) for p in tape_of.out_primals]
    if strategy in ("dense reverse", "row-coloured reverse"):
        seeds = (np.eye(m) if strategy == "dense reverse" else
                 prepared.colorings[strategy].seeds())
        compressed = _cotangent_passes(tape_of, seeds, in_shapes, out_shapes, out_dtypes, plan)
        if strategy == "dense reverse":
            return _on_pattern(pattern, compressed)
        return coloring.decompress_rows(pattern, prepared.colorings[strategy], compressed)
    bi = prepared.colorings["bicoloured"]
    forward = _tangent_passes(tape_of.push, bi.column_seeds(), in_shapes, in_dtypes,
                              out_shapes, plan)
    reverse = _cotangent_passes(tape_of, bi.row_seeds(), in_shapes, out_shapes, out_dtypes,
                                plan)
    return coloring.decompress_bicolored(pattern, bi, forward, reverse)


def _hessian_once(f, args, kwargs, nums, prepared: Prepared, tasks: _Tasks | None = None):
    detected, strategy = prepared.detected, prepared.report.choice
    pattern = detected.pattern
    n = pattern.shape[0]
    leaves, structures = flatten_inputs(args, nums, "hessian", f)
    in_dtypes = [float_dtype(x) for x in leaves]
    gradient = gradient_of(f, nums, "hessian")

    def push(blocks):
        return push_forward(gradient, args, kwargs, nums, leaves, structures, blocks,
                             "hessian")[1]
    seeds = np.eye(n) if strategy == "dense" else prepared.colorings[strategy].seeds()
    plan = plan_blocks(detected.in_shapes, detected.in_shapes, prepared.chunk,
                       groups=(seeds.shape[1], 0))
    compressed = (tasks.run(seeds, True) if tasks is not None else
                  _tangent_passes(push, seeds, detected.in_shapes, in_dtypes,
                                  detected.in_shapes, plan))
    if strategy == "dense":
        return _on_pattern(pattern, compressed)
    return coloring.decompress_star(pattern, prepared.colorings[strategy], compressed)


# ----------------------------------------------------------------------------- the transforms
def _signature(args, kwargs, nums) -> tuple | None:
    """Each argument's tree, its differentiated leaves by shape and dtype, everything else
    by value (it may shape the program); None when some argument cannot be keyed (then
    every call detects anew)."""
    key = []
    for position, arg in enumerate(args):       # with each argument's tree: a dict's keys
        leaves, structure = tree.flatten(arg)
        if position in nums:
            key.append(("traced", structure, tuple((np.shape(x), str(np.result_type(x)))
                                                   for x in leaves)))
        else:
            key.append(("static", structure, _static_key(leaves)))
    for name in sorted(kwargs):
        leaves, structure = tree.flatten(kwargs[name])
        key.append((name, structure, _static_key(leaves)))
    try:
        hash(tuple(key))
    except TypeError:
        return None
    return tuple(key)


def _static_key(leaves):
    out = []
    for leaf in leaves:
        if isinstance(leaf, np.ndarray):
            out.append(_digest([leaf]))
        else:
            out.append(leaf)
    return tuple(out)


def _dense_result(result, prepared: Prepared, structures, single: bool):
    """The CSR result as `jacobian` would return it: a block per output and input leaf,
    nested as the output's tree of the inputs' trees."""
    dense = result.toarray()
    detected = prepared.detected
    in_shapes = detected.in_shapes
    out_shapes = in_shapes if detected.hessian else detected.out_shapes
    in_off = np.cumsum([0] + [math.prod(s) for s in in_shapes])
    out_off = np.cumsum([0] + [math.prod(s) for s in out_shapes])
    rows = [per_argnum(structures, [as_scalar(
        dense[out_off[i]:out_off[i + 1], in_off[j]:in_off[j + 1]]
        .reshape(tuple(out_shapes[i]) + tuple(in_shapes[j]))) for j in range(len(in_shapes))],
        single) for i in range(len(out_shapes))]
    if detected.hessian:        # the gradient's tree is the inputs' tree
        return per_argnum(structures, rows, single)
    return tree.unflatten(detected.out_structure, rows)


def sparse_transform(f: Callable, argnums: int | Sequence[int], *, hessian: bool,
                     local: bool, mode: str = "auto", chunk_size: int | None = None,
                     dense_output: bool = False, transform: str = "jacobian",
                     distribute: tuple | None = None):
    """`jacobian(f, sparse=True)` and `hessian(f, sparse=True)` (see the module docstring).

    >>> import numpy as np, ad, ad.numpy as anp
    >>> jac = ad.jacobian(lambda x: x[1:] * x[:-1], sparse=True)
    >>> jac(np.arange(1.0, 5.0)).toarray()
    array([[2., 1., 0., 0.],
           [0., 3., 2., 0.],
           [0., 0., 4., 3.]])
    >>> jac.report.nnz, jac.report.choice
    (6, 'column-coloured forward')
    """
    check_callable(f, transform)
    if mode not in ("auto", *MODES):
        raise ValueError(f"{transform}(sparse=True): mode must be 'auto', 'forward', 'reverse' "
                         f"or 'bidirectional', not {mode!r}")
    chunk_size = chunk_of(chunk_size, f"{transform}({name_of(f)}, sparse=True)")
    require_scipy()
    prepared_by: dict = {}

    @functools.wraps(f)
    def sparse_f(*args, **kwargs):
        try:
            return evaluated(*args, **kwargs)
        except TracerConversionError:
            if not inside_transform():
                raise
            raise TypeError(
                f"{transform}({name_of(f)}, sparse=True) was called inside another transform "
                "whose values reach it (as arguments or through a closure): the sparse "
                "evaluation works on plain values and would drop that derivative; use the "
                f"dense ad.{transform} there") from None

    def evaluated(*args, **kwargs):
        nums = normalize_argnums(argnums, len(args), transform, f)
        key = _signature(args, kwargs, nums)
        prepared = prepared_by.get(key) if key is not None else None
        recording = None
        if prepared is not None and local:
            leaves = flatten_inputs(args, nums, transform, f)[0]
            if _digest(leaves) != prepared.digest:   # a local pattern holds at its x only
                prepared = None
        elif prepared is not None and prepared.detected.value_dependent and not hessian:
            # values picked the detected program's elements (a mask, an index): its output
            # shapes may differ here; a recording at these x tells (and detects again), and
            # the passes below reuse it (f may use traced-only methods: x.at[...])
            recording = Recording(f, args, kwargs, nums, False, transform)
            detected = prepared.detected
            if recording.out_structure != detected.out_structure or \
                    [np.shape(o) for o in recording.out_primals] != \
                    [tuple(s) for s in detected.out_shapes]:
                prepared = recording = None
        start = time.perf_counter()
        if prepared is None:
            try:
                prepared = prepare(f, args, kwargs, nums, local=local, hessian=hessian,
                                   mode=mode, chunk_size=chunk_size, transform=transform)
            except SparsityError as error:
                raise SparsityError(f"{transform}({name_of(f)}, sparse=True): {error}") from None
            if key is not None:
                prepared_by[key] = prepared
            if not hessian:                     # the detection's recording is at these x
                recording = prepared.detected.recording
            # later calls keep the pattern, colourings and plan, not the tape
            prepared.detected = dataclasses.replace(prepared.detected, recording=None)
            start = time.perf_counter()
        tasks = None
        if distribute is not None:              # the colour groups' passes as tasks
            detected = prepared.detected
            tasks = _Tasks(distribute, f, args, kwargs, nums, transform, hessian,
                           prepared.report.candidate(prepared.report.choice),
                           detected.in_shapes,
                           detected.in_shapes if hessian else detected.out_shapes)
        try:
            if hessian:
                result = _hessian_once(f, args, kwargs, nums, prepared, tasks)
            else:
                result = _jacobian_once(f, args, kwargs, nums, prepared, recording, tasks)
        except SparsityError as error:
            raise SparsityError(f"{transform}({name_of(f)}, sparse=True): {error}") from None
        if tasks is not None:
            prepared.report.distributed = tasks.report(start)
        prepared.report.record_measured(prepared.report.choice, time.perf_counter() - start)
        sparse_f.report = prepared.report
        if dense_output:
            structures = flatten_inputs(args, nums, transform, f)[1]
            return _dense_result(result, prepared, structures, isinstance(argnums, int))
        return result

    sparse_f.report = None
    return sparse_f


__all__ = ["sparse_transform", "prepare", "SparseReport", "Candidate", "JACOBIAN_STRATEGIES",
           "HESSIAN_STRATEGIES", "BICOLOR_WHEN"]
