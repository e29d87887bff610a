"""custom_jvp and custom_vjp (ad/custom.py): used in every mode, nested, on pytrees, with
rules written for one direction, and clear errors."""
import numpy as np
import pytest

import ad
import ad.numpy as anp
from ad.nn.functional import sigmoid
from ad.errors import RegistrationError


@ad.custom_jvp
def softplus(x):
    return anp.log1p(anp.exp(x))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t * sigmoid(x)


def test_custom_jvp_in_every_mode_and_to_second_order():
    x = np.array([-2.0, 0.1, 3.0])
    s = 1 / (1 + np.exp(-x))
    for jac in (ad.jacfwd, ad.jacrev, ad.jacobian):
        np.testing.assert_allclose(jac(softplus)(x), np.diag(s), rtol=1e-12)
    np.testing.assert_allclose(ad.grad(lambda x_: anp.sum(softplus(x_)))(x), s, rtol=1e-12)
    np.testing.assert_allclose(ad.hessian(lambda x_: anp.sum(softplus(x_)))(x),
                               np.diag(s * (1 - s)), rtol=1e-10)
    ad.check_grads(softplus, (x,), order=2)
    # the rule is what is used: stable where the naive derivative overflows
    with np.errstate(over="ignore"):
        assert float(ad.grad(softplus)(800.0)) == 1.0


@ad.custom_jvp
def weighted(params, x):
    return anp.sum(params["w"] * anp.sin(x)) + params["b"]


@weighted.defjvp
def _weighted_jvp(primals, tangents):
    (params, x), (dparams, dx) = primals, tangents
    out = weighted(params, x)
    return out, (anp.sum(dparams["w"] * anp.sin(x)) + dparams["b"]
                 + anp.sum(params["w"] * anp.cos(x) * dx))


def test_custom_jvp_on_pytrees_and_several_arguments():
    params, x = {"w": np.array([1.0, -2.0]), "b": np.float64(0.5)}, np.array([0.3, 1.1])
    g_params, g_x = ad.grad(weighted, argnums=(0, 1))(params, x)
    np.testing.assert_allclose(g_params["w"], np.sin(x))
    assert float(g_params["b"]) == 1.0
    np.testing.assert_allclose(g_x, params["w"] * np.cos(x))
    ad.check_grads(weighted, (params, x), order=2)


@ad.custom_vjp
def clip_gradient(x):
    return x


def _clip_fwd(x):
    return x, None


def _clip_bwd(residuals, ct):
    return (anp.clip(ct, -1.0, 1.0),)


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def test_custom_vjp_is_used_in_reverse_and_refused_in_forward():
    """As in JAX: reverse mode uses the custom VJP; forward mode through it is a named error
    (never a derivative of f's own code, which may have left the traced world); auto mode
    then picks reverse whatever the sizes."""
    x = np.array([1.0, 2.0])
    f = lambda x_: 5.0 * clip_gradient(x_)  # noqa: E731
    np.testing.assert_allclose(ad.grad(lambda x_: anp.sum(f(x_)))(x), [1.0, 1.0])
    np.testing.assert_allclose(ad.jacrev(f)(x), np.eye(2))
    with pytest.raises(ad.NotDifferentiableError, match="VJP only.*reverse mode"):
        ad.jacfwd(f)(x)
    with pytest.raises(ad.NotDifferentiableError, match="custom_vjp"):
        ad.jvp(f, (x,), (np.ones(2),))
    tall = lambda x_: anp.outer(f(x_), np.ones(50))  # noqa: E731  (forward would be cheaper)
    jac = ad.jacobian(tall)
    np.testing.assert_allclose(jac(x), ad.jacrev(tall)(x))
    assert jac.report.choice == "reverse" and "VJP only" in jac.report.reason


# The implicit-function example (a fixed-point solver by custom_vjp) is doctested in
# docs/custom_derivatives.md and runs in notebook 05.


def test_custom_function_errors_are_named():
    @ad.custom_jvp
    def no_rule(x):
        return x * 2.0
    with pytest.raises(RegistrationError, match="no JVP rule.*no_rule.defjvp"):
        ad.grad(no_rule)(1.0)

    with pytest.raises(RegistrationError, match="not callable"):
        softplus.defjvp(3)


@ad.custom_jvp
def polar(p):
    return {"r": anp.hypot(p[0], p[1]), "theta": anp.arctan2(p[1], p[0])}


