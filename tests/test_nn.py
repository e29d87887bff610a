"""Tests of `ad.nn`: the functional kit (derivatives in both modes and to second order,
stability at extremes, agreement with plain-NumPy references), the initialisers (statistics
and PyTorch's fan conventions) and the optimisers (steps against hand-computed updates)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ad
import ad.numpy as anp
from ad.nn import functional as F
from ad.nn import init, optim


def arrays(shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4), lo=-5.0, hi=5.0):
    return hnp.arrays(np.float64, shape, elements=st.floats(lo, hi, allow_nan=False,
                                                            allow_infinity=False, width=64))


def summed(f):
    """A scalar function: sum of f weighted by fixed coefficients (so the gradient is not
    just the Jacobian's column sums of ones)."""
    def g(x):
        out = f(x)
        w = np.cos(np.arange(anp.size(out), dtype=np.float64)).reshape(anp.shape(out)) + 1.5
        return anp.sum(out * w)
    return g


# ----------------------------------------------------------------------------- references
def np_sigmoid(x):
    return np.array([1 / (1 + math.exp(-t)) if t >= 0 else math.exp(t) / (1 + math.exp(t))
                     for t in np.ravel(x)]).reshape(np.shape(x))


def np_gelu(x):
    return np.array([0.5 * t * (1 + math.erf(t / math.sqrt(2))) for t in np.ravel(x)]
                    ).reshape(np.shape(x))


SMOOTH = {
    "sigmoid": (F.sigmoid, np_sigmoid),
    "softplus": (F.softplus, lambda x: np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)),
    "log_sigmoid": (F.log_sigmoid, lambda x: -(np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0))),
    "tanh": (F.tanh, np.tanh),
    "gelu": (F.gelu, np_gelu),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
}


@pytest.mark.parametrize("name", sorted(SMOOTH))
@given(x=arrays())
def test_smooth_activations_values_and_derivatives(name, x):
    f, reference = SMOOTH[name]
    np.testing.assert_allclose(f(x), reference(x), rtol=1e-12, atol=1e-14)
    ad.check_grads(summed(f), (x,), order=2)
    np.testing.assert_allclose(ad.jacfwd(f)(x), ad.jacrev(f)(x), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("f, slope", [(F.relu, 0.0), (lambda x: F.leaky_relu(x, 0.1), 0.1)])
@given(x=arrays())
def test_piecewise_linear_activations(f, slope, x):
    assume(np.all(np.abs(x) > 1e-3))   # finite differences across the kink are meaningless
    np.testing.assert_array_equal(f(x), np.where(x > 0, x, slope * x))
    ad.check_grads(summed(f), (x,), order=2)
    J = ad.jacfwd(f)(x)
    np.testing.assert_array_equal(J, ad.jacrev(f)(x))
    diag = np.where(x > 0, 1.0, slope).ravel()
    np.testing.assert_array_equal(J.reshape(x.size, x.size), np.diag(diag))


def test_relu_derivative_at_zero_is_zero():
    assert float(ad.grad(F.relu)(0.0)) == 0.0
    assert float(ad.grad(lambda x: F.leaky_relu(x, 0.2))(0.0)) == pytest.approx(0.2)


def test_gelu_derivative_matches_closed_form():
    x = np.linspace(-7, 7, 57)
    phi = np.exp(-x ** 2 / 2) / math.sqrt(2 * math.pi)
    cdf = np.array([0.5 * (1 + math.erf(t / math.sqrt(2))) for t in x])
    g = ad.grad(lambda t: anp.sum(F.gelu(t)))(x)
    np.testing.assert_allclose(g, cdf + x * phi, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("axis", [-1, 0])
@given(x=arrays(hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=4), -20, 20))
def test_log_softmax_family(axis, x):
    ref_lse = np.log(np.sum(np.exp(x), axis=axis, keepdims=True))
    np.testing.assert_allclose(F.logsumexp(x, axis=axis, keepdims=True), ref_lse, rtol=1e-12,
                               atol=1e-13)
    np.testing.assert_allclose(F.logsumexp(x, axis=axis), ref_lse.squeeze(axis), rtol=1e-12,
                               atol=1e-13)
    np.testing.assert_allclose(F.log_softmax(x, axis), x - ref_lse, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.softmax(x, axis), np.exp(x - ref_lse), rtol=1e-12,
                               atol=1e-300)
    for f in (lambda t: F.log_softmax(t, axis), lambda t: F.softmax(t, axis),
              lambda t: F.logsumexp(t, axis)):
        ad.check_grads(summed(f), (x,), order=2, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ad.jacfwd(f)(x), ad.jacrev(f)(x), rtol=1e-11, atol=1e-14)


def test_logsumexp_all_axes_and_minus_inf():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert float(F.logsumexp(x, axis=None)) == pytest.approx(np.log(np.exp(x).sum()))
    with np.errstate(divide="ignore"):      # log(0) = -inf is the right answer here
        assert F.logsumexp(np.full(3, -np.inf)) == -np.inf


@given(logits=arrays(hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=5), -10, 10),
       data=st.data())
