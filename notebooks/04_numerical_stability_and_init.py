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
# # 04 · Numerical stability and initialisation
#
# Seed 003 ("PyTorch weight initialisation explained") builds a 100-layer, 256-wide stack of
# bias-free linear layers, feeds it a batch of 16 standard-normal inputs and prints the
# standard deviation of each layer's output. Seed 000 (D2L) explains why: with n inputs per
# unit, Var(out) = n · Var(W) · Var(in), so N(0, 1) weights multiply the std by √256 = 16
# per layer. This notebook replays those experiments with `ad.nn.init`, then uses `ad` to
# measure what happens to the *gradients* of each layer.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

import ad
import ad.numpy as anp
from ad.nn import functional as F
from ad.nn import init

LAYERS, WIDTH, BATCH = 100, 256, 16
np.set_printoptions(precision=4)


def stds_per_layer(weights, x, activation=None, stop_at_nan=True):
    """The std of each layer's output (seed 003's forward with its print and nan check)."""
    out = []
    for W in weights:
        x = F.linear(x, W)
        if activation is not None:
            x = activation(x)
        s = float(np.std(x, dtype=np.float64))  # float32 data, float64 sums (as PyTorch)
        out.append(s)
        if stop_at_nan and math.isnan(s):
            break
    return np.array(out)


# %% [markdown]
# ## 1. N(0, 1) weights: the output std grows 16× per layer
#
# Seed 003 prints (PyTorch, float32) `layer:0, std:15.96`, `layer:1, std:256.6`,
# `layer:2, std:4107.2`, …, `layer:30, std:2.08e+37`, `layer:31, std:nan`, "output is nan in
# 31 layers". In float32 the largest number is 3.4·10³⁸ ≈ 16^32, so layer 31 (the 32nd) is
# where values overflow to inf and the std becomes nan. In float64 (the default here) the
# same stack stays finite for all 100 layers: 16^100 ≈ 10^120 < 1.8·10^308.

# %%
rng = np.random.default_rng(1)
x0 = rng.standard_normal((BATCH, WIDTH))
normal_weights = [init.normal((WIDTH, WIDTH), rng) for _ in range(LAYERS)]

std64 = stds_per_layer(normal_weights, x0)
with np.errstate(over="ignore", invalid="ignore"):
    std32 = stds_per_layer([W.astype(np.float32) for W in normal_weights],
                           x0.astype(np.float32))
for i in (0, 1, 2, 29, 30, 31):
    f32 = f"{std32[i]:.4g}" if i < len(std32) else "-"
    print(f"layer {i:2d}: float64 std {std64[i]:.4g}   float32 std {f32}")
first_nan = int(np.argmax(np.isnan(std32)))
print(f"float32: output is nan in {first_nan} layers;  float64 at layer 99: {std64[-1]:.3g}")
ratios = std64[1:] / std64[:-1]
print(f"growth per layer: mean {ratios.mean():.2f} (√256 = 16), range "
      f"[{ratios.min():.2f}, {ratios.max():.2f}]")

# %% [markdown]
# ## 2. std √(1/n): the output std stays near 1
#
# To keep Var(out) = Var(in) the seed takes Var(W) = 1/n, i.e.
# `nn.init.normal_(w, std=np.sqrt(1/n))`, and prints 0.9975, 1.0024, 1.0027 … 1.0817:
# "每层神经元输出的方差均在 1 左右". With tanh added, the same init makes the std shrink
# layer by layer (the seed's motivation for Xavier).

# %%
rng = np.random.default_rng(2)
scaled = [init.normal((WIDTH, WIDTH), rng, std=math.sqrt(1 / WIDTH)) for _ in range(LAYERS)]
std_scaled = stds_per_layer(scaled, x0)
std_scaled_tanh = stds_per_layer(scaled, x0, F.tanh)
print("linear, std sqrt(1/n): layers 0-2", std_scaled[:3], " last 3", std_scaled[-3:])
print("tanh,   std sqrt(1/n): layers 0-2", std_scaled_tanh[:3], " last 3", std_scaled_tanh[-3:])

# %% [markdown]
# ## 3. tanh with Xavier uniform and the tanh gain
#
# Xavier: U(−a, a) with a = gain·√(6 / (fan_in + fan_out)), gain = `calculate_gain('tanh')`
# = 5/3. The seed prints 0.7571, 0.6924, 0.6678 … 0.6426, 0.6407, 0.6442: "每层输出的方差都
# 维持在 0.6 左右".

# %%
tanh_gain = init.calculate_gain("tanh")
rng = np.random.default_rng(3)
xavier = [init.xavier_uniform((WIDTH, WIDTH), rng, gain=tanh_gain) for _ in range(LAYERS)]
std_xavier_tanh = stds_per_layer(xavier, x0, F.tanh)
print("tanh, Xavier uniform x 5/3: layers 0-2", std_xavier_tanh[:3],
      " last 3", std_xavier_tanh[-3:])
print(f"mean std over layers 50-99: {std_xavier_tanh[50:].mean():.4f}")

