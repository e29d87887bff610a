"""ad.numpy shape and structure functions (ad/numpy/__init__.py, _shapes.py): the table, and
fill values that keep their derivative."""

import numpy as np
import pytest

import ad
import ad.numpy as anp
from numpy_table import Table, big, distinct, flat, nz, pos, unit, v, wellcond  # noqa: F401

TABLE = Table()
row = TABLE.row


# ----------------------------------------------------------------------------- shapes
row("reshape", [v(2, 3)], shape=(3, 2))
row("reshape", [v(2, 3)], shape=(-1,))
row("ravel", [v(2, 3)])
row("transpose", [v(2, 3)])
row("transpose", [v(2, 3, 4)], axes=(1, 2, 0))
row("swapaxes", [v(2, 3, 4)], axis1=0, axis2=2)
row("moveaxis", [v(2, 3, 4)], source=0, destination=-1)
row("moveaxis", [v(2, 3, 4)], source=(0, 1), destination=(2, 0))
row("expand_dims", [v(2, 3)], axis=1)
row("expand_dims", [v(3)], axis=(0, 2))
row("squeeze", [v(1, 3, 1)])
row("squeeze", [v(1, 3, 1)], axis=2)
row("broadcast_to", [v(3, 1)], shape=(2, 3, 4))
row("broadcast_to", [v()], shape=(3,))
for _name in ["concatenate", "stack", "hstack", "vstack", "column_stack", "dstack"]:
    row(_name, [v(3), v(3)], np_fn=lambda x, y, _n=_name: getattr(np, _n)([x, y, x]),
        fn=lambda x, y, _n=_name: getattr(anp, _n)([x, y, x]), id=_name + "-1d")
    row(_name, [v(2, 3), v(2, 3)], np_fn=lambda x, y, _n=_name: getattr(np, _n)([x, y]),
        fn=lambda x, y, _n=_name: getattr(anp, _n)([x, y]), id=_name + "-2d")
row("concatenate", [v(2, 3), v(2, 1)], np_fn=lambda x, y: np.concatenate([x, y], axis=1),
    fn=lambda x, y: anp.concatenate([x, y], axis=1), id="concatenate axis1")
row("concatenate", [v(2, 3), v(1)], np_fn=lambda x, y: np.concatenate([x, y], axis=None),
    fn=lambda x, y: anp.concatenate([x, y], axis=None), id="concatenate axisNone")
row("stack", [v(2, 3), v(2, 3)], np_fn=lambda x, y: np.stack([x, y], axis=-1),
    fn=lambda x, y: anp.stack([x, y], axis=-1), id="stack axis-1")
for _name, _kw in [("split", dict(indices_or_sections=2, axis=1)),
                   ("split", dict(indices_or_sections=[1, 3], axis=1)),
                   ("array_split", dict(indices_or_sections=3, axis=1)),
                   ("hsplit", dict(indices_or_sections=2)),
                   ("vsplit", dict(indices_or_sections=2))]:
    row(_name, [v(2, 4)], np_fn=lambda x, _n=_name, _k=_kw: getattr(np, _n)(x, **_k),
        fn=lambda x, _n=_name, _k=_kw: getattr(anp, _n)(x, **_k), id=f"{_name} {_kw}")
row("broadcast_arrays", [v(3, 1), v(4)], np_fn=lambda x, y: np.broadcast_arrays(x, y),
    fn=lambda x, y: anp.broadcast_arrays(x, y))
for _name in ["atleast_1d", "atleast_2d", "atleast_3d"]:
    for _shape in [(), (3,), (2, 3)]:
        row(_name, [v(*_shape)])
