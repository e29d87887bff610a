"""Registration: the public mechanism checks each primitive eagerly and names the problem."""
import numpy as np
import pytest

import ad
import ad.numpy as anp
from ad.errors import RegistrationError


def _id(t, out, x):
    return t


def test_duplicate_name():
    with pytest.raises(RegistrationError, match="'sin' is already registered"):
        ad.defelementwise("sin", np.sin, (np.cos,))


def test_missing_rules_named():
    with pytest.raises(RegistrationError, match="'lonely' has no VJP rule"):
        ad.defprimitive("lonely", lambda x: x, jvp=(_id,), vjp=(None,),
                        cost=ad.PerElement(1, 1, 1, 0))


def _any(t, *rest):
    return t


def test_rule_count_must_match_arity():
    with pytest.raises(RegistrationError, match="takes 2 arguments but has 1 JVP rules"):
        ad.defprimitive("pair", lambda x, y: x + y, jvp=(_any,), vjp=(_any,),
                        cost=ad.PerElement(1, 1, 1, 0))


def test_rule_signature_checked():
    def bad_rule(t):
        return t
    with pytest.raises(RegistrationError, match="bad_rule.*cannot take 3 positional"):
        ad.defprimitive("badsig", lambda x: x, jvp=(bad_rule,), vjp=(_id,),
                        cost=ad.PerElement(1, 1, 1, 0))


def test_cost_entry_required():
    with pytest.raises(RegistrationError, match="no cost entry"):
        ad.defprimitive("nocost", lambda x: x, jvp=(_id,), vjp=(_id,), cost=None)


def test_a_user_primitive_works_everywhere():
    def logistic(x):
        return 1.0 / (1.0 + np.exp(-x))

    def logistic_partial(x, y):
        return y * (1.0 - y)
    sigmoid = ad.defelementwise("logistic_for_test", logistic, (logistic_partial,),
                                flops=22, partial_flops=2)
    x = np.array([-1.0, 0.0, 2.0])
    ad.check_grads(lambda x: sigmoid(x), (x,), order=3)
    assert ad.grad(lambda x: ad.numpy.sum(sigmoid(x)))(np.zeros(1))[0] == 0.25


def test_symbolic_zero_skips_rules():
    calls = []

    def jvp_rule(t, out, x, y):
        calls.append("x")
        return t * y
    def vjp_rule(ct, out, x, y):
        return ct * y
    mul = ad.defprimitive("mul_counting", np.multiply, jvp=(jvp_rule, jvp_rule),
                          vjp=(vjp_rule, vjp_rule), cost=ad.PerElement(1, 1, 1, 2))
    ad.jvp(lambda x: mul(x, 3.0), (2.0,), (1.0,))
    assert calls == ["x"]   # no rule ran for the constant argument


# ----------------------------------------------------------------------------- user rules, one direction
_W = np.array([[0.2, -0.1], [0.05, 0.3]])


def _fixed_point(x):
    """z = tanh(W z + x), solved by iteration (an implicit function)."""
    z = np.zeros(2)
    for _ in range(200):
        z = np.tanh(_W @ z + x)
    return z


def _fixed_point_jvp(t, out, x):
    """dz = (I - D W)^-1 D t with D = diag(1 - z^2): written for ONE tangent direction."""
    d = np.diag(1 - out ** 2)
    return np.linalg.solve(np.eye(2) - d @ _W, d @ t)


def _fixed_point_vjp(ct, out, x):
    d = np.diag(1 - out ** 2)
    return d @ np.linalg.solve((np.eye(2) - d @ _W).T, ct)


