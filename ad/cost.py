"""The cost model: operation counts, mode predictions, the matrix-chain DP, vertex elimination.

* Counting: `tape_counts` walks a tape once and sums each primitive's own cost entry
  (`primitive.counts(in_shapes, out_shape, params)`, declared in the catalogue; there is no
  second table here), plus bytes moved and the peak of live values.
* Predictions: `predict` turns counts into the cost of f, of one JVP, of one VJP, and of the
  full Jacobian by forward mode (n directions in ceil(n / chunk) vector-mode passes) and by
  reverse mode (one recording, m cotangents in ceil(m / chunk) batched sweeps), with the peak
  memory of each (the tape for reverse). A cost is in flop-equivalents: the catalogue's flops
  plus a per-node dispatch overhead for every pass (Python runs each primitive separately, so
  small programs are overhead-bound). `CostReport` prints the table and says which mode it
  chose and why; `jacobian(mode="auto")` uses it.
* The matrix-chain argument: `matrix_chain(dims)` is the classic O(L^3) dynamic program for
  J_L ... J_1, with the forward and reverse bracketings next to it. `chain(f1, ..., fL)`
  composes stages; `Chain.plan(x)` predicts each stage's Jacobian in its cheaper mode and the
  product in the optimal order (`jacobian(chain, mode="optimal")` executes that plan).
* Beyond chains: `linearize(graph)` gives the linearised DAG (local Jacobian blocks on the
  edges); `forward_order`, `reverse_order` and `markowitz_order` are elimination orders;
  `elimination_cost` counts their multiplications and `eliminate` accumulates the Jacobian.

Everything is a loop over ids or an explicit stack, never recursion over the graph.
Imports `ad.context`, `ad.primitive`, `ad.forward`, `ad.reverse` and `ad.graph`; never the
catalogue (facts come from the primitive objects on the tape) or the transforms.
"""
from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ad.context import entered
from ad.forward import Dual, ForwardLevel, chunk_for
from ad.graph import Graph, trace
from ad.primitive import ZERO, primal_value
from ad.reverse import ReverseLevel, sweep


# ----------------------------------------------------------------------------- machine constants
@dataclass(frozen=True)
class Machine:
    """How a pass over the program costs beyond its flops, in flop-equivalents per node.

    `forward_node`: one primitive in a forward (dual) pass, value and tangent rule;
    `record_node`: one primitive recorded on a tape (value, partials, entry);
    `sweep_node`: one tape entry visited by a reverse sweep; `eval_node`: one plain NumPy
    call (f itself); `call`: fixed cost of one Jacobian call (flattening, checks);
    `pass_fixed`: fixed cost of each forward pass, recording or sweep (level, basis block);
    `element`: per element of the seed blocks (directions x inputs in forward mode,
    directions x outputs in reverse mode) and of the Jacobian (concatenation, reshapes).
    Fitted on a shared x86 machine at ~5 GFLOP/s (1 microsecond is about 5,000 flop-
    equivalents); `ad.cost.calibrate()` remeasures the per-node costs elsewhere.
    """

    forward_node: float = 30_000.0
    record_node: float = 18_000.0
    sweep_node: float = 10_000.0
    eval_node: float = 3_000.0
    call: float = 250_000.0
    pass_fixed: float = 100_000.0
    element: float = 100.0


MACHINE = Machine()


def calibrate(repeats: int = 5) -> Machine:
    """Measure the per-node overheads on this machine (about a tenth of a second).

    Times forward passes, recordings and sweeps of a 300-node scalar program (all overhead)
    against a large elementwise program (all flops), and expresses the first in units of the
    second.
    """
    def program(x):
        for _ in range(100):   # 300 tiny primitives: the time is all dispatch
            x = np.sin(x) * 1.0001 + x
        return x

    def median(fn):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    def forward(x):
        level = ForwardLevel()
        with entered(level):
            program(Dual._make(x, np.ones_like(x), level))

    def record(x):
        level = ReverseLevel()
        with entered(level):
            out = program(level.new_input(x))
        return level, out

    x_small = np.float64(0.5)
    level, out = record(x_small)
    nodes = len(level.tape)
    t_eval = median(lambda: program(x_small)) / nodes
    t_fwd = median(lambda: forward(x_small)) / nodes
    t_rec = median(lambda: record(x_small)) / nodes
    t_sweep = median(lambda: sweep(level, [(out.index, np.float64(1.0))], [0])) / nodes
    big = np.linspace(0.0, 1.0, 1_000_000)
    flops_per_second = 15e6 / median(lambda: np.sin(big))   # the catalogue's 15 flops for sin
    scale = t_fwd * flops_per_second / MACHINE.forward_node   # fixed costs scale alike
    return Machine(t_fwd * flops_per_second, t_rec * flops_per_second,
                   t_sweep * flops_per_second, t_eval * flops_per_second,
                   MACHINE.call * scale, MACHINE.pass_fixed * scale, MACHINE.element * scale)


