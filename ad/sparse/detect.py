"""Sparsity detection: which outputs depend on which inputs, by index-set propagation.

Each traced value gets, per element, the set of input elements it depends on, kept as one
sparse row per element (CSR index arrays, never Python sets). A walk over the tape's one
iterator (`Tape.entries`) gives each entry's result rows from its arguments' rows and the
primitive's declared dependency structure (`Primitive.dependency`, declared in the
catalogue beside its rules): "elementwise" (broadcast diagonal), "gather" / "scatter" (the
index maps of `Primitive.index_map`, which compiled tapes use too), "linear" (the
primitive's own matrix, `ad.reverse.linear_matrix`, as compiled tapes read it) or a
callable giving the pairs (matmul: the product pattern; reductions: the reduced
elements; linalg: dense within each matrix). A primitive without a declaration stops
detection with a named error: the pattern is never silently smaller than the truth.

Two variants:

* global (the default): valid for every input. A Python branch on a traced value
  (`bool()`: an `if` or `while`) and the program's own `ad.primal_value` (a plain number
  whose use no recording sees) are refused with `SparsityError`, and so is every other
  road from a value to a Python number: an element of a mask or of sign(x), what NumPy's
  functions make of a mask (a count, a truth value), count_nonzero, searchsorted, isclose,
  allclose and array_equal of traced values, a roll by a shift from the values (a mask
  the program itself converts with np.asarray is plain NumPy: out of sight, like
  `ad.primal_value`, but unrefused); an index map or constant computed from the inputs by
  ad (a mask, `nonzero`, `argmax`) makes the entries that take
  one depend densely on their traced arguments (any element might be picked). A program
  whose output shape follows its values (`x[x > 0]`) is detected again at each call whose
  output shape differs (`Detected.value_dependent`).
* local (`local=True`): valid at the given inputs only: branches follow the values, index
  maps and masks are used as they are.

Hessian patterns (which input pairs interact) come from the same walk over the recording of
the gradient (its rules are catalogue operations, so the gradient is itself a program).
The walk's union kernel is compiled with Numba.

Imports numpy, numba, scipy (optional: `pip install admodes[sparse]`), `ad.errors`,
`ad.primitive`, `ad.tape`, `ad.reverse` and `ad.recording`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numba
import numpy as np

from ad.errors import ADError
from ad.primitive import PLAIN_READ, USER_READ
from ad.recording import Recording, check_callable, name_of, normalize_argnums
from ad.reverse import ReverseLevel, TapeValue, linear_matrix
from ad.tape import CONSTANT


class SparsityError(ADError, ValueError):
    """Sparsity detection cannot give a pattern that holds (a branch on values in global
    mode, a primitive without a dependency declaration); the message says which."""


def require_scipy():
    """SciPy's sparse module, or a clear error naming the extra that installs it."""
    try:
        import scipy.sparse as sparse
    except ImportError:   # pragma: no cover - SciPy is in the test extra
        raise ImportError("sparse Jacobians need SciPy: pip install admodes[sparse]") from None
    return sparse


# ----------------------------------------------------------------------------- the recording
class DetectingLevel(ReverseLevel):
    """A reverse level that records for detection: in global (`strict`) mode a branch on a
    traced value is refused, and it notes whether any plain value was computed from the
    inputs (by a primitive without derivative, a mask, a rounding, or a value read)."""

    __slots__ = ("strict", "value_dependent")

    def __init__(self, strict: bool) -> None:
        super().__init__()
        self.strict = strict
        self.value_dependent = False

    def value_read(self, why: str, value=None) -> None:
        self.value_dependent = True              # what comes of the number is structure
        if not self.strict:
            return
        if why.startswith("bool()"):             # a Python branch: the path itself
            raise SparsityError(
                f"global sparsity detection: {why}: the program branches on its values. A "
                "global pattern must hold for every input; use sparse='local' "
                "(ad.sparsity(..., local=True)) for the pattern at these inputs")
        if why in (USER_READ, PLAIN_READ):   # a plain number: an index or a branch, unseen
            raise SparsityError(
                f"global sparsity detection: {why}: what the program computes from the "
                "number (an index, a branch) is out of the recording's sight, so no "
                "pattern can be promised for every input; use sparse='local' "
                "(ad.sparsity(..., local=True)) for the pattern at these inputs")

    def process(self, primitive, args, params):
        # an operation's own values are plain arrays: only the program's use of a
        # FromValues as a Python number is refused (NumPy stores a 0-d one into an array
        # element by float())
        args = [a.view(np.ndarray) if type(a) is FromValues else a for a in args]
        if primitive.differentiable or not any(
                type(a) is TapeValue and a._level is self for a in args):
            return super().process(primitive, args, params)
        self.value_dependent = True
        out = super().process(primitive, args, params)
        if self.strict and primitive.n_outputs == 1 and isinstance(out, (np.ndarray, np.generic)):
            out = np.asarray(out).view(FromValues)   # so that an `if` on it is refused
        return out


