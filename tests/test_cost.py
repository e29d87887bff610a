"""The cost model: matrix-chain DP, counts, the auto choice, chains, vertex elimination."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ad
import ad.numpy as anp
from ad import cost
from ad.cost import calibration


# ----------------------------------------------------------------------------- matrix chain DP
def all_orders(i: int, j: int):
    """Every bracketing of J_j ... J_i (brute force; recursion is fine at this size)."""
    if i == j:
        yield i
        return
    for k in range(i, j):
        for left in all_orders(k + 1, j):
            for right in all_orders(i, k):
                yield (left, right)


@given(st.lists(st.integers(1, 40), min_size=2, max_size=8))
def test_dp_matches_brute_force_over_all_bracketings(dims):
    plan = cost.matrix_chain(dims)
    L = len(dims) - 1
    costs = [cost.order_cost(dims, order) for order in all_orders(1, L)]
    assert len(costs) == math.comb(2 * (L - 1), L - 1) // L   # Catalan(L - 1) bracketings
    assert plan.cost == min(costs)
    assert cost.order_cost(dims, plan.order()) == plan.cost
    if L >= 2:
        forward = 1
        for i in range(2, L + 1):
            forward = (i, forward)
        reverse = L
        for i in range(L - 1, 0, -1):
            reverse = (reverse, i)
        assert plan.forward == cost.order_cost(dims, forward)
        assert plan.reverse == cost.order_cost(dims, reverse)
    assert plan.cost <= min(plan.forward, plan.reverse) or L < 2


@given(st.lists(st.integers(1, 12), min_size=2, max_size=7), st.integers(0, 2**31 - 1))
def test_plan_multiply_equals_plain_product(dims, seed):
    rng = np.random.default_rng(seed)
    factors = [rng.standard_normal((dims[i], dims[i - 1])) for i in range(1, len(dims))]
    plan = cost.matrix_chain(dims)
    expected = factors[0]
    for J in factors[1:]:
        expected = J @ expected
    np.testing.assert_allclose(plan.multiply(factors), expected, rtol=1e-10, atol=1e-10)


def test_matrix_chain_textbook_example():
    # CLRS 15.2: dims 30 35 15 5 10 20 25 -> 15125 scalar multiplications. Our factor i is
    # dims[i] x dims[i-1], so feed the dimensions reversed.
    plan = cost.matrix_chain([25, 20, 10, 5, 15, 35, 30])
    assert plan.cost == 15125
    diamond = cost.matrix_chain([1000, 10, 1000, 10, 1000, 10, 1000])
    assert diamond.cost < min(diamond.forward, diamond.reverse) / 4
    assert "multiply-adds" in str(diamond)


# ----------------------------------------------------------------------------- counts
def entry(name, in_shapes, out_shape, traced=None, **params):
    return ad.primitives[name].counts(in_shapes, out_shape, params, traced)


def test_counts_of_sum_of_squares_by_hand():
    g = ad.trace(lambda x: anp.sum(x * x), np.ones(4))
    c = cost.count(g)
    hand = entry("multiply", [(4,), (4,)], (4,)) + entry("sum", [(4,)], (), axis=(0,),
                                                           keepdims=False)
    assert (c.flops, c.jvp, c.vjp, c.saved) == (hand.flops, hand.jvp, hand.vjp, hand.saved)
    assert (c.n, c.m, c.nodes, c.edges) == (4, 1, 2, 3)          # x*x uses x twice
    assert c.bytes == 8 * ((4 + 4 + 4) + (4 + 1))


def test_counts_of_a_dense_layer_by_hand():
    W = np.ones((3, 4))
    g = ad.trace(lambda x: anp.tanh(W @ x), np.ones(4))
    assert [node.name for node in g.nodes] == ["input", "reshape", "matmul", "reshape", "tanh"]
    hand = (entry("reshape", [(4,)], (4, 1), shape=(4, 1))
            + entry("matmul", [(3, 4), (4, 1)], (3, 1), traced=(False, True))   # W constant
            + entry("reshape", [(3, 1)], (3,), shape=(3,)) + entry("tanh", [(3,)], (3,)))
    c = cost.count(g)
    assert (c.flops, c.jvp, c.vjp, c.saved) == (hand.flops, hand.jvp, hand.vjp, hand.saved)
    both = ad.primitives["matmul"].counts([(3, 4), (4, 1)], (3, 1), {}, (True, True))
    one = ad.primitives["matmul"].counts([(3, 4), (4, 1)], (3, 1), {}, (False, True))
    assert both.jvp == 2 * one.jvp == 2 * 2 * 3 * 4   # a derivative term per traced factor


def test_peak_live_values_by_hand():
    # sin(sin(x)), n = 5: x (5) + v1 (5) + v2 (5) alive at once when v2 is made.
    c = cost.count(ad.trace(lambda x: anp.sin(anp.sin(x)), np.ones(5)))
    assert c.peak_live == 15
    # a long chain keeps only about two values alive, never the whole history
    c = cost.count(ad.trace(lambda x: _repeat(anp.sin, x, 50), np.ones(5)))
    assert c.peak_live == 15


def _repeat(fn, x, times):
    for _ in range(times):
        x = fn(x)
    return x


def _table(engine=None, line=(1e-6, 1e-9)):
    """A fixed calibration: every primitive and mode on one line, the engine terms given."""
    lines = {name: {mode: line for mode in calibration.MODES} for name in ad.primitives}
    return calibration.Calibration(lines, {}, engine or {
        "forward_entry": 3e-6, "record_entry": 2e-6, "sweep_entry": 1e-6,
        "forward_pass": 5e-6, "record_pass": 4e-6, "sweep_pass": 3e-6, "call": 50e-6,
        "element": 2e-9, "accumulate": 1e-9})


def test_mode_predictions_follow_the_formulas():
    g = ad.trace(lambda x: anp.tanh(x[:, None] * x[None, :3]), np.ones(10))   # R^10 -> R^30
    c = cost.count(g)
    table = _table()
    e = table.engine
    r = cost.predict(c, chunk_size=4, table=table)
    assert (r.forward.passes, r.reverse.passes) == (3, 8)
    assert r.forward.flops == 3 * c.flops + 10 * c.jvp
    assert r.reverse.flops == c.flops + 30 * c.vjp
    apps = sum(row[2] for row in c.by_primitive)
    value, jvp, vjp = (sum(row[k] for row in c.by_primitive) for k in (3, 4, 5))
    assert apps == c.nodes
    # seconds = overhead * applications + slope * work, per pass and direction
    rules_fwd = 3 * (1e-6 * apps + 1e-9 * value) + 3 * 1e-6 * apps + 1e-9 * 10 * jvp
    engine_fwd = 3 * (c.nodes * e["forward_entry"] + e["forward_pass"]) + e["call"] \
        + e["element"] * 10 * (10 + 30)
    assert r.forward.seconds == pytest.approx(rules_fwd + engine_fwd)
    assert r.forward.overhead == pytest.approx(engine_fwd)
    rules_rev = (1e-6 * apps + 1e-9 * value) + 8 * 1e-6 * apps + 1e-9 * 30 * vjp
    engine_rev = c.nodes * (e["record_entry"] + 8 * e["sweep_entry"]) + e["record_pass"] \
        + 8 * e["sweep_pass"] + e["call"] + e["accumulate"] * 30 * c.fan_in \
        + e["element"] * 30 * (10 + 30)
    assert r.reverse.seconds == pytest.approx(rules_rev + engine_rev)
    assert c.fan_in == 0       # x is read twice, by getitems that accumulate in place
    unfused = cost.count(ad.trace(lambda x: (x + 1.0) - x, np.ones(10)))
    assert unfused.fan_in == 10    # add and subtract: the second contribution is an addition
    assert r.reverse.peak_bytes > c.itemsize * c.saved      # the tape is part of it
    assert r.forward.terms[0][1] >= r.forward.terms[-1][1]
    assert sum(t for _, t in r.forward.terms) == pytest.approx(r.forward.seconds)
    text = str(r)
    for label in ("one JVP", "one VJP", "Jacobian by forward mode", "Jacobian by reverse mode",
                  "auto mode:", "largest terms", "calibration: fixed"):
        assert label in text


def test_seeding_a_wide_input_counts_against_forward_mode():
    """R^1000 -> R^3 through a slice: few flops either way, but forward mode must seed a
    1000 x 1000 basis; reverse mode measured ~3x faster here."""
    report = ad.cost_report(lambda x: anp.tanh(x[:3]) * 2.0, np.ones(1000))
    assert report.choice == "reverse"


@pytest.mark.parametrize("n, m, expected", [(2000, 1, "reverse"), (1, 2000, "forward"),
                                            (500, 5, "reverse"), (5, 500, "forward")])
def test_auto_choice_on_clear_cut_shapes(n, m, expected):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, n))
    f = lambda x: anp.tanh(A @ x)   # noqa: E731
    x = rng.standard_normal(n)
    assert ad.cost_report(f, x).choice == expected
    jac = ad.jacobian(f)
    J = jac(x)
    assert jac.report.choice == expected and expected in jac.report.reason
    np.testing.assert_allclose(J, ad.jacfwd(f)(x), rtol=1e-10, atol=1e-12)


def test_auto_picks_the_cheaper_prediction_even_against_n_and_m():
    """n < m, yet with one direction per pass and sweep entries priced far below forward
    entries, 4 sweeps are predicted to beat 3 forward passes of a 20-odd-node program: auto
    follows the prediction, and the reason says why it differs from the n-versus-m rule."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 3))

    def f(x):
        y = A @ x
        for _ in range(20):
            y = anp.sin(y)
        return y
    table = _table({"forward_entry": 10e-6, "record_entry": 5e-6, "sweep_entry": 1e-6},
                   line=(0.0, 0.0))
    r = ad.cost_report(f, rng.standard_normal(3), chunk_size=1, table=table)
    assert (r.forward.passes, r.reverse.passes) == (3, 4)
    nodes = r.counts.nodes
    assert nodes > 20
    assert r.forward.seconds == pytest.approx(3 * nodes * 10e-6)
    assert r.reverse.seconds == pytest.approx(nodes * 5e-6 + 4 * nodes * 1e-6)
    assert r.choice == "reverse"
    assert "comparing n with m alone would pick forward" in r.reason
    factor = r.forward.cost / r.reverse.cost
    assert f"{factor:.3g}x faster" in r.reason


