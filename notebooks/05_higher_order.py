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
# # 05 · Higher order: Hessians, Hessian-vector products, Lanczos, nesting
#
# Transforms in `ad` compose: the derivative code is itself made of differentiable
# operations, so `grad(grad(f))`, `jacfwd(jacrev(f))` and `jvp(grad(f))` all work. Seed 001
# (Goodfellow et al. §6.5, "symbol-to-symbol" differentiation) makes the point that this is
# what gives higher derivatives, and (item 8 of its §4) that the Hessian is usually too big
# to form, while Krylov methods only need Hessian-vector products.

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np

import ad
import ad.numpy as anp
from ad.nn import functional as F
from ad.nn import init

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. Derivatives of derivatives
#
# Seed 001 §3.1: f(x) = x³ sin x. By hand f′ = 3x² sin x + x³ cos x and
# f″ = 6x sin x + 6x² cos x − x³ sin x. Four ways of getting f″ from `ad`:

# %%
f = lambda x: x ** 3 * anp.sin(x)  # noqa: E731
x = 1.3
f1_hand = 3 * x ** 2 * math.sin(x) + x ** 3 * math.cos(x)
f2_hand = 6 * x * math.sin(x) + 6 * x ** 2 * math.cos(x) - x ** 3 * math.sin(x)
print("f'  hand", f1_hand, " grad", float(ad.grad(f)(x)))
print("f'' hand", f2_hand)
print("    grad(grad)       ", float(ad.grad(ad.grad(f))(x)))
print("    jacfwd(jacrev)   ", float(ad.jacfwd(ad.jacrev(f))(x)))
print("    jvp of grad      ", float(ad.jvp(ad.grad(f), (x,), (1.0,))[1]))
print("    jacrev(jacfwd)   ", float(ad.jacrev(ad.jacfwd(f))(x)))

# %% [markdown]
# Repeating `grad` climbs the derivatives of sin: sin, cos, −sin, −cos, sin, …

# %%
g = anp.sin
for k in range(1, 7):
    g = ad.grad(g)
    print(f"d^{k}/dx^{k} sin at 0.5 = {float(g(0.5)):+.6f}   "
          f"(sin(0.5 + {k}π/2) = {math.sin(0.5 + k * math.pi / 2):+.6f})")

# %% [markdown]
# ## 2. The Hessian and Hessian-vector products
#
# The Rosenbrock function f(x, y) = (1 − x)² + 100(y − x²)² has, by hand,
# H = [[2 − 400(y − x²) + 800x², −400x], [−400x, 200]], i.e. [[802, −400], [−400, 200]] at
# the minimum (1, 1). `ad.hessian` is forward mode over reverse mode; `ad.hvp` gives Hv
# without forming H (one forward-over-reverse pass).

# %%
def rosenbrock(v):
    return anp.sum((1 - v[:-1]) ** 2 + 100 * (v[1:] - v[:-1] ** 2) ** 2)


p = np.array([1.0, 1.0])
print("Hessian at (1, 1):\n", ad.hessian(rosenbrock)(p))
v = np.array([1.0, 2.0])
print("hvp(H, [1, 2]) =", ad.hvp(rosenbrock, (p,), (v,)), "  H @ v =",
      np.array([[802, -400], [-400, 200]]) @ v)

# %% [markdown]
# An HVP costs a small constant times one gradient, whatever n is; the full Hessian costs n
# of them (forward mode pushes n directions through the reverse pass, here in chunks of 64).

# %%
for n in (100, 400, 1600):
    q = np.random.default_rng(n).standard_normal(n)
    u = np.random.default_rng(n + 1).standard_normal(n)
    t0 = time.perf_counter()
    Hv = ad.hvp(rosenbrock, (q,), (u,))
    t_hvp = time.perf_counter() - t0
    t0 = time.perf_counter()
    H = ad.hessian(rosenbrock)(q)
    t_hess = time.perf_counter() - t0
    print(f"n = {n:5d}: hvp {t_hvp * 1e3:7.2f} ms   full Hessian {t_hess * 1e3:8.1f} ms   "
          f"|H u - hvp| = {np.abs(H @ u - Hv).max():.1e}")

# %% [markdown]
# ## 3. Top Hessian eigenvalues by Lanczos, driven only by `hvp`
#
# The loss of a small MLP (2 → 16 → 16 → 1, tanh, MSE on a synthetic regression) as a function
# of its flattened parameter vector θ (n = 337). Lanczos builds an orthonormal Krylov basis
# from repeated products H·q — here `ad.hvp` — and a tridiagonal matrix T whose extreme
# eigenvalues (Ritz values) converge to H's extreme eigenvalues in a few dozen products. The
# full Hessian is formed once, only to check the answer.