class FromValues(np.ndarray):
    """A comparison, mask or rounding of traced values in global detection: using it as a
    Python truth value or number (an `if`, `while`, `int()`) would make the recorded path
    depend on the inputs, so it raises `SparsityError`; as an array it works as usual."""

    def _refuse(self, *args, **kwargs):
        raise SparsityError(
            "global sparsity detection: the program branches on a value computed from its "
            "inputs (an if or while on a comparison, or int()/float() of one). A global "
            "pattern must hold for every input; use sparse='local' (ad.sparsity(..., "
            "local=True)) for the pattern at these inputs")

    __bool__ = __int__ = __float__ = __index__ = item = tolist = _refuse

    # an element, an iteration's elements and what NumPy's functions make of it (a count,
    # a truth value, a comparison) stay FromValues: a plain NumPy number would slip past
    def __getitem__(self, index):
        return _from_values(np.ndarray.__getitem__(self, index))

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __array_function__(self, func, types, args, kwargs):
        plain = [np.ndarray if t is FromValues else t for t in types]
        result = super().__array_function__(func, tuple(plain), args, kwargs)
        # a shape is no value computed from the inputs (and must stay a tuple of ints)
        return result if func in _STRUCTURAL else _from_values(result)

    def any(self, *args, **kwargs):
        return np.asarray(np.ndarray.any(self, *args, **kwargs)).view(FromValues)

    def all(self, *args, **kwargs):
        return np.asarray(np.ndarray.all(self, *args, **kwargs)).view(FromValues)


#: NumPy functions whose result describes an array's layout, not its values.
_STRUCTURAL = frozenset({np.shape, np.ndim, np.size})


def _from_values(result):
    """NumPy's result from a FromValues, kept one: arrays as views, numbers (a NumPy
    scalar, a Python bool or int) as 0-d ones, tuples and lists element by element."""
    if isinstance(result, (tuple, list)):
        return type(result)(_from_values(r) for r in result)
    if isinstance(result, np.ndarray):
        return result if type(result) is FromValues else result.view(FromValues)
    if isinstance(result, (np.generic, bool, int, float)):
        return np.asarray(result).view(FromValues)
    return result


# ----------------------------------------------------------------------------- rows of index sets
@numba.njit(cache=True)
def _union_rows(out_rows, pair_ptr, pair_src, src_ptr, src_idx, n_cols):  # pragma: no cover
    """Row r of the result: the union of source rows pair_src[pair_ptr[r]:pair_ptr[r+1]]
    (a marker per column, so each row costs the lengths of its sources)."""
    bound = 0
    for k in range(len(pair_src)):
        s = pair_src[k]
        bound += src_ptr[s + 1] - src_ptr[s]
    indices = np.empty(bound, np.int64)
    indptr = np.empty(out_rows + 1, np.int64)
    mark = np.full(n_cols, -1, np.int64)
    fill = 0
    indptr[0] = 0
    for r in range(out_rows):
        for k in range(pair_ptr[r], pair_ptr[r + 1]):
            s = pair_src[k]
            for q in range(src_ptr[s], src_ptr[s + 1]):
                c = src_idx[q]
                if mark[c] != r:
                    mark[c] = r
                    indices[fill] = c
                    fill += 1
        indptr[r + 1] = fill
    return indptr, indices[:fill].copy()


@dataclass(frozen=True)
class Rows:
    """Per element of a value, the input elements it depends on: `indices[indptr[e]:
    indptr[e + 1]]` (unsorted within a row until the end)."""

    indptr: np.ndarray
    indices: np.ndarray

    @property
    def size(self) -> int:
        return len(self.indptr) - 1


