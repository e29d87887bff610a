"""ad.numpy indexing and the functional update x.at[...] (ad/numpy/_indexing.py): the table,
and any basic or integer-array index by hypothesis."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ad
import ad.numpy as anp
from ad.primitive import Tracer
from numpy_table import Table, big, distinct, flat, nz, pos, unit, v, wellcond  # noqa: F401

TABLE = Table()
row = TABLE.row


# ----------------------------------------------------------------------------- indexing
INDICES = {
    "int": (v(4, 3), 1), "negative int": (v(4, 3), -1), "slice step": (v(7), slice(1, 6, 2)),
    "reversed": (v(5), slice(None, None, -1)), "newaxis": (v(3), (None, slice(None))),
    "ellipsis": (v(2, 3, 4), (Ellipsis, 1)), "int array": (v(4, 2), np.array([3, 0, 3])),
    "list": (v(4, 2), [0, 2]), "bool mask": (v(4), np.array([True, False, True, True])),
    "2d mask": (v(2, 3), np.array([[True, False, True], [False, True, True]])),
    "arrays + slice": (v(3, 4), (np.array([0, 2]), slice(1, 3))),
    "two arrays": (v(3, 4), (np.array([0, 2, 2]), np.array([1, 1, 3]))),
    "split arrays": (v(2, 3, 4), (np.array([0, 1]), slice(None), np.array([3, 0]))),
    "2d index": (v(4), np.array([[0, 1], [1, 3]])),
    "mixed": (v(3, 4, 2), (None, 1, Ellipsis, np.array([1, 0]))),
    "empty tuple": (v(2), ()),
}
for _name, (_x, _index) in INDICES.items():
    row("getitem", [_x], np_fn=lambda x, _i=_index: x[_i], fn=lambda x, _i=_index: x[_i],
        id="index " + _name)
AT = {"set": "__setitem__", "add": np.add, "multiply": np.multiply, "divide": np.divide,
      "min": np.minimum, "max": np.maximum, "subtract": np.subtract}


def _numpy_at(x, index, values, how):
    out = np.array(x, dtype=np.result_type(x, values))
    if how == "set":
        out[index] = values
    else:
        AT[how].at(out, index, values)
    return out


for _how in AT:
    for _name, (_shape, _index, _vshape) in {
            "slice": ((3, 4), (slice(1, None), slice(None, None, 2)), (2,)),
            "repeated": ((5,), np.array([0, 3, 0, 0]), (4,)),
            "mask": ((2, 3), np.array([[True, False, True], [False, True, True]]), ()),
            "arrays": ((3, 4), (np.array([0, 2, 0]), np.array([1, 1, 1])), (3,)),
            "ellipsis": ((2, 3), (Ellipsis, 1), (2,))}.items():
        _x, _values = distinct(*_shape), nz(*_vshape)
        row("at", [_x, _values],
            np_fn=lambda x, y, _i=_index, _h=_how: _numpy_at(x, _i, y, _h),
            fn=lambda x, y, _i=_index, _h=_how: getattr(anp.at(x)[_i], _h)(y),
            id=f"at {_how} {_name}", dispatch=False)
row("at", [v(4)], np_fn=lambda x: x[1:3], fn=lambda x: anp.at(x)[1:3].get(), id="at get",
    dispatch=False)
row("at", [v(2, 3), v()], np_fn=lambda x, y: _numpy_at(x, (0, 1), y, "set"),
    fn=lambda x, y: x.at[0, 1].set(y) if isinstance(x, Tracer) else anp.at(x)[0, 1].set(y),
    id="at property", dispatch=False)
row("index_update", [v(4), v()], np_fn=lambda x, y: _numpy_at(x, 2, y, "set"),
    fn=lambda x, y: anp.index_update(x, 2, y), dispatch=False)
row("index_add", [v(4), v(2)], np_fn=lambda x, y: _numpy_at(x, np.array([1, 1]), y, "add"),
    fn=lambda x, y: anp.index_add(x, np.array([1, 1]), y), dispatch=False)



test_value_matches_numpy, test_derivatives_second_order, test_numpy_dispatch_same_derivative = \
    TABLE.tests()


@given(data=st.data())
def test_gather_and_scatter_jacobians_sum_repeats(data):
    """A block of directions through x[index] and at[index].add (repeated positions summed
    by the scatter kernel): jacfwd and jacrev equal the Jacobian built one basis vector at
    a time with NumPy's own add.at."""
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5))
    index = data.draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(
        min_dims=1, max_dims=2, max_side=6)))
    x = distinct(*shape)
    gathered = x[index].shape
    eye_in, eye_out = np.eye(x.size), np.eye(math.prod(gathered))
    by_gather = np.stack([e.reshape(shape)[index].ravel() for e in eye_in], axis=1)
    by_scatter = np.stack([_numpy_at(np.zeros(shape), index, e.reshape(gathered), "add")
                           .ravel() for e in eye_out], axis=1)
    for J, f, arg in ((by_gather, lambda x_: x_[index], x),
                      (by_scatter, lambda y_: anp.at(np.zeros(shape))[index].add(y_),
                       nz(*gathered))):
        for transform in (ad.jacfwd, ad.jacrev):
            np.testing.assert_allclose(
                np.reshape(transform(f)(arg), J.shape), J, atol=1e-12)


