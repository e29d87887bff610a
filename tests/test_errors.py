"""Bad input ends in a clear, named error (asserted by content), and the documented
conventions at non-differentiable points hold (docs/conventions.md); NaN and inf propagate."""
import re

import numpy as np
import pytest

import ad
import ad.numpy as anp
from ad.errors import (DTypeError, InPlaceError, ShapeError, TracerConversionError,
                       UnsupportedFunctionError)


def _raises(exc, *fragments):
    """pytest.raises matching every fragment of the message, in order."""
    return pytest.raises(exc, match=".*".join(re.escape(f) for f in fragments))


# ----------------------------------------------------------------------------- transforms
def test_grad_of_non_scalar_output_names_shape_and_remedies():
    with _raises(ShapeError, "scalar output", "shape (3,)", ".sum()", "jacobian"):
        ad.grad(lambda x: x * 2)(np.ones(3))


@pytest.mark.parametrize("transform", ["grad", "jacobian", "jacfwd", "jacrev", "hessian"])
@pytest.mark.parametrize("value,dtype", [(np.arange(3), "int64"), (np.ones(2, bool), "bool"),
                                         (3, "int64"), (True, "bool")])
def test_integer_and_bool_inputs_are_refused(transform, value, dtype):
    with _raises(TypeError, "argument 0", dtype, "float"):
        getattr(ad, transform)(anp.sum)(value)


def test_integer_input_to_jvp_and_vjp():
    with _raises(DTypeError, "jvp(sin)", "argument 0", "int64", "float"):
        ad.jvp(anp.sin, (np.arange(3),), (np.ones(3),))
    with _raises(DTypeError, "vjp", "argument 1", "int64"):
        ad.vjp(lambda x, y: x * y, 1.0, np.arange(2))


def test_complex_outputs_of_grad_are_named():
    with _raises(DTypeError, "grad(sum)", "real outputs", "holomorphic=True"):
        ad.grad(anp.sum)(np.ones(3) + 1j)


@pytest.mark.parametrize("f, expected", [
    (lambda x: anp.abs(x * (1 + 1j)) ** 2, 1.2),
    (lambda x: np.real(np.exp(1j * x)), -np.sin(0.3)),
    (lambda x: anp.sum(anp.real(x + np.array([1j, 0.0]))), 2.0)])
@pytest.mark.parametrize("transform", ["grad", "forward"])
def test_complex_intermediates_get_the_right_derivative(f, expected, transform):
    """Regression: a complex intermediate got the real rules ((0.6+0.6j) for a true 1.2);
    now complex values have their own rules (JAX's values)."""
    run = ad.grad(f) if transform == "grad" else (lambda x: ad.jvp(f, (x,), (1.0,))[1])
    got = run(0.3)
    assert np.result_type(got).kind == "f" and np.isclose(got, expected, rtol=1e-12)


def test_real_imag_conj_of_plain_complex_values_are_numpy_s():
    z = np.array([1 + 2j, 3 - 1j])
    np.testing.assert_array_equal(anp.real(z), np.real(z))
    np.testing.assert_array_equal(anp.imag(z), np.imag(z))
    np.testing.assert_array_equal(anp.conj(z), np.conj(z))


def test_tangent_shape_dtype_and_structure_mismatch():
    with _raises(ShapeError, "tangent leaf 0", "shape (2,)", "primal has shape (3,)"):
        ad.jvp(anp.sin, (np.ones(3),), (np.ones(2),))
    with _raises(DTypeError, "tangent leaf 0", "bool", "float"):
        ad.jvp(anp.sin, (np.ones(3),), (np.ones(3, dtype=bool),))
    with _raises(ShapeError, "tangent 0 has structure", "'b'", "primal 0 has structure", "'a'"):
        ad.jvp(lambda d: d["a"], ({"a": np.ones(3)},), ({"b": np.ones(3)},))
    with _raises(ShapeError, "2 primals but 1 tangents"):
        ad.jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))


