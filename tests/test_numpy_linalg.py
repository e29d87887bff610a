"""ad.numpy.linalg (ad/numpy/linalg.py): factorisations, solves, norms; every linalg
primitive under blocks of directions (one pass or sweep of k against k single ones)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ad
import ad.numpy as anp
from numpy_table import Table, big, distinct, flat, nz, pos, unit, v, wellcond  # noqa: F401

TABLE = Table()
row = TABLE.row


# ----------------------------------------------------------------------------- linalg
row("linalg.inv", [wellcond(3, 3)])
row("linalg.inv", [wellcond(2, 3, 3)])
row("linalg.solve", [wellcond(3, 3), v(3)])
row("linalg.solve", [wellcond(3, 3), v(3, 2)])
row("linalg.solve", [wellcond(2, 3, 3), v(2, 3, 1)])
row("linalg.det", [wellcond(3, 3)])
row("linalg.det", [wellcond(2, 2, 2)])
row("linalg.slogdet", [wellcond(3, 3) - 6 * np.eye(3)],
    np_fn=lambda a: np.linalg.slogdet(a)[1], fn=lambda a: anp.linalg.slogdet(a)[1],
    id="linalg.slogdet logabsdet")
row("linalg.slogdet", [wellcond(3, 3) - 6 * np.eye(3)],
    np_fn=lambda a: np.linalg.slogdet(a)[0] * a, fn=lambda a: anp.linalg.slogdet(a)[0] * a,
    id="linalg.slogdet sign")


def _spd(a):
    return a @ anp.swapaxes(a, -1, -2) + 3 * np.eye(np.shape(a)[-1])


def _spd_np(a):
    return a @ np.swapaxes(a, -1, -2) + 3 * np.eye(np.shape(a)[-1])


row("linalg.cholesky", [v(3, 3)], np_fn=lambda a: np.linalg.cholesky(_spd_np(a)),
    fn=lambda a: anp.linalg.cholesky(_spd(a)))
row("linalg.cholesky", [v(2, 2, 2)], np_fn=lambda a: np.linalg.cholesky(_spd_np(a)),
    fn=lambda a: anp.linalg.cholesky(_spd(a)))
row("linalg.eigvalsh", [v(3, 3)], np_fn=lambda a: np.linalg.eigvalsh(a + a.T),
    fn=lambda a: anp.linalg.eigvalsh(a + a.T))
row("linalg.eigh", [v(3, 3)], np_fn=lambda a: np.linalg.eigh(a + a.T)[1] ** 2,
    fn=lambda a: anp.linalg.eigh(a + a.T)[1] ** 2, id="linalg.eigh vectors")
row("linalg.eigh", [v(3, 3)],
    np_fn=lambda a: (lambda w, q: q * w @ q.T)(*np.linalg.eigh(a + a.T)),
    fn=lambda a: (lambda w, q: q * w @ q.T)(*anp.linalg.eigh(a + a.T)), id="linalg.eigh rebuild")
for _shape in [(3, 3), (4, 2), (2, 4), (2, 3, 2)]:
    row("linalg.svd", [v(*_shape)], compute_uv=False)
    row("linalg.svd", [v(*_shape)],
        np_fn=lambda a: (lambda u, s, vt: (u ** 2, s, vt ** 2))(
            *np.linalg.svd(a, full_matrices=False)),
        fn=lambda a: (lambda u, s, vt: (u ** 2, s, vt ** 2))(
            *anp.linalg.svd(a, full_matrices=False)), id="linalg.svd factors")
row("linalg.qr", [v(3, 3)], np_fn=lambda a: np.linalg.qr(a)[1], fn=lambda a: anp.linalg.qr(a)[1],
    id="linalg.qr R")
row("linalg.qr", [v(4, 2)], np_fn=lambda a: np.linalg.qr(a)[0], fn=lambda a: anp.linalg.qr(a)[0],
    id="linalg.qr Q")
row("linalg.qr", [v(3, 2)], mode="r")
row("linalg.pinv", [v(3, 2)])
row("linalg.pinv", [v(2, 4)])
row("linalg.pinv", [v(2, 3, 3)])
row("linalg.lstsq", [v(4, 2), v(4)], np_fn=lambda a, b: np.linalg.lstsq(a, b)[0],
    fn=lambda a, b: anp.linalg.lstsq(a, b)[0], id="linalg.lstsq x")
row("linalg.lstsq", [v(4, 2), v(4, 3)], np_fn=lambda a, b: np.linalg.lstsq(a, b)[1],
    fn=lambda a, b: anp.linalg.lstsq(a, b)[1], id="linalg.lstsq residuals")
for _n in [0, 1, 2, 5, -2]:
    row("linalg.matrix_power", [wellcond(3, 3)], n=_n)
row("linalg.multi_dot", [v(2, 3), v(3, 3), v(3)],
    np_fn=lambda a, b, c: np.linalg.multi_dot([a, b, c]),
    fn=lambda a, b, c: anp.linalg.multi_dot([a, b, c]))
row("linalg.cond", [wellcond(3, 3)])
row("linalg.cond", [wellcond(3, 3)], p="fro")
for _ord in [None, 1, 2, np.inf, -np.inf, 3, 0.5]:
    row("linalg.norm", [nz(4)], ord=_ord)
row("linalg.norm", [v(2, 3)])
row("linalg.norm", [v(2, 3)], axis=1)
row("linalg.norm", [v(2, 3)], axis=0, keepdims=True)
row("linalg.norm", [v(2, 3, 2)], keepdims=True)
for _ord in ["fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]:
    row("linalg.norm", [distinct(3, 3)], ord=_ord)
row("linalg.norm", [distinct(2, 3, 4)], ord="fro", axis=(2, 0), keepdims=True)
row("linalg.norm", [distinct(2, 3, 4)], ord=2, axis=(1, 2))



row("linalg.eigvalsh", [wellcond(3, 3)], id="eigvalsh UPLO=U", UPLO="U")
row("linalg.eigh", [wellcond(3, 3)], id="eigh UPLO=U vectors",
    np_fn=lambda a: np.abs(np.linalg.eigh(a, UPLO="U")[1]),
    fn=lambda a: anp.abs(anp.linalg.eigh(a, UPLO="U")[1]))

test_value_matches_numpy, test_derivatives_second_order, test_numpy_dispatch_same_derivative = \
    TABLE.tests()


# ----------------------------------------------------------------------------- blocks of directions
# Every linalg primitive (and the ad.scipy.linalg solves, compositions of solve) under a
# block of k directions: a block of k tangents (jacfwd, one pass of chunk_size=k) equals k
# single-direction JVPs, and a block of k cotangents (jacrev, one sweep) equals k single VJPs.
# The block reaches the primitive as k random directions: x0 + c @ T at c = 0 (forward),
# U @ f(x) (reverse). A block wider than the matrix takes the rules' inverse-and-products
# path (ad/catalogue/linalg.py, _WIDE), a single direction their solves: both are compared.
_n = 3
_A = wellcond(_n, _n)
_SPD = _spd_np(v(_n, _n))
_STACK = wellcond(2, _n, _n)
_RHS = v(_n, 2)
_TALL = v(4, 3) + 3 * np.eye(4, 3)
_TALLER = v(5, 3) + 3 * np.eye(5, 3)
_WIDE_MATRIX = v(2, 4)
_TALL_DISTINCT = distinct(4, 3)
_WIDE_DISTINCT = distinct(2, 4)


def _square(x, shift=_A):
    return shift + anp.reshape(x, np.shape(shift))


def _cat(*outs):
    return anp.concatenate([anp.ravel(o) for o in outs])


BLOCK_CASES = {
    "solve in a": (lambda x: anp.linalg.solve(_square(x), _RHS[:, 0]), 0.1 * v(9)),
    "solve in b": (lambda x: anp.linalg.solve(_A, x), v(3)),
    "solve matrix b": (lambda x: _cat(anp.linalg.solve(_square(x[:9]),
                                                        anp.reshape(x[9:], (3, 2)))),
                       0.1 * v(15)),
    "solve stacked a, unstacked b": (
        lambda x: _cat(anp.linalg.solve(_square(x[:18], _STACK), anp.reshape(x[18:], (3, 2)))),
        0.1 * v(24)),
    "inv": (lambda x: _cat(anp.linalg.inv(_square(x))), 0.1 * v(9)),
    "inv stacked": (lambda x: _cat(anp.linalg.inv(_square(x, _STACK))), 0.1 * v(18)),
    "det": (lambda x: anp.reshape(anp.linalg.det(_square(x)), (1,)), 0.1 * v(9)),
    "det stacked": (lambda x: anp.linalg.det(_square(x, _STACK)), 0.1 * v(18)),
    "slogdet": (lambda x: anp.reshape(anp.linalg.slogdet(_square(x))[1], (1,)), 0.1 * v(9)),
    "cholesky": (lambda x: _cat(anp.linalg.cholesky(_square(x, _SPD))), 0.1 * v(9)),
    "cholesky stacked": (lambda x: _cat(anp.linalg.cholesky(
        _square(x, np.stack([_SPD, _SPD + np.eye(_n)])))), 0.1 * v(18)),
    "eigh": (lambda x: _cat(*anp.linalg.eigh(_square(x, _SPD))), 0.1 * v(9)),
    "svd square": (lambda x: _cat(*anp.linalg.svd(_square(x), full_matrices=False)),
                   0.1 * v(9)),
    "svd tall": (lambda x: _cat(*anp.linalg.svd(_square(x, _TALL_DISTINCT),
                                                full_matrices=False)), 0.1 * v(12)),
    "svd wide": (lambda x: _cat(*anp.linalg.svd(_square(x, _WIDE_DISTINCT),
                                                full_matrices=False)), 0.1 * v(8)),
    "qr square": (lambda x: _cat(*anp.linalg.qr(_square(x))), 0.1 * v(9)),
    "qr tall": (lambda x: _cat(*anp.linalg.qr(_square(x, _TALLER))), 0.1 * v(15)),
    "pinv tall": (lambda x: _cat(anp.linalg.pinv(_square(x, _TALL))), 0.1 * v(12)),
    "pinv wide": (lambda x: _cat(anp.linalg.pinv(_square(x, _WIDE_MATRIX))), 0.1 * v(8)),
    "lstsq": (lambda x: anp.linalg.lstsq(_square(x[:12], _TALL), x[12:])[0],
              np.concatenate([0.1 * v(12), v(4)])),
    "matrix_power 3": (lambda x: _cat(anp.linalg.matrix_power(_square(x), 3)), 0.1 * v(9)),
    "matrix_power -2": (lambda x: _cat(anp.linalg.matrix_power(_square(x), -2)), 0.1 * v(9)),
}
try:   # ad.scipy (an optional extra): its solves are compositions of solve
    from ad.scipy import linalg as sla
except ImportError:   # pragma: no cover - depends on the environment
    sla = None
if sla is not None:
    BLOCK_CASES["solve_triangular"] = (
        lambda x: _cat(sla.solve_triangular(_square(x[:9]), anp.reshape(x[9:], (3, 2)),
                                            lower=True)), 0.1 * v(15))
    BLOCK_CASES["cho_solve"] = (
        lambda x: _cat(sla.cho_solve(sla.cho_factor(_square(x, _SPD), lower=True), _RHS)),
        0.1 * v(9))


def _pushed(f, x0, tangents):
    """c -> f(x0 + c @ tangents): at c = 0 its Jacobian by one forward pass of k = len(tangents)
    directions is the block of JVPs along the rows of `tangents`."""
    return lambda c: f(x0 + c @ tangents)


def _pulled(f, cotangents):
    """x -> cotangents @ f(x): its Jacobian by one reverse sweep of k = len(cotangents)
    cotangents is the block of VJPs of the rows of `cotangents`."""
    return lambda x: cotangents @ f(x)


@pytest.mark.parametrize("case", sorted(BLOCK_CASES))
@given(k=st.integers(1, 8), seed=st.integers(0, 2 ** 32 - 1))
def test_block_of_directions_equals_one_at_a_time(case, k, seed):
    f, x0 = BLOCK_CASES[case]
    r = np.random.default_rng(seed)
    tangents = r.standard_normal((k, x0.size))
    block = ad.jacfwd(_pushed(f, x0, tangents), chunk_size=k)(np.zeros(k))
    loop = np.stack([ad.jvp(f, (x0,), (t,))[1] for t in tangents], axis=-1)
    np.testing.assert_allclose(block, loop, rtol=1e-9, atol=1e-11)
    y, vjp_fn = ad.vjp(f, x0)
    cotangents = r.standard_normal((k, np.size(y)))
    block = ad.jacrev(_pulled(f, cotangents), chunk_size=k)(x0)
    loop = np.stack([vjp_fn(u)[0] for u in cotangents])
    np.testing.assert_allclose(block, loop, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("case", sorted(BLOCK_CASES))
def test_block_of_directions_second_order(case):
    """The block paths differentiate again: the Hessian of a scalarisation by forward over
    forward mode, blocks of all n directions at both levels (the rules' inverse-and-products
    paths, differentiated), equals reverse over reverse (one direction at a time inside)."""
    f, x0 = BLOCK_CASES[case]
    w = np.random.default_rng(1).standard_normal(np.size(f(x0)))

    def g(x):
        return anp.sum(f(x) * w)

    n = x0.size
    blocks = ad.jacfwd(ad.jacfwd(g, chunk_size=n), chunk_size=n)(x0)
    np.testing.assert_allclose(blocks, ad.jacrev(ad.jacrev(g))(x0), rtol=1e-9, atol=1e-11)


_LAPACK = ["solve", "inv", "det", "slogdet", "cholesky", "eigh", "svd", "qr", "pinv"]


@pytest.mark.parametrize("case", sorted(BLOCK_CASES))
def test_block_of_directions_factorises_once(case, monkeypatch):
    """One pass (or sweep) of a block of k directions makes no more LAPACK calls for k = 16
    than for k = 2, none on more matrices than the program's own stacks (at most 2 here): a
    rule run once per direction, or a block broadcast against a matrix (NumPy then
    factorises a copy of it per direction), fails."""
    f, x0 = BLOCK_CASES[case]
    calls = []

    def counting(name, function):
        def counted(a, *args, **kwargs):
            stack = np.shape(a)[:-2]
            if name == "solve":   # NumPy broadcasts a against b's stack
                stack = np.broadcast_shapes(stack, np.shape(args[0])[:-2])
            calls.append((name, math.prod(stack)))
            return function(a, *args, **kwargs)
        return counted

    for name in _LAPACK:
        monkeypatch.setattr(np.linalg, name, counting(name, getattr(np.linalg, name)))
    r = np.random.default_rng(0)
    seen = {}
    for k in (2, 16):
        calls.clear()
        ad.jacfwd(_pushed(f, x0, r.standard_normal((k, x0.size))), chunk_size=k)(np.zeros(k))
        seen["forward", k] = list(calls)
        calls.clear()
        ad.jacrev(_pulled(f, r.standard_normal((k, np.size(f(x0))))), chunk_size=k)(x0)
        seen["reverse", k] = list(calls)
    for mode in ("forward", "reverse"):
        assert len(seen[mode, 16]) <= len(seen[mode, 2]), (mode, seen[mode, 2], seen[mode, 16])
        assert max((m for _, m in seen[mode, 16]), default=0) <= 2, (mode, seen[mode, 16])


@pytest.mark.skipif(not hasattr(np.linalg, "vector_norm"), reason="NumPy 2's vector_norm")
def test_numpy_vector_and_matrix_norm_dispatch():
    x = np.linspace(0.1, 1.0, 6)
    np.testing.assert_allclose(ad.grad(lambda x: np.linalg.vector_norm(x))(x),
                               x / np.linalg.norm(x), rtol=1e-14)
    np.testing.assert_allclose(
        ad.grad(lambda x: np.linalg.matrix_norm(np.reshape(x, (2, 3))))(x),
        x / np.linalg.norm(x), rtol=1e-14)


def test_vector_norm_over_several_axes_is_a_vector_norm():
    x = np.arange(1.0, 25.0).reshape(2, 3, 4) / 10
    for axis in ((0, 1), (1, 2), (2, 0), (0, 1, 2), -1):
        for order in (2, 1, np.inf, -np.inf, 3, 0.5):
            for keepdims in (False, True):
                np.testing.assert_allclose(
                    anp.linalg.vector_norm(x, axis=axis, ord=order, keepdims=keepdims),
                    np.linalg.vector_norm(x, axis=axis, ord=order, keepdims=keepdims),
                    rtol=1e-12)
    f = lambda x: anp.linalg.vector_norm(x, axis=(0, 2), ord=3)   # noqa: E731
    ad.check_grads(f, (x,), order=2)


def test_upper_cholesky_of_a_hermitian_matrix_is_the_conjugate_transpose():
    h = np.array([[4.0, 1 + 1j], [1 - 1j, 3.0]])
    u = anp.linalg.cholesky(h, upper=True)
    np.testing.assert_allclose(u, np.linalg.cholesky(h, upper=True), atol=1e-14)
    np.testing.assert_allclose(np.conj(u.T) @ u, h, atol=1e-13)


def test_lstsq_refuses_an_rcond_it_would_not_use():
    a = np.array([[1.0, 0.0], [0.0, 1e-3]])
    with pytest.raises(NotImplementedError, match="rcond"):
        ad.jacfwd(lambda a: anp.linalg.lstsq(a, np.ones(2), rcond=1e-2)[0])(a)
    np.testing.assert_allclose(ad.jacfwd(lambda a: anp.linalg.lstsq(a, np.ones(2))[0])(a),
                               ad.jacfwd(lambda a: anp.linalg.solve(a, np.ones(2)))(a))


@pytest.mark.parametrize("order", [0.3, 0.5, -0.5, -1.0])
def test_norms_below_order_one_have_no_nan_derivative(order):
    """|x|^p for p < 1 has an infinite derivative at 0: reverse mode gave NaN at the origin
    and at a zero element (0 * inf) where forward mode gave 0 (conventions: 0, never NaN)."""
    f = lambda x: anp.linalg.norm(x, order)                 # noqa: E731
    for x in (np.zeros(3), np.array([0.0, 1.0, 2.0]), np.array([0.5, -1.0, 2.0])):
        with np.errstate(divide="ignore"):
            assert float(f(x)) == pytest.approx(np.linalg.norm(x, order))
        grad, forward = ad.grad(f)(x), ad.jacfwd(f)(x)
        assert np.all(np.isfinite(grad))
        np.testing.assert_allclose(grad, forward, rtol=1e-12, atol=0)
        if np.all(x != 0):
            ad.check_grads(f, (x,), order=2)
