"""`ad.numpy.linalg`: linear algebra on traced values, mirroring numpy.linalg.

inv, solve, det, slogdet's log|det|, cholesky, eigh, svd, qr and pinv are catalogue
primitives (`ad.catalogue.linalg`, with the standard matrix derivative rules); the rest
(norm, eigvalsh, svd values, lstsq, matrix_power, multi_dot, ...) compose them. All accept
stacks of matrices (..., m, n) like NumPy. Conventions at non-differentiable points are
in docs/conventions.md; `norm` is 0 with derivative 0 at the origin, never NaN.
Imports `ad.numpy` (the package), `ad.catalogue.linalg` and `ad.primitive`.
"""
from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as _np

from ad import numpy as _anp
from ad.errors import ShapeError as _ShapeError
from ad.numpy import _implements
from ad.primitive import Tracer as _Tracer
from ad.primitive import float_dtype
from ad.primitive import primal_value as _primal_value

LinAlgError = _np.linalg.LinAlgError
_linalg = _anp._linalg

__all__ = ["inv", "solve", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "eig", "eigvals",
           "svd",
           "svdvals", "qr", "pinv", "lstsq", "matrix_power", "norm", "vector_norm",
           "matrix_norm", "multi_dot", "matrix_rank", "cond", "LinAlgError"]


