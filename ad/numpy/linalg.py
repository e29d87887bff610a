"""`ad.numpy.linalg`: linear algebra on traced values (norm for now).

Imports `ad.numpy` functions only.
"""
from __future__ import annotations

import numpy as _np

from ad import numpy as _anp
from ad.primitive import FUNCTIONS as _FUNCTIONS


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """Vector 2-norm (Frobenius for matrices when ord is None); 0 at the origin, no NaN."""
    if ord not in (None, 2, "fro") or (ord == 2 and _anp.ndim(x) > 1 and axis is None):
        raise NotImplementedError(f"ad.numpy.linalg.norm: ord={ord!r} is not supported yet")
    squares = _anp.sum(x * x, axis=axis, keepdims=keepdims)
    return _anp.sqrt(squares + (squares == 0)) * (squares != 0)


_FUNCTIONS[_np.linalg.norm] = norm