def test_user_rules_for_one_direction_are_applied_per_direction():
    """Regression: a defprimitive rule written for one direction got a block of tangents in
    jacfwd (and cotangents in jacrev) and silently gave a wrong Jacobian (error 0.125)."""
    fixed_point = ad.defprimitive("fixed_point_test", _fixed_point, jvp=(_fixed_point_jvp,),
                                  vjp=(_fixed_point_vjp,), cost=ad.PerElement(1, 1, 1, 1))
    x = np.array([0.3, -0.5])
    eps = 1e-6
    expected = np.stack([(_fixed_point(x + eps * e) - _fixed_point(x - eps * e)) / (2 * eps)
                         for e in np.eye(2)], axis=1)
    for jacobian in (ad.jacfwd, ad.jacrev, ad.jacobian):
        np.testing.assert_allclose(jacobian(fixed_point)(x), expected, atol=1e-8)
    ad.check_grads(fixed_point, (x,), order=1, rtol=1e-5, atol=1e-7)
    hessian = ad.hessian(lambda v: anp.sum(fixed_point(v) ** 2))(x)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-10)


# ----------------------------------------------------------------------------- several outputs
def _polar(x, y):
    return np.hypot(x, y), np.arctan2(y, x)


def _polar_jvp_x(t, out, x, y):
    r, _ = out
    return t * x / r, -t * y / (r * r)


def _polar_jvp_y(t, out, x, y):
    r, _ = out
    return t * y / r, t * x / (r * r)


def _polar_vjp_x(ct, out, x, y):
    r, _ = out
    ct_r, ct_theta = ct
    total = 0.0 if ct_r is ad.ZERO else ct_r * x / r
    return total if ct_theta is ad.ZERO else total - ct_theta * y / (r * r)


def _polar_vjp_y(ct, out, x, y):
    r, _ = out
    ct_r, ct_theta = ct
    total = 0.0 if ct_r is ad.ZERO else ct_r * y / r
    return total if ct_theta is ad.ZERO else total + ct_theta * x / (r * r)


POLAR = ad.defprimitive("polar_test", _polar, jvp=(_polar_jvp_x, _polar_jvp_y),
                        vjp=(_polar_vjp_x, _polar_vjp_y), outputs=2, batched=True,
                        cost=ad.PerElement(30, 10, 10, 4))


