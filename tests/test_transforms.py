"""The functional API: conventions, pytrees, argnums, has_aux, and clear errors."""
import numpy as np
import pytest

import ad
import ad.numpy as anp


def loss(params, x):
    return anp.sum(anp.tanh(x @ params["w"] + params["b"]) ** 2)


PARAMS = {"w": np.arange(6.0).reshape(3, 2) / 10, "b": np.array([0.1, -0.2])}
X = np.array([[1.0, -1.0, 0.5]])


def test_grad_of_pytree_returns_same_structure():
    g = ad.grad(loss)(PARAMS, X)
    assert set(g) == {"w", "b"} and g["w"].shape == (3, 2) and g["b"].shape == (2,)
    h = np.tanh(X @ PARAMS["w"] + PARAMS["b"])
    dz = 2 * h * (1 - h ** 2)
    np.testing.assert_allclose(g["w"], X.T @ dz)
    np.testing.assert_allclose(g["b"], dz.sum(0))


def test_argnums_tuple_and_value_and_grad():
    value, (gp, gx) = ad.value_and_grad(loss, argnums=(0, 1))(PARAMS, X)
    assert value == pytest.approx(float(loss(PARAMS, X)))
    assert gx.shape == X.shape and set(gp) == {"w", "b"}


def test_has_aux():
    def f(x):
        return anp.sum(x ** 2), {"mean": anp.mean(x)}
    g, aux = ad.grad(f, has_aux=True)(np.array([1.0, 3.0]))
    np.testing.assert_allclose(g, [2.0, 6.0])
    assert aux["mean"] == 2.0 and not isinstance(aux["mean"], ad.primitive.Tracer)


def test_jvp_and_vjp_conventions():
    def f(x, y):
        return {"s": x * y, "d": x - y}
    out, tangent = ad.jvp(f, (2.0, 3.0), (1.0, 0.0))
    assert out["s"] == 6.0 and tangent["s"] == 3.0 and tangent["d"] == 1.0
    out, vjp_fn = ad.vjp(f, 2.0, 3.0)
    cx, cy = vjp_fn({"s": 1.0, "d": 1.0})
    assert (cx, cy) == (4.0, 1.0)


def test_jacobian_shapes_are_output_then_input():
    x = np.ones((2, 3))

    def f(x):
        return anp.sum(x, axis=0) * 2.0
    for jac in (ad.jacfwd, ad.jacrev, ad.jacobian):
        j = jac(f)(x)
        assert j.shape == (3, 2, 3)
    jd = ad.jacobian(lambda p: {"a": p["u"] * 2.0, "b": anp.sum(p["u"])})({"u": np.ones(2)})
    assert jd["a"]["u"].shape == (2, 2) and jd["b"]["u"].shape == (2,)


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_modes_agree(mode):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 3))

    def f(x):
        return anp.tanh(A @ x)
    x = rng.standard_normal(3)
    expected = (1 - np.tanh(A @ x) ** 2)[:, None] * A
    np.testing.assert_allclose(ad.jacobian(f, mode=mode)(x), expected, atol=1e-14)


def test_stop_gradient():
    assert ad.grad(lambda x: x * ad.stop_gradient(x))(3.0) == 3.0
    assert ad.hessian(lambda x: x ** 2 * ad.stop_gradient(x))(2.0) == 2 * 2.0


def test_python_control_flow_on_values():
    def f(x):
        return x * 2.0 if x > 0 else -x
    assert ad.grad(f)(1.0) == 2.0 and ad.grad(f)(-1.0) == -1.0


def test_check_grads_catches_a_wrong_rule():
    def wrong_partial(x, y):
        return 2.0 * np.cos(x)        # the true derivative of sin is cos
    bad = ad.defelementwise("bad_sin_for_test", np.sin, (wrong_partial,))
    with pytest.raises(AssertionError, match="central differences"):
        ad.check_grads(bad, (np.array([0.3, 0.5]),), order=1)


def test_check_grads_in_reverse_mode_alone_uses_central_differences():
    # reverse mode is dot-product tested against finite differences, not against ad's own
    # forward mode (a custom rule wrong in both passed), and a VJP-only function is checked
    x = np.array([0.3, -0.5])

    @ad.custom_jvp
    def twice(x):
        return anp.sin(x)
    twice.defjvp(lambda p, t: (anp.sin(p[0]), 2.0 * anp.cos(p[0]) * t[0]))
    with pytest.raises(AssertionError, match="dot-product test against central"):
        ad.check_grads(twice, (x,), order=1, modes=("rev",))
    for factor, ok in ((1.0, True), (2.0, False)):
        f = ad.custom_vjp(lambda x: anp.sin(x))
        f.defvjp(lambda x: (anp.sin(x), x), lambda r, c, k=factor: (k * anp.cos(r) * c,))
        if ok:
            ad.check_grads(f, (x,), order=1, modes=("rev",))
        else:
            with pytest.raises(AssertionError, match="dot-product"):
                ad.check_grads(f, (x,), order=1, modes=("rev",))


