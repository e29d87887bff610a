"""Shape and structure functions on traced values: stacking, splitting, tiling, flipping,
diagonals and triangles, padding.

All are compositions of the structural primitives (reshape, broadcast_to, transpose,
getitem, index_add, concatenate) and `where`, so they are linear with exact derivatives of
every order. Imports `ad.numpy` (the package) and `ad.primitive`.
"""
from __future__ import annotations

import operator

import numpy as np

from ad import numpy as anp
from ad.catalogue import structure as _structure
from ad.numpy import _axis, _implements
from ad.primitive import FUNCTIONS, Tracer, float_dtype, primal_value

__all__ = ["atleast_2d", "atleast_3d", "hstack", "vstack", "dstack", "column_stack",
           "row_stack", "split", "array_split", "hsplit", "vsplit", "dsplit",
           "broadcast_arrays", "tile", "repeat", "flip", "fliplr", "flipud", "roll", "rot90",
           "diag", "diagflat", "diagonal", "trace", "triu", "tril", "pad", "append", "delete",
           "copy", "meshgrid", "full", "full_like", "r_", "c_", "empty_like", "broadcast_shapes"]

broadcast_shapes = np.broadcast_shapes


def _index_on(axis: int, nd: int, item) -> tuple:
    return (slice(None),) * axis + (item,) + (slice(None),) * (nd - axis - 1)


# ----------------------------------------------------------------------------- at least n-d
@_implements(np.atleast_2d)
def atleast_2d(*arys):
    """Views with at least two dimensions (1-D becomes a row)."""
    out = [anp.reshape(a, (1,) * (2 - anp.ndim(a)) + anp.shape(a)) if anp.ndim(a) < 2 else a
           for a in arys]
    return out[0] if len(out) == 1 else out


@_implements(np.atleast_3d)
def atleast_3d(*arys):
    """At least three dimensions: (N,) -> (1, N, 1), (M, N) -> (M, N, 1)."""
    def one(a):
        s = anp.shape(a)
        if len(s) == 0:
            return anp.reshape(a, (1, 1, 1))
        if len(s) == 1:
            return anp.reshape(a, (1,) + s + (1,))
        if len(s) == 2:
            return anp.reshape(a, s + (1,))
        return a
    out = [one(a) for a in arys]
    return out[0] if len(out) == 1 else out


def _listed(arrays, atleast):
    out = atleast(*arrays)
    return out if isinstance(out, list) else [out]


# ----------------------------------------------------------------------------- stacking
@_implements(np.hstack)
def hstack(tup, *, dtype=None, casting=None):
    """Stack along the second axis (the first for 1-D inputs)."""
    arrays = [anp.atleast_1d(a) for a in tup]
    return anp._cast_to(anp.concatenate(arrays, axis=0 if anp.ndim(arrays[0]) == 1 else 1),
                        dtype, casting or "same_kind", "hstack")


@_implements(np.vstack)
def vstack(tup, *, dtype=None, casting=None):
    """Stack along the first axis after making inputs at least 2-D."""
    return anp._cast_to(anp.concatenate(_listed(list(tup), atleast_2d), axis=0), dtype,
                        casting or "same_kind", "vstack")


row_stack = vstack


@_implements(np.dstack)
def dstack(tup):
    """Stack along the third axis after making inputs at least 3-D."""
    return anp.concatenate(_listed(list(tup), atleast_3d), axis=2)


@_implements(np.column_stack)
def column_stack(tup):
    """1-D inputs become columns; 2-D inputs are stacked along axis 1."""
    arrays = [anp.reshape(a, (-1, 1)) if anp.ndim(a) < 2 else a for a in tup]
    return anp.concatenate(arrays, axis=1)


# ----------------------------------------------------------------------------- splitting
@_implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    """Split into pieces (sections may be unequal), as numpy.array_split."""
    nd = anp.ndim(ary)
    axis = _axis(axis, nd, "array_split")
    n = anp.shape(ary)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = operator.index(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.")
        each, extra = divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        bounds = np.cumsum([0] + sizes).tolist()
    else:
        bounds = [0] + [operator.index(i) for i in indices_or_sections] + [n]
    return [ary[_index_on(axis, nd, slice(start, stop))]
            for start, stop in zip(bounds[:-1], bounds[1:])]


@_implements(np.split)
def split(ary, indices_or_sections, axis=0):
    """Split into equal sections (or at the given indices), as numpy.split."""
    if isinstance(indices_or_sections, (int, np.integer)):
        n = anp.shape(ary)[_axis(axis, anp.ndim(ary), "split")]
        if n % indices_or_sections:
            raise ValueError("array split does not result in an equal division: "
                             f"{n} elements into {indices_or_sections} sections")
    return array_split(ary, indices_or_sections, axis)


@_implements(np.hsplit)
def hsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, axis=1 if anp.ndim(ary) > 1 else 0)


