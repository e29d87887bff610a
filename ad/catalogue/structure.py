"""Structural primitives, in transpose pairs: reshape, broadcast_to and sum, transpose,
getitem and index_add, concatenate; and the broadcasting helpers built on them.

All are linear (`deflinear`): each gives its transpose, and its JVP is itself applied to
the tangent. Tangents and cotangents may carry leading batch axes (vector mode): each
primitive's `batch` rule shifts its parameters past them, and the transposes read the batch
from the cotangent. `getitem`/`index_add` take an index already made explicit by
`normalize_index` (no Ellipsis, one entry per axis) and an `nbatch` count of leading axes
the index skips. `sum` takes a tuple of non-negative axes (ad.numpy normalises them).

`align` and `unbroadcast` are how every broadcasting rule (elementwise primitives, where,
matmul) moves between an argument's shape and the output's. Imports
`ad.catalogue.define`, `ad.kernels` (the scatter-add kernel) and `ad.primitive`.
"""
from __future__ import annotations

import math

import numpy as np

from ad import kernels
from ad.catalogue.define import deflinear
from ad.primitive import PRIMITIVES, Counts, Tracer, primal_value, shape_of


def _copy_cost(in_shapes, out_shape, **params) -> Counts:
    """Data movement only: no flops for the value, one pass over the data per derivative."""
    size = math.prod(out_shape)
    return Counts(0, size, size, 0)


def _batch_ndim(ct, out) -> int:
    """How many leading batch axes a cotangent carries beyond the output's own."""
    return len(shape_of(ct)) - out.ndim


# ----------------------------------------------------------------------------- reshape
def _reshape(x, *, shape):
    return np.reshape(x, shape)


def _reshape_batch(params, batch, in_shapes):
    return {"shape": batch + tuple(params["shape"])}


def _reshape_transpose(ct, out, x, *, shape):
    return reshape(ct, shape=shape_of(ct)[:_batch_ndim(ct, out)] + x.shape)


reshape = deflinear("reshape", _reshape, transpose=(_reshape_transpose,), batch=_reshape_batch,
                    cost=_copy_cost, identity_seed="keeps", lowering="gather",
                    complex="holomorphic")


# ----------------------------------------------------------------------------- broadcast_to
def _broadcast_to(x, *, shape):
    return np.broadcast_to(x, shape)


def _broadcast_transpose(ct, out, x, *, shape):
    return unbroadcast(ct, x.shape, tuple(shape))


broadcast_to = deflinear("broadcast_to", _broadcast_to, transpose=(_broadcast_transpose,),
                         batch=_reshape_batch, broadcasting=True, cost=_copy_cost,
                         lowering="gather", complex="holomorphic")


# ----------------------------------------------------------------------------- sum
def _sum(x, *, axis, keepdims):
    return np.sum(x, axis=axis, keepdims=keepdims)


def _after_batch(axis: int, nbatch: int) -> int:
    """An axis of the unbatched operand as an axis of the batched one: a negative axis
    counts from the end and stays; a non-negative one moves past the leading batch axes."""
    return axis if axis < 0 else axis + nbatch


def _shift_axes(params, batch, in_shapes):
    return dict(params, axis=tuple(_after_batch(a, len(batch)) for a in params["axis"]))


def kept_shape(shape, axis) -> tuple[int, ...]:
    """`shape` with the reduced `axis` kept as 1s."""
    axes = {a % len(shape) for a in axis} if shape else set()
    return tuple(1 if a in axes else d for a, d in enumerate(shape))


def expand(ct, out, x, axis, keepdims):
    """The cotangent of a reduction over `axis` broadcast back to batch + x's shape."""
    batch = shape_of(ct)[:_batch_ndim(ct, out)]
    if not keepdims:
        ct = reshape(ct, shape=batch + kept_shape(x.shape, axis))
    return broadcast_to(ct, shape=batch + tuple(x.shape))


def _sum_transpose(ct, out, x, *, axis, keepdims):
    return expand(ct, out, x, axis, keepdims)


def _reduce_cost(in_shapes, out_shape, **params) -> Counts:
    n = math.prod(in_shapes[0])
    return Counts(n, n, n, 0)


