"""Numerical calculus on traced values: differences, gradients, integration, interpolation,
convolution and polynomials, as NumPy's functions of the same names.

All are compositions of slicing, arithmetic and gathers, so they differentiate to any order
in every argument that carries a derivative: `interp` in the values `fp`, the points `x`
(the slope of the segment, 0 outside the table) and the knots `xp`; `trapezoid` in `y` and
the sample points `x`; `polyval` in the coefficients and the points. Index choices (which
segment, which lag) come from the values and carry no derivative. Imports `ad.numpy` (the
package) and `ad.primitive`.
"""
from __future__ import annotations

import operator

import numpy as np

from ad import numpy as anp
from ad.numpy import _axis, _implements
from ad.primitive import Tracer, primal_value

__all__ = ["diff", "ediff1d", "gradient", "trapezoid", "interp", "convolve", "correlate",
           "polyval"]


def _along(axis: int, nd: int, item) -> tuple:
    return (slice(None),) * axis + (item,) + (slice(None),) * (nd - axis - 1)


@_implements(np.diff)
def diff(a, n: int = 1, axis: int = -1, prepend=None, append=None):
    """The n-th discrete difference along `axis`, as numpy.diff.

    >>> diff(np.array([1.0, 4.0, 9.0, 16.0]), n=2)
    array([2., 2.])
    """
    a = anp._operand(a)
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"diff: order must be non-negative but got {n}")
    nd = anp.ndim(a)
    axis = _axis(axis, nd, "diff")
    pieces = []
    for extra in (prepend, append):
        if extra is None:
            pieces.append(None)
            continue
        shape = list(anp.shape(a))
        shape[axis] = 1
        pieces.append(anp.broadcast_to(extra, tuple(shape)) if anp.ndim(extra) == 0 else extra)
    if pieces[0] is not None or pieces[1] is not None:
        a = anp.concatenate([p for p in (pieces[0], a, pieces[1]) if p is not None], axis=axis)
    for _ in range(operator.index(n)):
        a = a[_along(axis, nd, slice(1, None))] - a[_along(axis, nd, slice(None, -1))]
    return a


@_implements(np.ediff1d)
def ediff1d(ary, to_end=None, to_begin=None):
    """Differences of the flattened array, with optional values before and after."""
    ary = anp._operand(ary)
    parts = [anp.ravel(to_begin)] if to_begin is not None else []
    parts.append(diff(anp.ravel(ary)))
    if to_end is not None:
        parts.append(anp.ravel(to_end))
    # to_begin and to_end are cast to ary's dtype, as NumPy's
    return anp._in_dtype(anp.concatenate(parts) if len(parts) > 1 else parts[0], ary.dtype)


def _gradient_1d(f, h, axis: int, edge_order: int):
    nd = anp.ndim(f)
    at = lambda item: f[_along(axis, nd, item)]  # noqa: E731
    if np.ndim(primal_value(h)) == 1:
        return _gradient_coordinates(f, h, axis, edge_order, at)
    interior = (at(slice(2, None)) - at(slice(None, -2))) / (2.0 * h)
    if edge_order == 1:
        first = (at(slice(1, 2)) - at(slice(0, 1))) / h
        last = (at(slice(-1, None)) - at(slice(-2, -1))) / h
    else:
        first = (-1.5 * at(slice(0, 1)) + 2.0 * at(slice(1, 2)) - 0.5 * at(slice(2, 3))) / h
        last = (0.5 * at(slice(-3, -2)) - 2.0 * at(slice(-2, -1)) + 1.5 * at(slice(-1, None))) / h
    return anp.concatenate([first, interior, last], axis=axis)


def _gradient_coordinates(f, x, axis: int, edge_order: int, at):
    """numpy.gradient on a non-uniform grid with coordinates x (second order inside)."""
    nd = anp.ndim(f)
    shape = (-1,) + (1,) * (nd - axis - 1)
    x = anp._operand(x)
    dx = diff(x)
    h0 = anp.reshape(dx[:-1], shape)            # left steps
    h1 = anp.reshape(dx[1:], shape)             # right steps
    interior = (h0 * h0 * at(slice(2, None)) - h1 * h1 * at(slice(None, -2))
                + (h1 * h1 - h0 * h0) * at(slice(1, -1))) / (h0 * h1 * (h0 + h1))
    if edge_order == 1:
        first = (at(slice(1, 2)) - at(slice(0, 1))) / dx[0]
        last = (at(slice(-1, None)) - at(slice(-2, -1))) / dx[-1]
    else:
        a, b = dx[0], dx[1]
        first = (-(2.0 * a + b) / (a * (a + b)) * at(slice(0, 1)) + (a + b) / (a * b)
                 * at(slice(1, 2)) - a / (b * (a + b)) * at(slice(2, 3)))
        a, b = dx[-2], dx[-1]
        last = (b / (a * (a + b)) * at(slice(-3, -2)) - (a + b) / (a * b) * at(slice(-2, -1))
                + (2.0 * b + a) / (b * (a + b)) * at(slice(-1, None)))
    return anp.concatenate([first, interior, last], axis=axis)