@polar.defjvp
def _polar_jvp(primals, tangents):
    (p,), (t,) = primals, tangents
    r = anp.hypot(p[0], p[1])
    return polar(p), {"r": (p[0] * t[0] + p[1] * t[1]) / r,
                      "theta": (p[0] * t[1] - p[1] * t[0]) / (r * r)}


@ad.custom_vjp
def scale_and_sum(x, y):
    return x * 2.0, anp.sum(x * y)


scale_and_sum.defvjp(lambda x, y: (scale_and_sum(x, y), (x, y)),
                     lambda res, ct: (2.0 * ct[0] + ct[1] * res[1], ct[1] * res[0]))


def test_custom_functions_with_pytree_results():
    p = np.array([[1.0, 0.5], [2.0, -1.0]])      # two points, as columns
    expected = ad.jacfwd(lambda q: {"r": anp.hypot(q[0], q[1]),
                                    "theta": anp.arctan2(q[1], q[0])})(p)
    for jac in (ad.jacfwd, ad.jacrev):
        got = jac(polar)(p)
        for key in ("r", "theta"):
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-12)
    x, y = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    gx, gy = ad.grad(lambda a, b: anp.sum(scale_and_sum(a, b)[0]) + scale_and_sum(a, b)[1],
                     (0, 1))(x, y)
    np.testing.assert_allclose(gx, 2.0 + y)
    np.testing.assert_allclose(gy, x)
    # only one result reaching the output: the other's cotangent arrives as zeros
    np.testing.assert_allclose(ad.grad(lambda a: scale_and_sum(a, y)[1])(x), y)
    np.testing.assert_allclose(ad.jacrev(lambda a: scale_and_sum(a, y)[0])(x), 2.0 * np.eye(2))


def test_a_none_cotangent_from_bwd_means_zeros_for_that_argument():
    @ad.custom_vjp
    def f(x, y, z):
        return x * y + z ** 2
    f.defvjp(lambda x, y, z: (f(x, y, z), (x, y, z)),
             lambda r, ct: (ct * r[1], None, ct * 2 * r[2]))
    assert ad.grad(f, 0)(2.0, 3.0, 5.0) == 3.0
    assert ad.grad(f, 1)(2.0, 3.0, 5.0) == 0.0       # z's cotangent before
    assert ad.grad(f, 2)(2.0, 3.0, 5.0) == 10.0      # an IndexError before
    g = ad.custom_vjp(lambda x, y: x * y)
    g.defvjp(lambda x, y: (x * y, (x, y)), lambda r, ct: (ct * r[1], (ct, ct)))
    with pytest.raises(TypeError, match="argument 1 has 2 leaves, the argument 1"):
        ad.grad(g, 1)(2.0, 3.0)


def test_custom_functions_with_several_outputs_are_priced():
    @ad.custom_jvp
    def two(x):
        return anp.sin(x), x ** 2
    two.defjvp(lambda p, t: (two(p[0]), (anp.cos(p[0]) * t[0], 2 * p[0] * t[0])))

    def f(x):
        a, b = two(x)
        return a + b
    x = np.array([0.1, 0.2])
    expected = np.diag(np.cos(x) + 2 * x)
    np.testing.assert_allclose(ad.jacobian(f)(x), expected, rtol=1e-12)   # auto: counted
    assert ad.cost_report(f, x).counts.nodes > 0
    np.testing.assert_allclose(ad.grad(lambda v: anp.sum(f(v)), memory_budget=10 ** 6)(x),
                               np.cos(x) + 2 * x, rtol=1e-12)


def test_a_none_tangent_of_one_result_is_zeros_there():
    # before: flattening dropped the None and moved sin's tangent onto floor's result
    @ad.custom_jvp
    def two(x):
        return np.floor(x), np.sin(x)

    @two.defjvp
    def two_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return two(x), (None, np.cos(x) * t)
    x = np.array([0.3, 0.5])
    for transform in (ad.jacfwd, ad.jacrev):
        floor_j, sin_j = transform(lambda x: two(x))(x)
        np.testing.assert_array_equal(floor_j, np.zeros((2, 2)))
        np.testing.assert_allclose(sin_j, np.diag(np.cos(x)), rtol=1e-14)


