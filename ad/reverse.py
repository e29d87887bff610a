"""Reverse mode: record a `Tape` while the function runs, then sweep it backwards.

`ReverseLevel.process` records each primitive application on its level's `ad.tape.Tape`
(parents by id, -1 for a constant kept in the constants column, the residuals its
`forward` kept). `sweep` is the one backward walk: a loop over `Tape.entries(reverse=True)`
with no recursion, cotangents popped once consumed and accumulated in place into buffers
the sweep owns, entries whose output got no cotangent skipped; `keep=True` keeps every
adjoint instead (for pictures). `push` is forward mode over a recorded tape (each entry's
JVP rule on the residuals it already holds). Imports `ad.context`, `ad.errors`,
`ad.primitive` and `ad.tape` only (never the catalogue).
"""
from __future__ import annotations

import sys
from typing import Any, Iterable

import numpy as np

from ad.context import Level, entered, get_ident
from ad.errors import NotDifferentiableError
from ad.primitive import (COMPLEX, ZERO, Tracer, bind, check_complex, float_dtype, real_if_real,
                          shape_of)
from ad.tape import CONSTANT, NO_PARAMS, Dropped, Tape, plan_blocks

_FLOAT = np.dtype(np.float64)


class ReverseLevel(Level):
    """A reverse-mode transform in progress: owns one tape, used by one thread."""

    kind = "reverse"
    __slots__ = ("tape",)
    #: Whether elementwise entries keep their partials (`sweep` needs them; a compiled
    #: tape's interpreter recomputes them, so its recording skips them).
    keeps_partials = True
    #: Whether an argument another level traces is noted (`foreign`) rather than taken as
    #: a constant: a compiled tape cannot replay a value that comes in through a closure.
    refuses_foreign = False

    def __init__(self) -> None:
        super().__init__()
        self.tape = Tape()

    def new_input(self, primal: Any) -> "TapeValue":
        """A traced input: a value with an id but no tape entry."""
        return TapeValue(primal, self, self.tape.new_input(primal))

    def process(self, primitive, args, params):
        if self.thread != get_ident():   # a tape (or tag) belongs to one thread
            self.check_usable()
        primals = []
        parents = []
        needs = []
        constant = False
        for arg in args:
            if type(arg) is TapeValue and arg._level is self:
                primals.append(arg.primal)
                parents.append(arg.index)
                needs.append(True)
            else:
                if self.refuses_foreign and isinstance(arg, Tracer):
                    self.foreign(primitive)
                primals.append(arg)
                parents.append(CONSTANT)
                needs.append(False)
                constant = True
        if not primitive.differentiable:
            return bind(primitive, primals, params)
        if self.keeps_partials or primitive.residual_form != "partials":
            out, residuals = primitive.forward(primals, params, needs)
        else:   # whoever sweeps this tape recomputes the partials (a compiled tape)
            out, residuals = bind(primitive, primals, params), None
        if COMPLEX.seen or primitive.n_outputs != 1 or getattr(out, "dtype", _FLOAT).kind == "c":
            check_complex(primitive, primals, out)
        constants = tuple([None if need else x for x, need in zip(primals, needs)]) \
            if constant else None
        tape = self.tape
        if type(out) is np.ndarray:
            # The hot path, inlined: exactly the row Tape.append writes (a test holds them
            # together), saving a call per recorded operation.
            shapes = tape.shapes
            index = len(shapes)
            tape.rows.extend((primitive.opcode, params or NO_PARAMS, tuple(parents), constants,
                              index, residuals))
            shapes.append(out.shape)
            tape.dtypes.append(out.dtype)
            return TapeValue(out, self, index)
        index = tape.append(primitive, params, tuple(parents), constants, residuals, out)
        if primitive.n_outputs == 1:
            return TapeValue(out, self, index)
        return tuple(TapeValue(value, self, index + j) for j, value in enumerate(out))


def _buffers(residuals) -> list[np.ndarray]:
    """The arrays a residual value holds (through tuples, lists, dicts and tracers)."""
    stack, found = [residuals], []
    while stack:
        x = stack.pop()
        if isinstance(x, (tuple, list)):
            stack.extend(x)
        elif isinstance(x, dict):
            stack.extend(x.values())
        elif isinstance(x, Tracer):
            stack.append(x.primal)
        elif isinstance(x, (np.ndarray, np.generic)):
            found.append(x)
    return found


def _root(x) -> Any:
    """The array owning x's memory (x itself unless it is a view)."""
    while isinstance(x, Tracer):
        x = x.primal
    while isinstance(x, np.ndarray) and isinstance(x.base, np.ndarray):
        x = x.base
    return x


