# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Back-propagation by hand, and by `ad`
#
# Each seed document derives gradients by hand for a small network. Here each derivation is
# written out in plain NumPy, next to `ad.grad` on the same function, and the numbers the
# seeds print are reproduced. Then the small kit in `ad.nn` (stable losses, initialisers,
# optimisers) trains an MLP on a synthetic dataset.

# %%
import matplotlib.pyplot as plt
import numpy as np

import ad
import ad.numpy as anp
from ad.nn import functional as F
from ad.nn import init, optim

np.set_printoptions(precision=5, suppress=True)

# %% [markdown]
# ## 1. One hidden layer with L2 regularisation (seed 000, D2L §3.14)
#
# z = W₁x, h = φ(z), o = W₂h, L = ℓ(o, y), s = λ/2 (‖W₁‖² + ‖W₂‖²), J = L + s.
# The seed derives, following the graph backwards:
#
# * ∂J/∂o = ∂L/∂o  (for softmax cross-entropy: softmax(o) − e_y)
# * ∂J/∂W₂ = ∂J/∂o · hᵀ + λW₂
# * ∂J/∂h = W₂ᵀ · ∂J/∂o
# * ∂J/∂z = ∂J/∂h ⊙ φ′(z)
# * ∂J/∂W₁ = ∂J/∂z · xᵀ + λW₁

# %%
rng = np.random.default_rng(0)
d, nh, q, lam, label = 4, 5, 3, 0.1, 2
x = rng.standard_normal(d)
W1 = rng.standard_normal((nh, d))
W2 = rng.standard_normal((q, nh))


def J(W1, W2):
    h = anp.tanh(W1 @ x)
    o = W2 @ h
    return (F.softmax_cross_entropy(o, np.array(label))
            + lam / 2 * (anp.sum(W1 ** 2) + anp.sum(W2 ** 2)))


# the seed's formulas, in plain NumPy
z = W1 @ x
h = np.tanh(z)
o = W2 @ h
p = np.exp(o - o.max()) / np.exp(o - o.max()).sum()
dJ_do = p - np.eye(q)[label]
dJ_dW2 = np.outer(dJ_do, h) + lam * W2
dJ_dh = W2.T @ dJ_do
dJ_dz = dJ_dh * (1 - h ** 2)
dJ_dW1 = np.outer(dJ_dz, x) + lam * W1

value, (g1, g2) = ad.value_and_grad(J, argnums=(0, 1))(W1, W2)
print("J =", float(value))
print("dJ/dW2 by hand:\n", dJ_dW2, "\nad.grad:\n", g2)
print("max |difference|: W1", np.abs(g1 - dJ_dW1).max(), " W2", np.abs(g2 - dJ_dW2).max())

# %% [markdown]
# ## 2. Logistic regression: the sigmoid example (seed 002)
#
# The autograd tutorial's model is 1/(exp(−(wx + b)) + 1) at x = 1, w = 0, b = 0: the output
# is σ(0) = 0.5 and, by hand, ∂out/∂w = σ′(0)·x = 0.25, ∂out/∂b = σ′(0) = 0.25,
# ∂out/∂x = σ′(0)·w = 0. Then the same model as a classifier with the stable
# binary cross-entropy, whose gradient is (σ(z) − t)·x by hand.

# %%
model = lambda x, w, b: F.sigmoid(w * x + b)  # noqa: E731
out, grads = ad.value_and_grad(model, argnums=(0, 1, 2))(1.0, 0.0, 0.0)
print("out =", float(out), " d/dx, d/dw, d/db =", [float(g) for g in grads])

X = rng.standard_normal((200, 2))
t = (X @ np.array([2.0, -1.0]) + 0.5 + 0.3 * rng.standard_normal(200) > 0).astype(float)


def bce(wb):
    return F.binary_cross_entropy_with_logits(X @ wb[:2] + wb[2], t)


wb = np.zeros(3)
s = 1 / (1 + np.exp(-(X @ wb[:2] + wb[2])))
hand = np.concatenate([X.T @ (s - t), [np.sum(s - t)]]) / len(t)
print("hand gradient :", hand)
print("ad.grad       :", ad.grad(bce)(wb))
for step in range(300):
    wb = wb - 1.0 * ad.grad(bce)(wb)
accuracy = np.mean(((X @ wb[:2] + wb[2]) > 0) == (t > 0.5))
print(f"after 300 steps: loss {float(bce(wb)):.4f}, w = {wb}, accuracy {accuracy:.3f}")

# %% [markdown]
# ## 3. Three scalar parameters, an SGD step and a gradient reset (seed 004 §2)
#
# y₁ = w₁x + b₁, y₂ = w₂y₁, y₃ = 2y₂, loss = (y₃ − label)², with w₁ = 10, b₁ = 1, w₂ = 20,
# x = 1, label = 500, lr = 0.005. OneFlow prints the gradients −4800, −4800, −2640, then
# after `optimizer.step()` w₁ = 34, b₁ = 25, w₂ = 33.2, and after `zero_grad()` zeros.
#
# By hand: y₃ = 2·20·11 = 440, ∂loss/∂y₃ = 2(440 − 500) = −120, so
# ∂/∂w₂ = −120·2·y₁ = −2640, ∂/∂w₁ = −120·2·w₂·x = −4800, ∂/∂b₁ = −120·2·w₂ = −4800.

# %%
params = {"w1": 10.0, "b1": 1.0, "w2": 20.0}


def loss(p, x=1.0, label=500.0):
    y1 = p["w1"] * x + p["b1"]
    y2 = y1 * p["w2"]
    y3 = 2 * y2
    return F.mse(y3, label)