def _identity_rows(offset: int, size: int) -> Rows:
    return Rows(np.arange(size + 1, dtype=np.int64), np.arange(offset, offset + size,
                                                               dtype=np.int64))


def _empty_rows(size: int) -> Rows:
    return Rows(np.zeros(size + 1, dtype=np.int64), np.zeros(0, dtype=np.int64))


# ----------------------------------------------------------------------------- dependency maps
def _elementwise_map(in_shape, out_shape) -> np.ndarray:
    size = math.prod(in_shape)
    return np.broadcast_to(np.arange(size).reshape(in_shape), tuple(out_shape)).ravel()


def _reads_values(params: dict, constants) -> bool:
    """Whether an entry's structure may come from values: index arrays in its parameters,
    or array constants. A 0-d array counts too: `x[argmax(x)]`'s index is one (a constant
    index is a Python or NumPy integer), and it picks a different element at other inputs."""
    def is_array(v):
        if isinstance(v, (tuple, list)):
            return any(is_array(u) for u in v)
        return isinstance(v, np.ndarray)
    return any(is_array(v) for v in params.values()) or (
        constants is not None and any(is_array(c) for c in constants))


def _dependency(primitive, i, in_shapes, out_shapes, params, residuals, n_args):
    """Per result of the entry, argument i's pairs: ("map", source element per result
    element) or ("pairs", result elements, argument elements)."""
    how = primitive.dependency
    if how is None:
        raise SparsityError(
            f"primitive '{primitive.name}' declares no dependency structure, so sparsity "
            "detection cannot say which of its results depend on which arguments; declare "
            "one with dependency= (ad.defprimitive / ad.deflinear), e.g. 'elementwise' or a "
            "callable returning the (result, argument) index pairs")
    if how == "elementwise":   # None: the identity map (same shapes)
        return [("map", None if tuple(in_shapes[i]) == tuple(shape) else
                 _elementwise_map(in_shapes[i], shape)) for shape in out_shapes]
    if how == "gather":
        mapping = primitive.index_map(i, "gather", in_shapes, out_shapes[0], params, residuals)
        return [("map", np.asarray(mapping).ravel())]
    if how == "scatter":
        mapping = primitive.index_map(i, "scatter", in_shapes, out_shapes[0], params, residuals)
        return [("pairs", np.asarray(mapping).ravel(), np.arange(math.prod(in_shapes[i])))]
    if how == "linear":
        cols, rows, _ = linear_matrix(primitive, i, n_args, tuple(in_shapes[i]),
                                      tuple(out_shapes[0]), residuals, params)
        return [("pairs", rows, cols)]
    return [("pairs", np.asarray(r, np.int64).ravel(), np.asarray(c, np.int64).ravel())
            for r, c in how(i, [tuple(s) for s in in_shapes], [tuple(s) for s in out_shapes],
                            params)]


def _combine(parts: Sequence[tuple[Rows, tuple]], dense: Sequence[Rows], out_size: int,
             n_cols: int) -> Rows:
    """The result's rows: for each (source rows, pairs) the union of the source rows each
    result element takes, and every row of each `dense` source in every result element."""
    if len(parts) == 1 and not dense:
        source, (form, *arrays) = parts[0]
        if form == "map" and arrays[0] is None:
            return source                       # the identity map: the same rows
    if not dense and all(form == "map" for _, (form, *_) in parts):
        return _combine_maps(parts, out_size, n_cols)
    ptrs, idxs, rows_all, srcs_all, offset, filled = [], [], [], [], 0, 0
    for source, (form, *arrays) in parts:
        if form == "map":
            rows = np.arange(out_size)
            cols = rows if arrays[0] is None else arrays[0]
        else:
            rows, cols = arrays
        ptrs.append(source.indptr[:-1] + filled)
        idxs.append(source.indices)
        filled += len(source.indices)
        rows_all.append(rows)
        srcs_all.append(np.asarray(cols, np.int64) + offset)
        offset += source.size
    for source in dense:                        # one extra source row: the union of all rows
        ptrs.append(np.array([filled]))
        idxs.append(np.unique(source.indices))
        filled += len(idxs[-1])
        rows_all.append(np.arange(out_size))
        srcs_all.append(np.full(out_size, offset, np.int64))
        offset += 1
    src_ptr = np.concatenate(ptrs + [np.array([filled])]).astype(np.int64)
    src_idx = np.concatenate(idxs).astype(np.int64) if idxs else np.zeros(0, np.int64)
    rows = np.concatenate(rows_all).astype(np.int64)
    srcs = np.concatenate(srcs_all)
    if len(rows_all) > 1 or (len(rows) and np.any(np.diff(rows) < 0)):
        order = np.argsort(rows, kind="stable")
        rows, srcs = rows[order], srcs[order]
    pair_ptr = np.zeros(out_size + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=out_size), out=pair_ptr[1:])
    indptr, indices = _union_rows(out_size, pair_ptr, srcs, src_ptr, src_idx, n_cols)
    return Rows(indptr, indices)


