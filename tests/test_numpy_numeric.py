"""ad.numpy's numerical calculus (ad/numpy/_numeric.py): differences, gradients, integration,
interpolation, convolution and polynomials; value against NumPy, derivatives to second
order in every traced argument, and NumPy's own functions dispatching on traced values."""
import numpy as np

import ad
import ad.numpy as anp
from numpy_table import Table, nz, v

TABLE = Table()
row = TABLE.row

row("diff", [v(7)], n=2)
row("diff", [v(3, 5)], axis=0)
row("diff", [v(6)], id="diff prepend/append", np_fn=lambda a: np.diff(a, prepend=0.5,
                                                                      append=a[:2]),
    fn=lambda a: anp.diff(a, prepend=0.5, append=a[:2]))
row("ediff1d", [v(6)], np_fn=lambda a: np.ediff1d(a, to_end=[1.0], to_begin=a[:1]),
    fn=lambda a: anp.ediff1d(a, to_end=[1.0], to_begin=a[:1]))
row("gradient", [v(7)])
row("gradient", [v(7), v()], id="gradient spacing")
row("gradient", [v(6)], edge_order=2)
row("gradient", [v(3, 4)], id="gradient 2-D", np_fn=lambda a: np.gradient(a)[1],
    fn=lambda a: anp.gradient(a)[1])
row("trapezoid", [v(7)], dx=0.3)
row("trapezoid", [v(3, 5)], axis=0)
row("trapezoid", [v(6)], id="trapezoid x", np_fn=lambda y: np.trapezoid(y, np.cumsum(y * y)),
    fn=lambda y: anp.trapezoid(y, anp.cumsum(y * y)))
_POINTS = np.array([-1.0, 0.3, 1.7, 4.2, 9.0])
row("interp", [v(7)], id="interp in fp", np_fn=lambda f: np.interp(_POINTS, np.arange(7.0), f),
    fn=lambda f: anp.interp(_POINTS, np.arange(7.0), f))
row("interp", [np.array([0.3, 1.7, 4.2])], id="interp in x",
    np_fn=lambda x: np.interp(x, np.arange(7.0), np.sin(np.arange(7.0)), left=2.0),
    fn=lambda x: anp.interp(x, np.arange(7.0), np.sin(np.arange(7.0)), left=2.0))
row("interp", [np.array([0.0, 1.1, 2.5, 4.0])], id="interp in xp",
    np_fn=lambda xp: np.interp(np.array([0.5, 2.0, 3.5]), xp, np.array([1.0, -1.0, 2.0, 0.5])),
    fn=lambda xp: anp.interp(np.array([0.5, 2.0, 3.5]), xp, np.array([1.0, -1.0, 2.0, 0.5])))
for _mode in ("full", "same", "valid"):
    row("convolve", [v(7), v(3)], mode=_mode)
    row("convolve", [v(3), v(7)], mode=_mode)
    row("correlate", [v(7), v(3)], mode=_mode)
    row("correlate", [v(3), v(7)], mode=_mode)
row("polyval", [v(4), v(5)])
row("polyval", [nz(3), v(2, 2)])

_X = np.cumsum(np.random.default_rng(3).uniform(0.2, 1.0, 7))
for _order in (1, 2):
    row("gradient", [v(7), _X], id=f"gradient coordinates edge {_order}", edge_order=_order)
row("gradient", [v(4, 7)], id="gradient 2-D coordinates",
    np_fn=lambda a: np.gradient(a, 0.5, _X)[1], fn=lambda a: anp.gradient(a, 0.5, _X)[1])
_XP, _XS = np.array([190.0, -190.0, 350.0, -350.0]), np.array([-180.0, -170.0, 185.0, 0.0])
row("interp", [v(4)], id="interp period", np_fn=lambda f: np.interp(_XS, _XP, f, period=360),
    fn=lambda f: anp.interp(_XS, _XP, f, period=360))

test_value_matches_numpy, test_derivatives_second_order, test_numpy_dispatch_same_derivative = \
    TABLE.tests()


def test_convolve_and_correlate_take_lists_and_integers():
    x = np.linspace(0.1, 1.0, 6)
    for fn, kernel in ((np.convolve, [1.0, 2.0, 1.0]), (np.correlate, [1, 2])):
        got = ad.grad(lambda x: np.sum(fn(x, kernel) ** 2))(x)
        want = ad.grad(lambda x: np.sum(fn(x, np.asarray(kernel, float)) ** 2))(x)
        np.testing.assert_allclose(got, want, rtol=1e-14)
        np.testing.assert_allclose(fn(x, kernel), np.asarray(
            anp.convolve(x, kernel) if fn is np.convolve else anp.correlate(x, kernel)))


def test_nan_to_num_replaces_by_the_input_not_by_earlier_replacements():
    """Each mask is of the input: a posinf below zero is not then taken for a -inf, a nan
    replaced by inf is not replaced again; the derivative passes where nothing is replaced."""
    x = np.array([np.inf, -np.inf, np.nan, 1.5, -2.0])
    for options in ({}, {"posinf": -1.0}, {"neginf": 7.0}, {"nan": np.inf},
                    {"nan": -np.inf, "posinf": -3.0, "neginf": 4.0}):
        np.testing.assert_array_equal(anp.nan_to_num(x, **options),
                                      np.nan_to_num(x, **options), err_msg=str(options))
    grad = ad.grad(lambda y: anp.sum(anp.nan_to_num(y, posinf=-1.0) * 3.0))(x)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0, 3.0, 3.0])


