"""Every primitive in the catalogue, checked by property tests.

Elementwise primitives are driven by their declared domains; every other differentiable
primitive needs a row in STRUCTURAL below, and a test fails if one is missing. For each:
JVP vs central differences, VJP vs JVP (dot-product test), both to second order
(`ad.check_grads`); jacfwd == jacrev; the Hessian of a scalarisation is symmetric and equals
jacfwd(jacrev).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ad
import ad.numpy as anp
from ad.primitive import Counts
from ad.testing import arguments_for, sample

from ad.catalogue import BUILTINS

BUILT_IN = [ad.primitives[name] for name in sorted(BUILTINS)]
ELEMENTWISE = [p for p in BUILT_IN if p.elementwise]
rng0 = np.random.default_rng(1)


def _mat(*shape):
    return rng0.standard_normal(shape)


# name -> list of (function, args): functions of float arrays that reach the primitive.
STRUCTURAL = {
    "add": [(lambda x, y: x + y, (_mat(3, 1), _mat(4)))],
    "subtract": [(lambda x, y: x - y, (_mat(2, 3), _mat(3)))],
    "negative": [(lambda x: -x, (_mat(3),))],
    "where": [(lambda x, y: anp.where(np.array([True, False, True]), x, y), (_mat(2, 3), _mat(3)))],
    "sum": [(lambda x: anp.sum(x, axis=1), (_mat(2, 3, 2),)),
            (lambda x: anp.sum(x, axis=(0, 2), keepdims=True), (_mat(2, 3, 2),)),
            (lambda x: anp.sum(x), (_mat(3, 2),))],
    "max": [(lambda x: anp.max(x, axis=0), (_mat(3, 4),)), (lambda x: anp.max(x), (_mat(5),))],
    "min": [(lambda x: anp.min(x, axis=-1, keepdims=True), (_mat(3, 4),))],
    "reshape": [(lambda x: anp.reshape(x, (3, -1)), (_mat(2, 3),))],
    "roll": [(lambda x: anp.roll(x, 2), (_mat(5),)),
             (lambda x: anp.roll(x, (1, -1), (0, 1)) * x, (_mat(3, 4),)),
             (lambda x: anp.roll(x, 7), (_mat(2, 3),))],
    "broadcast_to": [(lambda x: anp.broadcast_to(x, (2, 3, 4)), (_mat(3, 1),))],
    "transpose": [(lambda x: anp.transpose(x, (2, 0, 1)), (_mat(2, 3, 4),)),
                  (lambda x: x.T, (_mat(2, 3),))],
    "getitem": [(lambda x: x[1], (_mat(3, 2),)),
                (lambda x: x[::2, None, -1], (_mat(5, 3),)),
                (lambda x: x[np.array([0, 2, 0])], (_mat(3, 2),)),
                (lambda x: x[np.array([0, 1]), :, np.array([1, 0])], (_mat(2, 3, 2),)),
                (lambda x: x[x > 0], (_mat(4),)),
                (lambda x: x[..., 1], (_mat(2, 3, 2),))],
    "index_add": [(lambda x: ad.grad(lambda y: anp.sum(y[np.array([0, 0, 2])] ** 3))(x),
                   (_mat(3),))],
    "concatenate": [(lambda x, y: anp.concatenate([x, y, x], axis=1), (_mat(2, 3), _mat(2, 1))),
                    (lambda x: anp.stack([x, 2 * x]), (_mat(3),))],
    "matmul": [(lambda a, b: a @ b, (_mat(2, 3), _mat(3, 4))),
               (lambda a, b: a @ b, (_mat(3), _mat(3, 2))),
               (lambda a, b: a @ b, (_mat(2, 3), _mat(3))),
               (lambda a, b: a @ b, (_mat(3), _mat(3))),
               (lambda a, b: anp.matmul(a, b), (_mat(2, 2, 3), _mat(3, 2)))],
    "astype": [(lambda x: anp.astype(x, np.longdouble), (_mat(3),)),
               (lambda x: anp.astype(x * (1 + 2j), np.float64), (_mat(3),))],
    "fft": [(lambda x: anp.real(anp.fft.fft(x * (1 + 0.5j), n=7)), (_mat(5),)),
            (lambda x: anp.imag(anp.fft.ifft2(x * 1j + x ** 2, norm="ortho")), (_mat(3, 4),)),
            (lambda x: anp.abs(anp.fft.rfft(x, n=6, norm="forward")), (_mat(5) + 2.0,)),
            (lambda x: anp.fft.irfft(x * (1 - 1j), n=9), (_mat(4),)),
            (lambda x: anp.fft.irfftn(x * (2 + 1j), s=(3, 6), axes=(0, 1)), (_mat(2, 4),))],
    # eigenvalues, and phase-invariant functions of the eigenvectors (distinct eigenvalues)
    "eig": [(lambda a: anp.real(anp.linalg.eigvals(a) ** 2),
             (_mat(3, 3) + np.diag([0.0, 2.0, 4.0]),)),
            (lambda a: anp.abs(anp.linalg.eig(a).eigenvectors) ** 2,
             (_mat(3, 3) + np.diag([0.0, 2.0, 4.0]),))],
    # the complex parts, between real inputs and outputs (complex values in the middle)
    "real": [(lambda x, y: anp.real((x + 1j * y) ** 2), (_mat(3), _mat(3)))],
    "imag": [(lambda x, y: anp.imag(anp.exp(x + 1j * y) * x), (_mat(3), _mat(3)))],
    "conj": [(lambda x, y: anp.real(anp.conj(x + 1j * y) * (x - 2j * y) ** 2),
              (_mat(2, 2), _mat(2, 2)))],
    "integer_pow": [(lambda x: x ** 3, (_mat(3),)),
                    (lambda x: x ** 0 + x ** 1 + x ** 2.0, (_mat(2, 2),)),
                    (lambda x: x ** -2, (_mat(3) + 3.0,)),
                    (lambda x: x ** np.int64(5), (_mat(2),))],
    "cumsum": [(lambda x: anp.cumsum(x, axis=1), (_mat(2, 4),)),
               (lambda x: anp.cumsum(x), (_mat(2, 3),))],
    "inv": [(lambda a: anp.linalg.inv(a), (_mat(3, 3) + 3 * np.eye(3),)),
            (lambda a: anp.linalg.inv(a), (_mat(2, 2, 2) + 3 * np.eye(2),))],
    "solve": [(lambda a, b: anp.linalg.solve(a, b), (_mat(3, 3) + 3 * np.eye(3), _mat(3))),
              (lambda a, b: anp.linalg.solve(a, b), (_mat(2, 3, 3) + 3 * np.eye(3), _mat(3, 2)))],
    "det": [(lambda a: anp.linalg.det(a), (_mat(3, 3) + 3 * np.eye(3),)),
            (lambda a: anp.linalg.det(a), (_mat(2, 2, 2) + 3 * np.eye(2),))],
    "logabsdet": [(lambda a: anp.linalg.slogdet(a)[1], (_mat(3, 3) - 3 * np.eye(3),))],
    "cholesky": [(lambda a: anp.linalg.cholesky(a @ a.T + 3 * np.eye(3)), (_mat(3, 3),)),
                 (lambda a: anp.linalg.cholesky(a + anp.swapaxes(a, -1, -2) + 6 * np.eye(2)),
                  (_mat(2, 2, 2),))],
    "eigh": [(lambda a: anp.linalg.eigvalsh(a + a.T), (_mat(3, 3),)),
             (lambda a: anp.linalg.eigh(a + anp.swapaxes(a, -1, -2))[1] ** 2, (_mat(2, 3, 3),))],
    "svd": [(lambda a: anp.linalg.svd(a, compute_uv=False), (_mat(4, 3),)),
            (lambda a: (lambda u, s, vt: u @ vt)(*anp.linalg.svd(a, full_matrices=False)),
             (_mat(2, 4),)),
            (lambda a: anp.linalg.svd(a, full_matrices=False)[0] ** 2, (_mat(4, 3),))],
    "qr": [(lambda a: anp.concatenate(anp.linalg.qr(a), axis=0), (_mat(4, 3),)),
           (lambda a: anp.linalg.qr(a)[1], (_mat(2, 3, 3),))],
    "pinv": [(lambda a: anp.linalg.pinv(a), (_mat(4, 3),)),
             (lambda a: anp.linalg.pinv(a), (_mat(2, 3),))],
}
STRUCTURAL_CASES = [(name, i, f, args) for name, cases in STRUCTURAL.items()
                    for i, (f, args) in enumerate(cases)]


def test_every_differentiable_primitive_is_tested():
    differentiable = {p.name for p in BUILT_IN if p.differentiable}
    covered = {p.name for p in ELEMENTWISE} | set(STRUCTURAL)
    assert differentiable - covered == set(), "primitives without property tests"


@pytest.mark.parametrize("primitive", BUILT_IN, ids=lambda p: p.name)
def test_every_entry_is_complete(primitive):
    """Value, rules per argument, a cost entry that counts, and a domain for elementwise ops."""
    assert callable(primitive.impl)
    if primitive.differentiable and primitive.arity >= 0:
        assert len(primitive.jvp_rules) == len(primitive.vjp_rules) == primitive.arity
        assert any(r is not None for r in primitive.jvp_rules)
    shapes = [(3,)] * max(primitive.arity, 1)
    counts = primitive.counts(shapes, (3,), {})
    assert isinstance(counts, Counts) and counts.flops >= 0 and counts.vjp >= 0
    if primitive.elementwise:
        assert len(primitive.domain) == primitive.arity


def _differentiable_positions(primitive):
    return [i for i, p in enumerate(primitive.partials) if p is not None]


def _check_all(f, args):
    ad.check_grads(f, args, order=2, rtol=1e-4, atol=1e-5)
    argnums = tuple(range(len(args)))
    forward = ad.jacfwd(f, argnums)(*args)
    reverse = ad.jacrev(f, argnums)(*args)
    for a, b in zip(forward, reverse):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    # second order: Hessian of a random scalarisation, symmetric and both orders agree
    weights = np.random.default_rng(2).standard_normal(np.shape(f(*args)))

    def scalar(*xs):
        return anp.sum(f(*xs) * weights)
    flat = [np.ravel(a) for a in args]
    sizes = np.cumsum([0] + [a.size for a in args])

    def on_flat(v):
        return scalar(*[anp.reshape(v[sizes[i]:sizes[i + 1]], np.shape(a))
                        for i, a in enumerate(args)])
    def curved(v):
        # a monotone bend first, so the inner derivative depends on v: a primitive that is
        # linear where it is evaluated (max, sum, indexing) still has its batched rules'
        # second order checked (a wrong axis under batch axes shows here)
        return on_flat(v + 0.05 * v * v)
    v = np.concatenate(flat) if flat else np.zeros(0)
    for g in (on_flat, curved):
        hess = ad.hessian(g)(v)
        np.testing.assert_allclose(hess, hess.T, rtol=1e-7, atol=1e-9)
        # every composition of the two modes: batched tangents through batched rules
        for outer, inner in ((ad.jacfwd, ad.jacrev), (ad.jacrev, ad.jacrev),
                             (ad.jacfwd, ad.jacfwd), (ad.jacrev, ad.jacfwd)):
            np.testing.assert_allclose(hess, outer(inner(g))(v), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("primitive", ELEMENTWISE, ids=lambda p: p.name)
@given(data=st.data())
def test_elementwise_derivatives(primitive, data):
    args = data.draw(arguments_for(primitive))
    positions = _differentiable_positions(primitive)

    def f(*diff):
        full = list(args)
        for i, x in zip(positions, diff):
            full[i] = x
        return primitive(*full)
    _check_all(f, tuple(args[i] for i in positions))


@pytest.mark.parametrize("name,case,f,args", STRUCTURAL_CASES,
                         ids=[f"{n}-{i}" for n, i, _, _ in STRUCTURAL_CASES])
def test_structural_derivatives(name, case, f, args):
    _check_all(f, args)


@pytest.mark.parametrize("primitive", ELEMENTWISE, ids=lambda p: p.name)
def test_elementwise_float32_stays_float32(primitive):
    args = tuple(sample(d, (4,), np.random.default_rng(3), np.float32) for d in primitive.domain)
    positions = _differentiable_positions(primitive)
    out, tangent = ad.jvp(lambda x: primitive(*[x if i == positions[0] else a
                                                 for i, a in enumerate(args)]),
                          (args[positions[0]],), (np.ones(4, np.float32),))
    assert out.dtype == np.float32 and tangent.dtype == np.float32
    g = ad.grad(lambda x: anp.sum(primitive(*[x if i == positions[0] else a
                                              for i, a in enumerate(args)])))(args[positions[0]])
    assert g.dtype == np.float32


# ----------------------------------------------------------------------------- integer powers
@given(n=st.integers(-3, 6), x=st.floats(-2.0, 2.0).filter(lambda v: abs(v) > 0.2))
def test_integer_pow_against_finite_differences_and_closed_form(n, x):
    """x ** n for a constant integer n: value as NumPy, derivatives n x^(n-1), n(n-1) x^(n-2)
    in both modes, to third order."""
    f = lambda x_: x_ ** n  # noqa: E731
    assert float(f(np.float64(x))) == pytest.approx(np.float64(x) ** n)
    ad.check_grads(f, (np.float64(x),), order=3, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ad.grad(f)(x), n * x ** (n - 1) if n else 0.0, rtol=1e-12)
    np.testing.assert_allclose(ad.grad(ad.grad(f))(x), n * (n - 1) * x ** (n - 2) if n > 1 or
                               n < 0 else 0.0, rtol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_integer_powers_at_zero_are_exact(order):
    """Regression: power's y * x**(y-1) met 0 * inf at x == 0 (NaN and a RuntimeWarning);
    x**n with a constant integer n takes integer_pow, exact to every order, in every mode."""
    import math
    import warnings

    def poly(x):
        return 1 + 2 * x + 3 * x ** 2 + x ** 0 + 5 * x ** 3 + x ** 1
    coefficients = {1: 2 + 1, 2: 2 * 3, 3: 6 * 5, 4: 0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rev, fwd = poly, poly
        for _ in range(order):
            rev = ad.grad(rev)
            fwd = (lambda g: lambda x: ad.jvp(g, (x,), (1.0,))[1])(fwd)
        assert float(rev(0.0)) == coefficients[order]
        assert float(fwd(0.0)) == coefficients[order]
        assert math.isfinite(float(ad.hessian(lambda x: x ** 2)(0.0)))
        assert float(ad.grad(ad.grad(lambda x: x ** 1))(0.0)) == 0.0


def test_power_with_array_exponent_holding_zero():
    """The general power rule at y == 0 (array exponents do not take integer_pow): 0, not NaN."""
    y = np.array([0.0, 1.0, 2.0])
    g = ad.grad(lambda x: anp.sum(anp.power(x, y)))(np.zeros(3))
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0])


def test_integer_pow_keeps_numpy_promotion():
    x32 = np.ones(2, np.float32)
    assert ad.jvp(lambda x: x ** 2, (x32,), (x32,))[1].dtype == np.float32
    # numpy.power's promotion (NumPy < 2.4's `**` has a float32 fast path for exponent 2)
    assert ad.jvp(lambda x: x ** np.float64(2.0), (x32,), (x32,))[0].dtype == \
        np.power(x32, np.float64(2.0)).dtype


# ----------------------------------------------------------------------------- saved = residuals
def _held_bytes(residuals, constants) -> int:
    """Bytes of the arrays an entry's residuals keep alive, constants excluded (they belong
    to the program), each array once."""
    skip = {id(c) for c in (constants or ()) if c is not None}
    seen, total, stack = set(), 0, [residuals]
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, (np.ndarray, np.generic)) and id(item) not in seen \
                and id(item) not in skip:
            seen.add(id(item))
            total += item.nbytes
    return total


def _entries_of(primitive, f, args):
    tape = ad.trace(f, *args).tape
    return [(tape, e) for e in tape.entries() if e[0] is primitive]


SAVED_CASES = [(p, i, f, args) for p in BUILT_IN if p.differentiable and not p.elementwise
               for i, (f, args) in enumerate(STRUCTURAL.get(p.name, []))]


@pytest.mark.parametrize("primitive,case,f,args", SAVED_CASES,
                         ids=[f"{p.name}-{i}" for p, i, _, _ in SAVED_CASES])
def test_declared_saved_is_what_the_residuals_hold(primitive, case, f, args):
    """The cost entry's `saved` counts exactly the elements the recorded residuals keep."""
    entries = _entries_of(primitive, f, args)
    assert entries, f"{primitive.name} not reached"
    for tape, (p, params, parents, constants, out, residuals) in entries:
        counts = p.counts(tape.in_shapes(parents, constants), tape.out_shape(p, out), params,
                          [parent != -1 for parent in parents])
        itemsize = tape.dtypes[out].itemsize
        assert _held_bytes(residuals, constants) == counts.saved * itemsize, p.residual_form


