"""`ad.numpy`: NumPy's API on traced values, and the NumPy-protocol dispatch tables.

Every function here accepts plain arrays, Python numbers and traced values, and mirrors the
NumPy function of the same name. Elementwise functions are the catalogue's primitives
themselves; the rest normalise arguments (axes, shapes, indices) and bind catalogue
primitives or compose other `ad.numpy` functions. Registering them in `UFUNCS`/`FUNCTIONS`
is what makes plain `np.sin(x)` or `np.sum(x)` work on a traced `x`.

This module holds elementwise functions, array facts, the basic reductions and shapes;
the rest live in `_reductions` (scans, sort, statistics), `_numeric` (differences,
integration, interpolation, convolution, polynomials), `_shapes` (structure),
`_indexing` (take, the functional `x.at[...]` update), `_products` (einsum, kron, cross)
and `linalg`, all re-exported here. Imports `ad.catalogue`, `ad.errors` and `ad.primitive`.

>>> import ad, ad.numpy as anp
>>> float(ad.grad(lambda x: anp.sum(anp.tanh(x) ** 2))(0.5))
0.7268619813835873
"""
from __future__ import annotations

import builtins as _builtins
import sys as _sys
import inspect as _inspect
import math
import numbers as _numbers
import operator
from typing import Any as _Any

import numpy as _np

from ad.catalogue import elementwise as _elementwise
from ad.catalogue import linalg as _linalg
from ad.catalogue import reductions as _reduction
from ad.catalogue import structure as _structure
from ad.primitive import PRIMITIVES as _PRIMITIVES
from ad.catalogue.structure import normalize_index as _normalize_index
from ad.errors import ShapeError as _ShapeError
from ad.primitive import FUNCTIONS as _FUNCTIONS
from ad.primitive import NAMESPACES as _NAMESPACES
from ad.primitive import UFUNCS as _UFUNCS
from ad.primitive import Tracer as _Tracer
from ad.primitive import primal_value as _primal_value
from ad.primitive import value_dtype as _value_dtype
from ad.primitive import shape_of as _shape_of

pi = _np.pi
e = _np.e
inf = _np.inf
nan = _np.nan
newaxis = None
float32 = _np.float32
float64 = _np.float64
ndarray = _np.ndarray



def _implements(*numpy_functions):
    """Register an ad.numpy function as the traced version of NumPy functions.

    A keyword NumPy accepts but this function does not (say `np.sum(x, where=m)`) raises
    UnsupportedFunctionError naming the function and the keyword, not a bare TypeError.
    """
    def register(function):
        for numpy_function in numpy_functions:
            _FUNCTIONS[numpy_function] = _checked(numpy_function, function)
        return function
    return register


def _checked(numpy_function, function):
    parameters = _inspect.signature(function).parameters.values()
    if _builtins.any(p.kind is p.VAR_KEYWORD for p in parameters):
        return function
    accepted = frozenset(p.name for p in parameters)
    name = f"{getattr(numpy_function, '__module__', 'numpy') or 'numpy'}." \
           f"{numpy_function.__name__}"

    def dispatch(*args, **kwargs):
        for key in kwargs:
            if key not in accepted:
                from ad.errors import UnsupportedFunctionError
                raise UnsupportedFunctionError(
                    f"{name}(..., {key}=...) is not supported on traced values by "
                    f"ad.numpy.{function.__name__}; supported keywords: {sorted(accepted)}")
        return function(*args, **kwargs)
    dispatch.__name__ = function.__name__
    dispatch.__wrapped__ = function
    return dispatch


# ----------------------------------------------------------------------------- elementwise
# The catalogue's elementwise primitives, under NumPy's names, dispatching NumPy's ufuncs.
for _primitive in list(_PRIMITIVES.values()):
    _ufunc = getattr(_primitive, "numpy", None)
    if isinstance(_ufunc, _np.ufunc):
        globals()[_ufunc.__name__] = _primitive
        _UFUNCS[_ufunc] = _primitive