sum_ = deflinear("sum", _sum, transpose=(_sum_transpose,), batch=_shift_axes, cost=_reduce_cost,
                 lowering="scatter", complex="holomorphic")


# ----------------------------------------------------------------------------- transpose
def _shifted(axes, nb: int) -> tuple[int, ...]:
    return tuple(range(nb)) + tuple(nb + a for a in axes)


def _transpose(x, *, axes):
    return np.transpose(x, axes)


def _transpose_batch(params, batch, in_shapes):
    ndim = len(in_shapes[0])
    return {"axes": _shifted([a % ndim for a in params["axes"]], len(batch))}


def _transpose_transpose(ct, out, x, *, axes):
    return transpose(ct, axes=_shifted(np.argsort(axes).tolist(), _batch_ndim(ct, out)))


transpose = deflinear("transpose", _transpose, transpose=(_transpose_transpose,),
                      batch=_transpose_batch, cost=_copy_cost, lowering="gather",
                      complex="holomorphic")


# ----------------------------------------------------------------------------- roll
def _roll(x, *, shift, axis):
    return np.roll(x, shift, axis)


def _roll_transpose(ct, out, x, *, shift, axis):
    # axes are negative (ad.numpy makes them so), so leading batch axes need no shift
    return roll(ct, shift=tuple(-s for s in shift), axis=axis)


# One gather, where slices and a concatenate were three entries; its transpose is the roll
# back (no scatter-add).
roll = deflinear("roll", _roll, transpose=(_roll_transpose,), cost=_copy_cost,
                 lowering="gather", complex="holomorphic")


