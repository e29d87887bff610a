"""Products and linear algebra: matmul, and the matrix functions with their standard rules.

`matmul` here takes arrays of two or more dimensions (ad.numpy promotes vectors), so
batch axes on tangents broadcast like NumPy's stacked matrices. Every linalg primitive
works on stacks of matrices (..., m, n); its rules are matrix expressions built from
matmul, solve and `ad.numpy` functions, so extra leading tangent axes broadcast the same
way and the rules differentiate again (Hessians).

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
from ad.catalogue.ops import (diagonal, dtype_of, expand_dims, swap_last, trace,
                              tril, triu, where)
from ad.catalogue.structure import align, unbroadcast
from ad.primitive import ZERO, Counts

_mT = swap_last   # the matrix transpose of each stacked matrix


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
    # the residuals hold the output and the arguments (constants are the program's own)
    saved = n_out + sum(math.prod(s) for s, t in zip(in_shapes, traced) if t)
    terms = max(1, sum(traced))   # one product per argument that carries a derivative
    return Counts(flops, terms * flops, terms * flops, saved)


def _is_identity(matrix: np.ndarray) -> bool:
    """Whether a square matrix is the identity (cheap next to the product it saves)."""
    n = matrix.shape[0]
    return (matrix.shape[1] == n and n > 1 and np.count_nonzero(matrix) == n
            and bool((matrix.diagonal() == 1).all()))


def _matmul(a, b):
    # NumPy runs a stack of small products one by one (a matrix-vector product each when
    # the last axis is 1, as for batched tangents of vectors); folding the stack into the
    # matrix dimension makes one large GEMM instead, with a C-contiguous result (strided
    # results make every later elementwise operation on them several times slower).
    a, b = np.asarray(a), np.asarray(b)
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
                      identity_seed="free")   # see _matmul: A @ I is A


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
                   batched=True)


# ----------------------------------------------------------------------------- solve
def _solve(a, b):
    """x with a @ x = b; `b` is a stack of matrices (..., n, k) (ad.numpy promotes vectors).

    Leading axes of `b` beyond `a`'s stack (a block of tangents or cotangents) become extra
    right-hand-side columns: one factorisation of each matrix, not one per direction.
    """
    a, b = np.asarray(a), np.asarray(b)
    extra = b.ndim - a.ndim
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
    return -solve(a, matmul(align(t, np.ndim(a), np.ndim(out)), out))


def _solve_jvp_b(t, out, a, b):
    return solve(a, align(t, np.ndim(b), np.ndim(out)))


def _solve_vjp_a(ct, out, a, b):
    full = np.shape(out)[:-2] + np.shape(a)[-2:]
    return unbroadcast(-matmul(solve(_mT(a), ct), _mT(out)), np.shape(a), full)


def _solve_vjp_b(ct, out, a, b):
    full = np.shape(out)[:-2] + np.shape(b)[-2:]
    return unbroadcast(solve(_mT(a), ct), np.shape(b), full)


solve = defprimitive("solve", _solve, jvp=(_solve_jvp_a, _solve_jvp_b),
                     vjp=(_solve_vjp_a, _solve_vjp_b), cost=_cubic_cost(1, 2, 2), batched=True)


# ----------------------------------------------------------------------------- det, slogdet
def _trace_of_solve(a, t):
    """tr(a^-1 t) for each stacked matrix: the differential of log|det a| along t."""
    return trace(solve(a, t))


def _det(a):
    return np.linalg.det(a)


def _det_jvp(t, out, a):
    return out * _trace_of_solve(a, t)


def _det_vjp(ct, out, a):
    return expand_dims(ct * out, (-1, -2)) * _mT(inv(a))


det = defprimitive("det", _det, jvp=(_det_jvp,), vjp=(_det_vjp,), cost=_cubic_cost(1, 2, 2),
                   batched=True)


def _logabsdet(a):
    return np.linalg.slogdet(a)[1]


def _logabsdet_jvp(t, out, a):
    return _trace_of_solve(a, t)


def _logabsdet_vjp(ct, out, a):
    return expand_dims(ct, (-1, -2)) * _mT(inv(a))


logabsdet = defprimitive("logabsdet", _logabsdet, jvp=(_logabsdet_jvp,),
                         vjp=(_logabsdet_vjp,), cost=_cubic_cost(1, 2, 2), batched=True)


# ----------------------------------------------------------------------------- cholesky
def _phi(n: int, dtype) -> np.ndarray:
    """Mask taking the lower triangle with the diagonal halved."""
    return (np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)).astype(dtype)


def _cholesky(a):
    return np.linalg.cholesky(a)


def _cholesky_jvp(t, out, a):
    # dL = L phi(L^-1 dA L^-T), dA the symmetric part of the tangent
    lower = out
    m = solve(lower, _sym(t))
    s = _mT(solve(lower, _mT(m)))
    return matmul(lower, s * _phi(np.shape(a)[-1], dtype_of(a)))


def _cholesky_vjp(ct, out, a):
    lower = out
    p = matmul(_mT(lower), ct) * _phi(np.shape(a)[-1], dtype_of(a))
    x = solve(_mT(lower), p)
    return _sym(_mT(solve(_mT(lower), _mT(x))))


cholesky = defprimitive("cholesky", _cholesky, jvp=(_cholesky_jvp,), vjp=(_cholesky_vjp,),
                        cost=_cubic_cost(1 / 3, 2, 3), batched=True)


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
                    cost=_cubic_cost(9, 4, 4), batched=True)


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
                   cost=_cubic_cost(20, 6, 6), batched=True)


# ----------------------------------------------------------------------------- qr
def _qr(a):
    """Reduced QR (m >= n): Q (m, n) and R (n, n)."""
    q, r = np.linalg.qr(a, mode="reduced")
    return q, r


def _times_r_inverse(x, r):
    """x @ r^-1 for stacked matrices, as a solve."""
    return _mT(solve(_mT(r), _mT(x)))


def _qr_jvp(t, out, a):
    q, r = out
    da_rinv = _times_r_inverse(t, r)
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
    return _mT(solve(r, _mT(q_bar + matmul(q, upper_copied))))  # (...) @ r^-T


qr = defprimitive("qr", _qr, jvp=(_qr_jvp,), vjp=(_qr_vjp,), outputs=2,
                  cost=_cubic_cost(4, 6, 6), batched=True)


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
                    cost=_cubic_cost(20, 10, 10), batched=True)
