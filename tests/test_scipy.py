"""ad.scipy (an optional extra): every special function checked like the catalogue's
primitives (values against SciPy, derivatives to second order in both modes, forward equal
to reverse), SciPy's own ufuncs dispatching on traced values, the log-sum-exp family and the
normal distribution."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

scipy_special = pytest.importorskip("scipy.special")
scipy_stats = pytest.importorskip("scipy.stats")
scipy_linalg = pytest.importorskip("scipy.linalg")

import ad  # noqa: E402
import ad.numpy as anp  # noqa: E402
import ad.scipy  # noqa: E402
from ad.scipy import special, stats  # noqa: E402
from ad.testing import arguments_for  # noqa: E402

ELEMENTWISE = [getattr(special, name) for name in special.__all__
               if name not in ("polygamma", "logsumexp", "softmax", "log_softmax",
                               "gammainc", "gammaincc", "betainc")]   # shape args: below


@pytest.mark.parametrize("primitive", ELEMENTWISE, ids=lambda p: p.name)
@given(data=st.data())
def test_special_functions(primitive, data):
    args = data.draw(arguments_for(primitive))
    np.testing.assert_allclose(primitive(*args), primitive.numpy(*args), rtol=1e-12)
    positions = [i for i, p in enumerate(primitive.partials) if p is not None]

    def f(*diff):
        full = list(args)
        for i, x in zip(positions, diff):
            full[i] = x
        return primitive(*full)
    diff_args = tuple(args[i] for i in positions)
    ad.check_grads(f, diff_args, order=2, rtol=1e-4, atol=1e-5)
    for a, b in zip(ad.jacfwd(f, tuple(range(len(positions))))(*diff_args),
                    ad.jacrev(f, tuple(range(len(positions))))(*diff_args)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [1.0, 2.0, 3.0])
def test_polygamma_to_second_order(n):
    x = np.array([0.7, 1.5, 3.2])
    np.testing.assert_allclose(special.polygamma(n, x), scipy_special.polygamma(int(n), x))
    ad.check_grads(lambda x_: special.polygamma(n, x_), (x,), order=2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ad.grad(lambda x_: anp.sum(special.digamma(x_)))(x),
                               scipy_special.polygamma(1, x), rtol=1e-12)


def test_scipy_ufuncs_dispatch_on_traced_values():
    x = np.array([0.2, -0.7])
    g = ad.grad(lambda x_: anp.sum(scipy_special.erf(x_) + scipy_special.expit(x_)))(x)
    s = scipy_special.expit(x)
    np.testing.assert_allclose(g, 2 / np.sqrt(np.pi) * np.exp(-x * x) + s * (1 - s))


def test_bessel_derivatives_at_zero_are_the_limits():
    assert float(ad.grad(special.i1)(0.0)) == 0.5
    assert float(ad.grad(special.i1e)(0.0)) == 0.5
    assert float(ad.grad(special.i0)(0.0)) == 0.0


@pytest.mark.parametrize("kw", [{}, {"axis": 1}, {"axis": 0, "keepdims": True},
                                {"axis": 1, "b": np.array([1.0, 2.0, 0.5])}])
def test_logsumexp_family(kw):
    x = np.random.default_rng(0).standard_normal((2, 3)) * 3
    np.testing.assert_allclose(special.logsumexp(x, **kw), scipy_special.logsumexp(x, **kw))
    ad.check_grads(lambda x_: special.logsumexp(x_, **kw), (x,), order=2)
    for ours, theirs in ((special.softmax, scipy_special.softmax),
                         (special.log_softmax, scipy_special.log_softmax)):
        np.testing.assert_allclose(ours(x, axis=1), theirs(x, axis=1), rtol=1e-12)
        ad.check_grads(lambda x_: ours(x_, axis=1), (x,), order=2)
    assert np.isfinite(float(ad.grad(special.logsumexp)(np.array([1000.0, 1000.0]))[0]))


@pytest.mark.parametrize("name", ["logpdf", "pdf", "cdf", "logcdf", "sf"])
def test_normal_distribution_in_point_location_and_scale(name):
    x, loc, scale = np.array([-0.5, 0.3, 1.7]), np.float64(0.2), np.float64(1.3)
    ours, theirs = getattr(stats.norm, name), getattr(scipy_stats.norm, name)
    np.testing.assert_allclose(ours(x, loc, scale), theirs(x, loc, scale), rtol=1e-12)
    ad.check_grads(ours, (x, loc, scale), order=2, rtol=1e-4, atol=1e-6)


def test_normal_ppf():
    q = np.array([0.1, 0.5, 0.8])
    np.testing.assert_allclose(stats.norm.ppf(q, 1.0, 2.0), scipy_stats.norm.ppf(q, 1.0, 2.0))
    ad.check_grads(lambda q_: stats.norm.ppf(q_, 1.0, 2.0), (q,), order=2, rtol=1e-4)


DISTRIBUTIONS = {
    "t logpdf": (lambda x: stats.t.logpdf(x, 3.5, loc=0.1, scale=1.2),
                 lambda x: scipy_stats.t.logpdf(x, 3.5, loc=0.1, scale=1.2)),
    "t cdf (through 0)": (lambda x: stats.t.cdf(x - 0.5, 3.5),
                          lambda x: scipy_stats.t.cdf(x - 0.5, 3.5)),
    "gamma logpdf": (lambda x: stats.gamma.logpdf(x, 2.5, scale=0.7),
                     lambda x: scipy_stats.gamma.logpdf(x, 2.5, scale=0.7)),
    "gamma cdf": (lambda x: stats.gamma.cdf(x, 2.5), lambda x: scipy_stats.gamma.cdf(x, 2.5)),
    "beta pdf": (lambda x: stats.beta.pdf(x, 2.0, 3.5),
                 lambda x: scipy_stats.beta.pdf(x, 2.0, 3.5)),
    "beta cdf": (lambda x: stats.beta.cdf(x, 2.0, 3.5),
                 lambda x: scipy_stats.beta.cdf(x, 2.0, 3.5)),
    "multivariate normal": (
        lambda x: stats.multivariate_normal.logpdf(x, np.ones(3), np.diag([1.0, 2.0, 0.5]) + 0.1),
        lambda x: scipy_stats.multivariate_normal.logpdf(x, np.ones(3),
                                                         np.diag([1.0, 2.0, 0.5]) + 0.1)),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_distributions(name):
    ours, theirs = DISTRIBUTIONS[name]
    x = np.array([0.2, 0.5, 0.9])
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-10)
    ad.check_grads(ours, (x,), order=2, rtol=1e-4, atol=1e-4)


def test_multivariate_normal_in_mean_and_cov():
    x = np.array([[0.2, -0.1], [1.0, 0.4]])
    mean, cov = np.array([0.1, 0.0]), np.array([[1.0, 0.3], [0.3, 2.0]])
    ad.check_grads(lambda m, c: stats.multivariate_normal.logpdf(x, m, c @ c.T), (mean, cov),
                   order=2, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,args", [("gammainc", (1.7,)), ("gammaincc", (1.7,)),
                                       ("betainc", (2.0, 1.5))])
def test_incomplete_functions_in_x(name, args):
    x = np.array([0.2, 0.45, 0.8])
    f = lambda x_: getattr(special, name)(*args, x_)  # noqa: E731
    np.testing.assert_allclose(f(x), getattr(scipy_special, name)(*args, x))
    ad.check_grads(f, (x,), order=2, rtol=1e-4, atol=1e-6)


CONSTANT_ONLY = [(p, i) for p in (special.polygamma, special.gammainc, special.gammaincc,
                                  special.betainc) for i in p.constant_only]


@pytest.mark.parametrize("primitive,position", CONSTANT_ONLY,
                         ids=[f"{p.name}[{i}]" for p, i in CONSTANT_ONLY])
@pytest.mark.parametrize("transform", ["grad", "jacfwd", "jacrev", "hessian", "compiled grad"])
def test_a_derivative_through_an_argument_without_a_rule_is_a_clear_error(
        primitive, position, transform):
    # once a TypeError ('NoneType' object is not callable) from inside the recording
    args = [float(np.mean(domain)) for domain in primitive.domain]

    def f(x):
        full = list(args)
        full[position] = x
        return anp.sum(primitive(*full))
    by = {"grad": ad.grad(f), "jacfwd": ad.jacfwd(f), "jacrev": ad.jacrev(f),
          "hessian": ad.hessian(f), "compiled grad": ad.grad(f, compile=True)}[transform]
    with pytest.raises(ad.NotDifferentiableError, match=rf"'{primitive.name}' is not "
                       rf"differentiable in argument {position}.*pass it as a constant"):
        by(np.array([args[position], args[position] * 1.1]))


scipy_linalg = pytest.importorskip("scipy.linalg")
_A = np.array([[2.0, 0.3, -0.1], [0.4, 1.5, 0.2], [0.1, -0.3, 1.8]])
_B = np.array([[1.0, 0.5], [-0.2, 0.3], [0.7, -1.1]])
LINALG = {
    "solve_triangular lower": (lambda a: ad.scipy.linalg.solve_triangular(a, _B, lower=True),
                               lambda a: scipy_linalg.solve_triangular(a, _B, lower=True)),
    "solve_triangular upper trans": (
        lambda a: ad.scipy.linalg.solve_triangular(a, _B, trans=1),
        lambda a: scipy_linalg.solve_triangular(a, _B, trans=1)),
    "cho_solve": (lambda a: ad.scipy.linalg.cho_solve(ad.scipy.linalg.cho_factor(a @ a.T), _B),
                  lambda a: scipy_linalg.cho_solve(scipy_linalg.cho_factor(a @ a.T), _B)),
    "expm": (lambda a: ad.scipy.linalg.expm(a), lambda a: scipy_linalg.expm(a)),
    "expm large": (lambda a: ad.scipy.linalg.expm(4.0 * a), lambda a: scipy_linalg.expm(4.0 * a)),
    "sqrtm": (lambda a: ad.scipy.linalg.sqrtm(a @ a.T), lambda a: scipy_linalg.sqrtm(a @ a.T)),
}


@pytest.mark.parametrize("name", sorted(LINALG))
def test_scipy_linalg(name):
    ours, theirs = LINALG[name]
    np.testing.assert_allclose(ours(_A), theirs(_A), rtol=1e-9, atol=1e-12)
    ad.check_grads(ours, (_A,), order=2, rtol=1e-4, atol=1e-5)


def test_scipy_ufuncs_dispatch_without_importing_ad_scipy_first():
    """scipy.special.expit(traced) in a fresh process that never imported ad.scipy: the
    NumPy protocol loads ad.scipy on the first call nothing else handles."""
    import subprocess
    import sys
    code = ("import sys, numpy as np, scipy.special as sp, ad\n"
            "assert 'ad.scipy' not in sys.modules\n"
            "g = ad.grad(lambda x: np.sum(sp.expit(x)))(np.zeros(2))\n"
            "print(g.tolist())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0.25, 0.25]"


def test_derivatives_of_every_order_at_a_removable_singularity():
    """sinc' and i1's partial divide by x: near 0 they are their series, so the second,
    third and fourth derivatives at 0 are the closed forms (a constant patch at 0 gave the
    first derivative only), and they join the quotient continuously."""
    d = ad.grad
    sinc, i1 = anp.sinc, special.i1
    assert float(d(d(sinc))(0.0)) == pytest.approx(-np.pi ** 2 / 3, rel=1e-12)
    assert float(d(d(d(sinc)))(0.0)) == 0.0
    assert float(d(d(d(d(sinc))))(0.0)) == pytest.approx(np.pi ** 4 / 5, rel=1e-10)
    assert float(d(d(d(i1)))(0.0)) == pytest.approx(3 / 8, rel=1e-12)
    for f, value in ((sinc, np.sinc), (i1, scipy_special.i1)):
        for x in (-0.02, -0.0099, 0.0101, 0.3):   # both sides of the series' edge
            h = 1e-3
            second = (value(x + h) - 2 * value(x) + value(x - h)) / h ** 2
            assert float(d(d(f))(x)) == pytest.approx(second, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(ad.hessian(lambda x: anp.sum(sinc(x)))(np.array([0.0, 0.5])),
                               np.diag([-np.pi ** 2 / 3, float(d(d(sinc))(0.5))]), rtol=1e-12)


def test_distributions_outside_their_support_are_scipy_s():
    x = np.array([0.5, -0.5, 2.0, 0.0])
    for ours, theirs, shape, outside in ((stats.gamma, scipy_stats.gamma, (2.5,), [1]),
                                         (stats.beta, scipy_stats.beta, (2.0, 3.5), [1, 2])):
        for method in ("logpdf", "pdf", "cdf"):
            np.testing.assert_allclose(getattr(ours, method)(x, *shape),
                                       getattr(theirs, method)(x, *shape), rtol=1e-12)
        # no NaN reaches a derivative from the points outside
        g = ad.grad(lambda v: anp.sum(ours.pdf(v, *shape)))(x[:3])   # not at the edge
        assert np.all(np.isfinite(g)) and np.all(g[outside] == 0.0)


def test_multivariate_normal_takes_scipy_s_dimension():
    x = np.array([0.5, -0.5, 2.0])
    np.testing.assert_allclose(stats.multivariate_normal.logpdf(x, mean=0.5, cov=2.0),
                               scipy_stats.multivariate_normal.logpdf(x, mean=0.5, cov=2.0))
    np.testing.assert_allclose(stats.multivariate_normal.logpdf(x, np.zeros(3)),
                               scipy_stats.multivariate_normal.logpdf(x, np.zeros(3)))


def test_logsumexp_weights_mask_and_broadcast_as_scipy_s():
    """A b == 0 weight on the largest a (a mask) does not set the shift (every counted term
    underflowed: -inf, NaN gradients), and b broadcasts a as in SciPy."""
    a, b = np.array([1000.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0])
    assert float(special.logsumexp(a, b=b)) == pytest.approx(
        float(scipy_special.logsumexp(a, b=b)))
    np.testing.assert_allclose(ad.grad(lambda x: special.logsumexp(x, b=b))(a),
                               [0.0, 1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-12)
    rng = np.random.default_rng(0)
    for shape_a, shape_b, axis in (((4,), (3, 4), None), ((4,), (3, 4), 1),
                                   ((3, 4), (4,), 0), ((2, 3), (2, 3), -1)):
        x, w = rng.standard_normal(shape_a), np.abs(rng.standard_normal(shape_b))
        ours = special.logsumexp(x, axis=axis, b=w)
        theirs = scipy_special.logsumexp(x, axis=axis, b=w)
        assert np.shape(ours) == np.shape(theirs)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
        ad.check_grads(lambda v: anp.sum(special.logsumexp(v, axis=axis, b=w)), (x,), order=2)


def test_i1e_derivatives_near_zero_do_not_cancel():
    d = ad.grad
    for x in (1e-7, 1e-10, 1e-14):
        assert float(d(d(d(special.i1e)))(x)) == pytest.approx(1.875, rel=1e-5)
        assert float(d(d(special.i1e))(x)) == pytest.approx(-1.0 + 1.875 * x, rel=1e-9)


def test_float32_matrix_functions_stay_float32_and_ufuncs_without_rules_are_named():
    a = np.array([[0.5, 0.1], [0.2, 0.3]], np.float32)
    assert ad.scipy.linalg.expm(a).dtype == np.float32
    assert ad.scipy.linalg.sqrtm(a @ a.T + np.eye(2, dtype=np.float32)).dtype == np.float32
    with pytest.raises(ad.UnsupportedFunctionError, match=r"^scipy\.special\.rel_entr .*"
                       r"ad\.scipy\.special has no equivalent"):
        ad.grad(lambda x: anp.sum(scipy_special.rel_entr(x, 0.5)))(np.array([0.2, 0.4]))


def test_i1e_derivative_where_i1_overflows():
    # exp(-|x|) * i1(x) / x was 0 * inf beyond |x| = 713
    import scipy.special as sp
    for x in (700.0, 713.0, 750.0, 1000.0, -1000.0):
        want = sp.i0e(x) - np.sign(x) * sp.i1e(x) - sp.i1e(x) / x
        np.testing.assert_allclose(ad.grad(ad.scipy.special.i1e)(x), want, rtol=1e-12)


def test_log_ndtr_derivative_in_the_far_left_tail():
    # phi / Phi is about -x there; the direct form lost 1% at -1e7 and overflowed at -1e10
    import scipy.special as sp
    x = -25.0                                      # phi / Phi directly (no cancellation)
    np.testing.assert_allclose(ad.grad(ad.scipy.special.log_ndtr)(x), np.exp(-0.5 * x * x) / (
        np.sqrt(2 * np.pi) * sp.ndtr(x)), rtol=1e-12)
    for x in (-1e3, -1e5, -1e7, -1e10):
        want = -x / (1 - 1 / x**2 + 3 / x**4)
        np.testing.assert_allclose(ad.grad(ad.scipy.special.log_ndtr)(x), want, rtol=1e-12)
    for x in (-29.0, -31.0):                    # both sides of the switch agree with SciPy
        got = ad.grad(ad.scipy.special.log_ndtr)(x)
        want = np.exp(-0.5 * x * x - sp.log_ndtr(x)) / np.sqrt(2 * np.pi)
        np.testing.assert_allclose(got, want, rtol=1e-10)
    ad.check_grads(ad.scipy.special.log_ndtr, (np.array([-40.0, -31.0, -5.0, 0.5]),), order=2)


@pytest.mark.parametrize("df", [1.0, 3.0, 4.0, 30.0])
def test_t_cdf_derivatives_near_zero(df):
    # the tail form's derivative read (1 - x)^(-1/2) with x rounded to 1 near z = 0 (a
    # Hessian of 33 for -5e-7 at z = 1e-6), and its second derivative cancels there
    for z in (-1e-12, 0.0, 1e-9, 1e-6, -1e-4, 1.001e-3 * np.sqrt(df), 0.3, -2.5, 40.0):
        pdf = scipy_stats.t.pdf(z, df)
        grad = ad.grad(lambda z: stats.t.cdf(z, df))(z)
        hess = ad.hessian(lambda z: stats.t.cdf(z, df))(z)
        np.testing.assert_allclose(grad, pdf, rtol=1e-12)
        np.testing.assert_allclose(hess, -pdf * (df + 1) * z / (df + z * z), rtol=1e-7,
                                   atol=1e-15)
        np.testing.assert_allclose(ad.jacfwd(lambda z: stats.t.cdf(z, df))(z), grad,
                                   rtol=1e-13)
    for z in (1e-4, 1e-3, -0.02):        # float32: finite, to float32's precision
        g = ad.grad(lambda z: stats.t.cdf(z, np.float32(df)))(np.float32(z))
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, scipy_stats.t.pdf(z, df), rtol=1e-5)


def test_sqrtm_without_a_real_root_is_an_error():
    from ad.scipy import linalg as ad_linalg
    # the iteration wandered for 30 steps and returned R with R @ R far from A
    for a in (np.array([[4.0, 1.0], [1.0, 1e-4]]), np.diag([1.0, -1.0])):
        with pytest.raises(np.linalg.LinAlgError, match="no real principal square root"):
            ad_linalg.sqrtm(a)
        with pytest.raises(np.linalg.LinAlgError, match="no real principal square root"):
            ad.grad(lambda a: anp.sum(ad_linalg.sqrtm(a)))(a)
    a = np.array([[4.0, 1.0], [1.0, 3.0]])
    root = ad_linalg.sqrtm(a)
    np.testing.assert_allclose(root @ root, a, rtol=1e-12)


@pytest.mark.parametrize("df", [0.05, 1.0, 30.0, 2e4, 1e7, 1e14, np.inf])
def test_t_distribution_at_any_degrees_of_freedom(df):
    """The cdf's series near 0 is in z^2 and z^2 / df: taken for z^2 < 1e-6 df it gave a
    cdf of 2.33 at z = 3, df = 1e7; df = inf is the normal distribution (it gave NaN), and
    logpdf's constant is one betaln (two gammaln cancelled at a large df)."""
    for z in (-40.0, -3.0, -0.9, -1.5e-3, 0.0, 1e-7, 3e-3, 0.1414, 0.9, 3.0):
        pdf = scipy_stats.t.pdf(z, df)
        np.testing.assert_allclose(stats.t.cdf(z, df), scipy_stats.t.cdf(z, df), rtol=1e-10)
        np.testing.assert_allclose(stats.t.logpdf(z, df), scipy_stats.t.logpdf(z, df),
                                   rtol=1e-10)
        np.testing.assert_allclose(ad.grad(lambda z: stats.t.cdf(z, df))(z), pdf, rtol=1e-9)
        curvature = -pdf * z * ((df + 1) / (df + z * z) if np.isfinite(df) else 1.0)
        np.testing.assert_allclose(ad.hessian(lambda z: stats.t.cdf(z, df))(z), curvature,
                                   rtol=1e-7, atol=1e-12 * pdf)


