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
# # 01 · Forward and reverse mode
#
# The chain rule two ways. Forward mode pushes a *tangent* (a direction in input space)
# from the inputs to the outputs alongside the values: dual numbers. Reverse mode records
# the program on a *tape* (a Wengert list), then pulls an *adjoint* (a direction in output
# space) back from the outputs to the inputs. Both compute exact derivatives; they differ
# in what one pass gives: a Jacobian-vector product (one column of J) for forward mode,
# a vector-Jacobian product (one row) for reverse mode.
#
# The examples are the worked examples of the project's seed documents (Chinese blog posts on
# back-propagation): seed 001 (notes on Goodfellow et al. ch. 6.5), seed 002 (the PyTorch
# autograd tutorial) and seed 004 (deriving back-propagation by hand).

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np

import ad
import ad.numpy as anp

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. The chain rule
#
# Seed 001 §1: for y = g(x) and z = f(y), dz/dx = dz/dy · dy/dx. With g(x) = x² and
# f(y) = sin y, dz/dx = cos(x²) · 2x.

# %%
x = 0.7
by_hand = math.cos(x * x) * 2 * x
print("by hand :", by_hand)
print("ad.grad :", float(ad.grad(lambda t: anp.sin(t * t))(x)))

# %% [markdown]
# ## 2. Dual numbers by hand
#
# A dual number a + b·ε with ε² = 0 carries a value a and a derivative b. Arithmetic on
# duals *is* the chain rule: (a + bε)(c + dε) = ac + (ad + bc)ε, and
# sin(a + bε) = sin a + (cos a)·b ε. Ten lines are enough for the product and the sine:

# %%
class HandDual:
    def __init__(self, value, tangent=0.0):
        self.value, self.tangent = value, tangent

    def __mul__(self, other):
        other = other if isinstance(other, HandDual) else HandDual(other)
        return HandDual(self.value * other.value,
                        self.tangent * other.value + self.value * other.tangent)
    __rmul__ = __mul__

    def __add__(self, other):
        other = other if isinstance(other, HandDual) else HandDual(other)
        return HandDual(self.value + other.value, self.tangent + other.tangent)
    __radd__ = __add__


def hand_sin(d):
    return HandDual(math.sin(d.value), math.cos(d.value) * d.tangent)


z = hand_sin(HandDual(x, 1.0) * HandDual(x, 1.0))   # seed x with tangent 1
print("hand-made dual:", z.value, z.tangent)

# %% [markdown]
# `ad.Dual` is the same idea for arrays and every operation of the catalogue; `ad.numpy`
# functions accept it directly.

# %%
d = ad.Dual(x, 1.0)
out = anp.sin(d * d)
print("ad.Dual       :", float(out.primal), float(out.tangent))

# %% [markdown]
# ## 3. The tape: a Wengert list, forward values and adjoints
#
# Reverse mode runs the function once and records each primitive operation. Seed 001 §2.3
# shows the three "gates" of a circuit: the **add** unit hands the upstream gradient to both
# inputs unchanged, the **multiply** unit swaps its inputs (d(ab)/da = b), the **max** unit
# routes the gradient to the larger input. Its formula was lost in scraping; this is the
# circuit it is translated from (CS231n), f = 2(xy + max(z, w)) at x=3, y=−4, z=2, w=−1.
# `ad.trace` records the program; `backward()` keeps every adjoint.

# %%
def circuit(x, y, z, w):
    return 2.0 * (x * y + anp.maximum(z, w))


graph = ad.trace(circuit, 3.0, -4.0, 2.0, -1.0).backward()
print(graph.wengert())
print()
for node in graph.nodes:
    print(f"v{node.id}: value {float(graph.values[node.id]):7.2f}   "
          f"adjoint df/dv{node.id} = {float(graph.adjoints[node.id]):6.2f}")

