"""Complex numbers, as JAX does them: holomorphic primitives' rules on complex values
(JVP against complex finite differences, the dot-product test in the bilinear pairing
Re(sum u * v), jacfwd against jacrev), the non-holomorphic parts (abs, real, imag, conj,
angle) by grad = df/dx - i df/dy, the transforms' holomorphic= rules, second order, and
named refusals. Expected values marked JAX were computed with jax 0.10.2."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import ad
import ad.numpy as anp
from ad.catalogue import BUILTINS
from ad.primitive import PRIMITIVES

HOLOMORPHIC = sorted(name for name in BUILTINS if PRIMITIVES[name].elementwise
                     and PRIMITIVES[name].complex == "holomorphic")

# Off every branch cut of the standard functions (cuts lie on the axes): 0.3 <= Re <= 0.9,
# 0.1 <= Im <= 0.4.
parts = st.floats(0.0, 1.0)
complex_vectors = st.lists(st.tuples(parts, parts), min_size=3, max_size=3).map(
    lambda pairs: np.array([0.3 + 0.6 * a + 1j * (0.1 + 0.3 * b) for a, b in pairs]))
directions = st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), min_size=3,
                      max_size=3).map(lambda pairs: np.array([a + 1j * b for a, b in pairs]))


def test_the_catalogue_declares_its_holomorphic_primitives():
    assert {"exp", "sin", "log", "multiply", "true_divide", "sqrt", "tanh"} <= set(HOLOMORPHIC)
    for name in ("maximum", "floor_divide", "arctan2", "hypot"):
        if name in PRIMITIVES:
            assert PRIMITIVES[name].complex is None


@pytest.mark.parametrize("name", HOLOMORPHIC)
@settings(max_examples=15, deadline=None)
@given(zs=st.lists(complex_vectors, min_size=2, max_size=2),
       ts=st.lists(directions, min_size=2, max_size=2), u=directions)
def test_holomorphic_rules_on_complex_values(name, zs, ts, u):
    primitive = PRIMITIVES[name]
    zs, ts = zs[:primitive.arity], ts[:primitive.arity]

    def f(*args):
        return primitive(*args)
    out, tangent = ad.jvp(f, tuple(zs), tuple(ts))
    h = 1e-6
    numeric = (f(*[z + h * t for z, t in zip(zs, ts)])
               - f(*[z - h * t for z, t in zip(zs, ts)])) / (2 * h)
    assert np.allclose(tangent, numeric, rtol=1e-5, atol=1e-7)
    _, pullback = ad.vjp(f, *zs)
    cotangents = pullback(u)
    # <u, J t> = <J^T u, t> in the pairing Re(sum a * b)
    left = np.real(np.sum(u * tangent))
    right = sum(np.real(np.sum(c * t)) for c, t in zip(cotangents, ts))
    assert np.isclose(left, right, rtol=1e-9, atol=1e-12)
    forward = ad.jacfwd(f, argnums=tuple(range(primitive.arity)), holomorphic=True)(*zs)
    reverse = ad.jacrev(f, argnums=tuple(range(primitive.arity)), holomorphic=True)(*zs)
    for a, b in zip(forward, reverse):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


def conj_grad_numeric(g, z, h=1e-6):
    """df/dx - i df/dy of a real function g of complex z, by central differences."""
    out = np.zeros_like(z)
    for k in range(z.size):
        e = np.zeros_like(z)
        e.flat[k] = 1
        dx = (g(z + h * e) - g(z - h * e)) / (2 * h)
        dy = (g(z + 1j * h * e) - g(z - 1j * h * e)) / (2 * h)
        out.flat[k] = dx - 1j * dy
    return out


REAL_VALUED = {
    "abs": lambda z: anp.sum(anp.abs(z) ** 3),
    "real": lambda z: anp.sum(anp.real(z * z) * anp.real(z)),
    "imag": lambda z: anp.sum(anp.imag(anp.exp(z)) ** 2),
    "conj": lambda z: anp.sum(anp.real(anp.conj(z) * anp.sin(z))),
    "angle": lambda z: anp.sum(anp.angle(z) * anp.abs(z)),
    "mixed": lambda z: anp.sum(anp.abs(anp.linalg.solve(
        np.array([[2.0, 1j, 0], [0.5, 3, 0], [0, 1, 1]]), z * z)) ** 2),
    # magnitudes: |z|^2, not z * z (a complex "norm" before)
    "norm": lambda z: anp.linalg.norm(z * z) * anp.linalg.vector_norm(z, ord=3),
    "std": lambda z: anp.std(anp.sin(z)) + anp.var(z),
    "frobenius": lambda z: anp.linalg.norm(anp.outer(z, anp.conj(z) + 1.0)),
    "cov": lambda z: anp.real(anp.trace(anp.cov(anp.stack([z, z * z])))),
}


def test_magnitudes_of_complex_values_are_numpy_s():
    z = np.array([0.3 + 0.4j, -0.5 + 0.2j, 0.8 - 0.6j])
    m = np.stack([z, z * z - 1j])
    for ours, theirs in [(anp.linalg.norm(z), np.linalg.norm(z)),
                         (anp.linalg.vector_norm(z), np.linalg.vector_norm(z)),
                         (anp.linalg.norm(m), np.linalg.norm(m)),
                         (anp.linalg.norm(m, axis=1), np.linalg.norm(m, axis=1)),
                         (anp.std(z), np.std(z)), (anp.var(m, axis=0), np.var(m, axis=0)),
                         (anp.cov(m), np.cov(m))]:
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
        assert np.asarray(ours).dtype == np.asarray(theirs).dtype


@pytest.mark.parametrize("name", sorted(REAL_VALUED))
@settings(max_examples=10, deadline=None)
@given(z=complex_vectors)
def test_real_valued_functions_of_complex_inputs(name, z):
    # std of equal values is at its kink (the derivative there is a convention, and
    # central differences straddle it)
    assume(name != "std" or np.ptp(z.real) + np.ptp(z.imag) > 1e-3)
    g = REAL_VALUED[name]
    assert np.allclose(ad.grad(g)(z), conj_grad_numeric(g, z), rtol=1e-5, atol=1e-7)
    # second order through complex intermediates: split z into real inputs
    def split(x, y):
        return g(x + 1j * y)
    x, y = z.real, z.imag
    fwd = ad.jacfwd(ad.grad(split, argnums=(0, 1)), argnums=(0, 1))(x, y)
    rev = ad.jacrev(ad.grad(split, argnums=(0, 1)), argnums=(0, 1))(x, y)
    for row_f, row_r in zip(fwd, rev):
        for a, b in zip(row_f, row_r):
            assert np.allclose(a, b, rtol=1e-9, atol=1e-10)
    h = 1e-5
    numeric = (ad.grad(split)(x + h, y) - ad.grad(split)(x - h, y)) / (2 * h)
    assert np.allclose(np.sum(fwd[0][0], axis=1), numeric, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- JAX's values
def test_values_match_jax():
    z = 3.0 + 4.0j
    assert np.isclose(ad.grad(lambda z: anp.abs(z) ** 2)(z), 6 - 8j)              # JAX
    assert np.isclose(ad.grad(lambda z: anp.real(z * z))(z), 6 + 8j)              # JAX
    assert np.isclose(ad.grad(anp.sin, holomorphic=True)(z), np.cos(z))
    assert ad.vjp(lambda z: z * (2 + 1j), 1 + 0j)[1](1.0 + 0j)[0] == 2 + 1j      # JAX
    assert ad.vjp(anp.conj, 1 + 0j)[1](1.0 + 2j)[0] == 1 - 2j                    # JAX
    assert ad.vjp(anp.imag, 1 + 0j)[1](1.0)[0] == -1j                            # JAX
    assert np.isclose(ad.vjp(anp.abs, z)[1](1.0)[0], 0.6 - 0.8j)                 # JAX
    assert np.allclose(ad.jvp(anp.abs, (z,), (1 + 0j,)), (5.0, 0.6))              # JAX
    assert np.isclose(ad.grad(anp.angle)(1 + 1j), -0.5 - 0.5j)                   # JAX
    assert ad.jacfwd(lambda z: z * z, holomorphic=True)(1 + 1j) == 2 + 2j        # JAX
    assert np.isclose(ad.jacfwd(lambda x: anp.exp(1j * x))(0.3), 1j * np.exp(0.3j))


def test_silent_wrong_answers_of_the_trial_are_right():
    # issue 15's reproducers: a complex intermediate of a real function
    assert np.isclose(ad.grad(lambda x: anp.abs(x * (1 + 1j)) ** 2)(0.3), 1.2)  # JAX 1.2
    assert np.isclose(ad.grad(lambda x: np.real(np.exp(1j * x)))(0.3), -np.sin(0.3))
    x = np.array([0.3, 0.7])
    assert np.allclose(ad.hessian(lambda x: anp.sum(anp.abs(anp.exp(1j * x) * x) ** 2))(x),
                       2 * np.eye(2))                                           # JAX


def test_real_inputs_get_real_cotangents_and_tangents():
    x = np.array([0.3, 0.7], dtype=np.float32)
    g = ad.grad(lambda x: anp.sum(anp.real(x * (1 + 2j)) ** 2))(x)
    assert g.dtype == np.float32
    _, t = ad.jvp(lambda x: anp.abs(x * 1j), (np.array([2.0]),), (np.array([1.0]),))
    assert t.dtype.kind == "f" and np.allclose(t, 1.0)


def test_holomorphic_linear_algebra_and_structure():
    m = np.array([[2.0, 1j], [0.5, 3.0]])
    b = np.array([1.0 + 1j, 2.0])
    assert np.allclose(ad.jacrev(lambda b: anp.linalg.solve(m, b), holomorphic=True)(b),
                       np.linalg.inv(m))
    def f(z):
        return anp.cumsum(anp.concatenate([z[::-1], z ** 2]))[1:3] @ m.T
    z = np.array([0.5 + 0.2j, 0.3 - 0.1j])
    assert np.allclose(ad.jacfwd(f, holomorphic=True)(z), ad.jacrev(f, holomorphic=True)(z),
                       rtol=1e-13)
    j = ad.jacfwd(lambda z: anp.reshape(anp.sum(anp.reshape(anp.tile(z, 2), (2, 2)) ** 3,
                                                axis=0), (2,)), holomorphic=True)(z)
    assert np.allclose(j, np.diag(6 * z ** 2))
    assert np.allclose(ad.jacfwd(lambda a: anp.linalg.det(a), holomorphic=True)(m),
                       np.linalg.det(m) * np.linalg.inv(m).T)


# ----------------------------------------------------------------------------- refusals
def test_auto_jacobians_stay_holomorphic_on_later_calls():
    jac = ad.jacobian(lambda z: z * z, holomorphic=True)
    z = np.array([1 + 1j, 2 - 1j])
    for _ in range(3):                   # the first call decides; later ones run the mode
        assert np.allclose(jac(z), np.diag(2 * z))


def test_complex_outputs_and_inputs_need_holomorphic():
    with pytest.raises(ad.DTypeError, match="holomorphic=True"):
        ad.grad(lambda z: z * z)(1 + 0j)
    with pytest.raises(ad.DTypeError, match="real outputs"):
        ad.jacrev(lambda x: anp.exp(1j * x))(0.3)
    with pytest.raises(ad.DTypeError, match="real inputs"):
        ad.jacfwd(lambda z: z * z)(1 + 0j)
    with pytest.raises(ad.DTypeError, match="needs complex inputs"):
        ad.grad(lambda x: x * 1j, holomorphic=True)(1.0)
    with pytest.raises(ad.DTypeError, match="holomorphic=True"):
        ad.jacobian(lambda z: z * z)(np.ones(2) + 0j)


def test_sparse_and_distributed_jacobians_refuse_complex_by_name():
    from concurrent.futures import ThreadPoolExecutor
    with pytest.raises(ad.DTypeError, match="sparse=True"):
        ad.jacobian(lambda x: anp.exp(1j * x), sparse=True)(np.ones(3))
    with ThreadPoolExecutor(1) as pool, pytest.raises(ad.DTypeError, match="real outputs"):
        ad.jacfwd(lambda x: anp.exp(1j * x), executor=pool)(np.ones(3))


def test_primitives_without_complex_rules_are_named():
    with pytest.raises(ad.DTypeError, match="'maximum'"):
        ad.grad(lambda z: anp.sum(anp.real(anp.maximum(z, 0.5))))(np.ones(2) + 1j)
    with pytest.raises(ad.DTypeError, match="'eigh'"):
        ad.grad(lambda x: anp.sum(anp.linalg.eigh(x * (1 + 0j))[0]))(np.eye(2))
    user = ad.defprimitive("complex_refused_example", lambda x: x * 2,
                           jvp=(lambda t, out, x: 2 * t,), vjp=(lambda ct, out, x: 2 * ct,))
    with pytest.raises(ad.DTypeError, match="complex_refused_example"):
        ad.grad(lambda x: anp.real(user(x * 1j)))(1.0)
    assert ad.grad(lambda x: user(x))(1.0) == 2.0


# ----------------------------------------------------------------------------- fft
FFTS = {
    "fft n=7 ortho": lambda z: anp.fft.fft(z, n=7, norm="ortho"),
    "ifft n=3": lambda z: anp.fft.ifft(z, n=3),
    "fft2": lambda z: anp.fft.fft2(anp.reshape(z, (2, 3)), s=(3, 2)),
    "ifftn forward": lambda z: anp.fft.ifftn(anp.reshape(z, (3, 2)), axes=(0,),
                                            norm="forward"),
    "irfft n=7": lambda z: anp.fft.irfft(z, n=7),
    "irfft n=4": lambda z: anp.fft.irfft(z, n=4, norm="ortho"),
    "hfft": lambda z: anp.fft.hfft(z),
    "rfft of real part": lambda z: anp.fft.rfft(anp.real(z) * anp.imag(z), n=8),
    "fftshift": lambda z: anp.fft.fftshift(z * z),
}


@pytest.mark.parametrize("name", sorted(FFTS))
@settings(max_examples=10, deadline=None)
@given(z=st.lists(complex_vectors, min_size=2, max_size=2).map(np.concatenate),
       t=st.lists(directions, min_size=2, max_size=2).map(np.concatenate))
def test_fft_rules_on_complex_values(name, z, t):
    f = FFTS[name]
    out, tangent = ad.jvp(f, (z,), (t,))
    h = 1e-6
    assert np.allclose(tangent, (f(z + h * t) - f(z - h * t)) / (2 * h), rtol=1e-6, atol=1e-8)
    u = np.cos(np.arange(out.size)).reshape(out.shape) * (1 + 0.5j if out.dtype.kind == "c"
                                                          else 1.0)
    (back,) = ad.vjp(f, z)[1](u)
    assert np.isclose(np.real(np.sum(u * tangent)), np.real(np.sum(back * t)), rtol=1e-9,
                      atol=1e-12)
    assert np.allclose(out, f(z))            # f on plain arrays runs NumPy's own transforms


def test_fft_values_are_numpy_s_and_np_dispatches():
    x = np.random.default_rng(3).normal(size=(4, 6))
    for name in ("fft", "ifft", "rfft", "fft2", "ifft2", "rfft2", "fftn", "ifftn", "rfftn"):
        got = ad.jvp(lambda x: getattr(np.fft, name)(x), (x,), (x,))
        assert np.allclose(got[0], getattr(np.fft, name)(x))
        assert np.allclose(got[1], getattr(np.fft, name)(x))          # linear
    spectrum = np.fft.rfft(x)
    assert np.allclose(ad.jvp(np.fft.irfft, (spectrum,), (spectrum,))[1], x)


# ----------------------------------------------------------------------------- eig
# entries rounded: LAPACK's balancing loses the eigenvectors of matrices with entries like
# 1e-200 beside O(1) ones (numpy's own values are off there, so is any derivative)
matrices = st.lists(st.floats(-0.5, 0.5), min_size=9, max_size=9).map(
    lambda v: np.round(np.reshape(v, (3, 3)), 3) + np.diag([0.0, 2.0, 4.0]))   # distinct
# a diagonal matrix's eigenvectors are the axes, where |v|'s derivative has a kink: keep off
off_diagonal = np.array([[0, 0.3, -0.2], [0.1, 0, 0.4], [-0.3, 0.2, 0]])


@settings(max_examples=15, deadline=None)
@given(a=matrices, b=matrices)
def test_eig_of_real_and_complex_matrices(a, b):
    def values(m):
        return anp.sum(anp.real(anp.linalg.eigvals(m) ** 3)) + anp.sum(
            anp.imag(anp.linalg.eigvals(m)) ** 2)

    def vectors(m):          # invariant to each vector's phase and to the pairs' order
        return anp.sum(anp.abs(anp.linalg.eig(m).eigenvectors) ** 4 * np.arange(3.0)[:, None])
    ad.check_grads(values, (a,), order=2)
    ad.check_grads(vectors, (a + off_diagonal,), order=2)
    z = a + 0.3j * b                               # eigenvalues are holomorphic in A
    forward = ad.jacfwd(anp.linalg.eigvals, holomorphic=True)(z)
    reverse = ad.jacrev(anp.linalg.eigvals, holomorphic=True)(z)
    assert np.allclose(forward, reverse, rtol=1e-9, atol=1e-11)
    h = 1e-6
    t = b[::-1] + 1j * a
    w = np.linalg.eigvals(z)

    def matched(m):          # LAPACK may list the perturbed eigenvalues in another order
        found = np.linalg.eigvals(m)
        return found[[int(np.argmin(np.abs(found - x))) for x in w]]
    numeric = (matched(z + h * t) - matched(z - h * t)) / (2 * h)
    tangent = ad.jvp(anp.linalg.eigvals, (z,), (t,))[1]
    assert np.allclose(tangent, numeric, rtol=1e-5, atol=1e-7)


def test_holomorphic_needs_complex_outputs_and_compile_runs_it_interpreted():
    z = np.array([1 + 1j, 2 - 1j])
    real_out = lambda z: anp.abs(z) ** 2     # noqa: E731 - not holomorphic
    for transform in (ad.jacrev, ad.jacfwd, ad.jacobian):
        with pytest.raises(ad.DTypeError, match="needs complex outputs"):
            transform(real_out, holomorphic=True)(z)
    with pytest.raises(ad.DTypeError, match="needs complex outputs"):
        ad.grad(lambda z: anp.sum(real_out(z)), holomorphic=True)(z)
    expected = np.diag(2 * z)
    for transform in (ad.jacrev, ad.jacfwd, ad.jacobian):   # compiled tapes are real
        np.testing.assert_allclose(transform(lambda z: z ** 2, holomorphic=True,
                                             compile=True)(z), expected)


def test_check_grads_takes_complex_functions():
    # it cast the differences to float64, dropping imaginary parts: a right derivative
    # failed (and a real f of complex z was checked along real directions only)
    z = np.array([1 + 1j, 2 - 1j])
    for f in (lambda z: z ** 2, lambda z: anp.abs(z) ** 2, lambda z: anp.sin(z) * anp.exp(z),
              lambda z: anp.real(z) * anp.imag(z)):
        ad.check_grads(f, (z,), order=2)
    wrong = ad.custom_vjp(lambda x: anp.sin(x))
    wrong.defvjp(lambda x: (anp.sin(x), x), lambda x, ct: (2.0 * ct * anp.cos(x),))
    with pytest.raises(AssertionError, match="dot-product"):
        ad.check_grads(wrong, (np.array([0.3, 0.5]),), order=1, modes=("rev",))


def test_hessian_of_a_holomorphic_function():
    # JAX's hessian takes holomorphic=; ad's had no such parameter
    z = np.array([0.3 + 0.2j, -0.5 + 1.1j])
    H = ad.hessian(lambda z: anp.sum(anp.sin(z) * z), holomorphic=True)(z)
    np.testing.assert_allclose(H, np.diag(2 * np.cos(z) - z * np.sin(z)), rtol=1e-13)
    w = np.array([0.4 - 0.1j, 1.2 + 0.3j])
    H = ad.hessian(lambda z: z[0] ** 2 * z[1] + anp.exp(z[1]), holomorphic=True)(w)
    want = np.array([[2 * w[1], 2 * w[0]], [2 * w[0], np.exp(w[1])]])
    np.testing.assert_allclose(H, want, rtol=1e-13)


def test_real_if_close_of_a_traced_complex_value_is_real_as_numpy_s():
    z = np.array([1 + 1e-20j, 2 + 0j])
    value, tangent = ad.jvp(anp.real_if_close, (z,), (np.array([1 + 1j, 1 + 0j]),))
    assert value.dtype == np.real_if_close(z).dtype == np.float64
    np.testing.assert_array_equal(tangent, [1.0, 1.0])
    far = np.array([1 + 1e-3j])
    assert ad.jvp(anp.real_if_close, (far,), (far,))[0].dtype == np.complex128
