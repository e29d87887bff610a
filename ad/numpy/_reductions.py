"""Reductions, scans and order statistics on traced values.

`cumsum` is a catalogue primitive; `prod` and `cumprod` are exact compositions of
multiplications (a pairwise tree and a log-step scan), so zeros need no special case and
every order of derivative is right; `sort` gathers with the stable sort's indices (ties keep
their input order, each output takes the derivative of the element it came from);
`var`/`std`/`average`/`median`/`ptp` compose the rest. Index-valued functions (argmax,
argsort, ...) and boolean ones pass the values through: they carry no derivative.
Imports `ad.numpy` (the package) and `ad.primitive`.
"""
from __future__ import annotations

import builtins
import math
import operator
import warnings

import numpy as np

from ad import numpy as anp
from ad.catalogue import reductions as _reduction
from ad.numpy import _axes, _implements, _no_out
from ad.primitive import UFUNC_METHODS as _UFUNC_METHODS
from ad.primitive import PLAIN_READ, Tracer, float_dtype, primal_value

__all__ = ["prod", "product", "cumsum", "cumprod", "var", "std", "average", "ptp", "sort",
           "argsort", "argmax", "argmin", "median", "nansum", "nanmean", "nanmax", "nanmin",
           "all", "any", "count_nonzero", "nonzero", "argwhere", "flatnonzero",
           "searchsorted", "isclose", "allclose", "array_equal", "unique", "quantile",
           "percentile", "cov", "corrcoef", "partition"]


def _value(a) -> np.ndarray:
    return np.asarray(primal_value(a))


def _plain(a) -> np.ndarray:
    """`a`'s value for a result handed to the program as a plain value (`PLAIN_READ`);
    an array subclass is kept (global sparsity detection's masks refuse being read as
    numbers)."""
    return np.asanyarray(primal_value(a, PLAIN_READ))


def _last(a, axes: tuple[int, ...]):
    """`a` with `axes` moved to the end and merged into one; the kept shape alongside."""
    nd = anp.ndim(a)
    keep = [i for i in range(nd) if i not in axes]
    moved = anp.transpose(a, keep + list(axes))
    kept_shape = tuple(anp.shape(a)[i] for i in keep)
    return anp.reshape(moved, kept_shape + (math.prod(anp.shape(a)[i] for i in axes),)), kept_shape


def _restore(result, a, axes, keepdims: bool):
    """Put back size-1 axes when `keepdims`."""
    if not keepdims:
        return result
    return anp.reshape(result, tuple(1 if i in axes else d for i, d in enumerate(anp.shape(a))))


# ----------------------------------------------------------------------------- prod
@_implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """Product over `axis`, as numpy.prod; exact derivatives with zeros present; `where`
    masks elements out (they count as 1).

    >>> import ad, numpy as np
    >>> ad.grad(prod)(np.array([2.0, 0.0, 3.0]))
    array([0., 6., 0.])
    """
    _no_out(out, "prod")
    if where is not None:
        a = anp.where(np.asarray(primal_value(where), dtype=bool), a, 1.0)
    a = anp._accumulating(a, dtype)
    axes = _axes(axis, anp.ndim(a), "prod")
    if not isinstance(a, Tracer):
        result = np.prod(a, axis=axes, keepdims=keepdims)
    else:
        flat, _ = _last(a, axes)
        while anp.shape(flat)[-1] > 1:  # pairwise tree: log2(n) levels, n multiplications
            n = anp.shape(flat)[-1]
            half = n // 2
            pairs = flat[..., 0:2 * half:2] * flat[..., 1:2 * half:2]
            flat = anp.concatenate([pairs, flat[..., 2 * half:]], axis=-1) if n % 2 else pairs
        if anp.shape(flat)[-1] == 0:      # the empty product: 1 (derivative 0)
            result = anp.sum(flat, axis=-1) + 1.0
        else:
            result = flat[..., 0]
        result = _restore(result, a, axes, keepdims)
    if initial is not None:
        result = result * initial
    return result if dtype is None else anp.astype(result, dtype)


product = prod


