"""The public transforms, in JAX's conventions: grad, value_and_grad, jvp, vjp, jacfwd,
jacrev, jacobian, hessian, hvp, stop_gradient.

Each transform opens a level (forward: duals; reverse: a tape), wraps the differentiated
leaves of its arguments, calls the function and reads the result. Arguments and results
are pytrees. Jacobians have shape output shape + input shape. Imports the engines,
`ad.numpy` (to assemble Jacobians with traceable operations, so transforms nest) and
`ad.tree`; never the catalogue's rule modules.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time
import weakref
from typing import Callable, Sequence

import numpy as np

from ad import numpy as anp
from ad import tree
from ad.compiled import SETTLE_WITHIN as COMPILED_SETTLE_WITHIN
from ad.compiled import (CompiledGrad, GuardFailed, NotLowered, interpreter, jacobian_choice,
                         jacobian_plan)
from ad.context import inside_transform
from ad.cost import Chain, predict
from ad.cost.calibration import current
from ad.cost.counts import recorded_counts
from ad.cost.memory import RecomputePlan, check_budget, footprint, plan_recompute
from ad.errors import DTypeError, LevelError, ShapeError
from ad.primitive import Tracer, float_dtype, float_like, primal_value, shape_of, value_dtype
from ad.reverse import MeasuringLevel, RecomputingLevel
from ad.tape import CHUNK_BUDGET, CHUNK_SIZE, BlockPlan, chunk_of, plan_blocks
from ad.recording import (Recording, argnums_items, as_scalar, check_callable,
                          flatten_inputs, name_of, normalize_argnums, per_argnum)
from ad.recording import push_forward as _push_forward   # the name tests patch
from ad.distributed import RETRIES


def _check_cotangent(ct, primal, position: str, transform: str):
    ct_shape, p_shape = np.shape(ct), np.shape(primal)
    if ct_shape != p_shape:
        raise ShapeError(f"{transform}: cotangent {position} has shape {ct_shape}, but the "
                         f"output it pairs with has shape {p_shape}")
    dtype = ct.dtype if isinstance(ct, Tracer) else np.asarray(ct).dtype
    if dtype.kind not in "fiu" and not (dtype.kind == "c" and
                                        np.result_type(primal).kind == "c"):
        raise DTypeError(f"{transform}: cotangent {position} has dtype {dtype}; use a float "
                         "dtype (complex only for a complex output)")
    return ct if isinstance(ct, Tracer) else np.asarray(ct, dtype=np.result_type(primal))


def _complex_check(transform: str, f, leaves, outs, holomorphic: bool,
                   real_inputs: bool, real_outputs: bool) -> None:
    """JAX's rules for complex numbers: `holomorphic=True` needs complex inputs; without
    it, a Jacobian by columns (forward) needs real inputs and one by rows (grad, reverse)
    real outputs, since only then is the result the derivative the user means."""
    def first_complex(values):      # dtypes only: no traced value is read
        return next((k for k, v in enumerate(values) if value_dtype(v).kind == "c"), None)
    for k, out in enumerate(outs):   # an integer or boolean result has no derivative
        dtype = value_dtype(out)
        if dtype.kind not in "fc":
            raise DTypeError(f"{transform}({name_of(f)}): output leaf {k} has dtype {dtype}; "
                             "a derivative needs a floating-point output")
    if holomorphic:
        real = next((k for k, v in enumerate(leaves) if value_dtype(v).kind != "c"), None)
        if real is not None:
            raise DTypeError(f"{transform}({name_of(f)}, holomorphic=True) needs complex "
                             f"inputs, but input leaf {real} is real; cast it, e.g. "
                             "x.astype(complex)")
        real = next((k for k, v in enumerate(outs) if value_dtype(v).kind != "c"), None)
        if real is not None:     # a real function of complex inputs is not holomorphic
            raise DTypeError(f"{transform}({name_of(f)}, holomorphic=True) needs complex "
                             f"outputs, as JAX's, but output leaf {real} is real (a real "
                             "function of z is not holomorphic unless constant): drop "
                             "holomorphic=True for the gradient of a real f of complex z")
        return
    where = first_complex(leaves) if real_inputs else None
    if where is not None:
        raise DTypeError(f"{transform}({name_of(f)}) needs real inputs, but input leaf "
                         f"{where} is complex; pass holomorphic=True for a holomorphic f, or "
                         "differentiate its real and imaginary parts as separate inputs")
    where = first_complex(outs) if real_outputs else None
    if where is not None:
        raise DTypeError(f"{transform}({name_of(f)}) needs real outputs, but output leaf "
                         f"{where} is complex; pass holomorphic=True for a holomorphic f, or "
                         "differentiate its real and imaginary parts (ad.numpy.real/imag)")


class BudgetedRecorder:
    """Recordings of one function under a memory budget: per input signature, one
    measuring run (`MeasuringLevel`, nothing kept) plans which segments to recompute
    (`ad.cost.memory.plan_recompute`); every call then records with that plan
    (`RecomputingLevel`). `plan` is the last call's `RecomputePlan` (what was chosen).
    A recording whose entries differ from the plan's (another path through f) is still
    right, as each dropped segment keeps what it reads; its signature is planned afresh
    on the next call."""

    def __init__(self, budget: int) -> None:
        self.budget = check_budget(budget)
        self.plans: dict = {}
        self.plan: RecomputePlan | None = None

    def record(self, f, args, kwargs, argnums, has_aux, transform) -> Recording:
        leaves, structures = flatten_inputs(args, argnums, transform, f)
        key = (tuple(structures), tuple((np.shape(x), str(np.result_type(x))) for x in leaves))
        plan = self.plans.get(key)
        if plan is None:
            measured = Recording(f, args, kwargs, argnums, has_aux, transform,
                                 level=MeasuringLevel())
            plan = plan_recompute(footprint(measured.level.tape), self.budget)
            del measured
            self.plans[key] = plan
        level = RecomputingLevel(plan.ranges) if plan.ranges else None
        recording = Recording(f, args, kwargs, argnums, has_aux, transform, level=level)
        if tuple(recording.level.tape.opcodes) != plan.opcodes:
            del self.plans[key]
        self.plan = plan
        return recording


def vjp(f: Callable, *primals, has_aux: bool = False, memory_budget: int | None = None,
        compile: bool = False):
    """Run `f` on a tape; return its output and a function pulling cotangents back.

    `vjp_fn(cotangent)` takes a cotangent shaped like the output and returns a tuple with
    one cotangent per primal. It can be called many times (the tape is kept while vjp_fn
    lives). With `memory_budget` (bytes) the tape keeps what fits and recomputes the rest
    in each sweep (see `value_and_grad`). With `compile=True`, an f of one array output
    whose recording lowers is recorded once per signature (cached per f): the value is one
    forward run of its compiled tape, which keeps its values, and each `vjp_fn` call one
    reverse run through them; otherwise it runs interpreted.

    >>> import ad, ad.numpy as anp
    >>> out, vjp_fn = ad.vjp(lambda x, y: x * anp.sin(y), 2.0, 0.0)
    >>> [float(c) for c in vjp_fn(1.0)]
    [0.0, 2.0]
    """
    check_callable(f, "vjp")
    nums = tuple(range(len(primals)))
    if _compiling(compile, "vjp", f) and not has_aux and memory_budget is None:
        replay, leaves = _compiled_replay(f, primals, nums, "vjp", compile)
        if replay is not None:       # the value pass checked its guards at these inputs
            program = replay.program
            interpreted: list = []       # for a traced cotangent (vjp_fn under a transform)

            def compiled_vjp_fn(cotangent):
                if any(isinstance(c, Tracer) for c in tree.flatten(cotangent)[0]):
                    if not interpreted:  # the tape runs plain values: pull interpreted
                        interpreted.append(vjp(f, *primals)[1])
                    return interpreted[0](cotangent)
                ct_leaves, ct_structure = tree.flatten(cotangent)
                if not (ct_structure.is_leaf() and len(ct_leaves) == 1):   # as vjp_fn's
                    raise ShapeError(f"vjp({name_of(f)}): the cotangent's structure "
                                     f"{ct_structure} does not match the output's "
                                     f"{tree.flatten(0.0)[1]}")
                ct = _check_cotangent(ct_leaves[0], np.empty(program.out_shape,
                                                             program.out_dtype),
                                      "leaf 0", f"vjp({name_of(f)})")
                return replay.grouped(program.pull_from(arena, ct))
            value, arena = program.values(leaves, keep=True)   # pulled back through
            return as_scalar(value.astype(program.out_dtype, copy=False)), compiled_vjp_fn
    recording = (Recording(f, primals, {}, nums, has_aux, "vjp") if memory_budget is None
                 else BudgetedRecorder(memory_budget).record(f, primals, {}, nums, has_aux,
                                                              "vjp"))

    def vjp_fn(cotangent):
        ct_leaves, ct_structure = tree.flatten(cotangent)
        if ct_structure != recording.out_structure:
            raise ShapeError(f"vjp({name_of(f)}): the cotangent's structure {ct_structure} does "
                             f"not match the output's {recording.out_structure}")
        cts = [_check_cotangent(ct, p, f"leaf {k}", f"vjp({name_of(f)})")
               for k, (ct, p) in enumerate(zip(ct_leaves, recording.out_primals))]
        leaves = [as_scalar(c) for c in recording.pull(cts)]
        return per_argnum(recording.structures, leaves, single=False)

    out = recording.output()
    return (out, vjp_fn, recording.aux) if has_aux else (out, vjp_fn)


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *,
                   compile: bool = False, memory_budget: int | None = None,
                   holomorphic: bool = False):
    """A function returning `f`'s value and its gradient with respect to `argnums`.

    With `compile=True`, f is recorded once per input signature (shapes, dtypes, pytree
    structure, non-numeric arguments) and lowered to a compiled tape (`ad.compiled`) that
    later calls replay in one Numba call. Whatever f reads besides its arguments (globals,
    closures) is taken as fixed. A recording that is value-dependent (a comparison, mask or
    rounding of a traced value: the path could change with the inputs) or that has an entry
    with no lowering runs the interpreted engine on every call, as without compile;
    `value_and_grad_f.compiled.reports` says why. So does a signature whose compiled tape
    the cost model predicts slower than the interpreted engine (large matrix products
    taken apart into scalar entries); `compile="always"` compiles it anyway.

    With `memory_budget` (bytes), the tape keeps at most that much for the sweep
    (predicted; the result and the sweep's cotangents come on top): per input signature
    one run that keeps nothing measures what each entry would keep, the cost model
    chooses which segments of entries keep only their inputs and are re-run in the sweep
    (the least predicted extra work that fits: `ad.cost.memory.plan_recompute`), and
    `value_and_grad_f.recorder.plan` says what it chose. Gradients are the same, bit for
    bit (a derivative of the budgeted gradient, through the re-run segments, agrees to
    rounding: a few ulps). A budget no choice fits raises `MemoryBudgetError`.

    Complex inputs follow JAX's convention: for a real-valued f of z = x + iy the result
    is df/dx - i df/dy (the conjugate of the steepest-ascent direction: step along
    conj(grad) to increase f). A complex output needs `holomorphic=True` (and complex
    inputs); then the result is f'(z).

    >>> import ad
    >>> ad.value_and_grad(lambda x: x ** 3)(2.0)
    (np.float64(8.0), np.float64(12.0))
    """
    check_callable(f, "value_and_grad")
    compile = _compiling(compile, "value_and_grad", f)
    if compile and memory_budget is not None:
        raise ValueError(f"value_and_grad({name_of(f)}): compile=True keeps the whole tape; "
                         "it cannot be combined with memory_budget=")
    compiled = _compiled_grad(f, "grad", compile) if compile and not has_aux else None
    recorder = None if memory_budget is None else BudgetedRecorder(memory_budget)

    hot = compiled.hot if compiled is not None and argnums == 0 and \
        type(argnums) is int else None

    @functools.wraps(f)
    def value_and_grad_f(*args, **kwargs):
        if hot is not None and len(args) == 1 and not kwargs:
            found = _hot(compiled, hot, args[0])
            if found is not None:
                return found
        nums = normalize_argnums(argnums, len(args), "grad", f)
        if compiled is not None:
            compiled.calls += 1
            replay, _leaves = compiled.lookup(
                args, kwargs, nums, isinstance(argnums, int),
                lambda: flatten_inputs(args, nums, "grad", f)[1])
            if replay is not None:
                try:
                    return replay(_leaves)
                except GuardFailed as failure:      # another path: see CompiledGrad.retry
                    replay, result = compiled.retry(replay, _leaves, lambda r: r(_leaves),
                                                    failure)
                    if replay is not None:
                        return result
        recording = (Recording(f, args, kwargs, nums, has_aux, "grad") if recorder is None
                     else recorder.record(f, args, kwargs, nums, has_aux, "grad"))
        if len(recording.out_primals) != 1 or np.shape(recording.out_primals[0]) != ():
            shapes = [np.shape(p) for p in recording.out_primals]
            what = (f"shape {shapes[0]}" if len(shapes) == 1
                    else f"a pytree of shapes {shapes}")
            raise ShapeError(
                f"grad({name_of(f)}) needs a scalar output, but the function returned "
                f"{what}"
                "; reduce it (e.g. .sum()) or use ad.jacobian / ad.vjp")
        out = recording.out_primals[0]
        dtype = np.result_type(out)
        _complex_check("grad", f, recording.in_primals, [out], holomorphic, False, True)
        grads = recording.pull([np.ones((), dtype=dtype)], consume=True)
        grads = per_argnum(recording.structures, [as_scalar(g) for g in grads],
                            single=isinstance(argnums, int))
        value = as_scalar(out)
        return ((value, recording.aux), grads) if has_aux else (value, grads)

    value_and_grad_f.compiled = compiled
    value_and_grad_f.recorder = recorder
    return value_and_grad_f


#: The native float64 dtype (one object: `x.dtype is _FLOAT64` is the cheapest test).
_FLOAT64 = np.dtype(np.float64)


def _hot(compiled, hot: dict, x):
    """The fast path of a compiled gradient of one float array: its signature's replay as
    one function (`CompiledGrad.hot_call`) giving (value, gradient); None when there is
    none (or a guard failed: the general path retries)."""
    if type(x) is np.ndarray:       # ad.compiled.hot_key, written out (a call costs)
        call = hot.get(x.shape if x.dtype is _FLOAT64 else (x.shape, x.dtype.char))
    elif type(x) is float:        # a Python float's own signature (its replay, its types)
        call = hot.get(float)
        if call is not None:
            x = np.array((x,))
    else:
        return None
    if call is None or inside_transform():   # (a closure over its values: interpreted)
        return None
    compiled.calls += 1
    try:
        return call(x)
    except GuardFailed:
        compiled.calls -= 1
        hot.clear()
        return None


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *,
         compile: bool = False, memory_budget: int | None = None, holomorphic: bool = False):
    """The gradient of a scalar-valued `f` with respect to the arguments in `argnums`;
    `compile=True` replays a compiled tape, `memory_budget=` bytes bounds what the tape
    keeps by recomputing segments of it in the sweep, `holomorphic=True` differentiates a
    complex output (see `value_and_grad`, also for complex inputs).

    >>> import ad, ad.numpy as anp
    >>> float(ad.grad(anp.sin)(0.0))
    1.0
    >>> g = ad.grad(lambda x: anp.sum(anp.sin(x) * x), compile=True)
    >>> g(np.array([0.0, 1.0])).round(6)
    array([0.      , 1.381773])
    """
    value_and_grad_f = value_and_grad(f, argnums, has_aux, compile=compile,
                                      memory_budget=memory_budget, holomorphic=holomorphic)

    compiled = value_and_grad_f.compiled
    hot = compiled.hot if compiled is not None and argnums == 0 and \
        type(argnums) is int and not has_aux else None

    @functools.wraps(f)
    def grad_f(*args, **kwargs):
        if hot is not None and len(args) == 1 and not kwargs:
            found = _hot(compiled, hot, args[0])     # without a call through value_and_grad
            if found is not None:
                return found[1]
        if has_aux:
            (_, aux), grads = value_and_grad_f(*args, **kwargs)
            return grads, aux
        return value_and_grad_f(*args, **kwargs)[1]

    grad_f.compiled = value_and_grad_f.compiled
    grad_f.recorder = value_and_grad_f.recorder
    return grad_f


# ----------------------------------------------------------------------------- forward mode
def _checked_tangents(f: Callable, primals, tangents, transform: str) -> tuple:
    """(the primals' leaves, their structures, the tangents' leaves as the primals'
    dtypes): the tangents checked against the primals, errors naming `transform`."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"{transform}({name_of(f)}): primals and tangents must be tuples (or "
                        "lists) with one entry per positional argument")
    if len(primals) != len(tangents):
        raise ShapeError(f"{transform}({name_of(f)}): {len(primals)} primals but "
                         f"{len(tangents)} tangents")
    argnums = tuple(range(len(primals)))
    leaves, structures = flatten_inputs(tuple(primals), argnums, transform, f)
    t_leaves = []
    for a, (p, t) in enumerate(zip(primals, tangents)):
        t_flat, t_structure = tree.flatten(t)
        p_structure = structures[a][0]
        if t_structure != p_structure:
            raise ShapeError(f"{transform}({name_of(f)}): tangent {a} has structure "
                             f"{t_structure}, but primal {a} has structure {p_structure}")
        t_leaves.extend(t_flat)
    checked = []
    for k, (p, t) in enumerate(zip(leaves, t_leaves)):
        t_value = t if isinstance(t, Tracer) else np.asarray(t)
        if np.shape(t_value) != np.shape(p):
            raise ShapeError(f"{transform}({name_of(f)}): tangent leaf {k} has shape "
                             f"{np.shape(t_value)}, but its primal has shape {np.shape(p)}")
        if t_value.dtype.kind not in "fiu" and not (
                t_value.dtype.kind == "c" and np.result_type(p).kind == "c"):
            raise DTypeError(f"{transform}({name_of(f)}): tangent leaf {k} has dtype "
                             f"{t_value.dtype}; use a float dtype (complex only for a complex "
                             "primal)")
        if not isinstance(t_value, Tracer):
            t_value = t_value.astype(np.result_type(p), copy=False)
        checked.append(t_value)
    return leaves, structures, checked


def jvp(f: Callable, primals: Sequence, tangents: Sequence, *, compile: bool = False):
    """Push `tangents` forward through `f` at `primals`: returns (output, output tangent).
    With `compile=True`, an f of one array output whose recording lowers is recorded once
    per signature (cached per f) and each call is one run of its compiled tape.

    >>> import ad, ad.numpy as anp
    >>> out, tangent = ad.jvp(anp.exp, (0.0,), (2.0,))
    >>> float(out), float(tangent)
    (1.0, 2.0)
    """
    check_callable(f, "jvp")
    if _compiling(compile, "jvp", f) and isinstance(primals, (tuple, list)) and \
            isinstance(tangents, (tuple, list)) and len(primals) == len(tangents) == 1:
        fast = _jvp_fast(f, primals[0], tangents[0])
        if fast is not None:
            return fast
    leaves, structures, checked = _checked_tangents(f, primals, tangents, "jvp")
    argnums = tuple(range(len(primals)))
    if _compiling(compile, "jvp", f) and not any(isinstance(t, Tracer) for t in checked):
        replay, compiled_leaves = _compiled_replay(f, tuple(primals), argnums, "jvp", compile)
        if replay is not None:       # its guards hold at these inputs (see _lowered)
            value, tangent = replay.program.push(compiled_leaves, checked)
            dtype = replay.program.out_dtype
            return (as_scalar(value.astype(dtype, copy=False)),
                    as_scalar(tangent.astype(dtype, copy=False)))
    out_primals, out_tangents, out_structure = _push_forward(
        f, tuple(primals), {}, argnums, leaves, structures, checked, "jvp")
    out_tangents = [np.zeros(np.shape(p), dtype=float_dtype(p)) if t is None else
                    float_like(t, p) for t, p in zip(out_tangents, out_primals)]
    return (tree.unflatten(out_structure, [as_scalar(p) for p in out_primals]),
            tree.unflatten(out_structure, [as_scalar(t) for t in out_tangents]))


# ----------------------------------------------------------------------------- Jacobians
def _basis_block(start: int, count: int, offset: int, shape: tuple, dtype) -> np.ndarray:
    """Rows start..start+count of the identity, restricted to one leaf's columns."""
    size = math.prod(shape)
    block = np.zeros((count, size), dtype=dtype)
    rows = np.arange(count)
    cols = start + rows - offset
    hit = (cols >= 0) & (cols < size)
    block[rows[hit], cols[hit]] = 1
    return block.reshape((count,) + tuple(shape))


def _offsets(shapes) -> list[int]:
    offsets, total = [], 0
    for s in shapes:
        offsets.append(total)
        total += math.prod(s)
    return offsets + [total]


def _seeds(start: int, stop: int, shapes, dtypes) -> list[np.ndarray]:
    """One block of basis directions start..stop, split into a block per leaf."""
    return [_basis_block(start, stop - start, offset, shape, dtype)
            for offset, shape, dtype in zip(_offsets(shapes), shapes, dtypes)]


def _assemble(pieces, in_shapes, out_shapes, by_columns: bool) -> list[list]:
    """The Jacobian's blocks [i][j] (output leaf i, input leaf j, shape out_i + in_j) from
    the results of its passes: in forward mode (`by_columns`) pieces[i] are the chunks
    (k,) + out_i of output leaf i, k input directions each; in reverse mode pieces[j] are the
    chunks (k,) + in_j of input leaf j, k output directions each. Traceable (ad.numpy), so
    Jacobians nest."""
    leaves, split = (out_shapes, in_shapes) if by_columns else (in_shapes, out_shapes)
    offsets = _offsets(split)
    blocks = [[None] * len(in_shapes) for _ in out_shapes]
    for a, (chunks, shape) in enumerate(zip(pieces, leaves)):
        full = chunks[0] if len(chunks) == 1 else anp.concatenate(chunks, 0)
        matrix = anp.reshape(full, (offsets[-1], math.prod(shape)))  # directions x leaf
        for b in range(len(split)):
            part = matrix if len(split) == 1 else matrix[offsets[b]:offsets[b + 1]]
            i, j = (a, b) if by_columns else (b, a)
            if by_columns:
                part = anp.transpose(part)
            blocks[i][j] = as_scalar(anp.reshape(part, tuple(out_shapes[i]) +
                                                 tuple(in_shapes[j])))
    return blocks


def _jacobian_structure(out_structure, blocks, structures, single: bool):
    """Nest blocks[i][j] (output leaf i, input leaf j) as out_tree of in_trees."""
    per_out = [per_argnum(structures, row, single) for row in blocks]
    return tree.unflatten(out_structure, per_out)


def _forward_jacobian(pass_, leaves, structures, single: bool, plan: BlockPlan):
    """Jacobian from forward passes: `pass_(blocks)` pushes one block of basis directions
    (one array per input leaf) and returns (output primals, output tangents, structure)."""
    in_shapes = [np.shape(x) for x in leaves]
    dtypes = [float_dtype(x) for x in leaves]
    pieces = out_primals = out_structure = None
    for start, stop in plan.forward_blocks:
        out_primals, out_tangents, out_structure = pass_(_seeds(start, stop, in_shapes, dtypes))
        if pieces is None:
            pieces = [[] for _ in out_primals]
        for i, (t, p) in enumerate(zip(out_tangents, out_primals)):
            pieces[i].append(np.zeros((stop - start,) + np.shape(p), dtype=float_dtype(p))
                             if t is None else float_like(t, p))
    blocks = _assemble(pieces, in_shapes, [np.shape(p) for p in out_primals], by_columns=True)
    return _jacobian_structure(out_structure, blocks, structures, single)


#: The two pure modes of a Jacobian, as `jacobian(compile=True)` settles a close call.
_BOTH_MODES = ("forward", "reverse")


def _compiled_jacobian(f, argnums, chunk_size, mode: str, transform: str, fallback,
                       compile: bool | str = True):
    """A Jacobian transform on compiled tapes (see `value_and_grad`'s compile): the
    signature's program replayed in blocks of directions (`mode` "forward", "reverse", or
    "auto": the mode whose compiled Jacobian the cost model predicts faster,
    `ad.compiled.jacobian_choice`, or for a close call, predicted within SETTLE_WITHIN of
    each other, the faster of the two timed on the first calls, as `jacobian` settles),
    `fallback` (the interpreted transform) where it does not lower."""
    compiled = _compiled_grad(f, "jacobian", compile, chunk_size)
    # per recorded program: [the program's replay, its block plan, its mode, and for a
    # close call of the two modes the times of each so far (None once settled)]
    plans: dict = {}

    def blocks(replay, leaves):
        planned = plans.get(id(replay))
        if planned is None or planned[0] is not replay:  # once per recorded program
            plan = jacobian_plan(replay.program, chunk_size)
            trials = None
            if mode != "auto":
                chosen = mode
            else:
                chosen = jacobian_choice(replay.program, plan)
                seconds = [replay.program.predict_jacobian(m, plan) for m in _BOTH_MODES]
                if max(seconds) < COMPILED_SETTLE_WITHIN * min(seconds):
                    trials = {m: [] for m in _BOTH_MODES}    # a close call: time both modes
            planned = plans[id(replay)] = [replay, plan, chosen, trials]
        _, plan, chosen, trials = planned
        if trials is None:
            return replay.jacobian(leaves, chosen, plan)
        run = min(_BOTH_MODES, key=lambda m: len(trials[m]))    # the one timed less so far
        start = time.perf_counter()
        result = replay.jacobian(leaves, run, plan)
        trials[run].append(time.perf_counter() - start)
        faster = _settled(trials)          # as jacobian(mode="auto") settles its modes
        if faster is not None:
            planned[2], planned[3] = faster, None
        return result

    @functools.wraps(f)
    def jacobian_f(*args, **kwargs):
        nums = normalize_argnums(argnums, len(args), transform, f)
        compiled.calls += 1
        replay, leaves = compiled.lookup(args, kwargs, nums, isinstance(argnums, int),
                                         lambda: flatten_inputs(args, nums, transform, f)[1])
        if replay is not None:
            try:
                if replay.trials is None:
                    return blocks(replay, leaves)
                start = time.perf_counter()  # a close call: time both ways (see settle)
                result = blocks(replay, leaves)
                middle = time.perf_counter()
                fallback(*args, **kwargs)
                compiled.settle(replay, middle - start, time.perf_counter() - middle)
                return result
            except GuardFailed as failure:
                replay, result = compiled.retry(replay, leaves,
                                                lambda r: blocks(r, leaves), failure)
                if replay is not None:
                    return result
        return fallback(*args, **kwargs)

    jacobian_f.compiled = compiled
    #: Per recorded program: [its replay, block plan, the mode it runs, the times of a close
    #: call's trials (None once settled)].
    jacobian_f.plans = plans
    return jacobian_f


def compile_program(f: Callable, *example_args, **example_kwargs):
    """The compiled tape of `f` at these arguments (see `value_and_grad`'s compile), to
    inspect: `.listing()` prints its entries, `.report` its op and slot counts, arena bytes
    and build time. Raises `ad.compiled.NotLowered`, saying why, when it does not lower.
    `ad.compile` is this function.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> program = ad.compile(lambda x: anp.sum(anp.sin(x) * 2.0), np.ones(3))
    >>> program.n_ops, program.report.split(",")[0]
    (3, 'compiled tape: 3 ops')
    """
    check_callable(f, "compile")
    interpreter()                  # waits for it: the program is wanted now
    compiled = CompiledGrad(f, kind="jacobian", always=True)
    nums = tuple(range(len(example_args)))
    replay, _ = compiled.lookup(example_args, example_kwargs, nums, False,
                                lambda: flatten_inputs(example_args, nums, "compile", f)[1])
    if replay is None:
        reasons = list(compiled.reports.values())
        raise NotLowered(f"compile({name_of(f)}): " + (reasons[0] if reasons else
                         "its arguments cannot be traced (an unhashable static argument, "
                         "or a traced value of another transform)"))
    return replay.program


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0, *, chunk_size: int | None = None,
           compile: bool = False, executor=None, retries: int = RETRIES,
           progress: bool = False, holomorphic: bool = False):
    """Jacobian by forward mode: ceil(n / chunk) passes of vector-mode duals.

    The chunk is `chunk_size`, else `ad.tape.plan_blocks` of the input shapes (CHUNK_SIZE
    directions, fewer for large inputs so memory stays bounded; the outputs are not known
    before the first pass).

    >>> import numpy as np, ad, ad.numpy as anp
    >>> ad.jacfwd(lambda x: x[:2] * x[1:])(np.array([1.0, 2.0, 3.0]))
    array([[2., 1., 0.],
           [0., 3., 2.]])
    """
    check_callable(f, "jacfwd")
    chunk_size = chunk_of(chunk_size, f"jacfwd({name_of(f)})")
    if executor is not None:
        return _distributed(f, argnums, "forward", chunk_size, executor, retries, progress,
                            "jacfwd", compile, holomorphic)
    if _compiling(compile, "jacfwd", f):
        interpreted = jacfwd(f, argnums, chunk_size=chunk_size, holomorphic=holomorphic)
        if holomorphic:        # compiled tapes are real: a complex Jacobian runs interpreted
            return interpreted
        return _compiled_jacobian(f, argnums, chunk_size, "forward", "jacfwd", interpreted,
                                  compile)

    return _jacfwd(f, argnums, chunk_size, holomorphic, "jacfwd")