# ----------------------------------------------------------------------------- chains
def dense_chain(widths, seed=0):
    rng = np.random.default_rng(seed)
    stages = []
    for i in range(1, len(widths)):
        W = rng.standard_normal((widths[i], widths[i - 1])) / np.sqrt(widths[i - 1])
        stages.append(lambda x, W=W: anp.tanh(W @ x))
    return ad.chain(*stages), rng.standard_normal(widths[0])


@pytest.mark.parametrize("widths", [(1000, 4, 1000, 4, 1000), (60, 4, 60, 4, 60), (3, 40, 40, 2),
                                    (7,), (30, 30)])
def test_optimal_chain_jacobian_equals_forward_and_reverse(widths):
    if len(widths) == 1:
        f, x = ad.chain(anp.sin, anp.exp), np.linspace(0, 1, widths[0])
    else:
        f, x = dense_chain(widths)
    jo = ad.jacobian(f, mode="optimal")
    J = jo(x)
    np.testing.assert_allclose(J, ad.jacobian(f, mode="forward")(x), rtol=0, atol=1e-10)
    np.testing.assert_allclose(J, ad.jacobian(f, mode="reverse")(x), rtol=0, atol=1e-10)
    np.testing.assert_allclose(J, ad.jacobian(f)(x), rtol=0, atol=1e-10)
    assert jo.report.plan.dims == tuple(jo.report.dims)
    if widths[0] == 1000:
        assert jo.report.choice == "plan"


