"""ad.numpy reductions, scans, sorting and statistics (ad/numpy/__init__.py, _reductions.py):
the table, and any axis/keepdims by hypothesis."""
import functools
import math

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


# ----------------------------------------------------------------------------- reductions
for _name in ["sum", "mean", "prod", "max", "min", "amax", "amin", "var", "std", "ptp",
              "nansum", "nanmean", "nanmax", "nanmin"]:
    row(_name, [distinct(3, 4)])
    row(_name, [distinct(2, 3, 4)], axis=1)
    row(_name, [distinct(2, 3, 4)], axis=(0, 2), keepdims=True)
    row(_name, [distinct(3, 4)], axis=-1, keepdims=True)
    row(_name, [distinct(5)], axis=0)
row("var", [v(3, 4)], axis=0, ddof=1)
row("std", [v(3, 4)], axis=1, ddof=1, keepdims=True)
row("prod", [np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0]])], id="prod zeros", axis=1)
row("prod", [np.array([2.0, 0.0, -1.0, 3.0, 0.5])], id="prod one zero")
row("average", [v(3, 4)])
row("average", [v(3, 4), pos(4)], np_fn=lambda a, w: np.average(a, axis=1, weights=w),
    fn=lambda a, w: anp.average(a, axis=1, weights=w), id="average weights")
row("median", [distinct(5)])
row("median", [distinct(3, 4)], axis=1)
row("median", [distinct(3, 4)], axis=0, keepdims=True)
for _name in ["cumsum", "cumprod"]:
    row(_name, [v(5)])
    row(_name, [v(3, 4)], axis=0)
    row(_name, [v(2, 3, 4)], axis=-1)
    row(_name, [v(2, 3)])
row("cumprod", [np.array([1.5, 0.0, 2.0, 0.0, 3.0])], id="cumprod zeros")
row("sort", [distinct(6)])
row("sort", [distinct(3, 4)], axis=0)
row("sort", [distinct(3, 4)], axis=None)



row("quantile", [distinct(9), np.array(0.3)])
row("quantile", [distinct(3, 5)], id="quantile q array", np_fn=lambda a: np.quantile(
    a, np.array([0.1, 0.5, 0.9]), axis=1, keepdims=True), fn=lambda a: anp.quantile(
    a, np.array([0.1, 0.5, 0.9]), axis=1, keepdims=True))
row("percentile", [distinct(4, 3)], id="percentile axis", np_fn=lambda a: np.percentile(
    a, 40.0, axis=0), fn=lambda a: anp.percentile(a, 40.0, axis=0))
# axes as tuples, q as a list (NumPy takes both; a list was repeated, not read as q's)
row("median", [distinct(2, 3, 4)], axis=(0, 2), id="median axis tuple")
row("median", [distinct(2, 3, 4)], axis=(2, 0), keepdims=True, id="median axis tuple kept")
row("quantile", [distinct(2, 3, 4)], id="quantile q list", np_fn=lambda a: np.quantile(
    a, [0.2, 0.75], axis=-1), fn=lambda a: anp.quantile(a, [0.2, 0.75], axis=-1))
row("quantile", [distinct(2, 3, 4)], id="quantile axis tuple", np_fn=lambda a: np.quantile(
    a, 0.3, axis=(0, 2), keepdims=True), fn=lambda a: anp.quantile(a, 0.3, axis=(0, 2),
                                                                    keepdims=True))
row("percentile", [distinct(3, 4, 2)], id="percentile q list", np_fn=lambda a: np.percentile(
    a, [10, 75], axis=1), fn=lambda a: anp.percentile(a, [10, 75], axis=1))
row("cov", [v(3, 6)])
row("cov", [v(5, 3)], rowvar=False, bias=True)
row("cov", [v(4), v(4)], id="cov x y")
row("corrcoef", [v(3, 6)])

_METHODS = {
    "add.reduce": lambda a: np.add.reduce(a), "add.reduce axis": lambda a: np.add.reduce(
        a, axis=1, keepdims=True), "multiply.reduce": lambda a: np.multiply.reduce(a, axis=None),
    "maximum.reduce": lambda a: np.maximum.reduce(a, axis=1),
    "logaddexp.reduce": lambda a: np.logaddexp.reduce(a, axis=0),
    "hypot.reduce": lambda a: np.hypot.reduce(a, axis=1),
    "subtract.reduce": lambda a: np.subtract.reduce(a, axis=1),
    "maximum.accumulate": lambda a: np.maximum.accumulate(a, axis=1),
    "add.accumulate": lambda a: np.add.accumulate(a),
    "logaddexp.accumulate": lambda a: np.logaddexp.accumulate(a, axis=1),
}
for _name, _fn in _METHODS.items():
    row(_name, [distinct(2, 3)], np_fn=_fn, fn=_fn, id=f"ufunc {_name}")

