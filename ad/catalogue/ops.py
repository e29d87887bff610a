"""Catalogue-level operations that rules are written with (beside the primitives).

Each is a primitive or a short composition of primitives, on stacks of matrices where it
matters (the last two axes), so a rule written with them differentiates again and handles
leading batch axes. Rules import these, never `ad.numpy` (which is built on the catalogue)
and never a primitive by its name.

Imports `ad.catalogue.structure`, `ad.catalogue.elementwise` and `ad.primitive`.
"""
from __future__ import annotations

import numpy as np

from ad.catalogue.elementwise import where
from ad.catalogue.structure import (broadcast_to, concatenate, getitem, normalize_index,
                                    reshape, sum_, transpose)
from ad.primitive import primal_value, shape_of, value_dtype

__all__ = ["reshape", "broadcast_to", "concatenate", "where", "getitem", "expand_dims",
           "swap_last", "diagonal", "trace", "tril", "triu", "primal_value",
           "dtype_of"]


def expand_dims(x, axis):
    """x with new axes of length 1 at `axis` (an int or a tuple, counted in the result)."""
    shape = shape_of(x)
    axes = axis if isinstance(axis, tuple) else (axis,)
    ndim = len(shape) + len(axes)
    positions = {a % ndim for a in axes}
    rest = iter(shape)
    return reshape(x, shape=tuple(1 if k in positions else next(rest) for k in range(ndim)))


def swap_last(x):
    """The matrix transpose of each stacked matrix (last two axes swapped)."""
    n = len(shape_of(x))
    return transpose(x, axes=tuple(range(n - 2)) + (n - 1, n - 2))


def diagonal(x):
    """The main diagonals of stacked matrices (..., m, n) -> (..., min(m, n))."""
    shape = shape_of(x)
    k = np.arange(min(shape[-2:]))
    return getitem(x, index=normalize_index((Ellipsis, k, k), len(shape)), nbatch=0)


def trace(x):
    """The traces of stacked matrices (..., n, n) -> (...)."""
    d = diagonal(x)
    return sum_(d, axis=(len(shape_of(d)) - 1,), keepdims=False)


def tril(x, k: int = 0):
    """Stacked matrices with the entries above the k-th diagonal set to 0."""
    m, n = shape_of(x)[-2:]
    return where(np.tri(m, n, k, dtype=bool), x, 0.0)


def triu(x, k: int = 0):
    """Stacked matrices with the entries below the k-th diagonal set to 0."""
    m, n = shape_of(x)[-2:]
    return where(~np.tri(m, n, k - 1, dtype=bool), x, 0.0)


def dtype_of(x) -> np.dtype:
    """The dtype of a value under any number of tracing levels."""
    return value_dtype(x)
