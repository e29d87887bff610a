"""Store or recompute (ad/checkpoint.py): checkpointed functions and loops give the same
derivatives as the stored program in every mode and nesting, keep less memory (measured),
and name bad arguments."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import ad
import ad.numpy as anp
from ad.cost.memory import budget_range, footprint
from ad.graph import measure


def mlp(w, x):
    return anp.tanh(anp.tanh(x @ w) @ w.T)


def loss(w, x):
    return anp.sum(mlp(w, x) ** 2)


W = np.random.default_rng(0).standard_normal((4, 4)) * 0.5


def gradient_peak(f, x) -> int:
    """tracemalloc's peak during one gradient of f at x (after a warm-up call)."""
    ad.grad(f)(x)
    tracemalloc.start()
    ad.grad(f)(x)
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top
X = np.random.default_rng(1).standard_normal((3, 4))


def test_checkpoint_gives_the_same_gradient():
    checkpointed = ad.checkpoint(mlp)
    want = ad.grad(loss)(W, X)
    got = ad.grad(lambda w, x: anp.sum(checkpointed(w, x) ** 2))(W, X)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    got_x = ad.grad(lambda w, x: anp.sum(checkpointed(w, x) ** 2), argnums=1)(W, X)
    np.testing.assert_allclose(got_x, ad.grad(loss, argnums=1)(W, X), rtol=1e-13)


def test_checkpoint_in_forward_mode_and_jacobians():
    checkpointed = ad.checkpoint(mlp)
    t = np.ones_like(W)
    _, want = ad.jvp(lambda w: mlp(w, X), (W,), (t,))
    _, got = ad.jvp(lambda w: checkpointed(w, X), (W,), (t,))
    np.testing.assert_allclose(got, want, rtol=1e-13)
    for jac in (ad.jacfwd, ad.jacrev):
        np.testing.assert_allclose(jac(lambda w: checkpointed(w, X))(W),
                                   jac(lambda w: mlp(w, X))(W), rtol=1e-12, atol=1e-14)


def test_checkpoint_nests():
    f = lambda w: loss(w, X)                              # noqa: E731
    checkpointed = ad.checkpoint(f)
    np.testing.assert_allclose(ad.hessian(checkpointed)(W), ad.hessian(f)(W), rtol=1e-11,
                               atol=1e-12)
    inner_grad = ad.checkpoint(ad.grad(f))                # grad inside checkpoint
    np.testing.assert_allclose(ad.jacrev(inner_grad)(W), ad.hessian(f)(W), rtol=1e-11,
                               atol=1e-12)
    twice = ad.checkpoint(lambda w: anp.sum(ad.checkpoint(mlp)(w, X)))   # checkpoint in one
    np.testing.assert_allclose(ad.grad(twice)(W), ad.grad(lambda w: anp.sum(mlp(w, X)))(W),
                               rtol=1e-13)


def test_checkpoint_with_pytrees_and_a_decorator():
    @ad.checkpoint
    def layer(params, x):
        return {"h": anp.tanh(x @ params["w"] + params["b"]), "n": anp.sum(x)}
    params = {"w": W, "b": np.ones(4)}

    def f(p):
        out = layer(p, X)
        return anp.sum(out["h"] ** 2) + out["n"]

    def g(p):
        return anp.sum(anp.tanh(X @ p["w"] + p["b"]) ** 2) + anp.sum(X)
    got, want = ad.grad(f)(params), ad.grad(g)(params)
    for k in params:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-13)


def test_checkpoint_keeps_only_the_inputs_for_the_sweep():
    x = np.random.default_rng(2).standard_normal(20_000)

    def segment(v):
        for _ in range(5):
            v = anp.sin(v) * 1.01
        return v

    def deep(v, wrap=lambda f: f):
        for _ in range(8):
            v = wrap(segment)(v)
        return v

    stored = gradient_peak(lambda v: anp.sum(deep(v)), x)
    recomputed = gradient_peak(lambda v: anp.sum(deep(v, ad.checkpoint)), x)
    # the stored tape holds the residuals of 40 layers (160 kB arrays); checkpointed per
    # segment of 5, the sweep holds the 8 segments' inputs and one segment's tape
    assert recomputed < stored / 2, (stored, recomputed)


