"""Products and linear algebra: matmul, and the matrix functions with their standard rules.

`matmul` here takes arrays of two or more dimensions (ad.numpy promotes vectors), so
batch axes on tangents broadcast like NumPy's stacked matrices. Every linalg primitive
works on stacks of matrices (..., m, n); its rules are matrix expressions built from
matmul, solve and `ad.numpy` functions, so extra leading tangent axes broadcast the same
way and the rules differentiate again (Hessians).

A block of k directions costs one factorisation of each primal matrix and k products or
solves, never k factorisations: `solve` folds the block into right-hand-side columns (b's
stack broadcast to a's first), a rule solving against a wide block (2 n columns or more,
`_WIDE`) forms the inverse once and multiplies (LAPACK's solves are several times slower per
flop than a product), cholesky and qr reuse one inverse of their triangular factor for
both of their solves, and det/slogdet's JVP is tr(a^-1 t) = sum(a^-T * t), n^2 per direction.
tests/test_numpy_linalg.py checks blocks against one direction at a time, and counts the
LAPACK calls of a block.

Primitives with several outputs (eigh: w, V; svd: U, s, Vt; qr: Q, R) are declared with
`outputs=`: they return a tuple, their JVP rules return one tangent per output and their VJP
rules take one cotangent per output (ZERO where none arrived).

eigh, svd and pinv declare `vjp="transpose"`: their VJPs are derived by the reverse engine
from their JVP rules (the transpose of a linear map), so each has one formula. The others
keep a hand-written VJP beside the JVP: for solve and matmul it is the building block the
derived transposes are made of (deriving solve's from its own JVP recurses), and for inv,
det, slogdet, cholesky and qr the derived VJP measured 1.4-2.1x slower than the hand one on
200 x 200 matrices (2-3.5x on 20 x 20: it evaluates the JVP on a zero tangent before
sweeping it), against 0.8-1.15x for eigh, svd and pinv.

Conventions (see docs/conventions.md): cholesky and eigh read a symmetric matrix, so their
JVP symmetrises the tangent and their VJP returns a symmetric cotangent; eigh and svd
derivatives assume distinct eigen/singular values (repeated ones give inf/NaN, as in JAX);
det and slogdet derivatives use the inverse, so they need a non-singular matrix; pinv's
derivative holds where the rank is locally constant. qr is differentiable for m >= n.

Imports `ad.catalogue.define`, `ad.catalogue.structure`, `ad.catalogue.ops` and
`ad.primitive`.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ad.catalogue.define import defprimitive
from ad.catalogue.elementwise import conj, multiply, real
from ad.catalogue.ops import diagonal, dtype_of, expand_dims, swap_last, tril, triu, where
from ad.catalogue.structure import align, sum_, unbroadcast
from ad.primitive import PRIMITIVES, ZERO, Counts, shape_of

_mT = swap_last   # the matrix transpose of each stacked matrix


# ----------------------------------------------------------------------------- dependency
# Which result elements depend on which argument elements (`Primitive.dependency`, read by
# sparsity detection): pairs of flat result and argument indices, built by broadcasting.
def _indices(shape) -> np.ndarray:
    return np.arange(math.prod(shape)).reshape(shape)


def _stacked(shape, stack) -> np.ndarray:
    """Element indices of a stack of matrices of `shape`, its stack broadcast to `stack`."""
    return np.broadcast_to(_indices(shape), tuple(stack) + tuple(shape[-2:]))


def _pairs(rows, cols) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.broadcast_arrays(rows, cols)
    return rows.ravel(), cols.ravel()


def _per_matrix_dependency(i, in_shapes, out_shapes, params):
    """A matrix function: every result element of one matrix of the stack depends on every
    element of that matrix (and of no other)."""
    stack = tuple(in_shapes[0][:-2])
    matrix = _indices(in_shapes[i]).reshape(stack + (1, -1))
    return [_pairs(_indices(shape).reshape(stack + (-1, 1)), matrix) for shape in out_shapes]


def _matmul_dependency(i, in_shapes, out_shapes, params):
    """(a @ b)[..., r, c] depends on row r of a and column c of b."""
    (out_shape,) = out_shapes
    stack = tuple(out_shape[:-2])
    out = _indices(out_shape)[..., None]                       # (..., r, c, 1)
    if i == 0:
        picked = _stacked(in_shapes[0], stack)[..., :, None, :]  # (..., r, 1, l)
    else:
        picked = np.swapaxes(_stacked(in_shapes[1], stack), -1, -2)[..., None, :, :]
    return [_pairs(out, picked)]


def _solve_dependency(i, in_shapes, out_shapes, params):
    """solve(a, b)[..., r, c] depends on all of a and on column c of b."""
    (out_shape,) = out_shapes
    stack = tuple(out_shape[:-2])
    out = _indices(out_shape)[..., None]                       # (..., r, c, 1)
    if i == 0:
        picked = _stacked(in_shapes[0], stack).reshape(stack + (1, 1, -1))
    else:
        picked = np.swapaxes(_stacked(in_shapes[1], stack), -1, -2)[..., None, :, :]
    return [_pairs(out, picked)]


# ----------------------------------------------------------------------------- matmul
def _matmul_jvp_a(t, out, a, b):
    return matmul(align(t, np.ndim(a), np.ndim(out)), b)


def _matmul_jvp_b(t, out, a, b):
    return matmul(a, align(t, np.ndim(b), np.ndim(out)))


def _matmul_vjp_a(ct, out, a, b):
    full = np.shape(out)[:-2] + np.shape(a)[-2:]
    return unbroadcast(matmul(ct, _mT(b)), np.shape(a), full)


def _matmul_vjp_b(ct, out, a, b):
    full = np.shape(out)[:-2] + np.shape(b)[-2:]
    return unbroadcast(matmul(_mT(a), ct), np.shape(b), full)


def _matmul_cost(in_shapes, out_shape, traced=(True, True), **params) -> Counts:
    inner = in_shapes[0][-1]
    n_out = math.prod(out_shape)
    flops = 2 * inner * n_out
    # the residuals hold the arguments (constants are the program's own), not the output
    saved = sum(math.prod(s) for s, t in zip(in_shapes, traced) if t)
    terms = max(1, sum(traced))   # one product per argument that carries a derivative
    return Counts(flops, terms * flops, terms * flops, saved)


def _is_identity(matrix: np.ndarray) -> bool:
    """Whether a square matrix is the identity (cheap next to the product it saves)."""
    n = matrix.shape[0]
    if matrix.shape[1] != n or n < 2 or matrix[0, 0] != 1 or matrix[0, 1:].any():
        return False              # rejected by its first row, without reading the rest
    return np.count_nonzero(matrix) == n and bool((matrix.diagonal() == 1).all())


def _matmul(a, b):
    # NumPy runs a stack of small products one by one (a matrix-vector product each when
    # the last axis is 1, as for batched tangents of vectors); folding the stack into the
    # matrix dimension makes one large GEMM instead, with a C-contiguous result (strided
    # results make every later elementwise operation on them several times slower).
    a, b = np.asarray(a), np.asarray(b)
    if a.size == 0 or b.size == 0:      # reshape(-1, 0) is ambiguous: NumPy's own loop
        return a @ b
    if a.ndim > 2 and b.ndim == 2:
        return (a.reshape(-1, a.shape[-1]) @ b).reshape(a.shape[:-1] + b.shape[-1:])
    if a.ndim == 2 and b.ndim > 2:
        if b.shape[-1] == 1:   # a stack of vectors
            vectors = b.reshape(-1, b.shape[-2])
            if _is_identity(vectors):   # the seed of a forward-mode Jacobian: A @ I = A
                out = np.ascontiguousarray(a.T)
            else:
                out = vectors @ a.T
            return out.reshape(b.shape[:-2] + (a.shape[0], 1))
        if b.shape[-1] < a.shape[0]:
            stack = b.shape[:-2]
            folded = np.moveaxis(b, -2, 0).reshape(b.shape[-2], -1)
            out = (a @ folded).reshape((a.shape[0],) + stack + b.shape[-1:])
            return np.ascontiguousarray(np.moveaxis(out, 0, -2))
    return np.matmul(a, b)


matmul = defprimitive("matmul", _matmul, jvp=(_matmul_jvp_a, _matmul_jvp_b),
                      vjp=(_matmul_vjp_a, _matmul_vjp_b), cost=_matmul_cost, batched=True,
                      identity_seed="free",   # see _matmul: A @ I is A
                      dependency=_matmul_dependency, keeps_output=False, complex="holomorphic")

#: The largest product a compiled tape expands (elements of the (..., m, k, n) block).
MATMUL_EXPAND_LIMIT = 2 ** 16


def _matmul_lowering(emit, args):
    """a @ b for a compiled tape, written with other primitives: both factors gathered to
    (..., m, k, n), multiplied, and summed over k, so their rules give the derivatives.
    Meant for the small products of programs of many small operations."""
    a, b = args
    sa, sb = emit.shapes[a], emit.shapes[b]
    (m, k), n = sa[-2:], sb[-1]
    stack = np.broadcast_shapes(sa[:-2], sb[:-2])
    full = stack + (m, k, n)
    if math.prod(full) > MATMUL_EXPAND_LIMIT:
        emit.refuse(f"matmul of {sa} by {sb}: {math.prod(full):,} products is more than a "
                    "compiled tape expands")
    index_a = np.arange(math.prod(sa)).reshape(sa)[..., :, :, None]
    index_b = np.arange(math.prod(sb)).reshape(sb)[..., None, :, :]
    terms = emit(multiply, emit.gather(a, np.broadcast_to(index_a, full), full, matmul),
                 emit.gather(b, np.broadcast_to(index_b, full), full, matmul))
    out_shape = stack + (m, n)
    index_out = np.arange(math.prod(out_shape)).reshape(out_shape)[..., :, None, :]
    return emit.scatter(terms, np.broadcast_to(index_out, full), out_shape, matmul)


matmul.lowering = _matmul_lowering


# ----------------------------------------------------------------------------- shared helpers
def _cubic_cost(factor: float, jvp: float, vjp: float):
    """Cost entry of an O(n^3) matrix function of the first argument (stacked); the
    residuals hold the output and the traced arguments."""
    def cost(in_shapes, out_shape, traced=None, **params) -> Counts:
        shape = tuple(in_shapes[0]) if len(in_shapes[0]) >= 2 else (3, 3)
        m, n = shape[-2:]
        stack = math.prod(shape[:-2])
        base = stack * m * n * min(m, n)
        traced = traced or (True,) * len(in_shapes)
        outs = out_shape if out_shape and isinstance(out_shape[0], tuple) else (out_shape,)
        return Counts(factor * base, jvp * base, vjp * base, sum(map(math.prod, outs)) + sum(
            math.prod(s) for s, t in zip(in_shapes, traced) if t))
    cost.__name__ = f"cubic_cost_{factor:g}"
    return cost


def _saved(in_shapes, out_shape, traced) -> int:
    return math.prod(out_shape) + sum(math.prod(s) for s, t in zip(in_shapes, traced) if t)


def _solve_cost(in_shapes, out_shape, traced=(True, True), **params) -> Counts:
    """One LU of each stacked a (2/3 n^3), and 2 n^2 per right-hand-side column. A direction
    costs only the solves (the block's rule refactorises once per block, whatever its
    width: a per-application cost the calibration prices from the value's work), plus the
    product t @ x when a carries it."""
    n = in_shapes[0][-1] if len(in_shapes[0]) >= 2 else 3
    stack = math.prod(in_shapes[0][:-2])
    solves = 2.0 * n * math.prod(out_shape)      # 2 n^2 per column, every stacked column
    per_direction = sum((2.0 if k == 0 else 1.0) * solves for k, t in enumerate(traced) if t)
    return Counts(2.0 / 3.0 * stack * n ** 3 + solves, per_direction, per_direction,
                  _saved(in_shapes, out_shape, traced))


def _det_cost(in_shapes, out_shape, traced=(True,), **params) -> Counts:
    """One LU (2/3 n^3); a direction is sum(a^-T * t) and a cotangent a scaled a^-T: 2 n^2
    each, with the inverse formed once per block (priced per application)."""
    shape = tuple(in_shapes[0]) if len(in_shapes[0]) >= 2 else (3, 3)
    n, stack = shape[-1], math.prod(shape[:-2])
    return Counts(2.0 / 3.0 * stack * n ** 3, 2.0 * stack * n * n, 2.0 * stack * n * n,
                  _saved(in_shapes, out_shape, traced))


def _dense(cotangents, outs):
    """The cotangents of a several-output primitive with ZERO ones made zeros (of the batch
    the others carry), so a rule can use them all."""
    present = next((c, o) for c, o in zip(cotangents, outs) if c is not ZERO)
    batch = np.shape(present[0])[:np.ndim(present[0]) - np.ndim(present[1])]
    return [np.zeros(batch + np.shape(o), dtype_of(o)) if c is ZERO else c
            for c, o in zip(cotangents, outs)]


def _sym(t):
    """The symmetric part of each stacked matrix."""
    return 0.5 * (t + _mT(t))


def _eye_mask(n: int) -> np.ndarray:
    return np.eye(n, dtype=bool)


def _off_diagonal_inverse(d):
    """1 / d off the diagonal of each stacked square matrix, 0 on it (no division by 0)."""
    eye = _eye_mask(np.shape(d)[-1])
    return where(eye, 0.0, 1.0 / where(eye, 1.0, d))


# ----------------------------------------------------------------------------- blocks of solves
#: A rule solving with one matrix against a block of right-hand sides at least this many
#: times as wide as the matrix forms the inverse once and multiplies: LAPACK's triangular
#: solves (getrs/trsm) run several times slower per flop than a matrix product, so from
#: about 1.5 n columns on the inverse (one factorisation's worth of work, like solve's own)
#: and the products win, by 3-6x at 16 n (measured for n = 10 to 400, 1 and 2 threads).
#: Below it, and for the value of `solve` itself, LU solves as before.
_WIDE = 2


def _vectors(a, rhs, axis: int) -> int:
    """How many right-hand sides `rhs` holds per stacked matrix of `a`: its columns
    (axis=-1, for a x = rhs) or rows (axis=-2, for x a = rhs), times every leading axis
    beyond a's stack (a block of directions)."""
    shape, stack = shape_of(rhs), shape_of(a)[:-2]
    full = np.broadcast_shapes(tuple(shape[:-2]), tuple(stack))
    return math.prod(full) // max(1, math.prod(stack)) * shape[axis]


def _inverse_if_wide(a, rhs, axis: int = -1, triangle: str | None = None):
    """inv(a) when `rhs` is a wide block of right-hand sides for it (see _WIDE), else None.
    `triangle` ("lower", "upper") keeps only that triangle of a triangular factor's
    inverse (the exact one is triangular; LU's pivoting can leave rounding above it)."""
    if _vectors(a, rhs, axis) < _WIDE * shape_of(a)[-1]:
        return None
    a_inv = inv(a)
    if triangle == "lower":
        return tril(a_inv)
    return triu(a_inv) if triangle == "upper" else a_inv


def _left_solve(a, rhs, a_inv):
    """a^-1 rhs: by the inverse when one was formed (a wide block), else by solve."""
    return solve(a, rhs) if a_inv is None else matmul(a_inv, rhs)


def _right_solve(x, a, a_inv):
    """x a^-1: by the inverse when one was formed (a wide block), else by solve."""
    return _mT(solve(_mT(a), _mT(x))) if a_inv is None else matmul(x, a_inv)


def _solve_block(a, rhs):
    """a^-1 rhs for a block of right-hand sides (batch axes folded into columns): one
    factorisation and the solves, or one inverse and a product when the block is wide."""
    return _left_solve(a, rhs, _inverse_if_wide(a, rhs))


# ----------------------------------------------------------------------------- inv
def _singular(shape, dtype, what: str):
    """What a singular matrix gives inside a differentiated program: NaN (as JAX), with a
    warning, rather than an exception in the middle of a sweep."""
    warnings.warn(f"{what}: singular matrix; the result is NaN", RuntimeWarning, stacklevel=3)
    return np.full(shape, np.nan, dtype=np.result_type(dtype, np.float32))


def _inv(a):
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return _singular(np.shape(a), np.result_type(a), "inv")


def _inv_jvp(t, out, a):
    return -matmul(matmul(out, t), out)


def _inv_vjp(ct, out, a):
    out_t = _mT(out)
    return -matmul(matmul(out_t, ct), out_t)


inv = defprimitive("inv", _inv, jvp=(_inv_jvp,), vjp=(_inv_vjp,), cost=_cubic_cost(2, 4, 4),
                   batched=True,
                   dependency=_per_matrix_dependency, complex="holomorphic")


def _inv_lowering(emit, args):
    """inv(a) for a compiled tape, for one small matrix: solve(a, I) by `_eliminate`."""
    (a,) = args
    _one_matrix(emit, [emit.shapes[a]], inv)
    n = emit.shapes[a][0]
    rows, _ = _eliminate(emit, a, emit.current[2][1][0], emit.constant(np.eye(n)), n, inv,
                         "inv")
    return _back_substitute(emit, rows, n, inv)


inv.lowering = _inv_lowering


# ----------------------------------------------------------------------------- solve
def _stacked_like(b: np.ndarray, extra: int, stack: tuple) -> np.ndarray:
    """b, whose `extra` leading axes are a block of directions, with its own stack broadcast
    to `stack` when it broadcasts there (a tangent of an unstacked b aligned to a stacked
    matrix is (k, 1, n, m)), so the block can be folded into columns; else b unchanged."""
    middle = b.shape[extra:-2]
    if middle == stack:
        return b
    try:
        full = np.broadcast_shapes(middle, stack)
    except ValueError:
        return b
    return np.broadcast_to(b, b.shape[:extra] + full + b.shape[-2:]) if full == stack else b


def _solve(a, b):
    """x with a @ x = b; `b` is a stack of matrices (..., n, k) (ad.numpy promotes vectors).

    Leading axes of `b` beyond `a`'s stack (a block of tangents or cotangents) become extra
    right-hand-side columns: one factorisation of each matrix, not one per direction (b's
    own stack is broadcast to a's first when it is smaller).
    """
    a, b = np.asarray(a), np.asarray(b)
    extra = b.ndim - a.ndim
    if extra > 0:   # else NumPy would factorise a copy of a for every direction
        b = _stacked_like(b, extra, a.shape[:-2])
    if extra > 0 and b.shape[extra:-2] == a.shape[:-2]:
        lead = b.shape[:extra]
        moved = np.moveaxis(b.reshape((-1,) + b.shape[extra:]), 0, -1)   # (..., n, k, B)
        try:
            x = np.linalg.solve(a, moved.reshape(moved.shape[:-2] + (-1,)))
        except np.linalg.LinAlgError:
            return _singular(b.shape, np.result_type(a, b), "solve")
        x = np.moveaxis(x.reshape(moved.shape), -1, 0)
        return np.ascontiguousarray(x).reshape(lead + x.shape[1:])
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + b.shape[-2:]
        return _singular(shape, np.result_type(a, b), "solve")


def _solve_jvp_a(t, out, a, b):
    return -_solve_block(a, matmul(align(t, np.ndim(a), np.ndim(out)), out))


def _solve_jvp_b(t, out, a, b):
    return _solve_block(a, align(t, np.ndim(b), np.ndim(out)))


def _solve_vjp_a(ct, out, a, b):
    full = np.shape(out)[:-2] + np.shape(a)[-2:]
    return unbroadcast(-matmul(_solve_block(_mT(a), ct), _mT(out)), np.shape(a), full)


def _solve_vjp_b(ct, out, a, b):
    full = np.shape(out)[:-2] + np.shape(b)[-2:]
    return unbroadcast(_solve_block(_mT(a), ct), np.shape(b), full)


solve = defprimitive("solve", _solve, jvp=(_solve_jvp_a, _solve_jvp_b),
                     vjp=(_solve_vjp_a, _solve_vjp_b), cost=_solve_cost, batched=True,
                     dependency=_solve_dependency, complex="holomorphic")

#: The largest system a compiled tape writes out as elimination (n of an n x n matrix),
#: and the share of the column's largest magnitude its recorded pivots must keep.
SOLVE_EXPAND_LIMIT, PIVOT_THRESHOLD = 8, 0.5


def _eliminate(emit, a, a_value, rhs, k: int, primitive, why: str):
    """Gaussian elimination of slot `a` (n x n, recorded value `a_value`) with threshold
    partial pivoting, for a compiled tape, carrying the right-hand sides `rhs` (n x k, or
    None), written with gathers, products, differences and quotients (so their rules give
    the derivatives): per column, (U's row from the diagonal on, its right-hand side row)
    and the sign of the row order. The pivot rows are the ones the recorded matrix chose;
    at replay each stays while its magnitude is at least PIVOT_THRESHOLD of its column's
    largest (a guard, recomputed), else the replay records the path that matrix pivots on
    (any pivot order gives the same result; the threshold keeps it accurate)."""
    absolute, greater, greater_equal, subtract, true_divide = (PRIMITIVES[name] for name in (
        "absolute", "greater", "greater_equal", "subtract", "true_divide"))
    n = emit.shapes[a][0]
    if n > SOLVE_EXPAND_LIMIT:
        emit.refuse(f"{primitive.name} of a {n} x {n} matrix: more than a compiled tape "
                    f"writes out ({SOLVE_EXPAND_LIMIT} x {SOLVE_EXPAND_LIMIT}; LAPACK is faster)")
    recorded = np.array(a_value, dtype=np.float64)          # the pivots it chose
    trailing, rows, sign = a, [], 1.0
    for c in range(n):
        r = n - c
        column = emit.gather(trailing, np.arange(r) * r, (r,), primitive)
        pivot = int(np.argmax(np.abs(recorded[:, 0])))
        sign *= -1.0 if pivot % 2 else 1.0        # row `pivot` moved before rows 0..pivot-1
        magnitude = emit(absolute, column)
        largest = emit.extremum(magnitude, np.zeros(r, dtype=np.intp), (), "max")
        chosen = emit.gather(magnitude, np.array(pivot), (), primitive)
        emit.guard(emit(greater_equal, chosen, emit(multiply, largest,
                                                     emit.constant(PIVOT_THRESHOLD))),
                   True, True, f"{why}'s pivot row at column {c}")
        if rhs is not None:   # a singular system: the interpreted engine's NaN and warning
            emit.guard(emit(greater, chosen, emit.constant(0.0)), True, True,
                       f"{why}'s pivot at column {c} is zero (a singular matrix)")
        rows.append((emit.gather(trailing, pivot * r + np.arange(r), (r,), primitive),
                     None if rhs is None else
                     emit.gather(rhs, pivot * k + np.arange(k), (k,), primitive)))
        if r == 1:
            break
        rest = np.array([i for i in range(r) if i != pivot])
        factors = emit(true_divide,
                       emit.gather(trailing, (rest * r)[:, None], (r - 1, 1), primitive),
                       emit.gather(trailing, np.array(pivot * r), (), primitive))
        upper = emit.gather(trailing, pivot * r + np.arange(1, r)[None, :], (1, r - 1),
                            primitive)
        below = emit.gather(trailing, rest[:, None] * r + np.arange(1, r)[None, :],
                            (r - 1, r - 1), primitive)
        trailing = emit(subtract, below, emit(multiply, factors, upper))
        if rhs is not None:
            pivot_rhs = emit.gather(rhs, pivot * k + np.arange(k)[None, :], (1, k), primitive)
            rhs = emit(subtract, emit.gather(rhs, rest[:, None] * k + np.arange(k)[None, :],
                                             (r - 1, k), primitive),
                       emit(multiply, factors, pivot_rhs))
        factor_values = recorded[rest, :1] / recorded[pivot, 0]
        recorded = recorded[rest, 1:] - factor_values * recorded[pivot, 1:]
    return rows, sign


def _back_substitute(emit, rows, k: int, primitive):
    """x (n x k) from `_eliminate`'s rows: one row of x at a time, from the last."""
    add, subtract, true_divide = (PRIMITIVES[name] for name in ("add", "subtract",
                                                                 "true_divide"))
    n = len(rows)
    solution = [None] * n
    for i in range(n - 1, -1, -1):
        u, y = rows[i]
        for j in range(i + 1, n):
            y = emit(subtract, y, emit(multiply, emit.gather(u, np.array(j - i), (),
                                                             primitive), solution[j]))
        solution[i] = emit(true_divide, y, emit.gather(u, np.array(0), (), primitive))
    total = None
    for i, x in enumerate(solution):
        part = emit.scatter(x, i * k + np.arange(k), (n, k), primitive, part=True)
        total = part if total is None else emit(add, total, part)
    return total


def _one_matrix(emit, shapes, primitive) -> None:
    if any(len(s) != 2 for s in shapes):
        emit.refuse(f"{primitive.name} of stacked matrices {shapes} does not lower yet")


def _solve_lowering(emit, args):
    """solve(a, b) for a compiled tape, for one small system: `_eliminate`, then back
    substitution."""
    a, b = args
    _one_matrix(emit, [emit.shapes[a], emit.shapes[b]], solve)
    k = emit.shapes[b][1]
    rows, _ = _eliminate(emit, a, emit.current[2][1][0], b, k, solve, "solve")
    return _back_substitute(emit, rows, k, solve)


solve.lowering = _solve_lowering


# ----------------------------------------------------------------------------- det, slogdet
def _trace_of_solve(a, t):
    """tr(a^-1 t) for each stacked matrix: the differential of log|det a| along t.

    As sum(a^-T * t) over the matrix axes: one inverse per block of directions and n^2
    multiply-adds per direction (tr(solve(a, t)) solved n columns, O(n^3), per direction).
    """
    nd = len(shape_of(t))
    return sum_(_mT(inv(a)) * t, axis=(nd - 2, nd - 1), keepdims=False)


def _det(a):
    return np.linalg.det(a)


def _det_jvp(t, out, a):
    return out * _trace_of_solve(a, t)


def _det_vjp(ct, out, a):
    return expand_dims(ct * out, (-1, -2)) * _mT(inv(a))


det = defprimitive("det", _det, jvp=(_det_jvp,), vjp=(_det_vjp,), cost=_det_cost,
                   batched=True,
                   dependency=_per_matrix_dependency, complex="holomorphic")


def _det_lowering(emit, args):
    """det(a) for a compiled tape, for one small matrix: the product of `_eliminate`'s
    pivots, signed by the row order."""
    (a,) = args
    _one_matrix(emit, [emit.shapes[a]], det)
    rows, sign = _eliminate(emit, a, emit.current[2][1][0], None, 0, det, "det")
    total = emit.constant(sign)
    for u, _ in rows:
        total = emit(multiply, total, emit.gather(u, np.array(0), (), det))
    return total


det.lowering = _det_lowering


def _logabsdet(a):
    return np.linalg.slogdet(a)[1]


def _logabsdet_jvp(t, out, a):
    return _trace_of_solve(a, t)


def _logabsdet_vjp(ct, out, a):
    return expand_dims(ct, (-1, -2)) * _mT(inv(a))


logabsdet = defprimitive("logabsdet", _logabsdet, jvp=(_logabsdet_jvp,),
                         vjp=(_logabsdet_vjp,), cost=_det_cost, batched=True,
                         dependency=_per_matrix_dependency)


# ----------------------------------------------------------------------------- cholesky
def _phi(n: int, dtype) -> np.ndarray:
    """Mask taking the lower triangle with the diagonal halved."""
    return (np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)).astype(dtype)