true_divide = divide  # noqa: F821 - defined by the loop above
abs = absolute  # noqa: A001, F821
_power = _elementwise.power
_integer_pow = _elementwise.integer_pow


def power(x1, x2):
    """x1 ** x2, as numpy.power. A constant integer-valued scalar exponent takes the
    `integer_pow` primitive, whose derivatives are exact at x1 == 0 to every order.

    >>> import ad
    >>> float(ad.grad(lambda x: x ** 0 + x ** 2)(0.0)), float(ad.grad(power, 1)(2.0, 3.0))
    (0.0, 5.545177444479562)
    """
    if isinstance(x1, _Tracer) and not isinstance(x2, _Tracer) and _shape_of(x2) == ():
        n = _integer_exponent(x2)
        if n is not None:
            dtype = _np.result_type(x1.dtype, x2)
            return _integer_pow(x1 if dtype == x1.dtype else astype(x1, dtype), n=n)
    return _power(x1, x2)


def _integer_exponent(x2):
    """`x2` as an int when it is a real number with an integer value, else None."""
    if isinstance(x2, (int, _np.integer)):
        return int(x2)
    value = _np.asarray(x2)
    if value.dtype.kind == "f" and _np.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


_UFUNCS[_np.power] = power
pow = power  # noqa: A001
stop_gradient = _elementwise.stop_gradient
mod = remainder  # noqa: F821
sinc = _elementwise.sinc
_FUNCTIONS[_np.sinc] = sinc


def positive(x):
    """+x (the identity)."""
    return x


_UFUNCS[_np.positive] = positive


@_implements(_np.round, _np.around)
def round(a, decimals: int = 0, out=None):  # noqa: A001
    """Round to `decimals` places; a constant to every transform (derivative 0).

    >>> float(round(2.567, 1))
    2.6
    """
    _no_out(out, "round")
    return _elementwise.round_(a, decimals=operator.index(decimals))


around = round


def conjugate(x):
    """Complex conjugate (the identity on real values)."""
    if isinstance(x, _Tracer):
        return _elementwise.conj(x) if x.dtype.kind == "c" else x
    return _np.conjugate(x)


conj = conjugate
_UFUNCS[_np.conjugate] = conjugate


@_implements(_np.real)
def real(val):
    """The real part (the identity on real values).

    >>> import ad
    >>> float(ad.grad(lambda x: real(exp(1j * x)))(0.0))          # d/dx cos x at 0
    -0.0
    """
    if isinstance(val, _Tracer):
        return _elementwise.real(val) if val.dtype.kind == "c" else val
    return _np.real(val)


@_implements(_np.imag)
def imag(val):
    """The imaginary part (zeros, a constant, for real values)."""
    if isinstance(val, _Tracer):
        return _elementwise.imag(val) if val.dtype.kind == "c" else zeros_like(val)
    return _np.imag(val)


@_implements(_np.angle)
def angle(z, deg: bool = False):
    """The argument of a complex number, arctan2(imag, real) (radians, or degrees).

    >>> import ad
    >>> float(ad.grad(lambda x: angle(x + 1j))(1.0))     # d/dx atan(1/x) = -1/2
    -0.5
    """
    if not isinstance(z, _Tracer):
        return _np.angle(z, deg=deg)
    out = arctan2(imag(z), real(z))
    return out * (180.0 / _np.pi) if deg else out