def test_an_optimal_chain_jacobian_differentiates_through_its_plan():
    # the plan's first run built the later stages' Jacobians at plain values: an outer
    # transform saw no dependence there (a wrong gradient)
    f, x = dense_chain((300, 2, 300))
    v = np.random.default_rng(1).standard_normal(300)
    want = ad.grad(lambda x: anp.sum(ad.jacfwd(f)(x) @ v))(x)
    for _ in range(2):                     # the fresh plan, then the cached one
        jo = ad.jacobian(f, mode="optimal")
        got = ad.grad(lambda x: anp.sum(jo(x) @ v))(x)
        assert jo.report.choice == "plan"
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_an_optimal_chain_takes_holomorphic_and_refuses_a_tuple_stage():
    z = np.array([0.3 + 0.2j, -0.1 + 0.4j, 0.2 - 0.1j])
    f = ad.chain(anp.sin, lambda t: t[:2] * (2 + 1j))
    np.testing.assert_allclose(ad.jacobian(f, mode="optimal", holomorphic=True)(z),
                               ad.jacfwd(f, holomorphic=True)(z), rtol=1e-12)
    one = ad.chain(lambda x: (anp.sin(x),), lambda t: anp.tanh(t[0]))
    with pytest.raises(ValueError, match="must return one array"):
        ad.jacobian(one, mode="optimal")(np.ones(3))


