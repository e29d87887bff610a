"""Dtypes through ad.numpy: float32 stays float32, ints and bools mix like NumPy."""

import numpy as np
import pytest

import ad
import ad.numpy as anp
from numpy_table import Table, big, distinct, flat, nz, pos, unit, v, wellcond  # noqa: F401

TABLE = Table()
row = TABLE.row




# ----------------------------------------------------------------------------- dtypes
FLOAT32 = {
    "sum": lambda x: anp.sum(x, axis=0), "mean": anp.mean, "prod": lambda x: anp.prod(x),
    "var": anp.var, "std": anp.std, "cumsum": anp.cumsum, "cumprod": anp.cumprod,
    "sort": anp.sort, "max": anp.max, "norm": anp.linalg.norm,
    "matrix norm 2": lambda x: anp.linalg.norm(x, 2), "index": lambda x: x[::2, 1],
    "at set": lambda x: x.at[0].set(2.0), "at multiply": lambda x: x.at[0, 1].multiply(x[1, 1]),
    "pad": lambda x: anp.pad(x, 1), "tril": anp.tril, "roll": lambda x: anp.roll(x, 1),
    "einsum": lambda x: anp.einsum("ij,jk->ik", x, x), "kron": lambda x: anp.kron(x, x),
    "inv": anp.linalg.inv, "solve": lambda x: anp.linalg.solve(x, x[0]),
    "det": anp.linalg.det, "slogdet": lambda x: anp.linalg.slogdet(x)[1],
    "cholesky": lambda x: anp.linalg.cholesky(x @ x.T), "eigh": lambda x: anp.linalg.eigh(
        x + x.T)[0], "svd": lambda x: anp.linalg.svd(x, compute_uv=False),
    "qr": lambda x: anp.linalg.qr(x)[1], "pinv": anp.linalg.pinv,
    "matrix_power": lambda x: anp.linalg.matrix_power(x, 3), "mixed python": lambda x: 2 * x +
    1.5 - True, "where": lambda x: anp.where(x > 0, x, 0.0), "clip": lambda x: anp.clip(x, 0, 1),
}


@pytest.mark.parametrize("name", sorted(FLOAT32))
def test_float32_stays_float32(name):
    f = FLOAT32[name]
    x = (np.eye(3) * 3 + v(3, 3) * 0.3).astype(np.float32)
    out, tangent = ad.jvp(f, (x,), (np.ones_like(x),))
    assert np.asarray(out).dtype == np.float32 and np.asarray(tangent).dtype == np.float32
    g = ad.grad(lambda x_: anp.sum(f(x_)))(x)
    assert g.dtype == np.float32


def _elementwise_unary():
    """The catalogue's differentiable unary elementwise primitives (and a few binary ones
    with a Python number), as functions of one float32 array."""
    import ad.scipy.special  # noqa: F401  (its primitives register on import)
    from ad.catalogue.define import ElementwisePrimitive
    from ad.primitive import PRIMITIVES
    found = {name: p for name, p in PRIMITIVES.items()
             if isinstance(p, ElementwisePrimitive) and p.arity == 1 and p.differentiable
             and (getattr(p.value, "__module__", None) or "numpy").split(".")[0] in
             ("ad", "numpy", "scipy")}          # not the test modules' own primitives
    functions = {name: (lambda p: lambda x: p(x))(p) for name, p in sorted(found.items())}
    functions.update({"power 0.5": lambda x: x ** 0.5, "power base": lambda x: 2.0 ** x,
                      "arctan2": lambda x: anp.arctan2(x, 0.3), "sinc": anp.sinc,
                      "hypot": lambda x: anp.hypot(x, 0.7), "logaddexp": lambda x:
                      anp.logaddexp(x, 0.2)})
    return functions


UNARY32 = _elementwise_unary()


@pytest.mark.parametrize("name", sorted(UNARY32))
def test_float32_stays_float32_to_third_order_in_every_mode(name):
    """Forward over forward (over forward) keeps float32 too: a traced partial's formula
    met a Python number as a float64 NumPy scalar (x ** 0.5, sinc, arctan2, digamma's
    third derivative were float64)."""
    f = UNARY32[name]
    x = np.float32(0.4)
    for order in ((ad.jacfwd, ad.jacfwd), (ad.jacfwd, ad.jacrev), (ad.jacrev, ad.jacfwd),
                  (ad.jacfwd, ad.jacfwd, ad.jacfwd), (ad.jacrev, ad.jacfwd, ad.jacfwd)):
        g = f
        for transform in order:
            g = transform(g)
        try:
            value = g(x)
        except ad.ADError:          # not differentiable that often (floor-like): no dtype
            continue
        assert np.asarray(value).dtype == np.float32, (name, order)


def test_int_and_bool_mix_like_numpy():
    x = np.array([1.0, 2.0])
    g = ad.grad(lambda x_: anp.sum(x_ * np.array([1, 2]) + np.array([True, False]) * x_))(x)
    np.testing.assert_allclose(g, [2.0, 2.0])
    assert (ad.jvp(lambda x_: x_ + 1, (x,), (x,))[0]).dtype == np.float64




@pytest.mark.parametrize("f", [lambda x: x + np.array([1.0, 2.0]),
                               lambda x: anp.array([x[0], 1.5]),
                               lambda x: anp.concatenate([x, np.ones(2)]),
                               lambda x: x * 2.0])
def test_a_tangent_takes_its_output_s_dtype_compiled_or_not(f):
    """float32 input, float64 output: jvp's tangent and jacfwd's Jacobian are float64 (the
    interpreted add gave a float32 tangent of a float64 value, the compiled tape float64);
    jacrev's is the input's float32, as a gradient is; the same compiled."""
    x = np.array([0.5, 2.0], np.float32)
    out = np.asarray(f(x))
    for compile in (False, "always"):
        value, tangent = ad.jvp(f, (x,), (np.ones(2, np.float32),), compile=compile)
        assert value.dtype == tangent.dtype == out.dtype
        assert ad.jacfwd(f, compile=compile)(x).dtype == out.dtype
        assert ad.jacrev(f, compile=compile)(x).dtype == np.float32
