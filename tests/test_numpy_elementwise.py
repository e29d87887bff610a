"""ad.numpy elementwise functions, operators and the non-differentiable ones (ad/numpy/__init__.py):
value against NumPy, derivatives to second order, NumPy dispatch; broadcasting by hypothesis."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ad
import ad.numpy as anp
from numpy_table import Table, big, distinct, flat, nz, pos, unit, v, wellcond  # noqa: F401

TABLE = Table()
row = TABLE.row


# ----------------------------------------------------------------------------- elementwise
UNARY = {"sin": v, "cos": v, "tan": unit, "arcsin": unit, "arccos": unit, "arctan": v,
         "sinh": v, "cosh": v, "tanh": v, "arcsinh": v, "arccosh": big, "arctanh": unit,
         "exp": v, "exp2": v, "expm1": v, "log": pos, "log2": pos, "log10": pos, "log1p": pos,
         "sqrt": pos, "cbrt": nz, "square": v, "reciprocal": nz, "abs": nz, "absolute": nz,
         "fabs": nz, "sinc": v, "deg2rad": v, "rad2deg": v, "negative": v, "positive": v,
         "conjugate": v, "real": v, "nan_to_num": v}
for _name, _draw in UNARY.items():
    for _shape in [(), (4,), (2, 3)]:
        row(_name, [_draw(*_shape)])

BINARY = {"add": (v, v), "subtract": (v, v), "multiply": (v, v), "divide": (v, nz),
          "true_divide": (v, nz), "power": (pos, v), "arctan2": (nz, nz),
          "maximum": (distinct, distinct), "minimum": (distinct, distinct),
          "fmax": (distinct, distinct), "fmin": (distinct, distinct), "logaddexp": (v, v),
          "logaddexp2": (v, v), "hypot": (nz, nz), "remainder": (pos, nz), "mod": (pos, nz),
          "fmod": (pos, nz)}
for _name, (_dx, _dy) in BINARY.items():
    for _sx, _sy in [((), ()), ((3,), (3,)), ((2, 1), (3,)), ((), (2, 3))]:
        row(_name, [_dx(*_sx), _dy(*_sy)])

row("where", [v(2, 3), v(3)], np_fn=None, id="where",
    fn=lambda x, y: anp.where(np.array([True, False, True]), x, y))
row("where", [v(3)], np_fn=lambda x: np.where(x > 0, x, 0.0), id="where-np",
    fn=lambda x: anp.where(x > 0, x, 0.0))
row("clip", [distinct(5)], a_min=-0.5, a_max=0.5)
row("clip", [distinct(2, 3)], a_min=None, a_max=0.2)

OPERATORS = {
    "x+y": lambda x, y: x + y, "x-y": lambda x, y: x - y, "x*y": lambda x, y: x * y,
    "x/y": lambda x, y: x / (y + 3.0), "x%y": lambda x, y: (x + 3.0) % 1.7,
    "x**y": lambda x, y: (x * x + 1.0) ** y, "-x": lambda x, y: -x + y,
    "x**2": lambda x, y: x ** 2 + y ** 3, "2**x": lambda x, y: 2.0 ** x + 1 / (y * y + 1),
    "abs": lambda x, y: abs(x + 0.5) * y, "pos": lambda x, y: +x * y,
    "int mix": lambda x, y: 2 * x + True * y - 3,
}
for _name, _fn in OPERATORS.items():
    row(_name, [v(2, 3), v(3)], np_fn=_fn, fn=_fn, id="op " + _name)



row("degrees", [v(3)])
row("radians", [v(3)])

test_value_matches_numpy, test_derivatives_second_order, test_numpy_dispatch_same_derivative = \
    TABLE.tests()


# ----------------------------------------------------------------------------- no derivative
NONDIFF = {"floor": np.floor, "ceil": np.ceil, "round": np.round, "rint": np.rint,
           "trunc": np.trunc, "sign": np.sign, "floor_divide": lambda x: x // 0.7,
           "isnan": np.isnan, "isfinite": np.isfinite, "less": lambda x: x < 0.1,
           "greater_equal": lambda x: x >= 0.1, "equal": lambda x: x == x,
           "argmax": np.argmax, "argmin": lambda x: np.argmin(x, axis=0),
           "argsort": np.argsort, "nonzero": lambda x: np.isin(np.arange(5), np.nonzero(x > 0)[0]),
           "count_nonzero": lambda x: np.count_nonzero(x > 0), "all": lambda x: np.all(x > -9),
           "any": lambda x: np.any(x > 0), "searchsorted": lambda x: np.searchsorted(x, 0.0),
           "isclose": lambda x: np.isclose(x, x)}


@pytest.mark.parametrize("name", sorted(NONDIFF))
def test_non_differentiable_functions_pass_values_with_zero_derivative(name):
    f = NONDIFF[name]
    x = np.sort(v(5))
    g = ad.grad(lambda x_: anp.sum(x_ * anp.asarray(f(x_), dtype=float)))(x)
    np.testing.assert_allclose(g, np.asarray(f(x), dtype=float))
    out, tangent = ad.jvp(lambda x_: anp.asarray(f(x_), dtype=float), (x,), (np.ones(5),))
    np.testing.assert_allclose(out, np.asarray(f(x), dtype=float))
    np.testing.assert_array_equal(tangent, 0.0)




@pytest.mark.parametrize("name", ["sin", "exp", "tanh", "arctan", "square", "logaddexp",
                                  "maximum", "hypot", "multiply", "subtract"])
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 2 ** 16))
def test_elementwise_dispatch_broadcast(name, shapes, seed):
    r = np.random.default_rng(seed)
    np_fn = getattr(np, name)
    xs = [r.standard_normal(s) + 0.1 for s in shapes.input_shapes[:np_fn.nin]]
    np.testing.assert_allclose(ad.jvp(lambda *a: np_fn(*a), xs, xs)[0], np_fn(*xs))
    ad.check_grads(lambda *a: np_fn(*a), xs, order=2, rtol=1e-4, atol=1e-5)



def test_python_numbers_in_partials_follow_numpy():
    """A Python number in a partial is a NumPy scalar there: x / 0 has an inf derivative
    (not ZeroDivisionError), a Python complex base takes log(c), not log |c|; clip with a
    NaN bound is NaN, as NumPy's."""
    import warnings
    x = np.array([0.5, -2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for transform in (ad.jacfwd, ad.jacrev):
            assert np.all(np.isinf(np.diag(transform(lambda v: v / 0.0)(x))))
            assert np.all(np.isinf(np.diag(transform(lambda v: np.divide(v, 0))(x))))
    c = 1 + 2j
    _, t = ad.jvp(lambda v: c ** v, (0.7,), (1.0,))
    np.testing.assert_allclose(t, c ** 0.7 * np.log(c), rtol=1e-12)
    np.testing.assert_array_equal(anp.clip(np.array([0.2, 3.0]), np.nan, 1.0),
                                  np.clip(np.array([0.2, 3.0]), np.nan, 1.0))