def test_softmax_cross_entropy(logits, data):
    n, c = logits.shape
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    per = -np.log(p[np.arange(n), labels])
    tol = dict(rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(F.softmax_cross_entropy(logits, labels), per.mean(), **tol)
    np.testing.assert_allclose(F.softmax_cross_entropy(logits, labels, "sum"), per.sum(), **tol)
    np.testing.assert_allclose(F.softmax_cross_entropy(logits, labels, "none"), per, **tol)
    # the seed-001 hand gradient: (softmax - one_hot) / n
    g = ad.grad(lambda z: F.softmax_cross_entropy(z, labels))(logits)
    np.testing.assert_allclose(g, (p - np.eye(c)[labels]) / n, rtol=1e-9, atol=1e-12)
    ad.check_grads(lambda z: F.softmax_cross_entropy(z, labels), (logits,), order=2,
                   rtol=1e-4, atol=1e-6)


def test_softmax_cross_entropy_rejects_bad_labels():
    with pytest.raises(TypeError):
        F.softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError):
        F.softmax_cross_entropy(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError):
        F.softmax_cross_entropy(np.zeros((2, 3)), [0])
    with pytest.raises(ValueError):
        F.mse(np.zeros(2), np.zeros(2), reduction="avg")


@given(pred=arrays(), data=st.data())
def test_mse_and_bce(pred, data):
    target = data.draw(arrays(st.just(pred.shape)))
    np.testing.assert_allclose(F.mse(pred, target), np.mean((pred - target) ** 2), rtol=1e-12)
    g = ad.grad(F.mse)(pred, target)
    np.testing.assert_allclose(g, 2 * (pred - target) / pred.size, rtol=1e-12, atol=1e-15)
    ad.check_grads(F.mse, (pred, target), order=2)
    t = (target > 0).astype(float)
    bce = -(t * np.log(np_sigmoid(pred)) + (1 - t) * np.log(1 - np_sigmoid(pred)))
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(pred, t), bce.mean(),
                               rtol=1e-10)
    ad.check_grads(lambda z: F.binary_cross_entropy_with_logits(z, t), (pred,), order=2)


# ----------------------------------------------------------------------------- stability
EXTREME = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0])


@pytest.mark.parametrize("f", [F.sigmoid, F.log_sigmoid, F.softplus, F.gelu, F.tanh,
                               lambda x: F.log_softmax(x), lambda x: F.softmax(x),
                               lambda x: F.logsumexp(x),
                               lambda x: F.binary_cross_entropy_with_logits(x, np.ones(5)),
                               lambda x: F.softmax_cross_entropy(x[None], [0])],
                         ids=["sigmoid", "log_sigmoid", "softplus", "gelu", "tanh",
                              "log_softmax", "softmax", "logsumexp", "bce", "cross_entropy"])
@pytest.mark.parametrize("scale", [1.0, -1.0])
def test_stable_at_plus_minus_1000(f, scale):
    x = scale * EXTREME
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow, no nan
        value = np.asarray(f(x))
        jf, jr = ad.jacfwd(f)(x), ad.jacrev(f)(x)
        second = ad.hessian(lambda t: anp.sum(f(t)))(x)
    for a in (value, jf, jr, second):
        assert np.all(np.isfinite(a))
    np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-300)


