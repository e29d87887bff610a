"""Compiled tapes (ad/compiled.py): parity with the interpreted engine for every primitive
that lowers, value-dependent recordings never replayed, threads, no growth, the on-disk
cache reused by a second process."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ad
import ad.numpy as anp
from ad.nn import functional
from ad import compiled
from ad.calibrate import _in_domain

pytestmark = pytest.mark.skipif(not ad.kernels.numba_available(),
                                reason="compiled tapes need Numba")

ELEMENTWISE = sorted((p for p in compiled.interpreter().opcodes), key=lambda p: p.name)


def both(f, *args, argnums=0):
    """(compiled value_and_grad, interpreted value_and_grad, the compiled function)."""
    fast = ad.value_and_grad(f, argnums, compile=True)
    return fast(*args), ad.value_and_grad(f, argnums)(*args), fast


def assert_same(got, want, rtol=1e-12, atol=1e-14):
    (v1, g1), (v2, g2) = got, want
    np.testing.assert_allclose(v1, v2, rtol=rtol, atol=atol)
    for a, b in zip(g1 if isinstance(g1, tuple) else (g1,), g2 if isinstance(g2, tuple)
                    else (g2,)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
        assert np.shape(a) == np.shape(b)


def test_the_interpreter_covers_the_elementwise_catalogue():
    names = {p.name for p in ELEMENTWISE}
    assert {"add", "subtract", "multiply", "true_divide", "sin", "cos", "exp", "log", "tanh",
            "sqrt", "power", "maximum", "absolute"} <= names
    assert not compiled.interpreter().skipped, compiled.interpreter().skipped


@pytest.mark.parametrize("primitive", ELEMENTWISE, ids=lambda p: p.name)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2 ** 16), size=st.sampled_from([1, 3, 7]))
def test_every_elementwise_primitive_matches_the_interpreted_engine(primitive, seed, size):
    rng = np.random.default_rng(seed)
    domains = primitive.domain or ((-np.inf, np.inf),) * primitive.arity
    xs = [_in_domain(d, size, rng) for d in domains]
    w = rng.standard_normal(size)

    def f(*xs):
        return anp.sum(primitive(*xs) * w)
    with np.errstate(all="ignore"):
        got, want, fast = both(f, *xs, argnums=tuple(range(primitive.arity)))
        assert_same(got, want)
        assert "compiled tape" in next(iter(fast.compiled.reports.values()))
        # the JVP (forward mode through the interpreter) along random tangents
        tangents = tuple(rng.standard_normal(size) for _ in xs)
        g = lambda *xs: primitive(*xs) * w                      # noqa: E731
        out, tangent = ad.jvp(g, xs, tangents, compile="always")
        want_out, want_tangent = ad.jvp(g, xs, tangents)
        np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(tangent, want_tangent, rtol=1e-11, atol=1e-13)
        # float32: run in float64 in the arena, given back in float32
        xs32, w32 = [x.astype(np.float32) for x in xs], w.astype(np.float32)
        f32 = lambda *xs: anp.sum(primitive(*xs) * w32)         # noqa: E731
        (v32, g32), (wv32, wg32) = (ad.value_and_grad(f32, tuple(range(primitive.arity)),
                                                       compile=compile)(*xs32)
                                     for compile in (True, False))
        assert np.result_type(v32) == np.float32
        np.testing.assert_allclose(v32, wv32, rtol=2e-4, atol=1e-5)
        for a, b in zip(g32, wg32):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-4)


@pytest.mark.parametrize("shapes", [((3, 1), (1, 4)), ((), (5,)), ((4,), ()), ((2, 3), (3,)),
                                    ((2, 1, 3), (4, 1))])
def test_broadcasting_matches(shapes):
    rng = np.random.default_rng(1)
    x, y = (rng.standard_normal(s) for s in shapes)
    got, want, _ = both(lambda x, y: anp.sum(anp.sin(x) * y + x / (2.0 + y * y)), x, y,
                        argnums=(0, 1))
    assert_same(got, want)


STRUCTURAL = {
    "reshape": lambda x: anp.sum(anp.sin(anp.reshape(x, (3, 4))) * np.arange(12.0)
                                 .reshape(3, 4)),
    "transpose": lambda x: anp.sum(anp.transpose(anp.reshape(x, (3, 4))) * np.arange(12.0)
                                   .reshape(4, 3)),
    "broadcast_to": lambda x: anp.sum(anp.broadcast_to(x[:4], (3, 4)) * np.arange(12.0)
                                      .reshape(3, 4)),
    "slices": lambda x: anp.sum(x[1:-1:2] * x[::-2][:5] ** 2),
    "integer index": lambda x: anp.sum(anp.exp(x[np.array([0, 5, 5, 11, 2])])),
    "sum over axes": lambda x: anp.sum(anp.tanh(anp.sum(anp.reshape(x, (2, 3, 2)), axis=(0, 2),
                                                        keepdims=True)) * 3.0),
    "mean": lambda x: anp.mean(x * x) + anp.mean(anp.reshape(x, (3, 4)), axis=0)[1],
    "a chain": lambda x: anp.sum(anp.reshape(anp.cos(x), (2, 6))[:, ::2] ** 3),
    "concatenate": lambda x: anp.sum(anp.concatenate([anp.sin(x[:5]), x * x, np.ones(2)])
                                     * np.arange(19.0)),
    "stack": lambda x: anp.sum(anp.stack([x[:4], anp.exp(x[4:8]), x[8:]], axis=1) ** 2
                               * np.arange(12.0).reshape(4, 3)),
}


@pytest.mark.parametrize("name", list(STRUCTURAL))
def test_structural_primitives_lower_as_index_maps(name):
    x = np.linspace(-1.0, 1.3, 12)
    got, want, fast = both(STRUCTURAL[name], x)
    assert_same(got, want)
    assert "compiled tape" in next(iter(fast.compiled.reports.values()))


@pytest.mark.parametrize("n", [-3, -1, 0, 1, 2, 3, 4, 7])
@pytest.mark.parametrize("x", [0.0, 0.7, -1.3])
def test_integer_powers_lower_as_products_exact_at_zero(n, x):
    if n < 0 and x == 0.0:
        pytest.skip("x ** -n at 0 is infinite")
    got, want, _ = both(lambda x: x ** n * 2.0 + x, np.array(x))
    assert_same(got, want)


# ------------------------------------------------------------------------ never silently wrong
def _sign_branch(x):
    return anp.sum(x * 2.0) if x[0] > 0 else anp.sum(x * x)


def _abs_by_if(x):
    return x * 3.0 if x > 0 else -x * 3.0


def _while_on_x(x):
    y = x
    while anp.sum(y * y) < 10.0:
        y = y * 1.5 + 0.1
    return anp.sum(anp.sin(y))


#: name: (f, recordings, guard failures over CALLED_AT): a value-dependent step is either
#: recomputed at replay (masks, floor, stop_gradient: one recording) or guarded (a Python
#: branch, an index read: one recording per path met, replayed when met again).
VALUE_DEPENDENT = {
    "if on a comparison": (_sign_branch, 2, 2),
    "where": (lambda x: anp.sum(anp.where(x > 0, x, 3.0 * x)), 1, 0),
    "argmax index": (lambda x: x[anp.argmax(x)] * 2.0, 3, 3),
    "stop_gradient": (lambda x: anp.sum(x * ad.stop_gradient(x)), 1, 0),
    "floor": (lambda x: anp.sum(x * anp.floor(x)), 1, 0),
    "clip": (lambda x: anp.sum(anp.clip(x, -0.7, 1.5) ** 2), 1, 0),
    "maximum at ties": (lambda x: anp.sum(anp.maximum(x, anp.abs(x)) * x), 1, 0),
    "max over an axis": (lambda x: anp.sum(anp.max(anp.reshape(x, (3, 1)) * x, axis=0)), 1, 0),
    "relu mask": (lambda x: anp.sum(x * (x > 0) + anp.sign(x)), 1, 0),
    "while on x": (_while_on_x, 2, 2),
}
CALLED_AT = (np.array([0.5, -1.0, 2.0]), np.array([-0.5, 1.0, -2.0]),
             np.array([3.0, 2.0, -4.0]), np.array([0.5, 0.5, 2.0]))


@pytest.mark.parametrize("name", list(VALUE_DEPENDENT))
def test_value_dependent_steps_are_recomputed_or_guarded(name):
    """Recorded at one input, called where the path (or the value read) differs: the
    compiled function gives the derivative of the path taken now, by recomputing the step
    or by a guard that records the other path (and replays it when met again)."""
    f, recordings, failures = VALUE_DEPENDENT[name]
    fast = ad.grad(f, compile=True)
    for x in CALLED_AT:
        np.testing.assert_allclose(fast(x), ad.grad(f)(x), rtol=1e-13, atol=1e-15)
    assert fast(CALLED_AT[0]) is not None
    assert all(r.startswith("compiled tape") for r in fast.compiled.reports.values())
    assert (fast.compiled.recordings, fast.compiled.guard_failures) == (recordings, failures)


def test_a_python_if_on_a_scalar_is_guarded_and_strict_mode_names_it():
    grad = ad.grad(_abs_by_if, compile=True)
    assert [float(grad(x)) for x in (2.0, -2.0, 1.0, -0.5)] == [3.0, -3.0, 3.0, -3.0]
    assert grad.compiled.recordings == 2
    strict = ad.grad(_abs_by_if, compile="strict")
    assert float(strict(2.0)) == 3.0 and float(strict(5.0)) == 3.0
    with pytest.raises(ad.GuardError, match=r"bool\(\) of a traced value.*test_compiled.py"):
        strict(-2.0)
    program = ad.compile(_abs_by_if, 2.0)
    assert "guard" in program.listing() and "1 guards" in program.report


def test_guards_in_every_compiled_transform():
    f = lambda x: anp.sin(x) * (2.0 if x[0] > 0 else -1.0)          # noqa: E731
    x, v = np.array([0.3, -0.2]), np.array([1.0, 2.0])
    jac = ad.jacrev(f, compile=True)
    for point in (x, -x, x):
        np.testing.assert_allclose(jac(point), ad.jacfwd(f)(point), rtol=1e-14)
        np.testing.assert_allclose(ad.jvp(f, (point,), (v,), compile=True)[1],
                                   ad.jvp(f, (point,), (v,))[1], rtol=1e-14)
        np.testing.assert_allclose(ad.vjp(f, point, compile=True)[1](v)[0],
                                   ad.vjp(f, point)[1](v)[0], rtol=1e-14)
    assert jac.compiled.recordings == 2
    with pytest.raises(ad.GuardError):
        ad.jacfwd(f, compile="strict")(x), ad.jacfwd(f, compile="strict")(x)
        strict = ad.jacfwd(f, compile="strict")
        strict(x)
        strict(-x)
    with pytest.raises(ValueError, match="compile= is True, False, 'strict' or 'always'"):
        ad.grad(f, compile="yes")


def test_a_loop_whose_trip_count_depends_on_x():
    def f(x):
        y = x
        while y < 10.0:
            y = y * 1.5
        return y
    fast = ad.grad(f, compile=True)
    for x in (1.0, 2.0, 0.3, 9.0):
        assert float(fast(np.array(x))) == pytest.approx(float(ad.grad(f)(np.array(x))))


@pytest.mark.parametrize("pair", [(1.0, 1.0), (2.0, 1.0), (-1.0, 3.0)])
def test_maximum_and_abs_recompute_their_partials_at_replay(pair):
    """These are differentiable: their partials are functions of the values, re-evaluated
    by the interpreter at every call (recorded once at another point, ties included)."""
    f = lambda x, y: anp.maximum(x, y) * 3.0 + anp.abs(x - y)   # noqa: E731
    fast = ad.value_and_grad(f, (0, 1), compile=True)
    fast(np.array(5.0), np.array(-5.0))                            # recorded here
    x, y = map(np.array, pair)
    assert_same(fast(x, y), ad.value_and_grad(f, (0, 1))(x, y))


def test_what_does_not_lower_runs_interpreted_and_says_why():
    f = lambda x: anp.sum(anp.linalg.cholesky(2.0 * np.eye(2) + 0.1 * anp.reshape(  # noqa
        anp.tanh(x), (2, 2))))
    fast = ad.grad(f, compile=True)
    x = np.linspace(0, 1, 4)
    np.testing.assert_allclose(fast(x), ad.grad(f)(x))
    (report,) = fast.compiled.reports.values()
    assert "cholesky" in report and report.startswith("runs interpreted")
    big = np.ones((300, 300))
    fast = ad.grad(lambda x: anp.sum(big @ x), compile=True)
    np.testing.assert_allclose(fast(np.ones((300, 2))), 300.0 * np.ones((300, 2)))
    (report,) = fast.compiled.reports.values()
    assert "matmul" in report and "expands" in report


@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((2, 3), (3, 2)), ((4,), (4, 3)),
                                    ((2, 2, 3), (3,)), ((2, 2, 3), (2, 3, 2)), ((3,), (3,))])
def test_small_matrix_products_lower_as_products_and_sums(shapes):
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal(s) for s in shapes)
    got, want, fast = both(lambda a, b: anp.sum(anp.tanh(a @ b) * 1.5), a, b, argnums=(0, 1))
    assert_same(got, want)
    assert next(iter(fast.compiled.reports.values())).startswith("compiled tape")


# ------------------------------------------------------------------------ signatures, nesting
def test_one_recording_per_signature():
    fast = ad.grad(lambda x, scale: anp.sum(anp.sin(x)) * scale, compile=True)
    for _ in range(5):
        fast(np.ones(3), 2.0)
    fast(np.ones(4), 2.0)
    assert fast.compiled.recordings == 2
    # the scale is an input (traced), not a baked constant
    np.testing.assert_allclose(fast(np.ones(3), 5.0), 5.0 * np.cos(np.ones(3)))


@pytest.mark.parametrize("x", [0.7, np.float64(0.7), np.float32(0.7), np.array(0.7),
                               np.array([0.7, 0.2], dtype=np.float32)],
                         ids=["float", "float64", "float32", "0-d", "float32 array"])
def test_derivatives_take_the_inputs_dtype_as_the_interpreted_engine_does(x):
    # a Python float once came back as float16 (NumPy 2's weak scalars promote to the other
    # operand of np.result_type): three digits, silently
    f = lambda a: anp.sum(anp.sin(a) * a ** 3)      # noqa: E731
    for transform in (ad.grad, ad.jacrev, ad.jacfwd):
        got, want = transform(f, compile=True)(x), transform(f)(x)
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_allclose(got, want, rtol=1e-6 if want.dtype == np.float32 else 1e-13)
    _, pullback = ad.vjp(f, x, compile=True)
    assert np.asarray(pullback(1.0)[0]).dtype == np.asarray(ad.grad(f)(x)).dtype


@pytest.mark.parametrize("f", [
    lambda x: anp.sum(anp.triu(anp.reshape(x, (2, 1)), 1) ** 2),
    lambda x: anp.sum(anp.maximum(anp.triu(anp.reshape(x, (2, 1)), 1), 0.11) ** 2),
    lambda x: anp.sum(anp.triu(anp.broadcast_to(x, (2, 2)) * x[:, None], 1) ** 2),
    lambda x: anp.sum(anp.sin(anp.tril(x[:, None] * x[None, :])) ** 2),
], ids=["triu to zeros", "maximum of zeros", "triu of a broadcast", "tril of an outer"])
def test_linear_maps_of_constants_the_tape_computes(f):
    # hvp's tape maps constants computed inside it (a triu of the ones seeding the sweep)
    # through linear primitives; lowering them once raised a KeyError
    x, v = np.array([0.3, -0.2]), np.array([1.0, -2.0])
    got, want = ad.hvp(f, (x,), (v,), compile=True), ad.hvp(f, (x,), (v,))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_pytrees_and_argnums():
    def loss(params, x):
        return anp.sum(anp.tanh(params["w"] * x + params["b"]) ** 2)
    params = {"w": np.linspace(0.1, 0.5, 3), "b": np.array(0.2)}
    x = np.linspace(-1, 1, 3)
    got, want, _ = both(loss, params, x, argnums=(0, 1))
    (v1, (p1, x1)), (v2, (p2, x2)) = got, want
    np.testing.assert_allclose(v1, v2)
    for k in params:
        np.testing.assert_allclose(p1[k], p2[k], rtol=1e-12)
    np.testing.assert_allclose(x1, x2, rtol=1e-12)


def test_nested_under_another_transform_uses_the_engines():
    f = lambda x: anp.sum(anp.sin(x) * x)       # noqa: E731
    x = np.linspace(0.1, 1.0, 3)
    H = ad.jacfwd(ad.grad(f, compile=True))(x)
    np.testing.assert_allclose(H, ad.hessian(f)(x), rtol=1e-12)


def test_listing_and_report():
    fast = ad.grad(lambda x: anp.sum(anp.exp(x) * 2.0), compile=True)
    fast(np.ones(3))
    replay = next(iter(fast.compiled.replays.values()))
    text = replay.program.listing()
    assert "exp(" in text and "multiply(" in text and "sum(" in text
    assert "ops" in replay.program.report and "bytes" in replay.program.report


@pytest.mark.parametrize("transform", ["grad", "vjp", "jvp", "jacfwd", "jacrev"])
def test_results_are_not_overwritten_by_later_calls(transform):
    # each call's results are its own arrays, not views of the thread's reused buffers
    f = lambda x: anp.sum(anp.sin(x) * x) if transform == "grad" else anp.sin(x) * x  # noqa: E731
    x1, x2 = np.linspace(0, 1, 5), np.linspace(2, 3, 5)
    if transform == "grad":
        call = ad.grad(f, compile=True)
    elif transform == "vjp":
        call = lambda x: ad.vjp(f, x, compile=True)[1](np.ones(5))  # noqa: E731
    elif transform == "jvp":
        call = lambda x: ad.jvp(f, (x,), (np.ones(5),), compile=True)[1]  # noqa: E731
    else:
        call = getattr(ad, transform)(f, compile=True)
    first = call(x1)
    kept = np.array(first, copy=True)
    call(x2)
    np.testing.assert_array_equal(first, kept)


# ------------------------------------------------------------------------ threads, memory, cache
def _in_threads(call, ks, times: int) -> dict:
    """call(k) `times` times in one thread per k, all at once: {k: its last result}; an
    error in any thread fails the test."""
    results, errors = {}, []

    def work(k):
        try:
            for _ in range(times):
                results[k] = call(k)
        except Exception as error:  # noqa: BLE001
            errors.append(error)
    threads = [threading.Thread(target=work, args=(k,)) for k in ks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    return results


def test_a_compiled_call_inside_another_transform_runs_interpreted():
    # recorded once on plain values, a later call inside an outer grad reads the outer
    # transform's value through a global: a replay would drop its derivative (and value)
    x, y0, v = np.array([0.3, -0.7, 1.1]), np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0, 2.0])
    state = {"y": np.ones(3)}

    def h(z):
        return anp.sum(anp.sin(z) * state["y"] ** 2)
    fast = ad.grad(h, compile=True)
    fast(x)
    t = np.array([0.5, 0.1, -0.2])
    ad.hvp(h, (x,), (v,), compile=True)
    ad.jvp(h, (x,), (t,), compile=True)

    def outer(kind):
        def meta(y):
            state["y"] = y
            if kind == "grad":
                return anp.sum(fast(x) * y)
            if kind == "hvp":
                return anp.sum(ad.hvp(h, (x,), (v,), compile=True) * y)
            return ad.jvp(h, (x,), (t,), compile=True)[1] * anp.sum(y)
        return meta
    np.testing.assert_allclose(ad.grad(outer("grad"))(y0), 3 * np.cos(x) * y0 ** 2,
                               rtol=1e-12)
    np.testing.assert_allclose(ad.grad(outer("hvp"))(y0), -3 * np.sin(x) * v * y0 ** 2,
                               rtol=1e-12)
    expected = ad.grad(lambda y: anp.sum(anp.cos(x) * t * y ** 2) * anp.sum(y))(y0)
    np.testing.assert_allclose(ad.grad(outer("jvp"))(y0), expected, rtol=1e-12)
    assert not ad.context.inside_transform()


def test_unused_results_are_dropped_but_guards_kept():
    # an overflowed partial of a value f never uses made the compiled gradient NaN (0 * inf)
    def f(x):
        dead = anp.exp(x * 1000.0)                    # noqa: F841 - never used
        return anp.sum(anp.sin(x))

    def g(x):           # a branch on a value used nowhere else: its guard stays
        unused = anp.sum(x * x)
        return anp.sum(anp.sin(x)) if unused > 1.0 else anp.sum(anp.cos(x))
    x = np.array([1.0, 2.0])
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(ad.grad(f, compile=True)(x), np.cos(x), rtol=1e-15)
        np.testing.assert_allclose(ad.jacrev(f, compile=True)(x), np.cos(x), rtol=1e-15)
    fast = ad.grad(g, compile=True)
    for point in (x, np.array([0.1, 0.2]), x):
        np.testing.assert_allclose(fast(point), ad.grad(g)(point), rtol=1e-15)
    assert fast.compiled.recordings == 2
    program = ad.compile(f, x)
    assert "exp" not in program.listing()


def test_eight_threads_share_one_compiled_program():
    f = lambda x: anp.sum(anp.sin(x) * anp.cos(x * 2.0))    # noqa: E731
    fast = ad.grad(f, compile=True)
    fast(np.ones(50))
    results = _in_threads(lambda k: fast(np.linspace(0, 1, 50) + k), range(8), 200)
    for k, g in results.items():
        np.testing.assert_allclose(g, ad.grad(f)(np.linspace(0, 1, 50) + k), rtol=1e-12)
    assert fast.compiled.recordings == 1


@pytest.mark.parametrize("shape, dtype", [((), np.float64), ((), np.float32),
                                          ((1,), np.float64), ((3,), np.float64),
                                          ((2, 3), np.float32)])
def test_a_later_call_does_not_overwrite_an_earlier_gradient(shape, dtype):
    # the fast path reuses per-thread buffers: what it returned must stay as it was
    f = lambda x: anp.sum(anp.sin(x) * x)    # noqa: E731
    fast, plain = ad.value_and_grad(f, compile=True), ad.value_and_grad(f)
    xs = [np.full(shape, 0.1 * (k + 1), dtype) for k in range(3)]
    results = [fast(x) for x in xs]
    for x, (value, g) in zip(xs, results):
        v2, g2 = plain(x)
        np.testing.assert_allclose(g, g2, rtol=1e-6)
        np.testing.assert_allclose(value, v2, rtol=1e-6)
        assert np.shape(g) == shape and np.result_type(g) == dtype
    assert fast.compiled.recordings == 1


def test_eight_threads_share_one_compiled_scalar_program():
    f = lambda x: anp.sin(x) * anp.exp(-x * x)    # noqa: E731
    fast = ad.grad(f, compile=True)
    alone = [fast(np.array(0.1 * k)) for k in range(8)]      # bit for bit: no race
    results = _in_threads(lambda k: fast(np.array(0.1 * k)), range(8), 500)
    for k, g in results.items():
        assert g == alone[k]
        np.testing.assert_allclose(g, ad.grad(f)(np.array(0.1 * k)), rtol=1e-12)
    assert fast.compiled.recordings == 1


def test_nothing_grows_across_calls():
    fast = ad.grad(lambda x: anp.sum(anp.tanh(x) * x), compile=True)
    x = np.linspace(0, 1, 20)
    for _ in range(100):
        fast(x)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(5000):
        fast(x)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert grown < 20_000, grown


@pytest.mark.parametrize("shape_varies", [False, True])
def test_signatures_kept_are_bounded(shape_varies):
    """An argument read by value (an integer power here) or a new shape makes a new
    signature each call: at most MAX_SIGNATURES are kept (the oldest dropped), and the
    dropped ones are recorded again, correctly, when they come back."""
    f = lambda x, n: anp.sum(anp.sin(x) ** n)       # noqa: E731
    fast = ad.grad(f, compile=True)
    cache = fast.compiled
    kept = cache.MAX_SIGNATURES
    calls = [(np.linspace(0.1, 1.0, 3 + (k if shape_varies else 0)), 1 + k % (kept + 5))
             for k in range(kept + 5)]
    for x, n in calls + calls[:3]:          # the first three come back after being dropped
        np.testing.assert_allclose(fast(x, n), ad.grad(f)(x, n), rtol=1e-12)
    assert len(cache.reports) <= kept and len(cache.aliases) <= kept
    assert len({id(r) for r in cache.replays.values()}) <= kept
    assert len(cache.replays) <= 2 * kept and len(cache.hot) <= kept
    assert cache.evicted == 5 + 3 and cache.recordings == kept + 5 + 3


def test_a_second_process_reuses_the_compiled_interpreter():
    code = ("import numpy as np, ad, ad.numpy as anp\n"
            "g = ad.grad(lambda x: anp.sum(anp.sin(x) * x), compile=True)\n"
            "print(g(np.array([0.5, 1.0])).tolist(), list(g.compiled.reports.values())[0])\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))] +
        [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=600, check=True).stdout
    x = np.array([0.5, 1.0])
    assert str((np.sin(x) + x * np.cos(x)).tolist()) in out
    assert "compiled tape" in out


def test_the_first_call_on_a_new_machine_runs_interpreted_while_the_interpreter_compiles(
        tmp_path):
    # a cache that does not hold the interpreter: the call does not wait for Numba, a
    # process of its own compiles (killed here: compiling is the other test's)
    code = ("import numpy as np, ad, ad.numpy as anp\n"
            "g = ad.grad(lambda x: anp.sum(anp.sin(x) * x), compile=True)\n"
            "print(g(np.array([0.5, 1.0])).tolist())\n"
            "print(g.compiled.waited, g.compiled.recordings, list(g.compiled.reports.values()))\n"
            "print(ad.compiled._background.process.pid)\n")
    env = dict(os.environ, AD_KERNEL_CACHE=str(tmp_path), AD_COMPILE_BACKGROUND="1",
               PYTHONPATH=os.pathsep.join(
                   [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))] +
                   [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=600, check=True).stdout.splitlines()
    pid = int(out[2])
    try:
        x = np.array([0.5, 1.0])
        assert out[0] == str((np.sin(x) + x * np.cos(x)).tolist())
        assert out[1].startswith("1 0 ") and "compiles in the background" in out[1]
        locks = list(tmp_path.glob("interpreter_*.compiling"))
        assert len(locks) == 1 and locks[0].read_text() == str(pid)
    finally:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def test_one_background_compiler_per_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AD_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("AD_COMPILE_BACKGROUND", "1")
    started = []
    background = compiled._Background()
    monkeypatch.setattr(background, "start", lambda: started.append(1))
    lock = tmp_path / (background.name() + ".compiling")
    lock.write_text(str(os.getpid()))       # a live process compiles: wait for it
    assert background.pending() and started == []
    background.next_look = 0.0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    lock.write_text(dead)                   # a stale lock: compile
    assert background.pending() and started == [1]
    monkeypatch.setenv("AD_COMPILE_BACKGROUND", "0")
    background.next_look = 0.0
    assert not background.pending()        # switched off: callers compile and wait


# ------------------------------------------------------------------------ Jacobians
JACOBIAN_PROGRAMS = {
    "outer": (lambda x: anp.ravel(anp.tanh(x[:, None] * anp.sin(x))), (5,)),
    "stencil": (lambda x: x[:-2] - 2.0 * anp.sin(x[1:-1]) + anp.cos(x[2:]) ** 2, (9,)),
    "matrix in, matrix out": (lambda x: anp.transpose(anp.exp(anp.reshape(x, (2, 3)))) * 3.0,
                              (6,)),
    "reductions": (lambda x: anp.sum(anp.reshape(x * x, (3, 4)), axis=1) / (1.0 + x[0]),
                   (12,)),
    "scalar loop": (lambda x: _euler(x), (3,)),
    "trajectory (stack, concatenate)": (lambda x: _trajectory(x), (2,)),
}


def _trajectory(x):
    states = []
    for _ in range(5):
        x = anp.stack([x[0] + 0.1 * x[1], x[1] - 0.1 * anp.sin(x[0])])
        states.append(x)
    return anp.concatenate(states)


def _euler(x):
    y = x
    for _ in range(20):
        y = y + 0.1 * anp.sin(y) * x
    return y


@pytest.mark.parametrize("name", list(JACOBIAN_PROGRAMS))
@pytest.mark.parametrize("transform", [ad.jacfwd, ad.jacrev, ad.jacobian],
                         ids=["jacfwd", "jacrev", "jacobian"])
@pytest.mark.parametrize("chunk", [None, 2])
def test_compiled_jacobians_match(name, transform, chunk):
    f, shape = JACOBIAN_PROGRAMS[name]
    x = np.linspace(-0.7, 1.1, int(np.prod(shape))).reshape(shape)
    fast = transform(f, chunk_size=chunk, compile=True)
    for point in (x, x[::-1] * 0.5):
        np.testing.assert_allclose(fast(point), ad.jacfwd(f)(point), rtol=1e-12, atol=1e-14)
    (report,) = fast.compiled.reports.values()
    assert report.startswith("compiled tape")


def test_compiled_jacobian_of_several_arguments():
    def f(x, y):
        return anp.sin(x) * y[0] + anp.reshape(anp.exp(y), (2, 2))[0, :] * x
    x, y = np.array([0.2, -0.4]), np.linspace(-1, 1, 4)
    for transform in (ad.jacfwd, ad.jacrev):
        got = transform(f, argnums=(0, 1), compile=True)(x, y)
        want = ad.jacrev(f, argnums=(0, 1))(x, y)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-13)
            assert a.shape == b.shape


def test_a_compiled_jacobian_recomputes_a_where_mask():
    f = lambda x: anp.where(x > 0, anp.sin(x), x * x)     # noqa: E731
    fast = ad.jacrev(f, compile=True)
    for x in (np.array([0.5, -1.0]), np.array([-0.5, 1.0])):
        np.testing.assert_allclose(fast(x), ad.jacfwd(f)(x))
    assert fast.compiled.recordings == 1 and fast.compiled.guard_failures == 0


def test_float32_runs_in_float64_and_comes_back_float32():
    f = lambda x: anp.sum(anp.tanh(x) * x ** 2)      # noqa: E731
    x = np.linspace(-1, 1.3, 7, dtype=np.float32)
    (value, grad), (v2, g2), fast = both(f, x)
    assert value.dtype == np.float32 and grad.dtype == np.float32
    assert v2.dtype == np.float32 and g2.dtype == np.float32
    np.testing.assert_allclose(grad, g2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(value, v2, rtol=1e-5, atol=1e-6)
    assert next(iter(fast.compiled.reports.values())).startswith("compiled tape")
    J = ad.jacrev(lambda x: anp.sin(x) * 2.0, compile=True)(x)
    assert J.dtype == np.float32


def test_ad_compile_returns_the_program_or_says_why_not():
    program = ad.compile(lambda x, y: anp.sum(anp.exp(x) * y), np.ones(3), 2.0)
    assert program.n_ops == 3 and "exp(" in program.listing()
    assert program.tape_bytes() > program.arena_bytes() > 0
    with pytest.raises(compiled.NotLowered, match="cholesky has no lowering"):
        ad.compile(lambda x: anp.linalg.cholesky(anp.reshape(x, (2, 2))), np.eye(2).ravel())


LINEAR = {
    "cumsum": lambda x: anp.sum(anp.tanh(anp.cumsum(x * x)) * np.arange(6.0)),
    "where with a constant mask": lambda x: anp.sum(anp.where(
        np.array([True, False, True, False, True, True]), anp.sin(x), 3.0 * x)),
    "index_add": lambda x: anp.sum(anp.at(anp.zeros(3))[np.array([0, 2, 2, 1])].add(
        x[:4] ** 2) * np.array([1.0, 2.0, 3.0])),
    "roll and flip": lambda x: anp.sum(anp.roll(x, 2) * anp.flip(anp.exp(x))),
    "diff": lambda x: anp.sum(anp.diff(x) ** 2),
}


@pytest.mark.parametrize("name", list(LINEAR))
def test_linear_primitives_lower_by_their_matrix(name):
    """A linear primitive without a lowering of its own runs as the nonzeros of its matrix
    (from the engine's batched JVP on an identity block)."""
    f = LINEAR[name]
    x = np.linspace(0.1, 1.0, 6)
    for point in (x, -2.0 * x[::-1]):
        got, want, fast = both(f, point)
        assert_same(got, want, rtol=1e-9, atol=1e-12)   # sums in another order
    assert next(iter(fast.compiled.reports.values())).startswith("compiled tape")


def test_compiled_jacobian_blocks_stay_within_the_budget(monkeypatch):
    """A block carries the whole arena per direction, so its width is cut to keep
    arena x width within CHUNK_BUDGET (here shrunk to force several blocks)."""
    import ad.tape
    monkeypatch.setattr(ad.tape, "CHUNK_BUDGET", 200)
    f = lambda x: anp.sin(x) * anp.cos(x[::-1])      # noqa: E731
    x = np.linspace(0, 1, 20)
    fast = ad.jacrev(f, compile=True)
    np.testing.assert_allclose(fast(x), ad.jacfwd(f)(x), rtol=1e-13)
    program = next(iter(fast.compiled.replays.values())).program
    assert len(program.arena) > 20        # so blocks of fewer than 20 rows were used


def test_integer_and_boolean_arguments_are_part_of_the_signature():
    """Indices, counts and masks passed as arguments are baked into the recording, as the
    interpreted engine bakes them: a new value is a new signature (a new recording)."""
    f = lambda x, idx, n, mask: anp.sum(x[idx] ** n * anp.where(mask, 1.0, 2.0))  # noqa
    fast = ad.grad(f, compile=True)
    x = np.linspace(0.5, 1.5, 4)
    for idx, n, mask in ((np.array([0, 2]), 3, np.array([True, False])),
                         (np.array([1, 3]), 3, np.array([True, False])),
                         (np.array([1, 3]), 2, np.array([False, False])),
                         (np.array([0, 2]), 3, np.array([True, False]))):
        np.testing.assert_allclose(fast(x, idx, n, mask), ad.grad(f)(x, idx, n, mask),
                                   rtol=1e-13)
    assert fast.compiled.recordings == 3
    assert all(r.startswith("compiled tape") for r in fast.compiled.reports.values())


def test_a_float_argument_used_as_a_plain_number_runs_interpreted():
    """The compiled recording traces every float argument; where f needs one as a Python
    number (as the interpreted engine gives it, when not differentiated), that signature
    runs interpreted instead of failing."""
    import math
    f = lambda x, s: anp.sum(x * math.exp(s))      # noqa: E731
    fast = ad.grad(f, compile=True)
    np.testing.assert_allclose(fast(np.ones(2), 0.5), ad.grad(f)(np.ones(2), 0.5))
    assert next(iter(fast.compiled.reports.values())).startswith("runs interpreted")
    with pytest.raises(ZeroDivisionError):         # a genuine error still reaches the user
        ad.grad(lambda x: anp.sum(x) * (1 / 0), compile=True)(np.ones(2))


# ----------------------------------------------------------------------------- jvp and vjp
@pytest.mark.parametrize("f, args, lowers", [
    (lambda x: anp.tanh(x[1:] * x[:-1]) + anp.sin(x[:-1]), (np.linspace(0.1, 1.0, 7),), True),
    (lambda x, y: anp.exp(x) * y - x ** 2, (np.array([0.3, 0.5]), np.array([1.5, 2.0])), True),
    (lambda p: anp.sum(p["w"] ** 2) * p["b"], ({"w": np.ones(3), "b": np.float64(2.0)},),
     True),
    (lambda x: anp.where(x > 0.5, x, -x) * 2.0, (np.linspace(0.1, 1.0, 4),), True),
    (lambda x: anp.linalg.cholesky(anp.reshape(x, (2, 2))), (np.eye(2).ravel() + 0.1,), False),
    (lambda x: anp.linalg.inv(anp.reshape(x, (2, 2))), (np.eye(2).ravel() + 0.1,), True),
])
def test_jvp_and_vjp_with_compile_equal_the_interpreted_ones(f, args, lowers):
    rng = np.random.default_rng(0)
    tangents = tuple(ad.tree.tree_map(lambda a: rng.standard_normal(np.shape(a)), a)
                     for a in args)
    for _ in range(2):                           # the second call replays
        got = ad.jvp(f, args, tangents, compile=True)
        want = ad.jvp(f, args, tangents)
        assert np.allclose(got[0], want[0], rtol=1e-14) and \
            np.allclose(got[1], want[1], rtol=1e-14)
        out, pullback = ad.vjp(f, *args, compile=True)
        out_plain, pullback_plain = ad.vjp(f, *args)
        assert np.allclose(out, out_plain, rtol=1e-14)
        u = rng.standard_normal(np.shape(out))
        for a, b in zip(ad.tree.flatten(pullback(u))[0], ad.tree.flatten(pullback_plain(u))[0]):
            assert np.allclose(a, b, rtol=1e-13, atol=1e-15)
    compiled = ad.transforms._COMPILED_BY_F[f][ad.transforms.TANGENTS]   # one recording, reused
    assert compiled.recordings == 1
    assert any(r is not None for r in compiled.replays.values()) == lowers


def test_a_compiled_pullback_reads_the_values_of_its_own_vjp_call():
    """vjp(compile=True) keeps the arena of its value pass and its pullback is one reverse
    pass through it: calls at other inputs in between, and threads pulling through the
    same pullback at once, leave it unchanged."""
    f = lambda x: anp.tanh(x) * anp.sin(x[::-1]) + x ** 3          # noqa: E731
    x, other = np.linspace(0.1, 1.0, 9), np.linspace(-2.0, 0.5, 9)
    _, pullback = ad.vjp(f, x, compile=True)
    program = ad.compile(f, x)
    u = np.cos(np.arange(9.0))
    want = ad.vjp(f, x)[1](u)[0]
    np.testing.assert_allclose(pullback(u)[0], want, rtol=1e-13)
    np.testing.assert_array_equal(pullback(u)[0], program.pull([x], u)[1][0])   # same bits
    ad.vjp(f, other, compile=True)[1](u)          # another call, another arena
    np.testing.assert_allclose(pullback(u)[0], want, rtol=1e-13)
    results = _in_threads(lambda k: pullback(u * k)[0], range(1, 9), 50)
    for k, g in results.items():
        np.testing.assert_allclose(g, k * want, rtol=1e-12)


# ----------------------------------------------------------------------------- hvp
@pytest.mark.parametrize("f, primals", [
    (lambda x: anp.sum(anp.sin(x) * x ** 3 + anp.exp(x[0] * x)), (np.linspace(0.1, 1.0, 5),)),
    (lambda x, y: anp.sum(anp.tanh(x * y) * x) + anp.sum(y ** 3),
     (np.array([0.3, 0.5]), np.array([1.5, 2.0]))),
    (lambda p: anp.sum(p["w"] ** 4) * p["b"], ({"w": np.ones(3), "b": np.float64(2.0)},)),
    (lambda x: anp.sum(anp.abs(x) ** 3) if x[0] > 0 else anp.sum(x ** 4), (np.ones(3),)),
])
def test_hvp_with_compile_equals_the_interpreted_one(f, primals):
    rng = np.random.default_rng(1)
    for scale in (1.0, 0.5, -1.0):               # later calls replay (the last flips the if)
        at = ad.tree.tree_map(lambda a: a * scale, primals)
        tangents = tuple(ad.tree.tree_map(lambda a: rng.standard_normal(np.shape(a)), a)
                         for a in at)
        got = ad.hvp(f, at, tangents, compile=True)
        want = ad.hvp(f, at, tangents)
        for a, b in zip(ad.tree.flatten(got)[0], ad.tree.flatten(want)[0]):
            assert np.shape(a) == np.shape(b)
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    gradient = ad.transforms._GRADIENTS_BY_F[f][len(primals)]
    compiled = ad.transforms._COMPILED_BY_F[gradient][ad.transforms.TANGENTS]
    assert any(r is not None for r in compiled.replays.values())   # its tape lowered
    assert compiled.recordings == 1 + compiled.guard_failures


def test_per_function_caches_do_not_keep_the_function_alive():
    import gc
    import weakref
    f = lambda x: anp.sum(anp.sin(x) * x ** 3)        # noqa: E731
    ad.jvp(f, (np.ones(3),), (np.ones(3),), compile=True)
    ad.hvp(f, (np.ones(3),), (np.ones(3),), compile=True)
    alive = weakref.ref(f)
    del f
    gc.collect()
    assert alive() is None


# ----------------------------------------------------------------------------- predicted time
def _fixed_compiled_table(**terms):
    """A hand-made table: every op costs 10 ns per entry, 1 ns per element and 0.5 ns per
    element and direction in every mode, besides the given terms."""
    from ad.cost.calibration import COMPILED_MODES, Calibration
    lines = {op: {mode: (1e-8, 1e-9, 5e-10) for mode in COMPILED_MODES}
             for op in ("sin", "multiply", "scatter", "gather")}
    return Calibration({}, compiled={"lines": lines, "terms": {
        "run": 1e-6, "block_element": 2e-10, "call": 5e-6, "block": 3e-6, **terms}})


def test_predicted_run_is_the_tables_lines_summed_over_the_entries():
    table = _fixed_compiled_table()
    program = ad.compile(lambda x: anp.sum(anp.sin(x) * x), np.ones(5))
    assert program.op_names() == ["sin", "multiply", "scatter"]
    np.testing.assert_array_equal(program.entry_elements(), [5, 5, 6])   # sum reads 5, writes 1
    for width in (1, 4):
        want = 1e-6 + 3 * 1e-8 + 16 * 1e-9 + width * 16 * 5e-10
        assert program.predict_run("forward", width, table) == pytest.approx(want, rel=1e-12)
    arena = len(program.arena)
    want_grad = 5e-6 + program.predict_run("reverse", 1, table) + 2e-10 * (arena + 2 * 5)
    assert program.predict_grad(table) == pytest.approx(want_grad, rel=1e-12)
    # the largest op first: the sum's scatter visits 6 elements, sin and multiply 5
    assert [op for op, _ in program.predicted_terms("reverse", 1, table)][0] == "scatter"
    # an op the table did not meet is priced by the median op
    assert table.compiled_line("tanh", "values") == table.compiled_line("sin", "values")


def test_the_plans_blocks_are_the_runs_the_compiled_jacobian_makes():
    table = _fixed_compiled_table()
    f = lambda x: anp.sin(x) * x           # noqa: E731
    jac = ad.jacfwd(f, chunk_size=2, compile=True)
    x = np.linspace(0.1, 0.9, 6)
    jac(x)
    program = next(r for r in jac.compiled.replays.values() if r is not None).program
    plan = ad.compiled.jacobian_plan(program, 2)
    runs = []
    inner = program.run
    program.run = lambda ints, vals, block, mode, *io: runs.append((mode, block.shape[1])) \
        or inner(ints, vals, block, mode, *io)
    np.testing.assert_allclose(jac(x), ad.jacfwd(f)(x), rtol=1e-14)
    assert runs == [(1, b - a) for a, b in plan.forward_blocks] == [(1, 2)] * 3
    one_block = program.predict_jacobian("forward", ad.compiled.jacobian_plan(program), table)
    three = program.predict_jacobian("forward", plan, table)
    assert three > one_block          # two more blocks' Python and runs' fixed costs


@pytest.mark.parametrize("n, m, mode", [(1, 1000, "forward"), (1000, 1, "reverse")])
def test_compiled_auto_jacobian_takes_the_mode_predicted_faster(n, m, mode):
    from ad.cost import calibration
    weights = np.linspace(1.0, 2.0, max(n, m))
    f = (lambda x: anp.sin(x * weights)) if n == 1 else (lambda x: anp.sum(anp.sin(x)))
    x = np.full(n, 0.3) if n > 1 else np.array([0.3])
    calibration.use(_fixed_compiled_table())
    try:
        jac = ad.jacobian(f, compile="always")   # this table prices no interpreted rule
        got = jac(x)
        program = next(r for r in jac.compiled.replays.values() if r is not None).program
        assert ad.compiled.jacobian_choice(program, ad.compiled.jacobian_plan(program)) == mode
        runs = []
        inner = program.run
        program.run = lambda ints, vals, block, k, *io: runs.append(k) or \
            inner(ints, vals, block, k, *io)
        jac(x)
        assert set(runs) == {1 if mode == "forward" else 2}
    finally:
        calibration.use(None)
    np.testing.assert_allclose(got, ad.jacobian(f)(x), rtol=1e-13)


def test_cost_report_prices_the_compiled_tape_beside_the_interpreted_engine():
    report = ad.cost_report(lambda x: anp.tanh(x[1:] * x[:-1]), np.linspace(0, 1, 50),
                            compile=True)
    labels = [row.label for row in report.compiled]
    assert labels == ["compiled one VJP", "compiled Jacobian by forward mode",
                      "compiled Jacobian by reverse mode"]
    assert all(row.seconds > 0 and row.terms for row in report.compiled)
    text = str(report)
    assert "compiled Jacobian by forward mode" in text and "jacobian(compile=True) runs" in text
    unlowered = ad.cost_report(lambda x: anp.linalg.cholesky(x), np.eye(3), compile=True)
    assert unlowered.compiled == () and "cholesky" in unlowered.compiled_reason


def test_a_table_keeps_its_compiled_prices_through_json():
    from ad.cost.calibration import Calibration
    table = _fixed_compiled_table()
    again = Calibration.from_json(table.to_json(), "cache")
    assert again.compiled == table.compiled
    assert Calibration({}).compiled_line("sin", "reverse") == (0.0, 0.0, 0.0)
    assert Calibration({}).compiled_block_rate(1e6) == 0.0


# ----------------------------------------------------------------------------- reads that settle
def test_a_value_read_guard_holds_at_its_own_inputs_whatever_numpy_summed():
    # NumPy's pairwise sum and the interpreter's running sum differ in the last bits here:
    # the guard's reference is the interpreter's own value, so the replay at the same
    # inputs holds (it used to fail every call)
    x = np.random.default_rng(0).standard_normal(200)
    assert np.sum(x * x) != sum((x * x).tolist())

    def f(x):
        scale = float(ad.primal_value(anp.sum(x * x)))     # read: a guard
        return anp.sum(anp.sin(x)) * scale
    fast = ad.grad(f, compile=True)
    for _ in range(3):
        np.testing.assert_allclose(fast(x), ad.grad(f)(x), rtol=1e-13)
    assert (fast.compiled.recordings, fast.compiled.guard_failures) == (1, 0)


@pytest.mark.parametrize("f", [
    lambda x: anp.sum(anp.linalg.norm(x) * x),
    lambda x: anp.std(x),
    lambda x: anp.linalg.norm(x, ord=3),
    lambda x: anp.sum(functional.relu(x) ** 2),
    lambda x: anp.sum(functional.leaky_relu(x, 0.1) ** 2),
    lambda x: anp.sum(anp.nan_to_num(anp.log(x)) * x),
], ids=["norm", "std", "norm3", "relu", "leaky_relu", "nan_to_num"])
def test_library_masks_are_recomputed_not_read(f):
    """Norms, std, relu and nan_to_num compare traced values (recomputed at every replay)
    instead of reading them, so one recording serves inputs of every sign, and the origin."""
    fast = ad.grad(f, compile=True)
    with np.errstate(all="ignore"):
        for scale in (1.0, 1.7, -2.0, 0.0):
            x = np.linspace(-1.0, 1.0, 6) * scale
            np.testing.assert_allclose(fast(x), ad.grad(f)(x), rtol=1e-12, atol=1e-14)
    assert fast.compiled.recordings == 1, fast.compiled.reports
    assert not any(r.startswith("runs interpreted") for r in fast.compiled.reports.values())


# ----------------------------------------------------------------------------- compiled or not
def test_compile_keeps_the_interpreted_engine_where_it_is_predicted_faster():
    """A wide matrix product taken apart into scalar entries loses to NumPy's BLAS: the
    cost model predicts it, so compile=True runs that signature interpreted (saying why),
    compile="always" compiles it anyway; a scalar loop compiles."""
    w = np.random.default_rng(0).standard_normal((60, 60)) / 8
    wide = lambda x: anp.tanh(w @ anp.tanh(w @ x))       # noqa: E731
    x = np.linspace(-1, 1, 60)
    fast = ad.jacobian(wide, compile=True)
    np.testing.assert_allclose(fast(x), ad.jacobian(wide)(x), rtol=1e-12)
    (why,) = fast.compiled.reports.values()
    assert why.startswith("runs interpreted") and "predicted slower" in why
    assert "always" in why
    forced = ad.jacobian(wide, compile="always")
    np.testing.assert_allclose(forced(x), ad.jacobian(wide)(x), rtol=1e-12)
    assert next(iter(forced.compiled.reports.values())).startswith("compiled tape")

    def loop(theta):
        a, b, y = theta[0], theta[1], theta[2]
        for _ in range(50):
            y = y + 0.01 * (a * y - b * y * y)
        return y
    grad = ad.grad(loop, compile=True)
    theta = np.array([1.0, 0.5, 0.1])
    np.testing.assert_allclose(grad(theta), ad.grad(loop)(theta), rtol=1e-12)
    assert next(iter(grad.compiled.reports.values())).startswith("compiled tape")


# ----------------------------------------------------------------------------- small solves
def _newton(p):
    """Three Newton steps on a 2 x 2 nonlinear system whose Jacobian is solved each step:
    a solver's inner loop, differentiated with respect to its parameters."""
    u = anp.stack([p[0] * 0.0 + 1.0, p[1] * 0.0 + 0.5])
    for _ in range(3):
        residual = anp.stack([u[0] ** 2 + p[0] * u[1] - 2.0, anp.sin(u[0]) + p[1] * u[1]])
        jac = anp.stack([anp.stack([2 * u[0], p[0] + 0.0 * u[1]]),
                         anp.stack([anp.cos(u[0]), p[1] + 0.0 * u[1]])])
        u = u - anp.linalg.solve(jac, residual)
    return anp.sum(u ** 2)


@pytest.mark.parametrize("n, k", [(1, 1), (2, 1), (3, 2), (5, 1), (8, 3)])
def test_small_solves_lower_and_match_the_interpreted_engine(n, k):
    rng = np.random.default_rng(n * 10 + k)

    def f(x):
        a = anp.reshape(x[:n * n], (n, n)) + 3.0 * np.eye(n)
        b = anp.reshape(anp.tanh(x[n * n:]), (n, k))
        return anp.linalg.solve(a, b) * 2.0
    x = rng.standard_normal(n * n + n * k)
    for transform in (ad.jacfwd, ad.jacrev):
        fast = transform(f, compile="always")
        for _ in range(3):          # nearby matrices: the recorded pivots hold
            np.testing.assert_allclose(fast(x), transform(f)(x), rtol=1e-10, atol=1e-12)
            x = x + 0.01 * rng.standard_normal(x.size)
        assert fast.compiled.recordings == 1, fast.compiled.reports
    grad = ad.grad(lambda x: anp.sum(f(x) ** 2), compile="always")
    np.testing.assert_allclose(grad(x), ad.grad(lambda x: anp.sum(f(x) ** 2))(x), rtol=1e-10)


def test_a_solve_whose_pivots_change_records_that_path():
    def f(x):
        return anp.sum(anp.linalg.solve(anp.reshape(x[:4], (2, 2)), x[4:]) ** 2)
    fast = ad.grad(f, compile=True)
    first = np.array([1.0, 2.0, 3.0, 1.0, 0.5, -1.0])    # pivots on row 1 (|3| > |1|)
    second = np.array([3.0, 2.0, 1.0, 1.0, 0.5, -1.0])   # pivots on row 0
    for x in (first, second, first, second):
        np.testing.assert_allclose(fast(x), ad.grad(f)(x), rtol=1e-12)
    assert (fast.compiled.recordings, fast.compiled.guard_failures) == (2, 3)
    strict = ad.grad(f, compile="strict")
    strict(first)
    with pytest.raises(ad.GuardError, match="solve's pivot row at column 0"):
        strict(second)


def test_a_newton_solver_compiles_with_its_solves():
    fast = ad.grad(_newton, compile=True)
    for p in (np.array([1.0, 2.0]), np.array([1.1, 2.1]), np.array([0.9, 1.8])):
        np.testing.assert_allclose(fast(p), ad.grad(_newton)(p), rtol=1e-11)
    assert next(iter(fast.compiled.reports.values())).startswith("compiled tape")
    assert fast.compiled.recordings == 1


def test_solves_that_do_not_lower_say_why():
    big = ad.grad(lambda x: anp.sum(anp.linalg.solve(anp.reshape(x, (9, 9)) + 9 * np.eye(9),
                                                     np.ones(9))), compile=True)
    x = np.random.default_rng(0).standard_normal(81)
    np.testing.assert_allclose(big(x), ad.grad(lambda x: anp.sum(anp.linalg.solve(
        anp.reshape(x, (9, 9)) + 9 * np.eye(9), np.ones(9))))(x), rtol=1e-10)
    assert "9 x 9" in next(iter(big.compiled.reports.values()))


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_small_inverses_and_determinants_lower(n):
    rng = np.random.default_rng(n)
    for name, f in (("inv", lambda x: anp.sum(anp.linalg.inv(anp.reshape(x, (n, n))) ** 2)),
                    ("det", lambda x: anp.linalg.det(anp.reshape(x, (n, n))))):
        fast = ad.value_and_grad(f, compile="always")
        for _ in range(3):               # matrices that pivot differently: signs included
            x = rng.standard_normal(n * n) + 2.0 * np.eye(n).ravel() * rng.choice([-1, 1])
            value, grad = fast(x)
            want_value, want_grad = ad.value_and_grad(f)(x)
            np.testing.assert_allclose(value, want_value, rtol=1e-10)
            np.testing.assert_allclose(grad, want_grad, rtol=1e-9, atol=1e-12)
        assert next(iter(fast.compiled.reports.values())).startswith("compiled tape"), name
    np.testing.assert_allclose(ad.value_and_grad(
        lambda x: anp.linalg.det(anp.reshape(x, (2, 2))), compile="always")(
        np.array([0.0, 1.0, 1.0, 0.0]))[0], -1.0)      # one row swap: the sign



@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2 ** 16), n=st.integers(1, 6), k=st.integers(1, 3))
def test_small_linalg_lowerings_match_the_interpreted_engine(seed, n, k):
    """solve, inv and det lowered as elimination: values, VJP and JVP against the
    interpreted engine on random well-conditioned matrices (any sign pattern, any pivots)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)) + n * np.diag(rng.choice([-1.0, 1.0], n))
    b = rng.standard_normal((n, k))
    programs = {"solve": lambda a, b: anp.linalg.solve(a, b),
                "inv": lambda a, b: anp.linalg.inv(a) @ b,
                "det": lambda a, b: anp.linalg.det(a) * b}
    for name, f in programs.items():
        loss = lambda a, b, f=f: anp.sum(anp.tanh(f(a, b)))    # noqa: E731
        fast = ad.value_and_grad(loss, (0, 1), compile="always")
        got, want = fast(a, b), ad.value_and_grad(loss, (0, 1))(a, b)
        assert_same(got, want, rtol=1e-9, atol=1e-11)
        assert next(iter(fast.compiled.reports.values())).startswith("compiled tape"), name
        ta, tb = rng.standard_normal(a.shape), rng.standard_normal(b.shape)
        out, tangent = ad.jvp(f, (a, b), (ta, tb), compile="always")
        want_out, want_tangent = ad.jvp(f, (a, b), (ta, tb))
        np.testing.assert_allclose(out, want_out, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(tangent, want_tangent, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("axis, keepdims", [(0, False), (1, False), (-1, True), (None, True)])
def test_argmax_along_an_axis_is_recomputed(axis, keepdims):
    """The one-hot mask of each row's largest element, from argmax along an axis: the
    indices are recomputed at every replay (a comparison with them too), so one recording
    serves inputs whose maxima move, ties and NaN as NumPy breaks them."""
    def f(x):
        X = anp.reshape(x, (3, 4))
        index = anp.argmax(X, axis=axis, keepdims=keepdims)
        if axis is None:
            hit = anp.reshape(anp.arange(12), (3, 4)) == index
        elif axis == 0:
            hit = anp.arange(3)[:, None] == index[None, :]
        else:
            hit = anp.arange(4)[None, :] == (index if keepdims else index[:, None])
        low = anp.argmin(X, axis=axis, keepdims=keepdims)
        return anp.sum(anp.where(hit, X * X, 0.0)) + anp.sum(low * 1.0)
    fast = ad.value_and_grad(f, compile=True)
    rng = np.random.default_rng(3)
    points = [rng.standard_normal(12) for _ in range(4)] + [np.zeros(12),
                                                           np.r_[np.nan, np.ones(11)]]
    with np.errstate(invalid="ignore"):
        for x in points:
            (value, grad), (want_value, want_grad) = fast(x), ad.value_and_grad(f)(x)
            np.testing.assert_allclose(value, want_value, rtol=1e-13)
            np.testing.assert_allclose(grad, want_grad, rtol=1e-13)
    assert fast.compiled.recordings == 1, fast.compiled.reports


def test_a_close_call_against_the_interpreted_engine_is_settled_by_measurement():
    def fresh():      # a new f each time: transforms of one f share its compiled tapes
        return lambda x: anp.tanh(x[1:] * x[:-1]) * 2.0
    x = np.linspace(0.1, 1.0, 30)
    want = ad.jacobian(fresh())(x)
    for compiled_s, interpreted_s, keeps in ((2.0, 1.0, False), (1.0, 2.0, True)):
        f = fresh()
        jac = ad.jacobian(f, compile=True)
        jac(x)
        replay = next(r for r in jac.compiled.replays.values() if r is not None)
        replay.trials = []                 # as `slower` marks a close call
        for _ in range(ad.compiled.SETTLE_TRIALS):
            jac.compiled.settle(replay, compiled_s, interpreted_s)
        assert replay.trials is None
        kept = any(r is not None for r in jac.compiled.replays.values())
        assert kept == keeps
        assert ("settled by measurement" in " ".join(jac.compiled.reports.values())) != keeps
        np.testing.assert_allclose(jac(x), want, rtol=1e-13)
        # a settled decision holds for every later transform of the same f
        assert (ad.jacobian(f, compile=True).compiled is jac.compiled)
    f = fresh()
    jac = ad.jacobian(f, compile=True)     # through the transform: both ways timed, twice
    jac(x)
    replay = next(r for r in jac.compiled.replays.values() if r is not None)
    replay.trials = []
    for _ in range(ad.compiled.SETTLE_TRIALS):
        np.testing.assert_allclose(jac(x), want, rtol=1e-13)
    assert replay.trials is None


def test_the_compiled_jvp_fast_path_keeps_every_check():
    f = lambda x: anp.tanh(x * 1.1) * x            # noqa: E731
    x, t = np.linspace(0.0, 1.0, 5), np.ones(5)
    for _ in range(3):                              # the later calls take the fast path
        got, want = ad.jvp(f, (x,), (t,), compile=True), ad.jvp(f, (x,), (t,))
        np.testing.assert_allclose(got[0], want[0], rtol=1e-14)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-14)
    with pytest.raises(ad.errors.ShapeError, match="tangent leaf 0 has shape"):
        ad.jvp(f, (x,), (np.ones(4),), compile=True)
    got = ad.jvp(f, (x,), (t.astype(np.float32),), compile=True)    # not the fast path
    np.testing.assert_allclose(got[1], ad.jvp(f, (x,), (t,))[1], rtol=1e-6)
    assert ad.transforms._COMPILED_BY_F[f][ad.transforms.TANGENTS].recordings == 1


def test_a_singular_solve_runs_interpreted_as_without_compile():
    f = lambda x: anp.sum(anp.linalg.solve(anp.reshape(x, (2, 2)), np.ones(2)))  # noqa: E731
    fast = ad.grad(f, compile=True)
    regular, singular = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 2.0, 4.0])
    np.testing.assert_allclose(fast(regular), ad.grad(f)(regular), rtol=1e-13)
    with pytest.warns(RuntimeWarning, match="singular"):
        got = fast(singular)             # a zero pivot: the guard fails, records, cannot lower
    assert np.isnan(got).all()
    # det is defined there: its derivative (the adjugate) is the elimination's own
    value, grad = ad.value_and_grad(lambda x: anp.linalg.det(anp.reshape(x, (2, 2))),
                                    compile=True)(singular)
    np.testing.assert_allclose([value, *grad], [0.0, 4.0, -2.0, -2.0, 1.0], atol=1e-15)


def test_the_slower_check_prices_the_chunk_size_the_jacobian_runs(monkeypatch):
    """jacobian(compile=True, chunk_size=k) decides compiled-or-interpreted on the blocks
    it will run, not the planner's default ones."""
    seen = []
    planner = ad.compiled.jacobian_plan

    def spy(program, chunk_size=None):
        seen.append(chunk_size)
        return planner(program, chunk_size)
    monkeypatch.setattr(ad.compiled, "jacobian_plan", spy)
    jac = ad.jacobian(lambda x: anp.sin(x) * x, compile=True, chunk_size=3)
    x = np.linspace(0.0, 1.0, 10)
    np.testing.assert_allclose(jac(x), np.diag(np.cos(x) * x + np.sin(x)), atol=1e-12)
    assert seen and set(seen) == {3}