@_implements(np.vsplit)
def vsplit(ary, indices_or_sections):
    if anp.ndim(ary) < 2:
        raise ValueError("vsplit only works on arrays of 2 or more dimensions")
    return split(ary, indices_or_sections, axis=0)


@_implements(np.dsplit)
def dsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, axis=2)


# ----------------------------------------------------------------------------- broadcasting, tiling
@_implements(np.broadcast_arrays)
def broadcast_arrays(*args):
    """Each argument broadcast to their common shape."""
    target = np.broadcast_shapes(*[anp.shape(a) for a in args])
    return tuple(anp.broadcast_to(a, target) for a in args)


@_implements(np.tile)
def tile(A, reps):
    """Repeat the whole array `reps` times per axis, as numpy.tile.

    >>> tile(np.array([1.0, 2.0]), 2)
    array([1., 2., 1., 2.])
    """
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    nd = max(anp.ndim(A), len(reps))
    reps = (1,) * (nd - len(reps)) + tuple(operator.index(r) for r in reps)
    shape = (1,) * (nd - anp.ndim(A)) + anp.shape(A)
    interleaved = anp.reshape(A, tuple(x for d in shape for x in (1, d)))
    spread = anp.broadcast_to(interleaved, tuple(x for r, d in zip(reps, shape) for x in (r, d)))
    return anp.reshape(spread, tuple(r * d for r, d in zip(reps, shape)))


@_implements(np.repeat)
def repeat(a, repeats, axis=None):
    """Repeat each element `repeats` times along `axis` (flattened when None).

    >>> repeat(np.array([1.0, 2.0]), 2)
    array([1., 1., 2., 2.])
    """
    if axis is None:
        a, axis = anp.ravel(a), 0
    nd = anp.ndim(a)
    axis = _axis(axis, nd, "repeat")
    s = anp.shape(a)
    if np.ndim(repeats) == 0:
        r = operator.index(repeats)
        expanded = anp.broadcast_to(anp.expand_dims(a, axis + 1),
                                    s[:axis + 1] + (r,) + s[axis + 1:])
        return anp.reshape(expanded, s[:axis] + (s[axis] * r,) + s[axis + 1:])
    index = np.repeat(np.arange(s[axis]), np.asarray(repeats))
    return a[_index_on(axis, nd, index)]


# ----------------------------------------------------------------------------- flips, rolls
@_implements(np.flip)
def flip(m, axis=None):
    """Reverse the order of elements along `axis` (all axes when None)."""
    m = anp._operand(m)
    nd = anp.ndim(m)
    axes = range(nd) if axis is None else [
        _axis(a, nd, "flip") for a in (axis if isinstance(axis, (tuple, list)) else [axis])]
    if len(set(axes)) != len(axes):
        raise ValueError(f"flip: repeated axis in {axis}")
    index = [slice(None)] * nd
    for a in axes:
        index[a] = slice(None, None, -1)
    return m[tuple(index)]


@_implements(np.fliplr)
def fliplr(m):
    return flip(m, 1)


@_implements(np.flipud)
def flipud(m):
    return flip(m, 0)


@_implements(np.roll)
def roll(a, shift, axis=None):
    """Roll elements along `axis` (flattened when None), as numpy.roll."""
    if axis is None:
        return anp.reshape(roll(anp.ravel(a), shift, 0), anp.shape(a))
    # a shift computed from traced values is read (a compiled tape guards it); an array
    # subclass is kept, so global sparsity detection's masks refuse being read as numbers
    shift = np.asanyarray(primal_value(shift, "roll's shift read as a number"))
    shifts, axes = np.broadcast_arrays(np.atleast_1d(shift), np.atleast_1d(np.asarray(axis)),
                                       subok=True)
    nd = anp.ndim(a)
    moves = {}
    for s, ax in zip(shifts.tolist(), axes.tolist()):
        ax = _axis(ax, nd, "roll") - nd                  # negative: batch axes lead
        n = anp.shape(a)[ax]
        if n:
            moves[ax] = (moves.get(ax, 0) + s) % n
    moves = {ax: s for ax, s in moves.items() if s}
    if not moves or not isinstance(a, Tracer):
        return np.roll(a, tuple(moves.values()), tuple(moves)) if moves else a
    return _structure.roll(a, shift=tuple(moves.values()), axis=tuple(moves))