# ----------------------------------------------------------------------------- policies
P = ad.checkpoint_policies
POLICIES = [P.nothing_saveable, P.dots_saveable, P.everything_saveable,
            P.save_only_these_names("z"), P.save_only_these_names("unused")]
WS = [np.random.default_rng(k).standard_normal((4, 4)) * 0.5 for k in range(4)]


def deep_loss(policy):
    layer = ad.checkpoint(lambda h, w: anp.tanh(ad.checkpoint_name(h @ w, "z")),
                          policy=policy)

    def f(ws, x):
        h = x
        for w in ws:
            h = layer(h, w)
        return anp.sum(h ** 2)
    return f


def plain_deep_loss(ws, x):
    h = x
    for w in ws:
        h = anp.tanh(h @ w)
    return anp.sum(h ** 2)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.__name__)
def test_every_policy_gives_the_same_derivatives(policy):
    f = deep_loss(policy)
    expected = ad.grad(plain_deep_loss)(WS, X)
    assert all(np.array_equal(a, b) for a, b in zip(ad.grad(f)(WS, X), expected))
    _, vjp_fn = ad.vjp(lambda x: f(WS, x), X)
    first = vjp_fn(1.0)[0]
    assert np.array_equal(vjp_fn(1.0)[0], first)            # the kept values serve again
    h = ad.hessian(lambda x: f(WS, x))(X)
    assert np.allclose(h, ad.hessian(lambda x: plain_deep_loss(WS, x))(X), atol=1e-12)
    t = np.ones_like(X)
    assert np.allclose(ad.jvp(lambda x: f(WS, x), (X,), (t,))[1],
                       ad.jvp(lambda x: plain_deep_loss(WS, x), (X,), (t,))[1])


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.__name__)
def test_a_policy_with_an_argument_not_differentiated(policy):
    # the kept results are numbered by application; an operation on the plain argument
    # alone reaches the re-run's level nowhere (before: A @ x took B @ w's place)
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    x, w = np.array([0.3, -0.7, 1.1]), np.array([0.5, 0.2, -0.4])

    def f(w, x):
        a = A @ x
        return anp.sum(anp.sin(B @ w) * a + (B @ x) ** 2 * (A @ w))
    kept = ad.checkpoint(f, policy=policy)
    for argnums, point in ((0, (w, x)), (1, (w, x)), ((0, 1), (w, x))):
        got = ad.grad(lambda *a: kept(*a), argnums)(*point)
        expected = ad.grad(f, argnums)(*point)
        for g, e in zip(got if isinstance(argnums, tuple) else [got],
                        expected if isinstance(argnums, tuple) else [expected]):
            np.testing.assert_allclose(g, e, rtol=1e-12)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.__name__)
def test_a_policy_keeps_the_results_of_several_output_primitives(policy):
    # qr, eigh and svd give tuples: a kept tuple was replayed as one traced value (a crash)
    A = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])

    def f(A):
        q, r = anp.linalg.qr(A)
        w, v = anp.linalg.eigh(A @ A.T)
        u, s, vt = anp.linalg.svd(A)
        return (anp.sum(r ** 2) + anp.sum(q[:, 0] ** 3) + anp.sum(w * anp.abs(v[0]))
                + anp.sum(s ** 3) + anp.sum(u[:, 0] * vt[0]))
    np.testing.assert_allclose(ad.grad(ad.checkpoint(f, policy=policy))(A), ad.grad(f)(A),
                               rtol=1e-12, atol=1e-14)


def test_a_policy_closure_over_the_differentiated_value_is_named():
    x0 = np.array([0.3, -0.2, 0.5])
    with pytest.raises(ad.LevelError, match="not one of its arguments"):
        ad.grad(lambda t: anp.sum(ad.checkpoint(lambda v: anp.sin(t * v) * v,
                                                policy=P.dots_saveable)(x0 * t)))(0.7)