# ----------------------------------------------------------------------------- scans
def _scan_axis(a, axis):
    if axis is None:
        return anp.ravel(a), 0
    return a, anp._axis(axis, anp.ndim(a), "scan")


@_implements(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    """Running sum along `axis` (flattened when None), as numpy.cumsum.

    >>> cumsum(np.array([1.0, 2.0, 3.0]))
    array([1., 3., 6.])
    """
    _no_out(out, "cumsum")
    a = anp._accumulating(a, dtype)
    a, axis = _scan_axis(a, axis)
    result = _reduction.cumsum(a, axis=axis)
    return result if dtype is None else anp.astype(result, dtype)


@_implements(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    """Running product along `axis`; a log-step scan of multiplications (exact with zeros).

    >>> cumprod(np.array([1.0, 2.0, 3.0]))
    array([1., 2., 6.])
    """
    _no_out(out, "cumprod")
    a = anp._accumulating(a, dtype)
    a, axis = _scan_axis(a, axis)
    if not isinstance(a, Tracer):
        result = np.cumprod(a, axis=axis)
    else:
        y = anp.moveaxis(a, axis, -1)
        n = anp.shape(y)[-1]
        shift = 1
        while shift < n:  # Hillis-Steele: y[i] *= y[i - shift]
            ones = np.ones(anp.shape(y)[:-1] + (shift,), dtype=float_dtype(y))
            y = y * anp.concatenate([ones, y[..., :n - shift]], axis=-1)
            shift *= 2
        result = anp.moveaxis(y, -1, axis)
    return result if dtype is None else anp.astype(result, dtype)


# ----------------------------------------------------------------------------- statistics
@_implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """Variance over `axis` with `ddof`, as numpy.var.

    >>> float(var(np.array([1.0, 3.0])))
    1.0
    """
    _no_out(out, "var")
    a = anp._accumulating(a, dtype)
    axes = _axes(axis, anp.ndim(a), "var")
    count = math.prod(anp.shape(a)[i] for i in axes)
    centred = a - anp.mean(a, axis=axes, keepdims=True)
    result = anp.sum(anp._squared_magnitude(centred), axis=axes, keepdims=keepdims) / builtins.max(
        count - ddof, 0)
    return result if dtype is None else anp.astype(result, dtype)


@_implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """Standard deviation; at zero variance the derivative is 0 (not inf or NaN).

    >>> float(std(np.array([1.0, 3.0])))
    1.0
    """
    _no_out(out, "std")
    v = var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)
    return anp._safe_root(v)


@_implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """Weighted mean over `axis` (weights 1-D along one axis, or shaped like `a`).

    >>> float(average(np.array([1.0, 3.0]), weights=np.array([3.0, 1.0])))
    1.5
    """
    if weights is None:
        result = anp.mean(a, axis=axis, keepdims=keepdims)
        scale = math.prod(anp.shape(a)) / builtins.max(math.prod(anp.shape(result)), 1)
        total = np.full(anp.shape(result), scale)
    else:
        if anp.shape(weights) != anp.shape(a):
            if axis is None or anp.ndim(weights) != 1:
                raise ValueError("average: weights differ in shape from a; give 1-D weights "
                                 "and an int axis")
            axis = anp._axis(axis, anp.ndim(a), "average")
            weights = anp.broadcast_to(
                anp.reshape(weights, tuple(-1 if i == axis else 1 for i in range(anp.ndim(a)))),
                anp.shape(a))
        total = anp.sum(weights, axis=axis, keepdims=keepdims)
        if np.any(np.asarray(primal_value(total)) == 0.0):
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        result = anp.sum(a * weights, axis=axis, keepdims=keepdims) / total
    return (result, total) if returned else result


@_implements(np.ptp)
def ptp(a, axis=None, out=None, keepdims=False):
    """max - min over `axis`."""
    _no_out(out, "ptp")
    return anp.max(a, axis=axis, keepdims=keepdims) - anp.min(a, axis=axis, keepdims=keepdims)


def _along_last(a, axis, function: str):
    """(a with the reduced axes, None for all, one int or a tuple, moved to the end and
    merged into one, those axes normalised): what the order statistics sort along."""
    nd = anp.ndim(a)
    axes = tuple(range(nd)) if axis is None else _axes(axis, nd, function)
    kept = nd - len(axes)
    moved = anp.moveaxis(a, axes, tuple(range(kept, nd)))
    shape = anp.shape(moved)
    return anp.reshape(moved, shape[:kept] + (math.prod(shape[kept:]),)), axes


@_implements(np.median)
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """Median over `axis` (None, an int or a tuple): the middle sorted element, or the mean
    of two.

    >>> float(median(np.array([3.0, 1.0, 2.0, 10.0])))
    2.5
    """
    _no_out(out, "median")
    a = anp._operand(a)
    if a.dtype.kind in "biu":     # as NumPy: a float median (bool and int means are not)
        a = anp.astype(a, np.float64)
    merged, axes = _along_last(a, axis, "median")
    n = anp.shape(merged)[-1]
    if n == 0:                    # as NumPy: NaN (no element to take, no derivative)
        return _restore(np.full(anp.shape(merged)[:-1], np.nan), a, axes, keepdims)
    s = sort(merged, axis=-1)
    result = s[..., n // 2] if n % 2 else 0.5 * (s[..., n // 2 - 1] + s[..., n // 2])
    return _restore(_nan_where_nan(merged, result), a, axes, keepdims)


def _in_range(q, top: float, what: str) -> None:
    value = np.asarray(primal_value(q))
    if np.any((value < 0) | (value > top)):      # NaN q passes, as in NumPy
        raise ValueError(f"{what} must be in the range [0, {top:g}]")


def _nan_where_nan(merged, result, extra: int = 0):
    """NaN wherever the slice (merged's last axis) holds a NaN, as NumPy's order statistics
    give (a sort puts NaN last, so the middle element alone would not show it); `extra`
    trailing axes of result (the q's) broadcast."""
    has_nan = np.isnan(_value(merged)).any(axis=-1)
    if not has_nan.any():
        return result
    return anp.where(has_nan.reshape(has_nan.shape + (1,) * extra), np.nan, result)


def _qs(q):
    """q as quantile reads it: a traced value as it is, a list of q's as a float array of
    them (a list times n - 1 would repeat it)."""
    if isinstance(q, Tracer) or (isinstance(q, (float, int)) and not isinstance(q, bool)):
        return q                  # a Python number stays weakly typed, as in NumPy
    return np.asarray(q, dtype=float_dtype(np.asarray(q)))


@_implements(np.quantile)
def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False, *, weights=None, interpolation=None):
    """The q-th quantiles (0 <= q <= 1) by linear interpolation between order statistics
    (numpy's default method); differentiable in a and in q.

    >>> quantile(np.array([1.0, 2.0, 3.0, 4.0]), 0.5)
    np.float64(2.5)
    """
    _no_out(out, "quantile")
    if method != "linear" or weights is not None or interpolation is not None:
        raise NotImplementedError("ad.numpy.quantile: only method='linear', no weights")
    if anp._value_dtype(a).kind == "c":
        raise TypeError("quantile: a must be an array of real numbers (complex numbers have "
                        "no order)")
    q = _qs(q)
    _in_range(q, 1.0, "Quantiles")
    merged, axes = _along_last(a, axis, "quantile")
    s = sort(merged, axis=-1)                            # (..., n)
    n = anp.shape(s)[-1]
    position = q * (n - 1)                               # traced q differentiates
    below = np.clip(np.floor(np.asarray(primal_value(position))).astype(np.intp), 0, n - 1)
    above = np.minimum(below + 1, n - 1)
    weight = position - below
    lo = anp.take(s, below, axis=-1)                     # (..., *q.shape)
    hi = anp.take(s, above, axis=-1)
    result = lo + (hi - lo) * weight
    q_nd = np.ndim(primal_value(q))
    result = _nan_where_nan(merged, result, q_nd)
    result = anp._in_dtype(result, np.result_type(   # NumPy's: a and q's
        anp._value_dtype(merged), q if isinstance(q, (float, int)) else anp._value_dtype(q),
        np.float16))
    if q_nd:   # NumPy puts the q axes first
        result = anp.moveaxis(result, tuple(range(-q_nd, 0)), tuple(range(q_nd)))
    if keepdims:
        kept = tuple(1 if i in axes else d for i, d in enumerate(anp.shape(a)))
        result = anp.reshape(result, np.shape(primal_value(q)) + kept)
    return result


@_implements(np.percentile)
def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None, interpolation=None):
    """The q-th percentiles (0 <= q <= 100): quantile(a, q / 100)."""
    q = _qs(q)
    _in_range(q, 100.0, "Percentiles")
    return quantile(a, q / 100.0, axis=axis, out=out, method=method, keepdims=keepdims,
                    weights=weights, interpolation=interpolation)