row("tile", [v(2, 3)], reps=(2, 1))
row("tile", [v(3)], reps=2)
row("tile", [v(2)], reps=(2, 2))
row("repeat", [v(2, 3)], repeats=2)
row("repeat", [v(2, 3)], repeats=2, axis=1)
row("repeat", [v(2, 3)], repeats=np.array([1, 0, 3]), axis=1, id="repeat array")
row("flip", [v(2, 3)])
row("flip", [v(2, 3, 2)], axis=(0, 2))
row("fliplr", [v(2, 3)])
row("flipud", [v(2, 3)])
row("roll", [v(5)], shift=2)
row("roll", [v(2, 3)], shift=-1, axis=1)
row("roll", [v(2, 3)], shift=4)
row("roll", [v(2, 3)], shift=(1, 2), axis=(0, 1))
row("rot90", [v(2, 3)])
row("rot90", [v(2, 3)], k=2)
row("rot90", [v(2, 3)], k=3)
row("diag", [v(3)])
row("diag", [v(3)], k=-1)
row("diag", [v(3, 4)])
row("diag", [v(3, 4)], k=1)
row("diagflat", [v(2, 2)])
row("diagonal", [v(3, 4)])
row("diagonal", [v(2, 3, 4)], offset=1, axis1=1, axis2=2)
row("diagonal", [v(2, 3, 4)], offset=-1, axis1=2, axis2=0)
row("trace", [v(3, 3)])
row("trace", [v(2, 3, 4)], offset=1, axis1=1, axis2=2)
row("triu", [v(3, 4)])
row("triu", [v(2, 3, 3)], k=1)
row("tril", [v(3, 4)])
row("tril", [v(3, 4)], k=-1)
row("pad", [v(2, 3)], pad_width=1)
row("pad", [v(2, 3)], pad_width=((0, 1), (2, 0)), constant_values=1.5)
for _mode in ["edge", "reflect", "symmetric", "wrap"]:
    row("pad", [v(3, 4)], pad_width=((1, 2), (2, 1)), mode=_mode)
row("take", [v(5)], indices=np.array([4, 0, 0, 2]))
row("take", [v(3, 4)], indices=np.array([[0, 3], [1, 1]]), axis=1)
row("take", [v(3, 4)], indices=np.array([5, -1]), axis=1, mode="wrap")
row("take", [v(3, 4)], indices=np.array([7, -3]), axis=1, mode="clip")
row("take_along_axis", [v(3, 4)], indices=np.array([[0, 3], [1, 1], [2, 0]]), axis=1)
row("take_along_axis", [v(3, 4)], indices=np.array([[0, 1, 2, 0]]), axis=0)
row("append", [v(2, 2), v(3)])
row("append", [v(2, 2), v(1, 2)], axis=0)
row("delete", [v(2, 4)], obj=1, axis=1)
row("delete", [v(5)], obj=[0, 3])
row("copy", [v(3)])
row("meshgrid", [v(3), v(2)], np_fn=lambda x, y: np.meshgrid(x, y),
    fn=lambda x, y: anp.meshgrid(x, y))
row("meshgrid", [v(3), v(2)], np_fn=lambda x, y: np.meshgrid(x, y, indexing="ij"),
    fn=lambda x, y: anp.meshgrid(x, y, indexing="ij"), id="meshgrid ij")
row("array", [v(), v()], np_fn=lambda x, y: np.array([[x, y], [y, 2.0]]),
    fn=lambda x, y: anp.array([[x, y], [y, 2.0]]), id="array of traced scalars",
    dispatch=False)
row("asarray", [v(), v(3)], np_fn=lambda x, y: np.asarray([x * y[0], y[1], 1.0]),
    fn=lambda x, y: anp.asarray([x * y[0], y[1], 1.0]), id="asarray of traced scalars",
    dispatch=False)
row("select", [v(4), v(4)],
    np_fn=lambda x, y: np.select([x > 0.5, y > 0], [x, y], 0.0),
    fn=lambda x, y: anp.select([x > 0.5, y > 0], [x, y], 0.0))
row("unique", [np.array([2.0, 1.0, 3.0])], np_fn=np.unique, fn=anp.unique)



