"""Compiled tapes: a recorded program lowered to flat arrays and run by one Numba interpreter.

`lower(tape, ...)` turns a `Tape` into a `Program`: per entry an interpreter opcode, its
argument and result slots and the start of its index map; per slot an offset and a size in
one float64 value arena (inputs, constants, every intermediate). How an entry lowers is a
fact on its primitive (`Primitive.lowering`, declared in the catalogue beside its rules):

* "elementwise": the primitive's own value and partial functions, compiled into the
  interpreter (no derivative formula is written here); an argument broadcasts when it has
  one element or the result's layout, else a gather of its broadcast indices goes first;
* "gather" (reshape, transpose, broadcast_to, getitem with a constant index): the map is the
  primitive's impl applied to element indices, so result[i] = argument[map[i]];
* "scatter" (sum): the map is its transpose rule applied to indices, so each argument
  element adds into result[map[i]];
* a callable `expand(emit, args, params)`: the primitive written with others (integer_pow
  as products, a small matmul as gathers, products and a sum, a small solve, inv or det as
  Gaussian elimination whose recorded pivots are guarded).

The interpreter is one module generated from the catalogue (its text names every
elementwise primitive's functions by module and qualified name, as `ad.kernels` does) and
compiled by `numba.njit(cache=True)` once per catalogue and machine, never per program: its
`run` walks the entries forward (values) and, when asked, backward (adjoints), in one call.
That compile takes Numba about a minute: the first time on a machine another process does
it (`_Background`) and `compile=True` runs interpreted until the cache holds it.

What does not lower makes the whole program fall back to the interpreted engine (every call
records and sweeps, as without compile), with the reason in `Program`'s report.

Value-dependent steps are recomputed, never baked in. While recording (`CompilingLevel`),
a non-differentiable operation on a traced value (a comparison, `floor`, `argmax`,
`stop_gradient`) is recorded like any other and lowers to an entry carrying no derivative,
so a `where` mask computed from the inputs is recomputed at every replay (a select entry).
Every traced value read as a plain value (`bool()` behind a Python `if`/`while`, an index
taken from `argmax`, `ad.primal_value`) becomes a guard entry: the interpreter recomputes
the value and stops when it differs from the recorded one (for `bool()`, when its truth
differs); `CompiledGrad` then replays another recorded path of the signature or records
anew (`guard_failures` counts them), or raises `ad.GuardError` in strict mode.

Predicted times: `Program.predict_run`, `predict_grad` and `predict_jacobian` price a
lowered program with the calibration table's compiled lines (`ad.cost.calibration`, measured
by `ad.calibrate`); `jacobian_choice` is the mode `jacobian(compile=True)` runs;
`compiled_costs` gives `cost_report(compile=True)` its rows (registered with `ad.cost` on
import).

Imports `ad.context`, `ad.errors`, `ad.primitive`, `ad.tape`, `ad.reverse`, `ad.kernels`,
`ad.tree`, `ad.cost` and `ad.recording`.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ad import kernels, tree
from ad.context import entered, inside_transform
from ad.errors import ADError, GuardError, ShapeError
from ad.primitive import BUILTIN_NAMES, OPCODES, PRIMITIVES, Tracer, bind, float_dtype
from ad.reverse import ReverseLevel, TapeValue, linear_matrix
from ad.tape import CONSTANT, BlockPlan, Tape

#: Interpreter opcodes before the elementwise primitives' own.
GATHER, SCATTER, SELECT, GUARD, ARGMAX, ARGMIN, SEGMAX, SEGMIN, FIRST_ELEMENTWISE = range(9)
#: Per structural code (and one for every elementwise code): whether its loops visit its
#: argument's elements besides its result's (it reduces).
_REDUCING = np.isin(np.arange(FIRST_ELEMENTWISE + 1), (SCATTER, SEGMAX, SEGMIN, ARGMAX, ARGMIN))
_STRUCTURAL = {GATHER: "gather", SCATTER: "scatter", SELECT: "select", GUARD: "guard",
               ARGMAX: "argmax", ARGMIN: "argmin", SEGMAX: "max", SEGMIN: "min"}
#: The rows of a lowered program's entry table (`Program.entries`, int32). "map start" is
#: a guard's kind instead (1: the truth of the value, 0: the value itself); "traced" has
#: bit i set when argument i carries a derivative.
ENTRY_ROWS = ("code", "arg0", "arg1", "arg2", "dst", "map start", "traced", "primitive")
#: The bit of an entry's "traced" row that rounds its result to float32 (a float32 value of
#: the recording: the arena is float64, each float32 result rounded as NumPy computes it).
ROUND32 = 8
#: The row of each entry's primitive (listing and prices; the interpreter does not read it).
_PRIMITIVE_ROW = ENTRY_ROWS.index("primitive")
#: Dtypes a compiled tape takes: float32 programs run in the float64 arena, every float32
#: result and every addition of a float32 sum rounded to float32 (so floor, comparisons
#: and kinks see NumPy's float32 values; a transcendental function, a long sum (NumPy's is
#: pairwise) or floor_divide may still differ from NumPy's float32 loop in the last bit),
#: their value and gradients cast back to float32.
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))
_FLOAT_SET = frozenset(_FLOATS)
_FLOAT64 = _FLOATS[0]


class NotLowered(ADError):
    """An entry (or a recording) that cannot run on a compiled tape; the message says why."""


class GuardFailed(Exception):
    """A replay's guard failed: the program takes another path at these inputs (internal;
    `CompiledGrad.retry` handles it)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


# ----------------------------------------------------------------------------- recording
class CompilingLevel(ReverseLevel):
    """A reverse level recording for a compiled tape. A non-differentiable primitive on a
    traced value is recorded too (its result is traced, carrying no derivative), so the
    replay recomputes it; `where` keeps such a mask traced (`selects`). Every traced value
    read as a plain value becomes a guard: (value id, the value read, whether only its
    truth was read, where in the user's code)."""

    __slots__ = ("value_dependent", "guards")
    #: ad.numpy.where keeps a traced boolean condition traced on this level.
    selects = True
    #: The interpreter recomputes elementwise partials: the recording computes values only.
    keeps_partials = False
    refuses_foreign = True

    def __init__(self) -> None:
        super().__init__()
        self.value_dependent: str | None = None
        self.guards: list[tuple] = []

    def value_read(self, why: str, value=None) -> None:
        if type(value) is TapeValue and value._level is self:
            self.guards.append((value.index, np.array(value.primal, copy=True),
                                why.startswith("bool()"), f"{why} at {_user_line()}"))
        elif self.value_dependent is None:
            self.value_dependent = why

    def foreign(self, primitive) -> None:
        """A value an enclosing transform traces met this recording: its derivative flows
        through the closure, not through the tape (the signature runs interpreted)."""
        if self.value_dependent is None:
            self.value_dependent = (f"f uses a value traced by an enclosing transform "
                                    f"({primitive.name} of a closed-over traced value)")

    def process(self, primitive, args, params):
        if not primitive.differentiable:
            for a in args:           # (differentiable ones are checked as they are recorded)
                if isinstance(a, Tracer) and not (type(a) is TapeValue and a._level is self):
                    self.foreign(primitive)
            parents = tuple(a.index if type(a) is TapeValue and a._level is self else CONSTANT
                            for a in args)
            if any(p != CONSTANT for p in parents):
                primals = [a.primal if p != CONSTANT else a for a, p in zip(args, parents)]
                out = bind(primitive, primals, params)
                constants = tuple(None if p != CONSTANT else a for a, p in zip(args, parents))
                return TapeValue(out, self, self.tape.append(primitive, params, parents,
                                                             constants, None, out))
        return super().process(primitive, args, params)