# ----------------------------------------------------------------------------- counting
@dataclass(frozen=True)
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

    def __add__(self, other: "ProgramCounts") -> "ProgramCounts":
        return ProgramCounts(self.n, other.m, self.nodes + other.nodes, self.edges + other.edges,
                             self.flops + other.flops, self.jvp + other.jvp,
                             self.vjp + other.vjp, self.saved + other.saved,
                             self.bytes + other.bytes, max(self.peak_live, other.peak_live),
                             self.itemsize, self.seed_jvp)


def tape_counts(tape: Sequence[tuple], input_ids: Sequence[int], input_sizes: Sequence[int],
                output_ids: Sequence[int | None], m: int | None = None,
                itemsize: int = 8) -> ProgramCounts:
    """Count a recorded tape: one loop to sum costs, one to find the live-value peak.

    >>> import numpy as np, ad
    >>> g = ad.trace(lambda x: ad.numpy.sum(x * x), np.ones(4))
    >>> c = tape_counts(g.tape, g.inputs, [4], g.outputs)
    >>> c.flops, c.nodes, c.n, c.m      # multiply: 4, sum: 4
    (8.0, 2, 4, 1)
    """
    n_values = max([len(input_ids) - 1, *input_ids, *(entry[3] for entry in tape)],
                   default=-1) + 1
    sizes = [0] * n_values
    for i, s in zip(input_ids, input_sizes):
        sizes[i] = int(s)
    last_use = [-1] * n_values      # tape position after which a result is dead
    flops = jvp = vjp = saved = traffic = seed_jvp = 0.0
    seeded = set(input_ids) if len(input_ids) == 1 else set()   # tangents still identities
    edges = 0
    for position, (primitive, params, parents, out, residuals) in enumerate(tape):
        in_shapes, out_shape = primitive.shapes(residuals)
        counts = primitive.counts(in_shapes, out_shape, params,
                                  [parent is not None for parent in parents])
        if seeded and primitive.identity_seed is not None:
            traced = [parent for parent in parents if parent is not None]
            if len(traced) == 1 and traced[0] in seeded:
                if primitive.identity_seed == "keeps":
                    seeded.add(out)
                else:
                    seed_jvp += counts.jvp
        flops += counts.flops
        jvp += counts.jvp
        vjp += counts.vjp
        saved += counts.saved
        out_size = math.prod(out_shape)
        sizes[out] = out_size
        last_use[out] = position
        traffic += itemsize * (out_size + sum(math.prod(s) for s in in_shapes))
        for parent in parents:
            if parent is not None:
                edges += 1
                last_use[parent] = position
    end = len(tape)
    for o in output_ids:
        if o is not None:
            last_use[o] = end
    # Live values: inputs from the start, each result until its last use.
    live = float(sum(sizes[i] for i in input_ids))
    peak = live
    dying: dict[int, float] = {}
    held = set(input_ids)           # the caller holds the inputs throughout
    for i in range(n_values):
        if last_use[i] >= 0 and i not in held:
            dying[last_use[i]] = dying.get(last_use[i], 0.0) + sizes[i]
    for position, entry in enumerate(tape):
        live += sizes[entry[3]]
        peak = max(peak, live)
        live -= dying.get(position, 0.0)
    if m is None:
        m = sum(sizes[o] for o in output_ids if o is not None)
    return ProgramCounts(int(sum(input_sizes)), int(m), len(tape), edges, flops, jvp, vjp,
                         saved, traffic, peak, itemsize, seed_jvp)


def count(graph: Graph) -> ProgramCounts:
    """Counts of a traced graph.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> count(ad.trace(anp.tanh, np.zeros(10))).flops    # the catalogue: tanh is 20 flops
    200.0
    """
    itemsize = max((np.dtype(_dtype(graph.values[i])).itemsize for i in graph.inputs),
                   default=8)
    return tape_counts(graph.tape, graph.inputs, [graph.nodes[i].size for i in graph.inputs],
                       graph.outputs, graph.m, itemsize)


def _dtype(value) -> np.dtype:
    dtype = getattr(primal_value(value), "dtype", None)
    return np.dtype(np.float64) if dtype is None else dtype


# ----------------------------------------------------------------------------- predictions
@dataclass(frozen=True)
class ModeCost:
    """Predicted cost of one way of computing derivatives.

    `cost` = `flops` + `overhead` (flop-equivalents); `passes` forward passes or sweeps;
    `peak_bytes` the memory high-water mark (values, tangents, tape, cotangents).
    """

    label: str
    directions: int
    passes: int
    flops: float
    overhead: float
    bytes: float
    peak_bytes: float

    @property
    def cost(self) -> float:
        return self.flops + self.overhead


def forward_cost(c: ProgramCounts, directions: int, chunk: int,
                 machine: Machine = MACHINE) -> ModeCost:
    """`directions` tangents pushed in ceil(directions / chunk) vector-mode passes."""
    passes = max(1, math.ceil(directions / chunk))
    width = min(chunk, max(directions, 1))
    seed = c.seed_jvp if passes == 1 and directions == c.n else 0.0   # the seed is one block
    return ModeCost("Jacobian by forward mode", directions, passes,
                    passes * c.flops + directions * (c.jvp - seed),
                    passes * (c.nodes * machine.forward_node + machine.pass_fixed)
                    # basis blocks seeded (directions x n) and Jacobian columns (directions x m)
                    + machine.call + machine.element * directions * (c.n + c.m),
                    c.bytes * (passes + directions),
                    c.itemsize * c.peak_live * (1 + width))