test_value_matches_numpy, test_derivatives_second_order, test_numpy_dispatch_same_derivative = \
    TABLE.tests()


def test_unique_with_repeats_gathers_first_occurrences():
    x = np.array([2.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(anp.unique(x), [1.0, 2.0, 3.0])
    g = ad.grad(lambda x_: anp.sum(anp.unique(x_) * np.array([1.0, 2.0, 3.0])))(x)
    np.testing.assert_array_equal(g, [2.0, 1.0, 0.0, 3.0])




# ----------------------------------------------------------------------------- hypothesis
REDUCTIONS = ["sum", "mean", "prod", "max", "min", "var", "std", "ptp", "nansum"]


@st.composite
def shape_axis(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1) |
                st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape),
                         unique=True).map(tuple))
    return shape, axis, draw(st.booleans())


@pytest.mark.parametrize("name", REDUCTIONS)
@given(spec=shape_axis(), seed=st.integers(0, 2 ** 16))
def test_reductions_any_axis(name, spec, seed):
    shape, axis, keepdims = spec
    x = np.random.default_rng(seed).permutation(math.prod(shape)).reshape(shape) * 0.3 + 0.1
    fn = getattr(anp, name)
    np.testing.assert_allclose(fn(x, axis=axis, keepdims=keepdims),
                               getattr(np, name)(x, axis=axis, keepdims=keepdims))
    ad.check_grads(lambda x_: fn(x_, axis=axis, keepdims=keepdims), (x,), order=2,
                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "sort"])
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
       data=st.data())