@_implements(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    """Rotate by 90 degrees `k` times in the plane of `axes`."""
    m = anp._operand(m)
    k %= 4
    if len(axes) != 2:
        raise ValueError("rot90: len(axes) must be 2")
    a0, a1 = (anp._axis(a, anp.ndim(m), "rot90") for a in axes)
    if a0 == a1:
        raise ValueError("rot90: axes must be different")
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    perm = list(range(anp.ndim(m)))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    return anp.transpose(flip(m, a1), perm) if k == 1 else flip(anp.transpose(m, perm), a1)


# ----------------------------------------------------------------------------- diagonals, triangles
def _diagonal_positions(rows: int, cols: int, k: int):
    start_r, start_c = (0, k) if k >= 0 else (-k, 0)
    length = max(0, min(rows - start_r, cols - start_c))
    return np.arange(length) + start_r, np.arange(length) + start_c


@_implements(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    """The `offset` diagonal of the (axis1, axis2) planes, as the last axis (numpy.diagonal).

    >>> diagonal(np.arange(4.0).reshape(2, 2))
    array([0., 3.])
    """
    nd = anp.ndim(a)
    i, j = _axis(axis1, nd, "diagonal"), _axis(axis2, nd, "diagonal")
    if i == j:
        raise ValueError("diagonal: axis1 and axis2 cannot be the same")
    moved = anp.moveaxis(a, (i, j), (-2, -1))
    rows, cols = _diagonal_positions(*anp.shape(moved)[-2:], offset)
    return moved[..., rows, cols]


@_implements(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """Sum of the `offset` diagonal, as numpy.trace."""
    a = anp._operand(a)
    anp._no_out(out, "trace")
    return anp.sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


@_implements(np.diag)
def diag(v, k=0):
    """The k-th diagonal of a matrix, or a matrix with vector `v` on its k-th diagonal.

    >>> diag(np.array([1.0, 2.0]))
    array([[1., 0.],
           [0., 2.]])
    """
    v = anp._operand(v)
    if anp.ndim(v) == 2:
        return diagonal(v, k)
    if anp.ndim(v) != 1:
        raise ValueError("diag: input must be 1-D or 2-D")
    n = anp.shape(v)[0] + abs(k)
    rows, cols = _diagonal_positions(n, n, k)
    if not isinstance(v, Tracer):
        return np.diag(v, k)
    return _structure.index_add(v, index=(rows, cols), shape=(n, n), nbatch=0)


@_implements(np.diagflat)
def diagflat(v, k=0):
    return diag(anp.ravel(v), k)


def _triangle(m, k, lower: bool):
    s = anp.shape(m)
    if len(s) < 2:
        raise ValueError("tril/triu: input must have at least 2 dimensions")
    mask = np.tri(s[-2], s[-1], k, dtype=bool)
    return anp.where(mask if lower else ~mask, m, 0.0)


@_implements(np.tril)
def tril(m, k=0):
    """Lower triangle (entries above the k-th diagonal set to 0)."""
    return _triangle(m, k, True)


@_implements(np.triu)
def triu(m, k=0):
    """Upper triangle (entries below the k-th diagonal set to 0)."""
    return _triangle(m, k - 1, False)


# ----------------------------------------------------------------------------- pad
@_implements(np.pad)
def pad(array, pad_width, mode="constant", constant_values=0.0):
    """Pad each axis; mode 'constant' (scalar or per-axis values), or an index mode
    ('edge', 'reflect', 'symmetric', 'wrap') that gathers existing elements.

    >>> pad(np.array([1.0, 2.0]), 1, constant_values=9.0)
    array([9., 1., 2., 9.])
    """
    nd = anp.ndim(array)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (nd, 2)).tolist()
    if mode == "constant":
        # A traced fill value keeps its derivative: each pad block broadcasts it.
        values = anp.broadcast_to(anp.asarray(constant_values), (nd, 2))
        source = anp._value_dtype(array)       # an integer array keeps its dtype (NumPy
        dtype = source if source.kind in "biu" else float_dtype(array)   # casts the fill)
        for ax, (before, after) in enumerate(widths):
            if before == after == 0:
                continue
            s = anp.shape(array)
            array = anp.concatenate([
                full(s[:ax] + (before,) + s[ax + 1:], values[ax, 0], dtype), array,
                full(s[:ax] + (after,) + s[ax + 1:], values[ax, 1], dtype)], axis=ax)
        return array
    if mode not in ("edge", "reflect", "symmetric", "wrap"):
        raise NotImplementedError(f"ad.numpy.pad: mode={mode!r} is not supported")
    for ax, (before, after) in enumerate(widths):
        if before == after == 0:
            continue
        index = np.pad(np.arange(anp.shape(array)[ax]), (before, after), mode=mode)
        array = array[_index_on(ax, nd, index)]
    return array


# ----------------------------------------------------------------------------- misc
@_implements(np.append)
def append(arr, values, axis=None):
    """`values` appended to `arr` (both flattened when axis is None)."""
    if axis is None:
        return anp.concatenate([anp.ravel(arr), anp.ravel(values)])
    return anp.concatenate([arr, values], axis=axis)


@_implements(np.delete)
def delete(arr, obj, axis=None):
    """`arr` without the entries `obj` along `axis` (flattened when None)."""
    if axis is None:
        arr, axis = anp.ravel(arr), 0
    nd = anp.ndim(arr)
    axis = _axis(axis, nd, "delete")
    keep = np.ones(anp.shape(arr)[axis], dtype=bool)
    keep[obj] = False
    return arr[_index_on(axis, nd, np.flatnonzero(keep))]


@_implements(np.copy)
def copy(a, order="K", subok=False):
    """A copy: traced values are immutable, so the value itself."""
    return a if isinstance(a, Tracer) else np.copy(a, order=order)


@_implements(np.meshgrid)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Coordinate matrices from coordinate vectors, as numpy.meshgrid."""
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    nd = len(xi)
    shapes = [(1,) * i + (-1,) + (1,) * (nd - i - 1) for i in range(nd)]
    if indexing == "xy" and nd > 1:  # the first two axes swap roles
        shapes[0] = (1, -1) + (1,) * (nd - 2)
        shapes[1] = (-1, 1) + (1,) * (nd - 2)
    grids = [anp.reshape(anp.ravel(x), s) for x, s in zip(xi, shapes)]
    if sparse:
        return list(grids)
    return list(broadcast_arrays(*grids))


def full(shape, fill_value, dtype=None):
    """An array of `shape` filled with `fill_value`; a traced fill value keeps its derivative
    (numpy.full cannot take one: it copies the value into a plain array).

    >>> import ad
    >>> float(ad.grad(lambda v: anp.sum(full((2, 3), v)))(1.0))
    6.0
    """
    shape = (operator.index(shape),) if np.ndim(shape) == 0 else tuple(shape)
    if not isinstance(fill_value, Tracer):
        return np.full(shape, fill_value, dtype=dtype)
    if dtype is not None:
        fill_value = anp.astype(fill_value, dtype)
    return anp.broadcast_to(fill_value, shape)


def _copyto(dst, src, casting="same_kind", where=True):
    from ad.errors import InPlaceError
    raise InPlaceError(
        "numpy.copyto would write a traced value into a plain array, dropping its derivative "
        "(numpy.full and numpy.full_like do this with a traced fill value): use "
        "ad.numpy.full(shape, value) or ad.numpy.full_like(a, value), which keep it, or "
        "x.at[index].set(value) to set entries")


FUNCTIONS[np.copyto] = _copyto


@_implements(np.full_like)
def full_like(a, fill_value, dtype=None):
    """An array shaped like `a` filled with `fill_value` (traced or not), of `a`'s dtype
    unless `dtype` is given. Only the fill value carries a derivative."""
    a = anp._operand(a)
    return full(anp.shape(a), fill_value, dtype or np.result_type(primal_value(a)))


@_implements(np.empty_like)
def empty_like(a, dtype=None):
    a = anp._operand(a)
    return np.zeros(anp.shape(a), dtype=dtype or np.result_type(primal_value(a)))



# ----------------------------------------------------------------------------- r_ and c_
class _Concatenator:
    """numpy.r_ / numpy.c_ for arrays and numbers (traced or not): `r_[a, b]` joins them as
    1-D pieces, `c_[a, b]` as columns. Slice and string directives need plain values and
    are handed to NumPy's own."""

    def __init__(self, columns: bool) -> None:
        self.columns = columns

    def __getitem__(self, items):
        items = items if isinstance(items, tuple) else (items,)
        if not any(isinstance(item, Tracer) for item in items):
            return (np.c_ if self.columns else np.r_)[items]
        if any(isinstance(item, (slice, str)) for item in items):
            raise NotImplementedError("ad.numpy.r_/c_: slices and directives need plain values")
        pieces = [anp.atleast_1d(item) for item in items]
        if not self.columns:
            return anp.concatenate(pieces, axis=0)
        pieces = [anp.reshape(p, (-1, 1)) if anp.ndim(p) == 1 else p for p in pieces]
        return anp.concatenate(pieces, axis=-1)


r_ = _Concatenator(columns=False)
c_ = _Concatenator(columns=True)