def test_a_zero_weight_still_has_its_derivative_in_logsumexp():
    # the b == 0 term was masked to -inf, cutting d/db there (0 for exp(a_i) / sum b exp(a))
    a, b = np.array([0.1, 0.2, 0.3]), np.array([1.0, 0.0, 2.0])
    want = np.exp(a) / np.sum(b * np.exp(a))
    np.testing.assert_allclose(ad.grad(lambda b: special.logsumexp(a, b=b))(b), want,
                               rtol=1e-13)
    np.testing.assert_allclose(ad.jacfwd(lambda b: special.logsumexp(a, b=b))(b), want,
                               rtol=1e-13)
    ad.check_grads(lambda b: special.logsumexp(a, b=b), (b,), order=2)
    # a masked a far above the rest, or inf or NaN under a zero weight: SciPy's value, finite
    a = np.array([1000.0, 0.0, 1.0, np.inf, np.nan])
    b = np.array([0.0, 1.0, 1.0, 0.0, 0.0])
    with np.errstate(all="ignore"):
        assert float(special.logsumexp(a, b=b)) == pytest.approx(
            float(scipy_special.logsumexp(a, b=b)))
        assert np.all(np.isfinite(ad.grad(lambda b: special.logsumexp(a, b=b))(b)))


def test_complex_triangular_and_cholesky_solves_conjugate():
    from ad.scipy import linalg as ad_linalg
    a = np.array([[1.0, 0.0], [1j, 1.0]])
    b = np.array([1.0, 2.0 + 1j])
    for trans in (0, 1, 2, "N", "T", "C"):
        for lower, m in ((True, a), (False, a.T)):
            np.testing.assert_allclose(
                ad_linalg.solve_triangular(m, b, lower=lower, trans=trans),
                scipy_linalg.solve_triangular(m, b, lower=lower, trans=trans), rtol=1e-13)
    h = np.array([[4.0, 1 + 2j], [1 - 2j, 6.0]])
    for lower in (True, False):
        factor = ad_linalg.cho_factor(h, lower=lower)
        theirs = scipy_linalg.cho_factor(h, lower=lower)[0]
        np.testing.assert_allclose(factor[0], np.tril(theirs) if lower else np.triu(theirs),
                                   rtol=1e-13)
        np.testing.assert_allclose(ad_linalg.cho_solve(factor, b), np.linalg.solve(h, b),
                                   rtol=1e-13)
        ad.check_grads(lambda v: anp.sum(anp.abs(ad_linalg.cho_solve(factor, v)) ** 2), (b,),
                       order=2)
    # the upper factor reads the upper triangle, as NumPy's and SciPy's (not the lower one)
    m = np.array([[4.0, 1.0, 0.5], [9.0, 3.0, 0.2], [9.0, 9.0, 2.0]])
    np.testing.assert_allclose(anp.linalg.cholesky(m, upper=True),
                               np.linalg.cholesky(m, upper=True), rtol=1e-13)
    np.testing.assert_allclose(ad_linalg.cho_factor(m)[0],
                               np.triu(scipy_linalg.cho_factor(m)[0]), rtol=1e-13)


