"""Custom derivatives the way JAX users write them: `custom_jvp` and `custom_vjp`.

* `@ad.custom_jvp` + `f.defjvp(rule)`, `rule(primals, tangents) -> (out, tangent_out)`: the
  rule replaces differentiation of `f` in forward mode; reverse mode transposes the rule's
  tangent map (it must be linear in the tangents, as in JAX), so one rule serves both, to
  any order when it is written with traceable operations.
* `@ad.custom_vjp` + `f.defvjp(fwd, bwd)`, `fwd(*primals) -> (out, residuals)` and
  `bwd(residuals, cotangent) -> one cotangent per primal`: reverse mode uses them. As in
  JAX, forward mode through it is a named error (differentiating f's own code instead could
  be silently wrong: f may leave the traced world, as a fixed-point solver does), and
  `jacobian(mode="auto")` then picks reverse mode.

Arguments and results are pytrees of float arrays. Each custom function gets
one primitive per argument structure, declared with the public `ad.defprimitive` (rules
called one direction at a time, so a rule written for one tangent is right in Jacobians
too; custom_jvp's VJP is `vjp="transpose"`), so the engines treat it like any other entry.
Imports `ad.errors`, `ad.primitive`, `ad.catalogue.define` and `ad.tree`.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from ad import tree
from ad.catalogue.define import defprimitive
from ad.errors import LevelError, RegistrationError, ShapeError
from ad.primitive import (ZERO, PerElement, Tracer, bind, closed_over, primal_value, shape_of,
                          value_dtype)

_COST = PerElement(1, 1, 1, 1)   # unknown: one flop per element in each pass


def _zeros_like(x):
    try:
        dtype = value_dtype(x)
    except TypeError:        # a plain object among the arguments (a config): no tangent
        return None
    return np.zeros(shape_of(x), dtype)


def _innermost(leaves):
    top = None
    for leaf in leaves:
        if isinstance(leaf, Tracer) and (top is None or leaf._level.order > top.order):
            top = leaf._level
    return top


class _Custom:
    """The wrapped function and one primitive per argument structure (made on first use)."""

    kind = "custom"

    def __init__(self, fun: Callable) -> None:
        if not callable(fun):
            raise TypeError(f"{type(self).__name__} needs a function, not {fun!r}")
        functools.update_wrapper(self, fun)
        self.fun = fun
        self._primitives: dict = {}

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise TypeError(f"{self.kind}({self.__name__}): keyword arguments "
                            f"({', '.join(kwargs)}) are not taken; pass them positionally "
                            "(or bind them with functools.partial)")
        leaves, structure = tree.flatten(args)
        if _innermost(leaves) is None:
            return self.fun(*args)
        # the results' structure may follow the arguments' shapes and plain values (a
        # tuple of rows): one primitive per argument structure, shapes and plain values
        key = (structure, tuple((shape_of(x), str(value_dtype(x))) if isinstance(
            x, (Tracer, np.ndarray, np.generic)) else ("value", x) for x in leaves))
        try:
            found = self._primitives.get(key)
        except TypeError:                # an unhashable plain value: by structure only
            key = structure
            found = self._primitives.get(key)
        if found is None:   # one plain evaluation tells the structure of the results
            out = self.fun(*tree.unflatten(structure, [primal_value(x) for x in leaves]))
            if closed_over(tree.flatten(out)[0], _innermost(leaves).order):
                self._closure()
            out_structure = tree.structure(out)
            found = self._primitives[key] = (
                self._declare(structure, out_structure, len(leaves)), out_structure)
        primitive, out_structure = found
        results = bind(primitive, leaves, {})
        results = [results] if primitive.n_outputs == 1 else list(results)
        # every call: f (or, in forward mode, its rule) may close over a value this call's
        # transform traces (a closure's list, a model's parameters swapped for traced ones);
        # the result's own value or tangent is then that transform's, not a plain one
        top = _innermost(leaves).order
        for r in results:
            if isinstance(r, Tracer) and (closed_over([r.primal], top) or closed_over(
                    [getattr(r, "tangent", None)], top)):
                self._closure()
        return tree.unflatten(out_structure, results)

    def _closure(self):
        raise LevelError(
            f"{self.kind}({self.__name__}): the function or its rule uses a value the "
            "transform traces but that is not one of its arguments (a closure over it), "
            "which the rule cannot see. Pass it as an argument")

    def _impl(self, structure):
        def impl(*leaves):
            flat = tree.flatten(self.fun(*tree.unflatten(structure, list(leaves))))[0]
            return flat[0] if len(flat) == 1 else tuple(flat)
        impl.__name__ = self.__name__
        return impl

    def _name(self, structure) -> str:
        return f"{self.kind}:{self.__module__}.{self.__qualname__}:{id(self):x}:{hash(structure)}"


def _tangent_leaves(name: str, tangent, out, out_structure):
    """The rule's tangent as the primitive returns it (one leaf, or a tuple of leaves), each
    of its output's shape: None for a whole output (or the whole result) means zeros, as
    custom_vjp's cotangents (flattening would drop it and shift the rest onto the wrong
    outputs)."""
    outs = list(out) if out_structure.num_leaves != 1 else [out]
    if tangent is None:
        leaves = [None] * len(outs)
    elif out_structure.num_leaves != 1 and isinstance(tangent, (tuple, list)) and \
            len(tangent) == len(outs) and any(t is None for t in tangent):
        leaves = list(tangent)
    else:
        leaves, structure = tree.flatten(tangent)
        if structure != out_structure and len(leaves) == len(outs):  # matched by position
            raise TypeError(f"custom_jvp({name}): the rule's tangent has the structure "
                            f"{structure}, the result {out_structure}")
    if len(leaves) != len(outs):
        raise TypeError(f"custom_jvp({name}): the rule's tangent has {len(leaves)} leaves, "
                        f"the result {len(outs)}")
    found = []
    for k, (t, o) in enumerate(zip(leaves, outs)):
        if t is None:
            found.append(_zeros_like(o))
            continue
        if shape_of(t) != shape_of(o):
            raise ShapeError(f"custom_jvp({name}): the rule's tangent for result leaf {k} has "
                             f"shape {shape_of(t)}, the result {shape_of(o)}")
        if np.iscomplexobj(primal_value(t)) and not np.iscomplexobj(primal_value(o)):
            raise TypeError(f"custom_jvp({name}): the rule's tangent for result leaf {k} is "
                            f"complex, the result real (a real value's tangent is real)")
        if value_dtype(t).kind not in "fc":
            raise TypeError(f"custom_jvp({name}): the rule's tangent for result leaf {k} has "
                            f"dtype {value_dtype(t)}; a tangent is a float array")
        found.append(t)
    return tuple(found) if out_structure.num_leaves != 1 else found[0]


class custom_jvp(_Custom):  # noqa: N801 - JAX's name
    """A function with a custom JVP rule (JAX's interface).

    >>> import numpy as np, ad
    >>> @ad.custom_jvp
    ... def log1pexp(x):
    ...     return np.log1p(np.exp(x))
    >>> @log1pexp.defjvp
    ... def log1pexp_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return log1pexp(x), t / (1.0 + np.exp(-x))
    >>> float(ad.grad(log1pexp)(800.0)), float(ad.jvp(log1pexp, (800.0,), (1.0,))[1])
    (1.0, 1.0)
    """

    kind = "custom_jvp"

    def __init__(self, fun: Callable) -> None:
        super().__init__(fun)
        self.rule: Callable | None = None

    def defjvp(self, rule: Callable) -> Callable:
        """Set `rule(primals, tangents) -> (primal_out, tangent_out)`; returns the rule."""
        if not callable(rule):
            raise RegistrationError(f"custom_jvp({self.__name__}).defjvp: {rule!r} is not "
                                    "callable")
        self.rule = rule
        self._primitives.clear()
        return rule

    def _declare(self, structure, out_structure, n_in: int):
        if self.rule is None:
            raise RegistrationError(f"custom_jvp function {self.__name__} has no JVP rule: "
                                    f"decorate one with @{self.__name__}.defjvp")

        def along(argument: int):
            def rule(t, out, *leaves):   # the result's tangent when only this argument moves
                tangents = [t if k == argument else _zeros_like(x) for k, x in enumerate(leaves)]
                try:
                    found = self.rule(tree.unflatten(structure, list(leaves)),
                                      tree.unflatten(structure, tangents))
                except LevelError as error:   # the sweep transposes the rule after f returned
                    raise LevelError(
                        f"custom_jvp({self.__name__}): the rule uses a value of a transform "
                        "that has returned (reverse mode transposes the rule in its sweep): "
                        "a closure over a traced value, which the rule cannot see as an "
                        f"argument. Pass it as an argument ({error})") from None
                if not isinstance(found, (tuple, list)) or len(found) != 2:
                    raise TypeError(f"custom_jvp({self.__name__}): the rule must return a pair "
                                    "(primal_out, tangent_out), not "
                                    f"{type(found).__name__}")
                return _tangent_leaves(self.__name__, found[1], out, out_structure)
            return rule

        primitive = defprimitive(self._name(structure), self._impl(structure),
                                 jvp=[along(k) for k in range(n_in)], vjp="transpose",
                                 arity=n_in, cost=_COST, outputs=out_structure.num_leaves)
        primitive.label = f"custom_jvp({self.__name__})"     # what errors call it
        primitive.checks_linearity = True    # the user's rule: reverse mode checks it
        return primitive


class custom_vjp(_Custom):  # noqa: N801 - JAX's name
    """A function with a custom VJP (JAX's interface): `f.defvjp(fwd, bwd)`.

    >>> import numpy as np, ad
    >>> @ad.custom_vjp
    ... def clip_gradient(x):
    ...     return x
    >>> def fwd(x): return x, None
    >>> def bwd(residuals, ct): return (np.clip(ct, -1.0, 1.0),)
    >>> clip_gradient.defvjp(fwd, bwd)
    >>> float(ad.grad(lambda x: 5.0 * clip_gradient(x))(2.0))
    1.0
    """

    kind = "custom_vjp"

    def __init__(self, fun: Callable) -> None:
        super().__init__(fun)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """fwd(*primals) -> (out, residuals); bwd(residuals, cotangent) -> a tuple with one
        cotangent per positional argument (pytrees like the arguments)."""
        for what, fn in (("fwd", fwd), ("bwd", bwd)):
            if not callable(fn):
                raise RegistrationError(f"custom_vjp({self.__name__}).defvjp: {what} "
                                        f"{fn!r} is not callable")
        self.fwd, self.bwd = fwd, bwd
        self._primitives.clear()

    def _declare(self, structure, out_structure, n_in: int):
        if self.fwd is None:
            raise RegistrationError(f"custom_vjp function {self.__name__} has no VJP: call "
                                    f"{self.__name__}.defvjp(fwd, bwd)")

        def cotangent_of(argument: int):
            def rule(ct, out, *leaves):
                args = tree.unflatten(structure, list(leaves))
                found = self.fwd(*args)
                if not isinstance(found, (tuple, list)) or len(found) != 2:
                    raise TypeError(f"custom_vjp({self.__name__}): fwd must return a pair "
                                    f"(out, residuals), not {type(found).__name__}")
                residuals = found[1]
                if out_structure.num_leaves != 1:   # a tuple of cotangents, ZERO where none
                    ct = tree.unflatten(out_structure, [_zeros_like(o) if c is ZERO else c
                                                        for c, o in zip(ct, out)])
                else:
                    ct = tree.unflatten(out_structure, [ct])
                grads = self.bwd(residuals, ct)
                if not isinstance(grads, (tuple, list)) or len(grads) != len(args):
                    raise TypeError(f"custom_vjp({self.__name__}): bwd must return a tuple "
                                    f"with one cotangent per argument ({len(args)}), got "
                                    f"{type(grads).__name__}")
                return _cotangent_leaves(self.__name__, grads, args)[argument]
            return rule

        return defprimitive(self._name(structure), self._impl(structure), jvp=None,
                            vjp=[cotangent_of(k) for k in range(n_in)], arity=n_in,
                            cost=_COST, outputs=out_structure.num_leaves)


def _cotangent_leaves(name: str, grads, args) -> list:
    """bwd's cotangents as leaves aligned with the arguments' leaves: None for a whole
    argument means zeros (JAX's convention; flattening would drop it and shift the rest
    onto the wrong arguments), and each argument's cotangent must have its leaves."""
    leaves = []
    for i, (grad, arg) in enumerate(zip(grads, args)):
        arg_leaves = tree.flatten(arg)[0]
        if grad is None:
            leaves.extend(_zeros_like(x) for x in arg_leaves)
            continue
        grad_leaves, grad_structure = tree.flatten(grad)
        if len(grad_leaves) != len(arg_leaves):
            raise TypeError(f"custom_vjp({name}): bwd's cotangent for argument {i} has "
                            f"{len(grad_leaves)} leaves, the argument {len(arg_leaves)}")
        if grad_structure != tree.structure(arg):   # leaves match by position: keys too
            raise TypeError(f"custom_vjp({name}): bwd's cotangent for argument {i} has "
                            f"the structure {grad_structure}, the argument "
                            f"{tree.structure(arg)}")
        for g, x in zip(grad_leaves, arg_leaves):
            if shape_of(g) != shape_of(x):
                raise ShapeError(f"custom_vjp({name}): bwd's cotangent for argument {i} has "
                                 f"shape {shape_of(g)}, the argument {shape_of(x)}")
        leaves.extend(grad_leaves)
    return leaves


__all__ = ["custom_jvp", "custom_vjp"]
