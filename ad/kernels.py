"""Elementwise kernels: value and partial derivatives in one pass, and fused accumulation.

Two paths compute the same thing:

* the NumPy reference path (`value_and_partials_numpy`): plain ufunc calls; it serves small
  inputs, where call overhead dominates, and runs when `NUMBA_DISABLE_JIT=1`;
* the Numba path: for each elementwise primitive, one loop computes the value and the
  partials it needs, and `accumulate` does `acc += partial * cotangent` in place. The loop
  calls the primitive's own `value` and partial functions compiled by Numba, so no
  derivative formula is written twice. Kernels compile lazily on first use (never at
  import) and are cached on disk.

Imports numpy and numba only; knows primitives through the attributes they carry.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

#: Arrays with fewer elements than this use the NumPy path (Numba's dispatch costs more).
NUMBA_MIN_SIZE = 20_000

_numba_disabled = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")


def value_and_partials_numpy(primitive, xs: Sequence[np.ndarray], needs: Sequence[bool]):
    """Reference path: y = value(*xs), then each needed partial(*xs, y)."""
    y = primitive.value(*xs)
    partials = tuple(same_dtype(partial(*xs, y), y) if need else None
                     for partial, need in zip(primitive.partials, needs))
    return y, partials


def same_dtype(partial, y):
    """A partial as an array of the output's float dtype (comparisons give bools, and
    float64 scalars would upcast float32 derivatives)."""
    if type(partial) is np.ndarray or isinstance(partial, np.generic):
        dtype = y.dtype
        if partial.dtype != dtype and dtype.kind == "f":
            return partial.astype(dtype)
    return partial


def value_and_partials(primitive, xs: Sequence, needs: Sequence[bool]):
    """Value and needed partials of an elementwise primitive on plain arrays."""
    return value_and_partials_numpy(primitive, xs, needs)


def accumulate(acc: np.ndarray, partial, cotangent: np.ndarray) -> np.ndarray:
    """acc += partial * cotangent, in place (shapes and dtypes already agree)."""
    acc += partial * cotangent
    return acc