@_implements(_np.nan_to_num)
def nan_to_num(x, copy=True, nan: float = 0.0, posinf=None, neginf=None):
    """Replace NaN and infinities by finite numbers; replaced entries get derivative 0.

    >>> nan_to_num(_np.array([1.0, _np.nan]))
    array([1., 0.])
    """
    x = _operand(x)
    for v in (nan, posinf, neginf):          # NumPy's: numbers
        if not (v is None or isinstance(v, (_Tracer, _numbers.Number, _np.ndarray))):
            raise TypeError(f"nan_to_num: nan, posinf and neginf must be numbers, not {v!r}")
    dtype = _value_dtype(x)                        # metadata: not a value read
    info = _np.finfo(dtype if dtype.kind == "f" else _np.float64)
    # the masks are comparisons of x (recomputed by a compiled tape), not values read;
    # all three of the input, before any replacement (posinf=-1 is not then a -inf)
    inf = isinf(x)  # noqa: F821
    nans, pos, neg = isnan(x), logical_and(inf, x > 0), logical_and(inf, x < 0)  # noqa: F821
    x = where(nans, nan, x)
    x = where(pos, info.max if posinf is None else posinf, x)
    return where(neg, info.min if neginf is None else neginf, x)


def where(condition, x=None, y=None):
    """Elementwise select; with one argument, the indices where `condition` holds."""
    if x is None and y is None:
        return _np.where(_primal_value(condition))
    if x is None or y is None:
        raise ValueError("where: either both or neither of x and y should be given")
    if (isinstance(condition, _Tracer) and getattr(condition._level, "selects", False)
            and condition.dtype == bool):
        # a compiled tape's recording: the mask stays traced, recomputed at each replay
        return _elementwise.where(condition, x, y)
    return _elementwise.where(_np.asarray(_primal_value(condition), dtype=bool), x, y)


_FUNCTIONS[_np.where] = where


@_implements(_np.clip)
def clip(a, a_min=None, a_max=None, *, min=None, max=None):  # noqa: A002
    """Clip to [a_min, a_max] (NumPy 2's min=/max= spellings too); the derivative is 1
    inside, including the bounds, 0 outside."""
    a_min = min if a_min is None else a_min
    a_max = max if a_max is None else a_max
    # a NaN bound gives NaN, as NumPy's (a comparison with NaN alone is never true)
    if a_min is not None:
        a = where(logical_or(a < a_min, a_min != a_min), a_min, a)  # noqa: F821
    if a_max is not None:
        a = where(logical_or(a > a_max, a_max != a_max), a_max, a)  # noqa: F821
    return a


# ----------------------------------------------------------------------------- array facts
def shape(a) -> tuple[int, ...]:
    return a.shape if isinstance(a, _Tracer) else _np.shape(a)


def ndim(a) -> int:
    return len(shape(a))


def size(a, axis=None) -> int:
    s = shape(a)
    return math.prod(s) if axis is None else s[axis]


def result_type(*args):
    return _np.result_type(*[_value_dtype(a) if isinstance(a, _Tracer) else a for a in args])


_FUNCTIONS.update({_np.shape: shape, _np.ndim: ndim, _np.size: size,
                   _np.result_type: result_type})


@_implements(_np.zeros_like)
def zeros_like(a, dtype=None):
    a = _operand(a)
    return _np.zeros(shape(a), dtype=dtype or _value_dtype(a))


@_implements(_np.ones_like)
def ones_like(a, dtype=None):
    a = _operand(a)
    return _np.ones(shape(a), dtype=dtype or _value_dtype(a))


zeros = _np.zeros
ones = _np.ones
eye = _np.eye
arange = _np.arange