@_implements(np.cov)
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
        dtype=None):
    """Covariance matrix of the variables (rows, or columns when rowvar=False)."""
    if fweights is not None or aweights is not None:
        raise NotImplementedError("ad.numpy.cov: weights are not supported")
    if anp.ndim(m) > 2 or (y is not None and anp.ndim(y) > 2):
        raise ValueError("m has more than 2 dimensions")
    x = anp.atleast_2d(m)
    x = anp.astype(x, np.result_type(anp._value_dtype(x), np.float64))   # NumPy's dtype
    if not rowvar and anp.shape(x)[0] != 1:
        x = anp.transpose(x)
    if y is not None:
        y2 = anp.atleast_2d(y)
        if not rowvar and anp.shape(y2)[0] != 1:
            y2 = anp.transpose(y2)
        x = anp.concatenate([x, y2], axis=0)
    n = anp.shape(x)[1]
    ddof = (0 if bias else 1) if ddof is None else ddof
    fact = n - ddof
    if fact <= 0:                  # as NumPy: a warning, then a division by zero (inf)
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
        fact = 0.0
    centred = x - anp.mean(x, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = (centred @ anp.conj(anp.transpose(centred))) / fact
    c = anp.squeeze(c) if anp.shape(c) == (1, 1) else c
    return c if dtype is None else anp.astype(c, dtype)


@_implements(np.corrcoef)
def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """Pearson correlation coefficients: the covariance scaled by the deviations."""
    c = cov(x, y, rowvar=rowvar, dtype=dtype)
    if anp.ndim(c) == 0:
        return c / c
    d = anp.sqrt(anp.diagonal(c))
    return c / (anp.reshape(d, (-1, 1)) * anp.reshape(d, (1, -1)))


@_implements(np.partition)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    """A partitioned copy: the element at each `kth` is where a sort would put it, smaller
    ones before, larger ones after (here: the sorted array, which is such a partition)."""
    if order is not None:
        raise NotImplementedError("ad.numpy.partition: order= is not supported")
    n = anp.shape(a)[anp._axis(axis, anp.ndim(a), "partition")] if axis is not None else \
        math.prod(anp.shape(a))
    for k in np.atleast_1d(kth).tolist():
        if not -n <= operator.index(k) < n:
            raise ValueError(f"kth(={k}) out of bounds ({n})")
    return sort(a, axis=axis)


#: The largest exponent a weight of 0 in `_logsumexp` meets (exp(700) is finite).
_EXPONENT_CAP = 700.0


def _logsumexp(a, axis=None, b=None, keepdims: bool = False):
    """log(sum(b * exp(a), axis)), shifted by the (gradient-stopped) maximum so exp never
    overflows; the one log-sum-exp that ad.nn, ad.scipy and logaddexp.reduce share."""
    if b is not None:       # b broadcasts a (and back), as SciPy's
        b = b if isinstance(b, Tracer) else np.asarray(b)
        shape = np.broadcast_shapes(anp.shape(a), anp.shape(b))
        a = a if anp.shape(a) == shape else anp.broadcast_to(a, shape)
        b = b if anp.shape(b) == shape else anp.broadcast_to(b, shape)
    # the shift is the largest term that counts: an a weighted by b == 0 (a mask) far above
    # the rest would make every counted term underflow
    counted = a if b is None else anp.where(b != 0, a, -np.inf)
    shift = anp.stop_gradient(anp.max(counted, axis=axis, keepdims=True, initial=-np.inf))
    # an all -inf slice would give -inf - -inf = nan; shifting by 0 there is as good
    shift = anp.where(np.isfinite(_value(shift)), shift, 0.0)
    if b is None:
        terms = anp.exp(a - shift)
    else:
        # a term weighted 0 adds nothing, but its weight's derivative is exp(a - result):
        # its exponent is capped (no 0 * inf, nor NaN from an a of NaN or inf) but kept
        capped = anp.where(_value(a) - _value(shift) <= _EXPONENT_CAP, a, shift + _EXPONENT_CAP)
        terms = b * anp.exp(anp.where(b != 0, a, capped) - shift)
    total = anp.log(anp.sum(terms, axis=axis, keepdims=True)) + shift
    if keepdims:
        return total
    return anp.squeeze(total, axis=tuple(range(anp.ndim(a))) if axis is None else axis)


# ----------------------------------------------------------------------------- ufunc methods
def _moved(a, axis):
    if axis is None:
        return anp.ravel(a)
    return anp.moveaxis(a, anp._axis(axis, anp.ndim(a), "ufunc.reduce"), 0)


def _fold(ufunc, a, initial=None):
    """ufunc applied pairwise along the first axis (its derivative: the catalogue's),
    starting from `initial` when given."""
    binary = anp._UFUNCS[ufunc]
    items = [a[i] for i in range(anp.shape(a)[0])]
    if initial is not None:
        items.insert(0, np.broadcast_to(np.asarray(initial, dtype=float_dtype(a)),
                                        anp.shape(a)[1:]))
    partial = [items[0]]
    for item in items[1:]:
        partial.append(binary(partial[-1], item))
    return partial


_REDUCERS = {np.add: "sum", np.multiply: "prod", np.maximum: "max", np.minimum: "min",
             np.fmax: "nanmax", np.fmin: "nanmin"}   # fmax and fmin ignore NaN
_SCANS = {np.add: "cumsum", np.multiply: "cumprod"}


def ufunc_reduce(ufunc, array, axis=0, dtype=None, out=None, keepdims=False, initial=None,
                 where=None):
    """ufunc.reduce on traced values: sum, prod, max and min for their ufuncs, logaddexp as a
    log-sum-exp, any other binary ufunc folded along the axis."""
    _no_out(out, f"{ufunc.__name__}.reduce")
    if where is not None:
        from ad.errors import UnsupportedFunctionError
        raise UnsupportedFunctionError(f"numpy.{ufunc.__name__}.reduce(..., where=...) is not "
                                       "supported on traced values")
    array = anp._accumulating(array, dtype)
    name = _REDUCERS.get(ufunc)
    if name is not None and not (name.startswith("nan") and initial is not None):
        kwargs = {"initial": initial} if initial is not None else {}
        result = getattr(anp, name)(array, axis=axis, keepdims=keepdims, **kwargs)
    elif name is not None:         # fmax, fmin with initial: commutative, so it goes last
        result = anp._UFUNCS[ufunc](getattr(anp, name)(array, axis=axis, keepdims=keepdims),
                                    initial)
    elif ufunc in (np.logaddexp, np.logaddexp2):
        scale = 1.0 if ufunc is np.logaddexp else math.log(2.0)
        result = _logsumexp(array * scale, axis, keepdims=keepdims) / scale
        if initial is not None:    # commutative
            result = anp._UFUNCS[ufunc](result, initial)
    else:                          # folded in order, from `initial` when given (NumPy's)
        if isinstance(axis, tuple) and len(axis) == 1:
            axis = axis[0]
        axes = _axes(axis, anp.ndim(array), f"{ufunc.__name__}.reduce")
        if len(axes) > 1:        # folded in order: over one axis only, as NumPy
            raise ValueError(f"reduction operation '{ufunc.__name__}' is not reorderable, so "
                             "at most one axis may be specified")
        moved = _moved(array, axis)
        if anp.shape(moved)[0] == 0 and initial is None:
            raise ValueError(f"zero-size array to reduction operation {ufunc.__name__} "
                             "which has no identity (give initial=)")
        result = _restore(_fold(ufunc, moved, initial)[-1], array, axes, keepdims)
    return result if dtype is None else anp.astype(result, dtype)


def ufunc_accumulate(ufunc, array, axis=0, dtype=None, out=None):
    """ufunc.accumulate on traced values: cumsum and cumprod for add and multiply, any other
    binary ufunc (maximum, logaddexp, ...) folded along the axis."""
    _no_out(out, f"{ufunc.__name__}.accumulate")
    array = anp._accumulating(array, dtype)
    name = _SCANS.get(ufunc)
    if name is not None:
        result = getattr(anp, name)(array, axis=axis)
    else:
        axis = anp._axis(axis, anp.ndim(array), f"{ufunc.__name__}.accumulate")
        result = array if anp.shape(array)[axis] == 0 else anp.moveaxis(
            anp.stack(_fold(ufunc, anp.moveaxis(array, axis, 0))), 0, axis)
    return result if dtype is None else anp.astype(result, dtype)


def ufunc_at(ufunc, a, indices, b=None):
    """ufunc.at writes in place: refused, naming the functional update."""
    from ad.errors import InPlaceError
    how = {np.add: "add", np.multiply: "multiply", np.maximum: "max", np.minimum: "min"}.get(
        ufunc, "set")
    raise InPlaceError(f"numpy.{ufunc.__name__}.at writes into an array in place, which cannot "
                       f"be differentiated: use a = ad.numpy.at(a)[indices].{how}(b) instead")


for _ufunc in list(anp._UFUNCS):
    if isinstance(_ufunc, np.ufunc) and _ufunc.nin == 2:
        _UFUNC_METHODS[_ufunc, "reduce"] = ufunc_reduce
        _UFUNC_METHODS[_ufunc, "accumulate"] = ufunc_accumulate
        _UFUNC_METHODS[_ufunc, "at"] = ufunc_at


def _nan_filled(a, fill):
    if anp._value_dtype(a).kind not in "fc":     # integers hold no NaN (and keep their dtype)
        return a
    return anp.where(np.isnan(_value(a)), fill, a)


@_implements(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False):
    """Sum ignoring NaNs (they get derivative 0)."""
    return anp.sum(_nan_filled(a, 0.0), axis=axis, dtype=dtype, out=out, keepdims=keepdims)


@_implements(np.nanmean)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False):
    """Mean ignoring NaNs."""
    count = np.sum(~np.isnan(_value(a)), axis=axis, keepdims=keepdims)
    total = nansum(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims)
    count = np.asarray(count, dtype=anp._value_dtype(total))           # total's dtype, as NumPy
    empty = count == 0
    if not empty.any():
        return total / count
    # an all-NaN slice is NaN (NumPy's value) with derivative 0 in both modes (0 / 0 gave
    # NaN tangents forward, zero cotangents in reverse)
    warnings.warn("Mean of empty slice", RuntimeWarning, stacklevel=2)    # NumPy's warning
    return anp.where(empty, np.nan, total / np.where(empty, 1.0, count))


