"""The public way to declare a primitive; the built-in catalogue uses exactly this.

* `defelementwise(name, value, partials, ...)`: give the value and one partial derivative per
  argument, `partial(*xs, y) -> dy/dx_i`; the JVP, the VJP, un-broadcasting, batching and the
  fused Numba kernel are derived here once. Partials are written with NumPy ufuncs and
  operators, so the same function runs on arrays, on traced values (where it becomes
  catalogue operations: derivatives of any order) and inside Numba.
* `defprimitive(name, impl, jvp=(...), vjp=(...), cost=...)`: structural operations with
  hand-written per-argument rules (tangents/cotangents may carry extra leading batch axes).
* `deflinear(...)`: the same, for operations linear in their differentiable arguments.
* `defnondiff(name, impl, ...)`: a value with no derivative (floor, comparisons); its
  result is a constant to every transform.

Registration checks arity, rule signatures, the cost entry and duplicate names eagerly.
Imports `ad.primitive` and `ad.kernels`; refers to other primitives through the registry.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from ad import kernels
from ad.errors import NotDifferentiableError, RegistrationError
from ad.primitive import (FUNCTIONS, PRIMITIVES, ZERO, CostFn, Counts, PerElement, Primitive,
                          Tracer, bind, check_rule, primal_value, register, shape_of)

REAL = (-np.inf, np.inf)


def defprimitive(name: str, impl: Callable, *, jvp: Sequence[Callable | None],
                 vjp: Sequence[Callable | None], cost: CostFn, linear: bool = False,
                 domain: Sequence[tuple[float, float]] | None = None, numpy: Callable | None = None,
                 arity: int | None = None, batched: bool = False) -> Primitive:
    """Declare a primitive with hand-written per-argument JVP and VJP rules.

    `batched=True` declares that the rules accept tangents and cotangents with extra
    *leading* batch axes (vector mode: a Jacobian pushes many directions at once) and use
    negative axes accordingly; the built-in catalogue's rules all do. With the default
    `batched=False`, a rule sees one direction at a time: the engine calls it once per
    direction of a batch and stacks the results (slower, never wrong).

    >>> import numpy as np, ad
    >>> def cube_jvp(t, out, x): return 3 * x * x * t
    >>> def cube_vjp(ct, out, x): return 3 * x * x * ct
    >>> cube = ad.defprimitive("cube_example", lambda x: x ** 3, jvp=(cube_jvp,),
    ...                        vjp=(cube_vjp,), cost=ad.PerElement(2, 4, 4, 1))
    >>> float(ad.grad(cube)(2.0))
    12.0
    """
    primitive = Primitive(name, impl, jvp=jvp, vjp=vjp, cost=cost, linear=linear,
                          domain=domain, arity=arity)
    for what, rules in (("JVP rule", jvp), ("VJP rule", vjp)):
        for rule in rules:
            if rule is not None:
                check_rule(name, what, rule, 2 + primitive.arity)
    if not batched:
        primitive.jvp_rules = tuple(None if rule is None else _per_direction(rule, i, False)
                                    for i, rule in enumerate(primitive.jvp_rules))
        primitive.vjp_rules = tuple(None if rule is None else _per_direction(rule, i, True)
                                    for i, rule in enumerate(primitive.vjp_rules))
    primitive.numpy = numpy
    return register(primitive)


def _per_direction(rule: Callable, argument: int, reverse: bool) -> Callable:
    """`rule`, written for one tangent (or cotangent), applied to each direction of a batch.

    A JVP rule's tangent has the shape of its argument, a VJP rule's cotangent that of the
    output; any extra leading axes are batch axes. They are flattened, the rule runs once per
    direction, and the results are stacked back (with catalogue operations, so this nests).
    """
    def one_at_a_time(t, out, *primals, **params):
        base = shape_of(out) if reverse else shape_of(primals[argument])
        shape = shape_of(t)
        nb = len(shape) - len(base)
        if nb <= 0:
            return rule(t, out, *primals, **params)
        target = shape_of(primals[argument]) if reverse else shape_of(out)
        batch = shape[:nb]
        flat = PRIMITIVES["reshape"](t, shape=(math.prod(batch),) + tuple(base))
        results = [rule(flat[b], out, *primals, **params) for b in range(math.prod(batch))]
        if all(r is ZERO for r in results):
            return ZERO
        dtype = np.result_type(*[primal_value(r) for r in results if r is not ZERO])
        results = [np.zeros(target, dtype) if r is ZERO else r for r in results]
        stacked = FUNCTIONS[np.stack](results)
        return PRIMITIVES["reshape"](stacked, shape=tuple(batch) + tuple(target))
    one_at_a_time.__name__ = getattr(rule, "__name__", "rule")
    one_at_a_time.__wrapped__ = rule
    return one_at_a_time


def deflinear(name: str, impl: Callable, *, jvp: Sequence[Callable | None],
              vjp: Sequence[Callable | None], cost: CostFn, **kwargs) -> Primitive:
    """Declare a primitive linear in its differentiable arguments (sum, reshape, index...)."""
    return defprimitive(name, impl, jvp=jvp, vjp=vjp, cost=cost, linear=True, **kwargs)


def defnondiff(name: str, impl: Callable, *, cost: CostFn | None = None,
               numpy: Callable | None = None, arity: int | None = None) -> Primitive:
    """Declare an operation whose result carries no derivative (floor, sign, comparisons)."""
    primitive = Primitive(name, impl, jvp=None, vjp=None, cost=cost or PerElement(1, 0, 0, 0),
                          differentiable=False, arity=arity)
    primitive.numpy = numpy
    return register(primitive)


# ----------------------------------------------------------------------------- elementwise
class ElementwisePrimitive(Primitive):
    """A primitive given by its value and its partial derivatives, with NumPy broadcasting."""

    elementwise = True
    fresh_vjp = True   # partial * cotangent is always a new array

    def __init__(self, name: str, value: Callable, partials: Sequence[Callable | None], *,
                 cost: CostFn, domain, kernel: bool) -> None:
        super().__init__(name, value, jvp=partials, vjp=partials, cost=cost, domain=domain,
                         arity=len(partials))
        self.value = value
        self.partials = tuple(partials)
        self.kernel = kernel

    #: The partial derivatives, one per argument (None where not needed): with the shapes
    #: the tape keeps per value, all the rules need.
    residual_form = "partials"

    def forward(self, primals, params, needs):
        for x in primals:
            if isinstance(x, Tracer):  # a lower level is tracing: partials are traced too
                out = bind(self, primals, params)
                return out, tuple(kernels.same_dtype(partial(*primals, out), out) if need
                                  else None for partial, need in zip(self.partials, needs))
        return kernels.value_and_partials(self, primals, needs)

    def _partial(self, partials, i):
        partial = partials[i]
        if partial is None:
            raise NotDifferentiableError(
                f"primitive '{self.name}' is not differentiable in argument {i}")
        return partial

    def jvp(self, partials, tangents, params, in_shapes=None, out_shape=None):
        total = ZERO
        out_ndim = len(out_shape)
        for i, tangent in enumerate(tangents):
            if tangent is ZERO:
                continue
            term = self._partial(partials, i) * align(tangent, len(in_shapes[i]), out_ndim)
            total = term if total is ZERO else total + term
        shape = shape_of(total)
        if total is not ZERO and shape[len(shape) - out_ndim:] != out_shape:
            batch = shape[:len(shape) - out_ndim]
            total = PRIMITIVES["broadcast_to"](total, shape=batch + out_shape)
        return total

    def vjp(self, i, cotangent, partials, params, in_shape=None, out_shape=None):
        partial = partials[i]
        if partial is None:
            self._partial(partials, i)
        return unbroadcast(partial * cotangent, in_shape, out_shape)

    def vjp_reuse(self, i, cotangent, partials, params, in_shape):
        partial = partials[i]
        if (type(cotangent) is np.ndarray and cotangent.shape == in_shape
                and cotangent.flags.writeable
                and (isinstance(partial, (float, int)) or (
                    type(partial) is np.ndarray and partial.shape == cotangent.shape
                    and partial.dtype == cotangent.dtype))):
            np.multiply(cotangent, partial, out=cotangent)
            return cotangent
        return None

    def vjp_accumulate(self, i, acc, cotangent, partials, params):
        partial = partials[i]
        if (type(partial) is np.ndarray and type(cotangent) is np.ndarray
                and partial.shape == cotangent.shape == acc.shape
                and partial.dtype == cotangent.dtype == acc.dtype):
            return kernels.accumulate(acc, partial, cotangent)
        return None


def defelementwise(name: str, value: Callable, partials: Sequence[Callable | None], *,
                   flops: float = 1, partial_flops: float = 1,
                   domain: Sequence[tuple[float, float]] | None = None,
                   numpy: Callable | None = None, kernel: bool = True) -> Primitive:
    """Declare an elementwise primitive by its value and one partial per argument.

    `value(*xs)` must broadcast like a ufunc; `partial(*xs, y)` returns d y / d x_i (any
    shape that broadcasts to y's), written with NumPy ufuncs and operators; None marks an
    argument with no derivative. `flops` and `partial_flops` are per output element.
    `kernel=False` keeps the primitive off the Numba path (for partials that are just
    references to the inputs, as in multiplication, fusing saves nothing).

    >>> import numpy as np, ad
    >>> def softsign(x): return x / (1 + np.abs(x))
    >>> def softsign_partial(x, y): return 1 / (1 + np.abs(x)) ** 2
    >>> softsign_p = ad.defelementwise("softsign_example", softsign, (softsign_partial,),
    ...                                flops=3, partial_flops=3)
    >>> float(ad.grad(softsign_p)(1.0))
    0.25
    """
    if not callable(value):
        raise RegistrationError(f"primitive '{name}': value {value!r} is not callable")
    arity = len(partials)
    for partial in partials:
        if partial is not None:
            check_rule(name, "partial", partial, arity + 1)
    if domain is not None and len(domain) != arity:
        raise RegistrationError(f"primitive '{name}': domain has {len(domain)} entries for "
                                f"{arity} arguments")
    derivative = sum(2 for p in partials if p is not None)
    cost = PerElement(flops, partial_flops + derivative, partial_flops + derivative,
                      sum(1 for p in partials if p is not None))
    primitive = ElementwisePrimitive(name, value, partials, cost=cost,
                                     domain=tuple(domain) if domain else (REAL,) * arity,
                                     kernel=kernel)
    primitive.numpy = numpy
    return register(primitive)


# ----------------------------------------------------------------------------- shared helpers
def align(tangent, in_ndim: int, out_ndim: int):
    """Insert axes after the batch axes so an input's tangent broadcasts like its primal."""
    extra = out_ndim - in_ndim
    if extra <= 0:
        return tangent
    shape = shape_of(tangent)
    nb = len(shape) - in_ndim
    if nb == 0:
        return tangent
    return PRIMITIVES["reshape"](tangent, shape=shape[:nb] + (1,) * extra + shape[nb:])


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
        cotangent = PRIMITIVES["sum"](cotangent, axis=axes, keepdims=False)
    return PRIMITIVES["reshape"](cotangent, shape=shape[:nb] + tuple(in_shape))


def per_element(flops: float, jvp: float, vjp: float, saved: float) -> PerElement:
    """Cost entry whose counts are per output element."""
    return PerElement(flops, jvp, vjp, saved)


__all__ = ["defprimitive", "deflinear", "defnondiff", "defelementwise", "ElementwisePrimitive",
           "align", "unbroadcast", "per_element", "Counts", "PerElement", "REAL"]