row("linspace", [v(), v()], np_fn=lambda a, b: np.linspace(a, b, 5),
    fn=lambda a, b: anp.linspace(a, b, 5))
row("linspace", [v(), v()], id="linspace open", np_fn=lambda a, b: np.linspace(
    a, b, 4, endpoint=False), fn=lambda a, b: anp.linspace(a, b, 4, endpoint=False))
row("logspace", [v(), v()], np_fn=lambda a, b: np.logspace(a, b, 4, base=2.0),
    fn=lambda a, b: anp.logspace(a, b, 4, base=2.0))
row("rollaxis", [v(2, 3, 4)], np_fn=lambda a: np.rollaxis(a, 2), fn=lambda a: anp.rollaxis(
    a, 2))
row("rollaxis", [v(2, 3, 4)], id="rollaxis start", np_fn=lambda a: np.rollaxis(a, 0, 3),
    fn=lambda a: anp.rollaxis(a, 0, 3))
row("real_if_close", [v(3)])

row("r_", [v(3), v()], id="r_", np_fn=lambda a, b: np.r_[a, b, 2.0],
    fn=lambda a, b: anp.r_[a, b, 2.0], dispatch=False)
row("c_", [v(3), v(3)], id="c_", np_fn=lambda a, b: np.c_[a, b], fn=lambda a, b: anp.c_[a, b],
    dispatch=False)

test_value_matches_numpy, test_derivatives_second_order, test_numpy_dispatch_same_derivative = \
    TABLE.tests()


# ----------------------------------------------------------------------------- fill values
def test_traced_pad_value_keeps_its_derivative():
    """Regression: np.pad(..., constant_values=T) dropped T's derivative (3.0 for 5.0)."""
    f = lambda T: np.sum(np.pad(T * np.ones(3), 1, constant_values=T))  # noqa: E731
    assert float(ad.grad(f)(2.0)) == 5.0
    assert float(ad.jvp(f, (2.0,), (1.0,))[1]) == 5.0
    per_axis = lambda T: anp.sum(anp.pad(np.ones((2, 2)), ((1, 0), (0, 2)),  # noqa: E731
                                         constant_values=((T, 2 * T), (3 * T, 4 * T))))
    assert float(ad.grad(per_axis)(2.0)) == 2 * 1 + 4 * 6
    ad.check_grads(lambda x: anp.pad(x[:2], ((1, 2),), constant_values=x[2]),
                   (np.array([1.0, 2.0, 3.0]),), order=2)


def test_traced_fill_value_keeps_its_derivative():
    """Regression: np.full_like(x, x[0]) dropped the fill value's derivative ([0, 0])."""
    g = ad.grad(lambda x: np.sum(np.full_like(x, x[0])))(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g, [2.0, 0.0])
    assert float(ad.grad(lambda v: anp.sum(anp.full_like(np.ones(3), v)))(1.0)) == 3.0
    assert float(ad.grad(lambda v: anp.sum(anp.full((2, 2), v)))(1.0)) == 4.0
    assert anp.full_like(np.ones(2, np.float32), 2.5).dtype == np.float32
    np.testing.assert_array_equal(anp.full(3, 2.0), np.full(3, 2.0))


def test_numpy_full_with_traced_value_names_the_fix():
    with pytest.raises(ad.errors.InPlaceError, match="ad.numpy.full_like"):
        ad.grad(lambda v: np.sum(np.full_like(np.ones(2), v)))(1.0)


def test_input_cotangent_takes_the_input_dtype():
    """Regression: float32 input times a float64 constant gave a float64 gradient."""
    x = np.ones(3, np.float32)
    assert ad.grad(lambda x_: anp.sum(x_ * np.float64(2.0)))(x).dtype == np.float32
    assert ad.grad(lambda x_: anp.sum(x_ * np.ones(3)))(x).dtype == np.float32
    assert ad.vjp(lambda x_: x_ * np.ones(3), x)[1](np.ones(3))[0].dtype == np.float32
    assert ad.jacrev(lambda x_: x_ * np.ones(3))(x).dtype == np.float32
    np.testing.assert_allclose(ad.grad(lambda x_: anp.sum(x_ * np.float64(2.0)))(x), 2.0)



