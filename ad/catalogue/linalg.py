"""Products: matmul (the bilinear workhorse of dot, inner, outer and tensordot).

`matmul` here takes arrays of two or more dimensions (ad.numpy promotes vectors), so
batch axes on tangents broadcast like NumPy's stacked matrices. Imports
`ad.catalogue.define`, `ad.catalogue.structure` and `ad.primitive`.
"""
from __future__ import annotations

import numpy as np

from ad.catalogue.define import align, defprimitive, unbroadcast
from ad.catalogue.structure import transpose
from ad.primitive import Counts


def _swap_last(x):
    """The matrix transpose of each stacked matrix (last two axes swapped)."""
    n = np.ndim(x)
    return transpose(x, axes=tuple(range(n - 2)) + (n - 1, n - 2))


def _matmul_jvp_a(t, out, a, b):
    return matmul(align(t, np.ndim(a), np.ndim(out)), b)


def _matmul_jvp_b(t, out, a, b):
    return matmul(a, align(t, np.ndim(b), np.ndim(out)))


def _matmul_vjp_a(ct, out, a, b):
    full = np.shape(out)[:-2] + np.shape(a)[-2:]
    return unbroadcast(matmul(ct, _swap_last(b)), np.shape(a), full)


def _matmul_vjp_b(ct, out, a, b):
    full = np.shape(out)[:-2] + np.shape(b)[-2:]
    return unbroadcast(matmul(_swap_last(a), ct), np.shape(b), full)


def _matmul_cost(in_shapes, out_shape, **params) -> Counts:
    inner = in_shapes[0][-1]
    n_out = int(np.prod(out_shape, dtype=np.int64))
    flops = 2 * inner * n_out
    saved = sum(int(np.prod(s, dtype=np.int64)) for s in in_shapes)
    return Counts(flops, 2 * flops, 2 * flops, saved)


def _matmul(a, b):
    return np.matmul(a, b)


matmul = defprimitive("matmul", _matmul, jvp=(_matmul_jvp_a, _matmul_jvp_b),
                      vjp=(_matmul_vjp_a, _matmul_vjp_b), cost=_matmul_cost)