def test_rules_giving_the_wrong_shape_are_named():
    @ad.custom_vjp
    def double(x):
        return 2.0 * x
    double.defvjp(lambda x: (2.0 * x, None), lambda r, c: (np.sum(c),))
    with pytest.raises(ad.ShapeError, match="cotangent for argument 0 has shape"):
        ad.grad(lambda x: np.sum(double(x)))(np.ones(3))

    @ad.custom_jvp
    def total(x):
        return np.sum(x)

    @total.defjvp
    def total_jvp(primals, tangents):
        return total(primals[0]), tangents[0]            # (3,), not ()
    with pytest.raises(ad.ShapeError, match="tangent for result leaf 0 has shape"):
        ad.grad(total)(np.ones(3))


def test_the_results_structure_may_follow_the_arguments_shapes():
    @ad.custom_jvp
    def rows(x):
        return tuple(x[i] for i in range(x.shape[0]))

    @rows.defjvp
    def rows_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return rows(x), tuple(t[i] for i in range(x.shape[0]))
    for n in (2, 3, 2):
        np.testing.assert_array_equal(np.array(ad.jacfwd(lambda x: rows(x))(np.ones(n))),
                                      np.eye(n))
        np.testing.assert_array_equal(np.array(ad.jacrev(lambda x: rows(x))(np.ones(n))),
                                      np.eye(n))


def test_a_closure_over_the_differentiated_value_is_named():
    def loss(x):
        @ad.custom_jvp
        def f(y):
            return np.sin(y) * x[0]                 # closes over the traced x

        @f.defjvp
        def f_jvp(primals, tangents):
            return f(primals[0]), np.cos(primals[0]) * x[0] * tangents[0]
        return anp.sum(f(x))
    with pytest.raises(ad.LevelError, match="custom_jvp.*closure"):
        ad.grad(loss)(np.array([0.1, 0.2]))


def test_a_rule_s_pytree_of_other_keys_is_named_not_matched_by_position():
    # bwd's {"c", "b"} for an argument {"a", "b"} swapped the derivatives, silently
    f = ad.custom_vjp(lambda d: anp.sum(d["a"] * 1.0 + d["b"] * 10.0))
    f.defvjp(lambda d: (f(d), None),
             lambda r, g: ({"c": g * np.ones(3), "b": g * 10 * np.ones(3)},))
    with pytest.raises(TypeError, match="structure"):
        ad.grad(f)({"a": np.ones(3), "b": np.ones(3)})
    g = ad.custom_jvp(lambda x: {"a": anp.sin(x), "b": anp.cos(x)})
    g.defjvp(lambda p, t: ({"a": anp.sin(p[0]), "b": anp.cos(p[0])},
                           {"b": -anp.sin(p[0]) * t[0], "c": anp.cos(p[0]) * t[0]}))
    with pytest.raises(TypeError, match="structure"):
        ad.jvp(g, (np.ones(2),), (np.ones(2),))


def test_a_complex_tangent_for_a_real_result_is_refused():
    # it was returned as the tangent of a real value (jvp gave a complex tangent of sin)
    @ad.custom_jvp
    def f(x):
        return anp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return anp.sin(x), anp.cos(x) * t * (1 + 1j)

    for call in (lambda: ad.jvp(f, (1.0,), (1.0,)), lambda: ad.jacfwd(f)(np.ones(2)),
                 lambda: ad.hessian(lambda x: anp.sum(f(x)))(np.ones(2))):
        with pytest.raises(TypeError, match="is complex, the result real"):
            call()


# ----------------------------------------------------------------------------- closures, every call
def test_a_closure_over_a_traced_value_is_refused_on_every_call():
    W = [1.0]
    g = ad.custom_jvp(lambda x: anp.sin(x) * W[0])
    g.defjvp(lambda p, t: (anp.sin(p[0]) * W[0], anp.cos(p[0]) * t[0] * W[0]))

    def loss(w, x):
        W[0] = w            # a model's parameter swapped for a traced one
        return g(x)
    assert ad.grad(loss, argnums=1)(2.0, 0.5) == pytest.approx(2.0 * np.cos(0.5))  # w plain
    with pytest.raises(ad.LevelError, match="closure"):
        ad.jvp(loss, (2.0, 0.5), (1.0, 1.0))        # the same signature, now w traced
    with pytest.raises(ad.LevelError, match="closure"):
        ad.grad(loss, argnums=(0, 1))(2.0, 0.5)