NESTED = [[1.5, 2.0, -0.5], [0.0, 3.0, 1.0]]


@pytest.mark.parametrize("name", ["flip", "fliplr", "flipud", "rot90", "trace", "diag",
                                  "trapezoid", "gradient", "ones_like", "zeros_like",
                                  "nan_to_num", "full_like", "median", "ediff1d"])
def test_nested_lists_are_arrays_as_numpy_reads_them(name):
    args = (NESTED, 7.0) if name == "full_like" else (NESTED,)
    ours, theirs = getattr(anp, name)(*args), getattr(np, name)(*args)
    for a, b in zip(ours if isinstance(ours, tuple) else (ours,),
                    theirs if isinstance(theirs, tuple) else (theirs,)):
        np.testing.assert_array_equal(a, b)
        assert np.shape(a) == np.shape(b)


def test_integer_and_boolean_inputs_take_numpy_s_float_arithmetic():
    b = np.array([[True, False, True], [True, False, True]])
    np.testing.assert_array_equal(anp.median(b, axis=0), np.median(b, axis=0))
    u = np.array([250, 3, 7], dtype=np.uint8)
    np.testing.assert_array_equal(anp.gradient(u), np.gradient(u))
    assert np.asarray(anp.median(np.array([1, 2, 4]))).dtype == np.float64