def test_vertex_elimination_keeps_complex_jacobians_complex():
    from ad.cost import eliminate, forward_order, linearize
    f = lambda v: anp.sin(v) * (2 + 1j) + anp.cos(v * (1 - 2j)) * v   # noqa: E731
    z = np.array([0.3 + 0.1j, 0.5 - 0.2j])
    J, _ = eliminate(linearize(ad.trace(f, z)), forward_order(linearize(ad.trace(f, z))))
    np.testing.assert_allclose(J, ad.jacfwd(f, holomorphic=True)(z), rtol=1e-12)


def test_diamond_chain_plan():
    """Wide-narrow-wide: each 1000 -> 4 stage by reverse mode (4 cotangents), each
    4 -> 1000 stage by forward mode (4 directions), multiplied in the optimal order: a few
    narrow passes instead of 1000 wide ones (measured about 4.7x faster than either pure
    mode on this machine; predicted 4x)."""
    f, x = dense_chain((1000, 4, 1000, 4, 1000))
    report = f.plan(x)
    assert report.modes[1::2] == ["forward", "forward"]
    assert report.choice == "plan"      # so the stage-wise path is what the test above checks
    assert ad.chain(anp.sin, anp.cos).plan(np.ones(3)).choice != "plan"   # nothing to gain
    assert report.optimal.cost < min(report.forward.cost, report.reverse.cost) / 2
    assert report.plan.cost < min(report.plan.forward, report.plan.reverse)
    assert "J2: 1000 x 4 by forward" in str(report)


def test_chain_flattens_and_checks():
    inner = ad.chain(anp.sin, anp.cos)
    assert len(ad.chain(inner, anp.exp)) == 3
    with pytest.raises(TypeError):
        ad.chain(anp.sin, 3)
    with pytest.raises(ValueError):
        ad.jacobian(inner, argnums=1, mode="optimal")
    with pytest.raises(ValueError):
        ad.jacobian(anp.sin, mode="sideways")
    # "optimal" on a plain function is the auto mode
    np.testing.assert_allclose(ad.jacobian(anp.sin, mode="optimal")(np.zeros(2)), np.eye(2))


# ----------------------------------------------------------------------------- elimination
def funnel(a, b, c, d):
    return anp.sin(a + b + c + d)