def test_extreme_values_are_right():
    np.testing.assert_array_equal(F.sigmoid(EXTREME), [0.0, np_sigmoid(-100.0), 0.5, 1.0, 1.0])
    np.testing.assert_allclose(F.log_sigmoid(EXTREME)[:2], [-1000.0, -100.0])
    np.testing.assert_allclose(F.log_softmax(np.array([1000.0, -1000.0])), [0.0, -2000.0])
    np.testing.assert_allclose(ad.grad(lambda x: anp.sum(F.log_sigmoid(x)))(EXTREME),
                               [1.0, 1.0, 0.5, np_sigmoid(-100.0), 0.0], atol=1e-300)
    # cross-entropy of a confidently wrong prediction: the loss is the logit gap, gradient +-1
    z = np.array([[1000.0, -1000.0]])
    assert float(F.softmax_cross_entropy(z, [1])) == pytest.approx(2000.0)
    np.testing.assert_allclose(ad.grad(lambda t: F.softmax_cross_entropy(t, [1]))(z),
                               [[1.0, -1.0]])


def test_float32_is_kept():
    x = np.array([-3.0, 0.5, 4.0], dtype=np.float32)
    for f in (F.sigmoid, F.log_softmax, F.gelu, F.relu, F.softplus):
        assert np.asarray(f(x)).dtype == np.float32
        assert np.asarray(ad.grad(lambda t: anp.sum(f(t)))(x)).dtype == np.float32


