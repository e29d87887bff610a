"""The public way to declare a primitive; the built-in catalogue uses exactly this.

Four kinds, one declaration function each:

* `defelementwise(name, value, partials, ...)`: give the value and one partial derivative per
  argument, `partial(*xs, y) -> dy/dx_i`; the JVP, the VJP, un-broadcasting, batching and the
  fused Numba kernel are derived here once. Partials are written with NumPy ufuncs and
  operators, so the same function runs on arrays, on traced values (where it becomes
  catalogue operations: derivatives of any order) and inside Numba. `linear=True` declares
  constant partials (add: 1, 1): nothing is kept for the sweep.
* `deflinear(name, impl, transpose=(...), ...)`: an operation linear in its differentiable
  arguments (reshape, sum, indexing...). It gives its transpose (the VJP) only: its JVP is
  the operation itself applied to the tangents, derived here once (`batch=` says how its
  parameters change when the tangents carry leading batch axes). Its rules see the shapes
  and dtypes of the linear arguments (`Aval`s), never their values, so the tape keeps none.
* `defprimitive(name, impl, jvp=(...), vjp=(...), cost=...)`: any other operation, with
  hand-written per-argument rules.
* `defnondiff(name, impl, ...)`: a value with no derivative (floor, comparisons); its
  result is a constant to every transform.

Every fact about a primitive (its NumPy twin, how it treats an identity seed, its cost, its
domain) is an argument of these functions, checked at registration with arity, rule
signatures and duplicate names. Imports `ad.primitive`, `ad.kernels` and, at the end (they
are declared with this module's functions), the structural primitives of
`ad.catalogue.structure` that the derived rules are made of.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from ad import kernels
from ad.errors import NotDifferentiableError, RegistrationError, ShapeError
from ad.primitive import (BUILTIN_NAMES, COMPLEX_KINDS, ZERO, CostFn, PerElement, Primitive,
                          Tracer, aval_of, bind, check_rule, float_like, register, shape_of,
                          shaped_tangent, value_dtype)

REAL = (-np.inf, np.inf)
#: The cost entry of a primitive declared without one: one flop per output element for its
#: value, one JVP direction and one VJP, one element kept. A placeholder, so a notebook's
#: primitive works at once; give a real entry for the cost model's predictions to hold.
DEFAULT_COST = PerElement(1, 1, 1, 1)


# ----------------------------------------------------------------------------- general
def defprimitive(name: str, impl: Callable, *, jvp: Sequence[Callable | None] | None,
                 vjp: Sequence[Callable | None] | str, cost: CostFn = DEFAULT_COST,
                 domain: Sequence[tuple[float, float]] | None = None, numpy: Callable | None = None,
                 arity: int | None = None, batched: bool = False,
                 identity_seed: str | None = None, outputs: int = 1,
                 dependency: str | Callable | None = None,
                 keeps_output: bool = True, complex: str | None = None) -> Primitive:
    """Declare a primitive with hand-written per-argument JVP and VJP rules.

    `jvp=None` declares a VJP-only primitive: reverse mode only (forward mode raises a
    named error and `jacobian(mode="auto")` picks reverse). `vjp="transpose"` derives every
    VJP from the JVP rules, which are linear in the
    tangent: the reverse engine records the rule on a zero tangent and sweeps that recording
    with the cotangent (the transpose of a linear map), so no second formula is written.

    `outputs=k` declares k results: the value returns a tuple, each JVP rule returns a tuple
    of k tangents, each VJP rule takes the tuple of k cotangents (ZERO where none arrived),
    and `out` in the rules is the tuple of results.

    `dependency` says which result elements depend on which argument elements, for
    sparsity detection (`Primitive.dependency`: "elementwise", or a callable giving the
    pairs); without it, `ad.sparsity` and `sparse=True` refuse programs using the primitive.

    `keeps_output=False` declares that the rules read only `out`'s shape and dtype, so the
    tape keeps a stand-in for it (`ad.primitive.OutputShape`) rather than its memory.
    `complex="holomorphic"` declares that the rules hold on complex values as written
    (`ad.primitive.COMPLEX_KINDS`); by default complex values are refused with an error.

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
    primitive = Primitive(name, impl, jvp=jvp, vjp=vjp, cost=cost, domain=domain, arity=arity,
                          numpy=numpy, identity_seed=identity_seed, outputs=outputs)
    primitive.dependency = _checked_dependency(name, dependency)
    primitive.keeps_output = bool(keeps_output)
    primitive.complex = _checked_complex(name, complex)
    for what, rules in (("JVP rule", primitive.jvp_rules), ("VJP rule", primitive.vjp_rules)):
        for rule in rules:
            if rule is not None:
                check_rule(name, what, rule, 2 + primitive.arity)
    if not batched:
        primitive.jvp_rules = tuple(None if rule is None else
                                    _per_direction(rule, i, False, name)
                                    for i, rule in enumerate(primitive.jvp_rules))
        primitive.vjp_rules = tuple(None if rule is None else
                                    _per_direction(rule, i, True, name)
                                    for i, rule in enumerate(primitive.vjp_rules))
    return register(primitive)