def _user_line() -> str:
    """file:line of the innermost caller outside the `ad` package (for guard messages)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "ad":
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "?"


# ----------------------------------------------------------------------------- the interpreter
def _candidates() -> tuple[list, dict[str, str], str]:
    """(the elementwise primitives the interpreter is to compile, with their value and
    partial functions; those left out and why; the path of the file remembering the ones
    found not to compile, keyed by the whole candidate set)."""
    skipped: dict[str, str] = {}
    candidates = []
    for primitive in OPCODES:
        if primitive.lowering != "elementwise" or primitive.name not in BUILTIN_NAMES:
            continue
        try:      # a non-differentiable one (a comparison, floor) runs its value only
            value = kernels._Function(getattr(primitive, "value", primitive.impl),
                                      primitive.arity, True)
            partials = [None if p is None else
                        kernels._Function(p, primitive.arity + 1, False)
                        for p in getattr(primitive, "partials", (None,) * primitive.arity)]
        except kernels._Unsupported as error:
            skipped[primitive.name] = str(error)
            continue
        candidates.append((primitive, value, partials))
    # The primitives found not to compile are remembered beside the cache, so a later
    # process does not compile them again.
    skips_path = os.path.join(kernels.cache_dir(), _module_of(candidates)[2] + ".skips")
    known = set(open(skips_path).read().split()) if os.path.exists(skips_path) else set()
    for primitive, _, _ in candidates:
        if primitive.name in known:
            skipped[primitive.name] = "Numba cannot compile its functions"
    return [c for c in candidates if c[0].name not in known], skipped, skips_path


def _module_of(candidates) -> tuple[list, str, str]:
    """(the interpreter's functions with their opcodes, its source, its module's stem:
    interpreter_<digest of the source and the versions>)."""
    functions = [(FIRST_ELEMENTWISE + k, p, v, ps) for k, (p, v, ps) in enumerate(candidates)]
    source = _interpreter_source(functions)
    return functions, source, "interpreter_" + kernels._digest(source + kernels._versions())


class _Interpreter:
    """The generated interpreter module and the opcode of each elementwise primitive.

    It covers the built-in catalogue's elementwise primitives (a fixed set per version, so
    one compiled module per machine); one whose functions Numba cannot compile is left out
    (found by compiling, and named in `skipped`), and its entries fall back."""

    def __init__(self) -> None:
        candidates, self.skipped, skips_path = _candidates()
        for _ in range(len(candidates) + 1):
            functions, source, stem = _module_of(candidates)
            module = kernels._import_generated(stem, source)
            failed = _compile(module.run)
            if failed is None:
                break
            if not 0 <= failed - FIRST_ELEMENTWISE < len(candidates):
                raise NotLowered(f"the interpreter does not compile: {failed}")
            primitive = candidates.pop(failed - FIRST_ELEMENTWISE)[0]
            self.skipped[primitive.name] = "Numba cannot compile its functions"
            with open(skips_path + f".{os.getpid()}", "w") as file:   # write, then rename
                file.write("\n".join(sorted(self.skipped)))
            os.replace(skips_path + f".{os.getpid()}", skips_path)
        self.module, self.run = module, module.run
        # Its one compiled signature's entry point skips the dispatcher's type matching
        # (the programs always pass the same types, `_compile`'s)
        overloads = getattr(module.run, "overloads", {})
        self.call = (overloads[module.run.signatures[0]].entry_point if len(overloads) == 1
                     else module.run)
        self.opcodes = {p: code for code, p, _, _ in functions}


#: Leading elements of `Program.ints`: the counts of entries, slots and map elements, and
#: the output's offset in the arena.
_HEAD = 4
#: What the interpreter's x and g are in the modes that do not use them.
_NO_X, _NO_G = np.zeros(0), np.zeros(0)


def _packed(entries, offs, sizes, maps, out: int = 0) -> np.ndarray:
    """The interpreter's one int32 argument: the counts (entries, slots, map elements) and
    the output's offset, the entry table's rows, the slots' offsets and sizes and the maps,
    end to end."""
    head = np.array([entries.shape[1], len(offs), len(maps), out], dtype=np.int32)
    return np.concatenate([head, entries.ravel(), offs, sizes, maps]).astype(np.int32)


def _flat(leaves) -> np.ndarray:
    """Input leaves end to end as one C-contiguous float64 vector (what the interpreter's
    compiled entry point reads: exactly that type)."""
    if len(leaves) == 1:
        leaf = leaves[0]
        if type(leaf) is np.ndarray and leaf.dtype.char == "d" and leaf.flags.c_contiguous \
                and leaf.dtype.isnative:       # the interpreter reads the bytes as they are
            return leaf.reshape(-1)
        return np.ascontiguousarray(leaf, dtype=np.float64).reshape(-1)
    return np.concatenate([np.asarray(leaf, dtype=np.float64).reshape(-1) for leaf in leaves])


def _compile(run) -> int | str | None:
    """Compile the interpreter (an empty program runs every branch's typing): None, or
    the opcode whose functions failed to compile (the error message names `_v<code>` or
    `_p<code>_<i>`), or the error itself."""
    import re
    import warnings
    from numba.core.errors import TypingError
    empty = _packed(np.zeros((len(ENTRY_ROWS), 0), np.int32), np.zeros(1, np.int32),
                    np.zeros(1, np.int32), np.zeros(1, np.int32))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run(empty, np.zeros(1), np.zeros((1, 1)), 2, _NO_X, _NO_G)
    except TypingError as error:
        found = re.search(r"_[vp](\d+)", str(error).split("During: typing of call at")[-1])
        return int(found.group(1)) if found else str(error)[:300]
    return None


#: What every entry of the interpreter's loops starts with: its opcode, its result's offset
#: and size, its first argument's offset and stride (0 when it broadcasts one element).
_PROLOGUE = ("        c = code[k]", "        o = offs[dst[k]]", "        n = sizes[dst[k]]",
             "        a = offs[arg0[k]]", "        sa = 1 if sizes[arg0[k]] > 1 else 0",
             "        nd = need[k]")
#: A select entry's, both ways: its two branches' offsets and strides.
_SELECT_PROLOGUE = (f"        elif c == {SELECT}:", "            b = offs[arg1[k]]",
                    "            sb = 1 if sizes[arg1[k]] > 1 else 0",
                    "            e = offs[arg2[k]]",
                    "            se = 1 if sizes[arg2[k]] > 1 else 0")
#: The interpreter's run modes (see `_interpreter_source`; mode 3 is `Program.gradient`,
#: PULL_ONLY `Program.pull_from`).
RUN_MODES = {"values": 0, "forward": 1, "reverse": 2}
PULL_ONLY = 4


def _elementwise_branch(code: int, primitive, partials, backward: bool) -> list[str]:
    """One elementwise primitive's branch of the interpreter: forward (the value, and in
    mode 1 the tangents: blk[out] += partial * blk[arg]) or backward (blk[arg] += partial *
    blk[out]), the partials being the primitive's own functions."""
    unary = primitive.arity == 1
    xs = "x0" if unary else "x0, x1"
    if backward and all(p is None for p in partials):
        return []                       # no derivative: nothing to pull back
    lines = [f"        elif c == {code}:"]
    if not unary:
        lines += ["            b = offs[arg1[k]]",
                  "            sb = 1 if sizes[arg1[k]] > 1 else 0"]
    load = ["x0 = vals[a + i * sa]"] + ([] if unary else ["x1 = vals[b + i * sb]"])
    args = ("a + i * sa", "b + i * sb")[:primitive.arity]
    traced = [(n_arg, arg) for n_arg, arg in enumerate(args) if partials[n_arg] is not None]

    def loop(indent: int, body: list[str], updates: list[str]) -> list[str]:
        pad = " " * indent
        out = [f"{pad}for i in range(n):", *(f"{pad}    {line}" for line in body)]
        for (n_arg, _), update in zip(traced, updates):
            out += [f"{pad}    if need{n_arg}[k]:",
                    f"{pad}        d = _p{code}_{n_arg}({xs}, y)",
                    *(f"{pad}        {line}" for line in update.splitlines())]
        return out + [f"{pad}    pass"]

    if backward:
        # a gradient's one cotangent (K == 1) read once per element, no loop over K
        lines += ["            if K == 1:"]
        lines += loop(16, ["t = blk[o + i, 0]", *load, "y = vals[o + i]"],
                      [f"blk[{arg}, 0] += d * t" for _, arg in traced])
        lines += ["            else:"]
        lines += loop(16, [*load, "y = vals[o + i]"],
                      [f"for j in range(K):\n    blk[{arg}, j] += d * blk[o + i, j]"
                       for _, arg in traced])
        return lines
    value = [*load, f"y = _v{code}({xs})"]
    if _float_valued(primitive):          # a float32 result, rounded as NumPy's float32 loop
        value += ["if nd & ROUND32:", "    y = np.float64(np.float32(y))"]
    lines += loop(12, value + ["vals[o + i] = y"], [])
    if traced:                            # then the tangents, in a loop of their own
        lines += ["            if tangents:"]
        lines += loop(16, [*load, "y = vals[o + i]"],
                      [f"for j in range(K):\n    blk[o + i, j] += d * blk[{arg}, j]"
                       for _, arg in traced])
    return lines


def _float_valued(primitive) -> bool:
    """Whether an elementwise primitive gives floats (rounded to float32 in a float32
    program), not booleans (a comparison's)."""
    if primitive.differentiable:
        return True
    try:
        with np.errstate(all="ignore"):
            out = primitive.impl(*[np.float32(1.5)] * primitive.arity)
    except Exception:  # noqa: BLE001 - a value it cannot take: treat it as boolean
        return False
    return np.result_type(out).kind == "f"


def _interpreter_source(functions) -> str:
    lines = ['"""Generated by ad.compiled: the compiled-tape interpreter. Safe to delete."""',
             "import numpy as np", "import numba", "", f"ROUND32 = {ROUND32}",
             '_jit = numba.njit(cache=True, nogil=True, error_model="numpy")']
    for code, primitive, value, partials in functions:
        args = ", ".join(f"x{i}" for i in range(primitive.arity))
        for name, fn in [(f"v{code}", value)] + [(f"p{code}_{i}", p)
                                                  for i, p in enumerate(partials)]:
            if fn is None:
                continue
            # the function's source and constants, so that a changed formula changes the
            # module's digest (Numba's cache of `run` does not see its callees change)
            lines.append(f"# {name}: {kernels._digest(fn.fingerprint)}")
            if fn.ufunc:
                params = args if name.startswith("v") else args + ", out"
                lines += [f"def _{name}_py({params}):", f"    return np.{fn.ufunc}({args})"]
            else:
                lines.append(f"import {fn.module} as _m_{name}")
                lines.append(f"_{name}_py = _m_{name}.{fn.qualname}")
            lines.append(f"_{name} = _jit(_{name}_py)")
    # run(ints, vals, blk, mode, x, g), ints being `Program.ints` (the counts, the entry
    # table, offsets, sizes and maps end to end: one argument for Numba's dispatcher to
    # check): mode 0 computes the values of every entry; mode 1 also pushes the tangent
    # block blk (arena elements x K directions) forward; mode 2 computes the values, then
    # pulls the cotangent block blk back through every entry; mode 3 is mode 2 for a
    # gradient in one call: the inputs x (end to end) loaded, blk cleared and the output
    # seeded first, the inputs' adjoints copied into g last; mode 4 (PULL_ONLY) pulls blk
    # back through the values a mode 0 run left in vals (the reverse pass reads vals and
    # never writes them, so they can be kept and shared). Returns -1, or the entry whose
    # guard failed (the values differ from the recording's: another path). Every entry
    # writes its result slot whole before it is read, so vals needs its constants in place
    # only once (`Program._arenas`).
    body = ['', '', '@numba.njit(cache=True, nogil=True, error_model="numpy")',
            "def run(ints, vals, blk, mode, x, g):",
            "    n_entries, n_slots, n_maps = ints[0], ints[1], ints[2]",
            *(f"    {name} = ints[{_HEAD} + {r} * n_entries:{_HEAD} + {r + 1} * n_entries]"
              for r, name in enumerate(("code", "arg0", "arg1", "arg2", "dst", "mstart",
                                        "need"))),
            f"    h = {_HEAD} + {len(ENTRY_ROWS)} * n_entries",
            "    offs, sizes = ints[h:h + n_slots], ints[h + n_slots:h + 2 * n_slots]",
            "    maps = ints[h + 2 * n_slots:h + 2 * n_slots + n_maps]",
            "    K = blk.shape[1]",
            "    if mode == 3:",
            "        for i in range(x.shape[0]):",
            "            vals[i] = x[i]",
            "        for i in range(blk.shape[0]):",
            "            for j in range(K):",
            "                blk[i, j] = 0.0",
            "        blk[ints[3], 0] = 1.0",
            "    tangents = mode == 1",
            "    for k in range(0 if mode == 4 else n_entries):", *_PROLOGUE,
            f"        if c == {GATHER}:",
            "            m = mstart[k]",
            "            for i in range(n):",
            "                vals[o + i] = vals[a + maps[m + i]]",
            "                if nd & ROUND32:",
            "                    vals[o + i] = np.float32(vals[o + i])",
            "                if tangents and need0[k]:",
            "                    for j in range(K):",
            "                        blk[o + i, j] = blk[a + maps[m + i], j]",
            # from 0.0, as NumPy's sums, or for a part of a sum (the map's last element
            # says) -0.0, the identity of + (a copied -0.0 stays -0.0, as in NumPy's copies)
            f"        elif c == {SCATTER}:",
            "            m = mstart[k]",
            "            z = -0.0 if maps[m + sizes[arg0[k]]] else 0.0",
            "            for i in range(n):",
            "                vals[o + i] = z",
            # (a float32 sum rounds every addition, as NumPy's float32 loops add)
            "            for i in range(sizes[arg0[k]]):",
            "                vals[o + maps[m + i]] += vals[a + i]",
            "                if nd & ROUND32:",
            "                    vals[o + maps[m + i]] = np.float32(vals[o + maps[m + i]])",
            "                if tangents and need0[k]:",
            "                    for j in range(K):",
            "                        blk[o + maps[m + i], j] += blk[a + i, j]",
            *_SELECT_PROLOGUE,
            "            for i in range(n):",
            "                if vals[a + i * sa] != 0.0:",
            "                    vals[o + i] = vals[b + i * sb]",
            "                    if tangents and need1[k]:",
            "                        for j in range(K):",
            "                            blk[o + i, j] += blk[b + i * sb, j]",
            "                else:",
            "                    vals[o + i] = vals[e + i * se]",
            "                    if tangents and need2[k]:",
            "                        for j in range(K):",
            "                            blk[o + i, j] += blk[e + i * se, j]",
            f"        elif c == {GUARD}:",
            "            b = offs[arg1[k]]",
            "            for i in range(n):",
            "                x = vals[a + i]",
            "                r = vals[b + i]",
            "                if mstart[k] == 1:",
            "                    if (x != 0.0) != (r != 0.0):",
            "                        return k",
            "                elif x != r and (x == x or r == r):",
            "                    return k",
            f"        elif (c == {ARGMAX} or c == {ARGMIN}) and arg1[k] < 0:",
            "            best = 0",
            "            for i in range(1, sizes[arg0[k]]):",
            "                x = vals[a + i]",
            "                r = vals[a + best]",
            "                if r != r:",
            "                    break",
            f"                if x != x or (x > r if c == {ARGMAX} else x < r):",
            "                    best = i",
            "            vals[o] = best",
            # along axes: maps holds each element's result, then its position along the
            # reduced axes; arg1 is a scratch slot of the best values; the first NaN wins,
            # as NumPy's argmax
            f"        elif c == {ARGMAX} or c == {ARGMIN}:",
            "            m = mstart[k]",
            "            t = offs[arg1[k]]",
            "            size = sizes[arg0[k]]",
            "            for i in range(n):",
            "                vals[o + i] = -1.0",
            "            for i in range(size):",
            "                q = maps[m + i]",
            "                x = vals[a + i]",
            "                if vals[o + q] < 0.0:",
            "                    vals[o + q] = maps[m + size + i]",
            "                    vals[t + q] = x",
            "                else:",
            "                    r = vals[t + q]",
            f"                    if r == r and (x != x or (x > r if c == {ARGMAX} else x < r)):",
            "                        vals[o + q] = maps[m + size + i]",
            "                        vals[t + q] = x",
            f"        elif c == {SEGMAX} or c == {SEGMIN}:",
            "            m = mstart[k]",
            "            t = offs[arg1[k]]",
            f"            start = -np.inf if c == {SEGMAX} else np.inf",
            "            for i in range(n):",
            "                vals[o + i] = start",
            "                vals[t + i] = 0.0",
            "            for i in range(sizes[arg0[k]]):",
            "                x = vals[a + i]",
            "                r = vals[o + maps[m + i]]",
            f"                if r == r and (x != x or (x > r if c == {SEGMAX} else x < r)):",
            "                    vals[o + maps[m + i]] = x",
            "            for i in range(sizes[arg0[k]]):",
            "                if vals[a + i] == vals[o + maps[m + i]]:",
            "                    vals[t + maps[m + i]] += 1.0",
            "            if tangents and need0[k]:",
            "                for i in range(sizes[arg0[k]]):",
            "                    q = maps[m + i]",
            "                    if vals[a + i] == vals[o + q]:",
            "                        w = 1.0 / vals[t + q]",
            "                        for j in range(K):",
            "                            blk[o + q, j] += blk[a + i, j] * w",
            # no tie: a NaN result (NaN equals nothing); the rule's 0 / 0, as interpreted
            "                    elif vals[t + q] == 0.0:",
            "                        for j in range(K):",
            "                            blk[o + q, j] += blk[a + i, j] * np.nan"]
    for code, primitive, _, partials in functions:
        body += _elementwise_branch(code, primitive, partials, backward=False)
    body += ["    if mode < 2:", "        return -1",
             "    for k in range(n_entries - 1, -1, -1):", *_PROLOGUE,
             f"        if c == {GATHER}:",
             "            if need0[k]:",
             "                m = mstart[k]",
             "                for i in range(n):",
             "                    if K == 1:",
             "                        blk[a + maps[m + i], 0] += blk[o + i, 0]",
             "                    else:",
             "                        for j in range(K):",
             "                            blk[a + maps[m + i], j] += blk[o + i, j]",
             f"        elif c == {SCATTER}:",
             "            if need0[k]:",
             "                m = mstart[k]",
             "                for i in range(sizes[arg0[k]]):",
             "                    if K == 1:",
             "                        blk[a + i, 0] += blk[o + maps[m + i], 0]",
             "                    else:",
             "                        for j in range(K):",
             "                            blk[a + i, j] += blk[o + maps[m + i], j]",
             *_SELECT_PROLOGUE,
             "            for i in range(n):",
             "                if vals[a + i * sa] != 0.0:",
             "                    if need1[k]:",
             "                        for j in range(K):",
             "                            blk[b + i * sb, j] += blk[o + i, j]",
             "                elif need2[k]:",
             "                    for j in range(K):",
             "                        blk[e + i * se, j] += blk[o + i, j]",
             f"        elif c == {SEGMAX} or c == {SEGMIN}:",
             "            if need0[k]:",
             "                m = mstart[k]",
             "                t = offs[arg1[k]]",
             "                for i in range(sizes[arg0[k]]):",
             "                    q = maps[m + i]",
             "                    if vals[a + i] == vals[o + q]:",
             "                        w = 1.0 / vals[t + q]",
             "                        for j in range(K):",
             "                            blk[a + i, j] += blk[o + q, j] * w",
             "                    elif vals[t + q] == 0.0:     # a NaN result, as above",
             "                        for j in range(K):",
             "                            blk[a + i, j] += blk[o + q, j] * np.nan"]
    for code, primitive, _, partials in functions:
        body += _elementwise_branch(code, primitive, partials, backward=True)
    body += ["    if mode == 3:", "        for i in range(g.shape[0]):",
             "            g[i] = blk[i, 0]", "    return -1"]
    source = "\n".join(lines + body) + "\n"
    # whether argument i is traced: bit i of the entry's "traced" row
    for i in range(3):
        source = source.replace(f"need{i}[k]", f"(nd & {1 << i})")
    return source