def _square(a, function: str) -> None:
    s = _anp.shape(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise LinAlgError(f"{function}: expected a square matrix (or a stack of them) in the "
                          f"last two dimensions, got shape {s}")


def _matrix(a, function: str) -> None:
    if _anp.ndim(a) < 2:
        raise LinAlgError(f"{function}: expected a matrix (or a stack of them), got shape "
                          f"{_anp.shape(a)}")


def _float(a):
    """Integer inputs compute in float64, as in numpy.linalg."""
    if isinstance(a, _Tracer):
        return a
    a = _np.asarray(a)
    return a if a.dtype.kind in "fc" else a.astype(_np.float64)


# ----------------------------------------------------------------------------- primitives
@_implements(_np.linalg.inv)
def inv(a):
    """Matrix inverse.

    >>> inv(_np.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    _square(a, "inv")
    if not isinstance(a, _Tracer):   # plain input: NumPy's behaviour, LinAlgError included
        return _np.linalg.inv(_float(a))
    return _linalg.inv(_float(a))


@_implements(_np.linalg.solve)
def solve(a, b):
    """x with a @ x = b; `b` a vector (n,) or a stack of matrices (..., n, k).

    >>> solve(_np.array([[2.0, 0.0], [0.0, 4.0]]), _np.array([1.0, 1.0]))
    array([0.5 , 0.25])
    """
    _square(a, "solve")
    if not isinstance(a, _Tracer) and not isinstance(b, _Tracer):
        return _np.linalg.solve(_float(a), _float(b))
    n = _anp.shape(a)[-1]
    if _anp.ndim(b) == 1:
        if _anp.shape(b)[0] != n:
            raise _ShapeError(f"solve: a has shape {_anp.shape(a)} but b has shape "
                              f"{_anp.shape(b)}")
        return _anp.reshape(_linalg.solve(_float(a), _anp.reshape(_float(b), (n, 1))),
                            _anp.shape(a)[:-2] + (n,))
    if _anp.shape(b)[-2] != n:
        raise _ShapeError(f"solve: a has shape {_anp.shape(a)} but b has shape "
                          f"{_anp.shape(b)}; b's second-to-last dimension must be {n}")
    return _linalg.solve(_float(a), _float(b))


@_implements(_np.linalg.det)
def det(a):
    """Determinant (its derivative needs a non-singular matrix).

    >>> float(det(_np.array([[2.0, 1.0], [1.0, 3.0]])))
    5.0
    """
    _square(a, "det")
    return _linalg.det(_float(a))


class SlogdetResult(NamedTuple):
    sign: object
    logabsdet: object


@_implements(_np.linalg.slogdet)
def slogdet(a) -> SlogdetResult:
    """(sign, log|det|): the sign is a constant, log|det| is differentiable.

    >>> tuple(float(v) for v in slogdet(_np.array([[-2.0, 0.0], [0.0, 1.0]])))
    (-1.0, 0.6931471805599453)
    """
    _square(a, "slogdet")
    a = _float(a)
    sign = _np.linalg.slogdet(_np.asarray(_primal_value(a)))[0]
    return SlogdetResult(sign, _linalg.logabsdet(a))


@_implements(_np.linalg.cholesky)
def cholesky(a, *, upper: bool = False):
    """Lower Cholesky factor of a symmetric positive definite matrix (reads it as symmetric).

    >>> cholesky(_np.array([[4.0, 2.0], [2.0, 2.0]]))
    array([[2., 0.],
           [1., 1.]])
    """
    _square(a, "cholesky")
    if not upper:
        return _linalg.cholesky(_float(a))
    # NumPy's upper factor reads the upper triangle: the lower factor of a^H, transposed
    lower = _linalg.cholesky(_float(_anp.conj(_anp.swapaxes(a, -1, -2))))
    return _anp.conj(_anp.swapaxes(lower, -1, -2))                       # U = L^H


class EighResult(NamedTuple):
    eigenvalues: object
    eigenvectors: object


@_implements(_np.linalg.eigh)
def eigh(a, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix; derivatives assume
    distinct eigenvalues.

    >>> eigh(_np.diag([2.0, 1.0])).eigenvalues
    array([1., 2.])
    """
    _square(a, "eigh")
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', not {UPLO!r}")
    if UPLO == "U":   # the upper triangle, mirrored, as NumPy reads it
        upper = _anp.triu(a)
        a = upper + _anp.swapaxes(_anp.triu(a, 1), -1, -2)
    return EighResult(*_linalg.eigh(_float(a)))


class EigResult(NamedTuple):
    eigenvalues: object
    eigenvectors: object


@_implements(_np.linalg.eig)
def eig(a) -> EigResult:
    """Eigenvalues and unit-norm eigenvectors (columns) of a general square matrix, complex
    as in JAX; derivatives assume distinct eigenvalues, and an eigenvector's phase is free,
    so only phase-invariant functions of the vectors (|v|, v v^H) have a derivative that
    means anything.

    >>> import ad
    >>> a = _np.array([[2.0, 1.0], [0.0, 3.0]])
    >>> _np.round(ad.grad(lambda a: _anp.sum(_anp.real(eig(a).eigenvalues ** 2)))(a), 12)
    array([[4., 0.],
           [2., 6.]])
    """
    _square(a, "eig")
    return EigResult(*_linalg.eig(a))


@_implements(_np.linalg.eigvals)
def eigvals(a):
    """Eigenvalues of a general square matrix (complex)."""
    return eig(a).eigenvalues


@_implements(_np.linalg.eigvalsh)
def eigvalsh(a, UPLO: str = "L"):
    """Eigenvalues of a symmetric matrix, ascending."""
    return eigh(a, UPLO).eigenvalues


class SVDResult(NamedTuple):
    U: object
    S: object
    Vh: object


@_implements(_np.linalg.svd)
def svd(a, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False):
    """Singular value decomposition (thin factors when traced: full_matrices=False).

    >>> svd(_np.diag([1.0, 3.0]), compute_uv=False)
    array([3., 1.])
    """
    _matrix(a, "svd")
    if not isinstance(a, _Tracer):
        return _np.linalg.svd(_float(a), full_matrices=full_matrices, compute_uv=compute_uv)
    m, n = _anp.shape(a)[-2:]
    if compute_uv and full_matrices and m != n:
        raise NotImplementedError(
            "ad.numpy.linalg.svd: the extra columns of full_matrices=True are not unique, so "
            "they have no derivative; pass full_matrices=False")
    u, s, vt = _linalg.svd(a)
    return SVDResult(u, s, vt) if compute_uv else s


@_implements(*[f for f in (getattr(_np.linalg, "svdvals", None),) if f is not None])
def svdvals(x):
    """Singular values, descending (numpy.linalg.svdvals)."""
    return svd(x, compute_uv=False)


class QRResult(NamedTuple):
    Q: object
    R: object


@_implements(_np.linalg.qr)
def qr(a, mode: str = "reduced"):
    """Reduced QR decomposition; differentiable for m >= n.

    >>> q, r = qr(_np.array([[3.0], [4.0]]))
    >>> r
    array([[-5.]])
    """
    _matrix(a, "qr")
    if not isinstance(a, _Tracer):
        return _np.linalg.qr(_float(a), mode=mode)
    m, n = _anp.shape(a)[-2:]
    if mode not in ("reduced", "r"):
        raise NotImplementedError(f"ad.numpy.linalg.qr: mode={mode!r} is not differentiable; "
                                  "use mode='reduced'")
    if m < n:
        raise NotImplementedError(f"ad.numpy.linalg.qr: differentiable for m >= n only, got "
                                  f"shape {_anp.shape(a)}")
    q, r = _linalg.qr(a)
    return r if mode == "r" else QRResult(q, r)


@_implements(_np.linalg.pinv)
def pinv(a, rcond=None, hermitian: bool = False, *, rtol=None):
    """Moore-Penrose pseudo-inverse (derivative valid where the rank is locally constant)."""
    _matrix(a, "pinv")
    if rcond is not None or rtol is not None:
        if isinstance(a, _Tracer):
            raise NotImplementedError("ad.numpy.linalg.pinv: rcond/rtol are not supported on "
                                      "traced values")
        return _np.linalg.pinv(a, rcond=rcond)
    return _linalg.pinv(_float(a))


# ----------------------------------------------------------------------------- compositions
@_implements(_np.linalg.lstsq)
def lstsq(a, b, rcond=None):
    """Least-squares solution via pinv: (x, residuals, rank, singular values).

    >>> x, res, rank, s = lstsq(_np.array([[1.0], [1.0]]), _np.array([1.0, 3.0]))
    >>> x
    array([2.])
    """
    _matrix(a, "lstsq")
    if not isinstance(a, _Tracer) and not isinstance(b, _Tracer):
        return _np.linalg.lstsq(a, b, rcond=rcond)
    if rcond is not None:         # the pseudo-inverse cuts off as pinv's default does
        raise NotImplementedError("ad.numpy.linalg.lstsq: rcond is not supported on traced "
                                  "values (leave it None)")
    m, n = _anp.shape(a)[-2:]
    x = _anp.matmul(pinv(a), b)
    rank = int(_np.linalg.matrix_rank(_np.asarray(_primal_value(a))))
    if rank == n and m > n:
        residual = _anp.matmul(a, x) - b
        residuals = _anp.sum(residual * residual, axis=0)
        if _anp.ndim(b) == 1:
            residuals = _anp.reshape(residuals, (1,))
    else:
        residuals = _np.zeros((0,))
    return x, residuals, rank, svdvals(a)


@_implements(_np.linalg.matrix_power)
def matrix_power(a, n: int):
    """a @ a @ ... (n times) by repeated squaring; negative n uses the inverse.

    >>> matrix_power(_np.array([[1.0, 1.0], [0.0, 1.0]]), 3)
    array([[1., 3.],
           [0., 1.]])
    """
    _square(a, "matrix_power")
    n = operator.index(n)
    if n == 0:
        eye = _np.eye(_anp.shape(a)[-1], dtype=float_dtype(a))
        return _np.broadcast_to(eye, _anp.shape(a)).copy()
    if n < 0:
        a, n = inv(a), -n
    result = None
    base = a
    while n:
        if n & 1:
            result = base if result is None else _anp.matmul(result, base)
        n >>= 1
        if n:
            base = _anp.matmul(base, base)
    return result


@_implements(_np.linalg.multi_dot)
def multi_dot(arrays):
    """Chained dot products, left to right."""
    arrays = list(arrays)
    if len(arrays) < 2:
        raise ValueError("multi_dot: Expecting at least two arrays.")
    result = arrays[0]
    for a in arrays[1:]:
        result = _anp.dot(result, a)
    return result


@_implements(_np.linalg.matrix_rank)
def matrix_rank(A, tol=None, hermitian=False):
    """The rank (an integer: no derivative)."""
    return _np.linalg.matrix_rank(_np.asarray(_primal_value(A)), tol=tol)


@_implements(_np.linalg.cond)
def cond(x, p=None):
    """Condition number: ratio of extreme singular values (p None or 2), or norm(x) *
    norm(inv(x)) for the other orders."""
    if _np.size(_primal_value(x)) == 0:
        raise LinAlgError("cond is not defined on empty arrays")
    if p in (None, 2, -2):
        s = svdvals(x)
        ratio = s[..., 0] / s[..., -1]
        return ratio if p != -2 else 1.0 / ratio
    return norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))


