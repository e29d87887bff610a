"""`ad.scipy.linalg`: triangular and Cholesky solves, the matrix exponential and square root,
as compositions of `ad.numpy.linalg`, so they differentiate in every argument to any order.

`cho_factor` returns the clean triangular factor (SciPy's leaves the other triangle
arbitrary); `expm` is Padé(13) scaling and squaring, the scaling chosen from the value;
`sqrtm` is the Denman-Beavers iteration (matrices with no eigenvalues on the closed negative
real axis). Imports `ad.numpy`.
"""
from __future__ import annotations

import math

import numpy as np

from ad import numpy as anp
from ad.primitive import float_dtype

__all__ = ["solve_triangular", "cho_factor", "cho_solve", "expm", "sqrtm"]


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    """x with a x = b for triangular a (only its `lower` or upper triangle is read).

    >>> solve_triangular(np.array([[2.0, 0.0], [1.0, 1.0]]), np.array([2.0, 3.0]), lower=True)
    array([1., 2.])
    """
    if trans not in (0, 1, 2, "N", "T", "C"):
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', not "
                         f"{trans!r}")
    t = anp.tril(a) if lower else anp.triu(a)
    if unit_diagonal:
        n = anp.shape(a)[-1]
        t = anp.where(np.eye(n, dtype=bool), 1.0, t)
    if trans in (1, 2, "T", "C"):
        t = anp.swapaxes(t, -1, -2)
    if trans in (2, "C"):                   # a^H x = b
        t = anp.conj(t)
    return anp.linalg.solve(t, b)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """(c, lower): the Cholesky factor of a Hermitian positive definite a (c lower if
    `lower`, read from a's lower triangle, else upper, from its upper triangle, as SciPy's),
    zero outside its triangle."""
    return anp.linalg.cholesky(a, upper=not lower), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """x with a x = b from cho_factor(a)."""
    c, lower = c_and_lower
    factor = c if lower else anp.conj(anp.swapaxes(c, -1, -2))     # L = U^H
    y = solve_triangular(factor, b, lower=True)
    return solve_triangular(factor, y, lower=True, trans="C")      # L^H x = y


_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)


def expm(a):
    """The matrix exponential by Padé(13) scaling and squaring (Higham 2005).

    >>> float(expm(np.array([[0.0, 1.0], [0.0, 0.0]]))[0, 1])
    1.0
    """
    n = anp.shape(a)[-1]
    if n == 0:                              # an empty matrix's exponential is empty
        return anp.astype(a, float_dtype(a)) * 1.0
    norm = float(np.abs(np.asarray(anp._primal_value(a))).sum(axis=-2).max())
    # (a matrix holding inf or NaN gives NaN and inf, as SciPy's: no squarings to count)
    squarings = max(0, int(math.ceil(math.log2(norm / 5.371920351148152)))) \
        if 0 < norm < math.inf else 0
    x = a / (2.0 ** squarings)
    b = _PADE13
    eye = np.eye(n, dtype=float_dtype(a))      # a float32 matrix stays float32
    x2 = x @ x
    x4 = x2 @ x2
    x6 = x4 @ x2
    u = x @ (x6 @ (b[13] * x6 + b[11] * x4 + b[9] * x2) + b[7] * x6 + b[5] * x4 + b[3] * x2
             + b[1] * eye)
    v = x6 @ (b[12] * x6 + b[10] * x4 + b[8] * x2) + b[6] * x6 + b[4] * x4 + b[2] * x2 \
        + b[0] * eye
    result = anp.linalg.solve(v - u, v + u)
    for _ in range(squarings):
        result = result @ result
    return result


def sqrtm(a, iterations: int = 30):
    """The principal square root by the Denman-Beavers iteration (stops when converged).
    A real matrix without a real principal root (an eigenvalue on the closed negative real
    axis: SciPy returns a complex one) raises `LinAlgError`, as one the iteration does not
    settle on in `iterations` steps.

    >>> sqrtm(np.array([[4.0, 0.0], [0.0, 9.0]]))
    array([[2., 0.],
           [0., 3.]])
    """
    y, z = a, np.eye(anp.shape(a)[-1], dtype=float_dtype(a))
    settled = 0   # a few more steps once the value has converged, for the derivatives
    no_root = ("sqrtm: the matrix has no real principal square root (an eigenvalue 0 or "
               "on the negative real axis; scipy.linalg.sqrtm gives a complex one)")
    for _ in range(iterations):
        try:
            y_next = 0.5 * (y + anp.linalg.inv(z))
            z = 0.5 * (z + anp.linalg.inv(y))
        except np.linalg.LinAlgError:       # a singular iterate
            raise np.linalg.LinAlgError(no_root) from None
        if np.allclose(np.asarray(anp._primal_value(y_next)),
                       np.asarray(anp._primal_value(y)), rtol=1e-14, atol=1e-14):
            settled += 1
        y = y_next
        if settled == 3:
            break
    if not settled:    # not converged: still a root to 1e-8, or none (it wanders off)
        value, target = np.asarray(anp._primal_value(y)), np.asarray(anp._primal_value(a))
        if not np.isfinite(value).all() or np.linalg.norm(value @ value - target) > \
                1e-8 * max(np.linalg.norm(target), 1e-300):
            raise np.linalg.LinAlgError(f"{no_root}, or it needs more than {iterations} "
                                        "iterations")
    return y