def _per_direction(rule: Callable, argument: int, reverse: bool, name: str = "") -> Callable:
    """`rule`, written for one tangent (or cotangent), applied to each direction of a batch.

    A JVP rule's tangent has the shape of its argument, a VJP rule's cotangent that of the
    output (a tuple of them, one per output, for a primitive with several); any extra
    leading axes are batch axes. They are flattened, the rule runs once per direction, and
    the results are stacked back (with catalogue operations, so this nests).
    """
    def one_at_a_time(t, out, *primals, **params):
        several = type(out) is tuple
        if reverse and several:   # the batch from the first cotangent that arrived
            probe, base = next((c, o) for c, o in zip(t, out) if c is not ZERO)
            base = shape_of(base)
        else:
            probe, base = t, shape_of(out) if reverse else shape_of(primals[argument])
        shape = shape_of(probe)
        nb = len(shape) - len(base)
        if nb <= 0:
            return rule(t, out, *primals, **params)
        batch = shape[:nb]
        count = math.prod(batch)
        if reverse and several:
            flats = [ZERO if c is ZERO else reshape(c, shape=(count,) + shape_of(c)[nb:])
                     for c in t]
            results = [rule(tuple(ZERO if f is ZERO else f[b] for f in flats), out, *primals,
                            **params) for b in range(count)]
        else:
            flat = reshape(t, shape=(count,) + tuple(base))
            results = [rule(flat[b], out, *primals, **params) for b in range(count)]
        if any(r is None for r in results):       # (ad.ZERO is the zero tangent)
            raise TypeError(f"primitive '{name}': its {'VJP' if reverse else 'JVP'} rule for "
                            f"argument {argument} returned None; return the "
                            f"{'cotangent' if reverse else 'tangent'} (ad.ZERO for none)")
        if not reverse and several:   # a tuple of tangents per direction: stack each output
            results = [(ZERO,) * len(out) if r is ZERO else r for r in results]
            return tuple(_stack(list(column), batch, shape_of(o), True)
                         for column, o in zip(zip(*results), out))
        target = shape_of(primals[argument]) if reverse else shape_of(out)
        return _stack(results, batch, target, not reverse)
    one_at_a_time.__name__ = getattr(rule, "__name__", "rule")
    one_at_a_time.__wrapped__ = rule
    return one_at_a_time


def _stack(results: list, batch: tuple, target: tuple, tangents: bool = True):
    """One direction's results stacked into batch + target (ZERO when all are ZERO); a
    tangent that only broadcasts to target (a lower-rank term) is broadcast, anything else
    of another shape is a named error (a cotangent must have its argument's shape)."""
    if all(r is ZERO for r in results):
        return ZERO
    target = tuple(target)
    dtype = np.result_type(*[value_dtype(r) for r in results if r is not ZERO])
    for k, r in enumerate(results):
        if r is ZERO or shape_of(r) == target:
            continue
        if tangents:         # one direction's: unbatched
            results[k] = shaped_tangent(r, target, False, "a primitive")
            continue
        raise ShapeError(f"a VJP rule gave a cotangent of shape {shape_of(r)} where {target} "
                         "is the shape")
    rows = [reshape(np.zeros(target, dtype) if r is ZERO else r, shape=(1,) + target)
            for r in results]
    stacked = rows[0] if len(rows) == 1 else concatenate(*rows, axis=0)
    return reshape(stacked, shape=tuple(batch) + target)


# ----------------------------------------------------------------------------- linear
def _applied_to_the_tangent(*args, **params):
    """Marks a linear primitive's JVP: the primitive itself, applied to the tangents."""
    raise NotImplementedError  # pragma: no cover - never called, LinearPrimitive.jvp is