def counted_product():
    calls = {"n": 0}

    def product(a, b):
        calls["n"] += 1
        return a @ b
    prim = ad.defprimitive(f"counted_product_{id(calls)}", product,
                           jvp=(lambda t, out, a, b: t @ b, lambda t, out, a, b: a @ t),
                           vjp=(lambda ct, out, a, b: ct @ b.T,
                                lambda ct, out, a, b: a.T @ ct),
                           cost=lambda in_shapes, out_shape, **p: ad.Counts(1, 1, 1, 1))
    return prim, calls


@pytest.mark.parametrize("how", ["policy", "name"])
def test_a_kept_result_is_not_recomputed(how):
    prim, calls = counted_product()
    if how == "policy":
        policy = lambda primitive, params: primitive is prim      # noqa: E731
        body = lambda h, w: anp.tanh(prim(h, w))                   # noqa: E731
    else:
        policy = P.save_only_these_names("z")
        body = lambda h, w: anp.tanh(ad.checkpoint_name(prim(h, w), "z"))  # noqa: E731
    for chosen, runs in ((P.nothing_saveable, 2), (policy, 1)):
        layer = ad.checkpoint(body, policy=chosen)
        grad = ad.grad(lambda w: anp.sum(layer(layer(X, w), w)))
        grad(W)                        # the first call also counts f's results, once
        calls["n"] = 0
        g = grad(W)
        assert calls["n"] == 2 * runs                           # two layers, one or two runs
        assert np.array_equal(g, ad.grad(lambda w: anp.sum(body(body(X, w), w)))(W))


def test_policy_decorator_and_bad_policies():
    @ad.checkpoint(policy=P.dots_saveable)
    def layer(h, w):
        return anp.tanh(h @ w)
    assert np.array_equal(ad.grad(lambda w: anp.sum(layer(X, w)))(W),
                          ad.grad(lambda w: anp.sum(anp.tanh(X @ w)))(W))
    with pytest.raises(TypeError, match="policy"):
        ad.checkpoint(lambda h: h, policy="dots")
    with pytest.raises(TypeError, match="name must be a str"):
        ad.checkpoint_name(X, 3)


def test_cost_report_shows_memory_per_mode():
    f = lambda x: plain_deep_loss([w for w in WS * 10], x)      # noqa: E731
    report = ad.cost_report(f, X)
    assert report.budgeted is None and "forward mode keeps no tape" in str(report)
    least, stored = budget_range(footprint(measure(f, X)))
    budget = (least + stored) // 2
    report = ad.cost_report(f, X, memory_budget=budget)
    g = ad.grad(f, memory_budget=budget)
    g(X)
    assert report.memory == g.recorder.plan                     # the plan grad executes
    assert report.budgeted.peak_bytes < report.vjp.peak_bytes
    assert report.budgeted.seconds > report.vjp.seconds
    assert "one VJP, budget" in str(report) and "segments recomputed" in str(report)


# ----------------------------------------------------------------------------- loops
def rk4_step(state, dt=0.01):
    def rhs(s):
        x, y = s[0], s[1]
        return anp.stack([1.1 * x - 0.4 * x * y, 0.1 * x * y - 0.4 * y])
    k1 = rhs(state)
    k2 = rhs(state + 0.5 * dt * k1)
    k3 = rhs(state + 0.5 * dt * k2)
    k4 = rhs(state + dt * k3)
    return state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def final(x0, n=300, **how):
    return anp.sum(ad.loop(rk4_step, x0, n, **how) ** 2)


X0 = np.array([10.0, 5.0])


@pytest.mark.parametrize("how", [dict(checkpoints=1), dict(checkpoints=3),
                                 dict(checkpoints=17), dict(checkpoints=1000),
                                 dict(checkpoints="auto", memory_budget=5 * 700)],
                         ids=["s=1", "s=3", "s=17", "s>n", "auto"])
def test_checkpointed_loops_give_identical_gradients(how):
    want = ad.grad(final)(X0)                    # checkpoints=None: every step taped
    got = ad.grad(lambda x: final(x, **how))(X0)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    s3 = ad.grad(lambda x: final(x, checkpoints=3))(X0)
    assert np.array_equal(got, s3)               # same float operations, whatever s