def test_an_inline_compiled_gradient_records_once_per_signature():
    """`ad.grad(f, compile=True)(x)` written inline in a loop shares f's compiled tape (one
    recording per signature, as a transform made once), and does not keep f alive."""
    import gc
    import weakref

    def f(x):
        return anp.sum(anp.sin(x) * x)
    x = np.linspace(0.1, 1.0, 5)
    for scale in (1.0, 2.0, 3.0):
        np.testing.assert_allclose(ad.grad(f, compile=True)(scale * x),
                                   ad.grad(f)(scale * x), rtol=1e-14)
    assert ad.grad(f, compile=True).compiled.recordings == 1
    assert ad.value_and_grad(f, compile="always").compiled is not \
        ad.grad(f, compile=True).compiled                  # other options, its own
    ref = weakref.ref(f)
    del f
    gc.collect()
    assert ref() is None


CLOSURES = {   # an inner compile=True transform closing over the outer transform's value
    "grad in grad": (lambda c: ad.grad(lambda x: x * c(lambda y: x * y)(1.0)), 1.5),
    "grad in jvp": (lambda c: lambda x: ad.jvp(lambda s: c(lambda y: anp.sin(s * y))(0.7),
                                                (x,), (1.0,))[1], 1.5),
    "jacobian in grad": (lambda c: ad.grad(lambda x: anp.sum(
        c(lambda y: anp.tanh(x * y), "jacobian")(np.array([0.3, 0.4])))), 0.5),
    "grad in hessian": (lambda c: ad.hessian(lambda x: anp.sum(
        c(lambda y: anp.sum(anp.exp(x * y) * x))(np.array([0.2, -0.1])))), np.array(0.4)),
}


