"""Sparse Jacobians and Hessians: detection, colouring, compressed evaluation.

    detect      which outputs depend on which inputs (index sets over the tape's iterator)
    coloring    column, row, star and bidirectional colourings; decompression
    evaluate    compressed passes through the block planner, the strategy the cost model
                picks, the per-signature cache behind jacobian(sparse=True)

SciPy (`scipy.sparse`) holds patterns and results: `pip install admodes[sparse]`.
Imports `ad.sparse.detect` here; the rest loads on use.
"""
from __future__ import annotations

from ad.sparse.detect import SparsityError, sparsity

__all__ = ["sparsity", "SparsityError"]
