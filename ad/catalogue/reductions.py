"""Reductions and scans: max/min (derivative routed to the extremal elements), cumsum,
argmax/argmin (no derivative: their own primitives so a compiled tape recomputes them).

`axis` is always a tuple of non-negative axes of the primal (ad.numpy normalises it); for
cumsum it is one int. max/min split the derivative evenly among tied extremal elements.
sum, the transpose of broadcasting, lives in `structure`; prod, cumprod, var, sort and
friends are compositions in `ad.numpy`. Imports `ad.catalogue.define`,
`ad.catalogue.structure` and `ad.primitive`.
"""
from __future__ import annotations

import math

import numpy as np

from ad.catalogue.define import deflinear, defnondiff, defprimitive
from ad.catalogue.structure import expand, getitem, kept_shape, sum_
from ad.primitive import Counts, primal_value


def _negative(axis, ndim: int) -> tuple[int, ...]:
    """Axes counted from the end, so they stay right when batch axes are prepended."""
    return tuple(a % ndim - ndim for a in axis) if ndim else ()


def _reduce_cost(in_shapes, out_shape, **params) -> Counts:
    n = math.prod(in_shapes[0])
    return Counts(n, n, n, n + math.prod(out_shape))   # the rules read x and its extremum


# ----------------------------------------------------------------------------- max / min
def _weights(out, x, axis, keepdims):
    """Where the extremum was attained, each tied element weighted 1/count (plain array)."""
    kept = out if keepdims else np.reshape(_primal(out), kept_shape(np.shape(x), axis))
    hits = _primal(x) == _primal(kept)
    return hits / np.sum(hits, axis=axis, keepdims=True)


def _primal(value):
    """The innermost value of a traced one: the weights are piecewise constant anyway."""
    return np.asarray(primal_value(value))


def _extremum_jvp(t, out, x, *, axis, keepdims):
    weights = _weights(out, x, axis, keepdims).astype(np.result_type(x), copy=False)
    return sum_(t * weights, axis=_negative(axis, np.ndim(x)), keepdims=keepdims)


def _extremum_vjp(ct, out, x, *, axis, keepdims):
    weights = _weights(out, x, axis, keepdims).astype(np.result_type(x), copy=False)
    return expand(ct, out, x, axis, keepdims) * weights


def _max(x, *, axis, keepdims):
    return np.max(x, axis=axis, keepdims=keepdims)


def _min(x, *, axis, keepdims):
    return np.min(x, axis=axis, keepdims=keepdims)


def _reduce_dependency(i, in_shapes, out_shapes, params):
    """Each result element depends on the elements reduced into it (sparsity detection)."""
    shape = tuple(in_shapes[0])
    axis = params["axis"]
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis) % max(len(shape), 1)
    kept = tuple(1 if a in set(int(k) for k in axes) else d for a, d in enumerate(shape))
    rows = np.broadcast_to(np.arange(math.prod(kept)).reshape(kept), shape)
    return [(rows.ravel(), np.arange(math.prod(shape)))]


def _extremum_lowering(which: str):
    """max/min for a compiled tape: one interpreter op reducing each element into its
    result element (the map of `_reduce_dependency`), splitting the derivative evenly
    among ties as `_weights` does."""
    def lowering(emit, args, *, axis, keepdims):
        (x,) = args
        shape = emit.shapes[x]
        (rows, _), = _reduce_dependency(0, [shape], None, {"axis": axis})
        return emit.extremum(x, rows, emit.out_shape, which)
    return lowering


amax = defprimitive("max", _max, jvp=(_extremum_jvp,), vjp=(_extremum_vjp,), cost=_reduce_cost,
                    batched=True, dependency=_reduce_dependency)
amin = defprimitive("min", _min, jvp=(_extremum_jvp,), vjp=(_extremum_vjp,), cost=_reduce_cost,
                    batched=True, dependency=_reduce_dependency)
amax.lowering, amin.lowering = _extremum_lowering("max"), _extremum_lowering("min")


# ----------------------------------------------------------------------------- argmax / argmin
def _index_lowering(which: str):
    """argmax/argmin for a compiled tape, recomputed at every replay (an index taken from
    it is guarded, a comparison with it is recomputed too: never baked in): of the
    flattened array, or along an axis (each element's result from `_reduce_dependency`,
    its position its index along that axis)."""
    def lowering(emit, args, *, axis, keepdims):
        (x,) = args
        if axis is None and not keepdims:
            return emit.index_of(x, which)
        shape = emit.shapes[x]
        (rows, _), = _reduce_dependency(0, [shape], None, {"axis": axis})
        positions = np.indices(shape)[axis % len(shape)] if axis is not None else \
            np.arange(math.prod(shape)).reshape(shape)
        return emit.index_of(x, which, rows, positions, emit.out_shape)
    return lowering


def _argmax(x, *, axis, keepdims):
    return np.argmax(x, axis=axis, keepdims=keepdims)


def _argmin(x, *, axis, keepdims):
    return np.argmin(x, axis=axis, keepdims=keepdims)


argmax = defnondiff("argmax", _argmax, arity=1, lowering=_index_lowering("max"))
argmin = defnondiff("argmin", _argmin, arity=1, lowering=_index_lowering("min"))


# ----------------------------------------------------------------------------- cumsum
def _cumsum(x, *, axis):
    return np.cumsum(x, axis=axis)


def _reverse(x, axis: int):
    """x reversed along the (negative) `axis`, as a getitem (so it differentiates again)."""
    index = [slice(None)] * np.ndim(x)
    index[axis] = slice(None, None, -1)
    return getitem(x, index=tuple(index), nbatch=0)


def _cumsum_batch(params, batch, in_shapes):
    return {"axis": params["axis"] % len(in_shapes[0]) + len(batch)}


def _cumsum_transpose(ct, out, x, *, axis):
    # The transpose of a running sum is the running sum taken from the other end.
    axis = axis % x.ndim - x.ndim
    return _reverse(cumsum(_reverse(ct, axis), axis=axis % len(np.shape(ct))), axis)


def _cumsum_cost(in_shapes, out_shape, **params) -> Counts:
    n = math.prod(in_shapes[0])
    return Counts(n, n, n, 0)


cumsum = deflinear("cumsum", _cumsum, transpose=(_cumsum_transpose,), batch=_cumsum_batch,
                   cost=_cumsum_cost, complex="holomorphic")