@given(data=st.data())
def test_basic_indexing_any_index(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    x = v(*shape)
    np.testing.assert_array_equal(ad.jvp(lambda x_: x_[index], (x,), (x,))[0], x[index])
    ad.check_grads(lambda x_: x_[index] ** 2, (x,), order=2)


@given(data=st.data())
def test_integer_array_indexing_and_at(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5))
    index = data.draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(
        min_dims=1, max_dims=2, max_side=4)))
    x = distinct(*shape)
    values = nz(*x[index].shape)
    np.testing.assert_array_equal(ad.jvp(lambda x_: x_[index], (x,), (x,))[0], x[index])
    ad.check_grads(lambda x_: x_[index] ** 2, (x,), order=2)
    for how in ["set", "add", "multiply"]:
        expected = _numpy_at(x, index, values, how)
        np.testing.assert_allclose(getattr(anp.at(x)[index], how)(values), expected)
        ad.check_grads(lambda x_, y_: getattr(anp.at(x_)[index], how)(y_), (x, values),
                       order=2, rtol=1e-4, atol=1e-5)



def test_an_ellipsis_covering_no_axis_between_advanced_indices_is_refused():
    # NumPy puts the separated advanced indices' axes first; dropping the empty ellipsis
    # left them adjacent (axes in place): transposed values and gradients before
    x = np.arange(8.0).reshape(2, 2, 2)
    for index in ((slice(None), [0, 1], ..., [1, 0]), (slice(None), 0, ..., [0, 1])):
        with pytest.raises(IndexError, match="ellipsis covering no axis"):
            ad.grad(lambda x: anp.sum(x[index]))(x)
    # covering axes, or not between advanced indices, it is as NumPy's
    for index in ((slice(None), [0, 1], ...), ([0, 1], ..., [1, 0]), (..., [1, 0])):
        np.testing.assert_array_equal(ad.jvp(lambda x: x[index], (x,), (x,))[0], x[index])
    y = np.arange(16.0).reshape(2, 2, 2, 2)
    index = (slice(None), [0, 1], ..., [1, 0])
    np.testing.assert_array_equal(ad.jvp(lambda y: y[index], (y,), (y,))[0], y[index])


def test_complex_values_into_a_real_array_are_refused():
    with pytest.raises(TypeError, match="complex values into a real array"):
        ad.jvp(lambda z: z.at[0].set(1j), (np.ones(3),), (np.ones(3),))


def test_more_numpy_spellings_of_indices_and_shifts():
    x = np.arange(24.0).reshape(2, 3, 4)
    for f in (lambda x: x[[]], lambda x: x[:, []], lambda x: np.roll(x, np.array([1, 2]), (0, 1)),
              lambda x: np.fft.fftshift(x, axes=np.int64(1)), lambda x: round(x[0, 0, 1] * 1.5)):
        np.testing.assert_array_equal(ad.jvp(f, (x,), (x,))[0], f(x))
    # None in s: that axis's length (NumPy 2 deprecates the spelling it still takes)
    np.testing.assert_allclose(
        ad.jvp(lambda x: anp.abs(anp.fft.fftn(x[0], s=(None, 3), axes=(0, 1))), (x,), (x,))[0],
        np.abs(np.fft.fftn(x[0], s=(3, 3), axes=(0, 1))), rtol=1e-13)


def test_at_set_drops_leading_unit_axes_as_assignment_does():
    x = np.arange(24.0).reshape(2, 3, 4)
    want = x.copy()
    want[0] = np.ones((1, 3, 4)) * 2.0
    np.testing.assert_array_equal(
        ad.jvp(lambda z: z.at[0].set(np.ones((1, 3, 4)) * 2.0), (x,), (x,))[0], want)
    g = lambda z: z.at[0].add(anp.reshape(z[1], (1, 3, 4)))      # noqa: E731
    np.testing.assert_allclose(ad.jacfwd(g)(x), ad.jacrev(g)(x))


def test_take_reads_booleans_as_indices_and_select_checks_its_lists():
    a = np.array([10.0, 20.0, 30.0])
    flags = np.array([True, False, True])          # the indices 1, 0, 1 (not a mask)
    np.testing.assert_array_equal(anp.take(a, flags), np.take(a, flags))
    assert ad.jacfwd(lambda x: anp.take(x, flags))(a).shape == (3, 3)
    with pytest.raises(ValueError, match="empty condition list"):
        anp.select([], [])
    with pytest.raises(TypeError, match="should be boolean"):
        anp.select([a], [a])