def test_elimination_counts_by_hand_on_a_scalar_funnel():
    # v4 = a+b, v5 = v4+c, v6 = v5+d, v7 = sin(v6). Forward order: 2 + 3 + 4 = 9
    # multiplications; reverse: 2 + 2 + 2 = 6; Markowitz (ties to the earliest): v4 (2),
    # then v6 (2) beats v5 (3), then v5 with preds a, b, c: 3, total 7.
    lg = cost.linearize(ad.trace(funnel, 1.0, 2.0, 3.0, 4.0))
    assert lg.intermediates == [4, 5, 6]
    assert cost.markowitz_order(lg) == [4, 6, 5]
    counts = [cost.elimination_cost(lg, order(lg))
              for order in (cost.forward_order, cost.reverse_order, cost.markowitz_order)]
    assert counts == [9, 6, 7]
    J, mults = cost.eliminate(lg, cost.reverse_order(lg))
    assert mults == 6
    np.testing.assert_allclose(J, np.full((1, 4), np.cos(10.0)))


def test_elimination_counts_follow_block_structure():
    # sin(x) * x with n = 3: one intermediate, diagonal times diagonal: 3 multiplications.
    lg = cost.linearize(ad.trace(lambda x: anp.sin(x) * x, np.ones(3)))
    assert cost.elimination_cost(lg, cost.forward_order(lg)) == 3
    # W2 tanh(W1 x) through reshapes: x(4) -r-> (4,1) -W1-> (5,1) -r-> (5,) -tanh-> (5,)
    # -r-> (5,1) -W2-> (2,1) -r-> (2,). Reshapes and tanh are diagonal, the matmuls dense.
    # Forward: 20 (5x4 . diag) + 20 + 20 + 20 (diag . 5x4) + 40 (2x5 . 5x4) + 8 = 128.
    # Reverse: 10 + 10 + 10 + 10 (diag/2x5 products) + 40 + 8 (2x4 . diag) = 88.
    W1, W2 = np.ones((5, 4)), np.ones((2, 5))
    lg = cost.linearize(ad.trace(lambda x: W2 @ anp.tanh(W1 @ x), np.ones(4)))
    forward = cost.elimination_cost(lg, cost.forward_order(lg))
    reverse = cost.elimination_cost(lg, cost.reverse_order(lg))
    assert (forward, reverse) == (128, 88)
    assert cost.elimination_cost(lg, cost.markowitz_order(lg)) <= 128


def scalar_dag(y):
    a, b, c = anp.sin(y[0] * y[1]), anp.exp(y[2]) * y[3], y[4] / (1.0 + y[5] ** 2)
    d = a * b + anp.tanh(c)
    return anp.stack([d * a, d + b * c, anp.log(1.0 + d * d)])


def shared_output(x):
    y = anp.sin(x)
    return y, y * anp.cos(x), anp.sum(y)        # an output that feeds other nodes