@_implements(np.gradient)
def gradient(f, *varargs, axis=None, edge_order: int = 1):
    """Second-order central differences inside, first- or second-order ones at the edges, as
    numpy.gradient: spacings a scalar, or per axis a scalar or the coordinates.

    >>> gradient(np.array([1.0, 4.0, 9.0, 16.0]))
    array([3., 4., 6., 7.])
    """
    f = anp._operand(f)
    if f.dtype.kind in "biu":     # NumPy differences integers in float64 (no wrap-around)
        f = anp.astype(f, np.float64)
    nd = anp.ndim(f)
    axes = list(range(nd)) if axis is None else [
        _axis(a, nd, "gradient") for a in (axis if isinstance(axis, (tuple, list)) else [axis])]
    if len(varargs) == 0:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(primal_value(varargs[0])) == 0:
        spacings = [varargs[0]] * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)    # per axis: a scalar step or the coordinates
    else:
        raise TypeError("gradient: give one spacing, or one per axis")
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    for a in axes:
        if anp.shape(f)[a] < edge_order + 1:
            raise ValueError("Shape of array too small to calculate a numerical gradient, at "
                             "least (edge_order + 1) elements are required.")
    # in f's dtype whatever the spacings' (NumPy's: float64 steps of float32 f are float32)
    out = [anp._in_dtype(_gradient_1d(f, h, a, edge_order), f.dtype)
           for a, h in zip(axes, spacings)]
    return out[0] if len(out) == 1 else tuple(out)



@_implements(np.trapezoid)
def trapezoid(y, x=None, dx=1.0, axis: int = -1):
    """The integral of y by the trapezoidal rule, along `axis` (sample points x, or dx).

    >>> float(trapezoid(np.array([1.0, 2.0, 3.0]), dx=0.5))
    2.0
    """
    y = anp._operand(y)
    nd = anp.ndim(y)
    axis = _axis(axis, nd, "trapezoid")
    mean = 0.5 * (y[_along(axis, nd, slice(1, None))] + y[_along(axis, nd, slice(None, -1))])
    if x is None:                      # dx: one spacing, or one per interval
        return anp.sum(mean * dx, axis=axis) if anp.ndim(dx) else anp.sum(mean, axis=axis) * dx
    step = diff(x) if anp.ndim(x) == 1 else diff(x, axis=axis)
    if anp.ndim(x) == 1 and nd > 1:
        step = anp.reshape(step, (-1,) + (1,) * (nd - axis - 1))
    return anp.sum(mean * step, axis=axis)