def _jacfwd(f: Callable, argnums, chunk_size: int | None, holomorphic: bool, transform: str):
    """jacfwd's interpreted Jacobian; errors name `transform` (hessian names itself)."""
    @functools.wraps(f)
    def jacfwd_f(*args, **kwargs):
        nums = normalize_argnums(argnums, len(args), transform, f)
        leaves, structures = flatten_inputs(args, nums, transform, f)
        _complex_check(transform, f, leaves, (), holomorphic, True, False)

        def dual_pass(blocks):
            pushed = _push_forward(f, args, kwargs, nums, leaves, structures, blocks, transform)
            # the outputs, once known: floats (complex too, with holomorphic)
            _complex_check(transform, f, leaves, pushed[0], holomorphic, True, False)
            return pushed
        plan = plan_blocks([np.shape(x) for x in leaves], (), chunk_size)
        return _forward_jacobian(dual_pass, leaves, structures, isinstance(argnums, int), plan)

    return jacfwd_f


def _recording_counts(recording: Recording):
    """The cost model's counts of a recording."""
    return recorded_counts(recording.level.tape, recording.in_ids, recording.in_primals,
                           recording.out_ids, recording.out_primals)


def _recording_plan(recording: Recording, chunk_size) -> BlockPlan:
    return plan_blocks([np.shape(x) for x in recording.in_primals],
                       [np.shape(p) for p in recording.out_primals], chunk_size)


