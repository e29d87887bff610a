"""Reverse mode: a tape (Wengert list) recorded while the function runs, swept backwards.

The tape is a plain list of entries, in execution order::

    (primitive, params, parents, out, residuals)

`parents` holds, per argument, the id of the traced value it came from (None for a
constant); `out` is the id of the result; `residuals` is what `Primitive.forward` kept
for the VJP rules. Ids are small integers (inputs first), so a later pass can lower the
tape to flat opcode/index arrays. `sweep` is one loop over the reversed tape: no
recursion, cotangents popped once consumed, accumulated in place into buffers the sweep
owns, entries whose output got no cotangent skipped. Imports `ad.context` and
`ad.primitive` only (never the catalogue).
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ad.context import Level
from ad.primitive import ZERO, Tracer, bind, refuse_complex

_FLOAT = np.dtype(np.float64)


class ReverseLevel(Level):
    """A reverse-mode transform in progress: owns one tape, used by one thread."""

    kind = "reverse"
    __slots__ = ("tape", "n_values")

    def __init__(self) -> None:
        super().__init__()
        self.tape: list[tuple] = []
        self.n_values = 0

    def new_input(self, primal: Any) -> "TapeValue":
        """A traced input: a value with an id but no tape entry."""
        index = self.n_values
        self.n_values += 1
        return TapeValue(primal, self, index)

    def process(self, primitive, args, params):
        primals = []
        parents = []
        needs = []
        for arg in args:
            if type(arg) is TapeValue and arg._level is self:
                primals.append(arg.primal)
                parents.append(arg.index)
                needs.append(True)
            else:
                primals.append(arg)
                parents.append(None)
                needs.append(False)
        if not primitive.differentiable:
            return bind(primitive, primals, params)
        out, residuals = primitive.forward(primals, params, needs)
        if getattr(out, "dtype", _FLOAT).kind == "c":
            refuse_complex(primitive, out)
        index = self.n_values
        self.n_values += 1
        self.tape.append((primitive, params, tuple(parents), index, residuals))
        return TapeValue(out, self, index)


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


def sweep(level: ReverseLevel, seeds: Iterable[tuple[int, Any]], wanted: Iterable[int],
          consume: bool = False) -> dict[int, Any]:
    """Push output cotangents back through `level`'s tape; return those of `wanted` ids.

    `seeds` are (id, cotangent) pairs; a missing cotangent is ZERO. With `consume`, tape
    entries are popped as they are used, so residual memory is freed during the sweep and
    the tape is empty afterwards. Buffers the sweep allocated itself (`owned`) are updated
    in place; seeds and anything a rule may alias are never written to.
    """
    cotangents: list[Any] = [None] * level.n_values
    owned = bytearray(level.n_values)
    for index, cotangent in seeds:
        if cotangent is ZERO:
            continue
        previous = cotangents[index]
        cotangents[index] = cotangent if previous is None else previous + cotangent
    tape = level.tape
    position = len(tape)
    while position:
        position -= 1
        entry = tape.pop() if consume else tape[position]
        primitive, params, parents, out, residuals = entry
        cotangent = cotangents[out]
        if cotangent is None:
            continue
        cotangents[out] = None
        # The cotangent's own buffer may be reused when this entry is its only reader.
        reusable = owned[out] and len(parents) - parents.count(None) == 1
        for i, parent in enumerate(parents):
            if parent is None:
                continue
            acc = cotangents[parent]
            if acc is not None and owned[parent]:
                fused = primitive.vjp_accumulate(i, acc, cotangent, residuals, params)
                if fused is not None:
                    cotangents[parent] = fused
                    continue
            elif acc is None and reusable:
                reused = primitive.vjp_reuse(i, cotangent, residuals, params)
                if reused is not None:
                    cotangents[parent] = reused
                    owned[parent] = 1
                    continue
            contribution = primitive.vjp(i, cotangent, residuals, params)
            if contribution is ZERO:
                continue
            fresh = primitive.fresh_vjp and type(contribution) is np.ndarray
            if acc is None:
                cotangents[parent] = contribution
                owned[parent] = fresh
            else:
                cotangents[parent] = add_into(acc, owned[parent], contribution, fresh)
                owned[parent] = cotangents[parent] is not acc or owned[parent]
    return {index: cotangents[index] for index in wanted}


def push(level: ReverseLevel, seeds: Iterable[tuple[int, Any]], wanted: Iterable[int]
         ) -> dict[int, Any]:
    """Forward mode over a recorded tape: push input tangents through each entry's JVP rule,
    using the residuals the recording kept (nothing is re-evaluated). Returns the tangents
    of `wanted` ids (None where no tangent reaches). One loop, in tape order; a tangent is
    dropped after its last reader.
    """
    wanted = list(wanted)
    tangents: list[Any] = [None] * level.n_values
    for index, tangent in seeds:
        tangents[index] = tangent
    tape = level.tape
    last_read = [-1] * level.n_values
    for position, entry in enumerate(tape):
        for parent in entry[2]:
            if parent is not None:
                last_read[parent] = position
    for index in wanted:
        last_read[index] = len(tape)
    for position, (primitive, params, parents, out, residuals) in enumerate(tape):
        inputs = [ZERO if parent is None or tangents[parent] is None else tangents[parent]
                  for parent in parents]
        if all(t is ZERO for t in inputs):
            continue
        tangent = primitive.jvp(residuals, inputs, params)
        if tangent is not ZERO:
            tangents[out] = tangent
        for parent in parents:
            if parent is not None and last_read[parent] == position:
                tangents[parent] = None
    return {index: tangents[index] for index in wanted}