@_implements(_np.linspace)
def linspace(start, stop, num: int = 50, endpoint: bool = True, retstep: bool = False,
             dtype=None, axis: int = 0):
    """Evenly spaced numbers; traced endpoints keep their derivatives (scalar endpoints).

    >>> linspace(0.0, 1.0, 5)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    if not isinstance(start, _Tracer) and not isinstance(stop, _Tracer):
        return _np.linspace(start, stop, num, endpoint=endpoint, retstep=retstep, dtype=dtype,
                            axis=axis)
    if ndim(start) or ndim(stop) or axis != 0:
        raise NotImplementedError("ad.numpy.linspace: traced endpoints must be scalars")
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"linspace: Number of samples, {num}, must be non-negative.")
    steps = (num - 1) if endpoint else num
    fraction = _np.arange(num) / _builtins.max(steps, 1)
    step = (stop - start) / _builtins.max(steps, 1)
    values = start + (stop - start) * fraction
    if endpoint and num > 1:   # exactly stop at the end, as NumPy
        values = where(_np.arange(num) == num - 1, stop + 0.0 * start, values)
    if dtype is None:          # NumPy's: result_type(start, stop, float(num))
        dtype = _np.result_type(*[v if isinstance(v, (int, float)) else _value_dtype(v)
                                  for v in (start, stop)], float(num))
    values = _in_dtype(values, dtype)
    return (values, step) if retstep else values


@_implements(_np.logspace)
def logspace(start, stop, num: int = 50, endpoint: bool = True, base=10.0, dtype=None,
             axis: int = 0):
    """base ** linspace(start, stop, num); traced endpoints (and base) differentiate."""
    exponents = linspace(start, stop, num, endpoint=endpoint, axis=axis)
    values = power(base, exponents)
    return values if dtype is None else astype(values, dtype)


degrees = rad2deg  # noqa: F821 - NumPy's other names for them
radians = deg2rad  # noqa: F821
_UFUNCS[_np.degrees] = degrees
_UFUNCS[_np.radians] = radians


@_implements(_np.real_if_close)
def real_if_close(a, tol=100):
    """The real part when every imaginary part is within `tol` machine epsilons of 0 (as
    NumPy's; a traced value too: its derivative is the real part's), else `a`."""
    if not isinstance(a, _Tracer):
        return _np.real_if_close(a, tol)
    value = _np.asarray(_primal_value(a))
    if value.dtype.kind != "c":
        return a
    limit = tol * _np.finfo(value.dtype).eps if tol > 1 else tol
    return real(a) if _np.all(_np.abs(value.imag) < limit) else a


# ----------------------------------------------------------------------------- axes helpers
def _axis(axis, nd: int, function: str) -> int:
    """Normalise one axis to a non-negative int, with NumPy's AxisError when out of range."""
    if isinstance(axis, (bool, _np.bool_)):
        raise TypeError(f"{function}: axis must be an integer, not {axis!r}")
    return _axes(operator.index(axis), nd, function)[0]


def _safe_root(value, p: float = 2.0):
    """value ** (1 / p) (sqrt by default) with derivative 0, not inf or NaN, where value is
    0: the norms and std use it at the origin."""
    if not isinstance(value, _Tracer):
        return _np.power(value, 1.0 / p) if p != 2.0 else _np.sqrt(value)
    zero = value == 0           # traced where a compiled tape records: recomputed there
    root = sqrt(value + zero) if p == 2.0 else power(where(zero, 1.0, value), 1.0 / p)  # noqa: F821
    return root * logical_not(zero)  # noqa: F821


def _squared_magnitude(x):
    """|x|^2 elementwise: x * x for real values, re^2 + im^2 (real) for complex ones (the
    norms, var and std of complex input, as NumPy's)."""
    dtype = x.dtype if isinstance(x, (_Tracer, _np.ndarray)) else _np.result_type(x)
    if dtype.kind != "c":
        return x * x
    re, im = real(x), imag(x)
    return re * re + im * im