_interpreter: _Interpreter | None = None
_lock = threading.Lock()


def interpreter(wait: bool = True) -> _Interpreter | None:
    """The interpreter for this catalogue (generated and compiled on first use, then read
    from Numba's on-disk cache in later processes).

    With `wait=False` (what `compile=True` asks), a machine whose cache does not hold it
    yet compiles it in another process (`_Background`) and this returns None until that
    is done: the transform runs interpreted meanwhile, so the first call does not wait the
    minute Numba takes. AD_COMPILE_BACKGROUND=0 makes every caller wait instead."""
    global _interpreter
    if _interpreter is None and not wait and _background.pending():
        return None
    with _lock:
        if _interpreter is None:
            if not kernels.numba_available():
                raise NotLowered("Numba is not available (or NUMBA_DISABLE_JIT is set)")
            _interpreter = _Interpreter()
        return _interpreter


class _Background:
    """The interpreter compiled by another Python process into the on-disk cache, while
    this one goes on (interpreted). One compiler per cache: a lock file beside the cache
    names its process, and a process that finds it alive only waits for the cache."""

    #: Seconds between looks at the cache while another process compiles.
    LOOK_EVERY = 0.25

    def __init__(self) -> None:
        self.process = None            # the compiler this process started (Popen)
        self.stem: str | None = None   # interpreter_<digest> of the module to compile
        self.next_look = 0.0
        self.failed = False            # the compiler failed: compile here, in the open

    def pending(self) -> bool:
        """Whether the interpreter is still being compiled elsewhere (starting that when
        nobody is and the cache does not hold it)."""
        if self.failed or os.environ.get("AD_COMPILE_BACKGROUND", "1") == "0" or \
                not kernels.numba_available():
            return False
        now = time.monotonic()
        if now < self.next_look:
            return True
        with _lock:
            if self.cached():
                return False
            if self.process is not None:
                code = self.process.poll()
                if code is not None:       # done: the cache holds it, or it failed
                    self.process = None
                    self.failed = code != 0
                    return False
            elif not self.compiling_elsewhere():
                try:
                    self.start()
                except OSError:        # no process or no writable cache: compile here
                    self.failed = True
                    return False
            self.next_look = now + self.LOOK_EVERY
            return True

    def name(self) -> str:
        """interpreter_<digest>: the generated module `_Interpreter` compiles first."""
        if self.stem is None:
            self.stem = _module_of(_candidates()[0])[2]
        return self.stem

    def cached(self) -> bool:
        """Whether Numba's cache holds the module's `run` (its index of compiled code)."""
        import glob
        return bool(glob.glob(os.path.join(kernels.cache_dir(), "__pycache__",
                                           f"{self.name()}.run-*.nbc")))

    def lock_path(self) -> str:
        return os.path.join(kernels.cache_dir(), self.name() + ".compiling")

    def compiling_elsewhere(self) -> bool:
        try:
            with open(self.lock_path()) as file:
                pid = int(file.read().strip() or 0)
            os.kill(pid, 0)            # alive (a stale lock names a process gone)
            return True
        except (OSError, ValueError):
            return False

    def start(self) -> None:
        import subprocess
        os.makedirs(kernels.cache_dir(), exist_ok=True)
        log = open(os.path.join(kernels.cache_dir(), self.name() + ".log"), "w")
        env = dict(os.environ, AD_COMPILE_BACKGROUND="0")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import ad.compiled; ad.compiled._compile_here()"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            start_new_session=True)      # outlives this process: the next one finds it
        log.close()
        with open(self.lock_path() + f".{os.getpid()}", "w") as file:
            file.write(str(self.process.pid))
        os.replace(self.lock_path() + f".{os.getpid()}", self.lock_path())


_background = _Background()


def _compile_here() -> None:
    """The background compiler's process (see `_Background`)."""
    try:
        os.nice(5)                     # the user's own process comes first
    except (AttributeError, OSError):
        pass
    try:
        interpreter()
    finally:
        try:
            os.remove(_background.lock_path())
        except OSError:
            pass
    try:                               # compiled: nothing to read in its log
        os.remove(os.path.join(kernels.cache_dir(), _background.name() + ".log"))
    except OSError:
        pass