class LinearPrimitive(Primitive):
    """An operation linear in its differentiable arguments: one transpose rule each, and the
    JVP derived (the operation applied to the tangents)."""

    #: The output's and the arguments' Avals (shape, dtype), and the values of the arguments
    #: the operation is not linear in (where's condition): no linear argument is kept.
    residual_form = "avals"

    def __init__(self, name, impl, *, transpose, cost, batch, broadcasting, variadic,
                 accumulate=None, fresh_transpose=False, **kwargs) -> None:
        arity = kwargs.pop("arity", None)
        arity = -1 if variadic else arity
        linear = None if variadic else [rule is not None for rule in transpose]
        super().__init__(name, impl, arity=arity, cost=cost,
                         jvp=None if variadic else [_applied_to_the_tangent if lin else None
                                                    for lin in linear],
                         vjp=None if variadic else transpose, **kwargs)
        self.forward_mode = True              # its JVP is itself: no rule list needed
        self.linear_in = linear               # per argument (None: variadic, all linear)
        self.transpose_rule = transpose if variadic else None
        self.batch = batch
        self.broadcasting = broadcasting
        self.accumulate = accumulate
        self.fuses_accumulation = accumulate is not None
        self.fresh_vjp = fresh_transpose

    def forward(self, primals, params, needs):
        out = bind(self, primals, params)
        linear = self.linear_in
        if linear is None:
            return out, (aval_of(out), tuple([aval_of(x) for x in primals]))
        return out, (aval_of(out), tuple([aval_of(x) if lin else x
                                          for x, lin in zip(primals, linear)]))

    def jvp(self, residuals, tangents, params, in_shapes=None, out_shape=None):
        out, args = residuals
        linear = self.linear_in
        batch = None
        for i, t in enumerate(tangents):
            if t is ZERO:
                continue
            if linear is not None and not linear[i]:
                raise NotDifferentiableError(
                    f"primitive '{self.name}' is not differentiable in argument {i}")
            shape = shape_of(t)
            batch = shape[:len(shape) - args[i].ndim]
        if batch is None:
            return ZERO
        operands = []
        for i, (t, x) in enumerate(zip(tangents, args)):
            if linear is not None and not linear[i]:
                operands.append(x)           # the constant argument, as recorded
            elif t is ZERO:
                operands.append(0.0 if self.broadcasting else np.zeros(batch + x.shape, x.dtype))
            else:
                operands.append(align(t, x.ndim, out.ndim) if self.broadcasting else t)
        if batch and self.batch is not None:
            params = self.batch(params, batch, [x.shape for x in args])
        tangent = bind(self, operands, params)
        if self.broadcasting and shape_of(tangent) != batch + out.shape:
            tangent = broadcast_to(tangent, shape=batch + out.shape)
        return tangent

    def vjp_accumulate(self, i, acc, cotangent, residuals, params):
        if self.accumulate is None:
            return None
        out, args = residuals
        return self.accumulate(acc, cotangent, out, *args, **params)

    def vjp(self, i, cotangent, residuals, params, in_shape=None, out_shape=None):
        out, args = residuals
        if self.transpose_rule is not None:
            found = self.transpose_rule(i, cotangent, out, args, **params)
        else:
            rule = self.vjp_rules[i]
            if rule is None:
                raise NotDifferentiableError(
                    f"primitive '{self.name}' is not differentiable in argument {i}")
            found = rule(cotangent, out, *args, **params)
        return self._cotangent_checked(i, found, cotangent, out, args[i])