@pytest.mark.parametrize("f, x", [
    (scalar_dag, np.linspace(0.1, 0.9, 6)),
    (shared_output, np.linspace(0.0, 1.0, 4)),
    (lambda x: anp.tanh(np.ones((3, 5)) @ anp.exp(x)) * x[:3], np.linspace(0, 1, 5)),
    (lambda x: x, np.ones(3)),
    (lambda x: anp.sum(x[:, None] * x) + x[0], np.arange(1.0, 4.0)),
])
def test_elimination_orders_give_identical_jacobians(f, x):
    graph = ad.trace(f, x)
    lg = cost.linearize(graph)
    reference = ad.jacfwd(f)(x)
    leaves = reference if isinstance(reference, tuple) else (reference,)
    reference = np.concatenate([np.reshape(r, (-1, graph.n)) for r in leaves])
    jacobians = []
    for order in (cost.forward_order, cost.reverse_order, cost.markowitz_order):
        J, mults = cost.eliminate(lg, order(lg))
        assert mults == cost.elimination_cost(lg, order(lg))
        jacobians.append(J)
    for J in jacobians:
        np.testing.assert_allclose(J, reference, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(jacobians[0].shape, (graph.m, graph.n))


@given(st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_elimination_on_random_scalar_programs(width, seed):
    rng = np.random.default_rng(seed)
    ops = [anp.sin, anp.tanh, lambda u: u * u, anp.exp]
    plan = [(int(rng.integers(4)), int(rng.integers(width)), int(rng.integers(width)))
            for _ in range(8)]

    def f(x):
        values = [x[i] for i in range(width)]
        for op, i, j in plan:
            values.append(ops[op](values[-1 - i]) * 0.5 + values[-1 - j] * 0.25)
        return anp.stack(values[-3:])
    x = rng.uniform(-1, 1, width)
    graph = ad.trace(f, x)
    lg = cost.linearize(graph)
    reference = ad.jacfwd(f)(x)
    for order in (cost.forward_order, cost.reverse_order, cost.markowitz_order):
        J, _ = cost.eliminate(lg, order(lg))
        np.testing.assert_allclose(J, reference, rtol=1e-12, atol=1e-12)


def test_bad_elimination_order_is_refused():
    lg = cost.linearize(ad.trace(funnel, 1.0, 2.0, 3.0, 4.0))
    with pytest.raises(ValueError):
        cost.eliminate(lg, [4, 5])
    assert "Markowitz" in str(cost.elimination_report(ad.trace(funnel, 1.0, 2.0, 3.0, 4.0)))


def test_identity_seed_is_free_in_one_forward_pass():
    """jacfwd seeds the identity and matmul skips A @ I (a catalogue fact: identity_seed),
    so one full-width forward pass does not pay the first product's JVP."""
    W = np.ones((3, 4))
    c = cost.count(ad.trace(lambda x: anp.tanh(W @ x), np.ones(4)))
    matmul = ad.primitives["matmul"].counts([(3, 4), (4, 1)], (3, 1), {}, (False, True))
    assert c.seed_jvp == matmul.jvp
    one_pass, two_passes = cost.predict(c, chunk_size=4), cost.predict(c, chunk_size=2)
    assert one_pass.forward.flops == c.flops + 4 * (c.jvp - c.seed_jvp)
    assert two_passes.forward.flops == 2 * c.flops + 4 * c.jvp
    two_inputs = cost.count(ad.trace(lambda x, y: anp.tanh(W @ x) * y, np.ones(4), 2.0))
    assert two_inputs.seed_jvp == 0


# ----------------------------------------------------------------------------- counting fast
def _counted(f, x, fresh: bool):
    if fresh:
        cost.counts._GROUPS.clear()
    return cost.count(ad.trace(f, x))


def _facts(c):
    return (c.flops, c.jvp, c.vjp, c.saved, c.bytes, c.peak_live, c.fan_in, c.edges, c.nodes,
            c.by_primitive, c.group_tally)


@pytest.mark.parametrize("f, x", [
    (lambda x: anp.sum(anp.sin(x) * 0.9 + 0.1 * x[::-1]), np.ones(7)),
    (lambda x: x[1:3] * x[np.array([0, 0, 2])][:2] + anp.cumsum(x)[2:4], np.ones(5)),
    (lambda x: anp.concatenate([x[:2] * 2.0, anp.exp(x), x[::2]]), np.ones(6)),
    (lambda x: anp.linalg.eigh(anp.reshape(x, (3, 3)) + anp.reshape(x, (3, 3)).T)[1], np.ones(9)),
])
def test_counts_are_the_same_from_the_process_memo(f, x):
    assert _facts(_counted(f, x, fresh=True)) == _facts(_counted(f, x, fresh=False))


def _both_ways(f, *args):
    """The counts of f's tape with the values' bookkeeping in lists and in arrays."""
    g = ad.trace(f, *args)
    ways = []
    for arrays_from in (10**9, 1):
        old, cost.counts.ARRAYS_FROM = cost.counts.ARRAYS_FROM, arrays_from
        try:
            ways.append(cost.count(g))
        finally:
            cost.counts.ARRAYS_FROM = old
    return ways


@pytest.mark.parametrize("f, x", [
    (lambda x: anp.sum(anp.sin(x) * 0.9 + 0.1 * x[::-1]), np.ones(7)),
    (lambda x: anp.concatenate([x[:2] * 2.0, anp.exp(x), x[::2]]), np.ones(6)),
    # several outputs (consecutive ids), one of them never read
    (lambda x: anp.linalg.eigh(anp.reshape(x, (3, 3)) + anp.reshape(x, (3, 3)).T)[1] * 2.0,
     np.ones(9)),
    (lambda x: anp.linalg.svd(anp.reshape(x, (2, 3)), full_matrices=False)[1], np.arange(6.0)),
    # fused accumulation (an elementwise op reading a value twice), identity seeds passed on
    (lambda x: anp.tanh(anp.reshape(x, (2, 2)).T) * anp.reshape(x, (2, 2)).T + x[0], np.ones(4)),
    # an identity seed passed on (reshape) and met (matmul by a constant)
    (lambda x: anp.tanh(np.arange(12.0).reshape(3, 4) @ anp.reshape(x, (4,))), np.ones((2, 2))),
    (lambda x: 3.0, np.ones(2)),                          # no entries at all
    (lambda x: x, np.ones(2)),
])
def test_the_values_bookkeeping_is_the_same_in_lists_and_in_arrays(f, x):
    lists, arrays = _both_ways(f, x)
    assert lists == arrays and lists.n == arrays.n
    if x.shape == (2, 2):
        assert lists.seed_jvp > 0


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10**6)), min_size=1, max_size=40),
       st.booleans())
