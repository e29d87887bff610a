"""Vertex elimination: the linearised graph and Jacobian accumulation in any order.

`linearize(graph)` gives the linearised DAG (local Jacobian blocks on the edges, each from
the primitive's own JVP rule, diagonal blocks kept as vectors); `forward_order`,
`reverse_order` and `markowitz_order` are elimination orders; `elimination_cost` counts
their multiplications and `eliminate` accumulates the Jacobian. A third Jacobian engine
beside forward and reverse mode, for counting what other orders would cost.

Loops over ids, heaps and `Tape.entries`; never recursion over the graph. Imports
`ad.primitive`, `ad.tape` and `ad.graph`.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ad.graph import Graph
from ad.primitive import ZERO, primal_value
from ad.tape import CONSTANT


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


def _local_blocks(primitive, params, residuals, arg: int, in_shapes, out_shapes,
                  dtype) -> list[Block]:
    """d out_j / d argument `arg` of one tape entry for each of its outputs j, from the
    primitive's own JVP rule (one direction per input element, or one for a diagonal)."""
    in_shape = in_shapes[arg]
    size_in = math.prod(in_shape)
    tangents: list[Any] = [ZERO] * len(in_shapes)
    several = primitive.n_outputs != 1
    shapes = out_shapes if several else [out_shapes]
    if primitive.elementwise and tuple(in_shape) == tuple(out_shapes):
        tangents[arg] = np.ones(in_shape, dtype=dtype)   # one direction gives the diagonal
        diag = primitive.jvp(residuals, tangents, params, in_shapes, out_shapes)
        size_out = math.prod(out_shapes)
        diag = np.zeros(size_out) if diag is ZERO else np.broadcast_to(
            _floating(primal_value(diag)), out_shapes).ravel()
        return [Block(True, np.array(diag), size_out, size_in)]
    tangents[arg] = np.eye(size_in, dtype=dtype).reshape((size_in,) + tuple(in_shape))
    columns = primitive.jvp(residuals, tangents, params, in_shapes, out_shapes)
    if not several:
        columns = (columns,)
    elif columns is ZERO:
        columns = (ZERO,) * len(shapes)
    blocks = []
    for column, out_shape in zip(columns, shapes):   # each (size_in,) + out_shape
        size_out = math.prod(out_shape)
        if column is ZERO:
            blocks.append(Block(False, np.zeros((size_out, size_in)), size_out, size_in))
            continue
        matrix = _floating(primal_value(column)).reshape(size_in, size_out).T
        if size_in == size_out and not np.any(matrix - np.diag(np.diag(matrix))):
            blocks.append(Block(True, np.diag(matrix).copy(), size_out, size_in))
        else:
            blocks.append(Block(False, np.ascontiguousarray(matrix), size_out, size_in))
    return blocks


def _floating(value) -> np.ndarray:
    """A local derivative as floats: complex ones stay complex (a holomorphic program)."""
    value = np.asarray(value)
    return value if value.dtype.kind in "fc" else value.astype(np.float64)


def linearize(graph: Graph) -> LinearizedGraph:
    """Local Jacobian blocks of every edge that reaches an output (one walk each way).

    Diagonal blocks (elementwise operations, identities) are stored as vectors, so the
    multiplication counts follow the structure, not the dense sizes.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> lg = linearize(ad.trace(lambda x: anp.sin(x) * x, np.ones(3)))
    >>> lg.sizes, [sorted(p) for p in lg.preds]
    ([3, 3, 3], [[], [0], [0, 1]])
    """
    tape = graph.tape
    n_nodes = len(graph.nodes)
    needed = bytearray(n_nodes)
    for o in graph.outputs:
        if o is not None:
            needed[o] = 1
    for primitive, _, parents, _, out, _ in tape.entries(reverse=True):   # reachability
        if any(needed[out:out + primitive.n_outputs]):
            for p in parents:
                if p != CONSTANT:
                    needed[p] = 1
    sizes = [node.size for node in graph.nodes]
    preds: list[dict[int, Block]] = [{} for _ in graph.nodes]
    for primitive, params, parents, constants, out, residuals in tape.entries():
        ids = range(out, out + primitive.n_outputs)
        if not any(needed[o] for o in ids):
            continue
        in_shapes = tape.in_shapes(parents, constants)
        for k, p in enumerate(parents):
            if p == CONSTANT:
                continue
            dtype = _dtype(graph.values[p])
            dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
            blocks = _local_blocks(primitive, params, residuals, k, in_shapes,
                                   tape.out_shape(primitive, out), dtype)
            for o, block in zip(ids, blocks):
                old = preds[o].get(p)
                preds[o][p] = block if old is None else _sum(old, block, True)
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


def _dtype(value) -> np.dtype:
    dtype = getattr(primal_value(value), "dtype", None)
    return np.dtype(np.float64) if dtype is None else dtype


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
    placed = []
    for r, o in enumerate(lg.outputs):
        if o is None:
            continue
        for c, i in enumerate(lg.inputs):
            block = work.preds[o].get(i)
            if block is not None:
                placed.append((r, c, block.dense()))
    # complex where a block is (a holomorphic program's Jacobian), else float64
    J = np.zeros((row[-1], col[-1]), dtype=np.result_type(np.float64, *[
        b.dtype for _, _, b in placed]))
    for r, c, dense in placed:
        J[row[r]:row[r + 1], col[c]:col[c + 1]] = dense
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


__all__ = ["Block", "LinearizedGraph", "linearize", "forward_order", "reverse_order",
           "markowitz_order", "elimination_cost", "eliminate", "EliminationReport",
           "elimination_report"]