def _jacfwd_from(recording: Recording, single: bool, plan: BlockPlan):
    """Forward-mode Jacobian pushed through an existing recording (no re-evaluation)."""
    def tape_pass(blocks):
        return recording.out_primals, recording.push(blocks), recording.out_structure
    return _forward_jacobian(tape_pass, recording.in_primals, recording.structures, single,
                             plan)


def _jacrev_from(recording: Recording, single: bool, plan: BlockPlan):
    """Reverse-mode Jacobian: one batched sweep of the recording per block of outputs."""
    out_shapes = [np.shape(p) for p in recording.out_primals]
    in_shapes = [np.shape(x) for x in recording.in_primals]
    dtypes = [float_dtype(p) for p in recording.out_primals]
    pieces = [[] for _ in in_shapes]
    for start, stop in plan.reverse_blocks:
        cotangents = recording.pull(_seeds(start, stop, out_shapes, dtypes),
                                    batch=(stop - start,))
        for j, ct in enumerate(cotangents):
            pieces[j].append(ct)
    blocks = _assemble(pieces, in_shapes, out_shapes, by_columns=False)
    return _jacobian_structure(recording.out_structure, blocks, recording.structures, single)


def jacrev(f: Callable, argnums: int | Sequence[int] = 0, *, chunk_size: int | None = None,
           compile: bool = False, executor=None, retries: int = RETRIES,
           progress: bool = False, holomorphic: bool = False):
    """Jacobian by reverse mode: one recording, ceil(m / chunk) batched sweeps.

    >>> import numpy as np, ad
    >>> ad.jacrev(lambda x: x[:2] * x[1:])(np.array([1.0, 2.0, 3.0]))
    array([[2., 1., 0.],
           [0., 3., 2.]])
    """
    check_callable(f, "jacrev")
    chunk_size = chunk_of(chunk_size, f"jacrev({name_of(f)})")
    if executor is not None:
        return _distributed(f, argnums, "reverse", chunk_size, executor, retries, progress,
                            "jacrev", compile, holomorphic)
    if _compiling(compile, "jacrev", f):
        interpreted = jacrev(f, argnums, chunk_size=chunk_size, holomorphic=holomorphic)
        if holomorphic:        # compiled tapes are real: a complex Jacobian runs interpreted
            return interpreted
        return _compiled_jacobian(f, argnums, chunk_size, "reverse", "jacrev", interpreted,
                                  compile)

    return _jacrev(f, argnums, chunk_size, holomorphic, "jacrev")