def deflinear(name: str, impl: Callable, *, transpose: Sequence[Callable | None] | Callable,
              cost: CostFn = DEFAULT_COST, batch: Callable | None = None,
              broadcasting: bool = False,
              variadic: bool = False, numpy: Callable | None = None, arity: int | None = None,
              identity_seed: str | None = None, accumulate: Callable | None = None,
              fresh_transpose: bool = False, lowering: str | None = None,
              dependency: str | Callable | None = None,
              complex: str | None = None) -> Primitive:
    """Declare a primitive linear in its differentiable arguments (sum, reshape, index...).

    `transpose[i](ct, out, *args, **params)` is the cotangent of argument i (None: not
    differentiable there; such arguments are passed to the JVP as recorded); `out` and the
    linear arguments arrive as `Aval`s (shape and dtype). Cotangents may carry leading batch
    axes. The JVP is derived: the primitive applied to the tangents (zeros for a missing
    one), with `batch(params, batch_shape, in_shapes)` giving the parameters for tangents
    with leading axes `batch_shape` (default: the same parameters). `broadcasting=True`
    marks NumPy-broadcasting operations (tangents are aligned to the output's rank first).
    A `variadic` primitive takes any number of arguments, all linear, and one
    `transpose(i, ct, out, args, **params)`, `args` the tuple of all of them (so that k
    arguments cost the rule O(1) each, not a k-tuple unpacked per call).
    `fresh_transpose=True` declares that the transposes always return a new array (the
    sweep may then accumulate into it in place);
    `accumulate(acc, ct, out, *args, **params)` adds the transpose of `ct` into the sweep's
    own buffer `acc` in place and returns it (or None to decline), so a scatter never
    allocates and adds a full buffer per contribution. `lowering` ("gather" or "scatter")
    says how a compiled tape runs it (`Primitive.lowering`). `dependency` (default: the
    lowering's index maps, else "linear", the primitive's own matrix) is its sparsity
    structure (`Primitive.dependency`). `complex="holomorphic"` (complex-linear) or
    "real-linear" (conj, real, imag: transposes for the pairing Re(sum u * v)) lets complex
    values through.

    >>> import numpy as np, ad
    >>> def double_transpose(ct, out, x): return 2.0 * ct
    >>> double = ad.deflinear("double_example", lambda x: 2.0 * x,
    ...                       transpose=(double_transpose,), cost=ad.PerElement(1, 1, 1, 0))
    >>> float(ad.grad(double)(3.0)), float(ad.jvp(double, (3.0,), (1.0,))[1])
    (2.0, 2.0)
    """
    if variadic:
        if not callable(transpose):
            raise RegistrationError(f"primitive '{name}': a variadic linear primitive gives "
                                    "one transpose(i, ct, out, args, **params)")
        check_rule(name, "transpose rule", transpose, 4)
    else:
        transpose = tuple(transpose)
        for rule in transpose:
            if rule is not None:
                check_rule(name, "transpose rule", rule,
                           2 + (len(transpose) if arity is None else arity))
    if batch is not None:
        check_rule(name, "batch rule", batch, 3)
    if accumulate is not None:
        check_rule(name, "accumulate rule", accumulate,
                   3 + (len(transpose) if arity is None else arity))
    primitive = LinearPrimitive(name, impl, transpose=transpose, cost=cost, batch=batch,
                                broadcasting=broadcasting, variadic=variadic, numpy=numpy,
                                arity=arity, identity_seed=identity_seed,
                                accumulate=accumulate, fresh_transpose=fresh_transpose)
    if lowering not in (None, "gather", "scatter"):
        raise RegistrationError(f"primitive '{name}': lowering= is 'gather', 'scatter' or None, "
                                f"not {lowering!r}")
    primitive.lowering = lowering
    primitive.dependency = _checked_dependency(name, dependency or lowering or "linear")
    primitive.complex = _checked_complex(name, complex)
    return register(primitive)


def _checked_complex(name: str, kind):
    if kind not in COMPLEX_KINDS:
        raise RegistrationError(f"primitive '{name}': complex= is one of {COMPLEX_KINDS}, not "
                                f"{kind!r}")
    return kind


#: The dependency kinds sparsity detection derives from other facts (`Primitive.dependency`).
DEPENDENCY_KINDS = ("elementwise", "gather", "scatter", "linear")


def _checked_dependency(name: str, dependency):
    if dependency is None or dependency in DEPENDENCY_KINDS:
        return dependency
    if not callable(dependency):
        raise RegistrationError(f"primitive '{name}': dependency= is one of {DEPENDENCY_KINDS}, "
                                f"a callable or None, not {dependency!r}")
    check_rule(name, "dependency rule", dependency, 4)
    return dependency


