"""The tape: a recorded program in columns, its one iterator, replay, and the block planner.

A `Tape` is a Wengert list kept as parallel columns, one row per primitive application, in
execution order:

    opcodes     the primitive's index in the registry (`ad.primitive.OPCODES[code]`)
    params      its parameters (one shared empty dict when it has none)
    parents     per argument, the id of the traced value it came from, or -1 for a constant
    constants   per argument, the constant's value (None where the argument is traced), or
                None when every argument is traced: with `parents` it replays the entry
    outs        the id of the result (of the first result: a primitive with several
                outputs gives them consecutive ids)
    residuals   what the primitive's `forward` kept for its rules, in the one form its kind
                declares (`Primitive.residual_form`)

and two columns per value id (inputs first, then every entry's result): `shapes` and
`dtypes`. Ids are small integers, so the columns lower to flat arrays (`Tape.lowered`).
The entry columns are stored interleaved in one flat list (a row is one C-level `extend`,
the recording's hot path) and read as columns (`tape.parents` is a strided view).

Every walker reads the tape through `entries` (forward or backward, optionally consuming
the rows it has passed so their residuals are freed during a sweep) and `replay` re-runs one
entry on new primal inputs. A recording under a memory budget may leave a segment of entries
without residuals (a `Dropped` marker in their slots, holding the primal values the segment
reads from before it): `entries` recomputes them (`Tape.recompute`, replaying the segment)
when the walk reaches the segment and drops them again once it has passed, so every walker
sees residuals and at most one recomputed segment is held at a time. `plan_blocks` is the
one place that decides how many tangent directions (or cotangents) one pass carries: the
transforms execute its plan and the cost model predicts from the same plan.

Imports `ad.primitive` only.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from ad.primitive import OPCODES, Primitive, is_int, shape_of

#: A constant argument's parent id.
CONSTANT = -1
#: The params of an entry that has none (shared, never mutated).
NO_PARAMS: dict = {}


class Dropped:
    """Stands in the residual slot of each entry of a segment recorded without residuals:
    the segment's positions [start, stop) and, by id, the primal values its entries read
    from before it (the tape's inputs and earlier entries' results), from which
    `Tape.recompute` re-runs it."""

    __slots__ = ("start", "stop", "first_id", "inputs")

    def __init__(self, start: int, first_id: int) -> None:
        self.start = self.stop = start
        self.first_id = first_id                     # ids from here on are the segment's own
        self.inputs: dict[int, Any] = {}

    def __repr__(self) -> str:
        return f"Dropped(entries {self.start}:{self.stop}, {len(self.inputs)} inputs)"


class Tape:
    """A recorded program: columns per entry and per value id (see the module docstring).

    >>> import numpy as np, ad, ad.numpy as anp
    >>> tape = ad.trace(lambda x: anp.sin(x) * 2.0, np.ones(2)).tape
    >>> [(p.name, parents, out) for p, params, parents, constants, out, res in tape.entries()]
    [('sin', (0,), 1), ('multiply', (1, -1), 2)]
    """

    __slots__ = ("rows", "shapes", "dtypes", "inputs", "dropped")

    #: Fields of a row, in storage order: ROW_FIELDS.index(name) is the column's offset.
    ROW_FIELDS = ("opcodes", "params", "parents", "constants", "outs", "residuals")
    WIDTH = len(ROW_FIELDS)

    def __init__(self) -> None:
        self.rows: list[Any] = []                   # WIDTH slots per entry, interleaved
        self.shapes: list[tuple[int, ...]] = []     # per value id
        self.dtypes: list[np.dtype | None] = []     # per value id
        self.inputs: list[int] = []
        self.dropped = 0                            # segments recorded without residuals

    # --- the columns -----------------------------------------------------------------
    opcodes = property(lambda self: self.rows[0::6], doc="Opcode per entry.")
    params = property(lambda self: self.rows[1::6], doc="Params per entry.")
    parents = property(lambda self: self.rows[2::6], doc="Parent ids per entry (-1: constant).")
    constants = property(lambda self: self.rows[3::6], doc="Constants per entry, or None.")
    outs = property(lambda self: self.rows[4::6], doc="Result id per entry.")
    residuals = property(lambda self: self.rows[5::6], doc="Residuals per entry.")

    # --- building --------------------------------------------------------------------
    @property
    def n_values(self) -> int:
        """How many ids have been handed out (inputs and entry results)."""
        return len(self.shapes)

    def new_input(self, primal: Any) -> int:
        """A new input id: a value with a shape and dtype but no entry."""
        index = len(self.shapes)
        self.shapes.append(shape_of(primal))
        self.dtypes.append(getattr(primal, "dtype", None))
        self.inputs.append(index)
        return index

    def append(self, primitive: Primitive, params: dict, parents: tuple[int, ...],
               constants: tuple | None, residuals: Any, out: Any) -> int:
        """Record one application whose result is `out`; returns the result's id (the first
        of consecutive ids, one per result, when the primitive has several outputs)."""
        shapes = self.shapes
        index = len(shapes)
        self.rows.extend((primitive.opcode, params or NO_PARAMS, parents, constants, index,
                          residuals))
        if primitive.n_outputs == 1:
            if type(out) is np.ndarray:
                shapes.append(out.shape)
                self.dtypes.append(out.dtype)
            else:
                shapes.append(shape_of(out))
                self.dtypes.append(getattr(out, "dtype", None))
        else:
            for value in out:
                shapes.append(shape_of(value))
                self.dtypes.append(getattr(value, "dtype", None))
        return index

    def out_shape(self, primitive: Primitive, out: int):
        """An entry's output shape, or the tuple of its outputs' shapes."""
        k = primitive.n_outputs
        return self.shapes[out] if k == 1 else tuple(self.shapes[out:out + k])

    def __len__(self) -> int:
        return len(self.rows) // 6

    def clear(self) -> None:
        """Drop every entry (and with them every residual)."""
        self.rows.clear()
        self.dropped = 0

    # --- the one iterator ------------------------------------------------------------
    def entries(self, reverse: bool = False, consume: bool = False,
                fields: Sequence[str] = ROW_FIELDS
                ) -> Iterator[tuple[Primitive, dict, tuple[int, ...], tuple | None, int, Any]]:
        """The entries as (primitive, params, parents, constants, out, residuals), in
        execution order or, with `reverse`, backwards. With `consume` (backwards only), each
        entry is removed as it is handed out, so its residuals can be freed while the walk
        goes on and the tape is empty at the end. `fields` (a subsequence of ROW_FIELDS)
        hands out those columns only: a walk without "residuals" (counting, planning) never
        recomputes a dropped segment.

        >>> import ad, ad.numpy as anp
        >>> tape = ad.trace(lambda x: anp.sin(x) * 2.0, 1.0).tape
        >>> [(p.name, out) for p, out in tape.entries(fields=("opcodes", "outs"))]
        [('sin', 1), ('multiply', 2)]
        """
        if consume and not reverse:
            raise ValueError("Tape.entries: consume=True walks backwards only")
        if consume and tuple(fields) != Tape.ROW_FIELDS:
            raise ValueError("Tape.entries: consume=True hands out whole rows")
        wanted = [Tape.ROW_FIELDS.index(name) for name in fields]
        if self.dropped and 5 in wanted:
            return self._recomputing(reverse, consume)
        if consume:
            return self._consumed()
        rows = self.rows
        if reverse:
            start = len(rows) - 6
            columns = [rows[start + k::-6] for k in wanted]
        else:
            columns = [rows[k::6] for k in wanted]
        if wanted and wanted[0] == 0:
            columns[0] = map(OPCODES.__getitem__, columns[0])
        return zip(*columns)

    def _consumed(self):
        rows = self.rows
        while rows:
            code, params, parents, constants, out, residuals = rows[-6:]
            del rows[-6:]
            yield OPCODES[code], params, parents, constants, out, residuals

    def _recomputing(self, reverse: bool, consume: bool):
        """`entries` on a tape with dropped segments: a segment's residuals are recomputed
        when the walk enters it and dropped again when it leaves (consumed rows simply go)."""
        rows = self.rows
        positions = range(len(self) - 1, -1, -1) if reverse else range(len(self))
        walking = None                                # the segment recomputed for this walk
        for position in positions:
            base = 6 * position
            if type(rows[base + 5]) is Dropped:
                walking = rows[base + 5]
                self.recompute(walking)
            code, params, parents, constants, out, residuals = rows[base:base + 6]
            if consume:
                del rows[base:]
            yield OPCODES[code], params, parents, constants, out, residuals
            if walking is not None and position == (walking.start if reverse
                                                    else walking.stop - 1):
                if not consume:                       # the segment's residuals go again
                    rows[6 * walking.start + 5:6 * walking.stop:6] = \
                        [walking] * (walking.stop - walking.start)
                walking = residuals = None
        if consume:
            self.dropped = 0

    def recompute(self, segment: Dropped) -> None:
        """Re-run a dropped segment from the values it keeps, putting each entry's residuals
        back in its slot; a value it produces is let go after its last reader in the
        segment (the residuals keep what the rules need)."""
        rows = self.rows
        last = {}
        for position in range(segment.start, segment.stop):
            for parent in rows[6 * position + 2]:
                last[parent] = position
        values = dict(segment.inputs)
        for position in range(segment.start, segment.stop):
            out, _ = self.replay(position, values, store=True)
            first = rows[6 * position + 4]
            if OPCODES[rows[6 * position]].n_outputs == 1:
                if first in last:
                    values[first] = out
            else:
                values.update((i, v) for i, v in enumerate(out, first) if i in last)
            for parent in rows[6 * position + 2]:
                if last.get(parent) == position:
                    values.pop(parent, None)

    # --- facts about entries ---------------------------------------------------------
    def primitive(self, position: int) -> Primitive:
        return OPCODES[self.rows[6 * position]]

    def arguments(self, parents: Sequence[int], constants: tuple | None,
                  values: Sequence[Any] | dict) -> list:
        """An entry's primal arguments: `values[id]` for traced ones, constants otherwise."""
        return [constants[k] if parent == CONSTANT else values[parent]
                for k, parent in enumerate(parents)]

    def in_shapes(self, parents: Sequence[int], constants: tuple | None) -> list[tuple]:
        """Shapes of an entry's arguments (from the id columns and the constants)."""
        shapes = self.shapes
        return [shape_of(constants[k]) if parent == CONSTANT else shapes[parent]
                for k, parent in enumerate(parents)]

    def replay(self, position: int, values: Sequence[Any] | dict, store: bool = False):
        """Re-run entry `position` on new primal inputs (`values[id]` for each traced
        parent; constants from the tape). Returns (out, residuals); with `store`, the new
        residuals replace the recorded ones (recompute instead of store).

        >>> import numpy as np, ad, ad.numpy as anp
        >>> tape = ad.trace(lambda x: anp.sin(x) * 2.0, 0.0).tape
        >>> out, _ = tape.replay(0, {0: np.float64(np.pi / 2)})
        >>> float(out)
        1.0
        """
        row = 6 * position
        code, params, parents, constants = self.rows[row:row + 4]
        primitive = OPCODES[code]
        primals = self.arguments(parents, constants, values)
        needs = [parent != CONSTANT for parent in parents]
        out, residuals = primitive.forward(primals, params, needs)
        if store:
            self.rows[row + 5] = residuals
        return out, residuals

    def lowered(self) -> dict[str, np.ndarray]:
        """The integer columns as flat arrays: opcodes, outs, and parents in CSR form
        (`parent_start[k]:parent_start[k + 1]` indexes entry k's slice of `parent_ids`).

        >>> import ad, ad.numpy as anp
        >>> low = ad.trace(lambda x, y: x * anp.sin(y), 1.0, 2.0).tape.lowered()
        >>> low["parent_ids"].tolist(), low["parent_start"].tolist()
        ([1, 0, 2], [0, 1, 3])
        """
        columns = self.parents
        starts = np.zeros(len(columns) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, columns), np.int64, len(columns)), out=starts[1:])
        return {"opcodes": np.fromiter(self.opcodes, np.int32, len(columns)),
                "outs": np.fromiter(self.outs, np.int64, len(columns)),
                "parent_ids": np.fromiter(itertools.chain.from_iterable(columns), np.int64,
                                          int(starts[-1])),
                "parent_start": starts}

    def last_reads(self, wanted: Sequence[int] = ()) -> list[int]:
        """For each id, the position of the last entry reading it (-1: never read);
        `wanted` ids count as read after the end."""
        last = [-1] * len(self.shapes)
        for position, parents in enumerate(self.parents):
            for parent in parents:
                if parent != CONSTANT:
                    last[parent] = position
        for index in wanted:
            last[index] = len(self)
        return last