class MeasuringLevel(ReverseLevel):
    """Records the program but keeps no residuals: each entry's slot holds what its
    residuals would have cost instead, `(fresh bytes, ids of the values they hold)`, a
    value held by reference (an argument or the result) costing its own bytes once
    however many entries keep it. What `ad.cost.memory.plan_recompute` plans from."""

    __slots__ = ()

    def process(self, primitive, args, params):
        rows = self.tape.rows
        before = len(rows)
        result = ReverseLevel.process(self, primitive, args, params)
        if len(rows) == before:                      # nothing recorded
            return result
        owners = {}                                  # root buffer -> the value id holding it
        for arg in args:
            if isinstance(arg, Tracer):
                owners[id(_root(arg))] = arg.index if (type(arg) is TapeValue
                                                        and arg._level is self) else None
            else:
                owners[id(_root(arg))] = None        # a constant: held by the tape anyway
        first = rows[-2]
        outs = result if isinstance(result, tuple) else (result,)
        for j, value in enumerate(outs):
            owners[id(_root(value.primal))] = first + j
        fresh, held, seen = 0, set(), set()
        for array in _buffers(rows[-1]):
            root = _root(array)
            if id(root) in seen:
                continue
            seen.add(id(root))
            owner = owners.get(id(root), -1)
            if owner == -1:     # its buffer and its object (a small array is mostly that)
                fresh += max(sys.getsizeof(root), root.nbytes)
            elif owner is not None:
                held.add(owner)
        rows[-1] = (fresh, tuple(held))
        return result


class RecomputingLevel(ReverseLevel):
    """Records the program keeping no residuals for the entries at the positions in
    `ranges` ([start, stop) pairs, sorted): each range's entries share one `ad.tape.Dropped`
    marker holding the values the range reads from before it, and the tape's walks
    recompute the range when they reach it."""

    __slots__ = ("ranges", "_next", "_segment")

    def __init__(self, ranges) -> None:
        super().__init__()
        self.ranges = list(ranges)
        self._next = 0
        self._segment: Dropped | None = None

    def process(self, primitive, args, params):
        tape = self.tape
        position, first_id = len(tape), len(tape.shapes)
        result = ReverseLevel.process(self, primitive, args, params)
        ranges = self.ranges
        while self._next < len(ranges) and position >= ranges[self._next][1]:
            self._next += 1                          # past a range: the next one
            self._segment = None
        if (self._next == len(ranges) or position < ranges[self._next][0]
                or len(tape) == position):           # kept, or nothing recorded
            return result
        segment = self._segment
        if segment is None:
            segment = self._segment = Dropped(position, first_id)
            tape.dropped += 1
        segment.stop = position + 1
        tape.rows[-1] = segment
        for arg in args:
            if (type(arg) is TapeValue and arg._level is self
                    and arg.index < segment.first_id):
                segment.inputs[arg.index] = arg.primal
        return result


class TapeValue(Tracer):
    """A value recorded on a tape: its primal and its id on that tape."""

    __slots__ = ("primal", "_level", "index")

    def __init__(self, primal: Any, level: ReverseLevel, index: int) -> None:
        self.primal = primal
        self._level = level
        self.index = index

    def __repr__(self) -> str:
        return f"TapeValue(id={self.index}, primal={self.primal!r})"


def add_into(acc, acc_owned: bool, contribution, contribution_owned: bool):
    """acc + contribution, in place into whichever buffer the sweep owns (if shapes agree)."""
    if (type(acc) is np.ndarray and type(contribution) is np.ndarray
            and acc.shape == contribution.shape and acc.dtype == contribution.dtype):
        if acc_owned:
            np.add(acc, contribution, out=acc)
            return acc
        if contribution_owned and contribution.flags.writeable:
            np.add(contribution, acc, out=contribution)
            return contribution
    return acc + contribution


