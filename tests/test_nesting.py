"""Nested derivatives to fourth order, mixing forward and reverse at every level."""
import itertools

import numpy as np
import pytest

import ad
import ad.numpy as anp


def _d(mode):
    if mode == "fwd":
        return lambda f: (lambda x: ad.jvp(f, (x,), (np.ones_like(x),))[1])
    if mode == "jacfwd":
        return ad.jacfwd
    return ad.grad


@pytest.mark.parametrize("modes", list(itertools.product(["fwd", "rev"], repeat=4)),
                         ids="-".join)
def test_fourth_derivative_of_sin_exp(modes):
    def f(x):
        return anp.sin(x) * anp.exp(0.5 * x)
    g = f
    for mode in modes:
        g = _d(mode)(g)
    x = 0.7
    # d^4/dx^4 [sin(x) e^{x/2}]: (sin x)(e^{x/2}) with (D)^4 on e^{(i+1/2)x}: Im[(i+1/2)^4 e^{(i+1/2)x}]
    z = (1j + 0.5)
    expected = np.imag(z ** 4 * np.exp(z * x))
    assert float(g(x)) == pytest.approx(expected, rel=1e-10)


def test_third_order_tensor_forward_over_reverse_over_reverse():
    A = np.random.default_rng(0).standard_normal((3, 3))

    def f(x):
        return anp.sum(anp.tanh(A @ x) ** 2)
    x = np.array([0.2, -0.1, 0.4])
    t3 = ad.jacfwd(ad.jacrev(ad.jacrev(f)))(x)
    t3b = ad.jacrev(ad.jacfwd(ad.jacfwd(f)))(x)
    np.testing.assert_allclose(t3, t3b, atol=1e-12)
    # symmetric in all index permutations
    for perm in itertools.permutations(range(3)):
        np.testing.assert_allclose(t3, np.transpose(t3, perm), atol=1e-12)


def test_hessian_and_hvp_agree():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((5, 4))

    def f(x):
        return anp.sum(anp.tanh(A @ x) ** 2) + anp.sum(x ** 3)
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    H = ad.hessian(f)(x)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    np.testing.assert_allclose(ad.hvp(f, (x,), (v,)), H @ v, atol=1e-12)
    np.testing.assert_allclose(H, ad.jacrev(ad.jacfwd(f))(x), atol=1e-12)


# Axes counted from the end (the extremum rules' sums, ad.numpy's rolls) must not be moved
# past the batch axes of a forward-over-forward tangent: a wrong Hessian or a shape error.
NEGATIVE_AXIS_PROGRAMS = {
    "max of a product": lambda v: anp.max(v * v[0]),
    "max of a slice": lambda v: anp.max(anp.sin(v[:3])),
    "min over rows": lambda v: anp.sum(anp.min(anp.reshape(v * v, (2, 2)), axis=-1) * v[:2]),
    "ptp": lambda v: anp.ptp(v * v[1]),
    "inf-norm": lambda v: anp.linalg.norm(v * v[0], ord=np.inf),
    "1-norm": lambda v: anp.linalg.norm(anp.sin(v), ord=1) * v[2],
    "sum over -1": lambda v: anp.sum(anp.sum(anp.reshape(v, (2, 2)) ** 3, axis=-1) * v[:2]),
    "concatenate on -1": lambda v: anp.sum(anp.concatenate(
        [anp.reshape(v, (2, 2)), anp.reshape(v * v, (2, 2))], axis=-1) ** 3),
    "transpose (-1, -2)": lambda v: anp.sum(anp.transpose(
        anp.reshape(v, (2, 2)), (-1, -2)) * anp.reshape(v * v, (2, 2))),
}


@pytest.mark.parametrize("name", NEGATIVE_AXIS_PROGRAMS)
def test_forward_over_forward_with_axes_from_the_end(name):
    f = NEGATIVE_AXIS_PROGRAMS[name]
    x = np.array([0.3, -0.5, 0.9, 0.4])
    expected = ad.hessian(f)(x)
    np.testing.assert_allclose(ad.jacfwd(ad.jacfwd(f))(x), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ad.jacrev(ad.jacfwd(f))(x), expected, rtol=1e-10, atol=1e-12)
    # and against finite differences of the gradient
    step = 1e-6
    fd = np.stack([(ad.grad(f)(x + step * e) - ad.grad(f)(x - step * e)) / (2 * step)
                   for e in np.eye(4)])
    np.testing.assert_allclose(expected, fd, rtol=1e-5, atol=1e-6)


def test_forward_over_forward_through_max_has_the_known_hessian():
    # max_j v_j v_0 at this x is v_0 v_2: the Hessian has ones at (0, 2) and (2, 0)
    x = np.array([0.3, -0.5, 0.9])
    h = ad.jacfwd(ad.jacfwd(lambda v: anp.max(v * v[0])))(x)
    np.testing.assert_array_equal(h, [[0, 0, 1], [0, 0, 0], [1, 0, 0]])


@pytest.mark.parametrize("x", [2.0, -2.0, 0.5])
def test_power_s_mixed_second_derivative_where_the_exponent_is_zero(x):
    """d2/dxdy x**y = x**(y-1) (1 + y log|x|): 1/x at y == 0 (the partial's guard against
    0 * inf at x == y == 0 is no constant elsewhere)."""
    f = lambda v: anp.power(v[0], v[1])            # noqa: E731
    p = np.array([x, 0.0])
    expected = np.array([[0.0, 1.0 / x], [1.0 / x, np.log(abs(x)) ** 2]])
    for hess in (ad.hessian(f), ad.jacrev(ad.jacrev(f)), ad.jacfwd(ad.jacfwd(f))):
        np.testing.assert_allclose(hess(p), expected, rtol=1e-14, atol=1e-15)
    # through a program: (2 + x) ** x at 0 has second derivative 1 + log(2)**2
    g = lambda t: anp.power(2.0 + t, t)            # noqa: E731
    assert ad.grad(ad.grad(g))(0.0) == pytest.approx(1.0 + np.log(2.0) ** 2, rel=1e-14)