@pytest.mark.parametrize("name", CLOSURES)
def test_a_closure_over_an_outer_traced_value_runs_interpreted(name):
    make, x = CLOSURES[name]
    made = []

    def compiled(fn, kind="grad"):
        t = (ad.jacobian if kind == "jacobian" else ad.grad)(fn, compile=True)
        made.append(t)
        return t

    def interpreted(fn, kind="grad"):
        return (ad.jacobian if kind == "jacobian" else ad.grad)(fn)
    np.testing.assert_allclose(make(compiled)(x), make(interpreted)(x), rtol=1e-12)
    # inside another transform nothing is recorded for a compiled tape (ad.context.
    # inside_transform): the engines nest, as without compile
    assert made and all(not t.compiled.replays for t in made)


def test_python_floats_take_the_fast_path_and_keep_their_guards():
    def f(x, y=2.0):
        return anp.sin(x) * y if x > 0 else anp.cos(x) * y

    g = ad.grad(f, compile=True)
    plain = ad.grad(f)
    for x in (0.3, 0.7, -0.4, 0.2, -1.5, np.array(0.9), 0.9):
        got, want = g(x), plain(x)
        assert type(got) is type(want) and got == want
    assert g.compiled.recordings == 2            # one path per branch, shared by 0-d arrays
    assert g.compiled.guard_failures >= 2        # the branch flipped, and was caught
    assert float in g.compiled.hot               # a lone float has its one-function replay
    two = ad.grad(f, argnums=(0, 1), compile=True)
    for x, y in ((0.3, 1.5), (np.array(0.3), 2.5), (-0.3, 1.5)):
        assert two(x, y) == ad.grad(f, argnums=(0, 1))(x, y)


