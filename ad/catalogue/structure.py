"""Structural primitives: reshape, broadcast, transpose, indexing and its transpose, concatenate.

All are linear, so each rule applies the same kind of operation to the tangent, or its
transpose to the cotangent. Tangents and cotangents may carry leading batch axes (vector
mode); the rules shift axes past them. `getitem`/`index_add` take an index already made
explicit by `normalize_index` (no Ellipsis, one entry per axis) and an `nbatch` count of
leading axes the index skips. Imports `ad.catalogue.define` and `ad.primitive`.
"""
from __future__ import annotations

import math

import numpy as np

from ad.catalogue.define import align, deflinear, unbroadcast
from ad.primitive import ZERO, Counts, Primitive, Tracer, register


def _copy_cost(in_shapes, out_shape, **params) -> Counts:
    """Data movement only: no flops for the value, one pass over the data per derivative."""
    size = math.prod(out_shape)
    return Counts(0, size, size, 0)


# ----------------------------------------------------------------------------- reshape
def _reshape_jvp(t, out, x, *, shape):
    nb = np.ndim(t) - np.ndim(x)
    return reshape(t, shape=np.shape(t)[:nb] + tuple(shape))


def _reshape_vjp(ct, out, x, *, shape):
    nb = np.ndim(ct) - np.ndim(out)
    return reshape(ct, shape=np.shape(ct)[:nb] + np.shape(x))


def _reshape(x, *, shape):
    return np.reshape(x, shape)


reshape = deflinear("reshape", _reshape, jvp=(_reshape_jvp,), vjp=(_reshape_vjp,),
                    cost=_copy_cost, batched=True)
reshape.identity_seed = "keeps"


# ----------------------------------------------------------------------------- broadcast_to
def _broadcast_jvp(t, out, x, *, shape):
    nb = np.ndim(t) - np.ndim(x)
    t = align(t, np.ndim(x), len(shape))
    return broadcast_to(t, shape=np.shape(t)[:nb] + tuple(shape))


def _broadcast_vjp(ct, out, x, *, shape):
    return unbroadcast(ct, np.shape(x), tuple(shape))


def _broadcast_to(x, *, shape):
    return np.broadcast_to(x, shape)


broadcast_to = deflinear("broadcast_to", _broadcast_to, jvp=(_broadcast_jvp,),
                         vjp=(_broadcast_vjp,), cost=_copy_cost, batched=True)


# ----------------------------------------------------------------------------- transpose
def _shifted(axes, nb: int) -> tuple[int, ...]:
    return tuple(range(nb)) + tuple(nb + a for a in axes)


def _transpose_jvp(t, out, x, *, axes):
    return transpose(t, axes=_shifted(axes, np.ndim(t) - np.ndim(x)))


def _transpose_vjp(ct, out, x, *, axes):
    return transpose(ct, axes=_shifted(np.argsort(axes).tolist(), np.ndim(ct) - np.ndim(out)))


def _transpose(x, *, axes):
    return np.transpose(x, axes)


transpose = deflinear("transpose", _transpose, jvp=(_transpose_jvp,), vjp=(_transpose_vjp,),
                      cost=_copy_cost, batched=True)


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
        if isinstance(item, Tracer):
            raise TypeError(f"cannot index with a traced value of dtype {item.dtype}; indices "
                            "carry no derivative: use ad.stop_gradient(...) and an integer dtype")
        if isinstance(item, (list, np.ndarray)) or (
                isinstance(item, np.generic) and item.dtype.kind == "b"):
            item = np.asarray(item)
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
        items[at:at + 1] = fill
    else:
        items.extend(fill)
    return tuple(items)


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


def _index_add(values, *, index, shape, nbatch):
    batch = np.shape(values)[:nbatch]
    out = np.zeros(tuple(shape) + batch, dtype=np.result_type(values, np.float32))
    moved = _batch_last(values, nbatch) if nbatch else values
    where = index + (slice(None),) * nbatch
    if _is_basic(index):
        out[where] += moved
    else:
        np.add.at(out, where, moved)
    return _batch_first(out, nbatch) if nbatch else out


def _getitem_jvp(t, out, x, *, index, nbatch):
    return getitem(t, index=index, nbatch=nbatch + np.ndim(t) - np.ndim(x))


def _getitem_vjp(ct, out, x, *, index, nbatch):
    return index_add(ct, index=index, shape=np.shape(x)[nbatch:],
                     nbatch=nbatch + np.ndim(ct) - np.ndim(out))


def _index_add_jvp(t, out, values, *, index, shape, nbatch):
    return index_add(t, index=index, shape=shape, nbatch=nbatch + np.ndim(t) - np.ndim(values))


def _index_add_vjp(ct, out, values, *, index, shape, nbatch):
    return getitem(ct, index=index, nbatch=nbatch + np.ndim(ct) - np.ndim(out))


def _index_cost(in_shapes, out_shape, **params) -> Counts:
    moved = math.prod(out_shape)
    return Counts(0, moved, moved, 0)


getitem = deflinear("getitem", _getitem, jvp=(_getitem_jvp,), vjp=(_getitem_vjp,),
                    cost=_index_cost, batched=True)
index_add = deflinear("index_add", _index_add, jvp=(_index_add_jvp,), vjp=(_index_add_vjp,),
                      cost=_index_cost, batched=True)


# ----------------------------------------------------------------------------- concatenate
def _concatenate(*xs, axis):
    return np.concatenate(xs, axis=axis)


class Concatenate(Primitive):
    """Join arrays along an existing axis; variadic, so it has its own JVP and VJP."""

    def __init__(self) -> None:
        super().__init__("concatenate", _concatenate, jvp=None, vjp=None, cost=_copy_cost,
                         linear=True, arity=-1)

    def jvp(self, residuals, tangents, params, in_shapes=None, out_shape=None):
        out, primals = residuals
        batch = next(np.shape(t)[:np.ndim(t) - np.ndim(x)]
                     for t, x in zip(tangents, primals) if t is not ZERO)
        parts = [np.zeros(batch + np.shape(x), dtype=np.result_type(x)) if t is ZERO else t
                 for t, x in zip(tangents, primals)]
        return concatenate(*parts, axis=params["axis"] + len(batch))

    def vjp(self, i, cotangent, residuals, params, in_shape=None, out_shape=None):
        out, primals = residuals
        axis = params["axis"]
        start = sum(np.shape(x)[axis] for x in primals[:i])
        stop = start + np.shape(primals[i])[axis]
        index = tuple(slice(start, stop) if a == axis else slice(None)
                      for a in range(np.ndim(out)))
        return getitem(cotangent, index=index, nbatch=np.ndim(cotangent) - np.ndim(out))


concatenate = register(Concatenate())
concatenate.numpy = None