# ----------------------------------------------------------------------------- lowering
@dataclass
class Program:
    """A lowered tape: entry columns for the interpreter and the value arena's layout.

    `listing()` prints it; `report` says what it is (ops, slots, arena bytes, build time).
    """

    #: The entries as the rows of one int32 array (fewer arguments for Numba's dispatcher
    #: to check on every call): ENTRY_ROWS.
    entries: np.ndarray
    offs: np.ndarray             # per slot: its offset in the arena
    sizes: np.ndarray            # per slot: its number of elements
    maps: np.ndarray             # the index maps of gathers and scatters, end to end
    arena: np.ndarray            # the constants in place, zeros elsewhere
    inputs: list[int]            # slot of each input leaf
    in_shapes: list[tuple]
    output: int                  # slot of the output
    build_seconds: float = 0.0
    out_shape: tuple = ()
    out_dtype: np.dtype = np.dtype(np.float64)
    #: Per guard entry (its position in `entries`): what was read, where.
    guards: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.run = interpreter().call
        # one int32 array for the interpreter; the columns below are views of it
        self.ints = ints = _packed(self.entries, self.offs, self.sizes, self.maps,
                                   int(self.offs[self.output]))
        n_slots, h = len(self.offs), _HEAD + self.entries.size
        self.entries = ints[_HEAD:h].reshape(self.entries.shape)
        self.offs, self.sizes = ints[h:h + n_slots], ints[h + n_slots:h + 2 * n_slots]
        self.maps = ints[h + 2 * n_slots:]
        self._spans = [(int(self.offs[s]), int(self.offs[s] + self.sizes[s])) for s in self.inputs]
        self._n_in = self._spans[-1][1] if self._spans else 0
        assert all(start == stop for (_, stop), (start, _) in zip(
            [(0, 0)] + self._spans, self._spans)), "the inputs' slots come first, in order"
        self._out = int(self.offs[self.output])
        self._buffers = threading.local()

    @property
    def n_ops(self) -> int:
        return self.entries.shape[1]

    def arena_bytes(self) -> int:
        return int(self.arena.nbytes)

    def tape_bytes(self) -> int:
        """Bytes the compiled tape keeps: the entry columns, the layout, maps and arena."""
        return int(self.ints.nbytes + self.arena.nbytes)

    @property
    def report(self) -> str:
        guards = f", {len(self.guards)} guards" if self.guards else ""
        return (f"compiled tape: {self.n_ops} ops{guards}, {len(self.sizes)} slots, arena "
                f"{self.arena_bytes()} bytes ({self.tape_bytes()} in all, "
                f"{self.tape_bytes() / max(self.n_ops, 1):.0f} per op), built in "
                f"{self.build_seconds * 1e3:.2f} ms")

    def listing(self) -> str:
        lines = [self.report]
        code, arg0, arg1, arg2, dst = self.entries[:5]
        primitive = self.entries[_PRIMITIVE_ROW]
        for k in range(self.n_ops):
            if code[k] == GUARD:
                lines.append(f"  guard s{arg0[k]} == s{arg1[k]}    # {self.guards[k]}")
                continue
            args = [f"s{a[k]}" for a in (arg0, arg1, arg2) if a[k] >= 0]
            how = _STRUCTURAL.get(int(code[k]))
            how = f" ({how})" if how else ""
            lines.append(f"  s{dst[k]} = {OPCODES[primitive[k]].name}({', '.join(args)})"
                         f"{how}    # {self.sizes[dst[k]]} elements")
        return "\n".join(lines)

    # --- predicted time (the cost model's prices for compiled tapes) -------------------
    def op_names(self) -> list[str]:
        """Per entry, the op it is priced by: its structural kind ("gather", "scatter",
        "select", "guard", "argmax", "max", ...) or its elementwise primitive's name."""
        code, primitive = self.entries[0], self.entries[_PRIMITIVE_ROW]
        return [_STRUCTURAL.get(int(c)) or OPCODES[int(p)].name for c, p in zip(code, primitive)]

    def entry_elements(self) -> np.ndarray:
        """Per entry, the elements its loops visit: its result's, and a reducing entry's
        argument's too."""
        code, arg0, dst = self.entries[0], self.entries[1], self.entries[4]
        n = self.sizes[dst].astype(np.float64)
        reducing = _REDUCING[np.minimum(code, FIRST_ELEMENTWISE)]
        n[reducing] += self.sizes[arg0[reducing]]
        return n

    def _prices(self, table):
        """Per mode, (seconds per run: of its entries, of its elements, of its elements per
        direction) and per op (for `predicted_terms`: the op names, their seconds per run
        and per direction), for `table` (cached)."""
        from ad.cost.calibration import COMPILED_MODES, current
        table = table or current()
        cached = self.__dict__.get("_priced")
        if cached is not None and cached[0] is table:
            return table, cached[1]
        # each distinct op once (structural ones by their code, below 0; elementwise ones
        # by their primitive), the entries' sums by op with bincount
        code, primitive = self.entries[0], self.entries[_PRIMITIVE_ROW]
        keys = np.where(code < FIRST_ELEMENTWISE, code, FIRST_ELEMENTWISE + primitive)
        count = np.bincount(keys)
        unique = np.flatnonzero(count)
        which = (np.cumsum(count > 0) - 1)[keys]
        count = count[unique].astype(np.float64)
        names = [_STRUCTURAL[k] if k < FIRST_ELEMENTWISE else
                 OPCODES[k - FIRST_ELEMENTWISE].name for k in unique.tolist()]
        elements = np.bincount(which, weights=self.entry_elements(), minlength=len(unique))
        prices = {}
        for mode in COMPILED_MODES:
            lines = np.array([table.compiled_line(name, mode) for name in names]).reshape(-1, 3)
            per_entry, per_element = lines[:, 0] * count, lines[:, 1] * elements
            per_direction = lines[:, 2] * elements
            prices[mode] = (float(per_entry.sum()), float(per_element.sum()),
                            float(per_direction.sum()),
                            (names, per_entry + per_element, per_direction))
        self.__dict__["_priced"] = (table, prices)
        return table, prices

    def predict_run(self, mode: str, width: int = 1, table=None) -> float:
        """Predicted seconds of one interpreter run: "values", "forward" (a block of
        `width` tangents pushed forward) or "reverse" (values, then `width` cotangents
        pulled back).

        >>> import numpy as np, ad, ad.numpy as anp
        >>> program = ad.compile(lambda x: anp.sum(anp.sin(x)), np.ones(3))
        >>> program.predict_run("reverse") >= 0
        True
        """
        table, prices = self._prices(table)
        entries, per_element, per_direction, _ = prices[mode]
        # the values stream through the caches (written forward, read back in reverse):
        # beyond them an element costs more (the table's memory curve)
        streamed = 8 * len(self.arena) * (2 if mode == "reverse" else 1)
        factor = table.memory_factor(streamed)
        return (table.compiled_term("run") + entries + factor * per_element
                + width * per_direction)

    def _block_seconds(self, width: int, height: int, table) -> float:
        """Clearing a block of `width` directions and copying `height` rows of it out."""
        rate = table.compiled_block_rate(8.0 * len(self.arena) * width)
        return table.compiled_term("block") + rate * width * (len(self.arena) + 2 * height)

    def grad_bound(self, table=None) -> float:
        """An upper bound of `predict_grad` from the table's dearest compiled op (every
        entry priced as it): cheap, no pricing op by op."""
        from ad.cost.calibration import current
        table = table or current()
        entry, element, direction = table.compiled_dearest("reverse")
        elements = float(self.entry_elements().sum())
        factor = table.memory_factor(16.0 * len(self.arena))
        return (table.compiled_term("call") + table.compiled_term("run") + self.n_ops * entry
                + elements * (factor * element + direction)
                + self._block_seconds(1, self._n_in, table))

    def predict_grad(self, table=None) -> float:
        """Predicted seconds of one compiled gradient (or VJP) call."""
        table, _ = self._prices(table)
        return (table.compiled_term("call") + self.predict_run("reverse", 1, table)
                + self._block_seconds(1, self._n_in, table) - table.compiled_term("block"))

    def predict_jacobian(self, mode: str, plan: BlockPlan, table=None) -> float:
        """Predicted seconds of `jacobian`'s compiled path by `mode` ("forward" or
        "reverse") in `plan`'s blocks (what `Program.jacobian` runs): per block a run and
        its block, then the Jacobian put together (a transpose in reverse mode)."""
        table, _ = self._prices(table)
        blocks = plan.forward_blocks if mode == "forward" else plan.reverse_blocks
        height = int(self.sizes[self.output]) if mode == "forward" else self._n_in
        seconds = table.compiled_term("call") + sum(
            self._block_seconds(stop - start, height, table)
            + self.predict_run(mode, stop - start, table) for start, stop in blocks)
        elements = self._n_in * int(self.sizes[self.output])
        copies = (2 if mode == "reverse" else 0) + (len(blocks) > 1)
        return seconds + copies * elements * table.compiled_block_rate(8.0 * elements)

    def predicted_terms(self, mode: str, width: int = 1, table=None, how_many: int = 3
                        ) -> list[tuple[str, float]]:
        """The ops whose entries take the most of one run (name, seconds), largest first."""
        _, prices = self._prices(table)
        names, fixed, per_direction = prices[mode][3]
        terms = sorted(zip(names, (fixed + width * per_direction).tolist()), key=lambda t: -t[1])
        return terms[:how_many]

    def settle_guards(self, leaves) -> None:
        """Make the value guards' references the interpreter's own values at the recording's
        inputs `leaves`: a value read from NumPy (a sum, a norm) can differ in its last bits
        from the interpreter's recomputation at the same inputs, which would fail the guard
        on every replay. A truth guard that fails there (the value is on the other side of
        its boundary in the interpreter) raises `NotLowered`."""
        if not self.guards:
            return
        reference = self.entries[2]
        for _ in range(len(self.guards) + 1):
            vals, block = self._arenas(1)
            self._load(vals, leaves)
            failed = self.run(self.ints, vals, block, 0, _NO_X, _NO_G)
            if failed < 0:
                return
            if self.entries[5, failed] == 1:
                raise NotLowered(f"a guard fails at the inputs it was recorded at "
                                 f"({self.guards[failed]}): the compiled tape computes that "
                                 "value on the other side of its test")
            slot, ref = int(self.entries[1, failed]), int(reference[failed])
            start, size = int(self.offs[ref]), int(self.sizes[ref])
            value = vals[int(self.offs[slot]):int(self.offs[slot]) + size].copy()
            self.arena[start:start + size] = value
            vals[start:start + size] = value      # this thread's arena has the constants

    def _run(self, vals, block, mode: int) -> None:
        """One run of the interpreter; a failed guard raises `GuardFailed`."""
        failed = self.run(self.ints, vals, block, mode, _NO_X, _NO_G)
        if failed >= 0:
            raise GuardFailed(self.guards[failed])

    def _arenas(self, width: int):
        """This thread's value arena (the constants in place: no entry writes them) and a
        zeroed block of `width` directions per arena element. Each thread has its own
        (threads never share one), reused call after call (nothing grows), freed with the
        thread."""
        buffers = self._buffers.__dict__
        vals = buffers.get("vals")
        if vals is None:
            vals = buffers["vals"] = self.arena.copy()
        block = buffers.get(width)
        if block is None:
            block = buffers[width] = np.zeros((len(self.arena), width))
        else:
            block.fill(0.0)
        return vals, block

    def _load(self, vals, leaves) -> None:
        if len(leaves) != len(self._spans):
            raise TypeError(f"the compiled program takes {len(self._spans)} inputs, "
                            f"given {len(leaves)}")
        for k, ((start, stop), leaf) in enumerate(zip(self._spans, leaves)):
            if np.shape(leaf) != tuple(self.in_shapes[k]):
                raise ShapeError(f"input {k} of the compiled program has shape "
                                 f"{tuple(self.in_shapes[k])}, given {np.shape(leaf)}")
            vals[start:stop] = leaf.ravel() if type(leaf) is np.ndarray else leaf

    def value_and_grad(self, leaves: Sequence[np.ndarray]):
        """The (scalar) output's value and the adjoint of every input leaf."""
        value, adjoints = self.gradient(_flat(leaves))
        return value, self._by_leaf(adjoints)

    def gradient(self, x: np.ndarray):
        """The (scalar) output's value and its gradient, for the inputs end to end as one
        float64 vector `x` (C-contiguous, as `_flat` gives it): one interpreter call that
        loads, clears, seeds, sweeps and copies the adjoints out."""
        return self.gradient_of(None)(x)

    def gradient_of(self, shape: tuple | None, value_type=None, grad_type=None) -> Callable:
        """`gradient` as one function of an array (any float64 array, `_flat` otherwise)
        giving the value and the gradient shaped `shape` (None: flat) and cast to
        `value_type` / `grad_type` (None: float64): what a compiled `grad` of one array runs
        per call, so nothing but this closure stands between it and the interpreter."""
        run, arenas, n_in, out, guards = self.run, self._arenas, self._n_in, self._out, \
            self.guards
        ints, get_ident = self.ints, threading.get_ident
        scalar = shape == ()
        # the last calling thread's buffers, looked up again when another thread calls
        # (each thread keeps its own: `_arenas`); a 0-d gradient is read out of its own
        # one-element buffer, an array gradient gets a new array per call
        last = [(None,)]

        def gradient(x):
            if x.dtype is not _FLOAT64 or not x.flags.c_contiguous:
                x = _flat([x])       # a float32, big-endian or strided input: a copy
            elif x.ndim != 1:
                x = x.ravel()        # a view
            mine = last[0]
            if mine[0] != get_ident():
                mine = last[0] = (get_ident(), *arenas(1), np.empty(n_in) if scalar else None)
            if x.shape[0] != n_in:     # the interpreter writes x into the arena as it is
                raise ValueError(f"compiled tape: {x.shape[0]} input elements given, "
                                 f"{n_in} expected")
            vals = mine[1]
            adjoints = mine[3] if scalar else np.empty(n_in)
            failed = run(ints, vals, mine[2], 3, x, adjoints)
            if failed >= 0:
                raise GuardFailed(guards[failed])
            value = vals[out]
            if shape is None:
                return value, adjoints
            g = adjoints[0] if scalar else adjoints.reshape(shape)
            if value_type is not None:
                value = value_type(value)
            if grad_type is not None:
                g = grad_type.type(g) if scalar else g.astype(grad_type)
            return value, g
        return gradient

    def _adjoints(self, block) -> list[np.ndarray]:
        """The inputs' adjoints (copied out of this thread's block, which the next call
        overwrites; the inputs' slots come first in the arena)."""
        return self._by_leaf(block[:self._n_in, 0].copy())

    def _by_leaf(self, array: np.ndarray) -> list[np.ndarray]:
        """`array`'s last axis (every input element, end to end: the inputs' slots come
        first, in order) split into one piece per input leaf, shaped lead + the leaf's."""
        lead = array.shape[:-1]
        return [array[..., start:stop].reshape(lead + tuple(shape))
                for (start, stop), shape in zip(self._spans, self.in_shapes)]

    def jacobian(self, leaves: Sequence[np.ndarray], mode: str, plan: BlockPlan):
        """The output's value and its Jacobian with respect to every input leaf (shape
        out + in each), by forward mode (`plan`'s blocks of input directions pushed forward)
        or reverse mode (its blocks of output cotangents pulled back)."""
        blocks = plan.forward_blocks if mode == "forward" else plan.reverse_blocks
        columns = [self._columns(leaves, mode, first, stop) for first, stop in blocks]
        value = None
        if columns:                # the last block's run left the values in this arena
            vals = self._buffers.__dict__["vals"]
            value = vals[self._out:self._out + int(self.sizes[self.output])].copy()
            value = value.reshape(self.out_shape)
        height = int(self.sizes[self.output]) if mode == "forward" else self._n_in
        columns = (columns[0] if len(columns) == 1 else np.concatenate(columns, axis=1)
                   if columns else np.empty((height, 0)))
        # forward: the columns are the Jacobian's (out x inputs); reverse: its transpose's
        return value, self._split(columns if mode == "forward" else columns.T)

    def _split(self, matrix: np.ndarray) -> list[np.ndarray]:
        """The Jacobian (out elements x every input element) as one block per input leaf."""
        return [piece.reshape(self.out_shape + piece.shape[1:])
                for piece in self._by_leaf(matrix)]

    def _columns(self, leaves, mode: str, first: int, stop: int) -> np.ndarray:
        """Directions first..stop as columns, copied out of the block: in forward mode the
        output tangents of input directions first..stop (out x width), in reverse mode the
        input cotangents of output elements first..stop (inputs x width)."""
        out_size = int(self.sizes[self.output])
        width = stop - first
        vals, block = self._arenas(width)
        self._load(vals, leaves)
        if mode == "forward":      # seed directions first..first+width (inputs come first)
            np.fill_diagonal(block[first:first + width], 1.0)
            self._run(vals, block, 1)
            return block[self._out:self._out + out_size].copy()
        np.fill_diagonal(block[self._out + first:self._out + first + width], 1.0)
        self._run(vals, block, 2)
        return block[:self._n_in].copy()

    def values(self, leaves: Sequence[np.ndarray], keep: bool = False):
        """The output's value (one forward pass: also checks the guards); with `keep`,
        (the value, a copy of the arena it filled) for `pull_from`."""
        vals, block = self._arenas(1)
        self._load(vals, leaves)
        self._run(vals, block, 0)
        out = slice(self._out, self._out + int(self.sizes[self.output]))
        value = vals[out].astype(self.out_dtype).reshape(self.out_shape)   # a copy
        return (value, vals.copy()) if keep else value

    def pull_from(self, arena: np.ndarray, cotangent) -> list[np.ndarray]:
        """The cotangent of every input leaf for one output cotangent, pulled back through
        `arena` as `values(..., keep=True)` left it: one reverse pass, no forward pass (the
        arena is only read, so several threads may pull through the same one)."""
        _, block = self._arenas(1)
        block[self._out:self._out + int(self.sizes[self.output]), 0] = np.ravel(cotangent)
        self._run(arena, block, PULL_ONLY)
        return self._adjoints(block)

    def push(self, leaves: Sequence[np.ndarray], tangents: Sequence) -> tuple:
        """The output's value and its tangent along one direction (a tangent per input
        leaf): one forward pass of the interpreter."""
        vals, block = self._arenas(1)
        self._load(vals, leaves)
        for (start, stop), tangent in zip(self._spans, tangents):
            block[start:stop, 0] = np.ravel(tangent)
        self._run(vals, block, 1)
        out = slice(self._out, self._out + int(self.sizes[self.output]))
        return (vals[out].copy().reshape(self.out_shape),
                block[out, 0].copy().reshape(self.out_shape))

    def pull(self, leaves: Sequence[np.ndarray], cotangent) -> tuple:
        """The output's value and the cotangent of every input leaf for one output
        cotangent: one forward and one reverse pass of the interpreter."""
        vals, block = self._arenas(1)
        self._load(vals, leaves)
        out = slice(self._out, self._out + int(self.sizes[self.output]))
        block[out, 0] = np.ravel(cotangent)
        self._run(vals, block, 2)
        return vals[out].copy().reshape(self.out_shape), self._adjoints(block)

    def runner(self, leaves: Sequence[np.ndarray], mode: str, width: int = 1) -> Callable:
        """A function of no arguments that runs the interpreter once in `mode` (a key of
        RUN_MODES) on these leaves with a block of `width` directions, loaded once: what
        `ad.calibrate` times (guards are not checked)."""
        vals, _ = self._arenas(1)
        vals = vals.copy()
        self._load(vals, leaves)
        block, number = np.zeros((len(self.arena), width)), RUN_MODES[mode]
        return lambda: self.run(self.ints, vals, block, number, _NO_X, _NO_G)

    def rows(self, leaves: Sequence[np.ndarray], mode: str, first: int, stop: int
             ) -> np.ndarray:
        """Directions first..stop of the Jacobian as rows: in forward mode the output
        tangents of input directions first..stop, in reverse mode the input cotangents of
        output elements first..stop (one distributed task)."""
        return self._columns(leaves, mode, first, stop).T

    def assemble(self, rows: np.ndarray, mode: str) -> list[np.ndarray]:
        """Rows of every direction (from `rows`, in order) as one block per input leaf."""
        return self._split(rows.T if mode == "forward" else rows)

    def __getstate__(self) -> dict:
        # what travels to a worker: the arrays (the interpreter and buffers are rebuilt)
        state = dict(self.__dict__)
        for name in ("run", "ints", "_spans", "_n_in", "_out", "_buffers", "_priced"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__post_init__()


class Builder:
    """Emits interpreter entries and allocates arena slots while lowering. A slot is
    `traced` when a derivative flows through it, `varying` when its value depends on the
    inputs (traced ones, and masks or indices computed from them); the rest are constants.
    The lowering callables of the catalogue (`Primitive.lowering`) receive it as `emit`."""

    def __init__(self, tape: Tape, opcodes: dict) -> None:
        self.tape = tape
        self.opcodes = opcodes
        self.slot_of: dict[int, int] = {}
        self.shapes: list[tuple] = []      # per slot
        self.traced: list[bool] = []       # per slot: a derivative flows through it
        self.varying: list[bool] = []      # per slot: its value depends on the inputs
        self.data: dict[int, np.ndarray] = {}
        #: Scalar constants by dtype and bytes: equal ones share a slot (read only).
        self.scalars: dict[tuple, int] = {}
        #: (code, a0, a1, a2, dst, map or None, the primitive's opcode or -1, kind)
        self.entries: list[tuple] = []
        self.guards: dict[int, str] = {}
        #: The entries whose results are rounded to float32 (ROUND32).
        self.round32: list[int] = []
        #: The entry being lowered: (primitive, params, residuals, out_shape).
        self.current: tuple = (None, {}, None, ())

    @property
    def out_shape(self) -> tuple:
        """The result shape of the entry being lowered."""
        return tuple(self.current[3])

    def slot(self, shape: tuple, traced: bool, data: np.ndarray | None = None,
             varying: bool | None = None) -> int:
        index = len(self.shapes)
        self.shapes.append(tuple(shape))
        self.traced.append(traced)
        self.varying.append(traced if varying is None else varying)
        if data is not None:
            self.data[index] = np.asarray(data, dtype=np.float64).ravel()
        return index

    def varies(self, slot: int) -> bool:
        return self.varying[slot]

    def constant(self, value, like: int | None = None) -> int:
        """A slot holding a constant (broadcast to slot `like`'s shape when given); equal
        scalars (the same dtype and bits) share one slot, which nothing writes."""
        array = np.asarray(value)
        if array.dtype.kind not in "fiub":
            raise NotLowered(f"a constant of dtype {array.dtype}")
        if like is not None:
            array = np.broadcast_to(array, self.shapes[like])
        elif array.ndim == 0:        # by its bits: -0.0 is not 0.0
            key = (array.dtype.char, array.tobytes())
            slot = self.scalars.get(key)
            if slot is None:
                slot = self.scalars[key] = self.slot((), False, array)
            return slot
        return self.slot(array.shape, False, array)

    def _emit(self, code, args, out, mapping=None, primitive=None, kind=0) -> None:
        n = len(args)
        self.entries.append((code, args[0], args[1] if n > 1 else -1, args[2] if n > 2 else -1,
                             out, mapping, -1 if primitive is None else primitive.opcode, kind))

    def gather(self, source: int, mapping: np.ndarray, shape: tuple, primitive) -> int:
        out = self.slot(shape, self.traced[source], varying=self.varying[source])
        self._emit(GATHER, [source], out, np.asarray(mapping).ravel(), primitive)
        return out

    def scatter(self, source: int, mapping: np.ndarray, shape: tuple, primitive,
                part: bool = False) -> int:
        """A slot of `shape` holding the sums of source's elements by `mapping` (the
        result position of each source element), each from 0.0 as NumPy's sums; with
        `part` (a part of a sum of parts: concatenate, a linear map's columns) from -0.0,
        the identity of +, so a copied -0.0 stays -0.0 as in NumPy's copies."""
        out = self.slot(shape, self.traced[source], varying=self.varying[source])
        self._emit(SCATTER, [source], out, np.append(np.asarray(mapping).ravel(), int(part)),
                   primitive)
        return out

    def detach(self, source: int) -> int:
        """Source's value, carrying no derivative (stop_gradient)."""
        shape = self.shapes[source]
        out = self.slot(shape, False, varying=self.varying[source])
        self._emit(GATHER, [source], out, np.arange(math.prod(shape)), self.current[0])
        return out

    def select(self, condition: int, x: int, y: int) -> int:
        """where(condition, x, y) by a condition recomputed at each replay."""
        shape = np.broadcast_shapes(*(self.shapes[a] for a in (condition, x, y)))
        args = self._aligned([condition, x, y], shape)
        out = self.slot(shape, self.traced[args[1]] or self.traced[args[2]], varying=True)
        self._emit(SELECT, args, out, None, PRIMITIVES["where"])
        return out

    def index_of(self, source: int, which: str, rows: np.ndarray | None = None,
                 positions: np.ndarray | None = None, shape: tuple = ()) -> int:
        """argmax ("max") or argmin ("min") of source's elements, flattened; or, given
        `rows` (each element's result element) and `positions` (its index along the
        reduced axis), per result element of `shape`."""
        code = ARGMAX if which == "max" else ARGMIN
        if rows is None:
            out = self.slot((), False, varying=True)
            self._emit(code, [source], out, None, self.current[0])
            return out
        best = self.slot(shape, False, varying=True)            # scratch: the best values
        out = self.slot(shape, False, varying=True)
        mapping = np.concatenate([np.asarray(rows).ravel(), np.asarray(positions).ravel()])
        self._emit(code, [source, best], out, mapping, self.current[0])
        return out

    def extremum(self, source: int, rows: np.ndarray, shape: tuple, which: str) -> int:
        """max ("max") or min ("min") of source's elements into the result elements `rows`
        (per source element), the derivative split evenly among ties."""
        ties = self.slot(shape, False, varying=True)          # per result: the tie count
        out = self.slot(shape, self.traced[source], varying=True)
        self._emit(SEGMAX if which == "max" else SEGMIN, [source, ties], out,
                   np.asarray(rows).ravel(), self.current[0])
        return out

    def linear(self, args: list[int]) -> int:
        """The entry being lowered as the linear map it is in its traced arguments."""
        primitive, params, residuals, out_shape = self.current
        return _lower_linear(self, primitive, params, args, residuals, out_shape)

    def guard(self, slot: int, expected, truth: bool, why: str) -> None:
        """Stop the replay unless slot's value (its truth, when `truth`) is as recorded."""
        expected = np.broadcast_to(np.asarray(expected, dtype=np.float64), self.shapes[slot])
        reference = self.slot(expected.shape, False, expected)   # its own: settle_guards writes it
        self.guards[len(self.entries)] = why
        self._emit(GUARD, [slot, reference], slot, None, None, 1 if truth else 0)

    def prune(self, output: int) -> None:
        """Drop the entries whose results reach neither the output nor a guard (dead code:
        f computed something it never used). The interpreted sweep skips them, as no
        cotangent reaches them; a compiled one would pull 0 * their partials back, and an
        overflowed partial (exp(1000 x)) makes that NaN."""
        live, keep = {output}, []
        for k in range(len(self.entries) - 1, -1, -1):
            entry = self.entries[k]
            if entry[0] == GUARD or entry[4] in live:
                keep.append(k)
                live.update(entry[1:4])          # -1 (no argument) is no slot's
        if len(keep) == len(self.entries):
            return
        keep.reverse()
        position = {k: j for j, k in enumerate(keep)}
        self.entries = [self.entries[k] for k in keep]
        self.guards = {position[k]: why for k, why in self.guards.items()}
        self.round32 = [position[k] for k in self.round32 if k in position]

    def refuse(self, why: str):
        """For `expand` lowerings: this entry does not lower (the program runs interpreted)."""
        raise NotLowered(why)

    def __call__(self, primitive, *args: int) -> int:
        """Emit an elementwise primitive on slots (for `expand` lowerings)."""
        shape = np.broadcast_shapes(*(self.shapes[a] for a in args))
        return self.elementwise(primitive, list(args), shape)

    def _aligned(self, args: list[int], shape: tuple) -> list[int]:
        """Each argument as one element or the result's layout (a gather of its broadcast
        indices when it is neither)."""
        shapes = self.shapes
        for a in args:
            if shapes[a] != shape and shapes[a] != ():
                break
        else:
            return args                    # the common case: nothing to broadcast
        size = math.prod(shape)
        aligned = []
        for a in args:
            a_shape = self.shapes[a]
            a_size = math.prod(a_shape)
            same = a_size == size and (a_shape == shape or
                                       tuple(d for d in a_shape if d != 1) ==
                                       tuple(d for d in shape if d != 1))
            if a_size != 1 and not same:   # general broadcasting: gather its indices first
                mapping = np.broadcast_to(np.arange(a_size).reshape(a_shape), shape)
                a = self.gather(a, mapping, shape, PRIMITIVES["broadcast_to"])
            aligned.append(a)
        return aligned

    def elementwise(self, primitive, args: list[int], shape: tuple) -> int:
        code = self.opcodes.get(primitive)
        if code is None:
            raise NotLowered(f"{primitive.name}: its functions do not compile into the "
                             "interpreter")
        shapes = self.shapes
        for a in args:                 # (`_aligned`'s common case, without the call)
            if shapes[a] != shape and shapes[a] != ():
                aligned = self._aligned(args, shape)
                break
        else:
            aligned = args
        traced, varying = self.traced, self.varying
        a = aligned[0]
        derivative, varies = traced[a], varying[a]
        for a in aligned[1:]:
            derivative = derivative or traced[a]
            varies = varies or varying[a]
        # a slot and its entry, as `slot` and `_emit` make them (inlined: once per op)
        out = len(shapes)
        shapes.append(shape)
        traced.append(primitive.differentiable and derivative)
        varying.append(varies)
        n = len(aligned)
        self.entries.append((code, aligned[0], aligned[1] if n > 1 else -1,
                             aligned[2] if n > 2 else -1, out, None, primitive.opcode, 0))
        return out


def _guard(builder: Builder, guards: dict, index: int) -> None:
    """The guards on value `index`, right after it is computed (a replay stops early)."""
    for expected, truth, why in guards.pop(index, ()):
        builder.guard(builder.slot_of[index], expected, truth, why)


def lower(tape: Tape, input_ids: Sequence[int], output_id: int,
          guards_read: Sequence[tuple] = ()) -> Program:
    """Lower a recorded tape (one array output) to a `Program` (raises `NotLowered`);
    `guards_read` are the values the recording read (`CompilingLevel.guards`)."""
    opcodes = interpreter().opcodes     # loaded (or compiled) once: not the build's time
    start = time.perf_counter()
    builder = Builder(tape, opcodes)
    for index in input_ids:
        if tape.dtypes[index] not in _FLOATS:
            raise NotLowered(f"an input of dtype {tape.dtypes[index]} (float64 and float32 "
                             "only)")
        builder.slot_of[index] = builder.slot(tape.shapes[index], True)
    guards: dict[int, list] = {}
    for index, expected, truth, why in guards_read:
        guards.setdefault(index, []).append((expected, truth, why))
    for index in input_ids:
        _guard(builder, guards, index)
    float32 = any(d == np.float32 for d in {*tape.dtypes} if d is not None)
    for primitive, params, parents, constants, out, residuals in tape.entries():
        if primitive.n_outputs != 1:
            raise NotLowered(f"{primitive.name}: several outputs do not lower yet")
        slot_of = builder.slot_of
        dtype = tape.dtypes[out]
        single = float32 and dtype == np.float32
        if constants is None:
            args = [slot_of[parent] for parent in parents]
        else:
            # a Python number beside float32 values is taken in float32 (weakly typed)
            weak32 = float32 and (single or any(p != CONSTANT and tape.dtypes[p] == np.float32
                                                for p in parents))
            args = [slot_of[parent] if parent != CONSTANT else builder.constant(
                    np.float32(constants[k]) if weak32 and type(constants[k]) in (float, int)
                    else constants[k]) for k, parent in enumerate(parents)]
        first = len(builder.entries)
        if dtype not in _FLOAT_SET and (getattr(dtype, "kind", "O") not in "biuf" or (
                primitive.differentiable and any(builder.traced[a] for a in args))):
            # integers and booleans only where no derivative flows (masks, indices, counts)
            raise NotLowered(f"{primitive.name} gives dtype {dtype} (float64 and float32 only)")
        builder.current = (primitive, params, residuals, tape.shapes[out])
        builder.slot_of[out] = _lower_entry(builder, primitive, params, args, residuals,
                                            tape.shapes[out])
        if single:
            builder.round32.extend(range(first, len(builder.entries)))
        if guards:
            _guard(builder, guards, out)
    if output_id not in builder.slot_of or tape.dtypes[output_id] not in _FLOATS:
        raise NotLowered("the output does not depend on the inputs")
    builder.prune(builder.slot_of[output_id])
    program = program_of(builder, [builder.slot_of[i] for i in input_ids],
                        [tape.shapes[i] for i in input_ids], builder.slot_of[output_id],
                        time.perf_counter() - start)
    program.out_shape = tuple(tape.shapes[output_id])
    program.out_dtype = tape.dtypes[output_id]
    program.guards = dict(builder.guards)
    return program


#: A compiled tape predicted within this factor of the interpreted engine (either way) is
#: a close call: a compiled Jacobian times both on its first SETTLE_TRIALS calls and keeps
#: the faster (`CompiledGrad.settle`), as `jacobian(mode="auto")` settles its modes.
SETTLE_WITHIN, SETTLE_TRIALS = 1.5, 2

#: The largest linear map `_lower_linear` takes apart (argument elements x result elements).
LINEAR_LIMIT = 2 ** 22


def _lower_linear(builder: Builder, primitive, params, args, residuals, out_shape) -> int:
    """Any linear primitive without a lowering of its own (cumsum, index_add, where with a
    constant mask, a user's deflinear): per traced argument, its matrix from the engine's
    own batched JVP on an identity block, run as a gather of the columns holding nonzeros,
    a product by the nonzero weights (skipped when all are 1) and a scatter into the rows;
    the constant arguments' part is the primitive applied to them with the traced ones at
    -0.0. Only nonzero weights are kept, so 0 * inf never meets an unselected element."""
    out_shape = tuple(out_shape)
    out_size = math.prod(out_shape)
    linear = primitive.linear_in            # None: linear in every argument
    recorded = {}                           # a non-linear argument the tape computes
    parts = []
    for i, source in enumerate(args):
        if not builder.traced[source]:
            if builder.varying[source]:
                raise NotLowered(f"{primitive.name} of a value computed from the inputs "
                                 "without a derivative (a mask or an index)")
            if source in builder.data:
                continue            # a constant: in the offset below
            if linear is not None and not linear[i]:
                # from constants only (a mask of an overwritten value): the same at every
                # replay, so its recorded value, which the residuals hold, is a constant
                recorded[source] = np.asarray(residuals[1][i])
                continue
            # a linear argument the tape computes from constants only: mapped like a
            # traced part
        in_shape = builder.shapes[source]
        n = math.prod(in_shape)
        if n * out_size > LINEAR_LIMIT:
            raise NotLowered(f"{primitive.name}: a {n} x {out_size} linear map is more than "
                             "a compiled tape takes apart")
        cols, rows, weights = linear_matrix(primitive, i, len(args), in_shape, out_shape,
                                            residuals, params)
        if not len(cols):
            continue
        picked = builder.gather(source, cols, (len(cols),), primitive)
        if not np.all(weights == 1.0):
            picked = builder(PRIMITIVES["multiply"], picked, builder.constant(weights))
        parts.append(builder.scatter(picked, rows, out_shape, primitive, part=True))
    # the constant part: the primitive with the traced arguments at -0.0, the sum's
    # identity (where a copy of a traced element lands it adds nothing, so a -0.0 stays)
    constants = [builder.data[a].reshape(builder.shapes[a]) if a in builder.data else
                 recorded[a] if a in recorded else np.full(builder.shapes[a], -0.0)
                 for a in args]
    rest = np.asarray(primitive.impl(*constants, **params), dtype=np.float64)
    if not np.all((rest == 0) & np.signbit(rest)) or not parts:
        parts.append(builder.constant(np.broadcast_to(rest, out_shape)))
    total = parts[0]
    for part in parts[1:]:
        total = builder(PRIMITIVES["add"], total, part)
    return total


def _lower_entry(builder: Builder, primitive, params, args, residuals, out_shape) -> int:
    how = primitive.lowering
    if how == "elementwise" and not params:                   # the common case first
        return builder.elementwise(primitive, args, tuple(out_shape))
    if how is None and primitive.residual_form == "avals":    # a linear primitive
        return _lower_linear(builder, primitive, params, args, residuals, out_shape)
    if how is None:
        raise NotLowered(f"{primitive.name} has no lowering yet")
    if callable(how):
        return how(builder, args, **params)
    if how == "elementwise":
        if params:
            raise NotLowered(f"{primitive.name} with parameters {sorted(params)}")
        return builder.elementwise(primitive, args, tuple(out_shape))
    in_shapes = [builder.shapes[a] for a in args]
    if how == "scatter":
        # each argument adds into the output at the positions its transpose rule reads
        # (sum: many elements into one; concatenate: each argument into its block)
        parts = []
        for i, source in enumerate(args):
            mapping = primitive.index_map(i, how, in_shapes, out_shape, params, residuals)
            parts.append(builder.scatter(source, mapping, tuple(out_shape), primitive,
                                         part=len(args) > 1))
        total = parts[0]
        for part in parts[1:]:
            total = builder(PRIMITIVES["add"], total, part)
        return total
    if how == "gather":
        try:
            mapping = primitive.index_map(0, how, in_shapes, out_shape, params, residuals)
        except ValueError as error:
            raise NotLowered(str(error)) from None
        return builder.gather(args[0], mapping, tuple(out_shape), primitive)
    raise NotLowered(f"{primitive.name}: unknown lowering {how!r}")


def program_of(builder: Builder, inputs, in_shapes, output: int, seconds: float) -> Program:
    """The `Program` of what `builder` emitted: its arena laid out (slots end to end), the
    `inputs` slots (of `in_shapes`) loaded on each call, `output` the result's slot;
    `seconds` is the build time its report gives (`lower` builds through here, and so do
    `ad.calibrate`'s probes)."""
    sizes = np.fromiter(map(math.prod, builder.shapes), np.int64, len(builder.shapes))
    offs = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(sizes[:-1], out=offs[1:])
    if offs[-1] + sizes[-1] >= 2 ** 31:
        raise NotLowered("the arena would exceed 2**31 elements")
    arena = np.zeros(int(sizes.sum()), dtype=np.float64)
    for slot, data in builder.data.items():
        arena[offs[slot]:offs[slot] + sizes[slot]] = data
    entries = builder.entries
    table = np.zeros((len(ENTRY_ROWS), len(entries)), dtype=np.int32)
    if entries:                                  # the columns at once, not entry by entry
        columns = list(zip(*entries))
        table[:5] = columns[:5]
        lengths = np.array([0 if m is None else len(m) for m in columns[5]])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        table[5] = np.where(lengths > 0, starts, columns[7])
        traced = np.array(builder.traced + [False], dtype=np.int32)   # [-1]: no argument
        # argument i's derivative flows where it is traced and so is the result (not
        # through stop_gradient's copy, nor a comparison)
        table[6] = (traced[table[1]] | traced[table[2]] << 1 | traced[table[3]] << 2) * \
            traced[table[4]]
        if builder.round32:
            table[6, builder.round32] |= ROUND32
        table[_PRIMITIVE_ROW] = columns[6]
    mapped = [m for m in columns[5] if m is not None] if entries else []
    maps = np.concatenate(mapped).astype(np.int32) if mapped else np.zeros(1, np.int32)
    return Program(table, offs.astype(np.int32), sizes.astype(np.int32), maps, arena,
                   list(inputs), list(in_shapes), output, seconds)


# ----------------------------------------------------------------------------- grad, compiled
class Replay:
    """One signature's compiled program, and where the differentiated arguments' leaves
    are among the traced ones: calling it gives value_and_grad, `jacobian` the Jacobian."""

    __slots__ = ("program", "traced", "wanted", "dtypes", "structures", "single", "plain",
                 "all_traced", "keys", "recipe", "paths", "trials")

    def __init__(self, program: Program, traced: list[int], wanted: list[int], dtypes,
                 structures, single: bool) -> None:
        self.program = program
        self.traced = traced          # flat leaf index of each program input
        self.wanted = wanted          # program input index of each differentiated leaf
        self.dtypes = dtypes          # their dtypes (gradients take the input's dtype)
        self.structures = structures
        self.single = single
        self.plain = all(count == 1 and structure.is_leaf() for structure, count in structures)
        self.all_traced = traced == list(range(len(traced)))
        self.keys: tuple = ()         # the signature's keys in CompiledGrad.replays
        self.recipe: tuple = ()       # what records the signature again
        self.paths: list = [self]     # every recorded path of the signature, newest first
        #: A close call against the interpreted engine (predicted within SETTLE_WITHIN):
        #: the (compiled, interpreted) seconds of the calls timed so far, None once settled.
        self.trials: list | None = None

    def inputs(self, leaves):
        """The program's inputs among the flat leaves."""
        return leaves if self.all_traced and len(leaves) == len(self.traced) else \
            [leaves[i] for i in self.traced]

    def __call__(self, leaves):
        value, adjoints = self.program.value_and_grad(self.inputs(leaves))
        if self.program.out_dtype != value.dtype:
            value = value.astype(self.program.out_dtype)
        grads = []
        for k, dtype in zip(self.wanted, self.dtypes):
            g = adjoints[k]
            if g.dtype != dtype:
                g = g.astype(dtype)
            grads.append(g[()] if g.ndim == 0 else g)
        return value, self._group(grads)

    def jacobian(self, leaves, mode: str, plan: BlockPlan):
        """The Jacobian by `mode` ("forward", "reverse") in `plan`'s blocks, grouped like
        the arguments."""
        _, pieces = self.program.jacobian(self.inputs(leaves), mode, plan)
        return self.grouped(pieces, mode)

    def grouped(self, pieces, mode: str = "reverse"):
        """Per-input Jacobian blocks (`Program.assemble`) in the interpreted engine's dtypes
        and the inputs' trees: reverse mode's cotangents take the input's dtype, forward
        mode's tangents the output's promoted with it (a float32 input of a float64 output
        gives a float64 block, as interpreted jacfwd)."""
        blocks = []
        for k, dtype in zip(self.wanted, self.dtypes):
            if mode == "forward":
                dtype = np.result_type(dtype, self.program.out_dtype)
            block = pieces[k]
            blocks.append(block.astype(dtype, copy=False) if block.dtype != dtype else block)
        return self._group([b[()] if b.ndim == 0 else b for b in blocks])

    def _group(self, leaves):
        if self.plain:            # every differentiated argument is one array
            return leaves[0] if self.single else tuple(leaves)
        grouped, position = [], 0
        for structure, count in self.structures:
            grouped.append(tree.unflatten(structure, leaves[position:position + count]))
            position += count
        return grouped[0] if self.single else tuple(grouped)


def _traced(leaf) -> bool:
    """Whether a leaf is an input of the compiled program: floating-point values (arrays,
    NumPy and Python floats). Integers and booleans are part of the signature instead."""
    if isinstance(leaf, float):
        return True
    return isinstance(leaf, (np.ndarray, np.floating)) and leaf.dtype.kind == "f"


def hot_key(x) -> object:
    """`CompiledGrad.hot`'s key of a lone argument: its shape for a native float64 array
    (the common case: the cheapest key), (shape, dtype letter) for another array, `float`
    for a Python float."""
    if type(x) is float:
        return float
    return x.shape if x.dtype is _FLOAT64 else (x.shape, x.dtype.char)


@dataclass
class CompiledGrad:
    """value_and_grad(f) with compiled tapes: per input signature (and argnums), f is
    recorded once and lowered; later calls replay the `Program`. A signature whose recording
    does not lower runs the interpreted engine on every call; `reports` says why,
    `recordings` counts the recordings made (`waited` the calls that ran interpreted while
    the interpreter compiled, the first time on a machine: see `interpreter`). A replay
    whose guard fails (the program takes another path at these inputs) replays another
    recorded path of the signature, or records this one (`guard_failures` counts them; up
    to `MAX_PATHS` are kept), or with `strict` raises `ad.GuardError`."""

    f: Callable
    #: "grad" (a scalar output: value_and_grad) or "jacobian" (one array output).
    kind: str = "grad"
    strict: bool = False
    #: Compile every signature that lowers, even where the interpreted engine is predicted
    #: faster (compile="always"; see `slower`).
    always: bool = False
    #: The Jacobian's block size the user asked for (None: the planner's): what `slower`
    #: prices the compiled Jacobian with, as it will run.
    chunk_size: int | None = None
    replays: dict = field(default_factory=dict)
    reports: dict = field(default_factory=dict)
    calls: int = 0
    recordings: int = 0
    guard_failures: int = 0
    #: Calls run interpreted while the interpreter compiled in the background.
    waited: int = 0
    #: Per `hot_key` of a lone float array argument differentiated as argnums=0 (or a
    #: Python float): its replay as one function of the array (`value_and_grad`'s fast
    #: path; see `hot_call`).
    hot: dict = field(default_factory=dict)
    #: A signature's keys in `replays` (its own, and the plain-arguments one).
    aliases: dict = field(default_factory=dict)
    #: Signatures dropped (the oldest first) to keep at most MAX_SIGNATURES.
    evicted: int = 0
    MAX_PATHS = 8
    #: Signatures kept at once: an argument read by value (an int, a static one) makes a
    #: new signature per value, and a loop over it must not grow the cache without end.
    MAX_SIGNATURES = 64

    @staticmethod
    def plain_key(argnums: tuple, args: Sequence[np.ndarray], single: bool = True) -> tuple:
        """The `replays` key of a call with float arrays and Python floats only, as
        positional arguments (a float's signature is a 0-d float64 array's, as in the
        general key); `single`: argnums was an int (the result is not a tuple)."""
        return (argnums, single, len(args), *[((), "d") if type(a) is float else
                                              (a.shape, a.dtype.char) for a in args])

    def lookup(self, args, kwargs, argnums: tuple, single: bool, check: Callable):
        """(the signature's Replay or None, the flat leaves of (args, kwargs)); `check()`
        validates the differentiated arguments and gives their structures (called once per
        signature, when it is recorded)."""
        if inside_transform():     # another transform's values may reach f unseen
            return None, tree.flatten((args, kwargs))[0]     # (a closure, a global)
        plain = not kwargs and all(type(a) is float or (type(a) is np.ndarray and
                                                        a.dtype.kind == "f") for a in args)
        if plain:                    # the common case: float arrays and floats only
            plain_key = self.plain_key(argnums, args, single)
            replay = self.replays.get(plain_key)
            if replay is not None:
                if self.kind == "grad" and argnums == (0,) and single and len(args) == 1:
                    self.hot[hot_key(args[0])] = self.hot_call(replay)
                return replay, args
        leaves, structure = tree.flatten((args, kwargs))
        key = [argnums, single, structure]
        for leaf in leaves:
            if isinstance(leaf, Tracer):
                return None, leaves     # inside another transform: the engines nest
            if type(leaf) is float:      # np.shape and np.result_type cost microseconds
                key.append(((), "<f8"))
            elif _traced(leaf):
                key.append((leaf.shape, leaf.dtype.str))
            elif isinstance(leaf, (np.ndarray, np.generic, int)) and \
                    np.result_type(leaf).kind in "iub":
                # integers and booleans (indices, counts, masks) are part of the signature
                # by value: the recording bakes them in, as the interpreted engine does
                array = np.asarray(leaf)
                key.append(("value", array.dtype.str, array.shape, array.tobytes()))
            else:
                key.append(("static", leaf))   # part of the signature: must be hashable
        try:
            key = tuple(key)
            replay = self.replays[key]
            return replay, leaves
        except TypeError:
            return None, leaves          # an unhashable static argument: not compiled
        except KeyError:
            pass
        if interpreter(wait=False) is None:
            # compiling in the background (see `interpreter`): this call runs interpreted,
            # and a later one records the signature
            self.reports[key] = ("runs interpreted while the interpreter compiles in the "
                                 "background (the first time on this machine)")
            self.waited += 1
            return None, leaves
        starts = np.cumsum([0] + [len(tree.flatten(a)[0]) for a in args]).tolist()
        recipe = (structure, argnums, check(), single, starts)
        if len(self.reports) >= self.MAX_SIGNATURES:
            self._evict()
        replay = self._record(key, leaves, *recipe)
        self.replays[key] = replay
        if replay is not None:
            replay.keys = self.aliases[key] = (key, plain_key) if plain else (key,)
            replay.recipe = recipe
            for k in replay.keys:
                self.replays[k] = replay
        return replay, leaves

    def retry(self, failed: Replay, leaves, action: Callable, failure: GuardFailed):
        """After `failed`'s guard failed at these leaves: (the replay that holds, the result
        of `action` on it), trying the signature's other recorded paths, then recording
        this one; (None, None) when the new recording does not lower (this call then runs
        interpreted)."""
        self.guard_failures += 1
        if self.strict:
            raise GuardError(
                f"compile='strict' ({getattr(self.f, '__name__', repr(self.f))}): the compiled "
                f"tape's guard failed: {failure.why}. The program takes another path at these "
                "inputs than where it was recorded; compile=True records that path too")
        paths = failed.paths
        for other in paths:
            if other is failed:
                continue
            try:
                result = action(other)
            except GuardFailed:
                continue
            self._prefer(other)
            return other, result
        key = failed.keys[0]
        replay = self._record(key, leaves, *failed.recipe)
        if replay is None:        # the recorded paths still replay; this one cannot
            self.reports[key] = (f"{failed.program.report}; another path "
                                 f"{self.reports[key]}")
            return None, None
        replay.keys, replay.recipe, replay.paths = failed.keys, failed.recipe, paths
        try:
            result = action(replay)
        except GuardFailed as again:     # never at the inputs it was recorded at (see
            self.reports[key] = (        # settle_guards); if so, this call runs interpreted
                f"{failed.program.report}; another path fails its own guard "
                f"({again.why}) and runs interpreted")
            return None, None
        paths.insert(0, replay)
        del paths[self.MAX_PATHS:]
        self._prefer(replay)
        return replay, result

    def _evict(self) -> None:
        """Drop the oldest signature (its replays under every key, its report): `reports`
        holds one entry per signature, in the order they were recorded."""
        try:
            oldest = next(iter(self.reports))
            del self.reports[oldest]
        except (StopIteration, RuntimeError, KeyError):   # another thread evicted it
            return
        for key in self.aliases.pop(oldest, (oldest,)):
            self.replays.pop(key, None)
        self.hot.clear()                # made again from the replays kept
        self.evicted += 1

    def _prefer(self, replay: Replay) -> None:
        for key in replay.keys:
            self.replays[key] = replay
        self.hot.clear()                # made again from the preferred paths

    def hot_call(self, replay: Replay):
        """`replay` as one function of a lone float array argument giving (value,
        gradient): the interpreter's one-call gradient with nothing around it but the
        casts (None, so the general path runs, when the signature is not that)."""
        if self.kind != "grad" or not (replay.plain and replay.single and replay.all_traced
                                       and replay.wanted == [0]):
            return None
        program = replay.program
        return program.gradient_of(
            tuple(program.in_shapes[0]),
            None if program.out_dtype == np.float64 else program.out_dtype.type,
            None if replay.dtypes[0] == np.float64 else replay.dtypes[0])

    def slower(self, program: Program, tape: Tape, input_ids, output_id: int
               ) -> tuple[str, bool]:
        """(why the compiled tape would not pay, or "" when it does; whether that is a
        close call): the cost model predicts it more than SETTLE_WITHIN times slower than
        the interpreted engine on this recording (a large matrix product taken apart, a
        dense linear map: NumPy's vectorised loops beat the interpreter's), comparing one
        gradient for "grad", the faster Jacobian mode for "jacobian". Within SETTLE_WITHIN
        either way the prediction cannot tell them apart: a compiled Jacobian then times
        both on its first calls and keeps the faster (`settle`). `always` skips this."""
        if self.always:
            return "", False
        from ad.cost.calibration import current
        from ad.cost.counts import _seconds, predict, tape_counts
        # the interpreted engine pays at least its per-entry cost: far below that, no need
        # to count the tape (the common case, cheap), nor for a gradient to price the
        # compiled one op by op (a bound from the dearest op's price will do)
        e = current().engine
        per_entry = e["record_entry"] + e["sweep_entry"]
        if self.kind != "grad":
            per_entry = min(per_entry, e["forward_entry"])
        floor = len(tape) * per_entry
        if self.kind == "grad" and program.grad_bound() * SETTLE_WITHIN <= floor:
            return "", False
        plan = None if self.kind == "grad" else jacobian_plan(program, self.chunk_size)
        compiled = program.predict_grad() if plan is None else min(
            program.predict_jacobian(m, plan) for m in ("forward", "reverse"))
        if compiled * SETTLE_WITHIN <= floor:
            return "", False
        sizes = [math.prod(tape.shapes[i]) for i in input_ids]
        report = predict(tape_counts(tape, list(input_ids), sizes, [output_id]))
        interpreted = report.vjp.seconds if self.kind == "grad" else min(
            report.forward.seconds, report.reverse.seconds)
        if compiled <= interpreted * SETTLE_WITHIN:
            return "", compiled * SETTLE_WITHIN > interpreted
        mode = "reverse" if self.kind == "grad" else jacobian_choice(program, plan)
        ops = ", ".join(op for op, _ in program.predicted_terms(mode, 1, how_many=2))
        return (f"the compiled tape ({program.n_ops} ops, mostly {ops}) is predicted slower "
                f"than the interpreted engine ({_seconds(compiled)} against "
                f"{_seconds(interpreted)}); compile='always' compiles it anyway"), False

    def settle(self, replay: Replay, compiled: float, interpreted: float) -> None:
        """Note one call's times of a close call's two ways (see `slower`); after
        SETTLE_TRIALS of each, the signature keeps the faster: its compiled paths, or the
        interpreted engine (its report says so)."""
        trials = replay.trials           # another thread may have settled it meanwhile
        if trials is None:
            return
        trials.append((compiled, interpreted))
        if len(trials) < SETTLE_TRIALS:
            return
        best_compiled, best_interpreted = (min(t) for t in zip(*trials))
        replay.trials = None
        if best_interpreted < best_compiled:
            from ad.cost.counts import _seconds
            for key in replay.keys:
                self.replays[key] = None
            self.reports[replay.keys[0]] = (
                f"runs interpreted: a close call settled by measurement (the compiled tape "
                f"{_seconds(best_compiled)}, the interpreted engine "
                f"{_seconds(best_interpreted)}, best of {SETTLE_TRIALS} calls)")

    def checked(self, replay: Replay, leaves) -> Replay | None:
        """`replay` once its guards hold at these leaves (one value pass), else the path
        that does (see `retry`)."""
        try:
            replay.program.values(replay.inputs(leaves))
            return replay
        except GuardFailed as failure:
            return self.retry(replay, leaves,
                              lambda r: r.program.values(r.inputs(leaves)), failure)[0]

    def _record(self, key, leaves, structure, argnums, structures, single, starts):
        self.recordings += 1
        if any(type(leaf) is float for leaf in leaves) and any(
                isinstance(leaf, (np.ndarray, np.floating)) and leaf.dtype == np.float32
                for leaf in leaves):
            # the tape's inputs are arrays: a Python float would be a strong float64 one,
            # where NumPy takes it in float32 beside float32 arrays (weakly typed)
            self.reports[key] = ("runs interpreted: a Python float beside float32 arrays "
                                 "(NumPy takes it in float32; pass np.float32 to compile)")
            return None
        level = CompilingLevel()
        traced = [i for i, leaf in enumerate(leaves) if _traced(leaf)]
        try:
            with entered(level):
                wrapped = list(leaves)
                for i in traced:
                    wrapped[i] = level.new_input(np.asarray(leaves[i]))
                call_args, call_kwargs = tree.unflatten(structure, wrapped)
                try:
                    out = self.f(*call_args, **call_kwargs)
                except Exception as error:  # noqa: BLE001 - the interpreted run decides
                    # every float argument is traced here, where the interpreted engine
                    # takes the non-differentiated ones as plain numbers (math.exp(s),
                    # int(n)): that signature runs interpreted, which also re-raises a
                    # genuine error of f
                    raise NotLowered(f"f fails on traced float arguments "
                                     f"({type(error).__name__}: {error})") from error
            if level.value_dependent is not None:
                raise NotLowered(level.value_dependent)
            if not (type(out) is TapeValue and out._level is level):
                raise NotLowered("the output is not one traced array")
            if self.kind == "grad" and np.shape(out.primal) != ():
                raise NotLowered(f"the output has shape {np.shape(out.primal)}")
            program = lower(level.tape, [wrapped[i].index for i in traced], out.index,
                            level.guards)
            program.settle_guards([np.asarray(leaves[i]) for i in traced])
            slower, close = self.slower(program, level.tape,
                                        [wrapped[i].index for i in traced], out.index)
            if slower:
                raise NotLowered(slower)
        except NotLowered as why:
            self.reports[key] = f"runs interpreted: {why}"
            return None
        finally:
            level.tape.clear()
        position = {leaf: k for k, leaf in enumerate(traced)}
        wanted, dtypes = [], []
        for a in argnums:
            for i in range(starts[a], starts[a + 1]):
                wanted.append(position[i])
                dtypes.append(float_dtype(leaves[i]))   # the interpreted engine's dtype
        self.reports[key] = program.report
        replay = Replay(program, traced, wanted, dtypes, structures, single)
        replay.trials = [] if close and self.kind == "jacobian" else None
        return replay


# ----------------------------------------------------------------------------- predicted costs
def jacobian_choice(program: Program, plan: BlockPlan, table=None) -> str:
    """The mode `jacobian(compile=True)` runs: the one whose compiled Jacobian is
    predicted faster (forward on a tie)."""
    forward = program.predict_jacobian("forward", plan, table)
    return "forward" if forward <= program.predict_jacobian("reverse", plan, table) else \
        "reverse"


def jacobian_plan(program: Program, chunk_size: int | None = None) -> BlockPlan:
    """The blocks a compiled Jacobian of `program` runs in (each direction carries the
    whole arena through the interpreter)."""
    from ad.tape import plan_blocks
    return plan_blocks(program.in_shapes, [program.out_shape], chunk_size,
                       carried=len(program.arena))


def compiled_costs(f: Callable, args: tuple, kwargs: dict, argnums, chunk_size, report
                   ) -> tuple[tuple, str]:
    """For `cost_report(compile=True)`: the compiled tape's `ModeCost`s (one VJP, the
    Jacobian by forward and by reverse mode, priced by the report's table; flops are the
    interpreted strategies') and a sentence on the choice, or () and why f does not
    lower."""
    from ad.cost.counts import ModeCost, _seconds
    from ad.recording import flatten_inputs, normalize_argnums
    nums = normalize_argnums(argnums, len(args), "cost_report", f)
    compiled = CompiledGrad(f, kind="jacobian", always=True)   # priced, even if slower
    replay, _ = compiled.lookup(args, kwargs, nums, isinstance(argnums, int),
                                lambda: flatten_inputs(args, nums, "cost_report", f)[1])
    if replay is None:
        reasons = list(compiled.reports.values())
        return (), reasons[0] if reasons else "f's arguments cannot be traced"
    program, table = replay.program, report.table
    plan = jacobian_plan(program, chunk_size)
    rows = []
    for label, mode, flops in (("one VJP", "reverse", report.vjp.flops),
                               ("Jacobian by forward mode", "forward", report.forward.flops),
                               ("Jacobian by reverse mode", "reverse", report.reverse.flops)):
        if label == "one VJP":
            seconds, passes, directions = program.predict_grad(table), 1, 1
        else:
            seconds = program.predict_jacobian(mode, plan, table)
            blocks = plan.forward_blocks if mode == "forward" else plan.reverse_blocks
            passes, directions = len(blocks), sum(b - a for a, b in blocks)
        width = max(directions // max(passes, 1), 1)
        run = program.predict_run(mode, width, table) * passes
        terms = [(f"compiled {op}", t * passes) for op, t in
                 program.predicted_terms(mode, width, table)]
        terms.append(("calls, blocks and assembly", seconds - run))
        rows.append(ModeCost(f"compiled {label}", directions, passes, flops, seconds,
                             seconds - run, 8.0 * len(program.arena) * (1 + width),
                             8.0 * len(program.arena) * (1 + width),
                             tuple(sorted(terms, key=lambda t: -t[1]))))
    choice = jacobian_choice(program, plan, table)
    fastest = min(rows[1:], key=lambda r: r.seconds)
    return tuple(rows), (f"{program.report.removeprefix('compiled tape: ')}; "
                         f"jacobian(compile=True) runs {choice} mode "
                         f"({_seconds(fastest.seconds)} predicted)")


def _register() -> None:
    from ad.cost import counts
    if compiled_costs not in counts.COMPILED_PRICER:
        counts.COMPILED_PRICER.append(compiled_costs)


_register()


__all__ = ["lower", "Program", "Builder", "program_of", "RUN_MODES", "NotLowered",
           "GuardFailed", "CompilingLevel", "CompiledGrad", "Replay", "interpreter",
           "jacobian_choice", "jacobian_plan", "compiled_costs", "GATHER", "SCATTER",
           "FIRST_ELEMENTWISE"]