def test_loops_in_every_mode_and_nesting():
    how = dict(checkpoints=4)
    f = lambda x: ad.loop(rk4_step, x, 60, **how)          # noqa: E731
    plain = lambda x: ad.loop(rk4_step, x, 60)              # noqa: E731
    np.testing.assert_allclose(ad.jacfwd(f)(X0), ad.jacfwd(plain)(X0), rtol=1e-12)
    np.testing.assert_allclose(ad.jacrev(f)(X0), ad.jacfwd(plain)(X0), rtol=1e-12)
    np.testing.assert_allclose(ad.jvp(f, (X0,), (np.ones(2),))[1],
                               ad.jvp(plain, (X0,), (np.ones(2),))[1], rtol=1e-12)
    h = lambda x: anp.sum(f(x) ** 2)                        # noqa: E731
    np.testing.assert_allclose(ad.hessian(h)(X0),
                               ad.hessian(lambda x: anp.sum(plain(x) ** 2))(X0), rtol=1e-10)


def test_a_loop_over_a_pytree_carry():
    def step(c):
        return {"x": c["x"] + 0.01 * c["v"], "v": c["v"] - 0.01 * anp.sin(c["x"])}
    c0 = {"x": np.array([0.5, 1.0]), "v": np.array([0.0, 0.1])}

    def energy(c, **how):
        out = ad.loop(step, c, 200, **how)
        return anp.sum(out["x"] ** 2 + out["v"] ** 2)
    got = ad.grad(lambda c: energy(c, checkpoints=5))(c0)
    want = ad.grad(energy)(c0)
    for k in c0:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-13)


def test_a_checkpointed_loop_keeps_few_states():
    x0 = np.random.default_rng(3).standard_normal(5000)

    def step(x):
        return x + 0.001 * anp.tanh(x)

    def peak(**how):
        return gradient_peak(lambda x: anp.sum(ad.loop(step, x, 400, **how)), x0)
    stored, checkpointed = peak(), peak(checkpoints=4)
    assert checkpointed < stored / 10, (stored, checkpointed)


def test_bad_loop_arguments_are_named():
    with pytest.raises(ValueError, match="n must be >= 0"):
        ad.loop(rk4_step, X0, -1)
    with pytest.raises(TypeError, match="n must be an int"):
        ad.loop(rk4_step, X0, 2.5)
    with pytest.raises(ValueError, match="checkpoints must be >= 1"):
        ad.grad(lambda x: final(x, checkpoints=0))(X0)
    with pytest.raises(ValueError, match="memory_budget"):
        ad.grad(lambda x: final(x, checkpoints="auto"))(X0)
    with pytest.raises(ad.ShapeError, match="changed the carry"):
        ad.grad(lambda x: anp.sum(ad.loop(lambda c: c[:1], x, 3, checkpoints=2)))(X0)
    with pytest.raises(TypeError, match="float"):
        ad.loop(lambda c: c, np.arange(3), 2)


def _closing(theta, y, checkpointed):
    f = lambda v: anp.sin(theta * v) * v      # noqa: E731 - closes over theta
    return anp.sum((ad.checkpoint(f) if checkpointed else f)(y))


def test_a_closure_over_the_differentiated_value_is_named():
    """The re-run from f's arguments cannot see a derivative that flows through a closure:
    a clear error (before: leaked duals and a wrong tangent from jvp, and a LevelError
    about escaped values from grad)."""
    x0 = np.array([0.3, -0.2, 0.5])
    for call in (lambda: ad.grad(_closing, (0, 1))(0.7, x0, True),
                 lambda: ad.jvp(lambda t: _closing(t, x0 * t, True), (0.7,), (1.0,)),
                 lambda: ad.hessian(lambda t: _closing(t, x0 * t, True))(0.7)):
        with pytest.raises(ad.LevelError, match="not one of its arguments"):
            call()