def _axes(axis, nd: int, function: str) -> tuple[int, ...]:
    """Normalise an axis argument to a tuple of non-negative ints, with a clear error."""
    if axis is None:
        return tuple(range(nd))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in items:
        if isinstance(a, (bool, _np.bool_)):      # True is not axis 1 (NumPy refuses it)
            raise TypeError(f"{function}: axis must be an integer, not {a!r}")
        a = operator.index(a)
        if not -nd <= a < _builtins.max(nd, 1):
            raise _np.exceptions.AxisError(f"{function}: axis {a} is out of bounds for an "
                                           f"array of dimension {nd}")
        out.append(a % nd if nd else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{function}: repeated axis in {axis}")
    return tuple(sorted(out))


def _keepdims(value, function: str) -> bool:
    """keepdims= as NumPy reads it: a bool or an integer (a string is refused, not truthy)."""
    try:
        return bool(operator.index(value))
    except TypeError:
        raise TypeError(f"{function}: keepdims must be a bool, not {value!r}") from None


# ----------------------------------------------------------------------------- reductions
@_implements(_np.sum)
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None,  # noqa: A001
        where=None):
    """Sum over `axis` (int, tuple or None), as numpy.sum; `where` masks elements out and
    `initial` starts the sum."""
    _no_out(out, "sum")
    a = _accumulating(a, dtype)
    if where is not None:
        a = _elementwise.where(_np.asarray(_primal_value(where), dtype=bool), a, 0.0)
    result = _structure.sum_(a, axis=_axes(axis, ndim(a), "sum"),
                             keepdims=_keepdims(keepdims, "sum"))
    if initial is not None:
        result = result + initial
    return result if dtype is None else astype(result, dtype)