def _cholesky(a):
    return np.linalg.cholesky(a)


def _cholesky_jvp(t, out, a):
    # dL = L phi(L^-1 dA L^-T), dA the symmetric part of the tangent; a block of directions
    # uses one inverse of the factor L for both solves (see _WIDE)
    lower = out
    sym = _sym(t)
    l_inv = _inverse_if_wide(lower, sym, triangle="lower")
    s = _right_solve(_left_solve(lower, sym, l_inv), _mT(lower),
                     None if l_inv is None else _mT(l_inv))
    return matmul(lower, s * _phi(np.shape(a)[-1], dtype_of(a)))


def _cholesky_vjp(ct, out, a):
    # sym(L^-T P L^-1), P = phi(L^T ct)
    lower = out
    p = matmul(_mT(lower), ct) * _phi(np.shape(a)[-1], dtype_of(a))
    l_inv = _inverse_if_wide(lower, p, triangle="lower")
    x = _left_solve(_mT(lower), p, None if l_inv is None else _mT(l_inv))
    return _sym(_right_solve(x, lower, l_inv))


cholesky = defprimitive("cholesky", _cholesky, jvp=(_cholesky_jvp,), vjp=(_cholesky_vjp,),
                        cost=_cubic_cost(1 / 3, 2, 3), batched=True,
                        dependency=_per_matrix_dependency)