@pytest.mark.parametrize("primitive", ELEMENTWISE, ids=lambda p: p.name)
def test_elementwise_saved_is_what_the_residuals_hold(primitive):
    rng = np.random.default_rng(4)
    args = tuple(sample(d, (5,), rng) for d in primitive.domain)
    positions = _differentiable_positions(primitive)
    tape = ad.trace(lambda *xs: primitive(*xs), *args).tape
    (p, params, parents, constants, out, residuals), = tape.entries()
    counts = p.counts(tape.in_shapes(parents, constants), tape.shapes[out], params,
                      [True] * len(parents))
    assert _held_bytes(residuals, constants) == counts.saved * 8
    assert counts.saved == (0 if p.residual_form == "nothing" else 5 * len(positions))


# ----------------------------------------------------------------------------- batched = looped
LINALG_BATCHED = {
    "solve": lambda a, b: anp.linalg.solve(a, anp.tanh(b)),
    "solve-stack": lambda a, b: anp.linalg.solve(anp.stack([a, a.T]),
                                                 anp.stack([b, -b])[..., None]),
    "inv": lambda a, b: anp.linalg.inv(a) @ b, "det": lambda a, b: anp.linalg.det(a) * b,
    "slogdet": lambda a, b: anp.linalg.slogdet(a)[1] * b,
    "cholesky": lambda a, b: anp.linalg.cholesky(a @ a.T) @ b,
    "eigh": lambda a, b: anp.linalg.eigh(a + a.T)[1] @ b,
    "svd": lambda a, b: anp.linalg.svd(a, full_matrices=False)[0] @ b,
    "qr": lambda a, b: anp.linalg.qr(a)[1] @ b, "pinv": lambda a, b: anp.linalg.pinv(a) @ b,
}


@pytest.mark.parametrize("name", sorted(LINALG_BATCHED))
def test_batched_linalg_rules_equal_the_per_direction_loop(name):
    """A block of directions per pass (vector mode) gives what one direction per pass gives."""
    f = LINALG_BATCHED[name]
    a, b = _mat(4, 4) + 4 * np.eye(4), _mat(4)
    for jac in (ad.jacfwd, ad.jacrev):
        blocked = jac(f, (0, 1))(a, b)
        looped = jac(f, (0, 1), chunk_size=1)(a, b)
        for x, y in zip(blocked, looped):
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)