def test_cotangent_shape_and_structure_mismatch():
    _, pullback = ad.vjp(anp.sin, np.ones(3))
    with _raises(ShapeError, "cotangent leaf 0", "shape (2,)", "shape (3,)"):
        pullback(np.ones(2))
    with _raises(DTypeError, "cotangent leaf 0", "bool"):
        pullback(np.ones(3, dtype=bool))
    _, pullback = ad.vjp(lambda x: (x, 2 * x), np.ones(3))
    with _raises(ShapeError, "cotangent's structure", "does not match", "output"):
        pullback(np.ones(3))


def test_argnums_out_of_range_or_duplicated():
    with _raises(ValueError, "argnums 2 is out of range", "2 positional"):
        ad.grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)
    with _raises(ValueError, "argnums (0, 0) has duplicates"):
        ad.grad(lambda x, y: x * y, argnums=(0, 0))(1.0, 2.0)
    with _raises(ValueError, "argnums -3 is out of range"):
        ad.jacobian(lambda x, y: x * y, argnums=-3)(1.0, 2.0)


def test_argnums_of_another_type_is_named():
    # True was taken as argnums 1 (silently d/db); a float or NumPy integer failed unclearly
    f = lambda a, b: a * b * b     # noqa: E731
    for bad in (True, np.int64(1), 1.0, (0, True), (0, 1.0), "0", None):
        with _raises(TypeError, "argnums must be an int or a tuple of ints"):
            ad.grad(f, argnums=bad)(2.0, 3.0)
        with _raises(TypeError, "argnums must be an int or a tuple of ints"):
            ad.jacobian(f, argnums=bad)(2.0, 3.0)
    assert ad.grad(f, argnums=[0, 1])(2.0, 3.0) == (9.0, 12.0)


def test_chunk_size_is_checked_when_the_transform_is_made():
    # jacobian/jacfwd cache per chunk_size: True (== 1 as a key) or 2.0 (== 2) slipped past
    # the check after an int, and executor= never checked it
    from concurrent.futures import ThreadPoolExecutor
    f = lambda x: anp.sin(x) * x[0]    # noqa: E731
    x = np.array([1.0, 2.0, 3.0])
    ad.jacfwd(f, compile=True, chunk_size=1)(x)
    ad.jacobian(f, chunk_size=2)(x)
    with ThreadPoolExecutor(1) as pool:
        for bad in (True, 0, -1, 2.0, np.float64(2.0), "2"):
            for make in (lambda: ad.jacfwd(f, compile=True, chunk_size=bad),
                         lambda: ad.jacobian(f, chunk_size=bad),
                         lambda: ad.jacrev(f, chunk_size=bad),
                         lambda: ad.hessian(lambda x: anp.sum(f(x)), chunk_size=bad),
                         lambda: ad.jacobian(f, chunk_size=bad, executor=pool)):
                with _raises(ValueError, "chunk_size must be a positive integer"):
                    make()
    assert ad.jacfwd(f, chunk_size=np.int64(2))(x).shape == (3, 3)


def test_has_aux_needs_a_pair():
    with _raises(TypeError, "has_aux=True", "pair (output, aux)"):
        ad.grad(lambda x: x * 2, has_aux=True)(1.0)
    with _raises(TypeError, "has_aux=True", "pair"):
        ad.grad(lambda x: (x, 1, 2), has_aux=True)(1.0)


# ----------------------------------------------------------------------------- NumPy protocol
def test_unsupported_numpy_function_is_named():
    with _raises(UnsupportedFunctionError, "numpy.linalg.tensorinv", "ad.numpy"):
        ad.grad(lambda x: np.linalg.tensorinv(x, ind=1).sum())(np.eye(2))


def test_unsupported_ufunc_and_ufunc_method_are_named():
    with _raises(UnsupportedFunctionError, "numpy.heaviside", "ad.numpy"):
        ad.grad(lambda x: np.heaviside(x, 0.5))(1.0)
    with _raises(UnsupportedFunctionError, "numpy.add.reduceat"):
        ad.grad(lambda x: np.sum(np.add.reduceat(x, [0, 2])))(np.ones(3))