# %% [markdown]
# The same graph as a picture: forward values (blue) flow along the edges, adjoints (red)
# flow back. Reading the adjoints: the add unit v6 passes 2 to both v4 and v5; the multiply
# unit v4 = x·y sends 2·y = −8 to x and 2·x = 6 to y; the max unit v5 sends all of its 2 to
# z (the larger input) and 0 to w.

# %%
def draw(graph, names, ax):
    """A layered drawing of a traced graph: depth = longest path from an input."""
    depth = {}
    for node in graph.nodes:
        parents = [p for p in node.parents if p is not None]
        depth[node.id] = 1 + max((depth[p] for p in parents), default=-1)
    columns = {}
    for node in graph.nodes:
        columns.setdefault(depth[node.id], []).append(node.id)
    pos = {}
    for level, ids in columns.items():
        for k, i in enumerate(ids):
            pos[i] = (level * 2.2, -(k - (len(ids) - 1) / 2) * 1.5)
    for parent, child, _ in graph.edges:
        (x0, y0), (x1, y1) = pos[parent], pos[child]
        ax.annotate("", xy=(x1 - 0.55, y1), xytext=(x0 + 0.55, y0),
                    arrowprops=dict(arrowstyle="->", color="#1f5fbf", lw=1.2))
    for node in graph.nodes:
        px, py = pos[node.id]
        label = names.get(node.id, f"v{node.id} = {node.name}")
        ax.text(px, py + 0.35, label, ha="center", va="center", fontsize=9, weight="bold",
                bbox=dict(boxstyle="round" if node.is_input else "square", fc="white",
                          ec="0.3"))
        ax.text(px, py - 0.12, f"value {float(graph.values[node.id]):g}", ha="center",
                color="#1f5fbf", fontsize=9)
        ax.text(px, py - 0.42, f"adjoint {float(graph.adjoints[node.id]):g}", ha="center",
                color="#c0392b", fontsize=9)
    ax.set_xlim(-1, max(p[0] for p in pos.values()) + 1)
    ax.set_ylim(min(p[1] for p in pos.values()) - 1, max(p[1] for p in pos.values()) + 1)
    ax.axis("off")


fig, ax = plt.subplots(figsize=(10, 5))
draw(graph, {0: "x", 1: "y", 2: "z", 3: "w", 4: "x·y", 5: "max(z, w)", 6: "add", 7: "f = 2·(…)"},
     ax)
ax.set_title("f = 2(xy + max(z, w)): values (blue) forward, adjoints (red) backward")
plt.show()

# %% [markdown]
# The gradient read off the inputs' adjoints is the one `ad.grad` returns (seed 001's three
# rules: (−8, 6, 2, 0)):

# %%
print(ad.grad(circuit, argnums=(0, 1, 2, 3))(3.0, -4.0, 2.0, -1.0))

# %% [markdown]
# ## 4. The units one at a time, with `vjp`
#
# `ad.vjp(f, *inputs)` returns the output and a function pulling an output adjoint back.
# With an upstream gradient g = 2 (seed 001 §2.3):

# %%
for name, unit, a, b in [("add", lambda a, b: a + b, 3.0, -4.0),
                         ("multiply", lambda a, b: a * b, 3.0, -4.0),
                         ("max", anp.maximum, 2.0, -1.0)]:
    out, pullback = ad.vjp(unit, a, b)
    ga, gb = pullback(2.0)
    print(f"{name:8s} a={a:5.1f} b={b:5.1f} -> out {float(out):6.1f}; "
          f"adjoints ({float(ga):5.1f}, {float(gb):5.1f})")

# %% [markdown]
# ## 5. The seeds' examples with grad, jvp, vjp and the Jacobian
#
# **Seed 002** (PyTorch autograd tutorial): z = mean(x·x) with x = [1, 2, 3]. PyTorch prints
# `tensor([0.6667, 1.3333, 2.0000])` for x.grad: dz/dx = 2x/3.

