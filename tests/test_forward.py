"""Forward mode: Dual numbers, vector mode, tags that keep nested perturbations apart."""
import math

import numpy as np
import pytest

import ad
import ad.numpy as anp
from ad.errors import ShapeError


def test_dual_by_hand():
    x = ad.Dual(2.0, 1.0)
    y = x * x + anp.sin(x)
    assert y.primal == pytest.approx(4 + math.sin(2))
    assert y.tangent == pytest.approx(4 + math.cos(2))


def test_dual_with_numpy_functions_and_operators():
    x = ad.Dual(np.array([0.5, 1.5]), np.array([1.0, 0.0]))
    y = np.exp(x) / (1 + x ** 2) - abs(-x)
    expected = np.exp(0.5) * (1 / 1.25 - 2 * 0.5 / 1.25 ** 2) - 1
    assert y.tangent[0] == pytest.approx(expected)
    assert y.tangent[1] == 0.0


def test_dual_vector_mode_carries_k_directions():
    x = ad.Dual(np.array([1.0, 2.0, 3.0]), np.eye(3))
    y = anp.sum(x ** 2)
    np.testing.assert_allclose(y.tangent, [2.0, 4.0, 6.0])


def test_dual_rejects_mismatched_tangent():
    with pytest.raises(ShapeError, match=r"tangent shape \(2,\) must equal the primal shape \(3,\)"):
        ad.Dual(np.ones(3), np.ones(2))


def test_jacfwd_uses_ceil_n_over_chunk_passes():
    calls = []

    def f(x):
        calls.append(1)
        return anp.tanh(x) * 2.0

    x = np.linspace(-1, 1, 10)
    jac = ad.jacfwd(f, chunk_size=4)(x)
    assert len(calls) == 3  # ceil(10 / 4)
    np.testing.assert_allclose(jac, np.diag(2 * (1 - np.tanh(x) ** 2)))
    np.testing.assert_allclose(ad.jacfwd(f, chunk_size=1)(x), jac)
    assert ad.CHUNK_SIZE >= 1


# --- perturbation confusion (Siskind & Pearlmutter): d/dx [x * d/dy (x + y)] at x = 1 is 1
def _confusion(outer, inner):
    def f(x):
        def g(y):
            return x + y
        return x * inner(g)(1.0)
    return outer(f)(1.0)


def _fwd(f):
    return lambda x: ad.jvp(f, (x,), (1.0,))[1]


MODES = {"fwd": _fwd, "rev": ad.grad, "jacfwd": ad.jacfwd, "jacrev": ad.jacrev}


@pytest.mark.parametrize("outer", MODES)
@pytest.mark.parametrize("inner", MODES)
def test_perturbation_confusion(outer, inner):
    assert float(_confusion(MODES[outer], MODES[inner])) == 1.0


def test_hand_duals_nest_outside_transforms():
    x = ad.Dual(3.0, 1.0)
    # the transform inside differentiates in y only; the hand-made dual sees d/dx (x * 2x)
    y = ad.grad(lambda t: t * x)(2.0) * x
    assert float(y.primal) == 9.0 and float(y.tangent) == 6.0


@pytest.mark.parametrize("op", [np.add, np.subtract, np.multiply, np.true_divide, np.maximum,
                                np.arctan2, np.hypot])
@pytest.mark.parametrize("side", ["left", "right"])
def test_an_unbatched_tangent_of_a_lower_rank_argument(op, side):
    # (2, 3, 2) constant with a (3, 2) traced value: its own leading axis is not a batch of
    # directions (before: add/subtract gave a (3, 2, 3, 2) tangent, a sum 3x too big)
    C = np.random.default_rng(0).uniform(1.0, 2.0, (2, 3, 2))
    y = np.arange(6.0).reshape(3, 2) * 0.1 + 0.05
    v = np.linspace(-1.0, 1.0, 6).reshape(3, 2)
    f = (lambda y: op(C, y)) if side == "right" else (lambda y: op(y, C))
    out, tangent = ad.jvp(f, (y,), (v,))
    want = np.tensordot(ad.jacfwd(f)(y), v, axes=2)
    assert tangent.shape == out.shape == (2, 3, 2)
    np.testing.assert_allclose(tangent, want, rtol=1e-12, atol=1e-14)
    g = lambda y: anp.sum(f(y) ** 2)                                   # noqa: E731
    np.testing.assert_allclose(ad.hvp(g, (y,), (v,)), ad.hessian(g)(y).reshape(6, 6).dot(
        v.ravel()).reshape(3, 2), rtol=1e-10)
    dual = ad.Dual(y, v)
    np.testing.assert_allclose((op(C, dual) if side == "right" else op(dual, C)).tangent, want,
                               rtol=1e-12, atol=1e-14)


def test_a_python_complex_constant_keeps_float32_tangents_single():
    x = np.array([0.3, -0.5], np.float32)
    for f in (lambda x: 1j * x, lambda x: anp.abs(x * (1 + 2j)),
              lambda x: anp.real(anp.exp(1j * x))):
        out, tangent = ad.jvp(f, (x,), (np.ones_like(x),))
        assert tangent.dtype == out.dtype == np.asarray(f(x)).dtype
    assert ad.jvp(anp.nanmean, (x,), (x,))[0].dtype == np.float32 == np.nanmean(x).dtype


def test_a_dual_by_hand_holds_plain_values():
    with pytest.raises(ad.LevelError, match="a dual made by hand holds plain values"):
        ad.grad(lambda x: (ad.Dual(x, 1.0) * x).primal)(3.0)
    with pytest.raises(ad.LevelError, match="Inside a transform, use ad.jvp"):
        ad.jvp(lambda x: ad.Dual(1.0, x).tangent, (3.0,), (1.0,))
    nested = ad.Dual(ad.Dual(2.0, 1.0), 1.0) * 3.0       # hand-made inside hand-made: one level
    assert float(nested.tangent) == 3.0


def test_duals_by_hand_with_different_numbers_of_directions_are_refused():
    three = ad.Dual(np.zeros(3), np.eye(3))
    with pytest.raises(ShapeError, match=r"different numbers of directions \(1, 3\)"):
        three + ad.Dual(np.zeros(3), np.array([10.0, 20.0, 30.0]))
    with pytest.raises(ShapeError, match=r"\(2, 4\)"):
        ad.Dual(np.zeros(3), np.ones((2, 3))) * ad.Dual(np.zeros(3), np.ones((4, 3)))
    np.testing.assert_array_equal((three * 2.0 + three).tangent, 3.0 * np.eye(3))
