"""Store or recompute: `checkpoint` (keep a function's inputs, re-run it in the sweep) and
`loop` (a fixed-count loop, reversed under a binomial checkpointing schedule).

Reverse mode keeps every intermediate for the sweep; these trade that memory for
recomputation. Both are primitives of one argument (the differentiated leaves packed into
one vector, so a rule runs once per sweep, not once per leaf) whose rules are the
transforms themselves:

* `checkpoint(f)`: the value is f on plain arrays (nothing taped inside); the VJP re-runs f
  on a fresh tape at the kept inputs and pulls the cotangent through it; the JVP pushes
  the tangents through f on duals (no tape). The residuals are f's inputs and output only.
* `loop(step, carry, n, checkpoints=s)`: the value is the loop on plain arrays; the VJP
  executes `ad.schedule.binomial_schedule(n, s)`: advance from a stored state without
  taping, store, restore, and reverse each step on its own one-step tape, last step
  first, so at most s states are held (`checkpoints="auto"` takes s from `memory_budget=`
  bytes). The JVP runs the steps on duals.

The rules run on whatever values they get, traced values of outer transforms included,
so every nesting works (a Hessian of a checkpointed function, grad inside a checkpoint).
Imports numpy, `ad.errors`, `ad.primitive`, `ad.catalogue`, `ad.numpy`, `ad.recording`,
`ad.tree` and `ad.schedule`.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ad import numpy as anp
from ad import tree
from ad.catalogue.define import defprimitive
from ad.errors import ShapeError
from ad.primitive import Counts, Tracer, value_dtype
from ad.recording import Recording, name_of, push_forward
from ad.schedule import binomial_schedule, slots_for_budget


# ----------------------------------------------------------------------------- packing
class _Packing:
    """Leaves of a pytree as one flat vector and back (traceable: ad.numpy operations)."""

    def __init__(self, leaves) -> None:
        self.shapes = [tuple(np.shape(x)) for x in leaves]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.dtypes = [value_dtype(x) for x in leaves]
        self.dtype = np.result_type(*self.dtypes) if leaves else np.dtype(float)

    def pack(self, leaves):
        flat = [anp.ravel(anp.astype(x, self.dtype) if value_dtype(x) != self.dtype else x)
                for x in leaves]
        return flat[0] if len(flat) == 1 else anp.concatenate(flat)

    def unpack(self, vector) -> list:
        leaves, start = [], 0
        for shape, size, dtype in zip(self.shapes, self.sizes, self.dtypes):
            piece = vector if len(self.shapes) == 1 else vector[start:start + size]
            piece = anp.reshape(piece, shape)
            leaves.append(anp.astype(piece, dtype) if dtype != self.dtype else piece)
            start += size
        return leaves

    def key(self) -> tuple:
        return tuple(self.shapes), tuple(str(d) for d in self.dtypes)


def _float_leaves(value, what: str):
    leaves, structure = tree.flatten(value)
    for k, leaf in enumerate(leaves):
        if value_dtype(leaf).kind != "f":
            raise TypeError(f"{what}: leaf {k} has dtype {value_dtype(leaf)}; the carried "
                            "values must be float arrays")
    return leaves, structure


def _pull(fun: Callable, x, ct):
    """The cotangent of x for `ct` on fun's (vector) output: one recording, one sweep;
    `ct` may carry leading batch axes (a block of cotangents)."""
    recording = Recording(fun, (x,), {}, (0,), False, "checkpoint")
    return recording.pull([ct], batch=tuple(np.shape(ct)[:-1]))[0]


def _push(fun: Callable, x, t):
    """fun(x) and its tangent along t (leading batch axes allowed): duals, no tape."""
    out, tangents, _ = push_forward(fun, (x,), {}, (0,), [x], [(tree.structure(0), 1)], [t],
                                    "checkpoint")
    tangent = tangents[0]
    return out[0], (anp.zeros(np.shape(t)[:np.ndim(t) - np.ndim(x)] + np.shape(out[0]))
                    if tangent is None else tangent)


def _dense_dependency(i, in_shapes, out_shapes, params):
    """Every result element may depend on every argument element (a whole program)."""
    n, m = math.prod(in_shapes[i]), math.prod(out_shapes[0])
    return [(np.repeat(np.arange(m), n), np.tile(np.arange(n), m))]


# ----------------------------------------------------------------------------- checkpoint
def _checkpointed_impl(x, *, flat_fun):
    return np.asarray(flat_fun(x))


def _checkpointed_jvp(t, out, x, *, flat_fun):
    return _push(flat_fun, x, t)[1]


def _checkpointed_vjp(ct, out, x, *, flat_fun):
    return _pull(flat_fun, x, ct)


def _run_cost(in_shapes, out_shape, *, repeats=1, **params) -> Counts:
    size = math.prod(out_shape) + math.prod(in_shapes[0])
    return Counts(repeats * size, 2 * repeats * size, 3 * repeats * size, size)


def _checkpointed_cost(in_shapes, out_shape, **params) -> Counts:
    return _run_cost(in_shapes, out_shape)


checkpointed = defprimitive("checkpoint", _checkpointed_impl, jvp=(_checkpointed_jvp,),
                            vjp=(_checkpointed_vjp,), cost=_checkpointed_cost, batched=True,
                            dependency=_dense_dependency)


def checkpoint(f: Callable) -> Callable:
    """`f` whose intermediates are not kept for reverse mode: the sweep re-runs it from its
    inputs (usable as a decorator; nests; forward mode pushes tangents through it).

    >>> import numpy as np, ad, ad.numpy as anp
    >>> layer = ad.checkpoint(lambda w, x: anp.tanh(w * x))
    >>> round(float(ad.grad(lambda w: anp.sum(layer(w, np.ones(3))))(0.5)), 4)
    2.3593
    """
    def checkpointed_f(*args):
        leaves, structure = _float_leaves(args, f"checkpoint({name_of(f)})")
        if not any(isinstance(x, Tracer) for x in leaves):
            return f(*args)                      # nothing to differentiate
        packing = _Packing(leaves)
        results = {}

        def flat_fun(vector):
            out = f(*tree.unflatten(structure, packing.unpack(vector)))
            out_leaves, out_structure = _float_leaves(out, f"checkpoint({name_of(f)}) result")
            results["packing"] = (_Packing(out_leaves), out_structure)
            return results["packing"][0].pack(out_leaves)

        vector = checkpointed(packing.pack(leaves), flat_fun=flat_fun)   # its value ran f
        out_packing, out_structure = results["packing"]
        return tree.unflatten(out_structure, out_packing.unpack(vector))

    checkpointed_f.__name__ = f"checkpoint_{name_of(f)}"
    checkpointed_f.__wrapped__ = f
    return checkpointed_f


# ----------------------------------------------------------------------------- loop
def _loop_impl(x, *, flat_step, n, schedule):
    for _ in range(n):
        x = flat_step(x)
    return np.asarray(x)


def _loop_jvp(t, out, x, *, flat_step, n, schedule):
    for _ in range(n):
        x, t = _push(flat_step, x, t)
    return t


def _loop_vjp(ct, out, x, *, flat_step, n, schedule):
    """Reverse the loop by its schedule: at most `schedule.slots` states held at once."""
    stored: dict[int, Any] = {}
    current = x
    for action in schedule.actions:
        kind = action.kind
        if kind == "advance":
            for _ in range(action.to - action.at):
                current = flat_step(current)
        elif kind == "store":
            stored[action.at] = current
        elif kind == "restore":
            current = stored[action.at]
        elif kind == "free":
            del stored[action.at]
        else:                                    # "reverse": step `at` on its own tape
            ct = _pull(flat_step, current, ct)
    return ct


def _loop_cost(in_shapes, out_shape, *, n, schedule, **params) -> Counts:
    steps = schedule.forward_steps if schedule is not None else n
    return _run_cost(in_shapes, out_shape, repeats=max(n, 1) + steps)


loop_primitive = defprimitive("loop", _loop_impl, jvp=(_loop_jvp,), vjp=(_loop_vjp,),
                              cost=_loop_cost, batched=True, dependency=_dense_dependency)


def loop(step: Callable, carry, n: int, *, checkpoints: int | str | None = None,
         memory_budget: int | None = None):
    """The final carry of `carry = step(carry)` applied n times, differentiable in every
    mode and nesting.

    `checkpoints=None` stores every step on the tape (an unrolled loop); `checkpoints=s`
    (an int) keeps at most s states and recomputes the rest in the sweep by the optimal
    binomial schedule (`ad.binomial_schedule(n, s)`); `checkpoints="auto"` takes the
    largest s whose states fit in `memory_budget` bytes. Forward mode keeps no tape
    whatever the setting. The step must return a carry of the structure, shapes and
    dtypes it was given.

    >>> import numpy as np, ad
    >>> def step(x): return x + 0.01 * np.sin(x)
    >>> g1 = ad.grad(lambda x: ad.loop(step, x, 500).sum())(np.ones(3))
    >>> g2 = ad.grad(lambda x: ad.loop(step, x, 500, checkpoints=5).sum())(np.ones(3))
    >>> bool(np.array_equal(g1, g2))
    True
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"loop({name_of(step)}): n must be an int, not {n!r}")
    n = int(n)
    if n < 0:
        raise ValueError(f"loop({name_of(step)}): n must be >= 0, not {n}")
    leaves, structure = _float_leaves(carry, f"loop({name_of(step)}) carry")
    packing = _Packing(leaves)

    def flat_step(vector):
        out = step(tree.unflatten(structure, packing.unpack(vector)))
        out_leaves, out_structure = _float_leaves(out, f"loop({name_of(step)}) step result")
        if out_structure != structure or _Packing(out_leaves).key() != packing.key():
            raise ShapeError(
                f"loop({name_of(step)}): the step changed the carry: it was given "
                f"{structure} with shapes/dtypes {packing.key()} and returned "
                f"{out_structure} with {_Packing(out_leaves).key()}")
        return packing.pack(out_leaves)

    if checkpoints is None:                      # the unrolled loop: every step taped
        vector = packing.pack(leaves)
        for _ in range(n):
            vector = flat_step(vector)
        return tree.unflatten(structure, packing.unpack(vector))
    if checkpoints == "auto":
        if memory_budget is None:
            raise ValueError(f"loop({name_of(step)}): checkpoints='auto' needs "
                             "memory_budget= (bytes)")
        slots = slots_for_budget(n, sum(packing.sizes) * packing.dtype.itemsize,
                                 int(memory_budget))
    elif isinstance(checkpoints, (int, np.integer)) and not isinstance(checkpoints, bool):
        slots = int(checkpoints)
        if slots < 1:
            raise ValueError(f"loop({name_of(step)}): checkpoints must be >= 1, not {slots}")
    else:
        raise ValueError(f"loop({name_of(step)}): checkpoints is None, an int or 'auto', "
                         f"not {checkpoints!r}")
    if not any(isinstance(x, Tracer) for x in leaves):
        vector = packing.pack(leaves)
        for _ in range(n):
            vector = flat_step(vector)
        return tree.unflatten(structure, packing.unpack(vector))
    schedule = binomial_schedule(n, min(slots, max(n, 1)))
    result = loop_primitive(packing.pack(leaves), flat_step=flat_step, n=n, schedule=schedule)
    return tree.unflatten(structure, packing.unpack(result))


__all__ = ["checkpoint", "loop", "checkpointed", "loop_primitive"]