def _jacrev(f: Callable, argnums, chunk_size: int | None, holomorphic: bool, transform: str):
    """jacrev's interpreted Jacobian; errors name `transform` (hessian names itself)."""
    @functools.wraps(f)
    def jacrev_f(*args, **kwargs):
        nums = normalize_argnums(argnums, len(args), transform, f)
        recording = Recording(f, args, kwargs, nums, False, transform)
        _complex_check(transform, f, recording.in_primals, recording.out_primals, holomorphic,
                       False, True)
        return _jacrev_from(recording, isinstance(argnums, int),
                            _recording_plan(recording, chunk_size))

    return jacrev_f


def jacobian(f: Callable, argnums: int | Sequence[int] = 0, mode: str = "auto", *,
             chunk_size: int | None = None, settle: bool = True, compile: bool = False,
             sparse: bool | str = False, dense_output: bool = False, executor=None,
             retries: int = RETRIES, progress: bool = False, holomorphic: bool = False):
    """Jacobian in the mode the cost model predicts cheaper, or in the mode you name.
    Complex inputs or outputs need `holomorphic=True` (as JAX's jacfwd and jacrev do).

    `mode`:

    * "auto": `f` is recorded once (which also tells the output size); `ad.cost.predict`
      compares forward mode (n directions in ceil(n / chunk) vector passes) with reverse mode
      (m cotangents in ceil(m / chunk) sweeps of that recording) in predicted seconds: the
      catalogue's counts priced per primitive and mode, plus the engines' per-entry and
      per-pass costs. When reverse wins, the recording is swept; when forward
      wins, tangents are pushed forward through it (each entry's JVP rule on the residuals
      it recorded), so `f` runs once either way. The prices are the calibration table's
      (`ad.cost.calibration.current()`: this machine's, from `python -m ad.calibrate`, else
      the shipped default). The choice is remembered per signature (argument shapes and
      dtypes), and shared by every `jacobian` of the same `f` and options, so
      `ad.jacobian(f)(x)` written inline in a loop decides once: later calls run the
      chosen mode directly. When the two predictions are
      within SETTLE_WITHIN (1.5x) of each other, a close call the model cannot resolve,
      the next calls time each mode SETTLE_TRIALS (2) times, or up to SETTLE_MAX_TRIALS
      (16) while they take less than SETTLE_BUDGET (0.1 s) in all, and keep the faster from
      then on (`settle=False` keeps the prediction). The returned function's `.report` is the
      last `CostReport`, with measured times next to the prediction (print it for the
      table, the largest terms and the reason of the choice).
    * "forward" / "reverse": `jacfwd` / `jacrev`.

    `executor=` (a `dask.distributed.Client` or a `concurrent.futures.Executor`) runs the
    blocks of directions as tasks, sized by the cost model to take at least
    `ad.distributed.TASK_SECONDS` (0.1 s) each, with `retries=` and results reassembled in
    block order: the same bits as the serial Jacobian with the same `chunk_size`
    (`.report` gives it, and every block's time; `progress=True` shows a bar).

    `compile=True` replays a compiled tape per signature (see `value_and_grad`), in the
    mode named or, for "auto", the mode whose compiled Jacobian the cost model predicts
    faster (`ad.compiled.jacobian_choice`); signatures that do not lower, or whose compiled
    tape is predicted slower than the interpreted engine, run as without it.
    `sparse=True` (or "local") detects the Jacobian's sparsity pattern once per signature
    (`ad.sparsity`; global: valid for every input, or local: at these inputs, re-detected
    when they change), colours it and returns a `scipy.sparse.csr_array` (one row per
    output element, one column per input element; `dense_output=True` gives the dense
    Jacobian), computed by the strategy the cost model predicts fastest among dense
    forward, dense reverse, column-coloured forward, row-coloured reverse and bicoloured
    ("forward", "reverse" or "bidirectional" as `mode` fix the colouring); `.report`
    lists every candidate with its predicted and measured time (see `ad.sparse`).
    * "optimal": for an `ad.chain(f1, ..., fL)`, each stage's Jacobian in its cheaper mode,
      multiplied in the optimal bracketing, unless the cost model predicts a pure mode over
      the whole chain to be cheaper (forming stage Jacobians is not free); `.report` is the
      `ChainReport`, whose `choice` says which. The plan depends on shapes only, so it is
      made on the first call for an input shape and reused. For any other function, the
      same as "auto" (forward and reverse are then the only orders on offer).

    >>> import numpy as np, ad, ad.numpy as anp
    >>> ad.jacobian(anp.sin)(np.zeros(2))
    array([[1., 0.],
           [0., 1.]])
    >>> jac = ad.jacobian(lambda x: anp.sum(x ** 2))
    >>> jac(np.ones(1000)).shape, jac.report.choice
    ((1000,), 'reverse')
    """
    check_callable(f, "jacobian")
    chunk_size = chunk_of(chunk_size, f"jacobian({name_of(f)})")
    if sparse:
        if compile or holomorphic:
            raise ValueError(f"jacobian({name_of(f)}, sparse=True): a sparse Jacobian is "
                             "real and runs its compressed passes interpreted; drop "
                             + ("compile=True" if compile else "holomorphic=True"))
        return _sparse(f, argnums, mode, sparse, chunk_size, dense_output, False, "jacobian",
                       (executor, retries, progress) if executor is not None else None)
    if executor is not None:
        if mode not in ("auto", "forward", "reverse"):
            raise ValueError(f"jacobian(executor=...): mode must be 'auto', 'forward' or "
                             f"'reverse', not {mode!r}")
        return _distributed(f, argnums, mode, chunk_size, executor, retries, progress,
                            "jacobian", compile, holomorphic)
    if mode not in ("auto", "forward", "reverse", "optimal"):
        raise ValueError(f"jacobian: mode must be 'auto', 'forward', 'reverse' or 'optimal', "
                         f"not {mode!r}")
    if _compiling(compile, "jacobian", f) and not isinstance(f, Chain):
        interpreted = jacobian(f, argnums, mode, chunk_size=chunk_size, settle=settle,
                               holomorphic=holomorphic)
        if holomorphic:        # compiled tapes are real: a complex Jacobian runs interpreted
            return interpreted
        return _compiled_jacobian(f, argnums, chunk_size,
                                  mode if mode in ("forward", "reverse") else "auto",
                                  "jacobian", interpreted, compile)
    if mode == "forward":
        return jacfwd(f, argnums, chunk_size=chunk_size, holomorphic=holomorphic)
    if mode == "reverse":
        return jacrev(f, argnums, chunk_size=chunk_size, holomorphic=holomorphic)
    chunk = chunk_size

    if mode == "optimal" and isinstance(f, Chain):
        if argnums != 0:
            raise ValueError("jacobian(chain, mode='optimal'): a chain has one argument; "
                             "argnums must be 0")

        plans: dict = {}   # costs depend on shapes only: plan once per input shape

        def chain_jacobian_f(x):
            f.check_input(x)
            key = (np.shape(x), str(np.result_type(primal_value(x))))
            report = plans.get(key)
            fresh = report is None
            if fresh:
                report = plans[key] = f.plan(x, chunk_size=chunk)
            chain_jacobian_f.report = report
            if report.choice != "plan":    # a pure mode is predicted cheaper than the plan
                by = jacfwd if report.choice == "forward" else jacrev
                return by(f, chunk_size=report.chunk, holomorphic=holomorphic)(x)
            if fresh and not isinstance(x, Tracer):
                inputs = report.inputs     # the plan's own run (plain values)
            else:                          # traced by an outer transform: through x
                inputs = [x]
                for stage in f.stages[:-1]:
                    inputs.append(stage(inputs[-1]))
            factors = []
            for stage, x_i, r in zip(f.stages, inputs, report.stage_reports):
                by = jacfwd if r.choice == "forward" else jacrev
                factor = by(stage, chunk_size=report.chunk,      # the planned passes
                            holomorphic=holomorphic)(x_i)
                factors.append(anp.reshape(factor, (r.counts.m, r.counts.n)))
            full = report.plan.multiply(factors, anp.matmul)
            return as_scalar(anp.reshape(full, np.shape(report.output) + np.shape(x)))

        chain_jacobian_f.__name__ = f"jacobian_{name_of(f)}"
        chain_jacobian_f.report = None
        return chain_jacobian_f

    # the choice depends on shapes: decided once per signature, and shared by every
    # jacobian(f) of the same f and options (an inline `ad.jacobian(f)(x)` in a loop)
    decisions = _decisions_of(f, (argnums if isinstance(argnums, int) else
                                  argnums_items(argnums, "jacobian", f),
                                  chunk_size, settle, holomorphic))
    transforms: dict = {}  # (signature, mode) -> its jacfwd / jacrev, made on first use

    @functools.wraps(f)
    def jacobian_f(*args, **kwargs):
        nums = normalize_argnums(argnums, len(args), "jacobian", f)
        signature = (nums, tuple((shape_of(leaf), getattr(leaf, "dtype", type(leaf)))
                                 for leaf in tree.flatten((args, kwargs))[0]))
        decision = decisions.get(signature)
        if decision is not None and decision.report.table is not current():
            decision = None        # decided on other prices (`ad.cost.calibration.use`)
        if decision is not None:   # the same plan as predicted: run a mode directly
            mode = decision.next_mode()
            by = transforms.get((signature, mode))
            if by is None:         # made once per signature and mode
                by = transforms[signature, mode] = (jacfwd if mode == "forward" else jacrev)(
                    f, argnums, chunk_size=decision.report.plan.chunk, holomorphic=holomorphic)
            start = time.perf_counter()
            result = by(*args, **kwargs)
            decision.observe(mode, time.perf_counter() - start)
            jacobian_f.report = decision.report
            return result
        start = time.perf_counter()
        recording = Recording(f, args, kwargs, nums, False, "jacobian")
        _complex_check("jacobian", f, recording.in_primals, recording.out_primals,
                       holomorphic, True, True)
        counting = time.perf_counter()
        # planned from its shapes; the recording's time prices f's own Python
        report = predict(_recording_counts(recording), chunk_size,
                         recorded=counting - start)
        chosen = time.perf_counter()
        plan = report.plan
        report.selection_seconds = chosen - counting   # a fresh report, not yet shared
        _keep_bounded(decisions, transforms)
        decisions[signature] = _Decision(report, settle)
        single = isinstance(argnums, int)
        if report.choice == "forward":   # push tangents through the recording just made
            try:
                result = _jacfwd_from(recording, single, plan)
            except LevelError:
                # an entry's rule re-runs f's own code that closes over the recording's
                # values (a checkpoint inside an inner grad): only f run on duals sees
                # their tangents, as every later call does
                result = jacfwd(f, argnums, chunk_size=plan.chunk,
                                holomorphic=holomorphic)(*args, **kwargs)
        else:
            result = _jacrev_from(recording, single, plan)
        # measured: the recording and the chosen mode's passes, not the prediction
        report.record_measured(report.choice, time.perf_counter() - chosen + counting - start)
        jacobian_f.report = report
        return result

    jacobian_f.report = None
    return jacobian_f