@_implements(_np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    """Arithmetic mean over `axis`, as numpy.mean (`where` averages the selected elements)."""
    _no_out(out, "mean")
    a = _accumulating(a, dtype)
    axes = _axes(axis, ndim(a), "mean")
    if where is None:
        count = math.prod(shape(a)[i] for i in axes)
    else:
        mask = _np.broadcast_to(_np.asarray(_primal_value(where), dtype=bool), shape(a))
        # in the sum's dtype: an int64 count would promote a float32 mean to float64
        count = _np.sum(mask, axis=axes, keepdims=keepdims).astype(_value_dtype(a))
    total = sum(a, axis=axes, keepdims=keepdims, where=where)
    return total / count if dtype is None else astype(total / count, dtype)


def _cast_to(result, dtype, casting, function: str):
    """`result` in the dtype= asked of `function` (concatenate-like: hstack, vstack;
    einsum), refused as NumPy refuses it under `casting`."""
    if dtype is None:
        return result
    source = _value_dtype(result)
    if not _np.can_cast(source, dtype, casting=casting):
        raise TypeError(f"{function}: cannot cast from dtype('{source}') to "
                        f"dtype('{_np.dtype(dtype)}') according to the rule '{casting}'")
    return astype(result, dtype)


def _in_dtype(value, dtype):
    """`value` cast to `dtype` where it is not that already (NumPy's result dtypes)."""
    return value if _value_dtype(value) == dtype else astype(value, dtype)


def _accumulating(a, dtype):
    """`a` (a list of traced values stacked, as NumPy takes a list) in the dtype a
    reduction's dtype= names: NumPy accumulates in it (a float32 sum with dtype=float64
    adds in float64), so the cast comes first."""
    a = _operand(a)
    return a if dtype is None else astype(a, dtype)


def _extremum(primitive, pick, a, axis, keepdims, initial, where, function: str):
    """max/min with NumPy's initial= and where= (where needs initial, as in NumPy)."""
    a = _operand(a)
    if where is not None:
        if initial is None:
            raise ValueError(f"reduction operation '{function}' does not have an identity, "
                             "so to use a where mask one has to specify 'initial'")
        a = _elementwise.where(_np.asarray(_primal_value(where), dtype=bool), a, initial)
    axes = _axes(axis, ndim(a), function)
    if initial is not None and _builtins.any(shape(a)[i] == 0 for i in axes):
        # nothing to reduce: initial itself, in the result's shape (no derivative)
        kept = tuple(1 if i in axes else d for i, d in enumerate(shape(a)))
        out = _np.full(kept, initial, dtype=_value_dtype(a))
        return out if keepdims else _np.squeeze(out, axis=axes)
    result = primitive(a, axis=axes, keepdims=_keepdims(keepdims, primitive.name))
    return result if initial is None else pick(result, initial)


@_implements(_np.max, _np.amax)
def max(a, axis=None, out=None, keepdims=False, initial=None, where=None):  # noqa: A001
    """Maximum over `axis`; ties share the derivative evenly."""
    _no_out(out, "max")
    return _extremum(_reduction.amax, maximum, a, axis, keepdims, initial, where,  # noqa: F821
                     "maximum")


@_implements(_np.min, _np.amin)
def min(a, axis=None, out=None, keepdims=False, initial=None, where=None):  # noqa: A001
    """Minimum over `axis`; ties share the derivative evenly."""
    _no_out(out, "min")
    return _extremum(_reduction.amin, minimum, a, axis, keepdims, initial, where,  # noqa: F821
                     "minimum")


amax = max
amin = min


def _no_out(out, function: str) -> None:
    if out is not None:
        from ad.errors import InPlaceError
        raise InPlaceError(f"{function}(..., out=...) writes in place and cannot be "
                           "differentiated; drop out=")


# ----------------------------------------------------------------------------- shapes
@_implements(_np.reshape)
def reshape(a, shape=None, order="C", *, newshape=None):
    """Reshape (C order); one dimension may be -1."""
    target = newshape if shape is None else shape
    if order != "C":
        raise NotImplementedError("ad.numpy.reshape supports order='C' only")
    target = (target,) if isinstance(target, int) else tuple(operator.index(d) for d in target)
    n = size(a)
    if target.count(-1) > 1:
        raise ValueError("reshape: can only specify one unknown dimension")
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        target = tuple(n // known if d == -1 and known else d for d in target)
    if math.prod(target) != n:
        raise ValueError(f"cannot reshape an array of size {n} into shape {target}")
    if target == _shape_of(a):
        return a
    return _structure.reshape(a, shape=target)


@_implements(_np.ravel)
def ravel(a, order="C"):
    return reshape(a, (-1,), order=order)


@_implements(_np.transpose)
def transpose(a, axes=None):
    """Permute axes (reverse them by default)."""
    nd = ndim(a)
    axes = tuple(reversed(range(nd))) if axes is None else tuple(
        _axis(x, nd, "transpose") for x in axes)
    if sorted(axes) != list(range(nd)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {nd} dimensions")
    if axes == tuple(range(nd)):
        return a
    return _structure.transpose(a, axes=axes)


@_implements(_np.swapaxes)
def swapaxes(a, axis1, axis2):
    nd = ndim(a)
    axes = list(range(nd))
    i, j = _axis(axis1, nd, "swapaxes"), _axis(axis2, nd, "swapaxes")
    axes[i], axes[j] = axes[j], axes[i]
    return transpose(a, axes)


@_implements(_np.moveaxis)
def moveaxis(a, source, destination):
    nd = ndim(a)
    source = [_axis(s, nd, "moveaxis") for s in (
        source if isinstance(source, (tuple, list)) else [source])]
    destination = [_axis(d, nd, "moveaxis") for d in (
        destination if isinstance(destination, (tuple, list)) else [destination])]
    if len(source) != len(destination):
        raise ValueError("moveaxis: `source` and `destination` arguments must have the same "
                         "number of elements")
    order = [n for n in range(nd) if n not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(a, order)


@_implements(_np.rollaxis)
def rollaxis(a, axis: int, start: int = 0):
    """Roll `axis` backwards until it lies at position `start`, as numpy.rollaxis."""
    nd = ndim(a)
    axis = _axis(axis, nd, "rollaxis")
    start = operator.index(start)
    if not -nd <= start <= nd:
        raise _np.exceptions.AxisError(f"rollaxis: start {start} is out of bounds")
    start %= nd + 1
    if axis < start:
        start -= 1
    return moveaxis(a, axis, start) if axis != start else a


@_implements(_np.expand_dims)
def expand_dims(a, axis):
    axis = axis if isinstance(axis, (tuple, list)) else (axis,)
    out_nd = ndim(a) + len(axis)
    positions = set(_axes(axis, out_nd, "expand_dims"))
    it = iter(shape(a))
    return reshape(a, tuple(1 if i in positions else next(it) for i in range(out_nd)))


@_implements(_np.squeeze)
def squeeze(a, axis=None):
    s = shape(a)
    axes = [i for i, d in enumerate(s) if d == 1] if axis is None else list(
        _axes(axis, len(s), "squeeze"))
    for i in axes:
        if s[i] != 1:
            raise ValueError(f"squeeze: cannot select an axis to squeeze out which has size "
                             f"not equal to one (axis {i} of shape {s})")
    return reshape(a, tuple(d for i, d in enumerate(s) if i not in axes))


@_implements(_np.broadcast_to)
def broadcast_to(array, shape):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if _shape_of(array) == shape:
        return array
    _np.broadcast_shapes(_shape_of(array), shape)  # raises NumPy's own error on mismatch
    return _structure.broadcast_to(array, shape=shape)


@_implements(_np.concatenate)
def concatenate(arrays, axis=0):
    """Join arrays along an existing axis."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    nd = ndim(arrays[0])
    if _builtins.any(ndim(a) != nd for a in arrays):
        raise ValueError(f"concatenate: all inputs must have the same number of dimensions, "
                         f"got shapes {[shape(a) for a in arrays]}")
    if not _builtins.any(isinstance(a, _Tracer) for a in arrays):
        return _np.concatenate(arrays, axis=axis)
    return _structure.concatenate(*arrays, axis=_axis(axis, nd, "concatenate"))


@_implements(_np.stack)
def stack(arrays, axis=0):
    """Join arrays along a new axis."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to stack")
    shapes = {shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"all input arrays must have the same shape, got {sorted(shapes)}")
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


@_implements(_np.atleast_1d)
def atleast_1d(*arys):
    """Inputs with at least one dimension (0-d becomes shape (1,))."""
    out = [reshape(a, (1,)) if ndim(a) == 0 else a for a in arys]
    return out[0] if len(out) == 1 else out


def array(object: _Any, dtype=None):  # noqa: A002
    """An array from nested sequences that may hold traced scalars (stacked)."""
    if isinstance(object, _Tracer):
        return object if dtype is None else astype(object, dtype)
    if isinstance(object, (list, tuple)) and _contains_tracer(object):
        result = stack([array(item) for item in object])
        return result if dtype is None else astype(result, dtype)
    return _np.array(object, dtype=dtype)


def asarray(a: _Any, dtype=None):
    return array(a, dtype=dtype)


def _operand(a):
    """An array argument as the functions below read it: traced values and arrays as they
    are, anything else NumPy takes (nested lists, tuples, scalars) as an array."""
    return a if isinstance(a, (_Tracer, _np.ndarray)) else asarray(a)


def _contains_tracer(seq) -> bool:
    return _builtins.any(isinstance(x, _Tracer) or (isinstance(x, (list, tuple))
                                                     and _contains_tracer(x)) for x in seq)


@_implements(*[f for f in (getattr(_np, "astype", None),) if f is not None])   # NumPy 2
def astype(x, dtype):
    """Cast; casting to an integer or bool dtype drops the derivative."""
    dtype = _np.dtype(dtype)
    if dtype.kind not in "fc":
        return _np.asarray(_primal_value(x)).astype(dtype)
    if isinstance(x, _Tracer) and x.dtype == dtype:
        return x
    return _elementwise.astype(x, dtype=dtype)


_FUNCTIONS["astype"] = astype


# ----------------------------------------------------------------------------- indexing
def getitem(a, index):
    """`a[index]` for ints, slices, None, Ellipsis, integer arrays and boolean masks."""
    return _structure.getitem(a, index=_normalize_index(index, ndim(a)), nbatch=0)


_FUNCTIONS["getitem"] = getitem


# ----------------------------------------------------------------------------- products
@_implements(_np.dot)
def dot(a, b, out=None):
    """numpy.dot for scalars, vectors and matrices (and N-D by its last/second-last axes)."""
    _no_out(out, "dot")
    if ndim(a) == 0 or ndim(b) == 0:
        return multiply(a, b)  # noqa: F821
    if ndim(b) <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=([ndim(a) - 1], [ndim(b) - 2]))


def matmul(a, b):
    """Matrix product with NumPy's rules for vectors and stacks of matrices."""
    na, nb = ndim(a), ndim(b)
    if na == 0 or nb == 0:
        raise ValueError("matmul: input operand does not have enough dimensions (scalars are "
                         "not allowed; use *)")
    a2 = reshape(a, (1,) + shape(a)) if na == 1 else a
    b2 = reshape(b, shape(b) + (1,)) if nb == 1 else b
    if shape(a2)[-1] != shape(b2)[-2]:
        raise _ShapeError(f"matmul: shapes {shape(a)} and {shape(b)} are not aligned "
                          f"({shape(a2)[-1]} != {shape(b2)[-2]})")
    out = _linalg.matmul(a2, b2)
    if na == 1 and nb == 1:
        return reshape(out, ())
    if na == 1:
        return reshape(out, shape(out)[:-2] + shape(out)[-1:])
    if nb == 1:
        return reshape(out, shape(out)[:-1])
    return out


_UFUNCS[_np.matmul] = matmul


@_implements(_np.tensordot)
def tensordot(a, b, axes=2):
    """Sum products over the given axes (numpy.tensordot), as one matmul."""
    if isinstance(axes, (int, _np.integer)):
        axes = operator.index(axes)
        axes_a = list(range(ndim(a) - axes, ndim(a)))
        axes_b = list(range(axes))
    else:
        axes_a, axes_b = ([x] if isinstance(x, (int, _np.integer)) else list(x) for x in axes)
    axes_a = [_axis(x, ndim(a), "tensordot") for x in axes_a]
    axes_b = [_axis(x, ndim(b), "tensordot") for x in axes_b]
    free_a = [i for i in range(ndim(a)) if i not in axes_a]
    free_b = [i for i in range(ndim(b)) if i not in axes_b]
    sa, sb = shape(a), shape(b)
    k = math.prod(sa[i] for i in axes_a)
    if k != math.prod(sb[i] for i in axes_b):
        raise _ShapeError(f"tensordot: shape mismatch for sum: {sa} axes {axes_a} vs {sb} "
                          f"axes {axes_b}")
    a2 = reshape(transpose(a, free_a + axes_a), (math.prod(sa[i] for i in free_a), k))
    b2 = reshape(transpose(b, axes_b + free_b), (k, math.prod(sb[i] for i in free_b)))
    return reshape(_linalg.matmul(a2, b2), tuple(sa[i] for i in free_a) +
                   tuple(sb[i] for i in free_b))


@_implements(_np.outer)
def outer(a, b):
    return multiply(reshape(ravel(a), (-1, 1)), ravel(b))  # noqa: F821


@_implements(_np.inner)
def inner(a, b):
    if ndim(a) == 0 or ndim(b) == 0:
        return multiply(a, b)  # noqa: F821
    return tensordot(a, b, axes=([ndim(a) - 1], [ndim(b) - 1]))


_NAMESPACES.append(_sys.modules[__name__])   # errors name ad.numpy's equivalents

# The submodules import the names above, register their functions and are re-exported here.
from ad.numpy._reductions import *  # noqa: E402,F401,F403
from ad.numpy._shapes import *  # noqa: E402,F401,F403
from ad.numpy._indexing import *  # noqa: E402,F401,F403
from ad.numpy._products import *  # noqa: E402,F401,F403
from ad.numpy._numeric import *  # noqa: E402,F401,F403
from ad.numpy import linalg  # noqa: E402,F401
from ad.numpy import fft  # noqa: E402,F401
