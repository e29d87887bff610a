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
# # 02 · What a Jacobian costs: forward vs reverse, and the matrix chain
#
# For f: ℝⁿ → ℝᵐ, forward mode needs one pass per input direction (n of them, pushed in
# chunks of `ad.CHUNK_SIZE` as vector-mode duals), reverse mode one recording plus one sweep
# per output direction (m). Seed 001 (§4, items 4–5) puts it as a matrix chain: the
# Jacobian of a composition is a product J_L ⋯ J₁, forward mode multiplies it from the
# right, reverse mode from the left, and other bracketings can be cheaper than both.
# `ad.cost` turns the catalogue's per-primitive counts into predicted seconds, priced by a
# calibration table measured on this machine (`python -m ad.calibrate`; a table shipped with
# the package otherwise); here they are set against measured times.

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np

import ad
import ad.numpy as anp


def timed(fn, *args, repeat=3):
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


# %% [markdown]
# ## 1. A cost report
#
# `ad.cost_report(f, x)` traces f once and predicts the time of f, of one JVP and one VJP,
# and of the full Jacobian in each mode, with the largest terms of each (which primitives,
# or which of the engines' own costs, dominate) and the memory each needs. Each
# primitive's counts (its cost entry in the catalogue) are priced by its own calibrated
# lines for its value, its JVP rule on a block of k tangents and its VJP rule on a block of
# k cotangents; the engines' per-entry, per-pass and per-call costs come on top.

# %%
rng = np.random.default_rng(0)
A = rng.standard_normal((8, 300)) / math.sqrt(300)
print(ad.cost_report(lambda x: anp.tanh(A @ anp.sin(x)), rng.standard_normal(300)))

# %% [markdown]
# ## 2. Predicted vs measured across (n, m)
#
# f(x) = tanh(A·sin(x)) with A of shape m × n. For each (n, m) on a grid: the predicted ratio
# forward time / reverse time and the measured ratio time(jacfwd) / time(jacrev). Above 1
# reverse mode wins.

# %%
sizes = [1, 4, 16, 64, 256, 1024]
predicted = np.zeros((len(sizes), len(sizes)))
measured = np.zeros_like(predicted)
for i, m in enumerate(sizes):
    for j, n in enumerate(sizes):
        A = rng.standard_normal((m, n)) / math.sqrt(n)
        f = lambda x, A=A: anp.tanh(A @ anp.sin(x))  # noqa: E731
        x = rng.standard_normal(n)
        predicted[i, j] = ad.cost_report(f, x).ratio
        measured[i, j] = timed(ad.jacfwd(f), x) / timed(ad.jacrev(f), x)
agree = np.mean((predicted > 1) == (measured > 1))
print(f"the model picks the faster mode in {agree:.0%} of the {predicted.size} cases")
clear = np.abs(np.log(measured)) > math.log(1.25)
print(f"... and in {np.mean((predicted > 1)[clear] == (measured > 1)[clear]):.0%} of the "
      f"{clear.sum()} cases where one mode is measured more than 25% faster")
worst = np.argmax(np.abs(np.log(predicted / measured)))
print(f"largest disagreement: predicted {predicted.flat[worst]:.2f} vs measured "
      f"{measured.flat[worst]:.2f} (m = {sizes[worst // len(sizes)]}, "
      f"n = {sizes[worst % len(sizes)]})")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
im = ax1.imshow(np.log10(measured), origin="lower", cmap="RdBu_r", vmin=-2, vmax=2)
ax1.contour(np.log10(predicted), levels=[0], colors="k", linewidths=2)
ax1.set_xticks(range(len(sizes)), sizes)
ax1.set_yticks(range(len(sizes)), sizes)
ax1.set_xlabel("n (inputs)")
ax1.set_ylabel("m (outputs)")
ax1.set_title("log10 measured time(jacfwd)/time(jacrev)\nblack: predicted crossover")
fig.colorbar(im, ax=ax1)
ax2.loglog(predicted.ravel(), measured.ravel(), "o")
lims = [min(predicted.min(), measured.min()) / 2, max(predicted.max(), measured.max()) * 2]
ax2.plot(lims, lims, "k:", lw=0.8)
ax2.axhline(1, color="gray", lw=0.5)
ax2.axvline(1, color="gray", lw=0.5)
ax2.set_xlabel("predicted forward / reverse")
ax2.set_ylabel("measured forward / reverse")
ax2.set_title("Each point one (n, m)")
plt.tight_layout()
plt.show()

