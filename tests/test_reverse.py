"""Reverse mode: the tape, its sweep, memory, depth and threads."""
import gc
import sys
import threading
import weakref

import numpy as np
import pytest

import ad
import ad.numpy as anp
from ad.context import entered
from ad.reverse import ReverseLevel, sweep


def test_tape_lists_entries_in_execution_order():
    level = ReverseLevel()
    with entered(level):
        x = level.new_input(np.array([1.0, 2.0]))
        y = anp.sum(anp.sin(x) * 2.0)
    entries = list(level.tape.entries())
    assert [entry[0].name for entry in entries] == ["sin", "multiply", "sum"]
    assert [entry[2] for entry in entries] == [(0,), (1, -1), (2,)]   # -1: a constant
    assert [entry[4] for entry in entries] == [1, 2, 3]
    found = sweep(level.tape, [(y.index, 1.0)], [x.index])
    np.testing.assert_allclose(found[x.index], 2 * np.cos([1.0, 2.0]))


def test_million_op_chain_reverse_and_forward():
    """No recursion over the graph: 10^6 recorded operations at the default recursion limit."""
    assert sys.getrecursionlimit() <= 10_000

    def f(x):
        for _ in range(1_000_000):
            x = x * 1.000001
        return x
    expected = 1.000001 ** 1_000_000
    assert float(ad.grad(f)(1.0)) == pytest.approx(expected, rel=1e-9)
    assert float(ad.jvp(f, (1.0,), (1.0,))[1]) == pytest.approx(expected, rel=1e-9)


def test_tape_and_residuals_released_after_grad():
    kept = []

    def f(x):
        big = np.linspace(1.0, 2.0, 100_000)
        kept.append(weakref.ref(big))
        return anp.sum(x * big)
    g = ad.grad(f)(np.ones(100_000))
    gc.collect()
    assert kept[0]() is None, "the tape (holding a residual) outlived the sweep"
    np.testing.assert_allclose(g, np.linspace(1.0, 2.0, 100_000))


def test_vjp_function_keeps_tape_until_dropped():
    kept = []

    def f(x):
        big = np.linspace(1.0, 2.0, 1000)
        kept.append(weakref.ref(big))
        return x * big
    out, vjp_fn = ad.vjp(f, np.ones(1000))
    first = vjp_fn(np.ones(1000))[0]
    second = vjp_fn(np.ones(1000))[0]
    np.testing.assert_allclose(first, second)
    assert kept[0]() is not None
    del vjp_fn
    gc.collect()
    assert kept[0]() is None


def _counting_primitive(name, calls):
    def impl(x):
        return 2.0 * x

    def jvp(t, out, x):
        return 2.0 * t

    def vjp(ct, out, x):
        calls.append(name)
        return 2.0 * ct
    return ad.defprimitive(name, impl, jvp=(jvp,), vjp=(vjp,), cost=ad.PerElement(1, 1, 1, 0))


def test_entries_off_the_path_are_skipped():
    calls = []
    double = _counting_primitive("double_for_skip_test", calls)

    def f(x):
        aux = double(x)          # recorded, but no cotangent ever reaches it
        return anp.sin(x), aux
    g, aux = ad.grad(f, has_aux=True)(0.3)
    assert calls == []
    assert float(aux) == pytest.approx(0.6)
    assert float(g) == pytest.approx(np.cos(0.3))


def test_cotangents_accumulate_over_fan_out():
    def f(x):
        y = anp.sin(x)
        return anp.sum(y * y + y + 3.0 * y)
    x = np.array([0.1, 0.7])
    np.testing.assert_allclose(ad.grad(f)(x), (2 * np.sin(x) + 4) * np.cos(x))


def test_in_place_accumulation_never_touches_user_arrays():
    seed = np.ones(3)

    def f(x):
        return x + x * 2.0 + anp.sin(x)
    out, vjp_fn = ad.vjp(f, np.zeros(3))
    vjp_fn(seed)
    np.testing.assert_array_equal(seed, np.ones(3))


def test_eight_threads_take_gradients_at_once():
    errors = []
    barrier = threading.Barrier(8)

    def work(k):
        try:
            barrier.wait()
            scale = float(k + 1)
            for _ in range(30):
                g = ad.grad(lambda x: anp.sum(anp.tanh(scale * x) ** 2))(np.full(5, 0.1))
                expected = 2 * np.tanh(scale * 0.1) * (1 - np.tanh(scale * 0.1) ** 2) * scale
                np.testing.assert_allclose(g, expected, rtol=1e-12)
                h = ad.hessian(lambda x: anp.sum(x ** 3) * scale)(np.array([1.0, 2.0]))
                np.testing.assert_allclose(h, np.diag([6.0, 12.0]) * scale)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_leaked_tracer_is_a_named_error():
    leaked = []
    ad.grad(lambda x: leaked.append(x) or x * 2.0)(1.0)
    with pytest.raises(ad.LevelError, match="finished reverse transform"):
        anp.sin(leaked[0])


def test_scatters_accumulate_in_place_into_the_sweeps_buffer():
    """Several reads of one value by indexing: their transposes add into one owned buffer
    (getitem's accumulate rule), in single and batched sweeps, basic and advanced indices."""
    def f(x):
        return anp.concatenate([x[:3] * 2.0, x[1:] ** 2, x[np.array([0, 0, 2])],
                                anp.roll(x, 1) * x, x[x > 0.0]])
    x = np.array([0.3, -1.2, 0.7, 2.0])
    expected = ad.jacfwd(f)(x)
    np.testing.assert_allclose(ad.jacrev(f)(x), expected, rtol=1e-12)
    np.testing.assert_allclose(ad.jacrev(f, chunk_size=3)(x), expected, rtol=1e-12)
    weights = np.arange(expected.shape[0], dtype=float)
    np.testing.assert_allclose(ad.grad(lambda x_: anp.sum(f(x_) * weights))(x),
                               weights @ expected, rtol=1e-12)
    ad.check_grads(f, (x,), order=2)