#: `jacobian(mode="auto")` settles a close call by measurement: when the predicted times of
#: the two modes are within this factor of each other, the next calls alternate the modes
#: and keep the faster by its best time (the prediction's error is about that size). Each
#: mode runs at least SETTLE_TRIALS times, and more, up to SETTLE_MAX_TRIALS, while the
#: calls so far took less than SETTLE_BUDGET seconds: a cheap Jacobian, where one slow call
#: on a noisy machine would decide, is timed more often at a cost the user never notices.
SETTLE_WITHIN = 1.5
SETTLE_TRIALS = 2
SETTLE_MAX_TRIALS = 16
SETTLE_BUDGET = 0.1


#: Signatures `jacobian(mode="auto")` keeps decisions for, per f and options (as compiled
#: tapes keep theirs: `CompiledGrad.MAX_SIGNATURES`); the oldest is dropped beyond it.
MAX_DECISIONS = 64


def _keep_bounded(decisions: dict, transforms: dict) -> None:
    """Make room for one more decision: drop the oldest signature's (and its transforms)."""
    while len(decisions) >= MAX_DECISIONS:
        try:
            oldest = next(iter(decisions))
            del decisions[oldest]
        except (StopIteration, RuntimeError, KeyError):   # another thread dropped it
            return
        for mode in ("forward", "reverse"):
            transforms.pop((oldest, mode), None)