@_implements(np.interp)
def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation, as numpy.interp (xp increasing). Differentiable in fp,
    in x (the segment's slope; 0 outside the table, where the end values hold) and in xp.

    >>> interp(np.array([0.5, 3.0]), np.array([0.0, 1.0, 2.0]), np.array([0.0, 10.0, 0.0]))
    array([5., 0.])
    """
    x, xp, fp = (anp._operand(v) for v in (x, xp, fp))
    if period is not None:   # NumPy's periodic form: everything modulo the period
        period = abs(float(primal_value(period)))
        x = anp.remainder(x, period)
        xp = anp.remainder(xp, period)
        order = np.argsort(np.asarray(primal_value(xp)))
        xp, fp = anp.take(xp, order), anp.take(fp, order)
        xp = anp.concatenate([xp[-1:] - period, xp, xp[:1] + period])
        fp = anp.concatenate([fp[-1:], fp, fp[:1]])
        left = right = None
    knots = np.asarray(primal_value(xp))
    points = np.asarray(primal_value(x))
    if knots.ndim != 1 or knots.size < 2:
        raise ValueError("interp: xp must be 1-D with at least two points")
    if anp.shape(fp) != knots.shape:
        raise ValueError(f"interp: fp and xp are not of the same length ({anp.shape(fp)} "
                         f"and {knots.shape})")
    segment = np.clip(np.searchsorted(knots, points, side="right") - 1, 0, knots.size - 2)
    x0, x1 = anp.take(xp, segment), anp.take(xp, segment + 1)
    y0, y1 = anp.take(fp, segment), anp.take(fp, segment + 1)
    inside = y0 + (y1 - y0) * ((x - x0) / (x1 - x0))
    below = fp[0] if left is None else left
    above = fp[-1] if right is None else right
    out = anp.where(points < knots[0], below, inside)
    return anp.where(points > knots[-1], above, out)


def _array_like(x):
    """A traced value as it is; anything else (a list, a scalar) as a float array."""
    x = anp._operand(x)
    return x if isinstance(x, Tracer) or x.dtype.kind in "fc" else x.astype(float)


def _convolve_full(a, v):
    # full[k] = sum of a[j] v[k - j] over the band only: a product with the Toeplitz matrix
    # would add 0 * nan into every output (NumPy's convolve keeps a NaN where it reaches)
    n, m = anp.shape(a)[0], anp.shape(v)[0]
    j, i = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
    products = anp.take(a, j) * anp.take(v, i)
    zeros = np.zeros(n + m - 1, np.result_type(anp._value_dtype(a), anp._value_dtype(v)))
    return anp.at(zeros)[j + i].add(products)


def _crop(full, n: int, m: int, mode: str):
    if mode == "full":
        return full
    if mode == "same":
        length = max(n, m)
        start = (n + m - 1 - length) // 2
        return full[start:start + length]
    if mode == "valid":
        length = max(n, m) - min(n, m) + 1
        start = min(n, m) - 1
        return full[start:start + length]
    raise ValueError(f"mode must be 'full', 'same' or 'valid', not {mode!r}")


@_implements(np.convolve)
def convolve(a, v, mode: str = "full"):
    """Discrete linear convolution of two 1-D arrays, as numpy.convolve.

    >>> convolve(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))
    array([0. , 1. , 2.5, 4. , 1.5])
    """
    if not isinstance(a, Tracer) and not isinstance(v, Tracer):
        return np.convolve(a, v, mode)       # plain arrays: NumPy's (integers stay integers)
    a, v = _array_like(a), _array_like(v)
    if anp.ndim(a) != 1 or anp.ndim(v) != 1:
        raise ValueError("convolve: both inputs must be 1-D")
    n, m = anp.shape(a)[0], anp.shape(v)[0]
    if n == 0 or m == 0:
        raise ValueError("v cannot be empty" if m == 0 else "a cannot be empty")
    return _crop(_convolve_full(a, v), n, m, mode)


@_implements(np.correlate)
def correlate(a, v, mode: str = "valid"):
    """Cross-correlation of two 1-D arrays, as numpy.correlate (v conjugated)."""
    if not isinstance(a, Tracer) and not isinstance(v, Tracer):
        return np.correlate(a, v, mode)      # plain arrays: NumPy's
    a, v = _array_like(a), _array_like(v)
    if anp.ndim(a) != 1 or anp.ndim(v) != 1:
        raise ValueError("correlate: both inputs must be 1-D")
    n, m = anp.shape(a)[0], anp.shape(v)[0]
    full = _convolve_full(a, anp.conj(v[::-1]))
    if n < m and mode == "same":   # NumPy swaps a shorter a with v and reverses after:
        return _crop(full[::-1], n, m, mode)[::-1]   # the middle rounds the other way
    return _crop(full, n, m, mode)


@_implements(np.polyval)
def polyval(p, x):
    """p[0] x^(N-1) + ... + p[N-1], by Horner's rule (derivatives in p and x).

    >>> polyval(np.array([1.0, 0.0, -1.0]), np.array([2.0, 3.0]))
    array([3., 8.])
    """
    if anp.ndim(p) != 1:
        raise TypeError(f"polyval: the coefficients must be one vector, not of shape "
                        f"{anp.shape(p)}")
    coefficients = list(np.asarray(p)) if not isinstance(p, Tracer) else \
        [p[i] for i in range(anp.shape(p)[0])]
    x = anp._operand(x)
    result = anp.zeros_like(x) if not coefficients else coefficients[0] + 0.0 * x
    for c in coefficients[1:]:
        result = result * x + c
    return result