def test_a_changed_formula_changes_the_interpreter_s_digest():
    """Numba's cache of `run` does not notice its callees change: the generated source
    carries each function's fingerprint (source and constants), so a new formula makes a
    new module rather than a stale cached one."""
    from ad import kernels
    from ad.catalogue.elementwise import _sinc_d
    from ad.primitive import PRIMITIVES
    primitive = PRIMITIVES["sinc"]
    value = kernels._Function(primitive.impl, 1, True)
    partial = kernels._Function(_sinc_d, 2, False)
    before = compiled._interpreter_source([(compiled.FIRST_ELEMENTWISE, primitive, value,
                                            [partial])])
    partial.fingerprint += "\n# another formula"
    after = compiled._interpreter_source([(compiled.FIRST_ELEMENTWISE, primitive, value,
                                           [partial])])
    assert before != after


def test_compiled_jacobians_take_the_interpreted_engine_s_dtypes():
    """Forward mode's blocks take the output's dtype promoted with the input's, reverse
    mode's the input's, compiled or not (a float32 input of a float64 output: float64
    forward, float32 reverse)."""
    c64 = np.array([1.0 + 1e-9, 2.0, 3.0])
    for x_dtype in (np.float32, np.float64):
        for c in (c64.astype(np.float32), c64):
            f = lambda x: anp.sin(x * 0.5) * c          # noqa: E731
            x = np.array([0.3, -0.7, 1.1], x_dtype)
            for transform in (ad.jacfwd, ad.jacrev):
                want, got = transform(f)(x), transform(f, compile="always")(x)
                assert got.dtype == want.dtype
                np.testing.assert_allclose(got, want, rtol=1e-6)