# ----------------------------------------------------------------------------- indexing
def normalize_index(index, ndim: int) -> tuple:
    """Make an index explicit: a tuple with no Ellipsis that names every axis.

    Lists become integer arrays; integer and boolean arrays are checked; traced values are
    refused (an index carries no derivative).
    """
    if not isinstance(index, tuple):
        index = (index,)
    items = []
    for item in index:
        if isinstance(item, Tracer) and item.dtype.kind in "iub":
            # an index computed from traced values without a derivative (argmax, a mask,
            # on a compiled tape's recording): read, so the replay guards it
            item = primal_value(item)
        if isinstance(item, Tracer):
            raise TypeError(f"cannot index with a traced value of dtype {item.dtype}; indices "
                            "carry no derivative: use ad.stop_gradient(...) and an integer dtype")
        if isinstance(item, (list, np.ndarray)) or (
                isinstance(item, np.generic) and item.dtype.kind == "b"):
            item = np.asarray(item)
            if item.size == 0 and item.dtype.kind == "f":   # [] picks nothing, as in NumPy
                item = item.astype(np.intp)
            if item.dtype.kind not in "iub":
                raise IndexError(f"arrays used as indices must be integer or boolean, "
                                 f"not {item.dtype}")
            if item.dtype.kind == "u":
                item = item.astype(np.intp)
        elif isinstance(item, bool):
            item = np.asarray(item)
        items.append(item)
    used = sum(0 if item is None else (item.ndim if isinstance(item, np.ndarray)
                                       and item.dtype.kind == "b" else 1)
               for item in items if item is not Ellipsis)
    if used > ndim:
        raise IndexError(f"too many indices: {used} for a value with {ndim} dimensions")
    if sum(item is Ellipsis for item in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    fill = [slice(None)] * (ndim - used)
    if Ellipsis in [i for i in items if not isinstance(i, np.ndarray)]:
        at = next(k for k, i in enumerate(items) if not isinstance(i, np.ndarray) and i is Ellipsis)
        if not fill and _advanced(items[:at], items) and _advanced(items[at + 1:], items):
            # NumPy puts separated advanced indices' axes first even where the ellipsis
            # covers no axis; without it they would be adjacent (their axes in place)
            raise IndexError("an ellipsis covering no axis between advanced (array) indices "
                             "is not supported on traced values; drop the ellipsis or move "
                             "the indices together")
        items[at:at + 1] = fill
    else:
        items.extend(fill)
    return tuple(items)


def _advanced(part, items) -> bool:
    """Whether `part` holds an advanced index: an array, or an integer when `items` has an
    array (NumPy then takes integers as advanced too)."""
    arrays = any(isinstance(i, np.ndarray) for i in items)
    return any(isinstance(i, np.ndarray) or (arrays and isinstance(i, (int, np.integer))
                                             and not isinstance(i, bool)) for i in part)


def _is_basic(index: tuple) -> bool:
    """Slices, ints, None and boolean masks: every position is written at most once."""
    return all(not isinstance(i, np.ndarray) or i.dtype.kind == "b" for i in index)


def _batch_last(x, nbatch: int):
    return np.moveaxis(x, tuple(range(nbatch)), tuple(range(-nbatch, 0)))


def _batch_first(x, nbatch: int):
    return np.moveaxis(x, tuple(range(-nbatch, 0)), tuple(range(nbatch)))


def _getitem(x, *, index, nbatch):
    if nbatch == 0:
        return x[index]
    # Batch axes go last so that advanced indices keep NumPy's placement rules.
    return _batch_first(_batch_last(x, nbatch)[index + (slice(None),) * nbatch], nbatch)


def _positions(index: tuple, shape: tuple) -> np.ndarray:
    """Per element of x[index], its flat position in x (of `shape`): NumPy's own indexing
    of an arange, so every mix of slices and index arrays places them as NumPy does."""
    return np.arange(math.prod(shape), dtype=np.intp).reshape(shape)[index].ravel()


def _scatter_rows(out, index: tuple, shape: tuple, values) -> None:
    """out[..., index] += values for an `out` of batch + shape (C-contiguous) and values of
    batch + x[index].shape, repeated positions summed: one kernel pass over the block."""
    if out.size == 0:
        return
    positions = _positions(index, shape)
    rows = out.size // math.prod(shape)
    kernels.scatter_add(out.reshape(rows, -1), positions,
                        np.ascontiguousarray(values, dtype=out.dtype).reshape(rows, -1))


def _index_add(values, *, index, shape, nbatch):
    batch = np.shape(values)[:nbatch]
    dtype = np.result_type(values, np.float32)
    if not _is_basic(index):   # repeats are summed: the block's scatter kernel
        out = np.zeros(batch + tuple(shape), dtype=dtype)
        _scatter_rows(out, index, tuple(shape), values)
        return out
    out = np.zeros(tuple(shape) + batch, dtype=dtype)
    moved = _batch_last(values, nbatch) if nbatch else values
    out[index + (slice(None),) * nbatch] += moved
    return _batch_first(out, nbatch) if nbatch else out


def _more_batch(params, batch, in_shapes):
    return dict(params, nbatch=params["nbatch"] + len(batch))


def _getitem_transpose(ct, out, x, *, index, nbatch):
    return index_add(ct, index=index, shape=x.shape[nbatch:],
                     nbatch=nbatch + _batch_ndim(ct, out))


def _index_add_transpose(ct, out, values, *, index, shape, nbatch):
    return getitem(ct, index=index, nbatch=nbatch + _batch_ndim(ct, out))


def _index_cost(in_shapes, out_shape, **params) -> Counts:
    moved = math.prod(out_shape)
    return Counts(0, moved, moved, 0)


def _getitem_accumulate(acc, ct, out, x, *, index, nbatch):
    """acc[index] += ct in place (the sweep owns acc): a scatter without a full buffer."""
    if (type(acc) is not np.ndarray or type(ct) is not np.ndarray or acc.dtype != ct.dtype
            or not acc.flags.writeable):
        return None
    nb = nbatch + _batch_ndim(ct, out)
    if not _is_basic(index):
        if not acc.flags.c_contiguous:
            return None
        _scatter_rows(acc, index, acc.shape[nb:], ct)
        return acc
    view = _batch_last(acc, nb) if nb else acc
    view[index + (slice(None),) * nb] += _batch_last(ct, nb) if nb else ct
    return acc


getitem = deflinear("getitem", _getitem, transpose=(_getitem_transpose,), batch=_more_batch,
                    cost=_index_cost, accumulate=_getitem_accumulate, fresh_transpose=True,
                    lowering="gather", complex="holomorphic")
index_add = deflinear("index_add", _index_add, transpose=(_index_add_transpose,),
                      batch=_more_batch, cost=_index_cost, dependency="scatter",
                      complex="holomorphic")


# ----------------------------------------------------------------------------- concatenate
def _concatenate(*xs, axis):
    return np.concatenate(xs, axis=axis)


def _concatenate_batch(params, batch, in_shapes):
    return {"axis": _after_batch(params["axis"], len(batch))}


#: The pieces' starts of the last concatenate transposed, by its arguments' tuple (the
#: entry's own residual: the same object for all its pieces, and only Avals, so holding it
#: keeps no array alive): a sweep asks for every piece's cotangent in turn.
_last_starts: tuple = ((), ())


def _piece_starts(xs: tuple, axis: int) -> list[int]:
    global _last_starts
    known, starts = _last_starts
    if known is not xs:
        starts = [0]
        for x in xs:
            starts.append(starts[-1] + x.shape[axis])
        _last_starts = (xs, starts)
    return starts


def _concatenate_transpose(i, ct, out, xs, *, axis):
    starts = _piece_starts(xs, axis)
    index = tuple(slice(starts[i], starts[i + 1]) if a == axis else slice(None)
                  for a in range(out.ndim))
    return getitem(ct, index=index, nbatch=_batch_ndim(ct, out))


concatenate = deflinear("concatenate", _concatenate, transpose=_concatenate_transpose,
                        batch=_concatenate_batch, variadic=True, cost=_copy_cost,
                        lowering="scatter", complex="holomorphic")


def _concatenate_lowering(emit, args: list[int], *, axis: int) -> int:
    """A compiled tape concatenates in a balanced tree of pairs, level by level: each
    level moves every element once (O(n log k) for k pieces of n elements in all), where
    scattering each piece into a whole result and adding the k results was O(n k) in time
    and arena. A pair is two scatters into its own block (from -0.0, as parts of a sum)
    and their sum."""
    add = PRIMITIVES["add"]
    axis %= max(len(emit.shapes[args[0]]), 1)      # (ad.numpy passes it non-negative)
    level = list(args)
    while len(level) > 1:
        paired = []
        for first, second in zip(level[::2], level[1::2]):
            a, b = emit.shapes[first], emit.shapes[second]
            shape = a[:axis] + (a[axis] + b[axis],) + a[axis + 1:]
            positions = np.arange(math.prod(shape)).reshape(shape)
            cut = (slice(None),) * axis
            parts = [emit.scatter(piece, positions[cut + (block,)], shape, concatenate,
                                  part=True)
                     for piece, block in ((first, slice(0, a[axis])),
                                          (second, slice(a[axis], None)))]
            paired.append(emit(add, *parts))
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    if len(args) > 1:
        return level[0]
    # one piece: a copy (from -0.0 too, so that a -0.0 stays -0.0, as in NumPy's copy)
    return emit.scatter(args[0], np.arange(math.prod(emit.shapes[args[0]])),
                        emit.shapes[args[0]], concatenate, part=True)


concatenate.lowering = _concatenate_lowering


# ----------------------------------------------------------------------------- broadcasting
def align(tangent, in_ndim: int, out_ndim: int):
    """Insert axes after the batch axes so an input's tangent broadcasts like its primal."""
    extra = out_ndim - in_ndim
    if extra <= 0:
        return tangent
    shape = shape_of(tangent)
    nb = len(shape) - in_ndim
    if nb == 0:
        return tangent
    return reshape(tangent, shape=shape[:nb] + (1,) * extra + shape[nb:])


def unbroadcast(cotangent, in_shape: tuple, out_shape: tuple):
    """Sum a cotangent of shape batch + out_shape down to batch + in_shape."""
    shape = shape_of(cotangent)
    if shape == in_shape:
        return cotangent
    nb = len(shape) - len(out_shape)
    if shape[nb:] == in_shape:
        return cotangent
    lead = len(out_shape) - len(in_shape)
    axes = tuple(range(nb, nb + lead)) + tuple(
        nb + lead + j for j, d in enumerate(in_shape) if d == 1 and out_shape[lead + j] != 1)
    if axes:
        cotangent = sum_(cotangent, axis=axes, keepdims=False)
    return reshape(cotangent, shape=shape[:nb] + tuple(in_shape))