# ----------------------------------------------------------------------------- conv and pooling
def np_conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """A direct loop over output positions (the definition of cross-correlation)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * stride: i * stride + dilation * (kh - 1) + 1: dilation,
                     j * stride: j * stride + dilation * (kw - 1) + 1: dilation]
            out[:, :, i, j] = np.einsum("nckl,ockl->no", win, w)
    return out if b is None else out + b[None, :, None, None]


def np_pool(x, k, stride, padding, reduce, pad_value):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                constant_values=pad_value)
    oh = (xp.shape[2] - k) // stride + 1
    ow = (xp.shape[3] - k) // stride + 1
    out = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(xp[:, :, i * stride:i * stride + k,
                                        j * stride:j * stride + k], axis=(2, 3))
    return out


conv_cases = st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2),  # n, c, o
                       st.integers(1, 3), st.integers(1, 2), st.integers(0, 1),  # k, stride, pad
                       st.integers(1, 2))                                        # dilation


@given(case=conv_cases, seed=st.integers(0, 2 ** 16))
def test_conv2d_matches_loop_and_differentiates(case, seed):
    n, c, o, k, stride, padding, dilation = case
    assume(dilation * (k - 1) + 1 <= 4 + 2 * padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, 5, 4))
    w = rng.standard_normal((o, c, k, k))
    b = rng.standard_normal(o)
    out = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(out, np_conv2d(x, w, b, stride, padding, dilation), rtol=1e-12,
                               atol=1e-12)

    def f(x, w, b):
        return F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    ad.check_grads(summed(lambda args: f(*args)), ((x, w, b),), order=2, rtol=1e-4)
    for argnum in range(3):
        np.testing.assert_allclose(ad.jacfwd(f, argnum)(x, w, b), ad.jacrev(f, argnum)(x, w, b),
                                   rtol=1e-12, atol=1e-12)


def test_conv2d_unbatched_and_errors():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 4)), rng.standard_normal((3, 2, 3, 3))
    np.testing.assert_allclose(F.conv2d(x, w, padding=1), np_conv2d(x[None], w, padding=1)[0])
    with pytest.raises(ValueError):
        F.conv2d(x, rng.standard_normal((3, 5, 3, 3)))
    with pytest.raises(ValueError):
        F.conv2d(x, rng.standard_normal((3, 2, 6, 6)))
    with pytest.raises(ValueError):
        F.conv2d(x[0], w)


@pytest.mark.parametrize("pool, reduce, pad_value", [(F.avg_pool2d, np.mean, 0.0),
                                                     (F.max_pool2d, np.max, -np.inf)])
@given(k=st.integers(1, 3), stride=st.integers(1, 3), padding=st.integers(0, 1),
       seed=st.integers(0, 2 ** 16))
def test_pooling(pool, reduce, pad_value, k, stride, padding, seed):
    assume(2 * padding <= k)
    x = np.random.default_rng(seed).standard_normal((2, 2, 5, 6))
    out = pool(x, k, stride, padding)
    np.testing.assert_allclose(out, np_pool(x, k, stride, padding, reduce, pad_value),
                               rtol=1e-12)
    ad.check_grads(summed(lambda t: pool(t, k, stride, padding)), (x,), order=2)
    f = lambda t: pool(t, k, stride, padding)  # noqa: E731
    np.testing.assert_allclose(ad.jacfwd(f)(x), ad.jacrev(f)(x), rtol=1e-12, atol=1e-15)


def test_max_pool_routes_gradient_to_the_maximum():
    x = np.array([[[[1.0, 5.0], [3.0, 2.0]]]])
    g = ad.grad(lambda t: anp.sum(F.max_pool2d(t, 2)))(x)
    np.testing.assert_array_equal(g, [[[[0.0, 1.0], [0.0, 0.0]]]])
    # ties share the derivative evenly (documented)
    g = ad.grad(lambda t: anp.sum(F.max_pool2d(t, 2)))(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(g, np.full((1, 1, 2, 2), 0.25))


def test_seed004_conv_avgpool_mse_gradient():
    """Seed 004 section 3: 2x2 conv (no bias) on a 3x3 input, 2x2 average pool, MSE.
    Hand: dL/dw_ij = 2 (z - label) * 1/4 * sum of the input window entries it multiplies."""
    rng = np.random.default_rng(4)
    x, w, label = rng.standard_normal((1, 1, 3, 3)), rng.standard_normal((1, 1, 2, 2)), 0.3

    def loss(w):
        return F.mse(F.avg_pool2d(F.conv2d(x, w), 2), np.full((1, 1, 1, 1), label))
    z = np_conv2d(x, w).mean()
    windows = np.array([[x[0, 0, i:i + 2, j:j + 2].sum() for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(ad.grad(loss)(w)[0, 0], 2 * (z - label) * windows / 4,
                               rtol=1e-12)


def test_linear_layer():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), rng.standard_normal(2)
    np.testing.assert_allclose(F.linear(x, w, b), x @ w.T + b)
    ad.check_grads(lambda x, w, b: anp.sum(F.tanh(F.linear(x, w, b))), (x, w, b), order=2)


def test_pad2d():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(F.pad2d(x, (1, 2), -1.0),
                                  np.pad(x, ((1, 1), (2, 2)), constant_values=-1.0))
    g = ad.grad(lambda t: anp.sum(F.pad2d(t, 1) ** 2))(x)
    np.testing.assert_array_equal(g, 2 * x)


# ----------------------------------------------------------------------------- initialisers
def test_calculate_gain_table():
    # PyTorch's documented table
    assert init.calculate_gain("linear") == 1 == init.calculate_gain("sigmoid")
    assert init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError):
        init.calculate_gain("swish")
    with pytest.raises(ValueError):
        init.calculate_gain("leaky_relu", "a")


@pytest.mark.parametrize("shape, fan_in, fan_out", [
    ((64, 32), 32, 64),               # nn.Linear(32, 64).weight: (out, in)
    ((16, 3, 5, 5), 75, 400),         # nn.Conv2d(3, 16, 5).weight: in*k*k, out*k*k
    ((8, 4, 3), 12, 24),              # Conv1d
    ((2, 3, 2, 2, 2), 24, 16),        # Conv3d
])
def test_fans_follow_pytorch(shape, fan_in, fan_out):
    assert init.fans(shape) == (fan_in, fan_out)


def test_fans_need_two_dims():
    for f in (init.xavier_uniform, init.kaiming_normal):
        with pytest.raises(ValueError):
            f((5,), np.random.default_rng(0))


RNG_SEEDS = [0, 1, 2]


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("shape", [(300, 200), (64, 16, 3, 3)])
def test_initialiser_statistics(seed, shape):
    """Mean 0 (or the given mean) and the std of PyTorch's formulas, within sampling error."""
    rng = np.random.default_rng(seed)
    fan_in, fan_out = init.fans(shape)
    n = math.prod(shape)
    tol = 4 / math.sqrt(n)    # relative sampling error of a std, generously
    gain = init.calculate_gain("tanh")
    cases = {
        "uniform": (init.uniform(shape, rng, -2.0, 4.0), 1.0, 6 / math.sqrt(12)),
        "normal": (init.normal(shape, rng, 0.5, 3.0), 0.5, 3.0),
        "xavier_uniform": (init.xavier_uniform(shape, rng, gain), 0.0,
                           gain * math.sqrt(2 / (fan_in + fan_out))),
        "xavier_normal": (init.xavier_normal(shape, rng, gain), 0.0,
                          gain * math.sqrt(2 / (fan_in + fan_out))),
        "kaiming_uniform": (init.kaiming_uniform(shape, rng, nonlinearity="relu"), 0.0,
                            math.sqrt(2 / fan_in)),
        "kaiming_normal": (init.kaiming_normal(shape, rng, nonlinearity="relu"), 0.0,
                           math.sqrt(2 / fan_in)),
        "kaiming_normal_fan_out": (init.kaiming_normal(shape, rng, mode="fan_out",
                                                       nonlinearity="relu"), 0.0,
                                   math.sqrt(2 / fan_out)),
        "kaiming_uniform_leaky": (init.kaiming_uniform(shape, rng, a=0.2), 0.0,
                                  math.sqrt(2 / ((1 + 0.04) * fan_in))),
        "kaiming_default_a=sqrt5": (init.kaiming_uniform(shape, rng, a=math.sqrt(5)), 0.0,
                                    # nn.Linear's default: bound 1/sqrt(fan_in)
                                    1 / math.sqrt(3 * fan_in)),
    }
    for name, (w, mean, std) in cases.items():
        assert w.shape == shape and w.dtype == np.float64, name
        assert abs(w.mean() - mean) < 4 * std / math.sqrt(n), name
        assert w.std() == pytest.approx(std, rel=tol), name
    # the uniform ones stay inside their bound: sqrt(3) * std
    bound = math.sqrt(3) * gain * math.sqrt(2 / (fan_in + fan_out))
    assert np.abs(cases["xavier_uniform"][0]).max() <= bound
    assert np.abs(cases["xavier_uniform"][0]).max() > 0.99 * bound