def _per_f(cache: "weakref.WeakKeyDictionary", f) -> dict | None:
    """f's dict in a weak per-f cache (made on first use), or None when f cannot be weakly
    referenced. What goes in it must not refer to f (a `weakref.proxy` of f at most), or
    the entry would keep its own key alive."""
    try:
        per_f = cache.get(f)
        if per_f is None:
            per_f = cache[f] = {}
    except TypeError:
        return None
    return per_f


#: `jacobian(mode="auto")`'s decisions per f, then per options: {signature: _Decision}.
_DECISIONS_BY_F: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _decisions_of(f: Callable, options: tuple) -> dict:
    """The decisions `jacobian(f, mode="auto")` with these options shares with every other
    jacobian of the same f; a private dict when f cannot be weakly referenced."""
    per_f = _per_f(_DECISIONS_BY_F, f)
    return {} if per_f is None else per_f.setdefault(options, {})


def _settled(times: dict[str, list[float]]) -> str | None:
    """The faster mode of a close call once each has been timed enough (SETTLE_TRIALS
    times, and more, up to SETTLE_MAX_TRIALS, while the calls took under SETTLE_BUDGET in
    all) by its best time; None while it needs more trials."""
    trials = min(len(t) for t in times.values())
    if trials < SETTLE_TRIALS or (trials < SETTLE_MAX_TRIALS and sum(
            map(sum, times.values())) < SETTLE_BUDGET):
        return None
    return min(times, key=lambda m: min(times[m]))


class _Decision:
    """The mode `jacobian(mode="auto")` runs for one signature: the prediction's, or, for a
    close call, the faster of the two once both have been timed (SETTLE_TRIALS times, or
    more within SETTLE_BUDGET)."""

    __slots__ = ("report", "times", "settled")

    def __init__(self, report, settle: bool) -> None:
        self.report = report
        close = max(report.ratio, 1.0 / max(report.ratio, 1e-300)) < SETTLE_WITHIN
        self.settled = not (settle and close and report.counts.reverse_only is None)
        self.times: dict[str, list[float]] = {"forward": [], "reverse": []}

    def next_mode(self) -> str:
        if self.settled:
            return self.report.choice
        other = "reverse" if self.report.choice == "forward" else "forward"
        ours, theirs = self.times[self.report.choice], self.times[other]
        return self.report.choice if len(ours) <= len(theirs) else other

    def observe(self, mode: str, seconds: float) -> None:
        self.report.record_measured(mode, seconds)
        if self.settled:
            return
        self.times[mode].append(seconds)
        faster = _settled(self.times)
        if faster is None:
            return
        trials = min(len(t) for t in self.times.values())
        best = {m: min(t) for m, t in self.times.items()}
        self.report = dataclasses.replace(self.report, choice=faster, reason=(
            f"{self.report.reason}; a close call, settled by measurement: {faster} mode "
            f"(best of {trials} calls each: forward {best['forward'] * 1e3:.3g} ms, "
            f"reverse {best['reverse'] * 1e3:.3g} ms)"), measured=self.report.measured)
        self.settled = True