def test_unsupported_keyword_is_named():
    with _raises(UnsupportedFunctionError, "numpy.std(..., where=...)", "ad.numpy.std"):
        ad.grad(lambda x: np.std(x, where=x > 0))(np.ones(3))


def test_conversion_to_plain_array_is_refused_not_object_array():
    with _raises(TracerConversionError, "NumPy array", "derivative would be lost"):
        ad.grad(lambda x: np.asarray(x).sum())(np.ones(3))
    with _raises(TracerConversionError, "float"):
        ad.grad(lambda x: float(x))(1.0)
    with _raises(TracerConversionError, "a list"):
        ad.grad(lambda x: sum(x.tolist()))(np.ones(2))


def test_in_place_mutation_says_what_to_use_instead():
    def assign(x):
        x[0] = 1.0
        return x.sum()
    with _raises(InPlaceError, "in-place", "x.at[index].set(value)"):
        ad.grad(assign)(np.ones(3))
    with _raises(InPlaceError, "out="):
        ad.grad(lambda x: np.sin(x, out=np.empty(3)).sum())(np.ones(3))
    with _raises(InPlaceError, "out="):
        ad.grad(lambda x: np.sum(x, out=np.empty(())))(np.ones(3))


def test_indexing_with_a_traced_value():
    with _raises(TypeError, "cannot index with a traced value", "stop_gradient"):
        ad.grad(lambda x: x[x[0]])(np.ones(3))


# ----------------------------------------------------------------------------- shapes and axes
def test_shape_errors_name_shapes():
    with _raises(ShapeError, "matmul", "(3,)", "(2,)", "not aligned"):
        ad.grad(lambda x: (x @ np.ones(2)).sum())(np.ones(3))
    with _raises(ValueError, "size 3", "(2, 2)"):
        ad.grad(lambda x: np.reshape(x, (2, 2)).sum())(np.ones(3))
    with _raises(ValueError, "concatenate", "same number of dimensions", "(3,)", "(1, 3)"):
        ad.grad(lambda x: np.concatenate([x, x[None]]).sum())(np.ones(3))
    with _raises(ShapeError, "solve", "(2, 2)", "(3,)"):
        ad.grad(lambda a: np.linalg.solve(a, np.ones(3)).sum())(np.eye(2))
    with _raises(np.linalg.LinAlgError, "inv", "square", "(2, 3)"):
        ad.grad(lambda a: np.linalg.inv(a).sum())(np.ones((2, 3)))
    with _raises(ValueError, "einsum", "'j'", "sizes 2 and 3"):
        ad.grad(lambda a: np.einsum("ij,jk", a, np.ones((3, 4))).sum())(np.ones((2, 2)))
    with _raises(ValueError, "take_along_axis", "dimensions"):
        anp.take_along_axis(ad.Dual(np.ones((2, 2)), np.ones((2, 2))), np.array([0]), 1)


def test_axis_errors():
    with _raises(np.exceptions.AxisError, "sum", "axis 2", "dimension 1"):
        ad.grad(lambda x: np.sum(x, axis=2))(np.ones(3))
    with _raises(ValueError, "repeated axis"):
        ad.grad(lambda x: np.sum(x, axis=(0, 0)))(np.ones(3))
    with _raises(np.exceptions.AxisError, "axis 3"):
        ad.grad(lambda x: np.cumsum(x, axis=3).sum())(np.ones(3))


def test_unsupported_options_are_refused_clearly():
    with _raises(NotImplementedError, "qr", "m >= n"):
        ad.grad(lambda x: np.linalg.qr(x)[1].sum())(np.ones((1, 3)))
    with _raises(NotImplementedError, "svd", "full_matrices=False"):
        ad.grad(lambda x: np.linalg.svd(x)[0].sum())(np.ones((3, 2)))
    with _raises(NotImplementedError, "pad", "mode='maximum'"):
        ad.grad(lambda x: np.pad(x, 1, mode="maximum").sum())(np.ones(3))


