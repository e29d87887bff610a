"""The table behind the `ad.numpy` tests (tests/test_numpy_*.py, one per module of ad/numpy):
value generators, and `Table`, whose rows each become three tests.

A row is (id, numpy function or None, ad.numpy function, float arguments, keywords). For
every row: the value equals NumPy's; `ad.check_grads` passes to second order in both modes
on the ad.numpy function; the same call through NumPy's own function (`np.sin(x)` on a
traced x, the NumPy protocol) gives the same derivative.
"""
import math

import numpy as np
import pytest

import ad
import ad.numpy as anp

rng = np.random.default_rng(7)


def v(*shape):
    """Standard normal values."""
    return rng.standard_normal(shape)


def pos(*shape):
    return rng.uniform(0.5, 2.0, shape)


def unit(*shape):
    return rng.uniform(-0.8, 0.8, shape)


def nz(*shape):
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def big(*shape):
    return rng.uniform(1.2, 3.0, shape)


def wellcond(*shape):
    n = shape[-1]
    return v(*shape) + 3 * np.eye(n)


def distinct(*shape):
    """Values far apart (no ties within 0.1), for max/min/sort/median."""
    n = math.prod(shape)
    return (rng.permutation(n) * 0.37 - n * 0.15 + rng.uniform(-0.05, 0.05, n)).reshape(shape)



def _lookup(module, name):
    for part in name.split("."):
        module = getattr(module, part, None)
    return module


def _call(fn, args, kw):
    return fn(*args, **kw)


def flat(out):
    if isinstance(out, (tuple, list)):
        return [np.asarray(leaf) for item in out for leaf in flat(item)]
    return [np.asarray(out)]


class Table:
    """Rows of calls; `tests()` gives the three parametrised test functions over them."""

    def __init__(self) -> None:
        self.rows = []

    def row(self, name, args, np_fn="auto", fn=None, id=None, dispatch=True, **kw):
        """Register one row: `name` is the ad.numpy (and NumPy) name unless fn/np_fn are
        given. `dispatch=False` marks an `np_fn` that is only a reference for the value
        (NumPy has no function that could dispatch, e.g. in-place updates)."""
        if fn is None:
            fn = _lookup(anp, name)
        if np_fn == "auto":
            np_fn = _lookup(np, name)
        label = id or name + ("" if not kw else "-" + ",".join(f"{k}={v}" for k, v in kw.items()))
        label += "-" + "x".join(str(np.shape(a)) for a in args).replace(" ", "")
        self.rows.append(pytest.param(np_fn, fn, tuple(args), kw, dispatch, id=label))

    def tests(self):
        rows = self.rows

        @pytest.mark.parametrize("np_fn,fn,args,kw,dispatch", rows)
        def test_value_matches_numpy(np_fn, fn, args, kw, dispatch):
            if np_fn is None:
                pytest.skip("no NumPy counterpart")
            expected = np_fn(*args, **kw)
            # evaluated on traced inputs, so the traced code path is the one compared
            out, _ = ad.jvp(lambda *xs: _call(fn, xs, kw), args,
                            tuple(np.zeros_like(a) for a in args))
            for got, want in zip(flat(out), flat(expected)):
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)

        @pytest.mark.parametrize("np_fn,fn,args,kw,dispatch", rows)
        def test_derivatives_second_order(np_fn, fn, args, kw, dispatch):
            ad.check_grads(lambda *xs: _call(fn, xs, kw), args, order=2, rtol=1e-4, atol=1e-5)

        @pytest.mark.parametrize("np_fn,fn,args,kw,dispatch", rows)
        def test_numpy_dispatch_same_derivative(np_fn, fn, args, kw, dispatch):
            """The NumPy function itself, on traced values, differentiates like ad.numpy's."""
            if np_fn is None or not dispatch:
                pytest.skip("no NumPy function to dispatch")
            tangents = tuple(np.random.default_rng(0).standard_normal(np.shape(a))
                             for a in args)
            _, expected = ad.jvp(lambda *xs: _call(fn, xs, kw), args, tangents)
            _, got = ad.jvp(lambda *xs: _call(np_fn, xs, kw), args, tangents)
            for a, b in zip(flat(got), flat(expected)):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)

        return test_value_matches_numpy, test_derivatives_second_order, \
            test_numpy_dispatch_same_derivative
