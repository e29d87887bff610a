"""Primitives, symbolic zeros, the registry, `bind`, and the traced-value base class.

A `Primitive` is one operation `ad` knows how to differentiate. It carries its value
implementation, one JVP rule and one VJP rule per argument, its cost entry and its domain.
Engines call only the methods defined here (`forward`, `jvp`, `vjp`, `vjp_accumulate`), so
they never import the catalogue. `bind` sends an application to the innermost level among
its arguments (or evaluates it when nothing is traced).

`Tracer` is the base of `Dual` and the tape value: Python operators and the NumPy protocol
(`__array_ufunc__`, `__array_function__`) route through tables that `ad.numpy` fills, which
keeps imports one way. Imports `ad.errors` and `ad.context` only.
"""
from __future__ import annotations

import functools
import inspect
import math
import sys
import sysconfig
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ad.errors import (DTypeError, InPlaceError, NotDifferentiableError, RegistrationError,
                       ShapeError, TracerConversionError, UnsupportedFunctionError)


class Zero:
    """The symbolic zero tangent/cotangent: rules are skipped for it, no arrays are made."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ZERO"


ZERO = Zero()


# ----------------------------------------------------------------------------- cost entries
@dataclass(frozen=True)
class Counts:
    """Operation counts of one application of a primitive.

    `flops` of the value; `jvp` flops of one tangent direction; `vjp` flops of one
    cotangent; `saved` elements the VJP keeps between the forward pass and the sweep.
    """

    flops: float
    jvp: float
    vjp: float
    saved: float

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.flops + other.flops, self.jvp + other.jvp,
                      self.vjp + other.vjp, self.saved + other.saved)


CostFn = Callable[..., Counts]   # cost(in_shapes, out_shape, **params) -> Counts


def _size(shape: Sequence[int]) -> int:
    return math.prod(shape)


@dataclass(frozen=True)
class PerElement:
    """Cost entry of a primitive whose counts scale with its output size (all outputs'
    elements, for a primitive with several)."""

    flops: float
    jvp: float
    vjp: float
    saved: float

    def __call__(self, in_shapes, out_shape, **params) -> Counts:
        several = bool(out_shape) and isinstance(out_shape[0], (tuple, list))
        n = sum(_size(s) for s in out_shape) if several else _size(out_shape)
        return Counts(self.flops * n, self.jvp * n, self.vjp * n, self.saved * n)


# ----------------------------------------------------------------------------- primitives
Rule = Callable[..., Any]

#: How a primitive treats a forward-mode Jacobian's identity seed (a fact for the cost
#: model, declared with the primitive): "keeps" (the tangent is still an identity, e.g.
#: reshape), "free" (its JVP on an identity costs nothing, e.g. matmul: A @ I = A), or None.
IDENTITY_SEED = {None: "no shortcut", "keeps": "the seed stays an identity",
                 "free": "its JVP on the identity seed costs nothing"}


class Aval:
    """The shape and dtype of a value, without the value: what a linear primitive's rules
    read of its arguments (they never need the numbers), so the tape keeps no array alive.

    >>> a = Aval((2, 3), np.dtype(np.float32))
    >>> a.ndim, a.size, np.shape(a), np.ndim(a)
    (2, 6, (2, 3), 2)
    """

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __repr__(self) -> str:
        return f"Aval(shape={self.shape}, dtype={self.dtype})"


_AVALS: dict = {}


def aval_of(value) -> Aval:
    """The (shared) Aval of a value: one object per shape and dtype seen."""
    if type(value) is np.ndarray:
        key = (value.shape, value.dtype)
    else:
        dtype = getattr(value, "dtype", None)
        key = (shape_of(value), np.asarray(value).dtype if dtype is None else dtype)
    aval = _AVALS.get(key)
    if aval is None:
        aval = Aval(*key)
        if len(_AVALS) < 65536:
            _AVALS[key] = aval
    return aval


class Primitive:
    """One differentiable operation: value, per-argument JVP and VJP rules, cost, domain.

    General rules have the signatures (tangents and cotangents may carry extra *leading*
    batch axes, so rules use negative axes)::

        jvp_rule(tangent, out, *primals, **params)    -> tangent of out
        vjp_rule(cotangent, out, *primals, **params)  -> cotangent of that primal

    Build primitives with `ad.defprimitive`, `ad.defelementwise`, `ad.deflinear` or
    `ad.defnondiff` rather than with this class directly.
    """

    elementwise = False

    def __init__(self, name: str, impl: Callable, *, jvp: Sequence[Rule | None] | None,
                 vjp: Sequence[Rule | None] | None, cost: CostFn, differentiable: bool = True,
                 domain: Any = None, arity: int | None = None, numpy: Callable | None = None,
                 identity_seed: str | None = None, outputs: int = 1,
                 doc: str | None = None) -> None:
        self.name = name
        self.impl = impl
        self.arity = _arity(impl) if arity is None else arity
        #: False for a primitive declared with a VJP only (jvp=None), as a custom_vjp
        #: function is: reverse mode only, and the cost model knows it.
        self.forward_mode = jvp is not None or not differentiable
        self.jvp_rules = tuple(jvp) if jvp is not None else (None,) * self.arity
        #: VJPs derived by the reverse engine by transposing the (linear in the tangent) JVP
        #: rules, when declared vjp="transpose".
        self.transposes_jvp = isinstance(vjp, str) and vjp == "transpose"
        #: Whether reverse mode checks, once per argument, that the JVP rule it transposes
        #: is linear in the tangent (rules written by users: custom_jvp), and where it held.
        self.checks_linearity = False
        self.linear_in_tangent: set = set()
        if self.transposes_jvp:
            vjp = None
        elif isinstance(vjp, str):
            raise RegistrationError(f"primitive '{name}': vjp= takes rules or 'transpose', not "
                                    f"{vjp!r}")
        self.vjp_rules = tuple(vjp) if vjp is not None else (None,) * self.arity
        self.cost = cost
        self.differentiable = differentiable
        self.domain = domain
        if numpy is not None and not callable(numpy):
            raise RegistrationError(f"primitive '{name}': numpy= must be the NumPy function "
                                    f"it mirrors, not {numpy!r}")
        self.numpy = numpy
        if identity_seed not in IDENTITY_SEED:
            raise RegistrationError(f"primitive '{name}': identity_seed must be one of "
                                    f"{sorted(k for k in IDENTITY_SEED if k)} or None, not "
                                    f"{identity_seed!r}")
        self.identity_seed = identity_seed
        if not isinstance(outputs, int) or outputs < 1:
            raise RegistrationError(f"primitive '{name}': outputs must be a positive int, not "
                                    f"{outputs!r}")
        #: How many results the primitive returns (a tuple when more than one): each gets
        #: its own id on the tape, consecutive from the entry's first.
        self.n_outputs = outputs
        if outputs > 1:
            self.impl = _returning(impl, name, outputs)
        self.__doc__ = doc or getattr(impl, "__doc__", None)

    def __call__(self, *args, **params):
        if params and self.elementwise:
            params = _ufunc_keywords(self.name, params)
        if len(args) != self.arity and self.arity >= 0:   # (-1: variadic)
            raise TypeError(
                f"{self.name} takes {self.arity} positional argument(s), {len(args)} given"
                + (" (NumPy would take the next as out=, which ad does not support: assign "
                   "the result instead)" if len(args) == self.arity + 1 else ""))
        return bind(self, args, params)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    #: How the rules stand on complex values: one of `COMPLEX_KINDS` (None: refused).
    complex = None

    # --- what the engines call -------------------------------------------------------
    #: What `forward` keeps for the rules (the tape's residual column holds it): the output
    #: and the primal arguments, `(out, primals)`.
    residual_form = "output and inputs"
    #: False when the rules read only the output's shape and dtype (matmul's): the tape
    #: then keeps an `OutputShape` in its place, not the output's memory.
    keeps_output = True

    def forward(self, primals: list, params: dict, needs: Sequence[bool]):
        """Value and residuals (what the derivative rules need later)."""
        out = bind(self, primals, params)
        return out, self.residuals_of(out, primals)

    def residuals_of(self, out, primals):
        """What `forward` keeps for a result: the output (or its `OutputShape`) and the
        arguments (a checkpoint's re-run builds them from a kept result too)."""
        return out if self.keeps_output else OutputShape(out, self.name), primals

    def jvp(self, residuals, tangents: Sequence[Any], params: dict,
            in_shapes: Sequence[tuple] | None = None, out_shape: tuple | None = None):
        """Tangent of the output: the sum of the per-argument rules over non-zero tangents.

        `in_shapes`/`out_shape` are the entry's shapes; engines pass them to primitives
        whose residuals do not hold the values (`elementwise`), others ignore them."""
        out, primals = residuals
        total = ZERO
        for i, tangent in enumerate(tangents):
            if tangent is ZERO:
                continue
            rule = self.jvp_rules[i]
            if rule is None:
                if not self.forward_mode:
                    raise NotDifferentiableError(
                        f"primitive '{self.name}' has a VJP only (as a custom_vjp function): "
                        "forward mode (jvp, jacfwd, hessian, hvp) cannot go through it; use "
                        "reverse mode (grad, vjp, jacrev), or give it a JVP (custom_jvp)")
                raise NotDifferentiableError(
                    f"primitive '{self.name}' is not differentiable in argument {i}")
            term = rule(tangent, out, *primals, **params)
            if term is None:              # (ad.ZERO is the zero tangent)
                raise TypeError(f"primitive '{self.name}': its JVP rule for argument {i} "
                                "returned None; return the tangent (ad.ZERO for none)")
            total = add_tangents(total, term)
        if total is not ZERO and self.n_outputs == 1 and self.name not in BUILTIN_NAMES:
            total = self._tangent_shaped(total, tangents, primals, out)   # a user's rule
        return total

    def _tangent_shaped(self, total, tangents, primals, out):
        """The JVP as batch + the output's shape (`shaped_tangent`; a user's rule)."""
        k = next(i for i, t in enumerate(tangents) if t is not ZERO)
        t_shape = shape_of(tangents[k])
        batch = t_shape[:len(t_shape) - len(shape_of(primals[k]))]
        return shaped_tangent(total, batch + shape_of(out), bool(batch),
                              f"primitive '{self.name}'")

    def vjp(self, i: int, cotangent, residuals, params: dict, in_shape: tuple | None = None,
            out_shape: tuple | None = None):
        """Cotangent of argument `i` (or ZERO); the shapes as for `jvp`."""
        out, primals = residuals
        rule = self.vjp_rules[i]
        if rule is None:
            raise NotDifferentiableError(
                f"primitive '{self.name}' is not differentiable in argument {i}")
        return self._cotangent_checked(i, rule(cotangent, out, *primals, **params),
                                       cotangent, out, primals[i])

    def _cotangent_checked(self, i: int, found, cotangent, out, primal):
        """A user's VJP (or transpose) rule's cotangent, checked to be batch + the
        argument's shape: another shape would be added into the argument's wrongly (or
        broadcast), never silently (catalogue rules are property-tested instead)."""
        if found is None:                 # (ad.ZERO is the zero cotangent)
            raise TypeError(f"primitive '{self.name}': its VJP rule for argument {i} "
                            "returned None; return the cotangent (ad.ZERO for none)")
        if found is not ZERO and self.n_outputs == 1 and self.name not in BUILTIN_NAMES:
            c_shape = shape_of(cotangent)
            wanted = c_shape[:len(c_shape) - len(shape_of(out))] + shape_of(primal)
            if shape_of(found) != wanted:
                raise ShapeError(f"primitive '{self.name}': its VJP rule for argument {i} "
                                 f"gave a cotangent of shape {shape_of(found)}, where the "
                                 f"argument (with the directions) has shape {wanted}")
        return found

    #: Whether `vjp_accumulate` adds into the accumulator in place (a fact for the cost
    #: model: the sweep then pays no separate addition for this contribution).
    fuses_accumulation = False

    #: How a compiled tape runs this primitive (a fact for `ad.compiled`, like the cost
    #: entry for the cost model): "elementwise" (its value and partial functions, compiled
    #: into the interpreter), "gather" (a linear map that moves elements: its impl applied
    #: to element indices gives the map), "scatter" (a linear map that adds each
    #: argument's elements into the result, sum or concatenate: its transpose rules applied
    #: to indices give the maps), a callable
    #: `expand(emit, args, params)` that writes the primitive with others, or None (the
    #: entry does not lower).
    lowering = None

    #: What its VJP holds while it runs, beyond the tape (a fact for the memory plan,
    #: `ad.cost.memory`): None (nothing to speak of), or `sweep_bytes(params, in_bytes,
    #: out_bytes)` giving bytes from its arguments' and result's (a checkpointed loop's
    #: stored states).
    sweep_bytes = None

    #: Which elements of the result depend on which elements of each argument (a fact for
    #: sparsity detection, `ad.sparse`): "elementwise" (result element j on the argument's
    #: broadcast element j), "gather" / "scatter" (the index maps of `index_map`, as for
    #: `lowering`), "linear" (a linear primitive's own matrix, from its batched JVP on an
    #: identity block: exact, costs argument x result elements), a callable
    #: `dependency(i, in_shapes, out_shapes, params) -> [(rows, cols), ...]` (per result,
    #: the flat result and argument-i element index of every pair that may depend), or None
    #: (undeclared: detection raises a named error rather than guess a pattern).
    dependency = None

    def index_map(self, i: int, how: str, in_shapes, out_shape, params: dict, residuals):
        """A "gather" primitive's map (per result element, the flat index of the argument
        element it takes: its impl applied to indices) or a "scatter" primitive's map for
        argument i (per element of that argument, the flat index of the result element it
        adds into: its transpose rule applied to indices). Compiled tapes and sparsity
        detection both read the primitive this way."""
        out_shape = tuple(out_shape)
        if how == "gather":
            indices = np.arange(math.prod(in_shapes[0])).reshape(in_shapes[0])
            mapping = np.asarray(self.impl(indices, **params))
            if mapping.shape != out_shape:
                raise ValueError(f"{self.name}: its index map has shape {mapping.shape}, not "
                                 f"the result's {out_shape}")
            return mapping
        ct = np.arange(math.prod(out_shape)).reshape(out_shape)
        mapping = self.vjp(i, ct, residuals, params, tuple(in_shapes[i]), out_shape)
        return np.broadcast_to(np.asarray(mapping), tuple(in_shapes[i]))

    def vjp_accumulate(self, i: int, acc, cotangent, residuals, params: dict):
        """Add argument `i`'s cotangent into the owned buffer `acc` in place, or return None.

        Returning None makes the sweep fall back to `vjp` and an ordinary addition.
        """
        return None

    def vjp_reuse(self, i: int, cotangent, residuals, params: dict, in_shape: tuple):
        """Argument `i`'s cotangent computed into `cotangent`'s own buffer, or None.

        The sweep offers this only when it owns `cotangent` and nothing else will read it.
        """
        return None

    #: True when `vjp` always returns a new array (never the cotangent or a view of an
    #: input), so the sweep may later accumulate into it in place.
    fresh_vjp = False

    #: The primitive's index in the registry (set by `register`): the tape's opcode.
    opcode = -1

    def counts(self, in_shapes, out_shape, params: dict,
               traced: Sequence[bool] | None = None) -> Counts:
        """Counts of one application; `traced` says which arguments carry derivatives (a
        product with a constant factor has one derivative term, not two)."""
        if traced is None:
            return self.cost(in_shapes, out_shape, **params)
        return self.cost(in_shapes, out_shape, traced=tuple(traced), **params)


class OutputShape:
    """Stands in for a result in the residuals of a primitive whose rules read only its
    shape and dtype (`Primitive.keeps_output = False`): `np.shape`, `np.ndim` and `.dtype`
    work; reading its values is an error naming the primitive."""

    __slots__ = ("shape", "dtype", "_of")

    def __init__(self, out, of: str) -> None:
        self.shape = shape_of(out)
        self.dtype = value_dtype(out)
        self._of = of

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __array__(self, *args, **kwargs):
        raise TypeError(f"primitive '{self._of}' is declared keeps_output=False, but one of "
                        "its rules read the output's values")

    def __repr__(self) -> str:
        return f"OutputShape({self.shape}, {self.dtype})"


def _foreign_caller() -> str:
    """The installed library function (outside ad and NumPy: SciPy's, say) that asked for a
    traced value as a NumPy array, named from the call stack by its outermost frame in that
    library ("scipy.linalg.solve"); "" when the program's own code did."""
    frame, found = sys._getframe(2), None
    while frame is not None:
        module = frame.f_globals.get("__name__", "") or ""
        root = module.split(".")[0]
        if found is not None:
            if root != found[0]:
                break                            # left the library: its entry point is found
            found = (root, module, frame.f_code.co_name)
        elif root not in ("ad", "numpy"):
            if not frame.f_code.co_filename.startswith(_LIBRARIES):
                return ""                        # the program's own code
            found = (root, module, frame.f_code.co_name)
        frame = frame.f_back
    return "" if found is None else f"{found[1].split('._')[0]}.{found[2]}"


#: Where installed libraries live (site-packages and the standard library).
_LIBRARIES = tuple(sorted({path for key, path in sysconfig.get_paths().items()
                           if key in ("purelib", "platlib", "stdlib", "platstdlib")}))


def add_tangents(a, b):
    """a + b for tangents that may be ZERO, or tuples of them (several outputs)."""
    if a is ZERO:
        return b
    if b is ZERO:
        return a
    if type(a) is tuple:
        return tuple(add_tangents(x, y) for x, y in zip(a, b))
    return a + b


def _arity(fn: Callable) -> int:
    """Number of positional parameters of a value implementation (no *args allowed)."""
    if isinstance(fn, np.ufunc):   # NumPy < 2.3 gives ufuncs no readable signature
        return fn.nin
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise RegistrationError(f"cannot read the signature of {fn!r}; pass arity=") from exc
    count = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            raise RegistrationError(f"{fn!r} takes *args; pass arity= explicitly")
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            count += 1
    return count


def check_rule(name: str, what: str, rule: Callable, n_positional: int) -> None:
    """Eagerly check that `rule` accepts `n_positional` positional arguments."""
    if not callable(rule):
        raise RegistrationError(f"primitive '{name}': {what} is not callable: {rule!r}")
    try:
        sig = inspect.signature(rule)
    except (TypeError, ValueError):
        return  # builtins and ufuncs: nothing to check
    positional = [p for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(p.default is p.empty for p in positional)
    variadic = any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values())
    if not required <= n_positional <= (n_positional if variadic else len(positional)):
        raise RegistrationError(f"primitive '{name}': {what} {rule.__name__}{sig} cannot take "
                                f"{n_positional} positional arguments")


PRIMITIVES: dict[str, Primitive] = {}
#: The registry by opcode: OPCODES[primitive.opcode] is primitive (the tape stores opcodes).
OPCODES: list[Primitive] = []
#: Names the catalogue declares: they cannot be declared again. A user's own name can, as
#: when a notebook cell runs twice: the new primitive takes the name (values recorded with
#: the old one keep their opcode and still differentiate).
BUILTIN_NAMES: set[str] = set()


def register(primitive: Primitive) -> Primitive:
    """Add a primitive to the registry after checking it has every rule it needs."""
    name = primitive.name
    if name in BUILTIN_NAMES:
        raise RegistrationError(f"a primitive named '{name}' is already registered (a "
                                "built-in one); choose another name")
    if primitive.cost is None or not callable(primitive.cost):
        raise RegistrationError(f"primitive '{name}' has no cost entry")
    try:
        cost_parameters = inspect.signature(primitive.cost).parameters.values()
    except (TypeError, ValueError):
        cost_parameters = None
    if cost_parameters is not None and not any(p.kind is p.VAR_KEYWORD
                                               for p in cost_parameters):
        raise RegistrationError(f"primitive '{name}': its cost function must accept **params "
                                "(it receives the primitive's parameters and traced=)")
    if primitive.differentiable and primitive.arity >= 0:  # arity -1: variadic, own methods
        checked = [("JVP", primitive.jvp_rules)] if primitive.forward_mode else []
        if not primitive.transposes_jvp:
            checked.append(("VJP", primitive.vjp_rules))
        for what, rules in checked:
            if len(rules) != primitive.arity:
                raise RegistrationError(
                    f"primitive '{name}' takes {primitive.arity} arguments but has "
                    f"{len(rules)} {what} rules (use None for a non-differentiable argument)")
            if all(rule is None for rule in rules):
                raise RegistrationError(f"primitive '{name}' has no {what} rule; declare it "
                                        "with defnondiff if it is not differentiable")
    primitive.opcode = len(OPCODES)
    OPCODES.append(primitive)
    PRIMITIVES[name] = primitive
    return primitive


# ----------------------------------------------------------------------------- bind
#: NumPy's ufunc keywords at the values that change nothing (others are refused by name).
_UFUNC_DEFAULTS = {"out": None, "where": True, "dtype": None, "casting": "same_kind",
                   "order": "K", "subok": True, "signature": None}


def _ufunc_keywords(name: str, params: dict) -> dict:
    """An elementwise primitive's keywords with NumPy's ufunc ones taken off: at their
    defaults they change nothing; any other value (where=mask, dtype=int, casting='bogus')
    is refused by name, never silently ignored."""
    rest = {}
    for key, value in params.items():
        if key not in _UFUNC_DEFAULTS:
            rest[key] = value
        elif not (value is _UFUNC_DEFAULTS[key] or (isinstance(value, str)
                                                     and value == _UFUNC_DEFAULTS[key])):
            raise TypeError(f"{name}: NumPy's ufunc keyword {key}={value!r} is not supported "
                            "by ad (compute, then select with ad.numpy.where or cast with "
                            ".astype)")
    return rest


def _returning(impl: Callable, name: str, outputs: int) -> Callable:
    """impl, checked to return `outputs` results (a tuple or list of that many): one array
    would be unpacked along its first axis as if it were the results."""
    @functools.wraps(impl)
    def checked(*args, **params):
        out = impl(*args, **params)
        if not isinstance(out, (tuple, list)) or len(out) != outputs:
            got = (f"{len(out)} results" if isinstance(out, (tuple, list)) else
                   f"one {type(out).__name__}")
            raise TypeError(f"primitive '{name}' declares outputs={outputs} but its "
                            f"implementation returned {got}")
        return out
    return checked


def bind(primitive: Primitive, args: Sequence[Any], params: dict):
    """Apply `primitive`: the innermost level among `args` processes it, else evaluate."""
    top = None
    for arg in args:
        if isinstance(arg, Tracer):
            level = arg._level
            if not level.active:
                level.check_usable()
            if top is None or level.order > top.order:
                top = level
    if top is None:
        return primitive.impl(*args, **params)
    return top.process(primitive, args, params)


# ----------------------------------------------------------------------------- traced values
UFUNCS: dict[np.ufunc, Callable] = {}       # numpy ufunc -> ad implementation (ad.numpy fills)
#: (ufunc, "reduce" | "accumulate" | "at") -> implementation(ufunc, *inputs, **kwargs)
UFUNC_METHODS: dict[tuple[np.ufunc, str], Callable] = {}
FUNCTIONS: dict[Callable, Callable] = {}    # numpy function -> ad implementation


class Tracer:
    """A value being traced by some level: behaves like a NumPy array.

    Subclasses set `primal` and `_level`. Arithmetic, comparisons, indexing, methods and
    NumPy's own functions dispatch to `ad.numpy`, so plain NumPy code differentiates.
    """

    __slots__ = ()
    __array_priority__ = 100.0
    primal: Any
    _level: Any

    # --- array-like facts ------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return shape_of(self.primal)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return _size(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.primal.dtype

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d traced value")
        return shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        # Control flow on values is allowed: the branch taken is what gets differentiated.
        self._level.value_read("bool() of a traced value (a Python if or while on it)", self)
        return bool(self.primal)

    def _conversion_error(self, to: str, remedy: str = ""):
        raise TracerConversionError(
            f"cannot convert a traced value of shape {self.shape} to {to}: its derivative "
            f"would be lost. {remedy}Or wrap it in ad.stop_gradient(...) and use "
            "ad.primal_value(...) if you really want the number")

    def __float__(self):
        self._conversion_error("float")

    def __int__(self):
        self._conversion_error("int")

    def __index__(self):
        self._conversion_error("an index")

    def __complex__(self):
        self._conversion_error("complex")

    def __array__(self, dtype=None, copy=None):
        caller = _foreign_caller()
        self._conversion_error(
            "a NumPy array (np.asarray, np.array, or writing it into a NumPy array)"
            + (f" inside {caller}" if caller else ""),
            (f"{caller.split('.')[0]} converts its arguments to NumPy arrays; "
             + ("use ad.scipy's differentiable versions (ad.scipy.linalg, ad.scipy.special, "
                "ad.scipy.stats) or ad.numpy's. " if caller.startswith("scipy") else
                "differentiate ad.numpy code instead. ") if caller else "")
            + "To build an array of traced values use ad.numpy.array([...]) or ad.numpy.stack; "
            "to set entries of an array, y = ad.numpy.at(y)[index].set(value). ")

    def __setitem__(self, index, value):
        raise InPlaceError("in-place assignment to a traced value is not differentiable; "
                           "use the functional update `x = x.at[index].set(value)` instead")

    # NumPy's methods that change the array itself: named, not an AttributeError
    def _in_place(name: str, instead: str):
        def method(self, *args, **kwargs):
            raise InPlaceError(f"x.{name}(...) changes a traced value in place, which is not "
                               f"differentiable; use {instead} instead")
        method.__name__ = name
        return method

    sort = _in_place("sort", "`x = ad.numpy.sort(x)`")
    partition = _in_place("partition", "`x = ad.numpy.partition(x, kth)`")
    fill = _in_place("fill", "`x = ad.numpy.full_like(x, value)`")
    put = _in_place("put", "`x = x.at[indices].set(values)`")
    resize = _in_place("resize", "`x = ad.numpy.reshape(x, shape)` (or pad/concatenate)")
    del _in_place

    # --- the NumPy protocol ----------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if kwargs.get("out") is not None:
            raise InPlaceError(f"numpy.{ufunc.__name__}(..., out=...) writes into an array in "
                               "place, which cannot be differentiated; drop out=")
        if method in ("reduce", "accumulate", "at") and (ufunc, method) in UFUNC_METHODS:
            return UFUNC_METHODS[ufunc, method](ufunc, *inputs, **kwargs)
        impl = UFUNCS.get(ufunc)
        if impl is None and OPTIONAL_NAMESPACES:     # SciPy's ufuncs register on import
            load_optional_namespaces()
            impl = UFUNCS.get(ufunc)
        if impl is None or method != "__call__" or kwargs:
            call = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
            extra = f" with keywords {sorted(kwargs)}" if kwargs else ""
            module = _ufunc_module(ufunc)
            raise UnsupportedFunctionError(
                f"{module}.{call}{extra} has no differentiation rule in ad; "
                + _equivalent(ufunc.__name__ if method == "__call__" else "", module))
        return impl(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        impl = FUNCTIONS.get(func)
        if impl is None and OPTIONAL_NAMESPACES:
            load_optional_namespaces()
            impl = FUNCTIONS.get(func)
        if impl is None:
            module = getattr(func, "__module__", "numpy") or "numpy"
            raise UnsupportedFunctionError(
                f"{module}.{func.__name__} has no differentiation rule in ad; "
                + _equivalent(func.__name__, module))
        return impl(*args, **kwargs)

    # --- operators -------------------------------------------------------------------
    def __add__(self, other):
        return UFUNCS[np.add](self, other)

    def __radd__(self, other):
        return UFUNCS[np.add](other, self)

    def __sub__(self, other):
        return UFUNCS[np.subtract](self, other)

    def __rsub__(self, other):
        return UFUNCS[np.subtract](other, self)

    def __mul__(self, other):
        return UFUNCS[np.multiply](self, other)

    def __rmul__(self, other):
        return UFUNCS[np.multiply](other, self)

    def __truediv__(self, other):
        return UFUNCS[np.true_divide](self, other)

    def __rtruediv__(self, other):
        return UFUNCS[np.true_divide](other, self)

    def __floordiv__(self, other):
        return UFUNCS[np.floor_divide](self, other)

    def __rfloordiv__(self, other):
        return UFUNCS[np.floor_divide](other, self)

    def __mod__(self, other):
        return UFUNCS[np.remainder](self, other)

    def __rmod__(self, other):
        return UFUNCS[np.remainder](other, self)

    def __round__(self, ndigits=None):
        return FUNCTIONS[np.round](self, 0 if ndigits is None else ndigits)

    def __divmod__(self, other):
        return self // other, self % other

    def __rdivmod__(self, other):
        return other // self, other % self

    def __pow__(self, other):
        return UFUNCS[np.power](self, other)

    def __rpow__(self, other):
        return UFUNCS[np.power](other, self)

    def __matmul__(self, other):
        return UFUNCS[np.matmul](self, other)

    def __rmatmul__(self, other):
        return UFUNCS[np.matmul](other, self)

    def __neg__(self):
        return UFUNCS[np.negative](self)

    def __pos__(self):
        return self

    def __abs__(self):
        return UFUNCS[np.absolute](self)

    def __lt__(self, other):
        return UFUNCS[np.less](self, other)

    def __le__(self, other):
        return UFUNCS[np.less_equal](self, other)

    def __gt__(self, other):
        return UFUNCS[np.greater](self, other)

    def __ge__(self, other):
        return UFUNCS[np.greater_equal](self, other)

    def __eq__(self, other):
        return UFUNCS[np.equal](self, other)

    def __ne__(self, other):
        return UFUNCS[np.not_equal](self, other)

    __hash__ = object.__hash__

    def __getitem__(self, index):
        return FUNCTIONS["getitem"](self, index)

    # --- ndarray methods (dispatch to ad.numpy) ----------------------------------------
    @property
    def T(self):
        return FUNCTIONS[np.transpose](self)

    @property
    def at(self):
        return FUNCTIONS["at"](self)

    @property
    def real(self):
        return FUNCTIONS[np.real](self)

    @property
    def imag(self):
        return FUNCTIONS[np.imag](self)

    def conj(self):
        """Traced equivalent of ndarray.conj."""
        return UFUNCS[np.conjugate](self)

    conjugate = conj

    def _method(name):  # noqa: N805 - builds the ndarray methods below
        numpy_function = getattr(np, name)

        def method(self, *args, **kwargs):
            return FUNCTIONS[numpy_function](self, *args, **kwargs)
        method.__name__ = name
        method.__doc__ = f"Traced equivalent of ndarray.{name}."
        return method

    sum = _method("sum")
    mean = _method("mean")
    prod = _method("prod")
    max = _method("max")
    min = _method("min")
    var = _method("var")
    std = _method("std")
    cumsum = _method("cumsum")
    cumprod = _method("cumprod")
    dot = _method("dot")
    ravel = _method("ravel")
    squeeze = _method("squeeze")
    swapaxes = _method("swapaxes")
    clip = _method("clip")
    trace = _method("trace")
    diagonal = _method("diagonal")
    repeat = _method("repeat")
    argmax = _method("argmax")
    argmin = _method("argmin")
    argsort = _method("argsort")
    round = _method("round")
    take = _method("take")
    all = _method("all")
    any = _method("any")
    del _method

    @property
    def mT(self):
        return FUNCTIONS[np.swapaxes](self, -1, -2)

    def reshape(self, *shape, **kwargs):
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        return FUNCTIONS[np.reshape](self, shape, **kwargs)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = axes[0]
        return FUNCTIONS[np.transpose](self, axes or None)

    def flatten(self, order="C"):
        if order == "F":         # column-major: the transpose's rows
            return FUNCTIONS[np.ravel](FUNCTIONS[np.transpose](self))
        return FUNCTIONS[np.ravel](self)

    def astype(self, dtype):
        return FUNCTIONS["astype"](self, dtype)

    def copy(self):
        return self

    def item(self):
        self._conversion_error("a Python number (.item())")

    def tolist(self):
        self._conversion_error("a list (.tolist())")


#: How each primitive's rules stand on complex values (`Primitive.complex`):
#:   None            refused with a named error (the default: real rules would be wrong)
#:   "holomorphic"   the rules hold as written (complex-linear JVPs, transposes without
#:                   conjugation: JAX's convention, the bilinear pairing Re(sum u * v))
#:   "real-valued"   a real function of complex arguments: each partial is df/dx - i df/dy,
#:                   so the JVP is Re(partial * t) (the engines take the real part) and the
#:                   VJP partial * ct
#:   "real-linear"   linear over the reals only (conj, real, imag): the primitive applied to
#:                   the tangent is its JVP and its transposes are written for that pairing
COMPLEX_KINDS = (None, "holomorphic", "real-valued", "real-linear")


class _Complex:
    """Set once a complex value enters a traced computation: only then do the engines check
    arguments' dtypes and take real parts (so real programs pay nothing)."""
    seen = False


COMPLEX = _Complex()
#: The real part as a traceable operation (the catalogue's `real` primitive sets it): a
#: complex tangent or cotangent of a real value keeps its real part.
real_part: Callable | None = None


def is_complex(value) -> bool:
    return getattr(value, "dtype", None) is not None and value.dtype.kind == "c"


def check_complex(primitive: Primitive, args, out) -> None:
    """Note a complex value among an application's arguments and results (`COMPLEX.seen`),
    and raise when they meet a primitive whose rules do not hold on complex values."""
    for value in (*args, *(out if type(out) is tuple else (out,))):
        dtype = getattr(value, "dtype", None)
        if dtype is not None and dtype.kind == "c":
            COMPLEX.seen = True
            if primitive.complex is not None:
                return
            raise DTypeError(
                f"primitive '{primitive.name}' met a complex value (dtype {dtype}) and has "
                "no complex rules (it is not holomorphic, or declares no complex=): keep "
                "this computation real, or declare the primitive's complex= kind")


def real_if_real(value, like_dtype):
    """`value`'s real part when it is complex and `like_dtype` is real (a derivative takes
    its value's kind), else value."""
    if like_dtype is not None and like_dtype.kind != "c" and is_complex(value):
        return real_part(value)
    return value


#: Namespaces with more NumPy-protocol rules whose dependency is optional (ad.scipy: SciPy's
#: ufuncs such as scipy.special.expit), imported on the first call nothing else handles,
#: when installed; `import ad` stays free of SciPy.
OPTIONAL_NAMESPACES: list[str] = ["ad.scipy"]


def load_optional_namespaces() -> None:
    import importlib
    for name in list(OPTIONAL_NAMESPACES):
        OPTIONAL_NAMESPACES.remove(name)
        try:
            importlib.import_module(name)
        except ImportError:
            pass


#: The namespaces that mirror NumPy on traced values (ad.numpy adds itself): errors name
#: the equivalent when there is one.
NAMESPACES: list = []


def _ufunc_module(ufunc) -> str:
    """Where a ufunc comes from, for messages: numpy, scipy.special, or its own module."""
    import sys
    if getattr(np, ufunc.__name__, None) is ufunc:
        return "numpy"
    special = sys.modules.get("scipy.special")
    if special is not None and getattr(special, ufunc.__name__, None) is ufunc:
        return "scipy.special"
    return getattr(ufunc, "__module__", None) or "a ufunc"


def _equivalent(name: str, module: str) -> str:
    """The remedy for an unsupported NumPy function: its ad.numpy twin, or say there is none."""
    path = [part for part in module.split(".")[1:] if not part.startswith("_")] + [name]
    for namespace in NAMESPACES:
        target = namespace
        for part in path:
            target = getattr(target, part, None)
        if name and target is not None and callable(target):
            return (f"call {namespace.__name__}.{'.'.join(path)} instead (it differentiates; "
                    "this NumPy spelling does not reach it)")
    where = ".".join(["ad.scipy" if module.startswith("scipy") else "ad.numpy"] + path[:-1])
    return (f"{where} has no equivalent either: write it with ad.numpy functions, or register "
            "a primitive with ad.defprimitive")


def is_int(value) -> bool:
    """Whether `value` is an integer (Python's or NumPy's) and not a bool: what counts,
    axes, argnums and chunk sizes must be (True is not 1 there).

    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def shape_of(value) -> tuple[int, ...]:
    """Shape of an array, a traced value or a Python number, without NumPy's dispatch cost."""
    kind = type(value)
    if kind is np.ndarray:
        return value.shape
    if kind is float or kind is int:
        return ()
    if isinstance(value, Tracer):
        return value.shape
    if isinstance(value, (float, int)):
        return ()
    if isinstance(value, np.ndarray):   # a subclass's own np.shape may not be a plain tuple
        return value.shape
    return np.shape(value)


def float_dtype(value) -> np.dtype:
    """The dtype a derivative of `value` takes: its own when floating, else float64."""
    dtype = value_dtype(value)
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def float_like(value, reference):
    """`value` (a float array or traced value) at `reference`'s float precision, when both
    are real floats of different precisions: a tangent takes its output's dtype (float32
    plus a float64 constant is float64), and a traced partial its output's (a Python
    number in its formula is a float64 NumPy scalar there)."""
    dtype = getattr(reference, "dtype", None)
    own = getattr(value, "dtype", None)
    if (dtype is not None and own is not None and own != dtype and dtype.kind == "f"
            and own.kind == "f"):
        return value.astype(dtype)
    return value


def value_dtype(value) -> np.dtype:
    """The dtype of a value under any number of tracing levels (metadata: no level is told
    its value was read)."""
    while isinstance(value, Tracer):
        value = value.primal
    return np.result_type(value)


def shaped_tangent(tangent, wanted: tuple, batched: bool, who: str):
    """A JVP rule's tangent as `wanted` (the directions, then the result's shape): one that
    only broadcasts to it (a lower-rank term) is broadcast, any other shape is a named
    ShapeError, never a silently wrong tangent. With `batched`, only its size-1 axes may
    broadcast (a lower-rank batched term would align its directions with result axes)."""
    shape = shape_of(tangent)
    if shape == wanted:
        return tangent
    try:
        if (not batched or len(shape) == len(wanted)) and \
                np.broadcast_shapes(shape, wanted) == wanted:
            return FUNCTIONS[np.broadcast_to](tangent, wanted)
    except ValueError:
        pass
    raise ShapeError(f"{who}: its JVP rule gave a tangent of shape {shape} where {wanted} "
                     "(the directions, then the result's shape) is the shape")


def closed_over(values, top: int) -> bool:
    """Whether any of a function's `values` is traced at or inside level order `top` (the
    innermost of its arguments' levels) yet not through its arguments: a closure. An
    enclosing transform's value (a lower order) is fine: its derivative flows on its own
    level. checkpoint, loop and the custom rules refuse the others by name."""
    return any(isinstance(v, Tracer) and v._level.order >= top for v in values)


def primal_value(value, why: str = "a traced value read as a number (argmax, sort, nonzero "
                                     "and the like)"):
    """The plain value under any number of tracing levels (derivatives are dropped; each
    level is told its value was read, and `why`: see `Level.value_read`). ad's own
    functions read values this way to make index arrays and masks the engines see."""
    while isinstance(value, Tracer):
        value._level.value_read(why, value)
        value = value.primal
    return value


#: What `user_primal_value` tells the levels: the program itself read a value, and what it
#: computes from the number (an index, a branch) is out of every recording's sight.
USER_READ = "a traced value read as a plain value by the program (ad.primal_value)"


#: What ad.numpy's functions that hand the program plain values computed from traced ones
#: (count_nonzero, searchsorted, isclose, allclose, array_equal) tell the levels: what the
#: program does with them is out of sight, as with `USER_READ`.
PLAIN_READ = ("a traced value turned into a plain value handed to the program (count_nonzero, "
              "searchsorted, isclose, allclose or array_equal of it)")


def user_primal_value(value):
    """The plain value under any number of tracing levels, derivatives dropped (a compiled
    tape guards the value read; global sparsity detection refuses it). `ad.primal_value`.

    >>> import numpy as np, ad
    >>> float(ad.grad(lambda x: x * float(ad.primal_value(x)))(3.0))
    3.0
    """
    return primal_value(value, USER_READ)