# %% [markdown]
# With n, m ≤ 64 both modes are a single pass (one chunk of directions, one batched sweep),
# so their times are within a few per cent of each other and the "faster" one is a coin
# toss; the misses are there. Away from ties the prediction tracks the measured ratio.
#
# ## 3. The crossover for n = 128
#
# Fix n = 128 inputs and vary the number of outputs m: reverse-mode cost grows with m
# (sweeps), forward-mode cost barely does (two chunks of 64 directions, whatever m is).

# %%
n = 128
ms = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
rows = []
x = rng.standard_normal(n)
for m in ms:
    A = rng.standard_normal((m, n)) / math.sqrt(n)
    f = lambda x, A=A: anp.tanh(A @ anp.sin(x))  # noqa: E731
    report = ad.cost_report(f, x)
    rows.append((report.forward.cost, report.reverse.cost, timed(ad.jacfwd(f), x),
                 timed(ad.jacrev(f), x)))
rows = np.array(rows)


def crossover(fwd, rev):
    """First m where reverse mode stops being cheaper."""
    for m, a, b in zip(ms, fwd, rev):
        if a < b:
            return m
    return None


print("predicted crossover at m =", crossover(rows[:, 0], rows[:, 1]),
      "; measured at m =", crossover(rows[:, 2], rows[:, 3]))
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.loglog(ms, rows[:, 0], "o-", label="forward")
ax1.loglog(ms, rows[:, 1], "s-", label="reverse")
ax1.set_title(f"predicted (n = {n})")
ax1.set_ylabel("s")
ax2.loglog(ms, rows[:, 2] * 1e3, "o-", label="jacfwd")
ax2.loglog(ms, rows[:, 3] * 1e3, "s-", label="jacrev")
ax2.set_title(f"measured (n = {n})")
ax2.set_ylabel("ms")
for a in (ax1, ax2):
    a.set_xlabel("m (outputs)")
    a.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. The matrix chain
#
# For f = f_L ∘ ⋯ ∘ f₁ with widths d₀, …, d_L, the Jacobian is J_L ⋯ J₁ (J_i is
# d_i × d_{i−1}). Forward mode is the bracketing J_L(⋯(J₂J₁)), reverse mode ((J_L J_{L−1})⋯)J₁;
# `ad.matrix_chain` finds the cheapest bracketing by the classic dynamic program. For a
# *diamond* — wide, narrow in the middle, wide — the best order meets in the middle, and
# beats both pure modes:

# %%
for dims in ([1000, 10, 1000, 10], [200, 1000, 4, 1000, 200], [100, 100, 100, 100]):
    plan = ad.matrix_chain(dims)
    print(f"{str(dims):26s} optimal {plan.bracketing():22s} {plan.cost:>12,}   "
          f"forward {plan.forward:>12,}   reverse {plan.reverse:>12,}")

# %% [markdown]
# A real diamond: n = 200 inputs encoded to 1000 units, squeezed through three 1000-wide
# tanh layers to a 4-wide bottleneck, expanded back through three 1000-wide layers and
# decoded to m = 200 outputs. `ad.chain` keeps the four stages apart; `plan(x)` predicts each
# stage's Jacobian in its cheaper mode (the heavy middle stages need only 4 passes each) and
# the product in the optimal order; `ad.jacobian(chain, mode="optimal")` executes it.

# %%
n, W, k, m, depth = 200, 1000, 4, 200, 3
A1 = rng.standard_normal((W, n)) / math.sqrt(n)
Bs = [rng.standard_normal((W, W)) / math.sqrt(W) for _ in range(depth)]
C = rng.standard_normal((k, W)) / math.sqrt(W)
D = rng.standard_normal((W, k)) / math.sqrt(k)
Es = [rng.standard_normal((W, W)) / math.sqrt(W) for _ in range(depth)]
G = rng.standard_normal((m, W)) / math.sqrt(W)


def encode(x):
    return anp.tanh(A1 @ x)


def squeeze(h):
    for B in Bs:
        h = anp.tanh(B @ h)
    return C @ h


def expand(z):
    h = anp.tanh(D @ z)
    for E in Es:
        h = anp.tanh(E @ h)
    return h


def decode(h):
    return G @ h


diamond = ad.chain(encode, squeeze, expand, decode)
x = rng.standard_normal(n)
report = diamond.plan(x)
print(report)

# %%
J_fwd = ad.jacfwd(diamond)(x)
J_rev = ad.jacrev(diamond)(x)
J_opt = ad.jacobian(diamond, mode="optimal")(x)
print("max |difference| forward/reverse:", np.abs(J_fwd - J_rev).max(),
      " forward/optimal:", np.abs(J_fwd - J_opt).max())