# ----------------------------------------------------------------------------- errors
def test_grad_of_nonscalar_names_the_shape():
    with pytest.raises(ad.ShapeError, match=r"scalar output.*shape \(3,\).*\.sum\(\)"):
        ad.grad(anp.sin)(np.ones(3))


@pytest.mark.parametrize("transform", [ad.grad, ad.jacobian, ad.hessian, ad.jacfwd])
def test_integer_input_is_a_dtype_error(transform):
    with pytest.raises(ad.DTypeError, match=r"argument 0 has dtype int64.*float"):
        transform(lambda x: anp.sum(x * 1.0))(np.array([1, 2]))


def test_integer_jvp_primal_is_a_dtype_error():
    with pytest.raises(ad.DTypeError, match="int"):
        ad.jvp(lambda x: x * 1.0, (np.array([1, 2]),), (np.ones(2),))


def test_argnums_errors():
    with pytest.raises(ValueError, match="argnums 2 is out of range"):
        ad.grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)
    with pytest.raises(ValueError, match="duplicates"):
        ad.grad(lambda x, y: x * y, argnums=(0, 0))(1.0, 2.0)


def test_has_aux_requires_a_pair():
    with pytest.raises(TypeError, match=r"must return a pair \(output, aux\)"):
        ad.grad(lambda x: x * 2.0, has_aux=True)(1.0)


def test_tangent_mismatch_errors():
    with pytest.raises(ad.ShapeError, match=r"tangent leaf 0 has shape \(2,\).*\(3,\)"):
        ad.jvp(anp.sin, (np.ones(3),), (np.ones(2),))
    with pytest.raises(ad.ShapeError, match="structure"):
        ad.jvp(lambda p: p["a"], ({"a": 1.0},), ({"b": 1.0},))
    with pytest.raises(ad.ShapeError, match="2 primals but 1 tangents"):
        ad.jvp(lambda x, y: x, (1.0, 2.0), (1.0,))


def test_cotangent_mismatch_errors():
    _, vjp_fn = ad.vjp(anp.sin, np.ones(3))
    with pytest.raises(ad.ShapeError, match=r"cotangent leaf 0 has shape \(2,\).*\(3,\)"):
        vjp_fn(np.ones(2))
    with pytest.raises(ad.ShapeError, match="structure"):
        vjp_fn((np.ones(3), np.ones(3)))


def test_conversions_of_traced_values_are_named_errors():
    with pytest.raises(ad.TracerConversionError, match="float"):
        ad.grad(lambda x: float(x))(1.0)
    with pytest.raises(ad.TracerConversionError, match="np.asarray"):
        ad.grad(lambda x: np.asarray(x).sum())(1.0)


def test_in_place_assignment_is_a_named_error():
    def f(x):
        x[0] = 1.0
        return anp.sum(x)
    with pytest.raises(ad.InPlaceError, match=r"x\.at\[index\]\.set"):
        ad.grad(f)(np.ones(2))
    with pytest.raises(ad.InPlaceError, match="out="):
        ad.grad(lambda x: np.sin(x, out=np.empty(())))(1.0)


def test_unsupported_numpy_function_names_itself():
    with pytest.raises(ad.UnsupportedFunctionError, match=r"numpy.*tensorinv.*ad\.numpy"):
        ad.grad(lambda x: np.linalg.tensorinv(x, ind=1).sum())(np.eye(2))


def test_numpy_dispatch_on_traced_values():
    def f(x):
        return np.sum(np.sin(x) * np.exp(x))
    x = np.array([0.1, 0.2])
    np.testing.assert_allclose(ad.grad(f)(x), np.exp(x) * (np.sin(x) + np.cos(x)))


@pytest.mark.parametrize("shape,choice", [((3,), "forward"), ((2000,), "reverse")])
def test_auto_mode_runs_the_function_once(shape, choice):
    rng = np.random.default_rng(5)
    A = rng.standard_normal((50 if choice == "forward" else 2, shape[0]))
    calls = []

    def f(x):
        calls.append(1)
        return anp.tanh(A @ anp.sin(x)) * 2.0
    x = rng.standard_normal(shape)
    jac = ad.jacobian(f)
    J = jac(x)
    assert jac.report.choice == choice and len(calls) == 1
    np.testing.assert_allclose(J, ad.jacfwd(f)(x), atol=1e-13)
    np.testing.assert_allclose(J, ad.jacrev(f)(x), atol=1e-13)


def test_forward_push_through_a_recording_nests():
    """jacobian(auto) pushing tangents through a tape whose values are outer duals."""
    def f(x):
        return anp.sin(x) * x[0]
    x = np.array([0.3, -0.7, 1.1])
    inner = ad.jacobian(f)                      # 3 -> 3: a tie; either mode must nest
    H = ad.jacfwd(inner)(x)
    np.testing.assert_allclose(H, ad.jacfwd(ad.jacfwd(f))(x), atol=1e-13)
    small = ad.jacobian(lambda x: anp.outer(anp.sin(x), x).ravel())
    np.testing.assert_allclose(ad.jacrev(small)(x[:2]),
                               ad.jacfwd(ad.jacfwd(lambda x: anp.outer(anp.sin(x), x).ravel()))(x[:2]),
                               atol=1e-13)