# ----------------------------------------------------------------------------- eigh
def _eigh(a):
    """(w, V): the ascending eigenvalues and the eigenvectors (columns)."""
    w, v = np.linalg.eigh(a)
    return w, v


def _eigh_f(w):
    """F[i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it."""
    return _off_diagonal_inverse(expand_dims(w, -2) - expand_dims(w, -1))


def _eigh_jvp(t, out, a):
    w, v = out
    s = matmul(matmul(_mT(v), _sym(t)), v)
    return diagonal(s), matmul(v, _eigh_f(w) * s)


eigh = defprimitive("eigh", _eigh, jvp=(_eigh_jvp,), vjp="transpose", outputs=2,
                    cost=_cubic_cost(9, 4, 4), batched=True,
                    dependency=_per_matrix_dependency)


# ----------------------------------------------------------------------------- eig
def _eig(a):
    """(w, V) of a general square matrix, always complex (as JAX gives them): eigenvector
    columns of unit norm."""
    w, v = np.linalg.eig(a)
    kind = np.result_type(a, np.complex64)
    return w.astype(kind, copy=False), v.astype(kind, copy=False)


def _eig_jvp(t, out, a):
    # V^-1 dA V: its diagonal moves the eigenvalues, the rest (over w_j - w_i) the vectors;
    # each column then loses the part that would change its norm (the phase stays free)
    w, v = out
    s = matmul(matmul(inv(v), t), v)
    dv = matmul(v, _eigh_f(w) * s)
    column_axis = np.ndim(dv) - 2
    dv = dv - v * expand_dims(real(sum_(conj(v) * dv, axis=(column_axis,), keepdims=False)),
                              column_axis)
    return diagonal(s), dv