@_implements(np.nanmax)
def nanmax(a, axis=None, out=None, keepdims=False):
    """Maximum ignoring NaNs (NaN where all are, as NumPy)."""
    return _all_nan(a, anp.max(_nan_filled(a, -np.inf), axis=axis, out=out,
                               keepdims=keepdims), axis, keepdims)


@_implements(np.nanmin)
def nanmin(a, axis=None, out=None, keepdims=False):
    """Minimum ignoring NaNs (NaN where all are, as NumPy)."""
    return _all_nan(a, anp.min(_nan_filled(a, np.inf), axis=axis, out=out,
                               keepdims=keepdims), axis, keepdims)


def _all_nan(a, result, axis, keepdims):
    every = np.isnan(_value(a)).all(axis=axis, keepdims=keepdims)
    return anp.where(every, np.nan, result) if np.any(every) else result


# ----------------------------------------------------------------------------- sort
@_implements(np.sort)
def sort(a, axis=-1, kind=None, order=None):
    """Sorted copy along `axis` (flattened when None); stable, so ties keep input order.

    >>> import ad, numpy as np
    >>> ad.grad(lambda x: sort(x)[0])(np.array([3.0, 1.0, 2.0]))
    array([0., 1., 0.])
    """
    if order is not None:
        raise NotImplementedError("ad.numpy.sort: order= (structured arrays) is not supported")
    if kind not in (None, "quicksort", "mergesort", "heapsort", "stable"):
        raise ValueError(f"sort kind must be one of 'quick', 'heap', or 'stable' (got {kind!r})")
    if axis is None:
        a, axis = anp.ravel(a), 0
    if not isinstance(a, Tracer):
        return np.sort(a, axis=axis, kind=kind)
    indices = np.argsort(_value(a), axis=axis, kind="stable")
    return anp.take_along_axis(a, indices, axis=axis)