# ----------------------------------------------------------------------------- norms
def _vector_norm(x, ord, axis: tuple[int, ...], keepdims: bool):
    if ord is None or ord == 2:
        return _anp._safe_root(_anp.sum(_anp._squared_magnitude(x), axis=axis, keepdims=keepdims))
    magnitude = _anp.abs(x)
    if ord == _np.inf:             # 0 over no element, as NumPy
        return _anp.max(magnitude, axis=axis, keepdims=keepdims, initial=0.0)
    if ord == -_np.inf:
        return _anp.min(magnitude, axis=axis, keepdims=keepdims)
    if ord == 0:
        value = _np.asarray(_primal_value(x)) != 0
        return _np.sum(value, axis=axis, keepdims=keepdims).astype(float_dtype(x))
    if ord == 1:
        return _anp.sum(magnitude, axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    if ord < 1:
        # |x|^p has an infinite derivative at 0 for p < 1 (0 * inf = NaN in reverse mode):
        # a zero element's term is a constant, 0 (p > 0) or inf (p < 0: the norm is 0)
        nonzero = _np.asarray(_primal_value(magnitude)) > 0
        safe = _anp.where(nonzero, magnitude, 1.0)
        powered = _anp.where(nonzero, safe ** ord, 0.0 if ord > 0 else _np.inf)
    else:
        powered = magnitude ** ord
    return _anp._safe_root(_anp.sum(powered, axis=axis, keepdims=keepdims), ord)


def _matrix_norm(x, ord, axis: tuple[int, int], keepdims: bool):
    row, col = axis
    if ord in (None, "fro"):
        return _anp._safe_root(_anp.sum(_anp._squared_magnitude(x), axis=axis, keepdims=keepdims))
    if ord in (1, -1, _np.inf, -_np.inf):
        sum_over = row if ord in (1, -1) else col  # 1: max column sum; inf: max row sum
        sums = _anp.sum(_anp.abs(x), axis=sum_over, keepdims=True)
        pick = _anp.max if ord > 0 else _anp.min
        return pick(sums, axis=axis, keepdims=keepdims)
    if ord in (2, -2, "nuc"):
        moved = _anp.moveaxis(x, (row, col), (-2, -1))
        s = svdvals(moved)
        result = (_anp.sum(s, axis=-1) if ord == "nuc" else
                  s[..., 0] if ord == 2 else s[..., -1])
        if keepdims:
            shape = list(_anp.shape(x))
            shape[row] = shape[col] = 1
            result = _anp.reshape(result, tuple(shape))
        return result
    raise ValueError(f"norm: invalid norm order {ord!r} for matrices")


@_implements(_np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims: bool = False):
    """Vector or matrix norm, as numpy.linalg.norm; 0 with derivative 0 at the origin.

    Vector orders: None/2, 1, inf, -inf, 0 (a count: no derivative), any other p.
    Matrix orders: None/'fro', 'nuc', 1, -1, 2, -2, inf, -inf.

    >>> float(norm(_np.array([3.0, 4.0])))
    5.0
    """
    x = _anp._operand(x)          # a list of traced values stacked, as NumPy takes a list
    nd = _anp.ndim(x)
    x = _float(x)
    if axis is None:
        if ord is None:
            result = _anp._safe_root(_anp.sum(_anp._squared_magnitude(x)))
            return _anp.reshape(result, (1,) * nd) if keepdims else result
        if nd not in (1, 2):
            raise ValueError("norm: improper number of dimensions to norm (give axis=)")
        axis = tuple(range(nd))
    axes = (axis,) if isinstance(axis, (int, _np.integer)) else tuple(axis)
    axes = tuple(_anp._axis(a, nd, "norm") for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes, keepdims)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            raise ValueError("norm: duplicate axes given")
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError("norm: improper number of dimensions to norm")


def _numpy_has(*names):
    """The NumPy functions of these names this NumPy has (vector_norm: NumPy 2)."""
    return [getattr(_np.linalg, name) for name in names if hasattr(_np.linalg, name)]


@_implements(*_numpy_has("vector_norm"))
def vector_norm(x, /, *, axis=None, keepdims: bool = False, ord=2):
    """Vector norm over `axis` (an int or a tuple of any length: the elements over those
    axes taken as one vector; all axes when None).

    >>> float(vector_norm(_np.ones((2, 2)), axis=(0, 1)))
    2.0
    """
    if axis is None:
        result = _vector_norm(_anp.ravel(_float(x)), ord, (0,), False)
        return _anp.reshape(result, (1,) * _anp.ndim(x)) if keepdims else result
    nd = _anp.ndim(x)
    axes = _anp._axes(axis, nd, "vector_norm")   # never a matrix norm, as NumPy's
    return _vector_norm(_float(x), ord, axes, keepdims)


@_implements(*_numpy_has("matrix_norm"))
def matrix_norm(x, /, *, keepdims: bool = False, ord="fro"):
    """Matrix norm over the last two axes."""
    return norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)

