"""`check_grads`: verify a function's derivatives numerically, to any order.

Forward mode is checked against central finite differences J v; reverse mode against the
same J v by the dot-product test <u, J v> = <J^T u, v> (so a rule wrong in both modes
alike cannot pass, and a VJP-only function is checked too). Order k checks the derivatives of the
order-(k-1) JVP/VJP maps the same way. Imports `ad.transforms` and `ad.tree`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ad import tree
from ad.transforms import jvp, vjp


def _random_like(leaves, rng):
    """Random directions like `leaves` (complex ones in both parts)."""
    out = []
    for x in leaves:
        draw = rng.standard_normal(np.shape(x))
        if np.result_type(x).kind == "c":
            draw = draw + 1j * rng.standard_normal(np.shape(x))
        out.append(draw.astype(np.result_type(x)))
    return out


def _vdot(a_leaves, b_leaves) -> float:
    """The real pairing Re(sum(a * b)) (unconjugated, JAX's for complex values: the VJP is
    the JVP's transpose under it)."""
    return float(sum(np.real(np.sum(np.asarray(a) * np.asarray(b)))
                     for a, b in zip(a_leaves, b_leaves)))


def _axpy(alpha, x_leaves, y_leaves):
    return [np.asarray(y) + alpha * np.asarray(x) for x, y in zip(x_leaves, y_leaves)]


def check_grads(f: Callable, args: Sequence, order: int = 2, modes=("fwd", "rev"),
                eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-6,
                rng: np.random.Generator | None = None) -> None:
    """Raise AssertionError when `f`'s derivatives at `args` disagree with finite differences.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> ad.check_grads(lambda x: anp.sum(anp.tanh(x) ** 2), (np.array([0.1, -0.4]),))
    """
    if not modes or not set(modes) <= {"fwd", "rev"}:
        raise ValueError(f"check_grads: modes must name 'fwd' and/or 'rev', not {modes!r}")
    rng = rng or np.random.default_rng(0)
    args = tuple(args)
    leaves, structure = tree.flatten(args)
    leaves = [np.asarray(x, dtype=np.result_type(x, np.float64)) for x in leaves]

    def call(flat):
        return f(*tree.unflatten(structure, flat))

    tangent = _random_like(leaves, rng)
    # J v by central differences: what both modes are checked against (reverse mode by the
    # dot-product test, so a wrong rule shared by both cannot pass; a VJP-only function,
    # custom_vjp's, is checked without a JVP)
    plus = tree.flatten(call(_axpy(eps, tangent, leaves)))[0]
    minus = tree.flatten(call(_axpy(-eps, tangent, leaves)))[0]
    numeric = [(np.asarray(p, dtype=np.result_type(p, np.float64))
                - np.asarray(m, dtype=np.result_type(m, np.float64))) / (2 * eps)
               for p, m in zip(plus, minus)]
    if "fwd" in modes:
        out, out_tangent = jvp(call, (leaves,), (tangent,))
        for k, (t, n) in enumerate(zip(tree.flatten(out_tangent)[0], numeric)):
            if not np.allclose(t, n, rtol=rtol, atol=atol):
                raise AssertionError(
                    f"check_grads: forward-mode derivative of output leaf {k} differs from "
                    f"central differences (order {order}): max abs error "
                    f"{np.max(np.abs(np.asarray(t) - n)):.3g}")
    else:
        out = call(leaves)
    out_leaves, out_structure = tree.flatten(out)
    cotangent = _random_like(out_leaves, rng)
    if "rev" in modes:
        _, pullback = vjp(call, leaves)
        (in_ct,) = pullback(tree.unflatten(out_structure, cotangent))
        lhs = _vdot(cotangent, numeric)
        rhs = _vdot(tree.flatten(in_ct)[0], tangent)
        if not np.isclose(lhs, rhs, rtol=rtol, atol=max(atol, rtol * _vdot(
                [np.abs(c) for c in cotangent], [np.abs(n) for n in numeric]))):
            raise AssertionError(f"check_grads: reverse mode fails the dot-product test "
                                 f"against central differences (order {order}): <u, J v> = "
                                 f"{lhs!r} but <J^T u, v> = {rhs!r}")
    if order > 1:
        if "fwd" in modes:
            def jvp_map(*flat):
                return jvp(call, (list(flat),), (tangent,))[1]
            check_grads(jvp_map, leaves, order - 1, modes, eps, rtol, atol, rng)
        if "rev" in modes:
            def vjp_map(*flat):
                return vjp(call, list(flat))[1](tree.unflatten(out_structure, cotangent))[0]
            check_grads(vjp_map, leaves, order - 1, modes, eps, rtol, atol, rng)