def test_constant_eye_and_dtype():
    np.testing.assert_array_equal(init.constant((2, 3), val=0.25), np.full((2, 3), 0.25))
    np.testing.assert_array_equal(init.eye((3, 5)), np.eye(3, 5))
    with pytest.raises(ValueError):
        init.eye((2, 2, 2))
    w = init.xavier_normal((10, 10), np.random.default_rng(0), dtype=np.float32)
    assert w.dtype == np.float32
    with pytest.raises(TypeError):
        init.normal((2,), 0)           # a seed is not a Generator


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 4), (6, 2, 3, 3)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_is_orthogonal(shape, gain):
    q = init.orthogonal(shape, np.random.default_rng(0), gain).reshape(shape[0], -1)
    rows, cols = q.shape
    if rows <= cols:
        np.testing.assert_allclose(q @ q.T, gain ** 2 * np.eye(rows), atol=1e-12)
    else:
        np.testing.assert_allclose(q.T @ q, gain ** 2 * np.eye(cols), atol=1e-12)


def test_orthogonal_is_haar_distributed():
    # with the sign fix the diagonal of a Haar orthogonal matrix has mean ~0
    diag = np.array([np.diag(init.orthogonal((5, 5), np.random.default_rng(s)))
                     for s in range(400)])
    assert abs(diag.mean()) < 0.05


@pytest.mark.parametrize("sparsity", [0.1, 0.25, 0.5, 0.9])
def test_sparse_zero_fraction(sparsity):
    rows, cols = 40, 30
    w = init.sparse((rows, cols), np.random.default_rng(0), sparsity, std=0.02)
    zeros_per_column = (w == 0).sum(axis=0)
    np.testing.assert_array_equal(zeros_per_column, math.ceil(sparsity * rows))
    nonzero = w[w != 0]
    assert nonzero.std() == pytest.approx(0.02, rel=0.1)
    with pytest.raises(ValueError):
        init.sparse((2, 2, 2), np.random.default_rng(0), 0.5)