def test_a_primitive_with_several_outputs_in_every_mode():
    x, y = np.array([1.0, -0.5]), np.array([2.0, 0.3])

    def f(x_, y_):
        r, theta = POLAR(x_, y_)
        return anp.concatenate([r * theta, anp.sin(theta)])
    ad.check_grads(f, (x, y), order=2, rtol=1e-5, atol=1e-7)
    for a, b in zip(ad.jacfwd(f, (0, 1))(x, y), ad.jacrev(f, (0, 1))(x, y)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # only one of the outputs reaches the result: the other's cotangent is ZERO
    g = ad.grad(lambda x_: anp.sum(POLAR(x_, y)[1]))(x)
    np.testing.assert_allclose(g, -y / (x * x + y * y))
    graph = ad.trace(f, x, y)
    names = [node.name for node in graph.nodes]
    assert names[2:4] == ["polar_test[0]", "polar_test[1]"]
    assert graph.nodes[2].entry == graph.nodes[3].entry == 0


def _polar_one_direction_jvp(t, out, x, y):
    assert np.shape(t) == np.shape(x), "a batched tangent reached a one-direction rule"
    return _polar_jvp_x(t, out, x, y)


def _polar_one_direction_vjp(ct, out, x, y):
    assert all(c is ad.ZERO or np.shape(c) == np.shape(x) for c in ct)
    return _polar_vjp_x(ct, out, x, y)


def test_several_outputs_with_rules_for_one_direction():
    """Unbatched rules of a several-output primitive see one direction at a time (a tuple of
    cotangents per direction in reverse mode), and Jacobians equal the batched ones."""
    polar = ad.defprimitive("polar_one_direction", _polar,
                            jvp=(_polar_one_direction_jvp, _polar_jvp_y),
                            vjp=(_polar_one_direction_vjp, _polar_vjp_y), outputs=2,
                            cost=ad.PerElement(1, 1, 1, 1))
    x, y = np.array([1.0, -0.5, 0.2]), np.array([2.0, 0.3, -1.0])

    def f(p, x_, y_):
        r, theta = p(x_, y_)
        return anp.concatenate([r * theta, anp.sin(theta)])
    for jac in (ad.jacfwd, ad.jacrev):
        for a, b in zip(jac(lambda x_, y_: f(polar, x_, y_), (0, 1))(x, y),
                        jac(lambda x_, y_: f(POLAR, x_, y_), (0, 1))(x, y)):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(ad.jacrev(lambda x_: polar(x_, y)[1])(x),
                               ad.jacrev(lambda x_: POLAR(x_, y)[1])(x), rtol=1e-12)


# ----------------------------------------------------------------------------- derived VJPs
def _cubic_jvp(t, out, x, a):
    return 3.0 * a * x * x * t


def _cubic_jvp_a(t, out, x, a):
    return x * x * x * t


def test_vjp_derived_by_transposing_the_jvp():
    """vjp="transpose": the reverse engine transposes the JVP rule (linear in the tangent);
    second order included, and through matrix rules (eigh, svd, pinv use it)."""
    cubic = ad.defprimitive("cubic_transpose_test", lambda x, a: a * x ** 3,
                            jvp=(_cubic_jvp, _cubic_jvp_a), vjp="transpose", batched=True,
                            cost=ad.PerElement(3, 4, 4, 2))
    assert cubic.transposes_jvp and cubic.vjp_rules == (None, None)
    x, a = np.array([0.5, -1.5, 2.0]), np.array([1.0, 2.0, -0.5])
    gx, ga = ad.grad(lambda x_, a_: anp.sum(cubic(x_, a_)), (0, 1))(x, a)
    np.testing.assert_allclose(gx, 3 * a * x ** 2)
    np.testing.assert_allclose(ga, x ** 3)
    ad.check_grads(cubic, (x, a), order=2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ad.jacrev(cubic)(x, a), np.diag(3 * a * x ** 2))
    np.testing.assert_allclose(ad.hessian(lambda x_: anp.sum(cubic(x_, a)))(x),
                               np.diag(6 * a * x))
    with pytest.raises(RegistrationError, match="'transpose'"):
        ad.defprimitive("bad_vjp_word", lambda x: x, jvp=(_id,), vjp="transposed",
                        cost=ad.PerElement(1, 1, 1, 1))


def test_a_user_primitive_can_be_declared_again():
    """A notebook cell run twice: the second declaration takes the name; values recorded
    with the first still differentiate. Built-in names stay protected. No cost entry needed."""
    first = ad.defprimitive("rerun_cell", lambda x: 2.0 * x, jvp=(lambda t, out, x: 2.0 * t,),
                            vjp=(lambda ct, out, x: 2.0 * ct,), batched=True)
    second = ad.defprimitive("rerun_cell", lambda x: 3.0 * x, jvp=(lambda t, out, x: 3.0 * t,),
                             vjp=(lambda ct, out, x: 3.0 * ct,), batched=True)
    assert ad.primitives["rerun_cell"] is second and first.opcode != second.opcode
    assert float(ad.grad(lambda x: first(x) + second(x))(1.0)) == 5.0
    assert second.counts([(3,)], (3,), {}).flops == 3
    with pytest.raises(RegistrationError, match="built-in"):
        ad.defprimitive("exp", np.exp, jvp=(_id,), vjp=(_id,))


def test_a_user_transpose_or_jvp_rule_of_the_wrong_kind_is_named():
    # a deflinear transpose of another shape gave a gradient of the wrong shape, silently;
    # a JVP rule returning None gave an object array of None as the tangent
    x = np.array([1.0, 2.0, 3.0])
    lin = ad.deflinear("test_short_transpose", lambda x: x * 2,
                       transpose=(lambda ct, out, x: ct[..., :1],))
    with pytest.raises(ad.ShapeError, match="test_short_transpose.*shape \\(1,\\).*\\(3,\\)"):
        ad.grad(lambda x: anp.sum(lin(x)))(x)
    none_jvp = ad.defprimitive("test_none_jvp", lambda x: x ** 3,
                               jvp=(lambda t, out, x: None,),
                               vjp=(lambda ct, out, x: 3 * x * x * ct,),
                               cost=ad.PerElement(2, 4, 4, 1))
    with pytest.raises(TypeError, match="test_none_jvp.*returned None"):
        ad.jvp(none_jvp, (x,), (np.ones(3),))
    with pytest.raises(TypeError, match="test_none_jvp takes 1 positional"):
        none_jvp(x, x)


def test_a_primitive_declaring_several_outputs_must_return_them():
    # one array of shape (2, 3) was unpacked along its first axis as the two results
    two = ad.defprimitive("two_outputs_returning_one_array", lambda x: np.stack([x, 2 * x]),
                          jvp=(lambda t, out, x: (t, 2 * t),),
                          vjp=(lambda ct, out, x: ct[0] + 2 * ct[1],), outputs=2)
    for call in (lambda: two(np.ones(3)),
                 lambda: ad.grad(lambda x: anp.sum(two(x)[0]))(np.ones(3)),
                 lambda: ad.jvp(lambda x: two(x)[1], (np.ones(3),), (np.ones(3),))):
        with pytest.raises(TypeError, match="declares outputs=2 but its implementation "
                                            "returned one ndarray"):
            call()


def test_a_rule_returning_none_is_named_in_every_mode():
    # jacfwd stacked one None per direction into an object array of Nones; grad called it
    # a cotangent of shape ()
    p = ad.defprimitive("rules_returning_none", lambda x: np.sin(x),
                        jvp=(lambda t, out, x: None,), vjp=(lambda ct, out, x: None,))
    for call, rule in ((lambda: ad.jvp(p, (np.ones(2),), (np.ones(2),)), "JVP"),
                       (lambda: ad.jacfwd(p)(np.ones(2)), "JVP"),
                       (lambda: ad.jacrev(p)(np.ones(2)), "VJP"),
                       (lambda: ad.grad(lambda x: anp.sum(p(x)))(np.ones(2)), "VJP"),
                       (lambda: ad.hessian(lambda x: anp.sum(p(x)))(np.ones(2)), "JVP")):
        with pytest.raises(TypeError, match=f"its {rule} rule for argument 0 returned None"):
            call()


@pytest.mark.parametrize("partial, said", [
    (lambda x, y: np.ones(5), r"shape \(5,\)"),         # another shape
    (lambda x, y: np.ones((2, 3)), r"shape \(2, 3\)"),   # broadcasts, but grows the output
    (lambda x, y: "oops", "a str"),                     # not a number
])
def test_a_user_partial_of_the_wrong_shape_is_named(partial, said):
    """A user's elementwise partial must broadcast to the output's shape: anything else is
    a ShapeError naming the primitive and argument when recorded, in every mode (it was
    NumPy's broadcasting error deep inside the sweep, or a UFuncTypeError)."""
    bad = ad.defelementwise("bad_partial_for_test", lambda x: x * x, (partial,))
    for transform in (ad.grad, ad.jacfwd, ad.hessian):
        with pytest.raises(ad.ShapeError, match=f"'bad_partial_for_test'.*argument 0.*{said}"):
            transform(lambda x: anp.sum(bad(x)))(np.ones(3))
    good = ad.defelementwise("good_partial_for_test", lambda x: x * x,
                             (lambda x, y: 2.0 * x,))
    scalar = ad.defelementwise("scalar_partial_for_test", lambda x: 3.0 * x,
                               (lambda x, y: 3.0,))      # a number broadcasts
    np.testing.assert_allclose(ad.grad(lambda x: anp.sum(good(x) + scalar(x)))(np.ones(3)),
                               [5.0, 5.0, 5.0])
    np.testing.assert_allclose(ad.hessian(lambda x: anp.sum(good(x) ** 2))(np.ones(2)),
                               12.0 * np.eye(2))
