"""Hypothesis strategies built from the catalogue's domains, for `ad`'s tests and yours.

Not imported by `ad` itself (it needs hypothesis, a test dependency).

>>> import ad
>>> from ad.testing import arguments_for
>>> strategy = arguments_for(ad.primitives["log"])
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: Values are drawn this far inside a domain's bounds (finite differences need room).
MARGIN = 0.15
#: Unbounded domains are sampled within +-LIMIT.
LIMIT = 2.5


def sample(domain, shape, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """Values of `shape` inside `domain`: (lo, hi) or "nonzero" (|x| >= 0.3)."""
    if domain == "nonzero":
        magnitude = rng.uniform(0.3, LIMIT, size=shape)
        return (magnitude * rng.choice([-1.0, 1.0], size=shape)).astype(dtype)
    lo, hi = domain
    lo = max(lo, -LIMIT) + (MARGIN if math.isfinite(lo) else 0.0)
    hi = min(hi, LIMIT) - (MARGIN if math.isfinite(hi) else 0.0)
    if not math.isfinite(domain[1]) and math.isfinite(domain[0]):
        hi = domain[0] + LIMIT + 0.5
    return rng.uniform(lo, hi, size=shape).astype(dtype)


@st.composite
def broadcastable_shapes(draw, count: int, max_dims: int = 3, max_side: int = 4):
    """`count` mutually broadcastable shapes (scalars included)."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=count, min_dims=0,
                                                     max_dims=max_dims, max_side=max_side))
    return shapes.input_shapes


@st.composite
def arguments_for(draw, primitive, dtype=np.float64):
    """A tuple of in-domain arrays with broadcastable shapes for an elementwise primitive."""
    shapes = draw(broadcastable_shapes(primitive.arity))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    return tuple(sample(d, s, rng, dtype) for d, s in zip(primitive.domain, shapes))
