"""`ad.nn`: a small neural-network kit on top of `ad`, used by the notebooks.

    init        the ten PyTorch initialisers and calculate_gain (plain NumPy, data only)
    functional  stable activations, log-probabilities, losses, linear/conv2d, pooling
                (ad.numpy operations: differentiable in both modes, to any order)
    optim       SGD and Adam over pytrees (init / update objects)

May import `ad.numpy`, `ad.tree`, `ad.primitive` (for `primal_value`); nothing in `ad`
imports it except the package's `__init__`.

>>> import numpy as np, ad
>>> from ad.nn import functional as F
>>> float(ad.grad(lambda z: F.softmax_cross_entropy(z, [1]))(np.array([[0.0, 0.0]]))[0, 1])
-0.5
"""
from __future__ import annotations

from ad.nn import functional, init, optim  # noqa: F401

__all__ = ["functional", "init", "optim"]