# ------------------------------------------------------------------ edge values, exactly
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, np.inf, -np.inf, np.nan, 5e-324,
                    -1e-17, 1e300, -1e160])


@pytest.mark.parametrize("primitive", ELEMENTWISE, ids=lambda p: p.name)
def test_every_elementwise_primitive_gives_numpy_s_values_at_special_points(primitive):
    # zeros of either sign, infinities, NaN, subnormals: the interpreter's functions
    # against the primitive's own NumPy impl, bit for bit up to the last place (before:
    # floor_divide took Numba's, which gives 1 // -inf as 0, NumPy -1)
    grid = np.meshgrid(*[SPECIAL] * primitive.arity, indexing="ij")
    xs = [g.ravel() for g in grid]
    g = lambda *xs: anp.stack([primitive(*xs) * 1.0, xs[0]])     # noqa: E731 - traced out
    with np.errstate(all="ignore"):
        want = np.asarray(primitive.impl(*xs), dtype=np.float64)
        got = ad.compile(g, *xs).values(list(xs))[0]
    same = (got == want) | (np.isnan(got) & np.isnan(want)) | (
        np.isclose(got, want, rtol=4e-16, atol=0) & np.isfinite(want))
    assert same.all(), [(tuple(x[k] for x in xs), got[k], want[k])
                        for k in np.flatnonzero(~same)][:5]
    zeros = want == 0
    if primitive.name not in ("maximum", "minimum", "fmax", "fmin"):   # of 0.0 and -0.0:
        assert (np.signbit(got[zeros]) == np.signbit(want[zeros])).all()   # either (IEEE)