# ----------------------------------------------------------------------------- block planner
#: Most tangent directions one vector-mode pass carries (and most cotangents one batched
#: reverse sweep carries): a Jacobian takes ceil(n / chunk) passes. Wider is faster (one
#: large matrix product instead of several) until memory runs out, hence also:
CHUNK_SIZE = 1024
#: A chunk is also cut so that one leaf's block of directions (k x the leaf's size) stays
#: under this many elements (2**24 float64 = 128 MiB). Every intermediate of the program then
#: carries k tangents, so peak memory is about k x the program's live values.
CHUNK_BUDGET = 2 ** 24


@dataclass(frozen=True)
class BlockPlan:
    """How a Jacobian of n inputs and m outputs is built in blocks of directions.

    `chunk` directions per pass (the same bound for tangents and cotangents); forward mode
    runs `forward_blocks` (start, stop) ranges over the n inputs, reverse mode
    `reverse_blocks` over the m outputs.
    """

    n: int
    m: int
    chunk: int

    @property
    def forward_blocks(self) -> list[tuple[int, int]]:
        return _ranges(self.n, self.chunk)

    @property
    def reverse_blocks(self) -> list[tuple[int, int]]:
        return _ranges(self.m, self.chunk)

    @property
    def forward_passes(self) -> int:
        return max(1, math.ceil(self.n / self.chunk))

    @property
    def reverse_passes(self) -> int:
        return max(1, math.ceil(self.m / self.chunk))

    def passes(self, directions: int) -> int:
        """Passes for any number of directions at this plan's chunk."""
        return max(1, math.ceil(directions / self.chunk))