times = {"forward": timed(ad.jacfwd(diamond), x), "reverse": timed(ad.jacrev(diamond), x),
         "optimal plan": timed(ad.jacobian(diamond, mode="optimal"), x)}
pred = {"forward": report.forward.cost, "reverse": report.reverse.cost,
        "optimal plan": report.optimal.cost}
for key in times:
    print(f"{key:13s} predicted {pred[key] * 1e3:7.1f} ms   measured {times[key] * 1e3:7.1f} ms")
print(f"speed-up of the plan over the best pure mode: measured "
      f"{min(times['forward'], times['reverse']) / times['optimal plan']:.1f}x, predicted "
      f"{min(pred['forward'], pred['reverse']) / pred['optimal plan']:.1f}x")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.bar(list(pred), [t * 1e3 for t in pred.values()], color=["C0", "C1", "C2"])
ax1.set_title("predicted (ms)")
ax2.bar(list(times), [t * 1e3 for t in times.values()], color=["C0", "C1", "C2"])
ax2.set_title("measured (ms)")
plt.suptitle("Jacobian of the diamond chain 200 → 1000 → 4 → 1000 → 200")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Predicted against measured time, on programs the model was not tuned for
#
# `python -m benchmarks.auto_suite --record` runs 32 programs of varied shape — square
# stencils (1-D, 2-D), banded chains, matrix inputs and outputs, scans and reductions,
# gathers and scatters, linear solves, scalar loops, wide and tall MLPs, chains of mixed
# widths — and times `jacfwd`, `jacrev` and `jacobian(mode="auto")` on each, next to the
# cost model's predicted time of each mode. The committed record (this machine) is read
# here; a live re-run of a few of its programs follows.

# %%
import json  # noqa: E402
from pathlib import Path  # noqa: E402

record = json.loads(sorted(Path("../benchmarks/results").glob("auto_suite-2*.json"))[-1]
                    .read_text())
rows = [r for r in record["rows"] if "predicted_forward_s" in r]
pred = np.array([[r["predicted_forward_s"], r["predicted_reverse_s"]] for r in rows])
meas = np.array([[r["forward_s"], r["reverse_s"]] for r in rows])
error = pred / meas
print(f"{len(rows)} programs; predicted within 2x of measured for "
      f"{np.mean((error > 0.5) & (error < 2)):.0%} of the (program, mode) pairs; "
      f"geometric-mean error {np.exp(np.abs(np.log(error)).mean()):.2f}x")
choice = np.array([r["choice_regret"] for r in rows])
print(f"auto's choice within 10% of the faster mode on {np.mean(choice <= 1.1):.0%} of the "
      f"programs (worst {choice.max():.2f}); {sum(r['settled'] for r in rows)} close calls "
      "were settled by measurement")
for rule in ("ADOL-C", "CppAD", "CasADi", "JAX"):
    print(f"  fixed rule {rule:7s}: geometric-mean regret "
          f"{np.exp(np.mean(np.log([r[rule] for r in rows]))):.3f}")


def predicted_against_measured(ax, meas, pred, title, prefix=""):
    """Per (program, mode): predicted against measured seconds, and the within-2x band."""
    for k, (mode, marker) in enumerate((("forward", "o"), ("reverse", "s"))):
        ax.loglog(meas[:, k] * 1e3, pred[:, k] * 1e3, marker, label=prefix + mode, alpha=0.8)
    lims = np.array([meas.min() / 2, meas.max() * 2]) * 1e3
    ax.plot(lims, lims, "k-", lw=0.8)
    ax.fill_between(lims, lims / 2, lims * 2, color="gray", alpha=0.15, label="within 2x")
    ax.set_xlabel("measured (ms)")
    ax.set_ylabel("predicted (ms)")
    ax.set_title(title)
    ax.legend()


fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
predicted_against_measured(ax1, meas, pred, "Jacobian time per program and mode")
names = [r["program"] for r in rows]
ratio_pred = pred[:, 0] / pred[:, 1]
ratio_meas = meas[:, 0] / meas[:, 1]
ax2.loglog(ratio_meas, ratio_pred, "o")
for name, a, b in zip(names, ratio_meas, ratio_pred):
    if abs(np.log(a)) > np.log(3):
        ax2.annotate(name, (a, b), fontsize=7, alpha=0.7)