# %%
rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, (128, 2))
y = np.sin(X[:, 0]) * np.cos(X[:, 1])
shapes = [(16, 2), (16,), (16, 16), (16,), (1, 16), (1,)]
sizes = [math.prod(s) for s in shapes]
theta0 = np.concatenate([
    init.xavier_uniform(shapes[0], rng, 5 / 3).ravel(), np.zeros(16),
    init.xavier_uniform(shapes[2], rng, 5 / 3).ravel(), np.zeros(16),
    init.xavier_uniform(shapes[4], rng).ravel(), np.zeros(1)])


def unflatten(theta):
    out, start = [], 0
    for shape, size in zip(shapes, sizes):
        out.append(anp.reshape(theta[start:start + size], shape))
        start += size
    return out


def mlp_loss(theta):
    W1, b1, W2, b2, W3, b3 = unflatten(theta)
    h = F.tanh(F.linear(X, W1, b1))
    h = F.tanh(F.linear(h, W2, b2))
    return F.mse(anp.reshape(F.linear(h, W3, b3), (-1,)), y)


# a few hundred gradient steps, so we look at the curvature of a partly trained network
theta = theta0
for _ in range(300):
    theta = theta - 0.2 * ad.grad(mlp_loss)(theta)
print("n =", theta.size, " loss", float(mlp_loss(theta0)), "->", float(mlp_loss(theta)))


def lanczos(matvec, n, steps, rng):
    """Lanczos with full re-orthogonalisation; returns the Ritz values after each step."""
    Q = np.zeros((steps + 1, n))
    alpha, beta = np.zeros(steps), np.zeros(steps)
    q = rng.standard_normal(n)
    Q[0] = q / np.linalg.norm(q)
    ritz = []
    for j in range(steps):
        w = matvec(Q[j])
        alpha[j] = Q[j] @ w
        w = w - alpha[j] * Q[j] - (beta[j - 1] * Q[j - 1] if j else 0)
        w = w - Q[:j + 1].T @ (Q[:j + 1] @ w)        # re-orthogonalise (keeps T honest)
        beta[j] = np.linalg.norm(w)
        T = np.diag(alpha[:j + 1]) + np.diag(beta[:j], 1) + np.diag(beta[:j], -1)
        ritz.append(np.linalg.eigvalsh(T)[::-1])
        if beta[j] < 1e-12:
            break
        Q[j + 1] = w / beta[j]
    return ritz


calls = 0


def hessian_times(vec):
    global calls
    calls += 1
    return ad.hvp(mlp_loss, (theta,), (vec,))


t0 = time.perf_counter()
ritz = lanczos(hessian_times, theta.size, 40, np.random.default_rng(1))
t_lanczos = time.perf_counter() - t0
t0 = time.perf_counter()
exact = np.linalg.eigvalsh(ad.hessian(mlp_loss)(theta))[::-1]
t_full = time.perf_counter() - t0
print(f"Lanczos: {calls} hvp calls, {t_lanczos:.2f} s;  full Hessian + eigvalsh: {t_full:.2f} s")
print("top 5 by Lanczos :", ritz[-1][:5])
print("top 5 exact      :", exact[:5])
for k in (5, 10, 20, 40):
    err = np.abs(ritz[k - 1][:5] - exact[:5]) / np.abs(exact[:5])
    print(f"after {k:2d} hvps, relative error of the top 5:", " ".join(f"{e:.1e}" for e in err))
print("smallest (Lanczos / exact):", ritz[-1][-1], exact[-1])

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
steps = np.arange(1, len(ritz) + 1)
for k in range(4):
    ax1.semilogy(steps[k:], [r[k] for r in ritz[k:]], label=f"Ritz value {k + 1}")
    ax1.axhline(exact[k], color=f"C{k}", ls=":", lw=0.8)
ax1.set_xlabel("Lanczos step (= number of hvp calls)")
ax1.set_ylabel("eigenvalue")
ax1.set_title("Top Ritz values converge to the top eigenvalues (dotted)")
ax1.legend(fontsize=8)
ax2.plot(exact, ".", ms=3, label="all eigenvalues (full Hessian)")
ax2.plot(np.arange(5), ritz[-1][:5], "x", color="C3", label="top 5 from 40 hvps")
ax2.set_yscale("symlog", linthresh=1e-4)
ax2.set_xlabel("index")
ax2.set_title(f"Spectrum of the loss Hessian (n = {theta.size})")
ax2.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Perturbation confusion
#
# Nesting derivatives needs each derivative to keep its own perturbation. The classic test
# (Siskind & Pearlmutter): d/dx [ x · d/dy (x + y) ] at x = 1. The inner derivative is 1
# for every x, so the answer is d/dx [x] = 1. Dual numbers *without tags* get 2: inside the
# inner derivative, x already carries the outer perturbation ε, y is given the "same" ε,
# and x + y then has tangent 2, which the inner derivative reports as d/dy.

