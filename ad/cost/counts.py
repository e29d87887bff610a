"""Counting and prediction: what a recorded program costs, and what each mode would cost.

* `tape_counts` walks a tape once (through `Tape.entries`) and sums each primitive's own
  cost entry (`primitive.counts(in_shapes, out_shape, params)`, declared in the catalogue;
  there is no second table here), plus bytes moved and the peak of live values.
* `predict` turns counts into the cost of f, of one JVP, of one VJP, and of the full
  Jacobian by forward mode (n directions in ceil(n / chunk) vector-mode passes) and by
  reverse mode (one recording, m cotangents in ceil(m / chunk) batched sweeps), with the peak
  memory of each (the tape for reverse). The passes come from `ad.tape.plan_blocks`, the
  same plan the transforms execute. A cost is in flop-equivalents: the catalogue's flops
  plus a per-node dispatch overhead for every pass (Python runs each primitive separately,
  so small programs are overhead-bound). `CostReport` prints the table and says which mode
  it chose and why; `jacobian(mode="auto")` uses it.

Imports `ad.context`, `ad.primitive`, `ad.forward`, `ad.reverse`, `ad.tape` and `ad.graph`;
never the catalogue (facts come from the primitive objects on the tape) or the transforms.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ad.context import entered
from ad.forward import Dual, ForwardLevel
from ad.graph import Graph, trace
from ad.primitive import primal_value
from ad.reverse import ReverseLevel, sweep
from ad.tape import CONSTANT, BlockPlan, Tape, plan_blocks


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
    t_sweep = median(lambda: sweep(level.tape, [(out.index, np.float64(1.0))], [0])) / nodes
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
    #: The leaf shapes of the inputs and outputs: the block planner sizes passes from them.
    in_shapes: tuple = ()
    out_shapes: tuple = ()
    #: A primitive on the path that has a VJP only (a custom_vjp function): forward mode
    #: cannot go through it, so only reverse mode is on offer.
    reverse_only: str | None = None

    def __add__(self, other: "ProgramCounts") -> "ProgramCounts":
        return ProgramCounts(self.n, other.m, self.nodes + other.nodes, self.edges + other.edges,
                             self.flops + other.flops, self.jvp + other.jvp,
                             self.vjp + other.vjp, self.saved + other.saved,
                             self.bytes + other.bytes, max(self.peak_live, other.peak_live),
                             self.itemsize, self.seed_jvp, self.in_shapes, other.out_shapes,
                             self.reverse_only or other.reverse_only)


def tape_counts(tape: Tape, input_ids: Sequence[int], input_sizes: Sequence[int],
                output_ids: Sequence[int | None], m: int | None = None,
                itemsize: int = 8, out_shapes: Sequence[tuple] | None = None) -> ProgramCounts:
    """Count a recorded tape: one walk to sum costs, then a pass over the sizes it saw to
    find the live-value peak. `out_shapes` (default: those of the traced outputs) are what
    `predict` plans the Jacobian's blocks with.

    >>> import numpy as np, ad
    >>> g = ad.trace(lambda x: ad.numpy.sum(x * x), np.ones(4))
    >>> c = tape_counts(g.tape, g.inputs, [4], g.outputs)
    >>> c.flops, c.nodes, c.n, c.m      # multiply: 4, sum: 4
    (8.0, 2, 4, 1)
    """
    shapes = tape.shapes
    n_values = len(shapes)
    sizes = [0] * n_values
    for i, s in zip(input_ids, input_sizes):
        sizes[i] = int(s)
    last_use = [-1] * n_values      # tape position after which a result is dead
    flops = jvp = vjp = saved = traffic = seed_jvp = 0.0
    seeded = set(input_ids) if len(input_ids) == 1 else set()   # tangents still identities
    edges = 0
    born = []                       # per position: the ids its entry creates
    reverse_only = None
    for position, (primitive, params, parents, constants, out, _) in enumerate(tape.entries()):
        if not primitive.forward_mode and reverse_only is None:
            reverse_only = primitive.name
        in_shapes, out_shape = tape.in_shapes(parents, constants), tape.out_shape(primitive, out)
        counts = primitive.counts(in_shapes, out_shape, params,
                                  [parent != CONSTANT for parent in parents])
        if seeded and primitive.identity_seed is not None:
            traced = [parent for parent in parents if parent != CONSTANT]
            if len(traced) == 1 and traced[0] in seeded:
                if primitive.identity_seed == "keeps":
                    seeded.add(out)
                else:
                    seed_jvp += counts.jvp
        flops += counts.flops
        jvp += counts.jvp
        vjp += counts.vjp
        saved += counts.saved
        ids = range(out, out + primitive.n_outputs)
        for o in ids:
            sizes[o] = math.prod(shapes[o])
            last_use[o] = position
        born.append(ids)
        traffic += itemsize * (sum(sizes[o] for o in ids) + sum(math.prod(s) for s in in_shapes))
        for parent in parents:
            if parent != CONSTANT:
                edges += 1
                last_use[parent] = position
    end = len(born)
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
    for position, ids in enumerate(born):
        live += sum(sizes[o] for o in ids)
        peak = max(peak, live)
        live -= dying.get(position, 0.0)
    if out_shapes is None:
        out_shapes = [shapes[o] for o in output_ids if o is not None]
    if m is None:
        m = sum(sizes[o] for o in output_ids if o is not None)
    return ProgramCounts(int(sum(input_sizes)), int(m), len(born), edges, flops, jvp, vjp,
                         saved, traffic, peak, itemsize, seed_jvp,
                         tuple(shapes[i] for i in input_ids), tuple(map(tuple, out_shapes)),
                         reverse_only)


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
    passes = max(1, math.ceil(directions / chunk))   # = BlockPlan.passes(directions)
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
    plan: BlockPlan | None = None

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


def predict(counts: ProgramCounts, chunk_size: int | BlockPlan | None = None,
            machine: Machine = MACHINE) -> CostReport:
    """Predicted costs from counts, and the mode with the lower predicted Jacobian cost.

    The passes are those of `plan_blocks(counts.in_shapes, counts.out_shapes, chunk_size)`
    (or of the `BlockPlan` given), which is what the transforms execute.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> r = predict(count(ad.trace(lambda x: anp.sum(anp.tanh(x)), np.ones(500))))
    >>> r.choice
    'reverse'
    """
    c = counts
    plan = chunk_size if isinstance(chunk_size, BlockPlan) else plan_blocks(
        c.in_shapes or [(c.n,)], c.out_shapes or [(c.m,)], chunk_size)
    chunk = plan.chunk
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
    if c.reverse_only is not None:
        choice, reason = "reverse", (f"reverse mode: forward mode cannot go through "
                                     f"{c.reverse_only}, which has a VJP only")
    return CostReport(c, chunk, evaluation, jvp, vjp, fwd, rev, choice, reason, plan)


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


__all__ = ["Machine", "MACHINE", "calibrate", "ProgramCounts", "tape_counts", "count",
           "ModeCost", "forward_cost", "reverse_cost", "CostReport", "predict", "cost_report"]