def test_initialisers_are_reproducible():
    a = init.kaiming_uniform((5, 5), np.random.default_rng(7))
    b = init.kaiming_uniform((5, 5), np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- optimisers
def test_sgd_plain_matches_seed004():
    """Seed 004: w1=10, b1=1, w2=20, x=1, label 500, y3 = 2 w2 (w1 x + b1), MSE, lr 0.005:
    grads (-4800, -4800, -2640); after the step (34, 25, 33.2)."""
    params = {"w1": 10.0, "b1": 1.0, "w2": 20.0}

    def loss(p):
        return F.mse(2 * p["w2"] * (p["w1"] * 1.0 + p["b1"]), 500.0)
    g = ad.grad(loss)(params)
    assert [float(g[k]) for k in ("w1", "b1", "w2")] == [-4800.0, -4800.0, -2640.0]
    opt = optim.SGD(lr=0.005)
    new, state = opt.update(g, opt.init(params), params)
    assert [float(new[k]) for k in ("w1", "b1", "w2")] == pytest.approx([34.0, 25.0, 33.2])
    assert state.step == 1
    new2 = optim.sgd_step(params, g, 0.005)
    assert [float(new2[k]) for k in ("w1", "b1", "w2")] == pytest.approx([34.0, 25.0, 33.2])


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_weight_decay_by_hand(nesterov):
    lr, mu, wd = 0.1, 0.9, 0.01
    p0 = {"a": np.array([1.0, -2.0]), "b": [np.array(3.0)]}
    g1 = {"a": np.array([0.5, 0.25]), "b": [np.array(-1.0)]}
    g2 = {"a": np.array([-0.5, 1.0]), "b": [np.array(2.0)]}
    opt = optim.SGD(lr=lr, momentum=mu, weight_decay=wd, nesterov=nesterov)
    p1, s = opt.update(g1, opt.init(p0), p0)
    p2, s = opt.update(g2, s, p1)
    for key, idx in (("a", None), ("b", 0)):
        get = (lambda t: t[key]) if idx is None else (lambda t: t[key][idx])
        # by hand, PyTorch's rule
        d1 = get(g1) + wd * get(p0)
        buf1 = d1
        step1 = d1 + mu * buf1 if nesterov else buf1
        q1 = get(p0) - lr * step1
        d2 = get(g2) + wd * q1
        buf2 = mu * buf1 + d2
        step2 = d2 + mu * buf2 if nesterov else buf2
        q2 = q1 - lr * step2
        np.testing.assert_allclose(get(p1), q1, rtol=1e-14)
        np.testing.assert_allclose(get(p2), q2, rtol=1e-14)
    assert s.step == 2


def test_sgd_dampening_and_validation():
    opt = optim.SGD(lr=1.0, momentum=0.5, dampening=0.5)
    p, s = opt.update(np.array([2.0]), opt.init(np.array([0.0])), np.array([0.0]))
    p, s = opt.update(np.array([2.0]), s, p)
    # buffers: 2, then 0.5 * 2 + 0.5 * 2 = 2; params 0 - 2 - 2
    np.testing.assert_allclose(p, [-4.0])
    with pytest.raises(ValueError):
        optim.SGD(lr=0.1, nesterov=True)
    with pytest.raises(ValueError):
        optim.SGD(lr=-1.0)
    with pytest.raises(ValueError):
        opt.update({"a": 1.0}, opt.init({"b": 1.0}), {"b": 1.0})


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_by_hand(decoupled):
    lr, b1, b2, eps, wd = 0.01, 0.8, 0.9, 1e-8, 0.1
    p = np.array([1.0, -1.0, 0.5])
    grads = [np.array([0.3, -2.0, 0.0]), np.array([-0.1, 1.0, 4.0]), np.array([1.0, 1.0, 1.0])]
    opt = optim.Adam(lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=wd, decoupled=decoupled)
    state = opt.init({"p": p})
    params = {"p": p}
    m = v = np.zeros(3)
    q = p.copy()
    for t, g in enumerate(grads, start=1):
        params, state = opt.update({"p": g}, state, params)
        if decoupled:
            q = q * (1 - lr * wd)
        else:
            g = g + wd * q
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        q = q - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        np.testing.assert_allclose(params["p"], q, rtol=1e-13)
    assert state.step == 3


def test_adam_first_step_is_lr_times_sign():
    opt = optim.Adam(lr=0.1)
    p, _ = opt.update(np.array([1e-3, -50.0]), opt.init(np.zeros(2)), np.zeros(2))
    np.testing.assert_allclose(p, [-0.1, 0.1], rtol=1e-4)


def test_optimisers_train_a_tiny_regression():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    params = {"w": np.zeros(3), "b": np.zeros(())}

    def loss(p):
        return F.mse(X @ p["w"] + p["b"], y)
    for opt, steps in ((optim.SGD(lr=0.1, momentum=0.5), 200), (optim.Adam(lr=0.05), 600)):
        p, state = params, opt.init(params)
        for _ in range(steps):
            p, state = opt.update(ad.grad(loss)(p), state, p)
        assert float(loss(p)) < 1e-6
        np.testing.assert_allclose(p["w"], [1.0, -2.0, 0.5], atol=1e-3)


def test_update_is_differentiable():
    """The update is written with ad.numpy, so it can be differentiated: the loss after one
    SGD step as a function of the step size lr has the hand derivative -g0 . g1 (g0, g1 the
    gradients before and after the step)."""
    p0 = np.array([1.0, 2.0])

    def loss(p):
        return anp.sum(anp.sin(p) ** 2)

    lr = 0.1
    g0 = ad.grad(loss)(p0)
    g1 = ad.grad(loss)(p0 - lr * g0)

    def after_step(lr):
        opt = optim.SGD(lr=1.0)
        new, _ = opt.update(lr * g0, opt.init(p0), p0)
        return loss(new)
    assert float(ad.grad(after_step)(lr)) == pytest.approx(-g0 @ g1, rel=1e-12)
    assert float(ad.jacfwd(after_step)(lr)) == pytest.approx(-g0 @ g1, rel=1e-12)


def test_gelu_in_float32_is_float32_accurate():
    """1 + erf(x / sqrt 2) cancels for x < 0: computed in float32 it was 2.5e-6 off where
    gelu is -7.5e-12 (the wrong sign); now within float32's rounding, to second order."""
    sp = pytest.importorskip("scipy.special")
    x = np.linspace(-9.0, 9.0, 181).astype(np.float32)
    x64 = x.astype(np.float64)
    cdf, pdf = 0.5 * sp.erfc(-x64 / np.sqrt(2.0)), np.exp(-0.5 * x64 ** 2) / np.sqrt(2 * np.pi)
    value = F.gelu(x)
    assert value.dtype == np.float32
    np.testing.assert_allclose(value, x64 * cdf, rtol=1e-6, atol=1e-14)
    first = np.array([ad.grad(F.gelu)(v) for v in x])
    second = np.array([ad.grad(ad.grad(F.gelu))(v) for v in x])
    assert first.dtype == second.dtype == np.float32
    np.testing.assert_allclose(first, cdf + x64 * pdf, atol=1e-7)
    np.testing.assert_allclose(second, pdf * (2.0 - x64 ** 2), atol=1e-7)


@pytest.mark.parametrize("pool", [F.avg_pool2d, F.max_pool2d])
def test_pooling_sizes_and_padding_are_checked(pool):
    x = np.ones((1, 1, 5, 5))
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair of ints"):
        pool(x, 2.5)
    with pytest.raises(ValueError, match="padding .* half the kernel"):
        pool(x, 2, padding=2)           # windows of padding alone (-inf, or zeros)
    with pytest.raises(ValueError, match="padding .* half the kernel"):
        pool(x, 2, padding=-1)
    assert pool(x, 3, 1, 1).shape == (1, 1, 5, 5)


def test_log_softmax_at_large_logits_keeps_the_differences():
    """Shifted by the maximum before the log-sum: x - (max + log sum) rounded to an ulp of
    the largest logit (1e-3 off at 1e4 in float32, 5e-9 at 1e8 in float64)."""
    for z, rtol in ((np.array([[1e4, 1e4 + 1.25, 1e4 - 2.0]], np.float32), 1e-6),
                    (np.array([[1e8, 1e8 + 0.75, 1e8 - 1.5]]), 1e-13)):
        differences = (z - z.max()).astype(np.float64)
        exact = differences - np.log(np.exp(differences).sum())
        np.testing.assert_allclose(F.log_softmax(z), exact, rtol=rtol)
        np.testing.assert_allclose(F.softmax(z), np.exp(exact), rtol=rtol * 10)
        np.testing.assert_allclose(F.softmax_cross_entropy(z, [2]), -exact[0, 2], rtol=rtol)
        assert F.log_softmax(z).dtype == z.dtype


def test_compiled_gelu_is_never_positive_below_zero():
    """1 + erf(x / sqrt 2) is clamped at 0: a compiled tape's exp rounds differently from
    NumPy's, and at the clip 1 + erf came out a hair below 0 (gelu(-10) = +1.1e-15)."""
    f = lambda z: anp.sum(F.gelu(z))                          # noqa: E731
    fast = ad.value_and_grad(f, compile=True)
    for z in (np.array([-10.0]), np.array([-39.3]), np.array([-9.29, -8.6])):
        fast(z)
        value, grad = fast(z)                                # the replay
        assert value == 0.0 and not np.any(grad)             # as the interpreted engine's
        assert ad.value_and_grad(f)(z)[0] == 0.0
    z = np.array([-9.29, -0.3, 1.5])
    fast(z)
    np.testing.assert_allclose(fast(z)[0], ad.value_and_grad(f)(z)[0], rtol=1e-13)