# ----------------------------------------------------------------------------- no derivative
def defnondiff(name: str, impl: Callable, *, cost: CostFn | None = None,
               numpy: Callable | None = None, arity: int | None = None,
               lowering: str | Callable | None = None) -> Primitive:
    """Declare an operation whose result carries no derivative (floor, sign, comparisons).

    `lowering` says how a compiled tape recomputes it at every replay (its result may feed
    a mask or an index): "elementwise" (impl, a NumPy ufunc, compiled into the interpreter)
    or a callable `expand(emit, args, **params)`; None: a program applying it to a traced
    value runs interpreted."""
    primitive = Primitive(name, impl, jvp=None, vjp=None, cost=cost or PerElement(1, 0, 0, 0),
                          differentiable=False, arity=arity, numpy=numpy)
    if lowering is not None and lowering != "elementwise" and not callable(lowering):
        raise RegistrationError(f"primitive '{name}': lowering= is 'elementwise', a callable "
                                f"or None, not {lowering!r}")
    primitive.lowering = lowering
    return register(primitive)


# ----------------------------------------------------------------------------- elementwise
class ElementwisePrimitive(Primitive):
    """A primitive given by its value and its partial derivatives, with NumPy broadcasting."""

    elementwise = True
    lowering = "elementwise"   # its value and partials compile into the tape interpreter
    dependency = "elementwise"   # result element j depends on argument element j (broadcast)
    fresh_vjp = True   # partial * cotangent is always a new array
    fuses_accumulation = True   # acc += partial * cotangent in one kernel (same shapes)
    #: The partial derivatives, one per argument (None where not needed): with the shapes
    #: the tape keeps per value, all the rules need.
    residual_form = "partials"

    def __init__(self, name: str, value: Callable, partials: Sequence[Callable | None], *,
                 cost: CostFn, domain, kernel: bool, numpy: Callable | None = None) -> None:
        super().__init__(name, value, jvp=partials, vjp=partials, cost=cost, domain=domain,
                         arity=len(partials), numpy=numpy)
        self.value = value
        self.partials = tuple(partials)
        self.kernel = kernel
        self.constant_only = tuple(i for i, p in enumerate(self.partials) if p is None)

    def forward(self, primals, params, needs):
        for i in self.constant_only:     # say so now, not deep inside a later sweep
            if needs[i]:
                self._partial(self.partials, i)
        for x in primals:
            if isinstance(x, Tracer):  # a lower level is tracing: partials are traced too
                out = bind(self, primals, params)
                xs = kernels.numpy_scalars(primals)
                # (a traced partial at the output's precision: `same_dtype` casts arrays)
                result = out, tuple(float_like(kernels.same_dtype(partial(*xs, out), out),
                                               out) if need else None
                                    for partial, need in zip(self.partials, needs))
                break
        else:
            result = kernels.value_and_partials(self, primals, needs)
        if self.name not in BUILTIN_NAMES:    # a user's partials (the catalogue's are tested)
            self._check_partials(*result)
        return result

    def _check_partials(self, out, partials) -> None:
        """Each partial a number or an array broadcasting to the output's shape: said here,
        not as NumPy's broadcasting error deep inside a later sweep."""
        out_shape = shape_of(out)
        for i, partial in enumerate(partials):
            if partial is None:
                continue
            kind = getattr(partial, "dtype", None)
            kind = kind.kind if kind is not None else (
                "f" if isinstance(partial, (int, float, complex)) else "O")
            shape = shape_of(partial) if kind in "biufc" else None
            try:
                fits = shape is not None and np.broadcast_shapes(shape, out_shape) == out_shape
            except ValueError:
                fits = False
            if not fits:
                what = (f"shape {shape}" if shape is not None else
                        f"a {type(partial).__name__}")
                raise ShapeError(f"primitive '{self.name}': its partial for argument {i} gave "
                                 f"{what}, where the output has shape {out_shape} (a partial "
                                 "is a number or an array of the output's shape)")

    def _partial(self, partials, i):
        partial = partials[i]
        if partial is None:
            raise NotDifferentiableError(
                f"primitive '{self.name}' is not differentiable in argument {i} (it has no "
                "rule for it), and a derivative flows through that argument here: pass it "
                "as a constant (a plain array, or ad.stop_gradient(...)) or differentiate "
                "with respect to the other arguments only")
        return partial

    def jvp(self, partials, tangents, params, in_shapes=None, out_shape=None):
        total = ZERO
        out_ndim = len(out_shape)
        for i, tangent in enumerate(tangents):
            if tangent is ZERO:
                continue
            term = _times(self._partial(partials, i), align(tangent, len(in_shapes[i]), out_ndim))
            total = term if total is ZERO else total + term
        shape = shape_of(total)
        # batched terms are batch + out_ndim axes (align); an unbatched one of a lower-rank
        # argument has fewer than out_ndim, and no batch (not its own leading axes)
        nb = max(len(shape) - out_ndim, 0)
        if total is not ZERO and shape[nb:] != out_shape:
            total = broadcast_to(total, shape=shape[:nb] + out_shape)
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