def sweep(tape: Tape, seeds: Iterable[tuple[int, Any]], wanted: Iterable[int] = (),
          consume: bool = False, keep: bool = False):
    """Push output cotangents back through `tape`; return those of the `wanted` ids as a
    dict, or with `keep`, the list of every id's cotangent (None where none arrived).

    `seeds` are (id, cotangent) pairs; a missing cotangent is ZERO. With `consume`, entries
    leave the tape as they are used, so residual memory is freed during the sweep and the
    tape is empty afterwards. Buffers the sweep allocated itself (`owned`) are updated in
    place; seeds and anything a rule may alias are never written to. With `keep` no
    cotangent is dropped or overwritten once it is complete.

    >>> import ad, ad.numpy as anp
    >>> g = ad.trace(lambda x: anp.sin(x) * x, 0.0)
    >>> float(sweep(g.tape, [(2, 1.0)], [0])[0])      # d/dx x sin x at 0
    0.0
    """
    shapes = tape.shapes
    cotangents: list[Any] = [None] * len(shapes)
    owned = bytearray(len(shapes))
    for index, cotangent in seeds:
        if cotangent is ZERO:
            continue
        previous = cotangents[index]
        cotangents[index] = cotangent if previous is None else previous + cotangent
    for primitive, params, parents, constants, out, residuals in tape.entries(True, consume):
        if primitive.n_outputs == 1:
            cotangent = cotangents[out]
            if cotangent is None:
                continue
            # The cotangent's own buffer may be reused when this entry is its only reader.
            if keep:
                reusable = False
            else:
                cotangents[out] = None
                reusable = owned[out] and len(parents) - parents.count(CONSTANT) == 1
            out_shape = shapes[out]
        else:   # several outputs: the rules take the tuple of their cotangents
            stop = out + primitive.n_outputs
            cotangent = cotangents[out:stop]
            if all(c is None for c in cotangent):
                continue
            if not keep:
                cotangents[out:stop] = [None] * primitive.n_outputs
            cotangent = tuple(ZERO if c is None else c for c in cotangent)
            reusable = False
            out_shape = tuple(shapes[out:stop])
        for i, parent in enumerate(parents):
            if parent == CONSTANT:
                continue
            acc = cotangents[parent]
            if acc is not None and owned[parent]:
                fused = primitive.vjp_accumulate(i, acc, cotangent, residuals, params)
                if fused is not None:
                    cotangents[parent] = fused
                    continue
            elif acc is None and reusable:
                reused = primitive.vjp_reuse(i, cotangent, residuals, params, shapes[parent])
                if reused is not None:
                    cotangents[parent] = reused
                    owned[parent] = 1
                    continue
            contribution = pull_entry(primitive, i, cotangent, residuals, params,
                                      shapes[parent], out_shape)
            if contribution is ZERO:
                continue
            if COMPLEX.seen:             # a real value's cotangent is real
                contribution = real_if_real(contribution, tape.dtypes[parent])
            fresh = primitive.fresh_vjp and type(contribution) is np.ndarray
            if acc is None:
                cotangents[parent] = contribution
                owned[parent] = fresh
            else:
                cotangents[parent] = add_into(acc, owned[parent], contribution, fresh)
                owned[parent] = cotangents[parent] is not acc or owned[parent]
    if keep:
        return cotangents
    return {index: cotangents[index] for index in wanted}


def pull_entry(primitive, i: int, cotangent, residuals, params: dict, in_shape: tuple,
               out_shape) -> Any:
    """Argument `i`'s contribution from one entry's cotangent (its VJP rule, or the
    transpose of its JVP rule): what a sweep computes per edge, and what calibration times."""
    if primitive.transposes_jvp:
        return transposed_jvp(primitive, i, cotangent, residuals, params, in_shape)
    return primitive.vjp(i, cotangent, residuals, params, in_shape, out_shape)