def _combine_maps(parts, out_size: int, n_cols: int) -> Rows:
    """`_combine` when every part takes one source row per result element (elementwise,
    gathers): the k pairs of a result element are consecutive, so nothing is sorted."""
    if len(parts) == 1:
        source, (_, mapping) = parts[0]
        indptr, indices = _union_rows(out_size, np.arange(out_size + 1, dtype=np.int64),
                                      np.asarray(mapping, np.int64), source.indptr,
                                      source.indices, n_cols)
        return Rows(indptr, indices)
    columns, ptrs, idxs, offset, filled = [], [], [], 0, 0
    for source, (_, mapping) in parts:
        columns.append((np.arange(out_size) if mapping is None else
                        np.asarray(mapping, np.int64)) + offset)
        ptrs.append(source.indptr[:-1] + filled)
        idxs.append(source.indices)
        filled += len(source.indices)
        offset += source.size
    k = len(parts)
    src_ptr = np.concatenate(ptrs + [np.array([filled])]).astype(np.int64)
    indptr, indices = _union_rows(out_size, np.arange(0, k * (out_size + 1), k, dtype=np.int64),
                                  np.stack(columns, axis=1).ravel(), src_ptr,
                                  np.concatenate(idxs).astype(np.int64), n_cols)
    return Rows(indptr, indices)


def propagate(tape, input_ids: Sequence[int], output_ids: Sequence[int | None],
              out_sizes: Sequence[int], conservative: bool = False):
    """The dependency pattern of a recording: a boolean `scipy.sparse.csr_array` with one
    row per output element (output leaves in order, flattened) and one column per input
    element. `conservative` (global detection of a program that computed values from its
    inputs): entries whose structure comes from values depend densely on their arguments.
    """
    sparse = require_scipy()
    sizes = [math.prod(tape.shapes[i]) for i in input_ids]
    n_cols = sum(sizes)
    rows: dict[int, Rows] = {}
    offset = 0
    for index, size in zip(input_ids, sizes):
        rows[index] = _identity_rows(offset, size)
        offset += size
    wanted = [i for i in output_ids if i is not None]
    last = tape.last_reads(wanted)
    for position, (primitive, params, parents, constants, out, residuals) in enumerate(
            tape.entries()):
        traced = [(k, p) for k, p in enumerate(parents) if p != CONSTANT]
        outs = [out + k for k in range(primitive.n_outputs)]
        out_shapes = [tape.shapes[o] for o in outs]
        if not traced:
            for o, shape in zip(outs, out_shapes):
                rows[o] = _empty_rows(math.prod(shape))
            continue
        in_shapes = tape.in_shapes(parents, constants)
        by_value = (conservative and primitive.dependency != "elementwise"
                    and (not callable(primitive.dependency))
                    and _reads_values(params, constants))
        per_output: list[tuple[list, list]] = [([], []) for _ in outs]
        for k, parent in traced:
            if by_value:
                for parts, dense in per_output:
                    dense.append(rows[parent])
                continue
            maps = _dependency(primitive, k, in_shapes, out_shapes, params, residuals,
                               len(parents))
            for (parts, _), pairs in zip(per_output, maps):
                parts.append((rows[parent], pairs))
        for o, shape, (parts, dense) in zip(outs, out_shapes, per_output):
            rows[o] = _combine(parts, dense, math.prod(shape), n_cols)
        for _, parent in traced:                 # free what no later entry reads
            if last[parent] == position:
                rows.pop(parent, None)
    blocks = [rows[index] if index is not None else None for index in output_ids]
    return _stack(blocks, out_sizes, n_cols, sparse)