def test_scans_any_axis(name, shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(0).permutation(math.prod(shape)).reshape(shape) * 0.3 - 0.5
    fn = getattr(anp, name)
    np.testing.assert_allclose(fn(x, axis=axis), getattr(np, name)(x, axis=axis))
    ad.check_grads(lambda x_: fn(x_, axis=axis), (x,), order=2, rtol=1e-4, atol=1e-5)



# ----------------------------------------------------------------------------- NumPy 2 keywords
def test_numpy_2_keyword_spellings():
    """clip(min=, max=), max/min(initial=, where=), sum(initial=, where=), mean(where=): values
    as NumPy's, derivatives to second order, through the NumPy functions themselves."""
    x = distinct(3, 4)
    mask = np.array([True, False, True, True])
    calls = [
        lambda f, a: f.clip(a, min=-0.5, max=0.7),
        lambda f, a: f.max(a, axis=1, initial=0.1),
        lambda f, a: f.min(a, axis=0, initial=0.2, where=mask),
        lambda f, a: f.max(a, where=mask, initial=-5.0),
        lambda f, a: f.sum(a, axis=1, initial=2.0, where=mask),
        lambda f, a: f.mean(a, axis=1, where=mask),
    ]
    for call in calls:
        np.testing.assert_allclose(call(anp, x), call(np, x), rtol=1e-12)
        np.testing.assert_allclose(ad.jvp(lambda a: call(np, a), (x,), (x,))[0], call(np, x))
        ad.check_grads(lambda a: call(np, a), (x,), order=2, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="initial"):
        anp.max(x, where=mask)


def test_partition_puts_kth_where_numpy_does():
    x = distinct(7)
    for kth in (0, 3, 6):
        out = ad.jvp(lambda a: np.partition(a, kth), (x,), (x,))[0]
        assert out[kth] == np.partition(x, kth)[kth]
        assert (out[:kth] <= out[kth]).all() and (out[kth:] >= out[kth]).all()
    ad.check_grads(lambda a: anp.partition(a, 3), (x,), order=2)


def test_ufunc_reduce_follows_numpy_s_order_identity_and_nan_rules():
    import warnings
    x = np.array([0.7, -1.2, 2.3])
    for ufunc, initial in ((np.subtract, 10.0), (np.divide, 10.0), (np.power, 2.0),
                           (np.subtract, None)):
        kw = {} if initial is None else {"initial": initial}
        def f(v, ufunc=ufunc, kw=kw):
            return ufunc.reduce(np.abs(v) + 0.5 if ufunc is np.power else v, **kw)
        # the fold from initial, in order (NumPy 2.4's power.reduce with initial= gives
        # initial ** v[-1]: 2 ** 2.8, not ((2 ** 1.2) ** 1.7) ** 2.8)
        terms = list(np.abs(x) + 0.5 if ufunc is np.power else x)
        folded = functools.reduce(ufunc, terms if initial is None else [initial] + terms)
        np.testing.assert_allclose(ad.jvp(f, (x,), (np.ones(3),))[0], folded, rtol=1e-12)

        def fold(v, ufunc=ufunc, initial=initial):     # the same fold, binary ops traced
            terms = [t for t in (np.abs(v) + 0.5 if ufunc is np.power else v)]
            return functools.reduce(ufunc, terms if initial is None else [initial] + terms)
        if np.isclose(f(x), folded):                      # finite differences of f hold
            ad.check_grads(f, (x,), order=1)
        np.testing.assert_allclose(ad.grad(f)(x), ad.grad(fold)(x), rtol=1e-12)
    nan = np.array([1.0, np.nan, 2.0, 0.5])
    assert float(ad.value_and_grad(lambda v: np.fmax.reduce(v))(nan)[0]) == 2.0
    np.testing.assert_array_equal(ad.grad(lambda v: np.fmax.reduce(v))(nan), [0, 0, 1, 0])
    np.testing.assert_array_equal(ad.grad(lambda v: np.fmin.reduce(v))(nan), [0, 0, 0, 1])
    m = np.ones((2, 3))
    np.testing.assert_allclose(ad.jvp(lambda v: np.subtract.reduce(v, axis=(0,)), (m,),
                                      (m,))[0], np.subtract.reduce(m, axis=(0,)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        empty = np.zeros((2, 0))
        np.testing.assert_array_equal(anp.max(empty, axis=1, initial=1.0),
                                      np.max(empty, axis=1, initial=1.0))
        np.testing.assert_array_equal(
            ad.jvp(lambda v: np.subtract.reduce(v, axis=1, initial=1.0), (empty,),
                   (empty,))[0], [1.0, 1.0])


def _value(f, x):
    """f's value through the forward engine (a traced run), beside NumPy's."""
    return ad.jvp(f, (x,), (np.ones_like(x),))[0]


def test_dtype_is_what_a_reduction_accumulates_in():
    # NumPy casts first: a float32 sum with dtype=float64 adds in float64 (before: cast
    # after adding in float32, 0.0 for 1e8 + 1 - 1e8)
    x = np.array([1e8, 1.0, -1e8], np.float32)
    for f in (lambda x: np.sum(x, dtype=np.float64), lambda x: np.mean(x, dtype=np.float64),
              lambda x: x.sum(dtype=np.float64), lambda x: np.cumsum(x, dtype=np.float64),
              lambda x: np.var(x, dtype=np.float64), lambda x: np.prod(x, dtype=np.float64),
              lambda x: np.add.reduce(x, dtype=np.float64),
              lambda x: np.add.accumulate(x, dtype=np.float64)):
        got = _value(f, x)
        assert got.dtype == f(x).dtype == np.float64
        np.testing.assert_allclose(got, f(x), rtol=1e-15)


def test_nan_rules_of_nanmax_nanmin_median_and_quantile():
    import warnings
    x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [4.0, 2.0, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in (lambda x: np.nanmax(x, axis=1), lambda x: np.nanmin(x, axis=1),
                  lambda x: np.median(x, axis=1), lambda x: np.median(x[0]),
                  lambda x: np.quantile(x, [0.1, 0.5], axis=1),
                  lambda x: np.percentile(x[2], 20.0)):
            np.testing.assert_array_equal(_value(f, x), f(x))
        np.testing.assert_array_equal(ad.grad(lambda x: anp.nanmax(x[2]))(x)[2], [1, 0, 0])


def test_quantiles_outside_their_range_are_refused():
    x = np.array([1.0, 2.0, 3.0])
    for f, q in ((anp.quantile, 1.5), (anp.quantile, -0.1), (anp.percentile, 101.0),
                 (anp.quantile, [0.5, 2.0])):
        with pytest.raises(ValueError, match="must be in the range"):
            ad.grad(lambda x: anp.sum(f(x, q)))(x)


def test_reductions_and_scans_over_an_empty_axis():
    x = np.zeros((0, 3))
    for f in (lambda x: np.prod(x, axis=0), lambda x: np.multiply.reduce(x, axis=0),
              lambda x: np.maximum.accumulate(x, axis=0), lambda x: np.logaddexp.reduce(x, axis=0)):
        with np.errstate(all="ignore"):
            got, want = _value(f, x), f(x)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    # the inf-norm of nothing is 0, as NumPy 2.3 and later (2.2 raises)
    np.testing.assert_array_equal(_value(lambda x: np.linalg.norm(x, np.inf, axis=0), x),
                                  np.zeros(3))


def test_a_fold_over_several_axes_is_refused_as_numpy_does():
    with pytest.raises(ValueError, match="not reorderable"):
        ad.grad(lambda x: anp.sum(np.subtract.reduce(x, axis=None)))(np.ones((2, 3)))


def test_reductions_of_a_list_of_traced_values_stack_it_as_numpy_does():
    x = np.array([1.0, 2.0])
    cases = {   # f, its gradient at x
        "sum": (lambda x: anp.sum([x[0], x[1] * 2.0]), [1.0, 2.0]),
        "max": (lambda x: anp.max([x[0], x[1] * 2.0]), [0.0, 2.0]),
        "min of a tuple": (lambda x: anp.min((x[0], 3.0)), [1.0, 0.0]),
        "mean": (lambda x: anp.mean([x[0], x[1]]), [0.5, 0.5]),
        "prod": (lambda x: anp.prod([x[0], x[1]]), [2.0, 1.0]),
        "std": (lambda x: anp.std([x[0], x[1]]), [-0.5, 0.5]),
        "norm": (lambda x: anp.linalg.norm([x[0], x[1]]), x / np.sqrt(5.0)),
    }
    for name, (f, expected) in cases.items():
        np.testing.assert_allclose(ad.grad(f)(x), expected, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(ad.jacfwd(f)(x), expected, rtol=1e-12, err_msg=name)
    assert anp.sum([1.0, 2.0]) == 3.0 and anp.max([[1, 5], [2, 3]], axis=0).tolist() == [2, 5]


@pytest.mark.parametrize("keepdims", ["x", 1.5, None])
def test_keepdims_must_be_a_bool_as_numpy_reads_it(keepdims):
    # bool('x') is True: a string was taken as keepdims=True where NumPy refuses it
    for reduce in (anp.sum, anp.max, anp.mean):
        with pytest.raises(TypeError):
            np.sum(np.ones((2, 3)), axis=0, keepdims=keepdims)
        with pytest.raises(TypeError, match="keepdims must be a bool"):
            reduce(np.ones((2, 3)), axis=0, keepdims=keepdims)
    assert anp.sum(np.ones((2, 3)), axis=0, keepdims=1).shape == (1, 3)


def test_messages_for_degenerate_arguments_are_numpy_s():
    # these raised IndexError from inside (a tuple index, an empty array's element)
    from ad.scipy import linalg as ad_linalg
    with pytest.raises(np.exceptions.AxisError, match="axis 2 is out of bounds"):
        anp.partition(np.ones((2, 3)), 1, axis=2)
    with pytest.raises(TypeError, match="coefficients must be one vector"):
        anp.polyval(np.float64(2.0), np.ones(3))
    with pytest.raises(np.linalg.LinAlgError, match="not defined on empty arrays"):
        anp.linalg.cond(np.zeros((0, 0)))
    assert ad_linalg.expm(np.zeros((0, 0))).shape == (0, 0)


def test_mean_with_where_keeps_float32():
    x = np.ones((2, 3), np.float32)
    mask = np.array([True, False, True])
    assert anp.mean(x, axis=1, where=mask).dtype == np.float32    # an int64 count promoted
    assert ad.grad(lambda x: anp.sum(anp.mean(x, axis=1, where=mask)))(x).dtype == np.float32


def test_prod_takes_where_and_quantile_refuses_complex_as_numpy():
    x, mask = np.array([2.0, 3.0, 4.0]), np.array([True, False, True])
    assert float(anp.prod(x, where=mask)) == np.prod(x, where=mask) == 8.0
    np.testing.assert_array_equal(ad.grad(lambda x: anp.prod(x, where=mask))(x), [4.0, 0.0, 2.0])
    np.testing.assert_array_equal(ad.grad(lambda x: np.prod(x, where=mask))(x), [4.0, 0.0, 2.0])
    for q in (anp.quantile, anp.percentile):
        with pytest.raises(TypeError, match="real numbers"):
            q(np.array([1 + 1j, 2.0]), 0.5)


def test_nanmean_of_an_all_nan_slice_has_the_same_derivative_in_both_modes():
    # forward mode gave NaN tangents there (0 / 0), reverse mode zero cotangents
    a = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, np.nan]])
    with pytest.warns(RuntimeWarning, match="Mean of empty slice"):
        np.testing.assert_array_equal(anp.nanmean(a, axis=1), [1.5, np.nan])
    with pytest.warns(RuntimeWarning):
        forward = ad.jacfwd(lambda x: anp.nanmean(x, axis=1))(a)
        reverse = ad.jacrev(lambda x: anp.nanmean(x, axis=1))(a)
    np.testing.assert_array_equal(forward, reverse)
    assert np.all(np.isfinite(forward)) and not forward[1].any()