def _times(partial, tangent):
    """partial * tangent, with the unit partials of linear primitives free."""
    if type(partial) is float:
        if partial == 1.0:
            return tangent
        if partial == -1.0:
            return -tangent
    return partial * tangent


class LinearElementwisePrimitive(ElementwisePrimitive):
    """An elementwise primitive with constant partials (add: 1, 1; subtract: 1, -1): the
    partials are read once at registration and nothing is kept for the sweep."""

    fresh_vjp = False   # a unit partial passes the cotangent itself on
    residual_form = "nothing"

    def __init__(self, name, value, partials, **kwargs) -> None:
        super().__init__(name, value, partials, kernel=False, **kwargs)
        self.constants = tuple(None if p is None else
                               _constant_partial(name, value, p, len(self.partials))
                               for p in self.partials)

    def forward(self, primals, params, needs):
        return bind(self, primals, params), self.constants

    def vjp(self, i, cotangent, partials, params, in_shape=None, out_shape=None):
        return _times(self._partial(partials, i), unbroadcast(cotangent, in_shape, out_shape))

    def vjp_reuse(self, i, cotangent, partials, params, in_shape):
        return None

    fuses_accumulation = False

    def vjp_accumulate(self, i, acc, cotangent, partials, params):
        return None


def _constant_partial(name: str, value: Callable, partial: Callable, arity: int) -> float:
    """The value of a partial that must not depend on its arguments (checked at two points)."""
    found = []
    for x in (0.25, -1.75):
        xs = [np.float64(x)] * arity
        found.append(float(partial(*xs, value(*xs))))
    if found[0] != found[1]:
        raise RegistrationError(f"primitive '{name}': linear=True needs constant partials, but "
                                f"{partial.__name__} gives {found[0]} and {found[1]}")
    return found[0]


def defelementwise(name: str, value: Callable, partials: Sequence[Callable | None], *,
                   flops: float = 1, partial_flops: float = 1,
                   domain: Sequence[tuple[float, float]] | None = None,
                   numpy: Callable | None = None, kernel: bool = True,
                   linear: bool = False, complex: str | None = None) -> Primitive:
    """Declare an elementwise primitive by its value and one partial per argument.

    `value(*xs)` must broadcast like a ufunc; `partial(*xs, y)` returns d y / d x_i (any
    shape that broadcasts to y's), written with NumPy ufuncs and operators; None marks an
    argument with no derivative. `flops` and `partial_flops` are per output element.
    `kernel=False` keeps the primitive off the Numba path (for partials that are just
    references to the inputs, as in multiplication, fusing saves nothing). `linear=True`
    declares constant partials (add's are 1 and 1): they are read once, unit ones cost
    nothing, and the tape keeps nothing for the sweep. `complex="holomorphic"` declares the
    partials valid on complex values (f'(z)); "real-valued" a real function of complex
    arguments whose partials are df/dx - i df/dy (as `abs`); by default complex is refused.

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
    kept = 0 if linear else sum(1 for p in partials if p is not None)
    cost = PerElement(flops, partial_flops + derivative, partial_flops + derivative, kept)
    domain = tuple(domain) if domain else (REAL,) * arity
    if linear:
        primitive = LinearElementwisePrimitive(name, value, partials, cost=cost, domain=domain,
                                               numpy=numpy)
    else:
        primitive = ElementwisePrimitive(name, value, partials, cost=cost, domain=domain,
                                         kernel=kernel, numpy=numpy)
    primitive.complex = _checked_complex(name, complex)
    return register(primitive)


__all__ = ["defprimitive", "deflinear", "defnondiff", "defelementwise", "ElementwisePrimitive",
           "LinearElementwisePrimitive", "LinearPrimitive", "REAL"]

# The derived rules are made of these structural primitives, which are themselves declared
# with the functions above (so this import comes last).
from ad.catalogue.structure import (align, broadcast_to, concatenate, reshape,  # noqa: E402
                                    unbroadcast)