def test_identity_seed_shortcut_matches_the_product():
    """jacfwd seeds the identity; matmul recognises it (A @ I = A) and skips the product."""
    rng = np.random.default_rng(7)
    A = rng.standard_normal((5, 4))
    x = rng.standard_normal(4)
    np.testing.assert_array_equal(ad.jacfwd(lambda x: A @ x)(x), A)
    np.testing.assert_array_equal(ad.jacfwd(lambda x: A @ x, chunk_size=3)(x), A)
    # an almost-identity seed (one extra entry) must take the real product
    seed = np.eye(4)
    seed[0, 1] = 2.0
    out = (A @ ad.Dual(x, seed)).tangent
    np.testing.assert_allclose(out, seed @ A.T)
    np.testing.assert_allclose(ad.hessian(lambda x: anp.sum(anp.tanh(A @ x) ** 2))(x),
                               ad.jacrev(ad.jacrev(lambda x: anp.sum(anp.tanh(A @ x) ** 2)))(x),
                               atol=1e-13)


def _inline_target(x):
    return anp.sin(x) * x


def test_an_inline_jacobian_decides_once_per_signature(monkeypatch):
    """`ad.jacobian(f)(x)` written inline in a loop predicts once per signature, as a
    jacobian(f) made once does; the shared decisions do not keep f alive."""
    import gc
    import weakref
    predictions = []
    real = ad.transforms.predict
    monkeypatch.setattr(ad.transforms, "predict",
                        lambda *a, **k: predictions.append(1) or real(*a, **k))
    x = np.linspace(0.0, 1.0, 6)
    for _ in range(4):
        np.testing.assert_allclose(ad.jacobian(_inline_target, settle=False)(x),
                                   np.diag(np.cos(x) * x + np.sin(x)), atol=1e-12)
    assert len(predictions) == 1
    ad.jacobian(_inline_target, settle=False)(np.ones(3))          # a new signature
    assert len(predictions) == 2

    def local(x):
        return anp.tanh(x)
    ad.jacobian(local)(x)
    ref = weakref.ref(local)
    del local
    gc.collect()
    assert ref() is None


def test_auto_jacobian_keeps_a_bounded_number_of_decisions():
    """A new shape each call is a new signature: at most MAX_DECISIONS are kept (the
    oldest dropped, with its made transforms), and each Jacobian is still right."""
    f = lambda x: anp.sin(x) * x               # noqa: E731
    jac = ad.jacobian(f, settle=False)
    kept = ad.transforms.MAX_DECISIONS
    for n in range(1, kept + 6):
        x = np.linspace(0.1, 1.0, n)
        np.testing.assert_allclose(jac(x), np.diag(np.cos(x) * x + np.sin(x)), atol=1e-12)
        jac(x)                                  # the remembered decision: a made transform
    (decisions,) = ad.transforms._DECISIONS_BY_F[f].values()
    assert len(decisions) == kept
    assert min(s[1][0][0] for s in decisions) == (6,)   # shapes 1-5 were dropped
    closure = dict(zip(jac.__code__.co_freevars, (c.cell_contents for c in jac.__closure__)))
    assert len(closure["transforms"]) <= kept


def test_a_complex_output_without_a_derivative_has_zero_tangents():
    x = np.array([1.0, -2.0])
    for f in (lambda a: anp.sign(a * (1 + 1j)), lambda a: np.array([1j, 2j])):
        value, tangent = ad.jvp(f, (x,), (np.ones(2),))
        np.testing.assert_allclose(value, f(x))
        assert tangent.dtype.kind == "c" and not np.any(tangent)


def test_where_with_an_unsafe_branch_as_documented():
    # docs/conventions.md: reverse mode multiplies the unselected branch's 0 cotangent by
    # sqrt's NaN partial at -1 (as JAX and PyTorch); a safe argument makes the modes agree
    x = np.array([-1.0, 4.0])
    unsafe = lambda x: anp.sum(anp.where(x > 0, anp.sqrt(x), x ** 2))      # noqa: E731
    safe = lambda x: anp.sum(anp.where(x > 0, anp.sqrt(anp.where(x > 0, x, 1.0)),  # noqa: E731
                                       x ** 2))
    np.testing.assert_allclose(ad.jacfwd(unsafe)(x), [-2.0, 0.25])
    with np.errstate(invalid="ignore"):
        assert np.isnan(ad.grad(unsafe)(x)[0])
    for mode in (ad.grad, ad.jacfwd, lambda f: ad.grad(f, compile=True)):
        np.testing.assert_allclose(mode(safe)(x), [-2.0, 0.25])
    np.testing.assert_allclose(np.diag(ad.hessian(safe)(x)), [2.0, -1 / 32])