# %%
xs = np.array([1.0, 2.0, 3.0])
mean_sq = lambda v: anp.mean(v * v)  # noqa: E731
print("grad (reverse)          :", ad.grad(mean_sq)(xs))
print("jacfwd (3 forward passes):", ad.jacfwd(mean_sq)(xs))
_, tangent = ad.jvp(mean_sq, (xs,), (np.array([1.0, 0.0, 0.0]),))
print("one jvp along e1        :", float(tangent), "(one column of the 1x3 Jacobian)")

# %% [markdown]
# **Seed 001 §2.3 item 1**: f = q·z with q = x + y (values lost in the scrape; CS231n's
# x = −2, y = 5, z = −4): f = −12 and ∇f = (z, z, q) = (−4, −4, 3).

# %%
value, grads = ad.value_and_grad(lambda x, y, z: (x + y) * z, argnums=(0, 1, 2))(-2.0, 5.0, -4.0)
print("f =", float(value), " grad =", [float(g) for g in grads])

# %% [markdown]
# **Seed 001 §1**, the vector chain rule ∇ₓz = (∂y/∂x)ᵀ ∇_y z: back-propagation is a chain of
# Jacobian-transpose-vector products. With y = tanh(Mx) (ℝ³ → ℝ²) the Jacobian is
# diag(1 − y²)·M. Forward mode builds it column by column (3 passes), reverse mode row by
# row (2 sweeps of one recording); a single `vjp` gives (∂y/∂x)ᵀ g without forming it.

# %%
rng = np.random.default_rng(0)
M = rng.standard_normal((2, 3))
x3 = rng.standard_normal(3)
g_fn = lambda v: anp.tanh(M @ v)  # noqa: E731
y = np.tanh(M @ x3)
J_hand = (1 - y ** 2)[:, None] * M
print("hand   :\n", J_hand)
print("jacfwd :\n", ad.jacfwd(g_fn)(x3))
print("jacrev :\n", ad.jacrev(g_fn)(x3))
_, pull = ad.vjp(g_fn, x3)
print("vjp(2y) =", pull(2 * y)[0], " vs  J^T (2y) =", J_hand.T @ (2 * y))

# %% [markdown]
# ## 6. Which mode is cheaper?
#
# For f: ℝⁿ → ℝᵐ the full Jacobian costs about n forward passes or m reverse sweeps (times
# a small constant). A loss (m = 1) wants reverse mode whatever n is; a curve (n = 1) wants
# forward mode. `ad.jacobian` picks the mode from n and m. Timing `jacfwd` and `jacrev`
# (chunk size 1, so each pass is one direction) on tanh(Ax) with n·m = 4096:

# %%
def timed(fn, *args, repeat=3):
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


rows = []
for n, m in [(1, 4096), (8, 512), (64, 64), (512, 8), (4096, 1)]:
    A = rng.standard_normal((m, n)) / math.sqrt(n)
    f = lambda v, A=A: anp.tanh(A @ v)  # noqa: E731
    v = rng.standard_normal(n)
    tf = timed(ad.jacfwd(f, chunk_size=1), v)
    tr = timed(ad.jacrev(f, chunk_size=1), v)
    rows.append((n, m, tf, tr))
    print(f"n={n:5d} m={m:5d}: jacfwd {tf * 1e3:8.2f} ms   jacrev {tr * 1e3:8.2f} ms")

fig, ax = plt.subplots(figsize=(6, 3.5))
labels = [f"{n}→{m}" for n, m, _, _ in rows]
ax.semilogy(labels, [r[2] * 1e3 for r in rows], "o-", label="forward (n passes)")
ax.semilogy(labels, [r[3] * 1e3 for r in rows], "s-", label="reverse (m sweeps)")
ax.set_xlabel("n inputs → m outputs (n·m = 4096)")
ax.set_ylabel("time for the full Jacobian [ms]")
ax.legend()
ax.set_title("Forward mode wins for few inputs, reverse for few outputs")
plt.show()

# %% [markdown]
# Notebook 02 turns this into a cost model (operation counts per mode) and looks at
# chains where neither pure mode is optimal.