def test_stop_gradient_as_the_last_operation_carries_no_derivative():
    # before: the copy entry passed the seeded output cotangent (and tangent) through
    x = np.array([1.0, 2.0, 3.0])
    f = lambda x: ad.stop_gradient(anp.sum(x ** 2))        # noqa: E731
    h = lambda x: ad.stop_gradient(x * 2.0)                # noqa: E731
    zeros = np.zeros((3, 3))
    assert not ad.grad(f, compile=True)(x).any()
    for transform in (ad.jacrev, ad.jacfwd):
        np.testing.assert_array_equal(transform(h, compile="always")(x), zeros)
    assert not ad.jvp(h, (x,), (x,), compile="always")[1].any()
    assert not ad.vjp(h, x, compile="always")[1](x)[0].any()


def test_a_big_endian_array_is_read_by_value():
    # before: its bytes went to the interpreter as native float64 once the native
    # signature was recorded (a value of 0.0 and gradients like 6e-319)
    f = lambda x: anp.sum(x ** 2)                         # noqa: E731
    x = np.array([1.0, 2.0, 3.0])
    vg, g = ad.value_and_grad(f, compile=True), ad.grad(f, compile=True)
    vg(x), g(x)
    for call in (vg, g, ad.value_and_grad(f, compile=True), ad.grad(f, compile=True)):
        got = call(x.astype(">f8"))
        value, grad = got if isinstance(got, tuple) else (14.0, got)
        assert value == 14.0 and grad.tolist() == [2.0, 4.0, 6.0]


