"""Forward mode: dual numbers.

A `Dual` pairs a primal value with its tangent, tagged with the `ForwardLevel` that created
it. The tangent may carry a block of k directions as leading axes (vector mode): shape
(k,) + primal shape, so one pass pushes k directions. `ForwardLevel.process` applies a
primitive to duals: value and residuals from `Primitive.forward`, tangent from
`Primitive.jvp`. Imports `ad.context` and `ad.primitive` only (never the catalogue).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ad.context import Level, get_ident
from ad.errors import DTypeError, LevelError, ShapeError
from ad.primitive import COMPLEX, ZERO, Tracer, bind, check_complex, real_if_real, shape_of

_FLOAT = np.dtype(np.float64)


class ForwardLevel(Level):
    """A forward-mode transform in progress; its duals carry it as their tag."""

    kind = "forward"
    __slots__ = ()

    def process(self, primitive, args, params):
        if self.thread != get_ident() and self.thread is not None:   # one thread's tag
            self.check_usable()
        primals = []
        tangents = []
        for arg in args:
            if type(arg) is Dual and arg._level is self:
                primals.append(arg.primal)
                tangents.append(arg.tangent)
            else:
                primals.append(arg)
                tangents.append(ZERO)
        if not primitive.differentiable:
            return bind(primitive, primals, params)
        if self is USER_LEVEL:           # duals made by hand: their directions must agree
            _same_directions(primitive, primals, tangents)
        needs = [tangent is not ZERO for tangent in tangents]
        out, residuals = primitive.forward(primals, params, needs)
        if COMPLEX.seen or primitive.n_outputs != 1 or getattr(out, "dtype", _FLOAT).kind == "c":
            check_complex(primitive, primals, out)
        if primitive.elementwise:   # its residuals are partials: it needs the shapes
            tangent = primitive.jvp(residuals, tangents, params,
                                    [shape_of(x) for x in primals], shape_of(out))
        else:
            tangent = primitive.jvp(residuals, tangents, params)
        if tangent is ZERO:
            return out
        if primitive.n_outputs != 1:
            return tuple(value if t is ZERO else Dual._make(value, t, self)
                         for value, t in zip(out, tangent))
        if COMPLEX.seen:                 # a real value's tangent is real
            tangent = real_if_real(tangent, getattr(out, "dtype", None))
        return Dual._make(out, tangent, self)


#: The level of duals built by hand with `Dual(primal, tangent)`: the outermost of all, so
#: hand-made duals combine with each other as one perturbation and nest outside transforms.
USER_LEVEL = ForwardLevel()
USER_LEVEL.order = 0
USER_LEVEL.thread = None   # any thread may make duals by hand


class Dual(Tracer):
    """A primal value with a tangent: forward-mode AD by operator overloading.

    `tangent` has the primal's shape, or (k,) + that shape for k directions at once.

    >>> import ad, ad.numpy as anp
    >>> x = ad.Dual(2.0, 1.0)
    >>> y = x * x + anp.sin(x)
    >>> round(float(y.tangent), 6)          # d/dx (x^2 + sin x) at 2 = 4 + cos 2
    3.583853
    """

    __slots__ = ("primal", "tangent", "_level")

    def __init__(self, primal: Any, tangent: Any) -> None:
        for what, value in (("primal", primal), ("tangent", tangent)):
            if isinstance(value, Tracer) and value._level is not USER_LEVEL:
                # its level is the outermost: a transform's value inside would be taken in
                # the wrong order (its derivative lost)
                raise LevelError(f"Dual: the {what} is a value a transform traces; a dual made "
                                 "by hand holds plain values (it nests outside transforms). "
                                 "Inside a transform, use ad.jvp")
        primal = primal if isinstance(primal, Tracer) else np.asarray(primal)
        tangent = tangent if isinstance(tangent, Tracer) else np.asarray(tangent)
        if primal.dtype.kind != "f":
            primal = np.asarray(primal, dtype=np.float64) if primal.dtype.kind in "iub" \
                else _refuse_dtype(primal.dtype)
        if tangent.dtype.kind != "f":
            tangent = np.asarray(tangent, dtype=primal.dtype) if tangent.dtype.kind in "iub" \
                else _refuse_dtype(tangent.dtype)
        p_shape, t_shape = np.shape(primal), np.shape(tangent)
        if t_shape[len(t_shape) - len(p_shape):] != p_shape or len(t_shape) > len(p_shape) + 1:
            raise ShapeError(f"Dual: tangent shape {t_shape} must equal the primal shape "
                             f"{p_shape}, or be (k,) + {p_shape} for k directions")
        self.primal = primal
        self.tangent = tangent
        self._level = USER_LEVEL

    @classmethod
    def _make(cls, primal, tangent, level: ForwardLevel) -> "Dual":
        dual = object.__new__(cls)
        dual.primal = primal
        dual.tangent = tangent
        dual._level = level
        return dual

    def __repr__(self) -> str:
        return f"Dual(primal={self.primal!r}, tangent={self.tangent!r})"


def _same_directions(primitive, primals, tangents) -> None:
    """Hand-made duals combined: each tangent has its primal's shape (one direction) or
    (k,) + it (k directions); mixed counts would broadcast one direction into all."""
    counts = {shape_of(t)[:len(shape_of(t)) - len(shape_of(p))]
              for p, t in zip(primals, tangents) if t is not ZERO}
    if len(counts) > 1:
        found = sorted(c[0] if c else 1 for c in counts)
        raise ShapeError(f"{primitive.name} of Duals with different numbers of directions "
                         f"({', '.join(map(str, found))}): give every Dual a tangent of the "
                         "primal's shape (one direction) or (k,) + that shape, the same k")


def _refuse_dtype(dtype):
    raise DTypeError(f"Dual: dtype {dtype} cannot carry a derivative; use a float dtype")
