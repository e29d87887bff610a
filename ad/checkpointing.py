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
Policies (`checkpoint_policies`, `checkpoint_name`) keep some results of f besides its
inputs: f's value run goes through a small level that keeps what the policy selects, by
application number, and the sweep's re-run (a `ReverseLevel` subclass) records those
entries from the kept results instead of recomputing them.

Imports numpy, `ad.errors`, `ad.context`, `ad.primitive`, `ad.tape`, `ad.reverse`,
`ad.catalogue`, `ad.numpy`, `ad.recording`, `ad.tree` and `ad.schedule`.
"""
from __future__ import annotations

import math
import sys
from typing import Any, Callable

import numpy as np

from ad import numpy as anp
from ad import tree
from ad.catalogue.define import deflinear, defprimitive
from ad.context import Level, entered
from ad.errors import LevelError, ShapeError
from ad.primitive import (COMPLEX, ZERO, Counts, PerElement, Primitive, Tracer, bind,
                          check_complex, closed_over, is_int, primal_value, register,
                          value_dtype)
from ad.recording import Recording, name_of, push_forward
from ad.reverse import ReverseLevel, TapeValue
from ad.tape import CONSTANT
from ad.schedule import binomial_actions, optimal_steps, slots_for_budget


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
        if not hasattr(primal_value(leaf), "dtype") and not isinstance(leaf, (int, float,
                                                                            complex)):
            # (np.result_type would read a string as a dtype's name)
            raise TypeError(f"{what}: leaf {k} is a {type(leaf).__name__}; the carried values "
                            "must be float arrays (close over the others)")
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
    """Every element of each result may depend on every argument element (a whole
    program, with one or several results)."""
    n = math.prod(in_shapes[i])
    return [(np.repeat(np.arange(m), n), np.tile(np.arange(n), m))
            for m in map(math.prod, out_shapes)]


# ----------------------------------------------------------------------------- policies
def _name_impl(x, *, name):
    return x


def _name_transpose(ct, out, x, *, name):
    return ct


#: `checkpoint_name(x, name)`: x itself, marked for a `save_only_these_names` policy.
name_primitive = deflinear("checkpoint_name", _name_impl, transpose=(_name_transpose,),
                           cost=PerElement(0, 0, 0, 0), dependency="elementwise",
                           complex="holomorphic")


def checkpoint_name(x, name: str):
    """x, named for `checkpoint(f, policy=checkpoint_policies.save_only_these_names(name))`:
    such a policy keeps the value for the sweep instead of recomputing it.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> policy = ad.checkpoint_policies.save_only_these_names("z")
    >>> layer = ad.checkpoint(lambda w, x: anp.tanh(ad.checkpoint_name(w * x, "z")),
    ...                       policy=policy)
    >>> round(float(ad.grad(lambda w: anp.sum(layer(w, np.ones(3))))(0.5)), 4)
    2.3593
    """
    if not isinstance(name, str):
        raise TypeError(f"checkpoint_name: name must be a str, not {name!r}")
    return name_primitive(x, name=name)


class checkpoint_policies:
    """What `checkpoint(f, policy=...)` keeps for the sweep besides f's inputs, in JAX's
    spirit: each policy is `policy(primitive, params) -> bool`, asked of every primitive
    application inside f; a kept result is not recomputed when the sweep re-runs f (its
    primitive's value is skipped where its rules need only the inputs, as matmul's do)."""

    @staticmethod
    def nothing_saveable(primitive, params) -> bool:
        """Keep nothing: the sweep re-runs all of f (the default)."""
        return False

    @staticmethod
    def everything_saveable(primitive, params) -> bool:
        """Keep every result (as without checkpoint, but still re-running f's cheap rest)."""
        return True

    @staticmethod
    def dots_saveable(primitive, params) -> bool:
        """Keep matrix products' results: the sweep re-runs the elementwise rest only."""
        return primitive.name == "matmul"

    @staticmethod
    def save_only_these_names(*names: str):
        """Keep the values marked `checkpoint_name(x, name)` for these names."""
        wanted = frozenset(names)

        def policy(primitive, params) -> bool:
            return primitive is name_primitive and params["name"] in wanted
        policy.__name__ = f"save_only_these_names{tuple(sorted(wanted))}"
        return policy


class _Saving(Tracer):
    """A value inside f's run under a policy: its primal, and which application made it
    (its number and primitive)."""

    __slots__ = ("primal", "_level", "origin")

    def __init__(self, primal, level, origin) -> None:
        self.primal, self._level, self.origin = primal, level, origin


class _SavingLevel(Level):
    """Runs f on its values, keeping (by application number) the results the policy
    selects; a selected `checkpoint_name` keeps its argument's producer's result."""

    kind = "checkpoint policy"
    __slots__ = ("policy", "saved", "count")

    def __init__(self, policy) -> None:
        super().__init__()
        self.policy, self.saved, self.count = policy, {}, 0

    def process(self, primitive, args, params):
        number = self.count
        self.count += 1
        mine = [type(a) is _Saving and a._level is self for a in args]
        out = bind(primitive, [a.primal if m else a for a, m in zip(args, mine)], params)
        if not primitive.differentiable:
            return out
        if self.policy(primitive, params):    # kept only where the re-run can skip it
            if primitive is name_primitive and mine[0] and args[0].origin is not None:
                if _skippable(args[0].origin[1]):
                    self.saved[args[0].origin[0]] = (args[0].origin[1], args[0].primal)
            elif _skippable(primitive):
                self.saved[number] = (primitive, out)
        if primitive.n_outputs == 1:
            return _Saving(out, self, (number, primitive))
        return tuple(_Saving(o, self, None) for o in out)


def _skippable(primitive) -> bool:
    """Whether a re-run can take a kept result instead of computing it: the primitive's
    residuals are its inputs and result (the default `forward`), nothing computed."""
    return type(primitive).forward is Primitive.forward


class _ReplayingLevel(ReverseLevel):
    """Records f again for the sweep, taking the kept results instead of recomputing them
    (the application numbers match: the same f on the same inputs)."""

    __slots__ = ("saved", "count")

    def __init__(self, saved: dict) -> None:
        super().__init__()
        self.saved, self.count = saved, 0

    def process(self, primitive, args, params):
        number = self.count
        self.count += 1
        kept = self.saved.get(number)
        if kept is None or kept[0] is not primitive:
            return ReverseLevel.process(self, primitive, args, params)
        out = kept[1]      # its rules need the inputs (and the result, or its shape) only
        if COMPLEX.seen:
            check_complex(primitive, args, out)
        primals, parents = [], []
        for arg in args:
            traced = type(arg) is TapeValue and arg._level is self
            primals.append(arg.primal if traced else arg)
            parents.append(arg.index if traced else CONSTANT)
        constants = (tuple(None if p != CONSTANT else x for x, p in zip(primals, parents))
                     if CONSTANT in parents else None)
        residuals = primitive.residuals_of(out, primals)
        index = self.tape.append(primitive, params, tuple(parents), constants, residuals, out)
        if primitive.n_outputs == 1:
            return TapeValue(out, self, index)
        return tuple(TapeValue(value, self, index + j) for j, value in enumerate(out))


# ----------------------------------------------------------------------------- checkpoint
class _Checkpointed(Primitive):
    """f as one entry with k arguments and r results (one primitive per (k, r), shared by
    every checkpointed function: f travels in the parameters). Its value is f on plain
    arrays; `forward` keeps f's inputs and which of them are traced; `jvp` pushes every
    tangent through f at once (duals, no tape); `vjp` re-runs f on a tape once per sweep
    and hands each traced argument its cotangent (kept only until all are taken)."""

    def __init__(self, arity: int, outputs: int) -> None:
        super().__init__(f"checkpoint_{arity}_{outputs}", self._value,
                         jvp=[self._along(i) for i in range(arity)],
                         vjp=[self._against(i) for i in range(arity)],
                         cost=_checkpointed_cost, arity=arity, outputs=outputs)
        self.dependency = _dense_dependency
        self.complex = "holomorphic"       # its rules are the transforms themselves
        self._pulled: dict = {}

    # Per-argument rules, as every primitive has; the engines call `jvp` and `vjp` below,
    # which serve all arguments with one run of f.
    def _along(self, i: int):
        def rule(t, out, *primals, fun, policy):
            tangents = [ZERO] * len(primals)
            tangents[i] = t
            return self.jvp((out, primals, (), {}), tangents, {"fun": fun})
        return rule

    def _against(self, i: int):
        def rule(ct, out, *primals, fun, policy):
            needs = tuple(k == i for k in range(len(primals)))
            return self.vjp(i, ct, (out, primals, needs, {}), {"fun": fun})
        return rule

    @staticmethod
    def _value(*leaves, fun, policy):
        out = _no_closure(fun, fun(*leaves))
        return out[0] if len(out) == 1 else tuple(out)

    def forward(self, primals, params, needs):
        policy = params["policy"]
        if policy is checkpoint_policies.nothing_saveable:
            out = bind(self, primals, params)
            return out, (out, primals, tuple(needs), {})
        # f's run, keeping what the policy selects. Only the arguments the sweep's re-run
        # traces are traced here, so both number the same applications (an operation on
        # the other arguments alone reaches neither level)
        level = _SavingLevel(policy)
        with entered(level):
            found = params["fun"](*[_Saving(x, level, None) if need else x
                                    for x, need in zip(primals, needs)])
        found = _no_closure(params["fun"], [
            x.primal if type(x) is _Saving and x._level is level else x for x in found])
        out = found[0] if len(found) == 1 else tuple(found)
        return out, (out, primals, tuple(needs), level.saved)

    def jvp(self, residuals, tangents, params, in_shapes=None, out_shape=None):
        out, primals, _, _ = residuals
        fun = params["fun"]
        batch = next(np.shape(t)[:np.ndim(t) - np.ndim(p)] for t, p in zip(tangents, primals)
                     if t is not ZERO)
        full = [anp.zeros(batch + np.shape(p)) if t is ZERO else t
                for t, p in zip(tangents, primals)]
        _, found, _ = push_forward(lambda *xs: fun(*xs), tuple(primals), {},
                                   tuple(range(len(primals))), list(primals),
                                   [(tree.structure(0), 1)] * len(primals), full, "checkpoint")
        found = [anp.zeros(batch + np.shape(o)) if t is None else t
                 for t, o in zip(found, out if self.n_outputs > 1 else (out,))]
        return tuple(found) if self.n_outputs > 1 else found[0]

    def vjp(self, i, cotangent, residuals, params, in_shape=None, out_shape=None):
        out, primals, needs, saved = residuals
        key = id(residuals)
        entry = self._pulled.get(key)
        # one pull per entry and cotangent (a sweep hands every argument the same object);
        # another sweep of the same tape brings another cotangent and pulls afresh
        if entry is None or entry[0] is not residuals or entry[1] is not cotangent:
            wanted = tuple(k for k, need in enumerate(needs) if need)
            recording = Recording(lambda *xs: params["fun"](*xs), tuple(primals), {}, wanted,
                                  False, "checkpoint",
                                  level=_ReplayingLevel(saved) if saved else None)
            outs = out if self.n_outputs > 1 else (out,)
            cts = cotangent if self.n_outputs > 1 else (cotangent,)
            batch = next(np.shape(c)[:np.ndim(c) - np.ndim(o)] for c, o in zip(cts, outs)
                         if c is not ZERO)
            cts = [anp.zeros(batch + np.shape(o)) if c is ZERO else c for c, o in zip(cts, outs)]
            pulled = recording.pull(cts, batch=batch)
            entry = self._pulled[key] = (residuals, cotangent, dict(zip(wanted, pulled)))
        results = entry[2]
        found = results.pop(i)
        if not results:                          # every traced argument has its cotangent
            del self._pulled[key]
        return found


def _no_closure(fun, out: list) -> list:
    """f's results, refused where one is traced by the transform differentiating f (or one
    inside it) through a closure (`ad.primitive.closed_over`)."""
    if closed_over(out, fun.top):
        raise LevelError(
            f"{fun.name}: the function uses a value the transform traces but that is "
            "not one of its arguments (a closure over it): the re-run from the "
            "arguments could not see its derivative. Pass it as an argument: "
            "ad.checkpoint(lambda theta, x: ...)(theta, x); to ad.loop, in the carry")
    return out


def _run_cost(in_shapes, out_shape, repeats: int = 1) -> Counts:
    """A whole program's cost, unknown: per run, one flop per element in and out."""
    several = bool(out_shape) and all(isinstance(s, tuple) for s in out_shape)
    size = sum(math.prod(s) for s in in_shapes) + (
        sum(math.prod(s) for s in out_shape) if several else math.prod(out_shape))
    return Counts(repeats * size, 2 * repeats * size, 3 * repeats * size, size)


def _checkpointed_cost(in_shapes, out_shape, **params) -> Counts:
    return _run_cost(in_shapes, out_shape)


_CHECKPOINTED: dict[tuple[int, int], _Checkpointed] = {}


def _checkpointed(arity: int, outputs: int) -> _Checkpointed:
    found = _CHECKPOINTED.get((arity, outputs))
    if found is None:
        found = _CHECKPOINTED[arity, outputs] = register(_Checkpointed(arity, outputs))
    return found


def checkpoint(f: Callable | None = None, *, policy: Callable | None = None) -> Callable:
    """`f` whose intermediates are not kept for reverse mode: the sweep re-runs it from its
    inputs (usable as a decorator, `@checkpoint` or `@checkpoint(policy=...)`; nests;
    forward mode pushes tangents through it). `policy` (see `checkpoint_policies`) keeps
    some results besides the inputs: `dots_saveable` the matrix products (the re-run then
    skips them), `save_only_these_names(...)` the values marked by `checkpoint_name`.
    Its arguments are float arrays (close over the rest). The re-run is Python: f must be a
    function of its arguments and closure as they were at the call (a global it reads,
    changed before the sweep, changes what the sweep differentiates).

    >>> import numpy as np, ad, ad.numpy as anp
    >>> layer = ad.checkpoint(lambda w, x: anp.tanh(w * x))
    >>> round(float(ad.grad(lambda w: anp.sum(layer(w, np.ones(3))))(0.5)), 4)
    2.3593
    """
    if f is None:
        return lambda g: checkpoint(g, policy=policy)
    policy = checkpoint_policies.nothing_saveable if policy is None else policy
    if not callable(policy):
        raise TypeError(f"checkpoint({name_of(f)}): policy must be one of "
                        f"ad.checkpoint_policies (a callable), not {policy!r}")
    outputs_of: dict = {}     # per argument signature: how many results f returns

    def checkpointed_f(*args, **kwargs):
        if kwargs:
            raise TypeError(f"checkpoint({name_of(f)}): keyword arguments ({', '.join(kwargs)}) "
                            "are not taken; pass float arrays positionally and close over "
                            "(or functools.partial) the rest")
        leaves, structure = _float_leaves(args, f"checkpoint({name_of(f)})")
        if not any(isinstance(x, Tracer) for x in leaves):
            return f(*args)                      # nothing to differentiate
        found = {}
        signature = (structure, tuple((np.shape(x), str(value_dtype(x))) for x in leaves))

        def fun(*xs):
            out = f(*tree.unflatten(structure, list(xs)))
            out_leaves, found["structure"] = _float_leaves(out, f"checkpoint({name_of(f)}) "
                                                                "result")
            return out_leaves

        fun.name = f"checkpoint({name_of(f)})"   # what _value's closure check reports
        fun.top = max(x._level.order for x in leaves if isinstance(x, Tracer))
        outputs = outputs_of.get(signature)
        if outputs is None:                      # one plain run tells, once per signature
            outputs = outputs_of[signature] = len(fun(*[primal_value(x) for x in leaves]))
        results = bind(_checkpointed(len(leaves), outputs), leaves,
                       {"fun": fun, "policy": policy})
        results = list(results) if outputs > 1 else [results]
        return tree.unflatten(found["structure"], results)   # the value's run set it

    checkpointed_f.__name__ = f"checkpoint_{name_of(f)}"
    checkpointed_f.__wrapped__ = f
    return checkpointed_f


# ----------------------------------------------------------------------------- loop
#: Bytes a stored state costs beyond `sys.getsizeof` of its array: its buffer's malloc
#: chunk, its entry and key in the executor's table (measured in RSS: about 500 bytes per
#: stored 4-element state of a 10^5-step loop, against getsizeof's 144).
STATE_OVERHEAD = 350
#: The share of `memory_budget` the stored states may take; the rest is for the one-step
#: tape of the sweep and the allocator's slack.
STATE_SHARE = 0.6

def _loop_impl(x, *, flat_step, n, slots):
    for _ in range(n):
        x = flat_step(x)
    # an enclosing transform's value, through the step's closure, is fine (its derivative
    # flows on its own level); the loop's own transform's is not
    return _no_closure(flat_step, [x])[0] if isinstance(x, Tracer) else np.asarray(x)


def _loop_jvp(t, out, x, *, flat_step, n, slots):
    for _ in range(n):
        x, t = _push(flat_step, x, t)
    return t


def _loop_vjp(ct, out, x, *, flat_step, n, slots):
    """Reverse the loop by the binomial schedule, its actions generated as they are taken:
    at most `slots` states held at once, and no list of actions either."""
    stored: dict[int, Any] = {}
    current = x
    for action in binomial_actions(n, slots):
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


def _loop_cost(in_shapes, out_shape, *, n, slots, **params) -> Counts:
    return _run_cost(in_shapes, out_shape, repeats=max(n, 1) + optimal_steps(n, slots))


loop_primitive = defprimitive("loop", _loop_impl, jvp=(_loop_jvp,), vjp=(_loop_vjp,),
                              cost=_loop_cost, batched=True, dependency=_dense_dependency)


def _loop_sweep_bytes(params, in_bytes, out_bytes) -> int:
    """The sweep holds up to `slots` states (each its buffer and STATE_OVERHEAD, as
    checkpoints="auto" sizes them) and the current one."""
    return (params["slots"] + 1) * (in_bytes[0] + STATE_OVERHEAD + _ARRAY_HEADER)


#: sys.getsizeof of an empty 1-D array: a stored state's object beyond its buffer.
_ARRAY_HEADER = sys.getsizeof(np.empty(0))
loop_primitive.sweep_bytes = _loop_sweep_bytes


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
    if not is_int(n):
        raise TypeError(f"loop({name_of(step)}): n must be an int, not {n!r}")
    n = int(n)
    if n < 0:
        raise ValueError(f"loop({name_of(step)}): n must be >= 0, not {n}")
    leaves, structure = _float_leaves(carry, f"loop({name_of(step)}) carry")
    if not leaves:
        raise ValueError(f"loop({name_of(step)}): the carry holds no arrays ({carry!r}): "
                         "carry the state the steps update")
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

    if memory_budget is not None and checkpoints != "auto":
        raise ValueError(f"loop({name_of(step)}): memory_budget= sizes checkpoints='auto' "
                         f"only (checkpoints={checkpoints!r} would ignore it)")
    if memory_budget is not None and (isinstance(memory_budget, bool) or not isinstance(
            memory_budget, (int, np.integer, float, np.floating)) or not memory_budget >= 0):
        raise ValueError(f"loop({name_of(step)}): memory_budget must be a number of bytes "
                         f">= 0, not {memory_budget!r}")
    if checkpoints is None:                      # the unrolled loop: every step taped
        vector = packing.pack(leaves)
        for _ in range(n):
            vector = flat_step(vector)
        return tree.unflatten(structure, packing.unpack(vector))
    if checkpoints == "auto":
        if memory_budget is None:
            raise ValueError(f"loop({name_of(step)}): checkpoints='auto' needs "
                             "memory_budget= (bytes)")
        state = np.empty(sum(packing.sizes), packing.dtype)
        # a stored state costs its array object and its slot in the schedule's table
        # (an infinite budget holds every state: as many slots as steps)
        slots = max(1, n) if math.isinf(memory_budget) else slots_for_budget(
            n, sys.getsizeof(state) + STATE_OVERHEAD, int(STATE_SHARE * memory_budget))
    elif is_int(checkpoints):
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
    flat_step.name = f"loop({name_of(step)})"    # what the closure check reports
    flat_step.top = max(x._level.order for x in leaves if isinstance(x, Tracer))
    result = loop_primitive(packing.pack(leaves), flat_step=flat_step, n=n,
                            slots=min(slots, max(n, 1)))
    return tree.unflatten(structure, packing.unpack(result))


__all__ = ["checkpoint", "checkpoint_name", "checkpoint_policies", "loop", "loop_primitive"]