def test_correlate_and_convolve_match_numpy_for_every_length_and_mode():
    # complex inputs (correlate conjugates v) and a shorter first input (NumPy swaps them,
    # and 'same' then rounds the middle the other way)
    rng = np.random.default_rng(0)
    for n in range(1, 6):
        for m in range(1, 6):
            a = rng.standard_normal(n) + 1j * rng.standard_normal(n)
            v = rng.standard_normal(m) + 1j * rng.standard_normal(m)
            for mode in ("valid", "same", "full"):
                for name in ("correlate", "convolve"):
                    ours, theirs = getattr(anp, name)(a, v, mode), getattr(np, name)(a, v, mode)
                    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
                    ours = getattr(anp, name)(a.real, v.real, mode)
                    np.testing.assert_allclose(ours, getattr(np, name)(a.real, v.real, mode),
                                               rtol=1e-12, atol=1e-14)
    x, v = rng.standard_normal(2), rng.standard_normal(4)
    f = lambda x: anp.correlate(x, v, "same")   # noqa: E731
    ad.check_grads(f, (x,), order=2)


def test_lists_as_the_arguments_not_traced():
    x = np.array([0.5, 1.5, 2.0, 3.0])
    for f in (lambda x: np.interp(x, [0.0, 1.0, 2.0], [0.0, 3.0, 1.0]),
              lambda x: np.gradient(x, [0.0, 1.0, 3.0, 3.5]),
              lambda x: np.trapezoid(x, [0.0, 1.0, 3.0, 3.5]),
              lambda x: np.polyval(x, [0.5, 1.5]), lambda x: np.take(x, []),
              lambda x: np.diff([0.0, 1.0, 4.0, 9.0]) * x[:3]):
        value, _ = ad.jvp(f, (x,), (x,))
        np.testing.assert_allclose(value, f(x), rtol=1e-14)
        np.testing.assert_allclose(ad.jacfwd(f)(x), ad.jacrev(f)(x), rtol=1e-12)


def test_float32_inputs_give_numpy_s_result_dtypes():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    for f in (lambda z: np.quantile(z, 0.3), lambda z: np.percentile(z, 30),
              lambda z: np.quantile(z, [0.3, 0.5]), lambda z: np.linspace(z[0, 0], z[0, 1], 5),
              lambda z: np.logspace(z[0, 0], 1, 4), lambda z: np.ediff1d(z, to_begin=0.5),
              lambda z: np.gradient(z, np.float64(0.5)),
              lambda z: np.gradient(z, np.array([0.0, 1, 3, 4]), axis=1),
              lambda z: np.cov(z), lambda z: np.corrcoef(z), lambda z: np.polyval([1.0, 2.0], z)):
        value = ad.jvp(f, (x,), (np.ones_like(x),))[0]
        value = value if isinstance(value, np.ndarray) else np.asarray(value)
        assert value.dtype == np.asarray(f(x)).dtype
        np.testing.assert_allclose(value, f(x), rtol=2e-6, atol=1e-6)


def test_convolve_keeps_a_nan_or_inf_where_numpy_does():
    # a Toeplitz product added 0 * nan into every output: [nan, nan, nan] for NumPy's
    # [nan, nan, 1]
    v = np.array([1.0, 2.0])
    for a in (np.array([np.nan, 1.0]), np.array([1.0, np.inf, 2.0, 3.0])):
        for mode in ("full", "same", "valid"):
            with np.errstate(invalid="ignore"):
                for ours, theirs in ((anp.convolve, np.convolve), (anp.correlate, np.correlate)):
                    got = ad.vjp(lambda a: ours(a, v, mode), a)[0]
                    np.testing.assert_array_equal(got, theirs(a, v, mode))
    ad.check_grads(lambda a, v: anp.convolve(a, v), (np.linspace(-1, 1, 7),
                                                      np.array([0.5, -1.0, 2.0])), order=2)


def test_fuzz_round_numeric_fixes():
    # fmod/remainder by an infinite divisor: d/dx is 1 (0 * inf made it NaN)
    for f in (lambda t: anp.fmod(t, np.inf), lambda t: anp.remainder(t, np.inf),
              lambda t: t % np.inf):
        assert float(ad.grad(f)(5.0)) == 1.0
        np.testing.assert_array_equal(ad.jacfwd(f)(np.array([1.0, 5.0])), np.eye(2))
    # trapezoid with one spacing per interval: sum(dx * mean), not sum(mean) * dx
    y, dx = np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0])
    assert float(anp.trapezoid(y, dx=dx)) == np.trapezoid(y, dx=dx) == 7.5
    np.testing.assert_allclose(ad.grad(lambda t: anp.trapezoid(t, dx=dx))(y), [0.5, 1.5, 1.0])
    grid = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(anp.trapezoid(grid, dx=dx, axis=1),
                               np.trapezoid(grid, dx=dx, axis=1))
    # plain integer arrays keep NumPy's dtypes
    a = np.arange(5)
    for ours, theirs in ((anp.convolve(a, a[:2]), np.convolve(a, a[:2])),
                         (anp.correlate(a, a[:2]), np.correlate(a, a[:2])),
                         (anp.nansum(a), np.nansum(a)), (anp.nanmax(a), np.nanmax(a)),
                         (anp.pad(a, 1, constant_values=1.7),
                          np.pad(a, 1, constant_values=1.7))):
        assert np.asarray(ours).dtype == np.asarray(theirs).dtype
        np.testing.assert_array_equal(ours, theirs)