def test_the_median_of_nothing_is_nan_as_numpy_s():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a, axis in ((np.array([]), None), (np.zeros((3, 0)), 1), (np.zeros((0, 3)), 0),
                        (np.zeros((0, 3)), 1)):
            for keepdims in (False, True):
                np.testing.assert_array_equal(anp.median(a, axis=axis, keepdims=keepdims),
                                              np.median(a, axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("name, f", [
    ("transpose", lambda x: np.transpose(x, (0, 3))), ("swapaxes", lambda x: np.swapaxes(x, 0, 3)),
    ("moveaxis", lambda x: np.moveaxis(x, 0, 2)), ("expand_dims", lambda x: np.expand_dims(x, 4)),
    ("concatenate", lambda x: np.concatenate([x, x], axis=2)),
    ("tensordot", lambda x: np.tensordot(x, x, axes=([2], [0]))),
    ("norm", lambda x: np.linalg.norm(x, axis=3)), ("take", lambda x: np.take(x, [0], axis=2)),
    ("fft", lambda x: np.fft.fft(x, axis=2)), ("rot90", lambda x: np.rot90(x, 1, axes=(0, 2))),
])
def test_an_axis_out_of_range_is_numpy_s_axis_error(name, f):
    # before: wrapped modulo the dimensions (axis 3 of a matrix taken as axis 1)
    with pytest.raises(np.exceptions.AxisError):
        ad.jvp(f, (np.ones((2, 3)),), (np.ones((2, 3)),))


def test_rot90_needs_two_different_axes():
    with pytest.raises(ValueError, match="different"):
        ad.grad(lambda x: anp.sum(np.rot90(x, 1, axes=(0, 0))))(np.ones((2, 3)))


def test_hstack_and_vstack_give_the_dtype_asked():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    for f in (lambda x: np.hstack([x, x], dtype=np.float32),
              lambda x: np.vstack([x, x], dtype=np.float32)):
        got = ad.jvp(f, (x,), (x,))
        assert got[0].dtype == f(x).dtype == np.float32
        np.testing.assert_array_equal(got[0], f(x))
    with pytest.raises(TypeError, match="cannot cast"):
        ad.jvp(lambda x: np.hstack([x, x], dtype=np.int32, casting="safe"), (x,), (x,))


def test_many_pieces_of_mixed_widths_concatenated():
    """Each piece's cotangent is its slice of the output's, however the sweep (or a caller
    asking out of order) walks the pieces; the starts are remembered per entry (its
    arguments' tuple), so two entries' pieces interleaved each get their own."""
    from ad.catalogue.structure import _concatenate_transpose
    from ad.primitive import aval_of
    widths = [1, 3, 2, 1, 4, 2, 5, 1]
    x = np.linspace(0.1, 2.0, 7)

    def f(x):
        return anp.concatenate([anp.sin(x[:w]) * (k + 1) for k, w in enumerate(widths)]
                               + [x[:2, None].ravel()], axis=0)
    reference = np.zeros((sum(widths) + 2, 7))
    row = 0
    for k, w in enumerate(widths):
        reference[row:row + w, :w] = np.diag(np.cos(x[:w]) * (k + 1))
        row += w
    reference[row:, :2] = np.eye(2)
    np.testing.assert_allclose(ad.jacrev(f)(x), reference, atol=1e-14)
    np.testing.assert_allclose(ad.jacrev(f, chunk_size=3)(x), reference, atol=1e-14)
    np.testing.assert_allclose(ad.jacfwd(f)(x), reference, atol=1e-14)
    np.testing.assert_allclose(ad.jacrev(f, compile=True)(x), reference, atol=1e-14)
    entries = []
    for ws in (widths + [2], widths[::-1] + [3]):         # two entries, other widths
        pieces = tuple(aval_of(np.zeros((2, w))) for w in ws)
        entries.append((pieces, np.cumsum([0] + ws), sum(ws)))
    for i in (0, 1, 2, 8, 7, 6, 3, 5, 4, 3, 2, 4, 8, 0):    # jumps, reversals, repeats
        for pieces, starts, total in entries + entries[:1]:  # interleaved
            ct = np.arange(2.0 * total).reshape(2, total)
            out = aval_of(ct)
            np.testing.assert_array_equal(_concatenate_transpose(i, ct, out, pieces, axis=1),
                                          ct[:, starts[i]:starts[i + 1]])
    pieces, starts, total = entries[0]
    np.testing.assert_array_equal(                          # a batched cotangent
        _concatenate_transpose(3, np.ones((5, 2, total)) * np.arange(total),
                               aval_of(np.zeros((2, total))), pieces, axis=1),
        np.broadcast_to(np.arange(starts[3], starts[4]), (5, 2, 1)))
    h = ad.hessian(lambda x: anp.sum(f(x) ** 2))(x)         # through the transpose again
    np.testing.assert_allclose(h, ad.jacfwd(ad.jacrev(lambda x: anp.sum(f(x) ** 2)))(x),
                               rtol=1e-12)


def test_a_stack_of_many_pieces_is_linear_in_their_number():
    """A gradient through stack/concatenate of k pieces costs O(k) (each piece's transpose
    was O(k): the widths before it summed, the k arguments unpacked): counted in calls to
    the pieces' starts, which must be computed once per entry."""
    import ad.catalogue.structure as structure
    real, computed = structure._piece_starts, []

    def counting(xs, axis):
        if structure._last_starts[0] is not xs:
            computed.append(len(xs))
        return real(xs, axis)
    structure._piece_starts = counting
    try:
        from programs import stacked_trajectory
        g = ad.grad(stacked_trajectory)(0.3, 3000)
    finally:
        structure._piece_starts = real
    assert computed == [3000]
    x = 0.3                                 # d/dx of sum s_k^2, s_k = 0.99 sin(s_{k-1})
    states, slopes = [], []
    for _ in range(3000):
        slopes.append(0.99 * np.cos(x))
        x = np.sin(x) * 0.99
        states.append(x)
    chain = np.cumprod(slopes)
    np.testing.assert_allclose(g, np.sum(2 * np.array(states) * chain), rtol=1e-12)