# ----------------------------------------------------------------------------- pass-through
@_implements(np.argsort)
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """Indices that sort `a` (integers: no derivative)."""
    return np.argsort(_value(a), axis=axis, kind=kind, order=order, stable=stable)


@_implements(np.argmax)
def argmax(a, axis=None, out=None, *, keepdims=False):
    """Index of the maximum (no derivative)."""
    _no_out(out, "argmax")
    if isinstance(a, Tracer):      # a primitive, so a compiled tape recomputes it
        return _reduction.argmax(a, axis=axis, keepdims=keepdims)
    return np.argmax(a, axis=axis, keepdims=keepdims)


@_implements(np.argmin)
def argmin(a, axis=None, out=None, *, keepdims=False):
    """Index of the minimum (no derivative)."""
    _no_out(out, "argmin")
    if isinstance(a, Tracer):
        return _reduction.argmin(a, axis=axis, keepdims=keepdims)
    return np.argmin(a, axis=axis, keepdims=keepdims)


@_implements(np.all)
def all(a, axis=None, out=None, keepdims=False):  # noqa: A001
    _no_out(out, "all")
    return np.all(_value(a), axis=axis, keepdims=keepdims)


@_implements(np.any)
def any(a, axis=None, out=None, keepdims=False):  # noqa: A001
    _no_out(out, "any")
    return np.any(_value(a), axis=axis, keepdims=keepdims)