def test_float32_points_give_float32_distributions_and_special_functions():
    x = np.array([0.25, 0.5], np.float32)
    for value in (stats.norm.logpdf(x), stats.norm.pdf(x, 0.1, 2.0), stats.t.logpdf(x, 3.0),
                  stats.t.cdf(x, 3.0), stats.t.pdf(x, 3.0, scale=2.0),
                  stats.gamma.logpdf(x, 2.0), stats.gamma.cdf(x, 2.0),
                  stats.beta.logpdf(x, 2.0, 3.0), stats.beta.cdf(x, 2.0, 3.0),
                  special.xlogy(2.0, x), special.gammainc(2.0, x),
                  special.polygamma(1.0, x)):
        assert value.dtype == np.float32
    np.testing.assert_allclose(stats.gamma.logpdf(x, 2.0), scipy_stats.gamma.logpdf(x, 2.0),
                               rtol=1e-6)
    assert ad.grad(lambda v: anp.sum(stats.t.logpdf(v, 3.0)))(x).dtype == np.float32


def test_degenerate_arguments_give_scipy_s_nan_or_a_named_error():
    from ad.scipy import linalg as ad_linalg
    with np.errstate(all="ignore"):
        assert np.isnan(stats.norm.logpdf(0.0, 0.0, 0.0))      # was ZeroDivisionError
        assert np.isnan(stats.t.logpdf(0.0, 3.0, scale=0.0))
        assert np.isnan(ad_linalg.expm(np.array([[np.inf, 0.0], [0.0, 1.0]]))).any()
    with pytest.raises(ValueError, match="last axis has 3 elements"):
        stats.multivariate_normal.logpdf(np.zeros(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"cov of shape \(3, 3\)"):
        stats.multivariate_normal.logpdf(np.zeros(2), np.zeros(2), np.eye(3))


@pytest.mark.parametrize("name, args", [("t", (3.5, 0.1, 1.2)), ("gamma", (2.5, 0.1, 1.2)),
                                        ("beta", (2.0, 3.0, 0.0, 1.5)), ("t", (3.5, 0.1))])
def test_loc_and_scale_are_taken_positionally_as_scipy_s(name, args):
    ours, theirs = getattr(stats, name), getattr(scipy_stats, name)
    for method in ("logpdf", "pdf", "cdf"):
        np.testing.assert_allclose(getattr(ours, method)(0.45, *args),
                                   getattr(theirs, method)(0.45, *args), rtol=1e-12)
    # a derivative through a positional scale, as through the keyword
    k = len(ours.names)
    by_keyword = ad.grad(lambda s: getattr(ours, "logpdf")(0.45, *args[:k], scale=s))(1.3)
    assert ad.grad(lambda s: ours.logpdf(0.45, *args[:k], 0.0, s))(1.3) == \
        pytest.approx(by_keyword, rel=1e-14)


def test_stats_name_missing_or_extra_parameters():
    with pytest.raises(TypeError, match="t.logpdf: missing shape parameter"):
        stats.t.logpdf(0.3)
    with pytest.raises(TypeError, match="beta.cdf: takes x, a, b, loc and scale"):
        stats.beta.cdf(0.3, 1.0, 2.0, 0.0, 1.0, 7.0)
    with pytest.raises(TypeError, match="gamma.pdf: got multiple values for loc"):
        stats.gamma.pdf(0.3, 2.0, 0.1, loc=0.2)