@pytest.mark.parametrize("name, f", [
    ("concatenate", lambda x: anp.concatenate([x * 0.0, x])[:2]),
    ("stack", lambda x: anp.stack([x * 0.0, x])[0]),
    ("pad", lambda x: anp.pad(x * 0.0, 1)),
    ("cumsum", lambda x: anp.cumsum(x * 0.0)),
    ("where, a constant mask", lambda x: anp.where(np.array([True, False]), x * 0.0, x)),
    ("sum (from 0.0, as NumPy's)", lambda x: anp.sum(anp.reshape(x * 0.0, (1, 2)), axis=0)),
])
def test_a_negative_zero_keeps_its_sign(name, f):
    # arctan2 tells -0.0 from 0.0 (-pi and pi); before, a scatter made every -0.0 a 0.0
    x = np.array([-1.0, -2.0])
    g = lambda x: anp.sum(anp.arctan2(f(x), -1.0 - anp.sum(x * x))) * x[0]   # noqa: E731
    assert_same(ad.value_and_grad(g, compile="always")(x), ad.value_and_grad(g)(x))
    np.testing.assert_array_equal(np.signbit(ad.compile(f, x).values([x])),
                                  np.signbit(f(x)))


@pytest.mark.parametrize("name, f", [
    ("floor", lambda x: anp.sum(anp.floor(x * 10.0) * x)),
    ("a mask", lambda x: anp.sum(anp.where(x * 3.0 == 2.1, x, 0.0))),
    ("a kink", lambda x: anp.sum(anp.abs(x - anp.mean(x)))),
    ("a cast", lambda x: anp.sum(anp.floor(anp.astype(x * 1.0000001, np.float32) * 10.0) * x)),
])
def test_float32_values_are_numpy_s(name, f):
    # each float32 result is rounded to float32 (and a Python number beside it taken in
    # float32), so floor, comparisons and kinks see NumPy's values: before, the float64
    # arena gave floor(0.7 * 10) as 6 and another mask
    for x in (np.array([0.7, 0.1], np.float32), np.full(3, 0.7, np.float32)):
        (v, g), (wv, wg) = (ad.value_and_grad(f, compile=c)(x) for c in ("always", False))
        assert v.dtype == wv.dtype == np.float32 and g.dtype == np.float32
        np.testing.assert_allclose(v, wv, rtol=1e-6)
        np.testing.assert_allclose(g, wg, rtol=1e-6, atol=1e-7)


def test_a_python_float_beside_float32_arrays_runs_interpreted():
    # the tape's inputs are arrays: the float would be a strong float64 one (a float64
    # program), where NumPy takes it in float32
    f = lambda x, s: anp.sum(anp.floor(x * s) * x)        # noqa: E731
    x = np.array([0.7, 0.1], np.float32)
    fast = ad.value_and_grad(f, compile=True)
    (v, g), (wv, wg) = fast(x, 10.0), ad.value_and_grad(f)(x, 10.0)
    assert type(v) is type(wv) and v == wv and g.tolist() == wg.tolist()
    assert "Python float beside float32" in next(iter(fast.compiled.reports.values()))
    assert_same(ad.value_and_grad(f, compile=True)(x, np.float32(10.0)), (wv, wg))


@pytest.mark.parametrize("n", [-1, -2, -3, -4])
def test_negative_integer_powers_at_the_range_s_ends(n):
    # (1/x) ** |n| by products: no intermediate power overflows where the result does not
    # (before: x ** -3 at 1e160 gave a NaN derivative, 0 * inf)
    x = np.array([1e160, -1e200, 0.0, 1e-200, 3.0, -0.5])
    f = lambda x: anp.sum(x ** n)                          # noqa: E731
    with np.errstate(all="ignore"):
        (v, g), (wv, wg) = (ad.value_and_grad(f, compile=c)(x) for c in ("always", False))
    np.testing.assert_allclose(v, wv, rtol=1e-14)
    np.testing.assert_allclose(g, wg, rtol=1e-14)


def test_float32_sums_add_in_float32():
    # every addition of a float32 sum is rounded (before: added in float64, rounded once:
    # 1e8 + 1 - 1e8 gave 1, and a mask on the sum picked the other branch)
    x = np.array([1e8, 1.0, -1e8], np.float32)
    for f in (lambda x: anp.sum(x), lambda x: anp.mean(x), lambda x: anp.sum(anp.cumsum(x)),
              lambda x: anp.sum(anp.where(anp.sum(x) > 0.5, 2.0 * x, 0.0 * x)),
              lambda x: anp.sum(anp.remainder(anp.floor_divide(x * 4.0, 3.0), 2.0) * x)):
        (v, g), (wv, wg) = (ad.value_and_grad(f, compile=c)(x) for c in ("always", False))
        assert v == wv and g.tolist() == wg.tolist()


def test_int_and_tuple_argnums_keep_their_own_result_structure():
    # one compiled tape per f and options serves both: the key holds whether argnums was
    # an int (before: the second transform got the first one's structure)
    f = lambda x: anp.sum(anp.sin(x))                       # noqa: E731
    x = np.array([0.1, 0.2])
    assert isinstance(ad.grad(f, (0,), compile=True)(x), tuple)
    assert isinstance(ad.grad(f, 0, compile=True)(x), np.ndarray)
    h = lambda x: anp.sin(x) * 2.0                          # noqa: E731
    assert isinstance(ad.jacrev(h, 0, compile="always")(x), np.ndarray)
    assert isinstance(ad.jacrev(h, (0,), compile="always")(x), tuple)


def test_a_settled_close_call_takes_another_thread_s_late_timing():
    # threads time a close call at once; one settles it (trials None) before another
    # hands in its timing (before: None.append)
    compiled_f = compiled.CompiledGrad(lambda x: x, kind="jacobian")
    replay = compiled.Replay.__new__(compiled.Replay)
    replay.trials, replay.keys = None, ()
    compiled_f.settle(replay, 1e-3, 2e-3)


def test_a_program_checks_the_inputs_it_is_given():
    program = ad.compile(lambda x, y: x * 2.0 + y, np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="takes 2 inputs, given 1"):
        program.values([np.ones(3)])
    with pytest.raises(ad.ShapeError, match="input 1 .* shape \\(3,\\), given \\(1,\\)"):
        program.values([np.ones(3), np.ones(1)])
    f32 = ad.compile(lambda x: x * 2.0, np.ones(3, np.float32))
    assert f32.values([np.ones(3, np.float32)]).dtype == np.float32


