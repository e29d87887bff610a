"""The matrix-chain argument: the optimal bracketing of a chain of Jacobians, and chains of
stages whose Jacobian `jacobian(mode="optimal")` accumulates in that order.

* `matrix_chain(dims)` is the classic O(L^3) dynamic program for J_L ... J_1, with the
  forward and reverse bracketings next to it; `order_cost` and `evaluate_order` count and
  multiply any bracketing (explicit stacks, never recursion).
* `chain(f1, ..., fL)` composes stages; `Chain.plan(x)` predicts each stage's Jacobian in
  its cheaper mode and the product in the optimal order (`ChainReport`), all stages planned
  with one block plan (`ad.tape.plan_blocks`) so the execution runs the predicted passes.

Imports `ad.primitive`, `ad.tree`, `ad.tape`, `ad.graph`, `ad.cost.counts` and
`ad.cost.calibration`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ad import tree
from ad.cost.calibration import Calibration, current
from ad.cost.counts import (CostReport, ModeCost, _priced, _rules, _seconds, count,
                            forward_cost, predict, reverse_cost)
from ad.graph import trace
from ad.primitive import is_int
from ad.tape import plan_blocks


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
    if isinstance(dims, (str, bytes)) or not all(is_int(d) and d >= 1 for d in dims):
        raise ValueError(f"matrix_chain: dims must be positive integers, not {dims!r}")
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

    def check_input(self, x) -> None:
        """A chain's input is one array (or number): a dict or tuple of them is refused."""
        if tree.structure(x) != tree.structure(0):
            raise TypeError(f"{self.__name__}: a chain's input is one array, not a "
                            f"{type(x).__name__}")

    def plan(self, x, *, chunk_size: int | None = None,
             table: Calibration | None = None) -> "ChainReport":
        """Trace every stage at its input; predict per-stage modes and the product order.

        One block plan covers every stage (its chunk bounds the largest stage input or
        output), and `jacobian(chain, mode="optimal")` runs each stage with that chunk.
        """
        self.check_input(x)
        inputs, graphs = [], []
        for stage in self.stages:
            graph = trace(stage, x)
            if len(graph.output_values) != 1 or graph.outputs[0] is None or \
                    graph.out_structure != tree.structure(0):   # one array, not a (x,)
                raise ValueError(f"chain: stage {getattr(stage, '__name__', stage)} must return "
                                 "one array that depends on its input")
            inputs.append(x)
            graphs.append(graph)
            x = graph.output_values[0]
        widths = [np.shape(v) for v in inputs] + [np.shape(x)]
        chunk = plan_blocks(widths, [], chunk_size).chunk
        table = table or current()
        reports = [predict(count(graph), chunk, table) for graph in graphs]
        return ChainReport(self, inputs, x, reports, chunk, table)


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
                 chunk: int, table: Calibration) -> None:
        self.chain = chain_
        self.inputs = inputs
        self.output = output
        self.stage_reports = reports
        self.chunk = chunk
        self.dims = [reports[0].counts.n] + [r.counts.m for r in reports]
        self.plan = matrix_chain(self.dims)
        self.modes = [r.choice for r in reports]
        n, m = self.dims[0], self.dims[-1]
        fwd = [forward_cost(r.counts, n, chunk, table) for r in reports]
        rev = [reverse_cost(r.counts, m, chunk, table) for r in reports]
        self.forward = _sum_costs("chain Jacobian by forward mode", fwd, n)
        self.reverse = _sum_costs("chain Jacobian by reverse mode", rev, m)
        stages = [r.forward if r.choice == "forward" else r.reverse for r in reports]
        # planning records every stage once; the products are one matmul call each
        e = table.engine
        planning = _priced("planning", 0, 1, sum(r.counts.flops for r in reports), 0.0, 0.0,
                           {"recording the stages": sum(
                               sum(_rules(r.counts, table, 1, None, 0, 0).values())
                               for r in reports)},
                           {"recording (per entry)": sum(r.counts.nodes * e["record_entry"]
                                                         + e["record_pass"] for r in reports)})
        products = _priced("products", 0, self.plan.length - 1, 2.0 * self.plan.cost, 0.0, 0.0,
                           {"matmul": table.line("matmul", "value")(
                               max(self.plan.length - 1, 0), 2.0 * self.plan.cost)}, {})
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
                         f"{_seconds(cheap.cost)}; the other mode "
                         f"{other.cost / cheap.cost:.3g}x more)")
        lines.append(f"  product order: {self.plan}")
        for mc in (self.forward, self.reverse, self.optimal):
            lines.append(f"  {mc.label:<32} predicted {_seconds(mc.cost)}")
        best = min(self.forward.cost, self.reverse.cost)
        lines.append(f"  stage-wise plan vs best pure mode: {best / self.optimal.cost:.3g}x "
                     "predicted")
        lines.append(f"  mode='optimal' uses: {self.choice}"
                     + ("" if self.choice == "plan" else
                        " (forming the stage Jacobians would cost more than one pure mode)"))
        return "\n".join(lines)


def _sum_costs(label: str, parts: Sequence[ModeCost], directions: int) -> ModeCost:
    terms: dict[str, float] = {}
    for part in parts:
        for what, t in part.terms:
            terms[what] = terms.get(what, 0.0) + t
    ordered = tuple(sorted(terms.items(), key=lambda t: -t[1]))
    return ModeCost(label, directions, max(p.passes for p in parts),
                    sum(p.flops for p in parts), sum(p.seconds for p in parts),
                    sum(p.overhead for p in parts), sum(p.bytes for p in parts),
                    max(p.peak_bytes for p in parts), ordered)


__all__ = ["ChainPlan", "matrix_chain", "order_cost", "evaluate_order", "Chain", "chain",
           "ChainReport"]