def hessian(f: Callable, argnums: int | Sequence[int] = 0, *, chunk_size: int | None = None,
            sparse: bool | str = False, dense_output: bool = False, executor=None,
            retries: int = RETRIES, progress: bool = False, holomorphic: bool = False):
    """Hessian of a scalar `f`: forward mode (vector duals) over reverse mode; with
    `holomorphic=True`, the complex Hessian of a holomorphic f of complex inputs (as JAX's).

    `sparse=True` (or "local"): the Hessian's pattern is detected once per signature (the
    Jacobian pattern of the gradient's recording), star-coloured, and the Hessian is
    recovered from one forward-over-reverse pass per colour, as a `scipy.sparse.csr_array`
    (`dense_output=True`: dense), unless the cost model predicts the dense Hessian faster.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> ad.hessian(lambda x: anp.sum(x ** 3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    check_callable(f, "hessian")
    chunk_size = chunk_of(chunk_size, f"hessian({name_of(f)})")
    if holomorphic and (sparse or executor is not None):
        raise ValueError(f"hessian({name_of(f)}, holomorphic=True): sparse and distributed "
                         "Hessians are real; drop sparse= / executor=")
    if sparse:
        return _sparse(f, argnums, "auto", sparse, chunk_size, dense_output, True, "hessian",
                       (executor, retries, progress) if executor is not None else None)
    if executor is not None:   # forward over reverse, the forward blocks as tasks
        return _distributed(grad(f, argnums), argnums, "forward", chunk_size, executor,
                            retries, progress, "hessian")
    return _jacfwd(_jacrev(f, argnums, None, holomorphic, "hessian"), argnums, chunk_size,
                   holomorphic, "hessian")


def _sparse(f, argnums, mode, sparse, chunk_size, dense_output, hessian, transform,
            distribute=None):
    if sparse not in (True, "global", "local"):
        raise ValueError(f"{transform}: sparse must be True, 'global' or 'local', not "
                         f"{sparse!r}")
    from ad.sparse.evaluate import sparse_transform   # SciPy is optional
    return sparse_transform(f, argnums, hessian=hessian, local=sparse == "local", mode=mode,
                            chunk_size=chunk_size, dense_output=dense_output,
                            transform=transform, distribute=distribute)


def hvp(f: Callable, primals: Sequence, tangents: Sequence, *, compile: bool = False):
    """Hessian-vector product H(primals) @ tangents without forming H (forward-over-reverse).

    Returns one tangent per primal (a single one when there is one primal). With
    `compile=True`, f's gradient (the reverse sweep written in catalogue ops) is recorded
    once per signature, cached per f, and lowered like any program: each call is then one
    forward run of its compiled tape with the tangents (see `jvp`).

    >>> import numpy as np, ad, ad.numpy as anp
    >>> ad.hvp(lambda x: anp.sum(x ** 3), (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
    array([6., 0.])
    """
    check_callable(f, "hvp")
    if not isinstance(primals, (tuple, list)):
        raise TypeError("hvp: primals must be a tuple with one entry per positional argument")
    argnums = tuple(range(len(primals)))
    # checked here so that errors name hvp, not its inner jvp
    leaves, structures, _ = _checked_tangents(f, primals, tangents, "hvp")
    if _compiling(compile, "hvp", f):
        gradient = _flat_gradient(f, len(primals))
        if gradient is not None:   # one array output, so its tape lowers: split it after
            _, flat = jvp(gradient, primals, tangents, compile=compile)
            shapes = [np.shape(leaf) for leaf in leaves]
            offsets = _offsets(shapes)
            pieces = [as_scalar(np.reshape(flat[a:b], s))
                      for a, b, s in zip(offsets, offsets[1:], shapes)]
            return per_argnum(structures, pieces, single=len(primals) == 1)
    _, tangent = jvp(grad(f, argnums=argnums), primals, tangents)
    return tangent[0] if len(primals) == 1 else tangent


_GRADIENTS_BY_F: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _flat_gradient(f, n_args: int):
    """f's gradient with respect to its n_args arguments, every leaf raveled into one
    array (one cached function per f, so its compiled tapes are kept with it), or None
    when f cannot be weakly referenced."""
    by_count = _per_f(_GRADIENTS_BY_F, f)
    if by_count is None:
        return None
    if n_args not in by_count:      # through a proxy: the value must not keep f alive
        gradient = grad(weakref.proxy(f), argnums=tuple(range(n_args)))

        def flat_gradient(*args):
            leaves = tree.flatten(gradient(*args))[0]
            return anp.concatenate([anp.ravel(g) for g in leaves])
        flat_gradient.__name__ = f"grad({name_of(f)})"
        by_count[n_args] = flat_gradient
    return by_count[n_args]


# ----------------------------------------------------------------------------- on an executor
def _forward_task(payload, start: int, stop: int) -> list:
    """Directions start..stop pushed forward: the output tangents, one (k,) + shape array
    per output leaf (a task: f and its arguments travel in `payload`)."""
    f, args, kwargs, nums, transform = payload
    leaves, structures = flatten_inputs(args, nums, transform, f)
    seeds = _seeds(start, stop, [np.shape(x) for x in leaves], [float_dtype(x) for x in leaves])
    primals, tangents, _ = _push_forward(f, args, kwargs, nums, leaves, structures, seeds,
                                         transform)
    return [np.zeros((stop - start,) + np.shape(p), dtype=float_dtype(p)) if t is None else t
            for t, p in zip(tangents, primals)]


def _reverse_task(payload, start: int, stop: int) -> list:
    """Output cotangents start..stop pulled back through one recording: the input
    cotangents, one (k,) + shape array per input leaf."""
    f, args, kwargs, nums, transform = payload
    recording = Recording(f, args, kwargs, nums, False, transform)
    seeds = _seeds(start, stop, [np.shape(p) for p in recording.out_primals],
                   [float_dtype(p) for p in recording.out_primals])
    return recording.pull(seeds, batch=(stop - start,))


#: Per f (weakly: each CompiledGrad holds a proxy of f, so none keeps it alive), its
#: CompiledGrads by options: (kind, compile, chunk_size) for the transforms made with
#: compile=, TANGENTS for jvp and vjp. Every transform of the same f and options shares
#: one, so `ad.grad(f, compile=True)(x)` written inline in a loop records once per
#: signature, as a transform made once does.
_COMPILED_BY_F: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
TANGENTS = ("jacobian", "jvp and vjp")


def _shared_compiled(f, options, make: Callable) -> CompiledGrad | None:
    """f's CompiledGrad for these options (`make(proxy of f)` on first use), or None when
    f cannot be weakly referenced."""
    per_f = _per_f(_COMPILED_BY_F, f)
    if per_f is None:
        return None
    compiled = per_f.get(options)
    if compiled is None:
        compiled = per_f[options] = make(weakref.proxy(f))
    return compiled


def _lowered(compiled: CompiledGrad, f, args, kwargs, nums, single: bool, transform: str):
    """(the signature's compiled replay, the flat leaves) when it lowers and every float
    argument is differentiated (the program's inputs are then the directions), else
    (None, None): run interpreted."""
    replay, leaves = compiled.lookup(args, kwargs, nums, single,
                                     lambda: flatten_inputs(args, nums, transform, f)[1])
    if replay is None or not (replay.all_traced and replay.wanted == list(
            range(len(replay.program.inputs)))):
        return None, None
    if replay.program.guards:        # the path these inputs take (see CompiledGrad.retry)
        replay = compiled.checked(replay, leaves)
        if replay is None:
            return None, None
    return replay, leaves


def _jvp_fast(f, x, t):
    """jvp's compiled fast path: one float64 array primal and a tangent of its shape and
    dtype, whose signature is recorded already, without guards: one interpreter run, the
    checks it passed when it was recorded not repeated. None: take the general path."""
    if not (type(x) is np.ndarray and type(t) is np.ndarray and x.dtype.char == "d"
            and t.dtype.char == "d" and x.shape == t.shape) or inside_transform():
        return None
    try:
        compiled = _COMPILED_BY_F.get(f, {}).get(TANGENTS)
    except TypeError:
        return None
    replay = None if compiled is None else compiled.replays.get(
        compiled.plain_key((0,), (x,), False))
    if replay is None or replay.program.guards or replay.wanted != [0]:
        return None
    value, tangent = replay.program.push([x], [t])
    dtype = replay.program.out_dtype
    return (as_scalar(value.astype(dtype, copy=False)),
            as_scalar(tangent.astype(dtype, copy=False)))


def _compiled_replay(f, args, nums, transform: str, compile):
    """`_lowered` for jvp and vjp, with f's compiled programs cached per f."""
    compiled = _shared_compiled(f, TANGENTS, lambda g: CompiledGrad(g, kind="jacobian"))
    if compiled is None:              # f cannot be weakly referenced: no cache
        return None, None
    compiled.strict, compiled.always = compile == "strict", compile == "always"
    return _lowered(compiled, f, args, {}, nums, False, transform)


def _compiling(compile, transform: str, f):
    """compile= checked: False, True, "strict" (a guard failure raises ad.GuardError
    instead of recording the other path) or "always" (compiled even where the cost model
    predicts the interpreted engine faster)."""
    if compile is False or compile is None:
        return False
    if compile is True or compile in ("strict", "always"):
        return compile
    raise ValueError(f"{transform}({name_of(f)}): compile= is True, False, 'strict' or "
                     f"'always', not {compile!r}")


def _compiled_grad(f, kind: str, compile, chunk_size: int | None = None) -> CompiledGrad:
    """The CompiledGrad a transform with compile= runs on: f's shared one for these
    options, or its own when f cannot be weakly referenced."""
    def make(g):
        return CompiledGrad(g, kind=kind, strict=compile == "strict",
                            always=compile == "always", chunk_size=chunk_size)
    return _shared_compiled(f, (kind, compile, chunk_size), make) or make(f)


def _compiled_task(payload, start: int, stop: int) -> np.ndarray:
    """Directions start..stop of a compiled tape's Jacobian (a task: the lowered program's
    arrays travel in `payload`, not f)."""
    program, leaves, mode = payload
    return program.rows(leaves, mode, start, stop)


def _distributed(f, argnums, mode: str, chunk_size, executor, retries, progress,
                 transform: str, compile: bool = False, holomorphic: bool = False):
    """A Jacobian whose blocks of directions run as tasks on `executor` (see `jacobian`).
    With `compile`, a signature that lowers ships its compiled tape (the program's arrays,
    once per worker) and each task replays its block in the interpreter: the result is
    `jacobian(f, compile=True)`'s bit for bit; otherwise f and its arguments travel."""
    from ad import distributed
    if holomorphic:
        raise ValueError(f"{transform}({name_of(f)}, holomorphic=True, executor=...): the "
                         "tasks compute real Jacobians (real directions, float blocks); a "
                         "holomorphic Jacobian runs in this process: drop executor=")
    compiled = (_compiled_grad(f, "jacobian", compile) if _compiling(compile, transform, f)
                else None)

    sized: dict = {}     # per signature: the shapes, trees and block plan, decided once

    def size(args, kwargs, nums):
        """One recording (shapes, trees, counts) and the cost model's block size."""
        recording = Recording(f, args, kwargs, nums, False, transform)
        # the tasks' blocks are real directions: complex needs the serial holomorphic path
        _complex_check(transform, f, recording.in_primals, recording.out_primals, False,
                       True, True)
        in_shapes = [np.shape(x) for x in recording.in_primals]
        out_shapes = [np.shape(p) for p in recording.out_primals]
        counts = _recording_counts(recording)
        plan = plan_blocks(in_shapes, out_shapes, None)
        predicted = predict(counts, plan)
        chosen = predicted.choice if mode == "auto" else mode
        cost = predicted.forward if chosen == "forward" else predicted.reverse
        per_direction = cost.seconds / max(counts.n if chosen == "forward" else counts.m, 1)
        chunk = (int(chunk_size) if chunk_size else
                 min(plan.chunk, distributed.task_chunk(per_direction)))
        return (in_shapes, out_shapes, recording.out_structure, recording.structures, chosen,
                chunk, per_direction, plan_blocks(in_shapes, out_shapes, chunk))

    @functools.wraps(f)
    def distributed_f(*args, **kwargs):
        start_time = time.perf_counter()
        nums = normalize_argnums(argnums, len(args), transform, f)
        # the arguments' tree (a dict's keys), arrays by shape and dtype; other leaves
        # (ints, strings: they may shape the program) by value
        leaves, structure = tree.flatten((args, kwargs))
        signature = (nums, structure, tuple(
            (shape_of(leaf), leaf.dtype) if hasattr(leaf, "dtype") else
            ((), float) if isinstance(leaf, float) else ("value", leaf)
            for leaf in leaves))
        try:
            facts = sized.get(signature)
        except TypeError:                   # an unhashable argument: size every call
            signature, facts = None, None
        if facts is not None:
            # values may shape the output (x[x > 0], x[:k] with k a NumPy integer): a
            # recording checks the sized shapes hold here (traced: f may use x.at[...])
            recording = Recording(f, args, kwargs, nums, False, transform)
            if recording.out_structure != facts[2] or \
                    [np.shape(o) for o in recording.out_primals] != list(facts[1]):
                facts = None
        if facts is None:                   # later calls reuse the sizing
            facts = size(args, kwargs, nums)
            if signature is not None:
                sized[signature] = facts
        (in_shapes, out_shapes, out_structure, structures, chosen, chunk, per_direction,
         plan) = facts
        forward = chosen == "forward"
        blocks_of = plan.forward_blocks if forward else plan.reverse_blocks
        replay = None
        if compiled is not None:
            replay, leaves = _lowered(compiled, f, args, kwargs, nums,
                                      isinstance(argnums, int), transform)
        if replay is not None:              # the compiled tape travels, once per worker
            results, timings = distributed.run_blocks(
                executor, _compiled_task, (replay.program, leaves, chosen), blocks_of,
                retries=retries, progress=progress, what=transform)
            rows = np.concatenate(results)
            result = replay.grouped(replay.program.assemble(rows, chosen), chosen)
        else:
            results, timings = distributed.run_blocks(
                executor, _forward_task if forward else _reverse_task,
                (f, args, kwargs, nums, transform), blocks_of,
                retries=retries, progress=progress, what=transform)
            pieces = [list(column) for column in zip(*results)]
            blocks = _assemble(pieces, in_shapes, out_shapes, by_columns=forward)
            result = _jacobian_structure(out_structure, blocks, structures,
                                         isinstance(argnums, int))
        distributed_f.report = distributed.DistributedReport(
            chosen, chunk, per_direction * chunk, distributed.executor_name(executor),
            timings, time.perf_counter() - start_time,
            "compiled tape" if replay is not None else "f and its arguments")
        return result

    distributed_f.report = None
    return distributed_f


def grad_sum(loss: Callable, params, partitions: Sequence[tuple], *, executor=None,
             retries: int = RETRIES, progress: bool = False):
    """The gradient with respect to `params` of sum(loss(params, *part) for part in
    partitions), each partition's gradient computed as a task on `executor` (serially
    without one) and summed in partition order: the same bits as the serial sum.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> parts = [(np.array([1.0, 2.0]),), (np.array([3.0]),)]
    >>> float(ad.grad_sum(lambda w, x: anp.sum((w * x) ** 2), 0.5, parts))
    14.0
    """
    from ad import distributed
    check_callable(loss, "grad_sum")
    partitions = [tuple(p) if isinstance(p, (tuple, list)) else (p,) for p in partitions]
    if not partitions:
        raise ValueError("grad_sum: no partitions")
    payload = (loss, params, partitions)
    blocks = [(k, k + 1) for k in range(len(partitions))]
    if executor is None:
        grads = [_partition_task(payload, a, b) for a, b in blocks]
    else:
        grads, _ = distributed.run_blocks(executor, _partition_task, payload, blocks,
                                          retries=retries, progress=progress,
                                          what="grad_sum")
    total = grads[0]
    for g in grads[1:]:
        total = tree.tree_map(np.add, total, g)
    return total


def _partition_task(payload, start: int, stop: int):
    loss, params, partitions = payload
    return grad(loss)(params, *partitions[start])


def stop_gradient(x):
    """The value of `x` with no derivative, at every level (a pytree is mapped leafwise).

    >>> import ad
    >>> float(ad.grad(lambda x: x * ad.stop_gradient(x))(3.0))
    3.0
    """
    return tree.tree_map(_stopped, x)


def _stopped(x):
    # a value of a transform that has returned is taken as its plain value (a checkpointed
    # function re-run in the sweep reads its closure after the recording closed): stopped,
    # it carries no derivative either way
    while isinstance(x, Tracer) and not x._level.active:
        x = x.primal
    return anp.stop_gradient(x)


__all__ = ["grad", "value_and_grad", "jvp", "vjp", "jacfwd", "jacrev", "jacobian", "hessian",
           "hvp", "stop_gradient", "grad_sum", "compile_program", "CHUNK_SIZE", "CHUNK_BUDGET",
           "SETTLE_WITHIN", "SETTLE_TRIALS"]