# %% [markdown]
# ## 4. ReLU with Kaiming
#
# For ReLU, half of the variance is cut off, so Kaiming (He) takes Var(W) = 2/n
# (`kaiming_normal`, gain √2): the std stays constant. With the √(1/n) init it halves the
# variance at every layer: std × (1/√2)^100 ≈ 10⁻¹⁵.

# %%
rng = np.random.default_rng(4)
kaiming = [init.kaiming_normal((WIDTH, WIDTH), rng, nonlinearity="relu") for _ in range(LAYERS)]
std_kaiming_relu = stds_per_layer(kaiming, x0, F.relu)
std_scaled_relu = stds_per_layer(scaled, x0, F.relu)
print("relu, Kaiming normal : layers 0-2", std_kaiming_relu[:3], " last", std_kaiming_relu[-1])
print("relu, std sqrt(1/n)  : layers 0-2", std_scaled_relu[:3], " last", std_scaled_relu[-1])

# %%
layers = np.arange(LAYERS)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
ax1.semilogy(layers, std64, label="N(0,1), float64")
ax1.semilogy(np.arange(len(std32)), std32, "k--", label=f"N(0,1), float32 (nan at layer {first_nan})")
ax1.semilogy(layers, std_scaled, label="std √(1/n)")
ax1.axhline(float(np.finfo(np.float32).max), color="gray", lw=0.8, ls=":")
ax1.text(45, float(np.finfo(np.float32).max) * 1e4, "float32 max ≈ 3.4e38", color="gray")
ax1.set_title("Linear stack: std grows 16× per layer with N(0,1)")
ax1.legend(fontsize=8, loc="center right")
for label, curve in [("linear, std √(1/n)", std_scaled), ("tanh, std √(1/n)", std_scaled_tanh),
                     ("tanh, Xavier uniform × 5/3", std_xavier_tanh),
                     ("ReLU, Kaiming normal", std_kaiming_relu),
                     ("ReLU, std √(1/n)", std_scaled_relu)]:
    ax2.semilogy(layers, curve, label=label)
ax2.set_title("With activations")
ax2.legend(fontsize=8)
for a in (ax1, ax2):
    a.set_xlabel("layer")
    a.set_ylabel("std of the layer's output")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Gradient norms per layer, computed with `ad`
#
# Seed 003 §"梯度消失与爆炸": ∂loss/∂W₂ is proportional to the layer's input H₁, so a
# shrinking (growing) forward signal means vanishing (exploding) weight gradients, and the
# backward signal is multiplied by Wᵀ (and φ′) at each layer. One reverse-mode call gives
# both: the gradient with respect to all 100 weight matrices, and, through zero "probes"
# added to each layer's output, the gradient with respect to each layer's activations. The
# loss is a fixed random projection of the output, mean(out ⊙ R), so the top adjoint has
# the same size in every experiment.

# %%
R = np.random.default_rng(5).standard_normal((BATCH, WIDTH))


def loss(weights, probes, activation):
    x = x0
    for W, p in zip(weights, probes):
        x = F.linear(x, W)
        if activation is not None:
            x = activation(x)
        x = x + p
    return anp.mean(x * R)


experiments = {
    "linear, N(0,1)": (normal_weights, None),
    "linear, std √(1/n)": (scaled, None),
    "tanh, std √(1/n)": (scaled, F.tanh),
    "tanh, Xavier × 5/3": (xavier, F.tanh),
    "ReLU, Kaiming": (kaiming, F.relu),
    "ReLU, std √(1/n)": (scaled, F.relu),
}
zeros = [np.zeros((BATCH, WIDTH)) for _ in range(LAYERS)]
weight_norms, activation_norms = {}, {}
for name, (weights, act) in experiments.items():
    gW, gP = ad.grad(loss, argnums=(0, 1))(weights, zeros, act)
    weight_norms[name] = np.array([np.linalg.norm(g) for g in gW])
    activation_norms[name] = np.array([np.linalg.norm(g) for g in gP])
    w, h = weight_norms[name], activation_norms[name]
    print(f"{name:20s} |dL/dW_l| at l = 0, 50, 99: {w[0]:9.3g} {w[50]:9.3g} {w[99]:9.3g}   "
          f"|dL/dh_l|: {h[0]:9.3g} {h[50]:9.3g} {h[99]:9.3g}")

# %% [markdown]
# A check of one of these gradients against finite differences (order 1, one layer's
# weights, the tanh/Xavier stack) — `ad.check_grads` compares forward mode with central
# differences and reverse mode with forward mode:

# %%
ad.check_grads(lambda W: loss(xavier[:97] + [W] + xavier[98:], zeros, F.tanh), (xavier[97],),
               order=1)
print("check_grads passed")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
for name in list(experiments)[1:]:   # N(0,1) (~1e118) would flatten the others: see above
    ax1.semilogy(layers, weight_norms[name], label=name)
    ax2.semilogy(layers, activation_norms[name], label=name)
ax1.set_title("‖∂loss/∂W_l‖ (reverse mode; N(0,1) omitted)")
ax2.set_title("‖∂loss/∂h_l‖: the backward signal at each layer")
for a in (ax1, ax2):
    a.set_xlabel("layer l")