def linear_matrix(primitive, i: int, n_args: int, in_shape: tuple, out_shape: tuple,
                  residuals, params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nonzeros of a linear primitive's matrix for argument i, from its own batched JVP
    on blocks of identity directions (exact: each direction is one argument element), in
    the planner's blocks: (argument elements, result elements, weights), ordered by
    argument element. Compiled tapes lower linear primitives with it; sparsity detection
    reads their patterns from it."""
    n = int(np.prod(in_shape, dtype=np.int64))
    plan = plan_blocks([tuple(in_shape)], [tuple(out_shape)],
                       carried=max(int(np.prod(out_shape, dtype=np.int64)), 1))
    columns, rows, weights = [], [], []
    for start, stop in plan.forward_blocks:
        if stop == start:
            continue
        eye = np.zeros((stop - start, n))
        eye[np.arange(stop - start), np.arange(start, stop)] = 1.0
        tangents = [ZERO] * n_args
        tangents[i] = eye.reshape((stop - start,) + tuple(in_shape))
        matrix = primitive.jvp(residuals, tangents, params)
        if matrix is ZERO:
            continue
        matrix = np.asarray(matrix).reshape(stop - start, -1)
        direction, element = np.nonzero(matrix)
        columns.append(direction + start)
        rows.append(element)
        weights.append(matrix[direction, element])
    if not columns:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(columns), np.concatenate(rows), np.concatenate(weights)


def transposed_jvp(primitive, i: int, cotangent, residuals, params: dict, in_shape: tuple):
    """Argument `i`'s cotangent as the transpose of its JVP rule (for vjp="transpose").

    The rule is linear in the tangent, so recording it on a fresh tape at a zero tangent
    (with the cotangent's batch axes) and sweeping that tape with the cotangent applies the
    transposed map. The inner tape is a new, inner level: outer levels see every operation,
    so the result differentiates again.
    """
    out, primals = residuals
    several = primitive.n_outputs != 1
    cts, outs = (cotangent, out) if several else ((cotangent,), (out,))
    present, value = next((c, o) for c, o in zip(cts, outs) if c is not ZERO)
    batch = shape_of(present)[:len(shape_of(present)) - len(shape_of(value))]
    if primitive.checks_linearity and i not in primitive.linear_in_tangent:
        _check_linear(primitive, i, out, primals, params, in_shape)
    level = ReverseLevel()
    with entered(level):
        tangent = level.new_input(np.zeros(batch + tuple(in_shape), float_dtype(primals[i])))
        image = primitive.jvp_rules[i](tangent, out, *primals, **params)
    images = image if several else (image,)
    seeds = [(y.index, c) for y, c in zip(images, cts)
             if c is not ZERO and type(y) is TapeValue and y._level is level]
    found = sweep(level.tape, seeds, [tangent.index], consume=True)[tangent.index]
    return ZERO if found is None else found


def _check_linear(primitive, i: int, out, primals, params: dict, in_shape: tuple) -> None:
    """Once per argument of a primitive whose JVP rules are the user's (custom_jvp): the
    rule at a tangent u and at 2u, on plain values, must give an image and twice it (a
    linear map); a rule that is not (t ** 2: zero at zero, so the recording at a zero
    tangent cannot tell) would be transposed into a wrong VJP."""
    plain = [_plain(x) for x in primals]
    outs = tuple(_plain(o) for o in out) if primitive.n_outputs != 1 else _plain(out)
    u = np.random.default_rng(0).uniform(0.5, 1.5, tuple(in_shape)).astype(
        float_dtype(plain[i]))
    with np.errstate(all="ignore"):
        images = [primitive.jvp_rules[i](t, outs, *plain, **params) for t in (u, 2.0 * u)]
    once, twice = ([np.asarray(_plain(y)) for y in (im if primitive.n_outputs != 1 else (im,))]
                   for im in images)
    for a, b in zip(once, twice):
        finite = np.isfinite(a) & np.isfinite(b)
        if not np.allclose(2.0 * a[finite], b[finite], rtol=1e-6, atol=1e-12):
            raise NotDifferentiableError(
                f"{getattr(primitive, 'label', primitive.name)}: its JVP rule is not linear "
                "in the tangent (at 2t it does not give twice what it gives at t), so "
                "reverse mode cannot transpose it; a JVP rule must be linear in the tangents "
                "(as JAX's)")
    primitive.linear_in_tangent.add(i)


def _plain(value):
    while isinstance(value, Tracer):
        value = value.primal
    return value


def push(tape: Tape, seeds: Iterable[tuple[int, Any]], wanted: Iterable[int]) -> dict[int, Any]:
    """Forward mode over a recorded tape: push input tangents through each entry's JVP rule,
    using the residuals the recording kept (nothing is re-evaluated). Returns the tangents
    of `wanted` ids (None where no tangent reaches). One loop, in tape order; a tangent is
    dropped after its last reader.
    """
    wanted = list(wanted)
    shapes = tape.shapes
    tangents: list[Any] = [None] * len(shapes)
    for index, tangent in seeds:
        tangents[index] = tangent
    last_read = tape.last_reads(wanted)
    for position, (primitive, params, parents, constants, out, residuals) in enumerate(
            tape.entries()):
        inputs = [ZERO if parent == CONSTANT or tangents[parent] is None else tangents[parent]
                  for parent in parents]
        if all(t is ZERO for t in inputs):
            continue
        in_shapes = tape.in_shapes(parents, constants) if primitive.elementwise else None
        tangent = primitive.jvp(residuals, inputs, params, in_shapes, shapes[out])
        if primitive.n_outputs != 1 and tangent is not ZERO:
            for j, t in enumerate(tangent):
                tangents[out + j] = None if t is ZERO else t
        elif tangent is not ZERO:
            tangents[out] = (real_if_real(tangent, tape.dtypes[out]) if COMPLEX.seen
                             else tangent)
        for parent in parents:
            if parent != CONSTANT and last_read[parent] == position:
                tangents[parent] = None
    return {index: tangents[index] for index in wanted}
