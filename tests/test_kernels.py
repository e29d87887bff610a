"""The Numba kernels against the NumPy reference path, their disk cache, and lazy compilation.

Kernels compile into a per-user cache directory (`ad.kernels.cache_dir()`), so a second run
of this file loads them instead of compiling. Subprocess tests use their own empty cache.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ad
from ad import kernels
from ad.catalogue.define import ElementwisePrimitive
from ad.primitive import PerElement
from ad.testing import sample

pytestmark = pytest.mark.skipif(not kernels.numba_available(),
                                reason="numba not installed or NUMBA_DISABLE_JIT set")

KERNEL_PRIMITIVES = sorted(name for name, p in ad.primitives.items()
                           if getattr(p, "elementwise", False) and getattr(p, "kernel", False))
DTYPES = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=1e-5, atol=1e-6)}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def always_numba(monkeypatch):
    """Send every size to the Numba path."""
    monkeypatch.setattr(kernels, "NUMBA_MIN_SIZE", 0)
    monkeypatch.setattr(kernels, "ACCUMULATE_MIN_SIZE", 0)


def _inputs(primitive, dtype, shape=(7, 37), seed=0):
    rng = np.random.default_rng(seed)
    return [sample(d, shape, rng, dtype) for d in primitive.domain]


def _assert_paths_agree(primitive, xs, needs, dtype):
    got = kernels.value_and_partials(primitive, xs, needs)
    want = kernels.value_and_partials_numpy(primitive, xs, needs)
    assert kernels._kernel_sets.get(primitive) is not None, "kernel generation/compile failed"
    tol = DTYPES[dtype]
    assert got[0].dtype == want[0].dtype == dtype and got[0].shape == want[0].shape
    np.testing.assert_allclose(got[0], want[0], **tol)
    for g, w in zip(got[1], want[1]):
        assert (g is None) == (w is None)
        if g is not None:
            # the dtype a derivative gets from it (a Python float and a float32 scalar
            # partial both keep a float32 tangent float32)
            assert np.shape(g) == np.shape(w) and (
                np.result_type(g, dtype) == np.result_type(w, dtype))
            np.testing.assert_allclose(g, w, **tol)
    return got


@pytest.mark.parametrize("dtype", list(DTYPES), ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", KERNEL_PRIMITIVES)
def test_numba_path_matches_numpy(name, dtype, always_numba):
    primitive = ad.primitives[name]
    xs = _inputs(primitive, dtype)
    arity = primitive.arity
    # Every partial at once, then each alone (other kernels: fewer outputs).
    needs_list = [(True,) * arity] + ([tuple(j == i for j in range(arity))
                                       for i in range(arity)] if arity > 1 else [])
    for needs in needs_list:
        _assert_paths_agree(primitive, xs, needs, dtype)
    if arity == 2:  # a Python scalar or same-dtype NumPy scalar as either argument
        for i, scalar in ((1, float(xs[1].flat[0])), (0, dtype(xs[0].flat[0]))):
            ys = list(xs)
            ys[i] = scalar
            _assert_paths_agree(primitive, ys, (True, True), dtype)


def test_a_fused_kernel_really_runs(always_numba):
    """Guards the test above against comparing NumPy with itself."""
    divide = ad.primitives["true_divide"]
    x, y = np.linspace(1, 2, 50), np.linspace(2, 3, 50)
    kernels.value_and_partials(divide, [x, y], (True, True))
    plan = kernels._kernel_sets[divide].plans[("aa", (True, True), "d")]
    loop, fused, kernel = plan
    assert loop == [0, 1] and fused and kernel.signatures


def test_argument_partials_are_not_copied(always_numba):
    exp = ad.primitives["exp"]
    x = np.linspace(0, 1, 100)
    out, (d,) = kernels.value_and_partials(exp, [x], (True,))
    assert d is out


def test_unsuitable_inputs_use_numpy(always_numba):
    divide = ad.primitives["true_divide"]
    cases = [[np.ones((3, 4)), np.ones(4)],                      # broadcasting
             [np.ones(10), np.ones(10, np.float32)],             # mixed dtypes
             [np.arange(10), np.ones(10)],                       # integers
             [np.ones((4, 6))[:, ::2], np.ones((4, 3))],         # not contiguous
             [np.ones(10, np.float32), np.float64(2.0)]]         # a scalar that upcasts
    for xs in cases:
        assert kernels._layout(xs) is None
        want = kernels.value_and_partials_numpy(divide, xs, (True, True))
        got = kernels.value_and_partials(divide, xs, (True, True))
        np.testing.assert_array_equal(got[0], want[0])
        assert got[0].dtype == want[0].dtype


def test_small_inputs_use_numpy():
    assert kernels._layout([np.ones(kernels.NUMBA_MIN_SIZE - 1)]) is None
    assert kernels._layout([np.ones(kernels.NUMBA_MIN_SIZE)]) is not None


@pytest.mark.parametrize("dtype", list(DTYPES), ids=lambda d: np.dtype(d).name)
def test_accumulate_matches(dtype, always_numba):
    rng = np.random.default_rng(2)
    acc, partial, cotangent = (rng.standard_normal((5, 41)).astype(dtype) for _ in range(3))
    want = acc + partial * cotangent
    result = kernels.accumulate(acc, partial, cotangent)
    assert result is acc and acc.dtype == dtype
    np.testing.assert_allclose(acc, want, **DTYPES[dtype])
    assert kernels._common not in (None, False)


@pytest.mark.parametrize("dtype", [*DTYPES, np.complex128], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("rows", [1, 7])
@pytest.mark.parametrize("numba", [True, False], ids=["kernel", "no numba"])
def test_scatter_add_sums_repeats_like_add_at(dtype, rows, numba, monkeypatch):
    if not numba:                        # the generated module unusable: NumPy's add.at
        monkeypatch.setattr(kernels, "_common", False)
    rng = np.random.default_rng(3)
    positions = rng.integers(0, 5, 40).astype(np.intp)      # many repeats of 5 positions
    out = rng.standard_normal((rows, 5)).astype(dtype)
    values = rng.standard_normal((rows, 40)).astype(dtype)
    want = out.copy()
    np.add.at(want, (slice(None), positions), values)
    kernels.scatter_add(out, positions, values)
    np.testing.assert_allclose(out, want, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_grad_through_kernels_matches(always_numba):
    import ad.numpy as anp

    def f(x):
        return anp.sum(anp.tanh(anp.sin(x) / (1.0 + x * x)) * anp.sqrt(x + 2.0))

    x = np.linspace(0.1, 2.0, 300)
    g_numba = ad.grad(f)(x)
    kernels.NUMBA_MIN_SIZE = kernels.ACCUMULATE_MIN_SIZE = 10 ** 12
    g_numpy = ad.grad(f)(x)
    np.testing.assert_allclose(g_numba, g_numpy, rtol=1e-12)


# ----------------------------------------------------------------------------- fallbacks
_SCALE = {"tanh": 1.0}


def _not_compilable_d(x, out):  # Numba cannot type a global dict
    return (1.0 - out * out) * _SCALE["tanh"]


def _make(name, value, partial):
    return ElementwisePrimitive(name, value, (partial,), cost=PerElement(1, 1, 1, 1),
                                domain=((-1.0, 1.0),), kernel=True)


@pytest.mark.parametrize("kind", ["lambda", "uncompilable"])
def test_unsupported_primitives_stay_on_numpy(kind, always_numba, monkeypatch, tmp_path):
    monkeypatch.setenv("AD_KERNEL_CACHE", str(tmp_path))
    if kind == "lambda":
        primitive = _make("tanh_lambda", np.tanh, lambda x, out: 1.0 - out * out)
    else:
        primitive = _make("tanh_uncompilable", np.tanh, _not_compilable_d)
    x = np.linspace(-1, 1, 64)
    for _ in range(2):  # the failure is remembered: no second attempt
        out, (d,) = kernels.value_and_partials(primitive, [x], (True,))
        np.testing.assert_allclose(d, 1 - np.tanh(x) ** 2)
        assert kernels._kernel_sets[primitive] is None
    kernels._kernel_sets.pop(primitive)


# ----------------------------------------------------------------------------- processes
def _run(code, **env):
    environment = dict(os.environ, PYTHONPATH=ROOT, **env)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                            env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_compiles_nothing(tmp_path):
    _run("""
        import gc, sys
        import ad, ad.numpy
        from ad import kernels
        assert not kernels._kernel_sets and kernels._common is None
        assert not [m for m in sys.modules if m.startswith("_ad_kernels_")]
        if "numba" in sys.modules:
            from numba.core.dispatcher import Dispatcher
            compiled = [d for d in gc.get_objects()
                        if isinstance(d, Dispatcher) and d.signatures]
            assert not compiled, compiled
    """, AD_KERNEL_CACHE=str(tmp_path))
    assert not os.listdir(tmp_path)


def test_numpy_path_when_jit_disabled(tmp_path):
    _run("""
        import sys
        import numpy as np
        import ad
        from ad import kernels
        tanh = ad.primitives["tanh"]
        x = np.linspace(-1, 1, 10 * kernels.NUMBA_MIN_SIZE)
        out, (d,) = kernels.value_and_partials(tanh, [x], (True,))
        np.testing.assert_allclose(d, 1 - np.tanh(x) ** 2)
        acc = np.zeros_like(x)
        kernels.accumulate(acc, d, x)
        assert not kernels.numba_available()
        assert all(k is None for k in kernels._kernel_sets.values())
        assert kernels._common in (None, False)
        assert not [m for m in sys.modules if m.startswith("_ad_kernels_")]
    """, AD_KERNEL_CACHE=str(tmp_path), NUMBA_DISABLE_JIT="1")
    assert not os.listdir(tmp_path)


def test_kernels_load_from_disk_cache(tmp_path):
    code = """
        import numpy as np
        import ad
        from ad import kernels
        kernels.NUMBA_MIN_SIZE = kernels.ACCUMULATE_MIN_SIZE = 0
        divide = ad.primitives["true_divide"]
        x = np.linspace(1, 2, 100)
        out, partials = kernels.value_and_partials(divide, [x, x + 1], (True, True))
        kernels.accumulate(np.zeros(100), partials[0], x)
        kernel = kernels._kernel_sets[divide].plans[("aa", (True, True), "d")][2]
        common = kernels._common.accumulate
        print(sum(kernel.stats.cache_hits.values()) + sum(common.stats.cache_hits.values()),
              sum(kernel.stats.cache_misses.values()) + sum(common.stats.cache_misses.values()))
    """
    assert _run(code, AD_KERNEL_CACHE=str(tmp_path)).split() == ["0", "2"]  # compiled
    assert _run(code, AD_KERNEL_CACHE=str(tmp_path)).split() == ["2", "0"]  # loaded