def _eig_cost(in_shapes, out_shape, traced=None, **params) -> Counts:
    # saved in the complex results' itemsize: a real input counts half an element each
    counts = _cubic_cost(25, 8, 8)(in_shapes, out_shape, traced, **params)
    inputs = sum(math.prod(s) for s in in_shapes)
    return Counts(counts.flops, counts.jvp, counts.vjp, counts.saved - inputs / 2)


eig = defprimitive("eig", _eig, jvp=(_eig_jvp,), vjp="transpose", outputs=2,
                   cost=_eig_cost, batched=True,
                   dependency=_per_matrix_dependency, complex="real-linear")


# ----------------------------------------------------------------------------- svd
def _svd(a):
    """Thin SVD (U, s, Vt), k = min(m, n) singular values, descending."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    return u, s, vt


def _svd_f(s):
    """F[i, j] = 1 / (s[j]^2 - s[i]^2) off the diagonal, 0 on it."""
    row, col = expand_dims(s, -2), expand_dims(s, -1)
    return _off_diagonal_inverse((row + col) * (row - col))


def _svd_jvp(t, out, a):
    m, n = np.shape(a)[-2:]
    u, s, vt = out
    v = _mT(vt)
    ds_mat = matmul(matmul(_mT(u), t), v)
    ds = diagonal(ds_mat)
    f = _svd_f(s)
    s_row = expand_dims(s, -2)
    s_col = expand_dims(s, -1)
    d_ss = ds_mat * s_row
    s_ds = s_col * ds_mat
    du = matmul(u, f * (d_ss + _mT(d_ss)))
    dv = matmul(v, f * (s_ds + _mT(s_ds)))
    if m > n:
        dav = matmul(t, v)
        du = du + (dav - matmul(u, matmul(_mT(u), dav))) / s_row
    if n > m:
        dahu = matmul(_mT(t), u)
        dv = dv + (dahu - matmul(v, matmul(vt, dahu))) / s_row
    return du, ds, _mT(dv)


svd = defprimitive("svd", _svd, jvp=(_svd_jvp,), vjp="transpose", outputs=3,
                   cost=_cubic_cost(20, 6, 6), batched=True,
                   dependency=_per_matrix_dependency)


# ----------------------------------------------------------------------------- qr
def _qr(a):
    """Reduced QR (m >= n): Q (m, n) and R (n, n)."""
    q, r = np.linalg.qr(a, mode="reduced")
    return q, r


def _qr_jvp(t, out, a):
    q, r = out
    da_rinv = _right_solve(t, r, _inverse_if_wide(r, t, axis=-2, triangle="upper"))
    x = matmul(_mT(q), da_rinv)
    lower = tril(x, -1)
    omega = lower - _mT(lower)
    dq = matmul(q, omega - x) + da_rinv
    dr = matmul(x - omega, r)
    return dq, dr


def _qr_vjp(ct, out, a):
    q, r = out
    q_bar, r_bar = _dense(ct, out)
    mm = matmul(r_bar, _mT(r)) - matmul(_mT(q), q_bar)
    upper_copied = triu(mm) + _mT(triu(mm, 1))
    y = q_bar + matmul(q, upper_copied)
    r_inv = _inverse_if_wide(r, y, axis=-2, triangle="upper")
    return _right_solve(y, _mT(r), None if r_inv is None else _mT(r_inv))  # y @ r^-T


qr = defprimitive("qr", _qr, jvp=(_qr_jvp,), vjp=(_qr_vjp,), outputs=2,
                  cost=_cubic_cost(4, 6, 6), batched=True,
                  dependency=_per_matrix_dependency)


# ----------------------------------------------------------------------------- pinv
def _pinv(a):
    return np.linalg.pinv(a)


def _eye_like(n: int, x):
    return np.eye(n, dtype=dtype_of(x))


def _pinv_jvp(t, out, a):
    # Golub and Pereyra: d(A+) = -A+ dA A+ + A+ A+^T dA^T (I - A A+) + (I - A+ A) dA^T A+^T A+
    m, n = np.shape(a)[-2:]
    p, p_t, t_t = out, _mT(out), _mT(t)
    k = _eye_like(m, a) - matmul(a, p)
    j = _eye_like(n, a) - matmul(p, a)
    return (-matmul(matmul(p, t), p) + matmul(matmul(matmul(p, p_t), t_t), k)
            + matmul(matmul(j, t_t), matmul(p_t, p)))


pinv = defprimitive("pinv", _pinv, jvp=(_pinv_jvp,), vjp="transpose",
                    cost=_cubic_cost(20, 10, 10), batched=True,
                    dependency=_per_matrix_dependency)