# ----------------------------------------------------------------------------- conventions
def test_conventions_at_non_differentiable_points():
    grad = ad.grad
    assert grad(anp.abs)(0.0) == 0.0
    assert grad(lambda x: anp.maximum(x, 1.0))(1.0) == 0.5
    assert grad(lambda x: anp.minimum(x, 1.0))(1.0) == 0.5
    np.testing.assert_array_equal(grad(anp.max)(np.array([1.0, 3.0, 3.0])), [0.0, 0.5, 0.5])
    assert grad(anp.sqrt)(0.0) == np.inf
    assert grad(lambda x: anp.sum(anp.clip(x, 0.0, 1.0)))(1.0) == 1.0
    assert grad(lambda x: anp.where(x > 0, x, 2 * x))(0.0) == 2.0
    # sort with ties: each output takes the derivative of the input it came from (stable)
    jac = ad.jacobian(anp.sort)(np.array([1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(jac, [[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    assert float(grad(anp.sinc)(0.0)) == 0.0
    assert float(grad(anp.sign)(0.0)) == 0.0
    assert float(grad(anp.floor)(1.5)) == 0.0


def test_norm_hypot_std_at_zero_are_not_nan():
    zero = np.zeros(3)
    for f in [anp.linalg.norm, lambda x: anp.linalg.norm(x, 3), anp.std,
              lambda x: anp.linalg.norm(anp.reshape(x, (1, 3)), "fro"),
              lambda x: anp.sum(anp.hypot(x, 0.0))]:
        g = ad.grad(f)(zero)
        np.testing.assert_array_equal(g, 0.0)
        h = ad.hessian(f)(zero)
        assert not np.isnan(h).any()
    np.testing.assert_array_equal(ad.grad(lambda x: anp.hypot(x[0], x[1]))(np.zeros(2)), 0.0)


def test_nan_and_inf_propagate_without_raising():
    x = np.array([np.nan, 1.0, np.inf])
    np.testing.assert_array_equal(ad.grad(lambda x_: anp.sum(2 * x_))(x), [2.0, 2.0, 2.0])
    g = ad.grad(lambda x_: anp.sum(anp.sin(x_)))(x)
    assert np.isnan(g[0]) and np.isnan(g[2]) and g[1] == np.cos(1.0)
    assert ad.grad(anp.log)(0.0) == np.inf
    out, tangent = ad.jvp(anp.exp, (np.array([np.inf, -np.inf]),), (np.ones(2),))
    np.testing.assert_array_equal(out, [np.inf, 0.0])
    np.testing.assert_array_equal(tangent, [np.inf, 0.0])
    h = ad.hessian(lambda x_: anp.sum(x_ ** 3))(np.array([np.nan, 1.0]))
    assert np.isnan(h[0, 0]) and h[1, 1] == 6.0


def test_unsupported_numpy_functions_say_whether_ad_numpy_has_one():
    with _raises(UnsupportedFunctionError, "numpy.linalg.tensorinv", "has no equivalent"):
        ad.grad(lambda x: np.sum(np.linalg.tensorinv(x, ind=1)))(np.eye(2))
    with _raises(UnsupportedFunctionError, "numpy.add.reduceat", "ad.numpy has no equivalent"):
        ad.grad(lambda x: np.sum(np.add.reduceat(x, [0, 1])))(np.ones(2))


def test_converting_a_traced_value_names_the_functional_forms():
    with _raises(TracerConversionError, "ad.numpy.array", "ad.numpy.stack",
                 "ad.numpy.at(y)[index].set(value)"):
        ad.grad(lambda x: np.sum(np.asarray(x)))(np.ones(2))


def test_ufunc_at_names_the_functional_update():
    def f(b):
        a = np.zeros(3)
        np.add.at(a, [0, 0], b)
        return np.sum(a)
    with _raises(InPlaceError, "numpy.add.at", "ad.numpy.at(a)[indices].add(b)"):
        ad.grad(f)(np.ones(2))


def test_singular_matrices_give_nan_derivatives_not_errors():
    """slogdet/det at a singular matrix: NumPy's values and NaN derivatives (as JAX), with a
    warning; plain ad.numpy.linalg calls keep NumPy's LinAlgError."""
    a = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.warns(RuntimeWarning, match="singular"):
        g = ad.grad(lambda m: anp.linalg.slogdet(m)[1])(a)
    assert np.isnan(g).all() and anp.linalg.slogdet(a)[1] == -np.inf
    with pytest.warns(RuntimeWarning, match="singular"):
        assert np.isnan(ad.grad(anp.linalg.det)(a)).all()
    with pytest.raises(np.linalg.LinAlgError):
        anp.linalg.inv(a)


def test_a_user_rule_of_the_wrong_shape_is_named_or_broadcast():
    # a JVP term that broadcasts to the result (a lower-rank one) is broadcast, in the
    # unbatched and the batched paths alike (before: a (3, 2) tangent for a (2, 3, 2) result,
    # or a reshape error); a VJP cotangent of another shape than its argument is named
    C, y, v = np.ones((2, 3, 2)), np.ones((3, 2)), np.ones((3, 2))
    p = ad.defprimitive("user_add_of_ranks", lambda a, b: a + b,
                        jvp=(lambda t, o, a, b: t, lambda t, o, a, b: t),
                        vjp=(lambda c, o, a, b: c, lambda c, o, a, b: c))
    assert ad.jvp(lambda z: p(C, z), (y,), (v,))[1].shape == (2, 3, 2)
    np.testing.assert_array_equal(ad.jacfwd(lambda z: p(C, z))(y),
                                  ad.jacfwd(lambda z: C + z)(y))
    for transform in (ad.jacrev, lambda f: ad.grad(lambda z: f(z).sum())):
        with pytest.raises(ad.ShapeError, match="cotangent of shape \\(2, 3, 2\\)"):
            transform(lambda z: p(C, z))(y)


_NUMPY_REFUSES = {   # each returned a value on traced input (NumPy raises on plain input)
    "where(cond, x) without y": lambda M, a: M.where(a > 2, a),
    "partition kth out of bounds": lambda M, a: M.partition(a, 5),
    "diff n=-1": lambda M, a: M.diff(a, n=-1),
    "linspace num=-1": lambda M, a: M.linspace(a[0, 0], a[0, 1], -1),
    "linspace num=2.5": lambda M, a: M.linspace(a[0, 0], a[0, 1], 2.5),
    "fft n=-1": lambda M, a: M.fft.fft(a, n=-1),
    "fft n=2.5": lambda M, a: M.fft.fft(a, n=2.5),
    "select 1 condition, 2 choices": lambda M, a: M.select([a > 1], [a, a]),
    "sort kind='bogus'": lambda M, a: M.sort(a, kind="bogus"),
    "vsplit of 1-D": lambda M, a: M.vsplit(a[0], 1),
    "average with zero weights": lambda M, a: M.average(a[0], weights=np.zeros(3)),
    "multi_dot of one array": lambda M, a: M.linalg.multi_dot([a]),
    "einsum with a digit subscript": lambda M, a: M.einsum("i1->i", a),
    "nan_to_num(nan='x')": lambda M, a: M.nan_to_num(a, nan="x"),
    "meshgrid indexing='zz'": lambda M, a: M.meshgrid(a[0], a[1], indexing="zz"),
    "cov of 3-D": lambda M, a: M.cov(M.reshape(a, (1, 2, 3))),
}


@pytest.mark.parametrize("name", list(_NUMPY_REFUSES))
def test_what_numpy_refuses_is_refused_on_traced_values_too(name):
    fn = _NUMPY_REFUSES[name]
    a = np.arange(1.0, 7.0).reshape(2, 3)
    with pytest.raises(Exception) as numpy_error:
        fn(np, a.copy())
    with pytest.raises(type(numpy_error.value)):
        ad.vjp(lambda x: fn(anp, x), a.copy())


def test_a_third_positional_argument_of_a_binary_function_is_refused():
    # NumPy takes it as out=; ad added it in (add(a, a, a) was 3a, its grad an IndexError)
    with _raises(TypeError, "add takes 2 positional argument", "out="):
        ad.grad(lambda a: anp.sum(anp.add(a, a, a)))(np.ones(2))
    with _raises(TypeError, "multiply takes 2 positional argument"):
        ad.jvp(lambda a: anp.multiply(a, a, a), (np.ones(2),), (np.ones(2),))


def test_cov_with_no_degrees_of_freedom_is_inf_as_numpy():
    a = np.arange(1.0, 7.0).reshape(2, 3)
    with pytest.warns(RuntimeWarning):
        expected = np.cov(a, ddof=10)
    with pytest.warns(RuntimeWarning, match="Degrees of freedom"):
        value = ad.vjp(lambda x: anp.cov(x, ddof=10), a)[0]
    np.testing.assert_array_equal(value, expected)


def test_empty_or_mismatched_arguments_are_named():
    # each was an IndexError from deep inside ad.numpy
    with _raises(ValueError, "need at least one array to concatenate"):
        anp.concatenate([])
    with _raises(ValueError, "fp and xp are not of the same length"):
        ad.grad(lambda a: anp.sum(anp.interp(a, np.array([1.0, 2.0, 3.0]), np.ones(2))))(
            np.array([1.5, 2.5]))
    for carry in (None, ()):
        with _raises(ValueError, "the carry holds no arrays"):
            ad.loop(lambda c: c, carry, 3)


def test_numpy_keywords_that_would_change_the_result_are_refused():
    # each was silently ignored on traced values: sin(a, where=mask) was sin everywhere,
    # axis=True was axis 1, flip over a repeated axis flipped twice
    a = np.linspace(0.1, 1.0, 6).reshape(2, 3)
    for fn, what in ((lambda a: anp.sin(a, where=a > 0.5), "where="),
                     (lambda a: anp.sin(a, dtype=int), "dtype="),
                     (lambda a: anp.exp(a, casting="bogus"), "casting="),
                     (lambda a: anp.exp(a, order="Q"), "order=")):
        with _raises(TypeError, "ufunc keyword", what):
            ad.vjp(fn, a)
    np.testing.assert_allclose(ad.vjp(lambda a: anp.sin(a, where=True, casting="same_kind"),
                                      a)[0], np.sin(a))
    for fn in (lambda a: anp.sum(a, axis=True), lambda a: anp.cumsum(a, axis=True),
               lambda a: anp.take(a, [0], axis=True), lambda a: anp.max(a, axis=(0, True))):
        with _raises(TypeError, "axis must be an integer"):
            ad.vjp(fn, a)
    with _raises(ValueError, "repeated axis"):
        ad.vjp(lambda a: anp.flip(a, axis=(0, 0)), a)


def test_an_integer_or_boolean_output_has_no_jacobian():
    # jacrev and jacobian gave zeros, hessian of an int output too; grad raised
    x = np.ones(3)
    for transform in (ad.jacrev, ad.jacfwd, ad.jacobian):
        with _raises(DTypeError, "output leaf 0 has dtype bool", "floating-point output"):
            transform(lambda x: x > 0)(x)
    with _raises(DTypeError, "dtype int64", "floating-point output"):
        ad.hessian(lambda x: anp.sum(x).astype(np.int64))(x)
    with _raises(DTypeError, "dtype bool"):
        ad.grad(lambda x: anp.sum(x) > 0)(x)


def test_settings_that_were_silently_ignored_are_refused():
    from ad.cost import matrix_chain
    from ad.nn import functional as F
    from ad.scipy import linalg as sl
    with _raises(ValueError, "modes must name"):
        ad.check_grads(lambda x: x * 2, (np.ones(2),), modes=("bogus",))
    with _raises(ValueError, "dims must be positive integers"):
        matrix_chain([10, -1, 3])
    with _raises(ValueError, "trans must be"):
        sl.solve_triangular(np.eye(2), np.ones(2), trans="X")
    with _raises(ValueError, "memory_budget= sizes checkpoints='auto' only"):
        ad.loop(lambda c: c * 0.5, np.ones(2), 4, checkpoints=2, memory_budget=1000)
    with _raises(ValueError, "memory_budget must be a number of bytes"):
        ad.loop(lambda c: c * 0.5, np.ones(2), 4, checkpoints="auto", memory_budget="1k")
    x, w = np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2))
    for call in (lambda: F.conv2d(x, w, stride=0), lambda: F.conv2d(x, w, dilation=0),
                 lambda: F.max_pool2d(x, 0)):
        with _raises(ValueError, "must be positive integers"):
            call()


def test_an_infinite_partial_meeting_a_zero_tangent_as_documented():
    """docs/conventions.md: forward mode's dense tangents give 0 * inf = NaN where an element
    no input moves meets an infinite partial; reverse mode drops it; the cure agrees."""
    x = np.array([0.5, 1.5])
    f = lambda x: anp.sum(anp.sqrt(anp.pad(x ** 2, (1, 0))))          # noqa: E731
    np.testing.assert_allclose(ad.grad(f)(x), [1.0, 1.0])
    assert np.isnan(ad.jacfwd(f)(x)).all()

    def cured(x):
        y = anp.pad(x ** 2, (1, 0))
        return anp.sum(anp.where(y > 0, anp.sqrt(anp.where(y > 0, y, 1.0)), 0.0))
    for transform in (ad.grad, ad.jacfwd, ad.jacrev):
        np.testing.assert_allclose(transform(cured)(x), [1.0, 1.0])


def test_a_library_that_converts_a_traced_value_is_named():
    linalg = pytest.importorskip("scipy.linalg")
    with pytest.raises(ad.TracerConversionError,
                       match=r"inside scipy\.linalg\.solve.*use ad\.scipy's differentiable"):
        ad.grad(lambda x: np.sum(linalg.solve(np.outer(x, x) + 2 * np.eye(3), x)))(np.ones(3))
    with pytest.raises(ad.TracerConversionError) as raised:   # the program's own np.asarray
        ad.grad(lambda x: np.asarray(x).sum())(np.ones(3))
    assert "inside" not in str(raised.value)


@pytest.mark.parametrize("method, args", [("sort", ()), ("fill", (1.0,)), ("resize", ((2,),)),
                                          ("put", ([0], [1.0])), ("partition", (1,))])
def test_numpy_s_in_place_methods_on_a_traced_value_are_named(method, args):
    """x.sort() and the like change the array itself: an InPlaceError saying what to use
    instead, in both modes (it was an AttributeError of TapeValue)."""
    def f(x):
        getattr(x, method)(*args)
        return ad.numpy.sum(x)
    for transform in (ad.grad, ad.jacfwd):
        with pytest.raises(ad.InPlaceError, match=rf"x\.{method}\(\.\.\.\).*instead"):
            transform(f)(np.ones(3))


@pytest.mark.parametrize("call, error, said", [
    (lambda: ad.hessian(lambda x: x ** 2)(3), DTypeError, r"hessian\(<lambda>\): argument 0"),
    (lambda: ad.hessian(lambda x: x ** 2, argnums=2)(3.0), ValueError, r"hessian\(<lambda>\)"),
    (lambda: ad.hessian(lambda x: x * 1j)(3.0), DTypeError, r"hessian\(<lambda>\) needs real"),
    (lambda: ad.hvp(lambda x: anp.sum(x ** 2), (np.arange(3),), (np.ones(3),)), DTypeError,
     r"hvp\(<lambda>\): argument 0"),
    (lambda: ad.hvp(lambda x: anp.sum(x ** 2), (np.ones(3),), (np.ones(2),)), ShapeError,
     r"hvp\(<lambda>\): tangent leaf 0 has shape \(2,\)"),
    (lambda: ad.hvp(lambda x: anp.sum(x ** 2), (np.ones(3),), (np.ones(3), 1.0)), ShapeError,
     r"hvp\(<lambda>\): 1 primals but 2 tangents"),
])
def test_hessian_and_hvp_errors_name_the_transform_called(call, error, said):
    """Not the jacfwd, jacrev or jvp they are built from."""
    with pytest.raises(error, match=said):
        call()