def test_random_programs_count_the_same_in_lists_and_in_arrays(steps, two_inputs):
    """Random programs over a pool of values (reads, fan-in, dead values, constants)."""
    def f(x, y):
        pool = [x, y]
        for kind, pick in steps:
            a, b = pool[pick % len(pool)], pool[(pick // 7) % len(pool)]
            pool.append([a * b, anp.sin(a) + 1.0, a + b, anp.sum(a) * b, a[::-1] - b,
                         anp.exp(b) * 2.0][kind])
        return pool[-1] + pool[len(pool) // 2]
    args = (np.linspace(0.1, 1.0, 3), np.linspace(-1.0, 0.5, 3))
    lists, arrays = _both_ways(f if two_inputs else (lambda x: f(x, anp.cos(x))),
                               *(args if two_inputs else args[:1]))
    assert lists == arrays


def test_a_long_tape_counts_the_same_by_default_and_in_lists():
    def f(x):
        for _ in range(250):
            x = anp.sin(x) * 0.5 + x
        return x
    assert cost.counts.ARRAYS_FROM <= 750       # the default takes the arrays here
    lists, arrays = _both_ways(f, np.ones(3))
    assert lists == arrays == cost.count(ad.trace(f, np.ones(3)))
    assert arrays.nodes == 750 and arrays.flops == 250 * 3 * (15 + 1 + 1)   # sin, *, +


def test_repeated_entries_are_counted_as_one_group():
    def f(x):
        for _ in range(50):
            x = anp.sin(x[1:3]) * 0.5 + x[np.array([0, 1])] + x    # slices, index arrays
        return x
    c = cost.count(ad.trace(f, np.ones(2)))
    assert c.nodes == 50 * 6 and len(c.group_tally) == 6 and set(c.group_tally) == {50.0}


def test_groups_tell_index_arrays_constants_and_outputs_apart():
    c = cost.count(ad.trace(lambda x: x[np.array([0, 1])] + x[np.array([1, 1])], np.ones(3)))
    assert len(c.group_tally) == 3        # two gathers (their positions differ), one add
    scalar = cost.count(ad.trace(lambda x: x * 2.0, np.ones(4)))
    array = cost.count(ad.trace(lambda x: x * np.full(4, 2.0), np.ones(4)))
    assert scalar.by_primitive[0][0] == array.by_primitive[0][0] == "multiply~tc"
    assert scalar.bytes < array.bytes     # the array constant is read: it is in the key
    # a boolean mask selects as many elements as its data says: the output shape is keyed
    few = cost.count(ad.trace(lambda x: x[np.array([True, False, False, False])], np.ones(4)))
    many = cost.count(ad.trace(lambda x: x[np.array([True, True, True, False])], np.ones(4)))
    assert few.bytes < many.bytes


def test_auto_reports_what_deciding_cost():
    jac = ad.jacobian(lambda x: anp.tanh(x) * 2.0)
    jac(np.ones(5))
    first = jac.report.selection_seconds
    assert 0.0 < first < 1.0
    jac(np.ones(5))                        # decided: the report keeps the first call's figure
    assert jac.report.selection_seconds == first


def test_large_index_arrays_are_not_kept_for_the_process():
    positions = np.arange(2000)[::-1].copy()           # 16 kB of positions
    cost.counts._GROUPS.clear()
    c = cost.count(ad.trace(lambda x: x[positions] * 2.0, np.ones(2000)))
    assert c.nodes == 2 and len(cost.counts._GROUPS) == 1      # the multiply only
    small = np.array([0, 2])
    cost.count(ad.trace(lambda x: x[small] * 2.0, np.ones(2000)))
    assert len(cost.counts._GROUPS) == 3     # + the small gather, the multiply of (2,)


def _count_a_checkpointed_program():
    """Counts a program with a checkpointed function closing over an object; returns a
    weak reference to that object."""
    import weakref

    class Weights:                  # what a user's function closes over
        pass
    weights = Weights()

    def layer(x, w=weights):
        return anp.sin(x) * 2.0
    f = ad.checkpoint(layer)
    cost.count(ad.trace(lambda x: anp.sum(f(x)), np.ones(3)))
    return weakref.ref(weights)


def test_a_checkpointed_function_is_not_kept_by_the_counts():
    import gc
    cost.counts._GROUPS.clear()
    ref = _count_a_checkpointed_program()
    gc.collect()
    assert ref() is None


def test_a_measured_recording_charges_f_s_own_python_to_every_run_of_f():
    """What a measured recording takes beyond its predicted seconds is f's own Python:
    every forward pass pays it again, the reverse mode's one recording once; nothing is
    charged when nothing was measured or the counts explain it, and a first call's one-time
    costs are capped."""
    from ad.cost import counts as cc
    g = ad.trace(lambda x: anp.tanh(x[:, None] * x[None, :3]), np.ones(10))   # R^10 -> R^30
    c = cost.count(g)
    table = _table()
    predicted = cc.recording_seconds(c, table)
    assert predicted > 0
    assert cc.own_python(c, None, table) == 0.0
    assert cc.own_python(c, 0.5 * predicted, table) == 0.0           # explained: nothing
    assert cc.own_python(c, 2.0 * predicted, table) == pytest.approx(predicted)
    assert cc.own_python(c, 1e3 * predicted, table) == pytest.approx(
        cc.OWN_PYTHON_CAP * predicted)
    plain = cost.predict(c, chunk_size=4, table=table)
    charged = cost.predict(c, chunk_size=4, table=table, recorded=2.0 * predicted)
    assert charged.forward.seconds == pytest.approx(
        plain.forward.seconds + plain.forward.passes * predicted)
    assert charged.reverse.seconds == pytest.approx(plain.reverse.seconds + predicted)
    assert "f's own Python (measured)" in dict(charged.forward.terms)
    # a given table prices the counts alone: cost_report stays deterministic
    f = lambda x: anp.tanh(x[:, None] * x[None, :3])   # noqa: E731
    first, second = (ad.cost_report(f, np.ones(10), table=table) for _ in range(2))
    assert first.forward.seconds == second.forward.seconds
    assert "f's own Python (measured)" not in dict(first.forward.terms)


def test_a_chain_s_input_is_one_array():
    # a dict reached NumPy's structured-dtype parser ("entry not a 2- or 3- tuple")
    c = ad.chain(lambda x: anp.sin(x["a"]), lambda y: y * 2.0)
    for x in ({"a": np.ones(3)}, (np.ones(2), np.ones(2))):
        with pytest.raises(TypeError, match="a chain's input is one array"):
            ad.jacobian(c, mode="optimal")(x)
        with pytest.raises(TypeError, match="a chain's input is one array"):
            c.plan(x)