def _stack(blocks, out_sizes, n_cols, sparse):
    indptrs, indices, total = [np.zeros(1, np.int64)], [], 0
    for block, size in zip(blocks, out_sizes):
        if block is None:
            block = _empty_rows(size)
        indptrs.append(block.indptr[1:] + total)
        indices.append(block.indices)
        total += len(block.indices)
    indptr = np.concatenate(indptrs)
    data = np.ones(total, dtype=bool)
    pattern = sparse.csr_array((data, np.concatenate(indices) if indices else
                                np.zeros(0, np.int64), indptr),
                               shape=(len(indptr) - 1, n_cols))
    pattern.sort_indices()
    return pattern


# ----------------------------------------------------------------------------- the entry points
def gradient_of(f: Callable, argnums: tuple[int, ...], transform: str) -> Callable:
    """The gradient of a scalar f (flat leaves of the differentiated arguments), by one
    recording and one sweep: what a Hessian pattern is detected on and a sparse Hessian's
    tangents are pushed through."""
    def gradient(*args, **kwargs):
        recording = Recording(f, args, kwargs, argnums, False, transform)
        if len(recording.out_primals) != 1 or np.shape(recording.out_primals[0]) != ():
            raise SparsityError(f"{transform}({name_of(f)}): a Hessian needs a scalar "
                                f"function; it returned shapes "
                                f"{[np.shape(p) for p in recording.out_primals]}")
        seed = np.ones((), dtype=np.result_type(recording.out_primals[0]))
        return recording.pull([seed])
    return gradient



@dataclass
class Detected:
    """A detected pattern and what it was detected on: `pattern` (m x n, boolean CSR),
    the input and output leaf shapes, the recording (reusable for a first evaluation at
    the same inputs: a reverse recording) and whether it holds globally."""

    pattern: Any
    in_shapes: list
    out_shapes: list
    #: None once the first evaluation has used it (a signature's cache keeps no tape).
    recording: Recording | None
    local: bool
    hessian: bool
    #: A plain value was computed from the inputs (a mask, an index): the output shapes
    #: may differ at other inputs.
    value_dependent: bool = False
    #: The outputs' tree (what the recording's `out_structure` was).
    out_structure: Any = None


def detect(f: Callable, args: tuple, kwargs: dict, argnums: tuple[int, ...], *,
           local: bool = False, hessian: bool = False, transform: str = "sparsity") -> Detected:
    """Record `f` (or its gradient, for a Hessian pattern) on a detecting level and
    propagate index sets through the recording (see the module docstring)."""
    level = DetectingLevel(strict=not local)
    target = gradient_of(f, argnums, transform) if hessian else f
    recording = Recording(target, args, kwargs, argnums, False, transform, level=level)
    tape = level.tape
    out_shapes = [np.shape(p) for p in recording.out_primals]
    pattern = propagate(tape, recording.in_ids, recording.out_ids,
                        [math.prod(s) for s in out_shapes],
                        conservative=level.value_dependent and not local)
    if hessian:
        sparse = require_scipy()   # the gradient's Jacobian is symmetric: keep both halves
        pattern = sparse.csr_array(pattern + pattern.T)
        pattern.sort_indices()
    return Detected(pattern, [np.shape(x) for x in recording.in_primals], out_shapes,
                    recording, local, hessian, level.value_dependent, recording.out_structure)


def sparsity(f: Callable, *args, argnums: int | Sequence[int] = 0, hessian: bool = False,
             local: bool = False, **kwargs):
    """The sparsity pattern of f's Jacobian (or, with `hessian=True`, of the Hessian of a
    scalar f) at `args`: a boolean `scipy.sparse.csr_array` with a row per output element
    and a column per input element (leaves flattened in order). Global by default (it
    holds for every input; branching on values is refused); `local=True` gives the
    pattern at these inputs.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> ad.sparsity(lambda x: x[1:] * x[:-1], np.ones(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])
    """
    check_callable(f, "sparsity")
    nums = normalize_argnums(argnums, len(args), "sparsity", f)
    try:
        return detect(f, args, kwargs, nums, local=local, hessian=hessian).pattern
    except SparsityError as error:
        raise SparsityError(f"sparsity({name_of(f)}): {error}") from None


__all__ = ["sparsity", "detect", "propagate", "gradient_of", "Detected", "DetectingLevel",
           "FromValues",
           "SparsityError", "require_scipy"]
