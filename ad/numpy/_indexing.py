"""Gathers and the functional update: take, take_along_axis, select, and `x.at[idx]`.

Traced values are immutable (`x[i] = v` raises `InPlaceError`); `x.at[idx].set(v)` (or
`ad.numpy.at(x)[idx]...` for a plain array) returns an updated copy instead. Indices are
resolved by NumPy itself on an array of flat positions, so every index NumPy accepts
(ints, slices with steps, negative indices, integer arrays, boolean masks, None, Ellipsis
and combinations) means the same here. Repeated indices follow `np.add.at`: `add` and
`multiply` apply once per occurrence, `set` keeps the last value written (as NumPy's
`x[idx] = v` does). Everything is built from getitem, index_add and where.
Imports `ad.numpy` (the package), `ad.catalogue.structure` and `ad.primitive`.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ad import numpy as anp
from ad.catalogue import structure as _structure
from ad.catalogue.structure import _is_basic, normalize_index
from ad.numpy import _implements
from ad.primitive import FUNCTIONS, Tracer, primal_value, value_dtype

__all__ = ["take", "take_along_axis", "select", "at", "index_update", "index_add"]


# ----------------------------------------------------------------------------- gathers
@_implements(np.take)
def take(a, indices, axis=None, out=None, mode="raise"):
    """Elements of `a` at integer `indices` along `axis` (flattened when None).

    >>> take(np.array([1.0, 2.0, 3.0]), [2, 0])
    array([3., 1.])
    """
    anp._no_out(out, "take")
    if axis is None:
        a, axis = anp.ravel(a), 0
    nd = anp.ndim(a)
    axis = anp._axis(axis, nd, "take")
    n = anp.shape(a)[axis]
    indices = np.asarray(primal_value(indices))
    # [] is a float array: no index; booleans are the indices 0 and 1 (not a mask), as
    # NumPy takes them
    if indices.size == 0 or indices.dtype == bool:
        indices = indices.astype(np.intp)
    if mode == "wrap":
        indices = indices % n
    elif mode == "clip":
        indices = np.clip(indices, 0, n - 1)
    elif mode != "raise":
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', not {mode!r}")
    return a[(slice(None),) * axis + (indices,)]


@_implements(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    """Gather along `axis` with an index array of the same rank (numpy.take_along_axis).

    >>> x = np.array([[3.0, 1.0], [2.0, 4.0]])
    >>> take_along_axis(x, np.argsort(x, axis=1), axis=1)
    array([[1., 3.],
           [2., 4.]])
    """
    if axis is None:
        arr, axis = anp.ravel(arr), 0
    indices = np.asarray(primal_value(indices))
    nd = anp.ndim(arr)
    if indices.ndim != nd:
        raise ValueError(f"take_along_axis: indices has {indices.ndim} dimensions but the "
                         f"array has {nd}; they must match")
    axis = anp._axis(axis, nd, "take_along_axis")
    index = tuple(indices if d == axis else
                  np.arange(n).reshape((1,) * d + (n,) + (1,) * (nd - d - 1))
                  for d, n in enumerate(anp.shape(arr)))
    return arr[index]


@_implements(np.select)
def select(condlist, choicelist, default=0.0):
    """The first choice whose condition holds, elementwise (nested `where`)."""
    condlist, choicelist = list(condlist), list(choicelist)
    if len(condlist) != len(choicelist):
        raise ValueError("select: list of cases must be same length as list of conditions")
    if not condlist:
        raise ValueError("select with an empty condition list is not possible")
    for k, condition in enumerate(condlist):     # as NumPy: masks, not truthy values
        if np.asarray(primal_value(condition)).dtype != np.bool_:
            raise TypeError(f"select: invalid entry {k} in condlist: should be boolean "
                            f"ndarray")
    result = default
    for condition, choice in reversed(list(zip(condlist, choicelist))):
        result = anp.where(condition, choice, result)
    return result


# ----------------------------------------------------------------------------- functional update
def _positions(shape: tuple[int, ...], index) -> np.ndarray:
    """Flat position of every element `index` selects (NumPy resolves the index)."""
    return np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)[index]


def _as_dtype_of(x, values):
    """Values cast to x's float dtype, as NumPy's assignment would (no silent upcast)."""
    dtype = value_dtype(x)
    if dtype.kind == "f" and value_dtype(values).kind == "c":
        raise TypeError(f"cannot write complex values into a real array (dtype {dtype}), as "
                        "NumPy's assignment refuses; make x complex first (x.astype(complex))")
    if dtype.kind == "f" and value_dtype(values).kind in "fiub" and \
            value_dtype(values) != dtype:
        return anp.astype(values, dtype)
    return values


class _Update:
    """`x.at[index]`: the pending update; each method returns a new array."""

    __slots__ = ("x", "index")

    def __init__(self, x, index) -> None:
        self.x = x
        self.index = index

    def _values(self, values, positions):
        values = _as_dtype_of(self.x, values)
        extra = anp.ndim(values) - len(positions.shape)
        if extra > 0 and all(d == 1 for d in anp.shape(values)[:extra]):
            # leading axes of length 1 beyond the target's, as NumPy's assignment drops
            values = anp.reshape(values, anp.shape(values)[extra:])
        return anp.broadcast_to(values, positions.shape)

    def get(self):
        """x[index]."""
        return self.x[self.index]

    def add(self, values):
        """x with `values` added at `index` (repeated indices add repeatedly)."""
        shape = anp.shape(self.x)
        positions = _positions(shape, self.index)
        values = self._values(values, positions)
        normalized = normalize_index(self.index, len(shape))
        if _is_basic(normalized):
            delta = _structure.index_add(values, index=normalized, shape=shape, nbatch=0)
        else:  # integer arrays: flat positions, so repeats accumulate (np.add.at)
            size = int(np.prod(shape, dtype=np.int64))
            delta = anp.reshape(_structure.index_add(anp.ravel(values), index=(positions.ravel(),),
                                                    shape=(size,), nbatch=0), shape)
        return self.x + delta

    def subtract(self, values):
        """x with `values` subtracted at `index`."""
        return self.add(-values if isinstance(values, Tracer) else -np.asarray(values))

    def _combine(self, values, op: Callable[[Any, Any], Any], last_only: bool):
        """out = where(hit, op(out, scattered values), out), once per occurrence rank."""
        shape = anp.shape(self.x)
        size = int(np.prod(shape, dtype=np.int64))
        positions = _positions(shape, self.index).ravel()
        flat_values = anp.ravel(self._values(values, _positions(shape, self.index)))
        order = np.argsort(positions, kind="stable")
        ranked = positions[order]
        starts = np.r_[True, ranked[1:] != ranked[:-1]] if ranked.size else ranked.astype(bool)
        group_start = np.maximum.accumulate(np.where(starts, np.arange(ranked.size), 0))
        rank = np.empty_like(positions)
        rank[order] = np.arange(ranked.size) - group_start
        if last_only:  # NumPy's x[idx] = v: the last occurrence wins
            ends = np.r_[ranked[1:] != ranked[:-1], True] if ranked.size else starts
            rounds = [np.sort(order[ends])]
        else:
            rounds = [np.flatnonzero(rank == k) for k in range(int(rank.max(initial=-1)) + 1)]
        out = self.x
        for chosen in rounds:
            where_at = positions[chosen]
            hit = np.zeros(size, dtype=bool)
            hit[where_at] = True
            scattered = anp.reshape(_structure.index_add(
                flat_values[chosen], index=(where_at,), shape=(size,), nbatch=0), shape)
            hit = hit.reshape(shape)
            # 1 where nothing is written, so the discarded branch has finite derivatives
            scattered = anp.where(hit, scattered, 1.0)
            out = anp.where(hit, op(out, scattered), out)
        return out

    def set(self, values):
        """x with `values` written at `index`.

        >>> import numpy as np
        >>> at(np.zeros(3))[1].set(5.0)
        array([0., 5., 0.])
        """
        return self._combine(values, _second, last_only=True)

    def multiply(self, values):
        """x multiplied by `values` at `index`."""
        return self._combine(values, anp.multiply, last_only=False)

    def divide(self, values):
        """x divided by `values` at `index`."""
        return self._combine(values, anp.true_divide, last_only=False)

    def power(self, values):
        """x raised to `values` at `index`."""
        return self._combine(values, anp.power, last_only=False)

    def min(self, values):
        """minimum(x, values) at `index`."""
        return self._combine(values, anp.minimum, last_only=False)

    def max(self, values):
        """maximum(x, values) at `index`."""
        return self._combine(values, anp.maximum, last_only=False)


def _second(old, new):
    return new


class _At:
    """The helper behind `x.at`: index it to get an update."""

    __slots__ = ("x",)

    def __init__(self, x) -> None:
        self.x = x

    def __getitem__(self, index) -> _Update:
        return _Update(self.x, index)


def at(x) -> _At:
    """Functional updates of `x` (traced or plain): `at(x)[idx].set(v)`, `.add(v)`, ...

    Traced values have the same helper as the property `x.at`.

    >>> import numpy as np
    >>> at(np.ones(3))[np.array([0, 0])].add(1.0)
    array([3., 1., 1.])
    """
    return _At(x if isinstance(x, Tracer) else np.asarray(x))


FUNCTIONS["at"] = at


def index_update(x, index, values):
    """`x` with `values` written at `index` (the same as `at(x)[index].set(values)`)."""
    return at(x)[index].set(values)


def index_add(x, index, values):
    """`x` with `values` added at `index` (the same as `at(x)[index].add(values)`)."""
    return at(x)[index].add(values)