g = ad.grad(loss)(params)
print("loss =", float(loss(params)), " grads =", {k: float(v) for k, v in g.items()})
sgd = optim.SGD(lr=0.005)
params, state = sgd.update(g, sgd.init(params), params)
print("after step:", {k: round(float(v), 4) for k, v in params.items()})

# %% [markdown]
# There is no `zero_grad` to call: `ad.grad` returns a fresh gradient each time, nothing is
# accumulated on the parameters (PyTorch accumulates into `.grad`, which is why the seed
# must reset it). Two calls at the old point give −4800 both times, never −9600; at the
# new point the gradient is what the hand formulas give there.

# %%
old = {"w1": 10.0, "b1": 1.0, "w2": 20.0}
print("twice at the old point:", float(ad.grad(loss)(old)["w1"]), float(ad.grad(loss)(old)["w1"]))
y1 = 34.0 + 25.0
r = 2 * (2 * 33.2 * y1 - 500)
print("at the new point, by hand:", [r * 2 * 33.2, r * 2 * 33.2, r * 2 * y1])
print("at the new point, ad     :", [float(v) for v in ad.grad(loss)(params).values()])

# %% [markdown]
# ## 4. Convolution, average pooling and MSE (seed 004 §3)
#
# A 2×2 convolution without bias on a 3×3 input gives a 2×2 map y₁; a 2×2 average pool gives
# one number z; the loss is (z − label)². By hand (the seed's derivation for w₀, "the same
# for w₁, w₂, w₃"): ∂loss/∂wᵢⱼ = 2(z − label) · ¼ · Σ (the four input entries that wᵢⱼ
# multiplies). The seed's data were random and not printed, so we draw our own, and take
# one SGD step with the seed's lr = 0.005.

# %%
data = rng.standard_normal((1, 1, 3, 3))
label4 = rng.standard_normal((1, 1, 1, 1))
w = rng.uniform(-0.5, 0.5, (1, 1, 2, 2))


def conv_loss(w):
    return F.mse(F.avg_pool2d(F.conv2d(data, w), 2), label4)


zval = F.avg_pool2d(F.conv2d(data, w), 2)[0, 0, 0, 0]
windows = np.array([[data[0, 0, i:i + 2, j:j + 2].sum() for j in range(2)] for i in range(2)])
hand = 2 * (zval - label4[0, 0, 0, 0]) * windows / 4
print("hand:\n", hand, "\nad.grad:\n", ad.grad(conv_loss)(w)[0, 0])
w_new = w - 0.005 * ad.grad(conv_loss)(w)
print("w before:", w.ravel(), "\nw after :", w_new.ravel())
print("loss before / after:", float(conv_loss(w)), float(conv_loss(w_new)))

# %% [markdown]
# ## 5. Training a small MLP on a synthetic dataset
#
# Two interleaved spirals (400 points, 2 classes). An MLP 2 → 32 → 32 → 2 with tanh, Xavier
# uniform initialisation with the tanh gain, softmax cross-entropy, and Adam; the gradient of
# the whole batch is one `ad.value_and_grad` call over a dict of parameters.

# %%
def spirals(n, noise, rng):
    k = n // 2
    r = np.linspace(0.25, 1.0, k)
    theta = np.linspace(0, 3 * np.pi, k)
    a = np.stack([r * np.cos(theta), r * np.sin(theta)], 1)
    pts = np.concatenate([a, -a]) + noise * rng.standard_normal((2 * k, 2))
    return pts, np.repeat([0, 1], k)


Xs, ys = spirals(400, 0.03, rng)
gain = init.calculate_gain("tanh")
net = {
    "W1": init.xavier_uniform((32, 2), rng, gain), "b1": np.zeros(32),
    "W2": init.xavier_uniform((32, 32), rng, gain), "b2": np.zeros(32),
    "W3": init.xavier_uniform((2, 32), rng), "b3": np.zeros(2),
}


def logits(p, X):
    h = F.tanh(F.linear(X, p["W1"], p["b1"]))
    h = F.tanh(F.linear(h, p["W2"], p["b2"]))
    return F.linear(h, p["W3"], p["b3"])


def objective(p):
    return F.softmax_cross_entropy(logits(p, Xs), ys)


adam = optim.Adam(lr=0.02)
state = adam.init(net)
losses = []
for step in range(300):
    value, g = ad.value_and_grad(objective)(net)
    net, state = adam.update(g, state, net)
    losses.append(float(value))
accuracy = np.mean(np.argmax(logits(net, Xs), 1) == ys)
print(f"loss {losses[0]:.3f} -> {losses[-1]:.4f}; training accuracy {accuracy:.3f}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.semilogy(losses)
ax1.set_xlabel("Adam step")
ax1.set_ylabel("cross-entropy")
ax1.set_title("Loss curve")
gx, gy = np.meshgrid(np.linspace(-1.3, 1.3, 120), np.linspace(-1.3, 1.3, 120))
grid = np.stack([gx.ravel(), gy.ravel()], 1)
prob = np.asarray(F.softmax(logits(net, grid)))[:, 1].reshape(gx.shape)
ax2.contourf(gx, gy, prob, levels=20, cmap="RdBu_r", alpha=0.6)
ax2.scatter(Xs[:, 0], Xs[:, 1], c=ys, cmap="RdBu_r", s=6, edgecolors="k", linewidths=0.2)
ax2.set_title(f"Decision function (accuracy {accuracy:.1%})")
ax2.set_aspect("equal")
plt.tight_layout()
plt.show()