@_implements(np.count_nonzero)
def count_nonzero(a, axis=None, *, keepdims=False):
    return np.count_nonzero(_plain(a), axis=axis, keepdims=keepdims)


@_implements(np.nonzero)
def nonzero(a):
    return np.nonzero(_value(a))


@_implements(np.argwhere)
def argwhere(a):
    return np.argwhere(_value(a))


@_implements(np.flatnonzero)
def flatnonzero(a):
    return np.flatnonzero(_value(a))


@_implements(np.searchsorted)
def searchsorted(a, v, side="left", sorter=None):
    return np.searchsorted(_plain(a), _plain(v), side=side, sorter=sorter)


@_implements(np.isclose)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return np.isclose(_plain(a), _plain(b), rtol=rtol, atol=atol, equal_nan=equal_nan)


@_implements(np.allclose)
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(np.allclose(_plain(a), _plain(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


@_implements(np.array_equal)
def array_equal(a1, a2, equal_nan=False) -> bool:
    return bool(np.array_equal(_plain(a1), _plain(a2), equal_nan=equal_nan))


@_implements(np.unique)
def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None):
    """Sorted unique values, gathered from `ar` (each takes its first occurrence's
    derivative); the indices and counts are plain integers.

    >>> unique(np.array([2.0, 1.0, 2.0]))
    array([1., 2.])
    """
    if axis is not None:
        raise NotImplementedError("ad.numpy.unique: axis= is not supported; use axis=None")
    _, first, inverse, counts = np.unique(_value(ar), return_index=True,
                                          return_inverse=True, return_counts=True)
    values = anp.ravel(ar)[first] if isinstance(ar, Tracer) else _value(ar).ravel()[first]
    extra = [x for x, want in ((first, return_index), (inverse, return_inverse),
                               (counts, return_counts)) if want]
    return (values, *extra) if extra else values