# %%
class UntaggedDual:
    def __init__(self, value, tangent=0.0):
        self.value, self.tangent = value, tangent

    def _lift(self, other):
        return other if isinstance(other, UntaggedDual) else UntaggedDual(other)

    def __add__(self, other):
        other = self._lift(other)
        return UntaggedDual(self.value + other.value, self.tangent + other.tangent)
    __radd__ = __add__

    def __mul__(self, other):
        other = self._lift(other)
        return UntaggedDual(self.value * other.value,
                            self.tangent * other.value + self.value * other.tangent)
    __rmul__ = __mul__


def naive_derivative(fn, at):
    out = fn(UntaggedDual(at, 1.0))
    return out.tangent if isinstance(out, UntaggedDual) else 0.0


naive = naive_derivative(lambda x: x * naive_derivative(lambda y: x + y, 1.0), 1.0)
print("untagged dual numbers:", naive)

# %% [markdown]
# `ad` tags every traced value with the transform (the *level*) that created it, and a
# derivative only reads tangents of its own level, so all combinations of modes give 1:

# %%
inner = lambda x: ad.grad(lambda y: x + y)(1.0)  # noqa: E731
print("grad over grad :", float(ad.grad(lambda x: x * inner(x))(1.0)))
inner_fwd = lambda x: ad.jvp(lambda y: x + y, (1.0,), (1.0,))[1]  # noqa: E731
print("jvp over jvp   :", float(ad.jvp(lambda x: x * inner_fwd(x), (1.0,), (1.0,))[1]))
print("grad over jvp  :", float(ad.grad(lambda x: x * inner_fwd(x))(1.0)))
print("jvp over grad  :", float(ad.jvp(lambda x: x * inner(x), (1.0,), (1.0,))[1]))

# %% [markdown]
# A variant: d/dx [ x · d/dy (x · y) ] = d/dx [x · x] = 2x. Untagged duals compute
# d/dy (x · y) as x + 1 (the outer ε leaks in), hence 1 + x in place of 2x: right at x = 1
# by coincidence, 3 in place of 4 at x = 2.

# %%
for x0, expected in ((1.0, 2.0), (2.0, 4.0)):
    got = ad.grad(lambda x: x * ad.grad(lambda y: x * y)(1.0))(x0)
    naive = naive_derivative(lambda x: x * naive_derivative(lambda y: x * y, 1.0), x0)
    print(f"x = {x0}: ad {float(got)}, by hand {expected}, untagged duals {naive}")

# %% [markdown]
# ## Custom derivatives: an implicit function
#
# Some functions are best differentiated without differentiating their code. A fixed point
# z = tanh(W z + x), found by iteration, has the derivative the implicit function theorem
# gives: dz = (I − D W)⁻¹ D dx with D = diag(1 − z²). `ad.custom_vjp` (JAX's interface)
# attaches it: the 200 iterations are not recorded, and reverse mode solves one linear
# system instead. The Jacobian agrees with finite differences.

# %%
W = np.array([[0.2, -0.1], [0.05, 0.3]])


@ad.custom_vjp
def fixed_point(x):
    z = np.zeros(2)
    for _ in range(200):
        z = np.tanh(W @ z + ad.primal_value(x))
    return z


def fixed_point_fwd(x):
    z = fixed_point(x)
    return z, z                          # the residual the backward pass needs: z


def fixed_point_bwd(z, ct):
    d = 1 - z ** 2
    return (d * anp.linalg.solve((np.eye(2) - d[:, None] * W).T, ct),)


fixed_point.defvjp(fixed_point_fwd, fixed_point_bwd)

x0 = np.array([0.3, -0.5])
eps = 1e-6
finite = np.stack([(fixed_point(x0 + eps * e) - fixed_point(x0 - eps * e)) / (2 * eps)
                   for e in np.eye(2)], axis=1)
print("jacrev through the implicit rule:\n", ad.jacrev(fixed_point)(x0))
print("largest difference from finite differences:",
      float(np.abs(ad.jacrev(fixed_point)(x0) - finite).max()))