def reverse_cost(c: ProgramCounts, directions: int, chunk: int,
                 machine: Machine = MACHINE) -> ModeCost:
    """One recording, then `directions` cotangents in ceil(directions / chunk) sweeps."""
    sweeps = max(1, math.ceil(directions / chunk))
    width = min(chunk, max(directions, 1))
    return ModeCost("Jacobian by reverse mode", directions, sweeps,
                    c.flops + directions * c.vjp,
                    c.nodes * (machine.record_node + sweeps * machine.sweep_node)
                    + (1 + sweeps) * machine.pass_fixed + machine.call
                    # seed blocks (directions x m) and Jacobian rows (directions x n)
                    + machine.element * directions * (c.m + c.n),
                    c.bytes * (1 + directions),
                    c.itemsize * (c.saved + c.peak_live * (1 + width)))


@dataclass(frozen=True)
class CostReport:
    """The predicted costs of f and of its derivatives, and the mode `auto` picks.

    Printing gives a table; `choice` is "forward" or "reverse" and `reason` says why.
    """

    counts: ProgramCounts
    chunk: int
    evaluation: ModeCost
    jvp: ModeCost
    vjp: ModeCost
    forward: ModeCost
    reverse: ModeCost
    choice: str
    reason: str

    @property
    def ratio(self) -> float:
        """Predicted forward cost / reverse cost (> 1 means reverse is cheaper)."""
        return self.forward.cost / max(self.reverse.cost, 1e-300)

    def __str__(self) -> str:
        c = self.counts
        head = (f"cost of f: R^{c.n} -> R^{c.m}, {c.nodes} primitive applications, "
                f"{c.edges} edges (chunk size {self.chunk}, {c.itemsize}-byte floats)")
        rows = [("", "flops", "overhead", "predicted", "bytes moved", "peak memory", "passes")]
        for mc in (self.evaluation, self.jvp, self.vjp, self.forward, self.reverse):
            rows.append((mc.label, _num(mc.flops), _num(mc.overhead), _num(mc.cost),
                         _bytes(mc.bytes), _bytes(mc.peak_bytes), _passes(mc)))
        widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
        lines = [head]
        for r in rows:
            lines.append("  " + r[0].ljust(widths[0]) + "".join(
                "  " + cell.rjust(w) for cell, w in zip(r[1:], widths[1:])))
        lines.append(f"auto mode: {self.reason}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:   # IPython shows the table
        p.text(str(self))


def _passes(mc: ModeCost) -> str:
    if mc.label.startswith("Jacobian by forward"):
        return f"{mc.passes} x {min(mc.directions, math.ceil(mc.directions / mc.passes))} dirs"
    if mc.label.startswith("Jacobian by reverse"):
        return f"rec + {mc.passes} x {math.ceil(mc.directions / mc.passes)} cots"
    return "1"


def _num(x: float) -> str:
    return f"{x:.3g}" if x < 1e4 else f"{x:.2e}"


def _bytes(x: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if x < 1024 or unit == "GB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return f"{x:.1f} TB"  # pragma: no cover


def predict(counts: ProgramCounts, chunk_size: int | None = None,
            machine: Machine = MACHINE) -> CostReport:
    """Predicted costs from counts, and the mode with the lower predicted Jacobian cost.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> r = predict(count(ad.trace(lambda x: anp.sum(anp.tanh(x)), np.ones(500))))
    >>> r.choice
    'reverse'
    """
    c = counts
    chunk = chunk_for(max(c.n, c.m), chunk_size)
    evaluation = ModeCost("f", 0, 1, c.flops, c.nodes * machine.eval_node, c.bytes,
                          c.itemsize * c.peak_live)
    jvp = ModeCost("one JVP", 1, 1, c.flops + c.jvp, c.nodes * machine.forward_node,
                   2 * c.bytes, 2 * c.itemsize * c.peak_live)
    vjp = ModeCost("one VJP", 1, 1, c.flops + c.vjp,
                   c.nodes * (machine.record_node + machine.sweep_node), 2 * c.bytes,
                   c.itemsize * (c.saved + 2 * c.peak_live))
    fwd = forward_cost(c, c.n, chunk, machine)
    rev = reverse_cost(c, c.m, chunk, machine)
    choice, reason = _choose(fwd, rev, c.n, c.m)
    return CostReport(c, chunk, evaluation, jvp, vjp, fwd, rev, choice, reason)


def _choose(fwd: ModeCost, rev: ModeCost, n: int, m: int) -> tuple[str, str]:
    if fwd.cost <= rev.cost:
        choice, win, lose = "forward", fwd, rev
    else:
        choice, win, lose = "reverse", rev, fwd
    factor = lose.cost / max(win.cost, 1e-300)
    reason = (f"{choice} mode, predicted {factor:.3g}x cheaper ({_num(win.cost)} vs "
              f"{_num(lose.cost)} flop-equivalents: {fwd.passes} forward pass(es) for n={n} vs "
              f"a recording and {rev.passes} sweep(s) for m={m})")
    naive = "forward" if n < m else "reverse"
    if naive != choice:
        reason += (f"; comparing n with m alone would pick {naive}, but "
                   + ("the per-pass overhead of the extra sweeps outweighs it"
                      if win.overhead < lose.overhead else
                      "the catalogue's JVP and VJP counts differ enough to reverse it"))
    return choice, reason


def cost_report(f: Callable, *args, argnums: int | Sequence[int] = 0,
                chunk_size: int | None = None, machine: Machine = MACHINE,
                **kwargs) -> CostReport:
    """Trace `f` at `args` and predict what each way of differentiating it costs.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> r = ad.cost_report(lambda x: anp.tanh(x[:, None] * x), np.ones(3))
    >>> r.counts.n, r.counts.m, r.choice
    (3, 9, 'forward')
    """
    graph = trace(f, *args, argnums=argnums, **kwargs)
    return predict(count(graph), chunk_size, machine)


# ----------------------------------------------------------------------------- matrix chains
@dataclass(frozen=True)
class ChainPlan:
    """The optimal bracketing of J_L ... J_1 (factor i is dims[i] x dims[i-1]).

    `cost` is its number of multiply-adds; `forward` = J_L (... (J_3 (J_2 J_1))) and
    `reverse` = ((J_L J_{L-1}) J_{L-2}) ... J_1 are the two pure modes as bracketings of the
    same product. (With the factors given, these are the issue's sums
    sum_i d_i d_{i-1} d_0 and sum_i d_L d_i d_{i-1} without the term that multiplies the first
    (resp. last) factor by an identity.) Split points are kept so the order is rebuilt by a
    loop.
    """

    dims: tuple[int, ...]
    cost: int
    forward: int
    reverse: int
    splits: tuple[tuple[int, ...], ...] = field(repr=False)

    @property
    def length(self) -> int:
        return len(self.dims) - 1

    def order(self) -> Any:
        """The bracketing as nested pairs of 1-based factor indices, e.g. (3, (2, 1))."""
        if self.length == 0:
            return ()
        result: dict[tuple[int, int], Any] = {}
        stack = [(1, self.length, False)]
        while stack:
            i, j, expanded = stack.pop()
            if i == j:
                result[i, j] = i
                continue
            k = self.splits[i][j]
            if expanded:
                result[i, j] = (result[k + 1, j], result[i, k])
            else:
                stack += [(i, j, True), (i, k, False), (k + 1, j, False)]
        return result[1, self.length]

    def bracketing(self) -> str:
        """The order as text, e.g. 'J3 (J2 J1)'."""
        text = _bracket_text(self.order())
        return text[1:-1] if text.startswith("(") else text

    def multiply(self, factors: Sequence[Any], matmul: Callable = np.matmul):
        """J_L ... J_1 from factors [J_1, ..., J_L], in this plan's order."""
        if len(factors) != self.length:
            raise ValueError(f"plan for {self.length} factors got {len(factors)}")
        return evaluate_order(self.order(), factors, matmul)

    def __str__(self) -> str:
        best = min(self.forward, self.reverse)
        return (f"chain {' x '.join(map(str, self.dims))}: optimal {self.bracketing()} "
                f"= {self.cost:,} multiply-adds; forward {self.forward:,}; reverse "
                f"{self.reverse:,} ({best / max(self.cost, 1):.3g}x better than the best pure "
                "mode)")


def _postorder(order: Any) -> list[tuple]:
    """The pair nodes of a nested order, children before parents (an explicit stack)."""
    out, stack = [], [(order, False)]
    while stack:
        node, expanded = stack.pop()
        if isinstance(node, int):
            continue
        if expanded:
            out.append(node)
        else:
            stack += [(node, True), (node[1], False), (node[0], False)]
    return out


def _fold(order: Any, leaf: Callable, pair: Callable):
    """Combine a nested order bottom-up: leaf(i) for factor i, pair(node, left, right)."""
    if isinstance(order, int):
        return leaf(order)
    done: dict[int, Any] = {}

    def get(child):
        return leaf(child) if isinstance(child, int) else done.pop(id(child))

    for node in _postorder(order):
        left, right = get(node[0]), get(node[1])
        done[id(node)] = pair(node, left, right)
    return done[id(order)]


def _bracket_text(order: Any) -> str:
    return _fold(order, lambda i: f"J{i}", lambda node, a, b: f"({a} {b})")


def evaluate_order(order: Any, factors: Sequence[Any], matmul: Callable = np.matmul):
    """Multiply factors [J_1, ..., J_L] following a nested-pair order (an explicit stack)."""
    return _fold(order, lambda i: factors[i - 1], lambda node, a, b: matmul(a, b))


def order_cost(dims: Sequence[int], order: Any) -> int:
    """Multiply-adds of one bracketing (nested pairs of 1-based indices) of the chain.

    >>> order_cost([1000, 10, 1000, 10], ((3, 2), 1))
    200000
    """
    total = 0

    def pair(node, left, right):
        nonlocal total
        (k1, j), (i, k) = left, right
        if k1 != k + 1:
            raise ValueError(f"order {order!r} multiplies non-adjacent factors")
        total += dims[j] * dims[k] * dims[i - 1]
        return (i, j)

    _fold(order, lambda i: (i, i), pair)
    return total


def matrix_chain(dims: Sequence[int]) -> ChainPlan:
    """Optimal bracketing of a Jacobian chain by the classic dynamic program.

    `dims` = (d_0, d_1, ..., d_L): factor J_i is d_i x d_{i-1}.

    >>> plan = matrix_chain([1000, 10, 1000, 10])
    >>> plan.bracketing(), plan.cost, plan.forward, plan.reverse
    ('(J3 J2) J1', 200000, 20000000, 200000)
    """
    dims = tuple(int(d) for d in dims)
    L = len(dims) - 1
    if L < 0:
        raise ValueError("matrix_chain: need at least d_0")
    best = [[0] * (L + 1) for _ in range(L + 1)]
    split = [[0] * (L + 1) for _ in range(L + 1)]
    for length in range(2, L + 1):
        for i in range(1, L - length + 2):
            j = i + length - 1
            choice, value = i, None
            for k in range(i, j):      # (J_j ... J_{k+1}) (J_k ... J_i)
                c = best[i][k] + best[k + 1][j] + dims[j] * dims[k] * dims[i - 1]
                if value is None or c < value:
                    choice, value = k, c
            best[i][j] = value
            split[i][j] = choice
    forward = sum(dims[i] * dims[i - 1] * dims[0] for i in range(2, L + 1))
    reverse = sum(dims[L] * dims[i] * dims[i - 1] for i in range(1, L))
    return ChainPlan(dims, best[1][L] if L else 0, forward, reverse,
                     tuple(tuple(row) for row in split))


# ----------------------------------------------------------------------------- chains of stages
class Chain:
    """f = f_L o ... o f_1, kept as stages so its Jacobian can be accumulated in any order.

    Calling it composes the stages. `ad.jacobian(chain, mode="optimal")` builds each stage's
    Jacobian in its cheaper mode and multiplies them in the optimal order (`plan`).

    >>> import numpy as np, ad, ad.numpy as anp
    >>> f = ad.chain(anp.sin, lambda x: x[:2] * x[1:])
    >>> np.allclose(ad.jacobian(f, mode="optimal")(np.ones(3)),
    ...             ad.jacobian(f, mode="reverse")(np.ones(3)))
    True
    """

    def __init__(self, *stages: Callable) -> None:
        flat: list[Callable] = []
        for stage in stages:
            if not callable(stage):
                raise TypeError(f"chain: stage {stage!r} is not callable")
            flat.extend(stage.stages if isinstance(stage, Chain) else [stage])
        if not flat:
            raise ValueError("chain: needs at least one stage")
        self.stages = tuple(flat)
        self.__name__ = "chain(" + ", ".join(getattr(s, "__name__", "f") for s in flat) + ")"

    def __call__(self, x):
        for stage in self.stages:
            x = stage(x)
        return x

    def __len__(self) -> int:
        return len(self.stages)

    def plan(self, x, *, chunk_size: int | None = None,
             machine: Machine = MACHINE) -> "ChainReport":
        """Trace every stage at its input; predict per-stage modes and the product order."""
        chunk = chunk_for(int(np.size(primal_value(x))), chunk_size)
        inputs, reports, graphs = [], [], []
        for stage in self.stages:
            graph = trace(stage, x)
            if len(graph.output_values) != 1 or graph.outputs[0] is None:
                raise ValueError(f"chain: stage {getattr(stage, '__name__', stage)} must return "
                                 "one array that depends on its input")
            inputs.append(x)
            graphs.append(graph)
            reports.append(predict(count(graph), chunk, machine))
            x = graph.output_values[0]
        return ChainReport(self, inputs, x, reports, chunk, machine)


def chain(*stages: Callable) -> Chain:
    """Compose stages f1, ..., fL (applied in that order) into one differentiable `Chain`.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> f = ad.chain(anp.sin, anp.exp)
    >>> float(f(0.0))
    1.0
    """
    return Chain(*stages)


class ChainReport:
    """Predicted costs of a chain's Jacobian: whole-function forward and reverse, and the
    plan that forms each stage's Jacobian in its cheaper mode and multiplies in the optimal
    order.
    """

    def __init__(self, chain_: Chain, inputs: list, output, reports: list[CostReport],
                 chunk: int, machine: Machine) -> None:
        self.chain = chain_
        self.inputs = inputs
        self.output = output
        self.stage_reports = reports
        self.chunk = chunk
        self.dims = [reports[0].counts.n] + [r.counts.m for r in reports]
        self.plan = matrix_chain(self.dims)
        self.modes = [r.choice for r in reports]
        n, m = self.dims[0], self.dims[-1]
        fwd = [forward_cost(r.counts, n, chunk, machine) for r in reports]
        rev = [reverse_cost(r.counts, m, chunk, machine) for r in reports]
        self.forward = _sum_costs("chain Jacobian by forward mode", fwd, n)
        self.reverse = _sum_costs("chain Jacobian by reverse mode", rev, m)
        stages = [r.forward if r.choice == "forward" else r.reverse for r in reports]
        # planning traces every stage once; the products are one matmul call each
        planning = ModeCost("planning", 0, 1, sum(r.counts.flops for r in reports),
                            sum(r.counts.nodes * machine.record_node + machine.pass_fixed
                                for r in reports), 0.0, 0.0)
        products = ModeCost("products", 0, self.plan.length - 1, 2.0 * self.plan.cost,
                            max(self.plan.length - 1, 0) * machine.forward_node, 0.0, 0.0)
        self.optimal = _sum_costs("chain Jacobian, stage-wise plan",
                                  [planning] + stages + [products], 0)
        # Stage Jacobians are not free: when forming them costs more than pushing n
        # directions (or m cotangents) through the whole chain, a pure mode is optimal.
        costs = {"plan": self.optimal.cost, "forward": self.forward.cost,
                 "reverse": self.reverse.cost}
        self.choice = min(costs, key=costs.get)

    def __str__(self) -> str:
        lines = [f"chain of {len(self.stage_reports)} stages, widths "
                 f"{', '.join(map(str, self.dims))}"]
        for i, r in enumerate(self.stage_reports, 1):
            cheap, other = (r.forward, r.reverse) if r.choice == "forward" else \
                (r.reverse, r.forward)
            lines.append(f"  J{i}: {r.counts.m} x {r.counts.n} by {r.choice:<7} (predicted "
                         f"{_num(cheap.cost)}; the other mode {other.cost / cheap.cost:.3g}x more)")
        lines.append(f"  product order: {self.plan}")
        for mc in (self.forward, self.reverse, self.optimal):
            lines.append(f"  {mc.label:<32} predicted {_num(mc.cost)} flop-equivalents")
        best = min(self.forward.cost, self.reverse.cost)
        lines.append(f"  stage-wise plan vs best pure mode: {best / self.optimal.cost:.3g}x "
                     "predicted")
        lines.append(f"  mode='optimal' uses: {self.choice}"
                     + ("" if self.choice == "plan" else
                        " (forming the stage Jacobians would cost more than one pure mode)"))
        return "\n".join(lines)


def _sum_costs(label: str, parts: Sequence[ModeCost], directions: int) -> ModeCost:
    return ModeCost(label, directions, max(p.passes for p in parts),
                    sum(p.flops for p in parts), sum(p.overhead for p in parts),
                    sum(p.bytes for p in parts), max(p.peak_bytes for p in parts))


# ----------------------------------------------------------------------------- vertex elimination
class Block:
    """A local Jacobian block d v_k / d v_j: a diagonal (vector) or a dense matrix."""

    __slots__ = ("diagonal", "value", "rows", "cols")

    def __init__(self, diagonal: bool, value: np.ndarray | None, rows: int, cols: int) -> None:
        self.diagonal = diagonal
        self.value = value
        self.rows = rows
        self.cols = cols

    def dense(self) -> np.ndarray:
        return np.diag(self.value) if self.diagonal else self.value


def _product_cost(a: Block, b: Block) -> int:
    """Multiplications of a @ b (a: k <- j, b: j <- i) given their structure."""
    if a.diagonal and b.diagonal:
        return a.cols
    if a.diagonal:
        return b.rows * b.cols
    if b.diagonal:
        return a.rows * a.cols
    return a.rows * a.cols * b.cols


def _product(a: Block, b: Block, numeric: bool) -> Block:
    if not numeric:
        return Block(a.diagonal and b.diagonal, None, a.rows, b.cols)
    if a.diagonal and b.diagonal:
        return Block(True, a.value * b.value, a.rows, b.cols)
    if a.diagonal:
        return Block(False, a.value[:, None] * b.value, a.rows, b.cols)
    if b.diagonal:
        return Block(False, a.value * b.value[None, :], a.rows, b.cols)
    return Block(False, a.value @ b.value, a.rows, b.cols)


def _sum(a: Block, b: Block, numeric: bool) -> Block:
    if a.diagonal and b.diagonal:
        return Block(True, a.value + b.value if numeric else None, a.rows, a.cols)
    return Block(False, a.dense() + b.dense() if numeric else None, a.rows, a.cols)


class LinearizedGraph:
    """The linearised DAG: vertices are values (sizes), edges carry local Jacobian blocks.

    `preds[j]` maps each predecessor i to the block d v_j / d v_i. Outputs that feed other
    nodes (or are inputs) get a sink vertex joined by an identity edge, so that exactly the
    non-input, non-sink vertices are eliminated. Vertices the outputs do not depend on are
    dropped.
    """

    def __init__(self, sizes: list[int], preds: list[dict[int, Block]], inputs: list[int],
                 outputs: list[int | None], output_sizes: list[int]) -> None:
        self.sizes = sizes
        self.preds = preds
        self.succs: list[set[int]] = [set() for _ in sizes]
        for j, ps in enumerate(preds):
            for i in ps:
                self.succs[i].add(j)
        self.inputs = inputs
        self.outputs = outputs
        self.output_sizes = output_sizes
        protected = set(inputs) | {o for o in outputs if o is not None}
        self.intermediates = [v for v in range(len(sizes))
                              if v not in protected and (preds[v] or self.succs[v])]

    def copy(self, numeric: bool = True) -> "LinearizedGraph":
        clone = object.__new__(LinearizedGraph)
        clone.sizes = self.sizes
        clone.preds = [{i: (b if numeric else Block(b.diagonal, None, b.rows, b.cols))
                        for i, b in ps.items()} for ps in self.preds]
        clone.succs = [set(s) for s in self.succs]
        clone.inputs, clone.outputs = self.inputs, self.outputs
        clone.output_sizes = self.output_sizes
        clone.intermediates = self.intermediates
        return clone

    def vertex_cost(self, j: int) -> int:
        """Multiplications to eliminate vertex j now (the block Markowitz degree)."""
        preds = self.preds[j]
        return sum(_product_cost(self.preds[k][j], b) for b in preds.values()
                   for k in self.succs[j])

    def eliminate_vertex(self, j: int, numeric: bool = True) -> int:
        """Fold j into its neighbours: C_ki += C_kj C_ji for every pred i and succ k."""
        total = 0
        preds = self.preds[j]
        for k in self.succs[j]:
            a = self.preds[k].pop(j)
            for i, b in preds.items():
                total += _product_cost(a, b)
                term = _product(a, b, numeric)
                old = self.preds[k].get(i)
                self.preds[k][i] = term if old is None else _sum(old, term, numeric)
                self.succs[i].add(k)
        for i in preds:
            self.succs[i].discard(j)
        self.preds[j] = {}
        self.succs[j] = set()
        return total

    def __repr__(self) -> str:
        return (f"<LinearizedGraph: {len(self.inputs)} inputs, {len(self.intermediates)} "
                f"intermediates, {len(self.outputs)} outputs>")


def _local_block(primitive, params, residuals, arg: int, in_shape, out_shape, dtype) -> Block:
    """d out / d argument `arg` of one tape entry, from the primitive's own JVP rule."""
    size_in, size_out = math.prod(in_shape), math.prod(out_shape)
    arity = len(primitive.shapes(residuals)[0])
    tangents: list[Any] = [ZERO] * arity
    if getattr(primitive, "elementwise", False) and tuple(in_shape) == tuple(out_shape):
        tangents[arg] = np.ones(in_shape, dtype=dtype)   # one direction gives the diagonal
        diag = primitive.jvp(residuals, tangents, params)
        diag = np.zeros(size_out) if diag is ZERO else np.broadcast_to(
            np.asarray(primal_value(diag), dtype=float), out_shape).ravel()
        return Block(True, np.array(diag), size_out, size_in)
    basis = np.eye(size_in, dtype=dtype).reshape((size_in,) + tuple(in_shape))
    tangents[arg] = basis
    columns = primitive.jvp(residuals, tangents, params)   # (size_in,) + out_shape
    if columns is ZERO:
        return Block(False, np.zeros((size_out, size_in)), size_out, size_in)
    matrix = np.asarray(primal_value(columns), dtype=float).reshape(size_in, size_out).T
    if size_in == size_out and not np.any(matrix - np.diag(np.diag(matrix))):
        return Block(True, np.diag(matrix).copy(), size_out, size_in)
    return Block(False, np.ascontiguousarray(matrix), size_out, size_in)


def linearize(graph: Graph) -> LinearizedGraph:
    """Local Jacobian blocks of every edge that reaches an output (one loop each way).

    Diagonal blocks (elementwise operations, identities) are stored as vectors, so the
    multiplication counts follow the structure, not the dense sizes.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> lg = linearize(ad.trace(lambda x: anp.sin(x) * x, np.ones(3)))
    >>> lg.sizes, [sorted(p) for p in lg.preds]
    ([3, 3, 3], [[], [0], [0, 1]])
    """
    n_nodes = len(graph.nodes)
    needed = bytearray(n_nodes)
    for o in graph.outputs:
        if o is not None:
            needed[o] = 1
    for node in reversed(graph.nodes):      # backward reachability, one pass
        if needed[node.id]:
            for p in node.parents:
                if p is not None:
                    needed[p] = 1
    sizes = [node.size for node in graph.nodes]
    preds: list[dict[int, Block]] = [{} for _ in graph.nodes]
    for node in graph.nodes:
        if node.is_input or not needed[node.id]:
            continue
        primitive, params, parents, out, residuals = graph.tape[node.entry]
        dtype = _dtype(graph.values[node.id])
        dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
        for k, p in enumerate(parents):
            if p is None:
                continue
            block = _local_block(primitive, params, residuals, k, node.in_shapes[k], node.shape,
                                 dtype)
            old = preds[node.id].get(p)
            preds[node.id][p] = block if old is None else _sum(old, block, True)
    inputs = list(graph.inputs)
    outputs: list[int | None] = []
    users = [0] * n_nodes
    for node in graph.nodes:
        for p in set(q for q in node.parents if q is not None):
            users[p] += 1
    seen: set[int] = set()
    input_set = set(inputs)
    for o in graph.outputs:
        if o is None:
            outputs.append(None)
            continue
        if users[o] or o in seen or o in input_set:   # give it its own sink
            sink = len(sizes)
            sizes.append(sizes[o])
            preds.append({o: Block(True, np.ones(sizes[o]), sizes[o], sizes[o])})
            outputs.append(sink)
        else:
            outputs.append(o)
        seen.add(o)
    output_sizes = [math.prod(np.shape(v)) for v in graph.output_values]
    return LinearizedGraph(sizes, preds, inputs, outputs, output_sizes)


def forward_order(lg: LinearizedGraph) -> list[int]:
    """Eliminate intermediates in execution order (forward-mode accumulation)."""
    return list(lg.intermediates)


def reverse_order(lg: LinearizedGraph) -> list[int]:
    """Eliminate intermediates in reverse execution order (reverse-mode accumulation)."""
    return list(reversed(lg.intermediates))


def markowitz_order(lg: LinearizedGraph) -> list[int]:
    """Greedy: always eliminate the vertex that costs fewest multiplications right now.

    Costs are kept in a heap with lazy invalidation: eliminating j changes only the costs of
    its neighbours, which are pushed again. Ties go to the earliest vertex.
    """
    work = lg.copy(numeric=False)
    heap = [(work.vertex_cost(v), v) for v in lg.intermediates]
    heapq.heapify(heap)
    current = {v: c for c, v in heap}
    done: set[int] = set()
    order = []
    while heap:
        c, v = heapq.heappop(heap)
        if v in done or current.get(v) != c:
            continue
        neighbours = set(work.preds[v]) | work.succs[v]
        work.eliminate_vertex(v, numeric=False)
        done.add(v)
        order.append(v)
        for u in neighbours:
            if u in current and u not in done:
                current[u] = work.vertex_cost(u)
                heapq.heappush(heap, (current[u], u))
    return order


def elimination_cost(lg: LinearizedGraph, order: Sequence[int]) -> int:
    """Multiplications of eliminating `order` (symbolic: structure only, no arithmetic).

    >>> import numpy as np, ad, ad.numpy as anp
    >>> lg = linearize(ad.trace(lambda x: anp.sin(anp.exp(x)) * x, 1.0))
    >>> [elimination_cost(lg, o(lg)) for o in (forward_order, reverse_order, markowitz_order)]
    [2, 2, 2]
    """
    work = lg.copy(numeric=False)
    _check_order(lg, order)
    return sum(work.eliminate_vertex(v, numeric=False) for v in order)


def eliminate(lg: LinearizedGraph, order: Sequence[int]) -> tuple[np.ndarray, int]:
    """Accumulate the Jacobian (m x n, outputs and inputs flattened) by eliminating `order`;
    returns it with the number of multiplications used.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> lg = linearize(ad.trace(lambda x: anp.sin(x) * x, np.array([0.0, 1.0])))
    >>> J, mults = eliminate(lg, markowitz_order(lg))
    >>> np.allclose(J, np.diag(np.cos([0.0, 1.0]) * [0.0, 1.0] + np.sin([0.0, 1.0]))), mults
    (True, 2)
    """
    _check_order(lg, order)
    work = lg.copy(numeric=True)
    mults = sum(work.eliminate_vertex(v, numeric=True) for v in order)
    in_sizes = [lg.sizes[i] for i in lg.inputs]
    col = np.concatenate([[0], np.cumsum(in_sizes)]).astype(int)
    row = np.concatenate([[0], np.cumsum(lg.output_sizes)]).astype(int)
    J = np.zeros((row[-1], col[-1]))
    for r, o in enumerate(lg.outputs):
        if o is None:
            continue
        for c, i in enumerate(lg.inputs):
            block = work.preds[o].get(i)
            if block is not None:
                J[row[r]:row[r + 1], col[c]:col[c + 1]] = block.dense()
    return J, mults


def _check_order(lg: LinearizedGraph, order: Sequence[int]) -> None:
    if sorted(order) != sorted(lg.intermediates):
        raise ValueError("an elimination order must list every intermediate vertex once")


@dataclass(frozen=True)
class EliminationReport:
    """Multiplications of the three elimination orders on one graph."""

    vertices: int
    forward: int
    reverse: int
    markowitz: int

    def __str__(self) -> str:
        best = min(self.forward, self.reverse)
        return (f"vertex elimination over {self.vertices} intermediates: forward "
                f"{self.forward:,}, reverse {self.reverse:,}, Markowitz {self.markowitz:,} "
                f"multiplications (Markowitz / best pure = {self.markowitz / max(best, 1):.3g})")


def elimination_report(graph: Graph) -> EliminationReport:
    """Counts of forward, reverse and Markowitz elimination on a traced graph."""
    lg = linearize(graph)
    return EliminationReport(len(lg.intermediates), elimination_cost(lg, forward_order(lg)),
                             elimination_cost(lg, reverse_order(lg)),
                             elimination_cost(lg, markowitz_order(lg)))


__all__ = ["Machine", "MACHINE", "calibrate", "ProgramCounts", "tape_counts", "count",
           "ModeCost", "forward_cost", "reverse_cost", "CostReport", "predict", "cost_report",
           "ChainPlan", "matrix_chain", "order_cost", "evaluate_order", "Chain", "chain",
           "ChainReport", "Block", "LinearizedGraph", "linearize", "forward_order",
           "reverse_order", "markowitz_order", "elimination_cost", "eliminate",
           "EliminationReport", "elimination_report"]