def test_a_rule_closing_over_the_transform_s_value_is_named_in_both_modes():
    def h(c):
        f = ad.custom_jvp(lambda x: anp.sin(x))
        f.defjvp(lambda p, t: (anp.sin(p[0]), anp.cos(p[0]) * t[0] * c))
        return f(c)
    with pytest.raises(ad.LevelError, match="closure"):
        ad.jvp(h, (0.5,), (1.0,))                  # it leaked a dual as the tangent
    with pytest.raises(ad.LevelError, match="closure over a traced value"):
        ad.grad(h)(0.5)


def test_what_custom_rules_return_and_take_is_checked_by_name():
    f = ad.custom_jvp(lambda x: anp.sin(x))
    f.defjvp(lambda p, t: (anp.sin(p[0]), (anp.cos(p[0]) * t[0]).astype(int)))
    with pytest.raises(TypeError, match="has dtype int64; a tangent is a float array"):
        ad.jvp(f, (np.array([0.3, 0.4]),), (np.array([1.0, 3.0]),))
    g = ad.custom_jvp(lambda x: anp.sin(x))
    g.defjvp(lambda p, t: anp.cos(p[0]) * t[0])
    with pytest.raises(TypeError, match="must return a pair"):
        ad.jvp(g, (np.ones(3),), (np.ones(3),))
    v = ad.custom_vjp(lambda x: x * 2.0)
    v.defvjp(lambda x: x * 2.0, lambda r, ct: (ct * 2.0,))
    with pytest.raises(TypeError, match="fwd must return a pair"):
        ad.grad(v)(1.0)
    k = ad.custom_jvp(lambda x, n: x * n)
    k.defjvp(lambda p, t: (p[0] * p[1], t[0] * p[1]))
    with pytest.raises(TypeError, match=r"keyword arguments \(n\) are not taken"):
        ad.grad(lambda x: k(x, n=3.0))(2.0)


def test_a_plain_object_argument_has_no_tangent():
    class Config:
        def __init__(self, s):
            self.s = s
    f = ad.custom_jvp(lambda a, c: a * c.s)
    f.defjvp(lambda p, t: (p[0] * p[1].s, t[0] * p[1].s))
    assert ad.grad(lambda a: f(a, Config(2.0)))(1.0) == 2.0
    v = ad.custom_vjp(lambda a, c: a * c.s)
    v.defvjp(lambda a, c: (a * c.s, c), lambda r, ct: (ct * r.s, None))
    assert ad.grad(lambda a: v(a, Config(3.0)))(1.0) == 3.0


def test_an_affine_rule_is_refused_by_reverse_mode():
    f = ad.custom_jvp(lambda x: anp.sin(x))
    f.defjvp(lambda p, t: (anp.sin(p[0]), anp.cos(p[0]) * t[0] + 1.0))
    with pytest.raises(ad.NotDifferentiableError,
                       match=r"custom_jvp\(<lambda>\): its JVP rule .*not linear in the tangent"):
        ad.grad(f)(0.3)
    s = ad.custom_jvp(lambda x: anp.sqrt(x))       # an inf coefficient: NaN at 0, not refused
    s.defjvp(lambda p, t: (anp.sqrt(p[0]), t[0] / (2.0 * anp.sqrt(p[0]))))
    assert ad.grad(s)(4.0) == 0.25


def test_a_rule_nonlinear_in_the_tangent_is_refused_by_reverse_mode():
    f = ad.custom_jvp(lambda x: anp.sin(x))
    f.defjvp(lambda p, t: (anp.sin(p[0]), anp.cos(p[0]) * t[0] ** 2))   # zero at zero
    assert ad.jvp(f, (0.3,), (2.0,))[1] == pytest.approx(4.0 * np.cos(0.3))  # as written
    with pytest.raises(ad.NotDifferentiableError, match="not linear in the tangent"):
        ad.grad(f)(0.3)
    g = ad.custom_jvp(lambda x, y: x * y)                  # bilinear in the primals is fine
    g.defjvp(lambda p, t: (p[0] * p[1], t[0] * p[1] + p[0] * t[1]))
    np.testing.assert_allclose(ad.grad(lambda v: g(v[0], v[1]))(np.array([2.0, 3.0])), [3.0, 2.0])
    np.testing.assert_allclose(ad.hessian(lambda v: g(v[0], v[1]))(np.array([2.0, 3.0])),
                               [[0.0, 1.0], [1.0, 0.0]])