def _ranges(total: int, chunk: int) -> list[tuple[int, int]]:
    if total == 0:
        return [(0, 0)]
    return [(start, min(start + chunk, total)) for start in range(0, total, chunk)]


def chunk_of(chunk_size, where: str = "") -> int | None:
    """A `chunk_size=` checked: None (the planner's), or a positive integer as an int. 0,
    2.5, True or "2" is a mistake to name, not the default or 2 (the transforms check it
    when made: their caches are keyed by it, and True == 1 as a key).

    >>> chunk_of(None), chunk_of(np.int64(4))
    (None, 4)
    """
    if chunk_size is None:
        return None
    if not is_int(chunk_size) or chunk_size < 1:
        raise ValueError(f"{where + ': ' if where else ''}chunk_size must be a positive integer "
                         f"(None: the planner's), not {chunk_size!r}")
    return int(chunk_size)


def plan_blocks(in_shapes: Sequence[tuple[int, ...]], out_shapes: Sequence[tuple[int, ...]],
                chunk_size: int | None = None, carried: int | None = None,
                groups: tuple[int, int] | None = None) -> BlockPlan:
    """The block plan of a Jacobian from leaf shapes: `chunk_size` directions per pass when
    given, else CHUNK_SIZE cut so that a block of the largest leaf (inputs or outputs) stays
    within CHUNK_BUDGET elements. `carried` is for passes where each direction carries that
    many elements whatever the leaves (a compiled tape's whole arena): the chunk, given or
    not, is then cut so that a block stays within CHUNK_BUDGET too. `groups` = (forward,
    reverse) is for seeds that are not the n inputs and m outputs one by one (the colour
    groups of a sparse Jacobian): the plan's blocks then range over that many directions.

    >>> plan_blocks([(10,)], [(3,)]).chunk, plan_blocks([(100_000,)], [()]).chunk
    (1024, 167)
    >>> plan = plan_blocks([(5000,)], [(100_000,)])
    >>> plan.chunk, plan.forward_passes, plan.reverse_passes
    (167, 30, 599)
    >>> plan_blocks([(3,)], [(2,)], chunk_size=2).forward_blocks
    [(0, 2), (2, 3)]
    >>> plan_blocks([(3,)], [(2,)], carried=CHUNK_BUDGET // 2).chunk
    2
    >>> plan_blocks([(2048,)], [(2048,)], chunk_size=4, groups=(6, 0)).forward_blocks
    [(0, 4), (4, 6)]
    """
    n = sum(math.prod(s) for s in in_shapes)
    m = sum(math.prod(s) for s in out_shapes)
    if chunk_size is not None:
        chunk = chunk_of(chunk_size)
    else:
        largest = max([math.prod(s) for s in (*in_shapes, *out_shapes)], default=1)
        chunk = max(1, min(CHUNK_SIZE, CHUNK_BUDGET // max(largest, 1)))
    if carried:
        chunk = min(chunk, max(1, CHUNK_BUDGET // int(carried)))
    if groups is not None:
        n, m = groups
    return BlockPlan(int(n), int(m), chunk)


__all__ = ["Tape", "Dropped", "CONSTANT", "NO_PARAMS", "BlockPlan", "plan_blocks", "chunk_of",
           "CHUNK_SIZE", "CHUNK_BUDGET"]