ax1.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Reading the plots (the numbers above):
#
# * **N(0, 1), linear**: the backward signal grows 16× per layer going *down* the stack (the
#   mirror image of the forward std): ‖∂L/∂h₀‖ ≈ 16^99 · ‖∂L/∂h₉₉‖. Every weight gradient
#   is ≈ 10^118 — the product of the forward growth below the layer and the backward growth
#   above it — finite only because we run in float64. Exploding gradients.
# * **√(1/n), ReLU**: both signals halve in variance per layer, every weight gradient is
#   ≈ 10⁻¹⁶. Vanishing gradients. **Kaiming** fixes it: all norms stay within a factor ~2.
# * **√(1/n), tanh**: the forward std shrinks, but only slowly (tanh is linear near 0, so the
#   decay is polynomial, not exponential: 0.06 after 100 layers); the backward signal also
#   shrinks slowly (×0.15 from the top to the bottom).
# * **Xavier × 5/3, tanh**: the forward std holds at ≈ 0.65 as the seed says, but the
#   backward signal *grows* by ≈ 10 % per layer: |dL/dh₀| / |dL/dh₉₉| ≈ 10⁴. The gain 5/3
#   is more than tanh needs at a std of 0.65: the pre-activations have std ≈ 5/3 · 0.65, the
#   average of tanh′² there is ≈ 0.44, and (5/3)² · 0.44 ≈ 1.21 = 1.10², so the backward
#   signal gains ≈ 10 % per layer (1.10^100 ≈ 10⁴). The sweep below shows the trade-off.
#
# ## 6. The gain of tanh: measured vs `calculate_gain('tanh')`
#
# Seed 003 measures how much tanh shrinks a standard normal signal: x = N(0,1) (10000
# samples), gain = std(x) / std(tanh x) = 1.598 (PyTorch's printout), against
# `calculate_gain('tanh')` = 5/3 ≈ 1.667.

# %%
rng = np.random.default_rng(6)
xs = rng.standard_normal(10000)
measured = np.std(xs) / np.std(np.asarray(F.tanh(xs)))
print(f"measured gain of tanh on N(0,1): {measured:.5f}   calculate_gain('tanh') = "
      f"{init.calculate_gain('tanh'):.5f}")
big = rng.standard_normal(2_000_000)
print(f"with 2,000,000 samples: {np.std(big) / np.std(np.tanh(big)):.5f}")
print(f"same for ReLU (second moment): {np.sqrt(np.mean(big ** 2) / np.mean(np.maximum(big, 0) ** 2)):.5f}"
      f"   calculate_gain('relu') = {init.calculate_gain('relu'):.5f}")

# %% [markdown]
# The measured ratio (≈ 1.59) is a one-layer statistic on unit-variance input; 5/3 is
# PyTorch's chosen constant. Which gain keeps a deep tanh stack level? Sweep the gain of
# Xavier uniform and read the std after 100 layers and the ratio of the backward signal at
# the bottom and at the top, ‖∂L/∂h₀‖ / ‖∂L/∂h₉₉‖ (from `ad.grad` through the probes):

# %%
gains = np.array([0.8, 1.0, 1.2, 1.4, 5 / 3, 2.0, 2.5])
final_std, grad_ratio = [], []
for g in gains:
    rng = np.random.default_rng(7)
    Ws = [init.xavier_uniform((WIDTH, WIDTH), rng, gain=g) for _ in range(LAYERS)]
    final_std.append(stds_per_layer(Ws, x0, F.tanh)[-1])
    gP = ad.grad(loss, argnums=1)(Ws, zeros, F.tanh)
    grad_ratio.append(np.linalg.norm(gP[0]) / np.linalg.norm(gP[-1]))
for g, s, r in zip(gains, final_std, grad_ratio):
    print(f"gain {g:5.3f}: std after 100 layers {s:.4f}   |dL/dh_0| / |dL/dh_99| {r:.3g}")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(gains, final_std, "o-", label="std after 100 layers")
ax.semilogy(gains, grad_ratio, "s-", label="‖∂L/∂h₀‖ / ‖∂L/∂h₉₉‖")
ax.axvline(5 / 3, color="gray", ls=":")
ax.text(5 / 3 + 0.03, 1e-2, "5/3", color="gray")
ax.axvline(measured, color="gray", ls="--", lw=0.8)
ax.set_xlabel("Xavier gain (tanh stack)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Below gain 1 both signals die out exponentially (tanh is ~linear near 0, so the stack is a
# product of contractions). At gain 1 both decay only polynomially (forward std 0.06, the
# backward signal ×0.13 over 100 layers). Above 1 the forward std settles at a fixed point (≈ 0.65 for
# 5/3, the seed's "0.6 左右") and the backward signal grows exponentially with depth, faster
# for larger gains. For a 100-layer bias-free tanh stack there is no gain that keeps both
# level; 5/3 buys a healthy forward signal at the price of a ×10⁴ gradient ratio.