def test_equal_scalar_constants_share_a_slot_but_not_minus_zero():
    """Scalars of the same dtype and bits share one arena slot; -0.0 is not 0.0 (arctan2
    tells them apart) and a guard's reference, which settle_guards rewrites, is its own."""
    same = ad.compile(lambda x: anp.sum(x * 2.0 + x * 2.0), np.ones(3))
    other = ad.compile(lambda x: anp.sum(x * 2.0 + x * 3.0), np.ones(3))
    assert len(same.sizes) == len(other.sizes) - 1

    def f(x):
        return anp.sum(anp.arctan2(0.0, x) * 2.0 + anp.arctan2(-0.0, x) * 3.0)
    x = -np.ones(2)
    fast, slow = ad.value_and_grad(f, compile="strict"), ad.value_and_grad(f)
    assert fast.compiled is not None
    np.testing.assert_array_equal(fast(x)[0], slow(x)[0])      # 2 pi - 3 pi, twice
    assert float(fast(x)[0]) == pytest.approx(-2 * np.pi)
    np.testing.assert_array_equal(fast(x)[1], slow(x)[1])

    def g(x):
        s = anp.sum(x)
        return s * 2.0 if s > 2.0 else s      # a guard on 2.0's side, and a 2.0 constant
    program = ad.compile(g, np.array([1.5, 1.0]))
    assert program.guards
    fast_g = ad.value_and_grad(g, compile="strict")
    for x in (np.array([1.5, 1.0]), np.array([1.25, 1.5])):
        np.testing.assert_array_equal(fast_g(x)[0], 2.0 * x.sum())


def test_max_and_min_of_a_nan_have_the_interpreted_nan_derivative():
    """No element equals a NaN maximum (no tie to share the derivative): the interpreted
    rule's 0 / 0 is NaN, and the compiled tape gave 0 in both modes."""
    x = np.array([np.nan, 1.0, 2.0])
    for f in (lambda x: anp.max(x), lambda x: anp.min(x),
              lambda x: anp.sum(anp.max(anp.reshape(anp.concatenate([x, x[::-1]]), (2, 3)),
                                        axis=1))):
        with np.errstate(invalid="ignore"):
            slow = ad.grad(f)(x)
            fast = ad.grad(f, compile="strict")
            fast(x + 1.0)
            np.testing.assert_array_equal(fast(x), slow)
            np.testing.assert_array_equal(ad.jacfwd(f, compile="strict")(x),
                                          ad.jacfwd(f)(x))


@pytest.mark.parametrize("f, x", [
    (lambda x: anp.sum(anp.exp(anp.sin(x) * x) / (1.0 + x * x)), np.linspace(0.1, 1.0, 8)),
    (lambda x: anp.sum(x[::-1] * anp.cumsum(x)[np.array([0, 2, 2])].sum()), np.ones(5)),
    (lambda x: anp.max(anp.reshape(x, (2, 3)), axis=1).sum() + anp.argmax(x) * 0.0,
     np.arange(6.0)),
    (lambda x: anp.sum(anp.where(x > 0.5, anp.tanh(x), x ** 3)), np.linspace(0, 1, 7)),
])
def test_the_cheap_bound_of_a_compiled_gradient_bounds_its_prediction(f, x):
    """`slower` accepts a gradient by `grad_bound` without pricing op by op: it must bound
    `predict_grad` from above, or a slower compiled tape would be taken."""
    program = ad.compile(f, x)
    assert program.grad_bound() >= program.predict_grad() > 0


def test_a_close_call_between_compiled_modes_is_settled_by_timing_both(monkeypatch):
    from ad import transforms
    monkeypatch.setattr(transforms, "COMPILED_SETTLE_WITHIN", 1e9)   # every call is close
    f = lambda x: anp.tanh(x[::-1] * x) * anp.sum(x)                 # noqa: E731
    x = np.linspace(0.1, 1.0, 6)
    jac = ad.jacobian(f, compile="strict")
    want = ad.jacrev(f)(x)
    monkeypatch.setattr(transforms, "SETTLE_BUDGET", 0.0)      # settled after the minimum
    for _ in range(2 * ad.compiled.SETTLE_TRIALS):
        np.testing.assert_allclose(jac(x), want, rtol=1e-12)
    ((_, _, mode, trials),) = jac.plans.values()
    assert trials is None and mode in ("forward", "reverse")
    np.testing.assert_allclose(jac(x), want, rtol=1e-12)


def test_a_value_another_level_traces_makes_the_recording_refuse_to_lower():
    """A compiled recording cannot replay a value that reaches f through a closure from an
    enclosing level (its derivative flows outside the tape): the level notes it, for a
    differentiable primitive (checked as it is recorded) and a non-differentiable one."""
    from ad.compiled import CompilingLevel
    from ad.context import entered
    from ad.reverse import ReverseLevel
    for op in (lambda x, y: x * y, lambda x, y: x > y):
        outer = ReverseLevel()
        with entered(outer):
            y = outer.new_input(np.ones(2))
            level = CompilingLevel()
            with entered(level):
                x = level.new_input(np.ones(2))
                op(x, y)
        assert "enclosing transform" in level.value_dependent
    level = CompilingLevel()
    with entered(level):
        x = level.new_input(np.ones(2))
        anp.sin(x) * 2.0
    assert level.value_dependent is None


def test_a_cheap_close_call_between_compiled_modes_is_timed_more_often(monkeypatch):
    from ad import transforms
    monkeypatch.setattr(transforms, "COMPILED_SETTLE_WITHIN", 1e9)
    monkeypatch.setattr(transforms, "SETTLE_BUDGET", 1e9)       # every call "cheap"
    x = np.linspace(0.1, 1.0, 4)
    jac = ad.jacobian(lambda x: anp.sin(x) * anp.sum(x), compile="strict")
    for _ in range(2 * transforms.SETTLE_MAX_TRIALS - 1):
        jac(x)
    ((_, _, _, trials),) = jac.plans.values()
    assert trials is not None and min(map(len, trials.values())) == \
        transforms.SETTLE_MAX_TRIALS - 1
    jac(x)
    ((_, _, mode, trials),) = jac.plans.values()
    assert trials is None and mode in ("forward", "reverse")


def test_a_compiled_pullback_takes_a_traced_cotangent_interpreted():
    A = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    f = lambda a: anp.sin(A @ a)                           # noqa: E731
    _, compiled = ad.vjp(f, np.ones(3), compile=True)
    _, interpreted = ad.vjp(f, np.ones(3))
    np.testing.assert_allclose(ad.jacrev(lambda c: compiled(c)[0])(np.ones(2)),
                               ad.jacrev(lambda c: interpreted(c)[0])(np.ones(2)), rtol=1e-14)
    np.testing.assert_allclose(compiled(np.ones(2))[0], interpreted(np.ones(2))[0], rtol=1e-14)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("pieces", [1, 2, 3, 7])
def test_concatenate_lowers_as_a_tree_of_pairs(axis, pieces):
    """Pieces of mixed widths along any axis: the compiled value, gradient and Jacobian are
    the interpreted ones, and a -0.0 stays -0.0 (arctan2 tells), one piece included."""
    widths = [1 + k % 3 for k in range(pieces)]
    def f(x):
        parts, start = [], 0
        for k, w in enumerate(widths):
            block = anp.reshape(x[start:start + 2 * w], (2, w) if axis else (w, 2))
            parts.append(anp.sin(block) * (k + 1) if k % 2 else block * 1.0)
            start += 2 * w
        return anp.concatenate(parts, axis=axis)
    x = np.linspace(-1.0, 1.0, 2 * sum(widths))
    x[0] = -0.0
    loss = lambda x: anp.sum(anp.arctan2(f(x), -1.0) * np.arange(x.size).reshape(  # noqa: E731
        np.shape(f(np.zeros_like(x)))))
    fast = ad.value_and_grad(loss, compile="always")
    value, grad = fast(x)
    assert next(iter(fast.compiled.reports.values())).startswith("compiled tape")
    np.testing.assert_allclose(value, ad.value_and_grad(loss)(x)[0], rtol=1e-13)
    np.testing.assert_allclose(grad, ad.grad(loss)(x), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ad.jacrev(f, compile="always")(x), ad.jacrev(f)(x), atol=1e-15)


def test_a_stack_of_many_pieces_compiles_in_linear_arena():
    """k pieces concatenated: a balanced tree of pairs (O(n log k) elements moved), where a
    scatter of every piece into the whole result was O(n k) (8 MB of arena for 500 pairs,
    and the cost model then refused to compile beyond about 1,000)."""
    from programs import stacked_trajectory
    for steps in (500, 2000):
        def f(x):
            return stacked_trajectory(x, steps)
        fast = ad.grad(f, compile=True)
        x = np.array([0.3, 0.2])
        np.testing.assert_allclose(fast(x), ad.grad(f)(x), rtol=1e-12)
        (report,) = fast.compiled.reports.values()
        assert report.startswith("compiled tape"), report
        program = next(r for r in fast.compiled.replays.values() if r is not None).program
        elements = 2 * steps                                   # the stacked result's
        # per tree level two scatters and their sum; the steps themselves a few slots each
        assert program.arena.nbytes <= 8 * elements * (3 * np.log2(steps) + 16)


@pytest.mark.parametrize("cotangent", [[1.0, 1.0], None, {"a": np.ones(2)}, (np.ones(2),)])
def test_a_compiled_vjp_checks_the_cotangent_s_structure(cotangent):
    """As the interpreted vjp_fn does: a list for an array output was taken silently, None
    and a dict were said to have shape ()."""
    x = np.array([1.0, 2.0])
    for compile in (False, True):
        with pytest.raises(ad.ShapeError, match="structure"):
            ad.vjp(anp.sin, x, compile=compile)[1](cotangent)
    np.testing.assert_allclose(ad.vjp(anp.sin, x, compile=True)[1](np.ones(2))[0], np.cos(x))


def test_a_mask_of_an_overwritten_value_lowers_as_a_constant():
    """A traced value that no longer depends on the inputs (every element overwritten by
    .at[].set) feeding where's condition (clip's too): the mask is the same at every replay,
    so the compiled tape takes its recorded value (it raised NotDifferentiableError asking
    for the condition's tangent)."""
    fs = [lambda x: anp.sum(anp.clip(anp.at(x)[:].set(2.0), -0.7, 0.9) * x),
          lambda x: anp.sum(anp.where(anp.at(x)[:].set(0.5) > 1, x, 0.0) + x ** 2)]
    for f in fs:
        fast = ad.value_and_grad(f, compile="always")
        for x in (np.array([0.3, -1.2]), np.array([1.5, 0.1])):
            value, grad = fast(x)
            expected = ad.value_and_grad(f)(x)
            np.testing.assert_allclose(value, expected[0], rtol=1e-14)
            np.testing.assert_allclose(grad, expected[1], rtol=1e-14)
        assert next(iter(fast.compiled.reports.values())).startswith("compiled tape")


def test_a_nan_no_output_depends_on_is_documented_per_engine():
    """docs/conventions.md: compiled tapes route cotangents structurally (0 for the NaN
    element nothing reads any more), the interpreted sweep multiplies by its partial (0 * NaN);
    with finite inputs they agree."""
    f = lambda x: anp.sum(anp.at(anp.sin(x))[[0, 1]].set(2.0) * x)   # noqa: E731
    x = np.array([1.0, np.nan])
    np.testing.assert_array_equal(ad.grad(f, compile="always")(x), [2.0, 2.0])
    np.testing.assert_array_equal(ad.grad(f)(x), [2.0, np.nan])
    x = np.array([1.0, 3.0])
    np.testing.assert_array_equal(ad.grad(f, compile="always")(x), ad.grad(f)(x))