span = [min(ratio_meas.min(), ratio_pred.min()) / 2, max(ratio_meas.max(), ratio_pred.max()) * 2]
ax2.plot(span, span, "k-", lw=0.8)
ax2.axhline(1, color="gray", lw=0.5)
ax2.axvline(1, color="gray", lw=0.5)
ax2.set_xlabel("measured forward / reverse")
ax2.set_ylabel("predicted forward / reverse")
ax2.set_title("the choice: right where both sides of 1 agree")
plt.tight_layout()
plt.show()

# %% [markdown]
# Where the two modes are within about 1.5x of each other (the square programs: stencils,
# banded chains, elementwise maps, solves) the prediction's error is as large as the
# difference it would have to resolve, so `jacobian(mode="auto")` settles such close calls
# by measurement: the next calls time each mode twice and keep the faster. Elsewhere the
# prediction alone decides, and is right. A live re-run of three programs of the suite:

# %%
import sys  # noqa: E402

sys.path.insert(0, "..")
from benchmarks import auto_suite  # noqa: E402

for name, builder, size in (("tridiagonal", auto_suite.tridiagonal, (300,)),
                            ("MLP wide", auto_suite.mlp, (300, 30, 5)),
                            ("outer", auto_suite.outer_features, (30,))):
    f, x = builder(*size)
    row = auto_suite.measure(name, f, x, repeats=3)
    print(f"{name:12s} n={row['n']:4d} m={row['m']:4d}  forward {row['forward_s'] * 1e3:6.2f} ms "
          f"(predicted {row['predicted_forward_s'] * 1e3:6.2f})  reverse "
          f"{row['reverse_s'] * 1e3:6.2f} ms (predicted {row['predicted_reverse_s'] * 1e3:6.2f})"
          f"  auto: {row['auto']}")

# %% [markdown]
# ## 6. The compiled path, priced too
#
# A compiled tape (`compile=True`) runs the recorded program in one Numba interpreter, so its
# cost is not the engines' per-entry Python but the interpreter's own: `python -m
# ad.calibrate` times every interpreter op alone (values, forward and reverse runs; per
# entry, per element, per element and direction) and the Python around the runs. The same
# cost report then prices the compiled strategies beside the interpreted ones, and
# `jacobian(f, compile=True)` runs whichever is predicted fastest: the compiled tape in
# either mode, or the interpreted engine where NumPy's vectorised rules win (matrix
# products taken apart into scalar entries lose to BLAS).

# %%
def rk4_trajectory(state):        # Lotka-Volterra, 40 RK4 steps: many tiny operations
    def rate(s):
        return anp.stack([s[0] * (1.1 - 0.4 * s[1]), s[1] * (0.1 * s[0] - 0.4)])
    out = []
    for _ in range(40):
        k1 = rate(state)
        k2 = rate(state + 0.05 * k1)
        k3 = rate(state + 0.05 * k2)
        k4 = rate(state + 0.1 * k3)
        state = state + (0.1 / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(state)
    return anp.concatenate(out)


print(ad.cost_report(rk4_trajectory, np.array([10.0, 5.0]), compile=True))

# %% [markdown]
# The committed record of `python -m benchmarks.compiled_tapes` runs the suite of section
# 5 compiled: each compiled mode's predicted time against its measured time, and what
# `compile=True` chose.

# %%
compiled_record = json.loads(sorted(Path("../benchmarks/results").glob(
    "compiled_tapes-2*.json"))[-1].read_text())
lowered = [r for r in compiled_record["jacobians"] if r.get("lowers")
           and "predicted forward_s" in r]
c_pred = np.array([[r["predicted forward_s"], r["predicted reverse_s"]] for r in lowered])
c_meas = np.array([[r["compiled forward_s"], r["compiled reverse_s"]] for r in lowered])
c_error = c_pred / c_meas
print(f"{len(lowered)} programs lower; compiled time predicted within 2x for "
      f"{np.mean((c_error > 0.5) & (c_error < 2)):.0%} of the (program, mode) pairs")
runs = [r["runs"] for r in lowered]
print("compile=True ran:", {k: runs.count(k) for k in sorted(set(runs))},
      f"; its regret (over the fastest of the three) <= 1.10 on "
      f"{np.mean([r['regret'] <= 1.10 for r in lowered]):.0%}")

fig, ax = plt.subplots(figsize=(6.5, 5))
predicted_against_measured(ax, c_meas, c_pred, "compiled Jacobians: predicted against measured",
                           "compiled ")
plt.tight_layout()
plt.show()