def test_a_checkpointed_loop_closing_over_an_enclosing_transform_s_value():
    # before: np.asarray of the enclosing jacfwd's dual inside the loop's value
    x0 = np.array([0.3, -0.7, 1.1])

    def dloss_dx(theta, checkpoints):
        return ad.grad(lambda x: anp.sum(ad.loop(lambda c: anp.sin(c) * theta, x, 4,
                                                 checkpoints=checkpoints)))(x0)
    for outer in (ad.jacfwd, ad.jacrev):
        np.testing.assert_allclose(outer(lambda t: dloss_dx(t, 2))(0.9),
                                   outer(lambda t: dloss_dx(t, None))(0.9), rtol=1e-12)
    for transform in (ad.grad, ad.jacfwd):       # its own transform's value: named
        with pytest.raises(ad.LevelError, match="loop.*not one of its arguments"):
            transform(lambda x: anp.sum(ad.loop(lambda c: anp.sin(c) * x[0], x, 4,
                                                checkpoints=2)))(x0)


def test_a_closure_over_an_enclosing_transform_s_value_still_works():
    x0 = np.array([0.3, -0.2, 0.5])
    for outer in (ad.grad, ad.jacfwd):
        def inner(th, checkpointed):
            return anp.sum(ad.grad(lambda y: _closing(th, y, checkpointed))(x0))
        np.testing.assert_allclose(outer(lambda th: inner(th, True))(0.7),
                                   outer(lambda th: inner(th, False))(0.7), rtol=1e-12)


def test_a_string_argument_is_refused_by_name_not_read_as_a_dtype():
    # np.result_type("sin") raised "data type 'sin' not understood"; "float32" passed as a
    # float leaf
    def layer(x, how):
        return anp.sin(x) if how == "sin" else anp.cos(x)
    g = ad.checkpoint(layer)
    for how in ("sin", "float32"):
        with pytest.raises(TypeError, match="leaf 1 is a str"):
            ad.grad(lambda x: anp.sum(g(x, how)))(np.ones(2))
    with pytest.raises(TypeError, match="leaf 1 is a str"):
        ad.grad(lambda x: anp.sum(ad.loop(lambda c: (c[0] * 2.0, "a"), (x, "a"), 3)[0]))(
            np.ones(2))


def test_a_loop_takes_an_infinite_budget_and_names_nan():
    x = np.linspace(0.1, 1.0, 3)
    expected = ad.grad(lambda x: anp.sum(ad.loop(anp.sin, x, 5)))(x)
    got = ad.grad(lambda x: anp.sum(ad.loop(anp.sin, x, 5, checkpoints="auto",
                                            memory_budget=float("inf"))))(x)
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="memory_budget must be a number of bytes >= 0, not nan"):
        ad.grad(lambda x: anp.sum(ad.loop(anp.sin, x, 5, checkpoints="auto",
                                          memory_budget=float("nan"))))(x)


def test_a_stopped_closure_is_read_again_in_the_sweep():
    x = np.array([0.3, -0.2])
    got = ad.grad(lambda y: anp.sum(ad.checkpoint(lambda c: c * ad.stop_gradient(y))(x * y)))(1.5)
    assert got == pytest.approx(ad.grad(lambda y: anp.sum(x * y * ad.stop_gradient(y)))(1.5),
                                rel=1e-14)
    assert got == pytest.approx(x.sum() * 1.5, rel=1e-14)


def test_checkpoint_keyword_arguments_are_refused_by_name():
    with pytest.raises(TypeError, match=r"keyword arguments \(k\) are not taken"):
        ad.grad(lambda x: anp.sum(ad.checkpoint(lambda x, k=2: x ** k)(x, k=3)))(np.ones(2))


def test_auto_jacobian_through_a_checkpoint_closing_over_its_input():
    """An inner grad of a checkpoint whose function closes over the outer input: pushing
    tangents through the first call's recording re-runs that closure on the recording's
    finished values (a LevelError naming escaped values, on the first call only); auto
    then runs f on duals, as its later calls do."""
    def f(x):
        return ad.grad(ad.checkpoint(lambda y: anp.sum(anp.sin(y * x) * y)))(x)
    for x in (0.7, np.array([0.3, -0.5, 1.1])):
        expected = ad.jacrev(f)(x)
        np.testing.assert_allclose(ad.jacfwd(f)(x), expected, rtol=1e-12)
        for jacobian in (ad.jacobian(f, mode="auto"), ad.jacobian(f, compile=True)):
            for _ in range(2):
                np.testing.assert_allclose(jacobian(x), expected, rtol=1e-12)
