"""Worked examples from the project's seed documents, written as tests of `ad`.

The seeds are Chinese blog posts in /work/shared/seeds/ (read-only):

* 000_1d00904641218b5a.txt  PyTorch notes (6): forward/back-propagation, numerical stability,
                             model parameters (Dive into Deep Learning, ch. 3.14-3.15)
* 001_61df7fc0ab5b6617.txt  The back-propagation algorithm (notes on Goodfellow et al., ch. 6.5);
                             NOTE: every formula and number of this seed was lost when it was
                             scraped (the text reads "对于 ,将公式拆分成 ,则有:"), so the numbers
                             used for it below are independent hand computations, not quotes.
* 002_6d1be444bd5cb642.txt  Forward/back-propagation tutorial: PyTorch autograd
* 003_7e8e3ad1b985e552.txt  PyTorch weight initialisation explained (vanishing/exploding, Xavier,
                             Kaiming)
* 004_d437031d19b595c6.txt  Deriving back-propagation by hand (OneFlow)

Every expected value is either quoted from the seed (the quote is in a comment) or computed
independently by hand / in plain NumPy from the seed's hand-derived formulas; no test compares
`ad` against itself. See tests/SEEDS.md for the index.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import ad
import ad.numpy as anp


def arr(v):
    """A result of `ad` as a float64 NumPy array (works for Python floats and 0-d arrays)."""
    return np.asarray(v, dtype=np.float64)


def sigmoid_np(t):
    return 1.0 / (1.0 + np.exp(-t))


# ---------------------------------------------------------------------------------------------
# Seed 000: PyTorch notes (6) - forward propagation, back-propagation, numerical stability
# ---------------------------------------------------------------------------------------------

def _phi(name):
    """The activation phi and its derivative phi' (hand-written, for the plain-NumPy formulas)."""
    if name == "tanh":
        return anp.tanh, lambda z: 1.0 - np.tanh(z) ** 2
    return (lambda z: anp.maximum(z, 0.0)), (lambda z: (z > 0).astype(np.float64))


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_s000_mlp_l2_regularised_hand_backprop(act):
    """Seed 000, sections "Forward propagation" / "Back-propagation".

    One-hidden-layer MLP without bias: z = W1 x, h = phi(z), o = W2 h, L = l(o, y),
    s = lambda/2 (||W1||_F^2 + ||W2||_F^2), J = L + s. The seed derives by hand:
        dJ/dL = 1, dJ/ds = 1, dJ/do = dL/do,
        dJ/dW2 = dJ/do h^T + lambda W2,
        dJ/dh  = W2^T dJ/do,
        dJ/dz  = dJ/dh (elementwise*) phi'(z),
        dJ/dW1 = dJ/dz x^T + lambda W1.
    We take l = softmax cross-entropy with class label y (dL/do = softmax(o) - e_y, by hand),
    implement the formulas in plain NumPy and require ad.grad to agree.
    """
    rng = np.random.default_rng(0)
    d, nh, q, lam, y = 4, 5, 3, 0.1, 2
    x = rng.standard_normal(d)
    W1 = rng.standard_normal((nh, d))
    W2 = rng.standard_normal((q, nh))
    phi, dphi = _phi(act)

    def loss_of_o(o):
        return -(o[y] - anp.log(anp.sum(anp.exp(o))))

    def J(W1, W2):
        z = W1 @ x
        h = phi(z)
        o = W2 @ h
        s = lam / 2 * (anp.sum(W1 ** 2) + anp.sum(W2 ** 2))
        return loss_of_o(o) + s

    # --- the seed's hand derivation, plain NumPy ---
    z = W1 @ x
    h = np.tanh(z) if act == "tanh" else np.maximum(z, 0.0)
    o = W2 @ h
    p = np.exp(o) / np.exp(o).sum()
    e_y = np.eye(q)[y]
    J_hand = -np.log(p[y]) + lam / 2 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    dJ_do = p - e_y                              # dJ/do = dL/do
    dJ_dW2 = np.outer(dJ_do, h) + lam * W2       # dJ/do h^T + lambda W2
    dJ_dh = W2.T @ dJ_do                         # W2^T dJ/do
    dJ_dz = dJ_dh * dphi(z)                      # dJ/dh (.) phi'(z)
    dJ_dW1 = np.outer(dJ_dz, x) + lam * W1       # dJ/dz x^T + lambda W1

    val, (g1, g2) = ad.value_and_grad(J, argnums=(0, 1))(W1, W2)
    np.testing.assert_allclose(arr(val), J_hand, rtol=1e-12)
    np.testing.assert_allclose(arr(g2), dJ_dW2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(arr(g1), dJ_dW1, rtol=1e-10, atol=1e-12)
    assert arr(g1).shape == (nh, d) and arr(g2).shape == (q, nh)

    # The intermediate gradients of the derivation, taken by ad with the intermediate as input
    # (s does not depend on o, h or z, so it drops out: dJ/ds * ds/do = 0).
    np.testing.assert_allclose(arr(ad.grad(loss_of_o)(o)), dJ_do, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(arr(ad.grad(lambda hh: loss_of_o(W2 @ hh))(h)), dJ_dh,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(arr(ad.grad(lambda zz: loss_of_o(W2 @ phi(zz)))(z)), dJ_dz,
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("w, quoted", [(0.2, 1e-21), (5.0, 9e20)])
def test_s000_vanishing_exploding_scalar_30_layers(w, quoted):
    """Seed 000, section "Vanishing and explosion" (衰减和爆炸).

    Quote: "假设输入和所有层的权重参数都是标量,如权重参数为0.2和5,多层感知机的第30层输出为输入X
    分别与 0.2^30 ≈ 1e-21(衰减)和 5^30 ≈ 9e20(爆炸)的乘积。类似地,当层数较多时,梯度的计算也
    更容易出现衰减或爆炸。"  An identity-activation chain H = X w w ... w (30 layers): the output
    and d(output)/dX are both w^30. Hand: d(output)/dw for the shared weight is 30 w^29 X.
    """
    def net(X, w):
        H = X
        for _ in range(30):
            H = H * w
        return H

    X = 1.0
    out = arr(net(X, w))
    dX, dw = ad.grad(net, argnums=(0, 1))(X, w)
    np.testing.assert_allclose(out, w ** 30, rtol=1e-12)
    np.testing.assert_allclose(out, quoted, rtol=0.1)          # "≈ 1e-21" / "≈ 9e20"
    np.testing.assert_allclose(arr(dX), w ** 30, rtol=1e-12)   # gradient vanishes / explodes too
    np.testing.assert_allclose(arr(dX), quoted, rtol=0.1)
    np.testing.assert_allclose(arr(dw), 30 * w ** 29 * X, rtol=1e-12)


def test_s000_equal_init_hidden_units_stay_equal():
    """Seed 000, section "Random initialisation of model parameters" (随机初始化模型参数).

    Quote: "假设输出层只保留一个输出单元o1 ... 如果将每个隐藏单元的参数都初始化为相等的值 ...
    在反向传播中,每个隐藏单元的参数梯度值相等。因此,这些参数在使用基于梯度的优化算法迭代后值
    依然相等。"  Hidden units with identical parameters get identical gradients, and stay identical
    after SGD steps; with random init they differ.
    """
    rng = np.random.default_rng(0)
    d, nh = 4, 5
    x = rng.standard_normal(d)
    target = 0.7

    def loss(W1, v):
        h = anp.tanh(W1 @ x)
        o1 = anp.dot(v, h)
        return (o1 - target) ** 2

    row = rng.standard_normal(d)
    W1 = np.tile(row, (nh, 1))          # every hidden unit has the same incoming weights
    v = np.full(nh, 0.3)                # ... and the same outgoing weight
    lr = 0.1
    for _ in range(3):
        g1, gv = ad.grad(loss, argnums=(0, 1))(W1, v)
        g1, gv = arr(g1), arr(gv)
        assert np.abs(g1).max() > 1e-6                      # non-trivial gradient
        np.testing.assert_allclose(g1, np.tile(g1[0], (nh, 1)), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(gv, np.full(nh, gv[0]), rtol=1e-12, atol=1e-15)
        W1, v = W1 - lr * g1, v - lr * gv
    np.testing.assert_allclose(W1, np.tile(W1[0], (nh, 1)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(v, np.full(nh, v[0]), rtol=1e-12, atol=1e-15)

    # contrast: random init breaks the symmetry
    g1, _ = ad.grad(loss, argnums=(0, 1))(rng.standard_normal((nh, d)), rng.standard_normal(nh))
    assert np.ptp(arr(g1), axis=0).max() > 1e-3


def test_s000_xavier_uniform_keeps_forward_and_backward_variance():
    """Seed 000, section "Xavier random initialisation" (Xavier随机初始化); also seed 003 "Xavier 方法".

    Quote (000): weights ~ U(-sqrt(6/(a+b)), sqrt(6/(a+b))) for a inputs and b outputs; "每层输出的
    方差不该受该层输入个数影响,且每层梯度的方差也不该受该层输出个数影响".
    Quote (003): "D(W) = (2a)^2/12 = a^2/3 ... D(W) = 2/(n_i + n_{i+1})".
    Hand: for out = X W with unit-variance X, Var(out) = a Var(W) = 2a/(a+b); the back-propagated
    gradient dX = G W^T (computed here with ad.vjp) has Var = b Var(W) = 2b/(a+b).
    With N(0,1) weights instead, Var(out) = a (grows with the fan-in).
    """
    rng = np.random.default_rng(0)
    m = 256
    for a, b in [(64, 64), (512, 512), (128, 384)]:
        c = math.sqrt(6.0 / (a + b))
        W = rng.uniform(-c, c, size=(a, b))
        np.testing.assert_allclose(W.var(), 2.0 / (a + b), rtol=0.05)   # c^2/3 = 2/(a+b)
        X = rng.standard_normal((m, a))
        G = rng.standard_normal((m, b))
        out, vjp_fn = ad.vjp(lambda X_: anp.matmul(X_, W), X)
        (dX,) = vjp_fn(G)
        np.testing.assert_allclose(arr(out), X @ W, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(arr(dX), G @ W.T, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(arr(out).var(), 2 * a / (a + b), rtol=0.15)
        np.testing.assert_allclose(arr(dX).var(), 2 * b / (a + b), rtol=0.15)
        # naive N(0,1) init: output variance ~ fan-in a
        W_naive = rng.standard_normal((a, b))
        out_naive, _ = ad.vjp(lambda X_: anp.matmul(X_, W_naive), X)
        np.testing.assert_allclose(arr(out_naive).var(), a, rtol=0.25)


# ---------------------------------------------------------------------------------------------
# Seed 001: the back-propagation algorithm (Goodfellow et al. ch. 6.5). Formulas and numbers of
# this seed were lost in scraping; expected values below are hand computations.
# ---------------------------------------------------------------------------------------------

def test_s001_chain_rule_scalar():
    """Seed 001, section "1. Chain rule" (链式法则), one-dimensional case: dz/dx = dz/dy * dy/dx.

    Hand: y = g(x) = x^2, z = f(y) = sin(y); dz/dx = cos(x^2) * 2x.
    """
    x = 0.7
    g = ad.grad(lambda t: anp.sin(t * t))(x)
    np.testing.assert_allclose(arr(g), math.cos(x * x) * 2 * x, rtol=1e-12)


def test_s001_chain_rule_vector_jacobian_transpose():
    """Seed 001, section "1. Chain rule" (链式法则), multi-dimensional case:
    grad_x z = (dy/dx)^T grad_y z, "反向传播算法由很多这样的雅可比矩阵与梯度的乘积操作组成".

    Hand: y = g(x) = tanh(M x) (R^3 -> R^2), Jacobian dy/dx = diag(1 - tanh^2(Mx)) M;
    z = sum(y^2), grad_y z = 2y.
    """
    rng = np.random.default_rng(0)
    M = rng.standard_normal((2, 3))
    x = rng.standard_normal(3)

    def g(x_):
        return anp.tanh(M @ x_)

    y = np.tanh(M @ x)
    J_hand = (1 - y ** 2)[:, None] * M
    gy = 2 * y
    np.testing.assert_allclose(arr(ad.jacfwd(g)(x)), J_hand, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(arr(ad.jacrev(g)(x)), J_hand, rtol=1e-12, atol=1e-14)
    out, vjp_fn = ad.vjp(g, x)
    np.testing.assert_allclose(arr(out), y, rtol=1e-12)
    (gx,) = vjp_fn(gy)
    np.testing.assert_allclose(arr(gx), J_hand.T @ gy, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(arr(ad.grad(lambda x_: anp.sum(g(x_) ** 2))(x)), J_hand.T @ gy,
                               rtol=1e-12, atol=1e-14)


def test_s001_tensor_chain_rule_flatten_reshape():
    """Seed 001, section "1.1 Tensor chain rule" (张量链式法则).

    Quote: "首先将张量展平为一维向量。然后计算该向量的梯度。然后将该梯度重新构造为张量。"
    (example index tuple for a 3x3 tensor). The gradient w.r.t. a 3x3 tensor equals the gradient
    w.r.t. its flattened vector, reshaped. Hand: f(X) = sum(tanh(X A)) has
    grad = (1 - tanh^2(X A)) A^T.
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 3))
    A = rng.standard_normal((3, 2))

    def f(X_):
        return anp.sum(anp.tanh(X_ @ A))

    hand = (1 - np.tanh(X @ A) ** 2) @ A.T
    g_tensor = arr(ad.grad(f)(X))
    g_flat = arr(ad.grad(lambda v: f(v.reshape(3, 3)))(X.ravel()))
    assert g_tensor.shape == (3, 3) and g_flat.shape == (9,)
    np.testing.assert_allclose(g_tensor, hand, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g_flat.reshape(3, 3), hand, rtol=1e-12, atol=1e-14)


def test_s001_repeated_subexpressions_chain():
    """Seed 001, section "1.2 Repeated subexpressions" (重复子表达式).

    The chain w -> x = f(w) -> y = f(x) -> z = f(y) (the seed's figure; formulas lost), where
    f(w) appears repeatedly in dz/dw = f'(y) f'(x) f'(w) = f'(f(f(w))) f'(f(w)) f'(w).
    Hand, with f = sin: dz/dw = cos(y) cos(x) cos(w).
    """
    w = 0.9
    x = math.sin(w)
    y = math.sin(x)
    g = ad.grad(lambda t: anp.sin(anp.sin(anp.sin(t))))(w)
    np.testing.assert_allclose(arr(g), math.cos(y) * math.cos(x) * math.cos(w), rtol=1e-12)


def test_s001_grad_table_sums_over_children():
    """Seed 001, section "2.2 Back-propagation" (反向传播): du_j/... = sum over the children u_i
    of u_j of (dz/du_i)(du_i/du_j) - a node used by several operations gets the sum of their
    contributions. Hand: u = 0.4, z = sin(u) * exp(u) + u^2 + 3u,
    dz/du = cos(u) e^u + sin(u) e^u + 2u + 3.
    """
    u = 0.4
    g = ad.grad(lambda t: anp.sin(t) * anp.exp(t) + t * t + 3 * t)(u)
    hand = math.cos(u) * math.exp(u) + math.sin(u) * math.exp(u) + 2 * u + 3
    np.testing.assert_allclose(arr(g), hand, rtol=1e-12)


def test_s001_backprop_example_q_equals_x_plus_y_times_z():
    """Seed 001, section "2.3 Back-propagation examples" (反向传播示例), item 1.

    The seed splits f into q and f = q * z ("将公式拆分成 ... 根据链式法则"); its formula and its
    green/red numbers are lost. This is the CS231n circuit f(x, y, z) = (x + y) z it is
    translated from; values x=-2, y=5, z=-4 chosen here. Hand: q = 3, f = -12,
    df/dz = q = 3, df/dq = z = -4, df/dx = df/dy = df/dq * 1 = -4.
    """
    def f(x, y, z):
        q = x + y
        return q * z

    val, (dx, dy, dz) = ad.value_and_grad(f, argnums=(0, 1, 2))(-2.0, 5.0, -4.0)
    assert arr(val) == -12.0
    assert arr(dx) == -4.0 and arr(dy) == -4.0 and arr(dz) == 3.0


def test_s001_add_unit_distributes_gradient():
    """Seed 001, section "2.3 Back-propagation examples": the add unit.

    Quote: "加法单元将回传的梯度相等的分发给它的输入。" Hand: for s = a + b with upstream
    gradient g, ds/da = ds/db = 1, so both inputs get exactly g (here g = 2.0, and a vector
    upstream gradient [2, -3, 0.5]).
    """
    out, vjp_fn = ad.vjp(lambda a, b: a + b, -12.0, 2.0)
    assert arr(out) == -10.0
    ga, gb = vjp_fn(2.0)
    assert arr(ga) == 2.0 and arr(gb) == 2.0

    a = np.array([1.0, -2.0, 3.0])
    b = np.array([0.5, 4.0, -1.0])
    g = np.array([2.0, -3.0, 0.5])
    _, vjp_fn = ad.vjp(lambda a_, b_: a_ + b_, a, b)
    ga, gb = vjp_fn(g)
    np.testing.assert_array_equal(arr(ga), g)
    np.testing.assert_array_equal(arr(gb), g)


def test_s001_multiply_unit_swaps_inputs():
    """Seed 001, section "2.3 Back-propagation examples": the multiply unit.

    Quote: "乘法单元交换了输入数据,然后乘以回传的梯度作为每个输入的梯度。" Hand: for m = a * b
    with upstream g: dm/da = g * b, dm/db = g * a. With a=3, b=-4, g=2: (-8, 6).
    """
    out, vjp_fn = ad.vjp(lambda a, b: a * b, 3.0, -4.0)
    assert arr(out) == -12.0
    ga, gb = vjp_fn(2.0)
    assert arr(ga) == -8.0 and arr(gb) == 6.0

    a = np.array([1.0, -2.0, 3.0])
    b = np.array([0.5, 4.0, -1.0])
    g = np.array([2.0, -3.0, 0.5])
    _, vjp_fn = ad.vjp(lambda a_, b_: a_ * b_, a, b)
    ga, gb = vjp_fn(g)
    np.testing.assert_array_equal(arr(ga), g * b)
    np.testing.assert_array_equal(arr(gb), g * a)


def test_s001_max_unit_routes_to_larger_input():
    """Seed 001, section "2.3 Back-propagation examples": the max unit.

    Quote: "取最大值单元将回传的梯度分发给最大的输入。" Hand: for m = max(a, b) with upstream g,
    the larger input gets g and the other gets 0. With a=2, b=-1, g=2: (2, 0). Elementwise for
    vectors (ties avoided: their convention is implementation-defined).
    """
    out, vjp_fn = ad.vjp(lambda a, b: anp.maximum(a, b), 2.0, -1.0)
    assert arr(out) == 2.0
    ga, gb = vjp_fn(2.0)
    assert arr(ga) == 2.0 and arr(gb) == 0.0

    a = np.array([1.0, -2.0, 3.0, -0.5])
    b = np.array([0.5, 4.0, -1.0, 0.25])
    g = np.array([2.0, -3.0, 0.5, 7.0])
    _, vjp_fn = ad.vjp(lambda a_, b_: anp.maximum(a_, b_), a, b)
    ga, gb = vjp_fn(g)
    np.testing.assert_array_equal(arr(ga), np.where(a > b, g, 0.0))   # [2, 0, 0.5, 0]
    np.testing.assert_array_equal(arr(gb), np.where(b > a, g, 0.0))   # [0, -3, 0, 7]


def test_s001_add_multiply_max_circuit():
    """Seed 001, section "2.3 Back-propagation examples", item 2 (the three units in one graph;
    the seed's formula is lost - CS231n's circuit f = 2 (x y + max(z, w)), values chosen here).

    Hand with x=3, y=-4, z=2, w=-1: x y = -12, max = 2, sum = -10, f = -20. Upstream of the sum
    is 2; add passes 2 to both branches; multiply gives dx = 2 y = -8, dy = 2 x = 6; max routes
    2 to z and 0 to w.
    """
    def f(x, y, z, w):
        return 2.0 * (x * y + anp.maximum(z, w))

    val, grads = ad.value_and_grad(f, argnums=(0, 1, 2, 3))(3.0, -4.0, 2.0, -1.0)
    assert arr(val) == -20.0
    assert [float(arr(g)) for g in grads] == [-8.0, 6.0, 2.0, 0.0]


def test_s001_deep_feedforward_backprop_algorithm():
    """Seed 001, section "2.4 Application to deep feedforward networks" (深度前馈神经网络应用).

    The seed's algorithm (formulas lost, text kept): forward a(k) = b(k) + W(k) h(k-1),
    h(k) = f(a(k)), J = L(y_hat, y) + lambda Omega(theta) with Omega over weights AND biases;
    backward: g <- grad_yhat J; for k = l..1: g <- g (.) f'(a(k)) ("雅可比矩阵为对角矩阵 ...
    Hadamard积"); grad_b(k) = g + lambda grad_b Omega; grad_W(k) = g h(k-1)^T + lambda grad_W Omega;
    g <- W(k)^T g. Implemented in plain NumPy with f = tanh, L = 0.5 ||y_hat - y||^2,
    Omega = 0.5 sum(||W||_F^2 + ||b||^2); ad.grad must agree.
    """
    rng = np.random.default_rng(0)
    sizes = [4, 5, 3, 2]
    lam = 0.05
    x = rng.standard_normal(sizes[0])
    y = rng.standard_normal(sizes[-1])
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)]

    def J(*p):
        h = x
        omega = 0.0
        for k in range(0, len(p), 2):
            W, b = p[k], p[k + 1]
            h = anp.tanh(b + W @ h)
            omega = omega + 0.5 * (anp.sum(W ** 2) + anp.sum(b ** 2))
        return 0.5 * anp.sum((h - y) ** 2) + lam * omega

    # --- hand back-propagation (the seed's algorithm) ---
    hs, As = [x], []
    for k in range(0, len(params), 2):
        As.append(params[k + 1] + params[k] @ hs[-1])
        hs.append(np.tanh(As[-1]))
    g = hs[-1] - y                                      # grad_yhat J
    hand = [None] * len(params)
    for layer in reversed(range(len(As))):
        W, b = params[2 * layer], params[2 * layer + 1]
        g = g * (1 - np.tanh(As[layer]) ** 2)           # g (.) f'(a(k))
        hand[2 * layer + 1] = g + lam * b               # grad_b = g + lambda grad_b Omega
        hand[2 * layer] = np.outer(g, hs[layer]) + lam * W
        g = W.T @ g
    grads = ad.grad(J, argnums=tuple(range(len(params))))(*params)
    for got, want in zip(grads, hand):
        np.testing.assert_allclose(arr(got), want, rtol=1e-10, atol=1e-12)


def test_s001_symbol_to_symbol_higher_order():
    """Seed 001, section "3.1 Symbol-to-number / symbol-to-symbol" (符号-数值 / 符号-符号方法).

    Quote: "导数只是另外一张计算图,因此可以再次运行反向传播算法对导数再进行求导,从而获取更高阶的
    导数。" Hand: f = x^3 sin(x): f' = 3x^2 sin x + x^3 cos x,
    f'' = 6x sin x + 6x^2 cos x - x^3 sin x.
    """
    x = 1.3
    f = lambda t: t ** 3 * anp.sin(t)
    d1 = 3 * x ** 2 * math.sin(x) + x ** 3 * math.cos(x)
    d2 = 6 * x * math.sin(x) + 6 * x ** 2 * math.cos(x) - x ** 3 * math.sin(x)
    np.testing.assert_allclose(arr(ad.grad(f)(x)), d1, rtol=1e-12)
    np.testing.assert_allclose(arr(ad.grad(ad.grad(f))(x)), d2, rtol=1e-12)


def test_s001_op_bprop_treats_inputs_as_distinct():
    """Seed 001, section "3.2.1 The three sub-procedures" (三个子过程), item 4.

    Quote: "如果定义了一个乘法操作,而且每条输入节点都是x ... op.bprop会认为其输入分别为y和z,然后
    求出表达式之后再代入y=x,z=x". Hand: d(y z)/dy + d(y z)/dz at y = z = x is 2x, so
    d(x*x)/dx = 2x (= 6 at x = 3), and d(x*x*x)/dx = 3x^2 (= 27).
    """
    assert arr(ad.grad(lambda x: x * x)(3.0)) == 6.0
    assert arr(ad.grad(lambda x: anp.multiply(x, x))(3.0)) == 6.0
    np.testing.assert_allclose(arr(ad.grad(lambda x: x * x * x)(3.0)), 27.0, rtol=1e-14)


def test_s001_relu_mlp_cross_entropy_weight_decay():
    """Seed 001, section "3.4 Application" (应用): single-hidden-layer ReLU network on a minibatch.

    Text kept by the seed: X is m x n (one example per row), H = max(0, X W1), U2 = H W2 are the
    unnormalised log-probabilities, J = J_MLE (cross_entropy) + lambda (sum W1^2 + sum W2^2);
    "它对于 W 的梯度贡献为 2 lambda W"; for W2 the cross-entropy branch gives H^T G (G = gradient
    w.r.t. U2); for W1: G' = G W2^T, then "根据relu操作的反向传播规则 ... 对应位置清零", and the
    contribution is X^T G'. Hand detail: with J_MLE the mean over the minibatch,
    G = (softmax(U2) - onehot(y)) / m.
    """
    rng = np.random.default_rng(0)
    m, n, nh, k, lam = 6, 4, 5, 3, 0.01
    X = rng.standard_normal((m, n))
    labels = rng.integers(0, k, size=m)
    Y = np.eye(k)[labels]
    W1 = rng.standard_normal((n, nh))
    W2 = rng.standard_normal((nh, k))

    def J(W1_, W2_):
        H = anp.maximum(X @ W1_, 0.0)
        U2 = H @ W2_
        logp = U2 - anp.log(anp.sum(anp.exp(U2), axis=1, keepdims=True))
        j_mle = -anp.sum(Y * logp) / m
        return j_mle + lam * (anp.sum(W1_ ** 2) + anp.sum(W2_ ** 2))

    U1 = X @ W1
    H = np.maximum(U1, 0.0)
    U2 = H @ W2
    P = np.exp(U2) / np.exp(U2).sum(axis=1, keepdims=True)
    G = (P - Y) / m
    dW2 = H.T @ G + 2 * lam * W2
    Gp = G @ W2.T
    Gp[U1 < 0] = 0.0
    dW1 = X.T @ Gp + 2 * lam * W1
    J_hand = -np.sum(Y * np.log(P)) / m + lam * ((W1 ** 2).sum() + (W2 ** 2).sum())

    val, (g1, g2) = ad.value_and_grad(J, argnums=(0, 1))(W1, W2)
    np.testing.assert_allclose(arr(val), J_hand, rtol=1e-12)
    np.testing.assert_allclose(arr(g1), dW1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(arr(g2), dW2, rtol=1e-10, atol=1e-12)


def test_s001_backprop_does_not_simplify_softmax_cross_entropy():
    """Seed 001, section "4. Automatic differentiation" (自动微分), item 2.

    Quote: "反向传播算法不能化简梯度计算公式,它只会通过计算图来传播梯度 ... 而反向传播算法并不知道
    可以这样简化" (the formula is lost; Goodfellow's example is q = softmax(z), J = -log q_i).
    The unsimplified graph must still give the hand-simplified result dJ/dz = q - e_i.
    """
    rng = np.random.default_rng(0)
    z = rng.standard_normal(5)
    i = 2
    q = np.exp(z) / np.exp(z).sum()

    def J(z_):
        e = anp.exp(z_)
        return -anp.log(e[i] / anp.sum(e))

    np.testing.assert_allclose(arr(J(z)), -np.log(q[i]), rtol=1e-12)
    np.testing.assert_allclose(arr(ad.grad(J)(z)), q - np.eye(5)[i], rtol=1e-10, atol=1e-12)


def test_s001_forward_and_reverse_mode_agree():
    """Seed 001, section "4. Automatic differentiation", items 4-5: back-propagation extends to
    Jacobians; forward-mode accumulation is preferred when outputs outnumber inputs; the two modes
    are like multiplying a matrix chain A B C D from the right (matrix-vector products, reverse)
    or from the left (forward).

    Hand: for the linear f(x) = A(B(C(D x))) the Jacobian is A B C D (plain NumPy product);
    jvp = (ABCD) t, vjp = (ABCD)^T u. For g(x) = sin(P x), R^2 -> R^5 (more outputs than inputs),
    the Jacobian is diag(cos(P x)) P.
    """
    rng = np.random.default_rng(0)
    A, B, C, D = (rng.standard_normal(s) for s in [(2, 3), (3, 4), (4, 5), (5, 6)])
    x = rng.standard_normal(6)
    t = rng.standard_normal(6)
    u = rng.standard_normal(2)
    f = lambda x_: A @ (B @ (C @ (D @ x_)))
    Jh = A @ B @ C @ D
    np.testing.assert_allclose(arr(ad.jacfwd(f)(x)), Jh, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(arr(ad.jacrev(f)(x)), Jh, rtol=1e-10, atol=1e-12)
    out, tangent = ad.jvp(f, (x,), (t,))
    np.testing.assert_allclose(arr(out), Jh @ x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(arr(tangent), Jh @ t, rtol=1e-10, atol=1e-12)
    _, vjp_fn = ad.vjp(f, x)
    np.testing.assert_allclose(arr(vjp_fn(u)[0]), Jh.T @ u, rtol=1e-10, atol=1e-12)

    P = rng.standard_normal((5, 2))
    x2 = rng.standard_normal(2)
    g = lambda x_: anp.sin(P @ x_)
    Jg = np.cos(P @ x2)[:, None] * P
    np.testing.assert_allclose(arr(ad.jacfwd(g)(x2)), Jg, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(arr(ad.jacrev(g)(x2)), Jg, rtol=1e-12, atol=1e-14)


def test_s001_hessian_vector_product_krylov():
    """Seed 001, section "4. Automatic differentiation", item 8 (Krylov methods).

    "需要计算海森矩阵和任意向量 v 的乘积: Hv = grad_x[(grad_x f(x))^T v]" (formula lost; this is
    the book's identity), computed by differentiating the gradient. Hand, for
    f = x0^2 x1 + exp(x1 x2) + sin(x0), with e = exp(x1 x2):
    H = [[2 x1 - sin x0, 2 x0, 0], [2 x0, x2^2 e, e (1 + x1 x2)], [0, e (1 + x1 x2), x1^2 e]].
    """
    x = np.array([0.5, -0.3, 0.8])
    v = np.array([1.0, 2.0, -1.0])

    def f(x_):
        return x_[0] ** 2 * x_[1] + anp.exp(x_[1] * x_[2]) + anp.sin(x_[0])

    x0, x1, x2 = x
    e = math.exp(x1 * x2)
    H = np.array([[2 * x1 - math.sin(x0), 2 * x0, 0.0],
                  [2 * x0, x2 ** 2 * e, e * (1 + x1 * x2)],
                  [0.0, e * (1 + x1 * x2), x1 ** 2 * e]])
    hvp_rev = ad.grad(lambda x_: anp.dot(ad.grad(f)(x_), v))(x)       # grad of (grad f)^T v
    _, hvp_fwd = ad.jvp(ad.grad(f), (x,), (v,))                        # forward-over-reverse
    np.testing.assert_allclose(arr(ad.hessian(f)(x)), H, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(arr(hvp_rev), H @ v, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(arr(hvp_fwd), H @ v, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# Seed 002: forward/back-propagation tutorial - PyTorch autograd
# ---------------------------------------------------------------------------------------------

def test_s002_mean_of_squares_gradient():
    """Seed 002, sections "3. Example: autograd in PyTorch" and "b. Gradient computation process".

    Quote: x = torch.tensor([1.0, 2.0, 3.0]); y = x * x; z = y.mean(); "输出将是:
    tensor([0.6667, 1.3333, 2.0000])"; "dz/dy = [1/3, 1/3, 1/3]", "dy/dx = [2, 4, 6]",
    "dz/dx = [2/3, 4/3, 6/3]". PyTorch accumulates into x.grad on a second backward(); the
    functional ad.grad must return the same gradient on every call.
    """
    x = np.array([1.0, 2.0, 3.0])
    f = lambda x_: anp.mean(x_ * x_)
    g = arr(ad.grad(f)(x))
    np.testing.assert_allclose(g, [0.6667, 1.3333, 2.0000], atol=5e-5)   # printed value
    np.testing.assert_allclose(g, [2 / 3, 4 / 3, 6 / 3], rtol=1e-14)      # exact value
    np.testing.assert_allclose(arr(f(x)), 14 / 3, rtol=1e-14)            # z = (1+4+9)/3
    # the two chain-rule factors quoted by the seed
    np.testing.assert_allclose(arr(ad.grad(lambda y_: anp.mean(y_))(x * x)), [1 / 3] * 3,
                               rtol=1e-14)
    np.testing.assert_allclose(arr(ad.jacfwd(lambda x_: x_ * x_)(x)), np.diag([2.0, 4.0, 6.0]),
                               rtol=1e-14)
    # no hidden accumulation between calls
    np.testing.assert_array_equal(arr(ad.grad(f)(x)), g)
    np.testing.assert_array_equal(arr(ad.grad(f)(x)), g)


def test_s002_gradient_descent_update_rule():
    """Seed 002, sections "1. Mathematics of gradient descent" (梯度下降数学原理) and
    "2. Gradient ascent" (梯度上升).

    Quote: "x <- x - 学习率 × x.grad"; too large a learning rate "导致每次迭代后离最小值点越来越
    远"; at the minimum "梯度为零 ... 参数不再更新"; gradient ascent "区别是加号".
    Hand for z = mean(x^2) (n = 3): x_new = x (1 - 2 lr / 3), z_new = z (1 - 2 lr/3)^2: lr = 0.1
    shrinks z by (1 - 0.2/3)^2; lr = 4 gives |1 - 8/3| = 5/3 > 1 so z grows by 25/9.
    """
    x = np.array([1.0, 2.0, 3.0])
    f = lambda x_: anp.mean(x_ * x_)
    z0 = 14 / 3
    for lr, factor in [(0.1, (1 - 0.2 / 3) ** 2), (4.0, 25 / 9)]:
        x_new = x - lr * arr(ad.grad(f)(x))
        np.testing.assert_allclose(x_new, x * (1 - 2 * lr / 3), rtol=1e-14)
        np.testing.assert_allclose(arr(f(x_new)), z0 * factor, rtol=1e-12)
    assert arr(f(x - 0.1 * arr(ad.grad(f)(x)))) < z0      # descent decreases z
    assert arr(f(x - 4.0 * arr(ad.grad(f)(x)))) > z0      # too large lr diverges
    assert arr(f(x + 0.1 * arr(ad.grad(f)(x)))) > z0      # ascent increases z
    np.testing.assert_array_equal(arr(ad.grad(f)(np.zeros(3))), np.zeros(3))   # minimum


def test_s002_sigmoid_logistic_x1_w0_b0():
    """Seed 002, section "3. Using autograd in a model" (在模型中使用自动微分).

    Quote: forward "return 1 / (torch.exp(-(w * x + b)) + 1)" with x = 1.0, w = 0.0, b = 0.0,
    then print(x.grad), print(w.grad), print(b.grad) (the seed prints no values). Hand:
    s = sigmoid(0) = 0.5, s' = s (1 - s) = 0.25; d/dx = w s' = 0, d/dw = x s' = 0.25,
    d/db = s' = 0.25.
    """
    def model(x, w, b):
        return 1 / (anp.exp(-(w * x + b)) + 1)

    val, (gx, gw, gb) = ad.value_and_grad(model, argnums=(0, 1, 2))(1.0, 0.0, 0.0)
    assert arr(val) == 0.5
    assert arr(gx) == 0.0 and arr(gw) == 0.25 and arr(gb) == 0.25
    # a point where all three are non-zero, against the hand formula s(1-s) * (w, x, 1)
    x, w, b = 1.5, -0.4, 0.3
    s = sigmoid_np(w * x + b)
    g = ad.grad(model, argnums=(0, 1, 2))(x, w, b)
    np.testing.assert_allclose([float(arr(t)) for t in g],
                               [s * (1 - s) * w, s * (1 - s) * x, s * (1 - s)], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Seed 003: PyTorch weight initialisation - vanishing/exploding, Xavier, Kaiming
# ---------------------------------------------------------------------------------------------

N_NEURONS, N_LAYERS, BATCH = 256, 100, 16   # quoted: layer_nums = 100, neural_nums = 256, batch_size = 16


@functools.lru_cache(maxsize=None)
def _normal_stack():
    """The seed's setup with a fixed rng: input (16, 256) ~ N(0, 1), 100 weights (256, 256) ~ N(0, 1).

    Shared (read-only) by the seed-003 stack tests; a scaled init N(0, c^2) is applied as
    (h @ W) * c, which equals h @ (c W) up to rounding.
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, N_NEURONS))
    Z = tuple(rng.standard_normal((N_NEURONS, N_NEURONS)) for _ in range(N_LAYERS))
    return x, Z


def _layer_stds(x, Ws, scale=1.0, act=None):
    h, stds = x, []
    for W in Ws:
        h = anp.matmul(h, W) * scale
        if act is not None:
            h = act(h)
        stds.append(float(np.std(arr(h))))
    return stds


def _stack_fn(Ws, scale=1.0):
    def stack(x_):
        h_ = x_
        for W in Ws:
            h_ = anp.matmul(h_, W) * scale
        return h_
    return stack


def test_s003_three_layer_grad_W2_proportional_to_H1():
    """Seed 003, section "Vanishing and exploding gradients" (梯度消失与梯度爆炸).

    H1 = X W1, H2 = H1 W2, Out = H2 W3; quote: "ΔW2 = dLoss/dout · dout/dH2 · H1", and
    "梯度消失: H1 -> 0 => ΔW2 -> 0; 梯度爆炸: H1 -> inf => ΔW2 -> inf". Hand (row-vector
    convention): dLoss/dW2 = H1^T (dLoss/dOut W3^T); for an MSE loss dLoss/dOut = 2 (Out - T) / size.
    With a loss linear in Out the gradient scales exactly like H1.
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 6))
    W1, W2, W3 = (rng.standard_normal(s) for s in [(6, 5), (5, 4), (4, 3)])
    T = rng.standard_normal((8, 3))

    def mse(W2_, X_):
        out = ((X_ @ W1) @ W2_) @ W3
        return anp.mean((out - T) ** 2)

    H1 = X @ W1
    Out = H1 @ W2 @ W3
    hand = H1.T @ ((2 * (Out - T) / Out.size) @ W3.T)
    np.testing.assert_allclose(arr(ad.grad(mse)(W2, X)), hand, rtol=1e-10, atol=1e-12)

    V = rng.standard_normal((8, 3))
    linear = lambda W2_, X_: anp.sum((((X_ @ W1) @ W2_) @ W3) * V)
    base = (X @ W1).T @ (V @ W3.T)
    for eps in (1e-8, 1.0, 1e8):
        g = arr(ad.grad(linear)(W2, eps * X))
        np.testing.assert_allclose(g, eps * base, rtol=1e-10)
    assert np.abs(arr(ad.grad(linear)(W2, 1e-8 * X))).max() < 1e-6       # H1 -> 0: ΔW2 -> 0
    assert np.abs(arr(ad.grad(linear)(W2, 1e8 * X))).max() > 1e6         # H1 large: ΔW2 large


def test_s003_linear_stack_normal_init_explodes():
    """Seed 003, section "Vanishing and exploding gradients": 100 linear layers, 256 wide,
    batch 16, weights N(0, 1), no activation.

    Quotes: "layer:0, std:15.959932327270508", "layer:1, std:256.6237487792969",
    "layer:2, std:4107.24560546875", "layer:30, std:2.0786820453988485e+37", "layer:31, std:nan",
    "output is nan in 31 layers"; "n = 256,因此每一层的标准差输出都是16倍" (std(H11) = sqrt(n)).
    The nan is float32 overflow (PyTorch default dtype). In float64 (our dtype) the 100-layer
    output stays finite (~16^100 ~ 1e120), so we test: per-layer std ~ 16^(k+1), the first layer
    whose values exceed the float32 range is 31, the same stack in float32 NumPy turns non-finite
    at layer 31, and the gradient back-propagated by ad.vjp through all 100 layers explodes too.
    """
    x, Ws = _normal_stack()
    stds = _layer_stds(x, Ws)
    for k, quoted in enumerate([15.959932327270508, 256.6237487792969, 4107.24560546875]):
        np.testing.assert_allclose(stds[k], quoted, rtol=0.1)
        np.testing.assert_allclose(stds[k], 16.0 ** (k + 1), rtol=0.1)
    np.testing.assert_allclose(stds[30], 2.0786820453988485e37, rtol=1.0)  # same order of magnitude
    ratios = np.array(stds[1:]) / np.array(stds[:-1])
    assert np.all((ratios > 13.0) & (ratios < 19.5))                       # "都是16倍"
    assert 1e110 < stds[-1] < 1e130                                        # 16^100 = 2.6e120

    f32max = float(np.finfo(np.float32).max)
    h, first_over = x, None
    for k, W in enumerate(Ws):
        h = h @ W
        if np.abs(h).max() > f32max:
            first_over = k
            break
    assert first_over == 31                                                # "output is nan in 31 layers"
    with np.errstate(all="ignore"):
        h32, first_bad = x.astype(np.float32), None
        for k, W in enumerate(Ws):
            h32 = h32 @ W.astype(np.float32)
            if not np.all(np.isfinite(h32)):
                first_bad = k
                break
    assert first_bad == 31

    out, vjp_fn = ad.vjp(_stack_fn(Ws), x)
    assert np.all(np.isfinite(arr(out)))
    np.testing.assert_allclose(np.std(arr(out)), stds[-1], rtol=1e-9)
    (gx,) = vjp_fn(np.ones((BATCH, N_NEURONS)))
    g_np = np.ones((BATCH, N_NEURONS))
    for W in reversed(Ws):
        g_np = g_np @ W.T
    np.testing.assert_allclose(arr(gx), g_np, rtol=1e-8)
    assert np.sqrt(np.mean(arr(gx) ** 2)) > 1e110                          # gradient explodes


def test_s003_linear_stack_std_sqrt_1_over_n_stays_near_1():
    """Seed 003, section "Vanishing and exploding gradients": weights N(0, 1/n) ("D(W) = 1/n ...
    std(W) = sqrt(1/n)").

    Quotes: "layer:0, std:0.9974957704544067", "layer:1, std:1.0024365186691284", ...,
    "layer:96, std:1.0817031860351562"; "每层神经元输出的方差均在 1 左右". Tolerant bounds: every
    layer's std in [0.4, 2.5] (with N(0,1) it is 16^(k+1); with N(0, 1/(4n)) it would be 2^-(k+1)),
    layer 0 within 5% of 1. The ad.vjp gradient through the 100 layers stays O(1) as well.
    """
    x, Ws = _normal_stack()
    c = np.sqrt(1 / N_NEURONS)
    stds = _layer_stds(x, Ws, scale=c)
    np.testing.assert_allclose(stds[0], 0.9974957704544067, rtol=0.05)
    assert min(stds) > 0.4 and max(stds) < 2.5

    out, vjp_fn = ad.vjp(_stack_fn(Ws, scale=c), x)
    np.testing.assert_allclose(np.std(arr(out)), stds[-1], rtol=1e-9)
    (gx,) = vjp_fn(np.ones((BATCH, N_NEURONS)))
    rms = np.sqrt(np.mean(arr(gx) ** 2))
    assert 0.1 < rms < 10.0


def test_s003_tanh_with_sqrt_1_over_n_vanishes():
    """Seed 003, section "Vanishing and exploding gradients" (last paragraph).

    Quote: "如果在forward()中添加非线性变换例如tanh,每一层的输出方差会越来越小,会导致梯度消失。"
    With std(W) = sqrt(1/n) and tanh: the std shrinks with depth (no numbers quoted; bounds from
    the qualitative claim: layer 99 below a quarter of layer 0 and below 0.2).
    """
    x, Ws = _normal_stack()
    stds = _layer_stds(x, Ws, scale=np.sqrt(1 / N_NEURONS), act=anp.tanh)
    assert stds[99] < stds[49] < stds[9] < stds[0]
    assert stds[99] < 0.25 * stds[0] and stds[99] < 0.2


def test_s003_xavier_uniform_tanh_gain_std_about_0_64():
    """Seed 003, section "Xavier method" (Xavier 方法).

    Quotes: "a = np.sqrt(6 / (self.neural_num + self.neural_num))", "a *= tanh_gain",
    "tanh_gain in PyTorch: 1.6666666666666667", uniform_(-a, a), tanh after every layer;
    "layer:0, std:0.7571136355400085", "layer:1, std:0.6924336552619934", ...,
    "layer:99, std:0.6442216038703918", "每层输出的方差都维持在 0.6 左右".
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, N_NEURONS))
    a = np.sqrt(6 / (N_NEURONS + N_NEURONS)) * (5.0 / 3.0)
    Ws = [rng.uniform(-a, a, size=(N_NEURONS, N_NEURONS)) for _ in range(N_LAYERS)]
    stds = _layer_stds(x, Ws, act=anp.tanh)
    np.testing.assert_allclose(stds[0], 0.7571136355400085, rtol=0.05)
    np.testing.assert_allclose(stds[1], 0.6924336552619934, rtol=0.05)
    np.testing.assert_allclose(stds[99], 0.6442216038703918, rtol=0.08)
    assert all(0.58 < s < 0.72 for s in stds[5:])


def test_s003_calculate_gain_tanh_estimate():
    """Seed 003, section "nn.init.calculate_gain()".

    Quote: x = torch.randn(10000); out = torch.tanh(x); gain = x.std() / out.std() ->
    "gain:1.5982500314712524"; "tanh_gain in PyTorch: 1.6666666666666667" (= 5/3);
    "标准差会变小 1.6 倍左右". 10000 N(0,1) samples: the ratio is a robust statistic.
    """
    x = np.random.default_rng(0).standard_normal(10000)
    gain = np.std(x) / np.std(arr(anp.tanh(x)))
    np.testing.assert_allclose(gain, 1.5982500314712524, rtol=0.02)
    assert gain < 5.0 / 3.0


@pytest.mark.parametrize("slope", [0.0, 0.2])
def test_s003_kaiming_init_relu(slope):
    """Seed 003, section "Kaiming method" (Kaiming 方法).

    Quotes: "针对 ReLU,方差应该满足: D(W) = 2/n_i"; for leaky variants
    "std(W) = sqrt(2/((1+a^2) n_i))"; "nn.init.normal_(m.weight.data, std=np.sqrt(2 / self.neural_num))".
    No numbers are quoted. Hand: with std sqrt(1/n) a (leaky) ReLU multiplies the variance by
    (1 + a^2)/2 per layer, so after 100 layers the std is ~ ((1+a^2)/2)^50 < 1e-13; Kaiming keeps
    it O(1) (tolerant bounds [0.05, 20] - depth-100 ReLU stacks fluctuate by a factor of a few).
    """
    x, Z = _normal_stack()
    act = lambda h: anp.maximum(h, slope * h)
    kaiming = _layer_stds(x, Z, scale=np.sqrt(2 / ((1 + slope ** 2) * N_NEURONS)), act=act)
    plain = _layer_stds(x, Z, scale=np.sqrt(1 / N_NEURONS), act=act)
    assert all(0.05 < s < 20.0 for s in kaiming)
    assert plain[-1] < 1e-12
    np.testing.assert_allclose(np.log(plain[-1]), 50 * np.log((1 + slope ** 2) / 2), atol=3.0)


# ---------------------------------------------------------------------------------------------
# Seed 004: deriving back-propagation by hand (OneFlow)
# ---------------------------------------------------------------------------------------------

def test_s004_multivariate_chain_rule_two_paths():
    """Seed 004, section "1 Chain rule", case 2 "multivariate" (多元方程).

    Quote: "因为s的微小变化会通过g(s)和h(s)两条路径来影响z的结果" so
    dz/ds = dz/dx dx/ds + dz/dy dy/ds (formula image lost). Hand with x = g(s) = sin s,
    y = h(s) = exp s, z = k(x, y) = x y^2: dz/ds = y^2 cos s + 2 x y e^s.
    """
    s = 0.6
    x, y = math.sin(s), math.exp(s)
    g = ad.grad(lambda t: anp.sin(t) * anp.exp(t) ** 2)(s)
    np.testing.assert_allclose(arr(g), y ** 2 * math.cos(s) + 2 * x * y * math.exp(s), rtol=1e-12)


def test_s004_single_weight_net_grads_sgd_step_and_zero_grad():
    """Seed 004, section "2 Simple case with only one weight" (只有一个weight的简单情况).

    Quotes: w1 = 10.0, b1 = 1.0, w2 = 20.0, data = 1.0, label = 500.0; y1 = w1 * x + b1,
    y2 = y1 * w2, y3 = 2 * y2, loss = MSELoss(y3, label); SGD lr = 0.005.
    "w1.grad = tensor(-4800.)", "b1.grad = tensor(-4800.)", "w2.grad = tensor(-2640.)";
    after step(): "w1 = tensor(34.)", "b1 = tensor(25.)", "w2 = tensor(33.2000)";
    after zero_grad(): grads "tensor(0.)".
    Hand: y1 = 11, y3 = 440, loss = (440 - 500)^2 = 3600.
    zero_grad semantics: ad is functional, so a second grad call returns the same gradient
    (PyTorch without zero_grad would accumulate to -9600). Hand, at the updated point
    (34, 25, 33.2): y1 = 59, y3 = 3917.6, dL/dy3 = 6835.2, dL/dw2 = 2 * 6835.2 * 59 = 806553.6,
    dL/dw1 = dL/db1 = 2 * 6835.2 * 33.2 = 453857.28.
    """
    x, label, lr = 1.0, 500.0, 0.005

    def loss(w1, b1, w2):
        y1 = w1 * x + b1
        y2 = y1 * w2
        y3 = 2 * y2
        return (y3 - label) ** 2

    params = (10.0, 1.0, 20.0)
    val, grads = ad.value_and_grad(loss, argnums=(0, 1, 2))(*params)
    grads = [float(arr(g)) for g in grads]
    np.testing.assert_allclose(arr(val), 3600.0, rtol=1e-14)
    np.testing.assert_allclose(grads, [-4800.0, -4800.0, -2640.0], rtol=1e-12)

    new = [p - lr * g for p, g in zip(params, grads)]
    np.testing.assert_allclose(new, [34.0, 25.0, 33.2], rtol=1e-12)

    # "zero_grad": a fresh call is not accumulated onto the previous one
    again = [float(arr(g)) for g in ad.grad(loss, argnums=(0, 1, 2))(*params)]
    np.testing.assert_allclose(again, [-4800.0, -4800.0, -2640.0], rtol=1e-12)
    assert again == grads

    after = [float(arr(g)) for g in ad.grad(loss, argnums=(0, 1, 2))(*new)]
    np.testing.assert_allclose(after, [453857.28, 453857.28, 806553.6], rtol=1e-9)


def test_s004_conv2x2_avgpool_mse_hand_gradient():
    """Seed 004, section "3 Conv as an example with several weights" (以conv为例的含有多个weights的
    情况).

    Quotes: Conv2d(in_channels=1, out_channels=1, kernel_size=(2,2), bias=False) on a 1x1x3x3
    input, AvgPool2d(kernel_size=(2,2)), MSELoss, SGD lr = 0.005; the input and label are random
    ("里面的input、param、label的值都是随机的"), so the printed weights cannot be reproduced.
    Hand (cross-correlation, as Conv2d computes): y[i,j] = sum_kl w[k,l] x[i+k, j+l] (2x2),
    z = mean(y), loss = (z - label)^2, so dloss/dw[k,l] = 2 (z - label) * 1/4 * S[k,l] with
    S[k,l] = sum of the 2x2 window of x at offset (k, l); dz/dy[i,j] = 1/4.
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 3))
    label = float(rng.standard_normal())
    w = rng.standard_normal((2, 2))

    def loss(w_):
        y = (w_[0, 0] * x[0:2, 0:2] + w_[0, 1] * x[0:2, 1:3]
             + w_[1, 0] * x[1:3, 0:2] + w_[1, 1] * x[1:3, 1:3])
        return (anp.mean(y) - label) ** 2

    # hand, with explicit loops
    y = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            for k in range(2):
                for l in range(2):
                    y[i, j] += w[k, l] * x[i + k, j + l]
    z = y.mean()
    S = np.array([[x[k:k + 2, l:l + 2].sum() for l in range(2)] for k in range(2)])
    hand = 2 * (z - label) * 0.25 * S

    val, g = ad.value_and_grad(loss)(w)
    np.testing.assert_allclose(arr(val), (z - label) ** 2, rtol=1e-12)
    np.testing.assert_allclose(arr(g), hand, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(arr(ad.grad(lambda y_: anp.mean(y_))(y)), np.full((2, 2), 0.25),
                               rtol=1e-14)
    w_new = w - 0.005 * arr(g)                        # optimizer.step() with lr = 0.005
    assert arr(loss(w_new)) < arr(val)
