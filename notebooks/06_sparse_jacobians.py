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
# # 06 · Sparse Jacobians: detect the pattern, colour it, pay a handful of passes
#
# A dense Jacobian costs n forward passes or m reverse sweeps. Most Jacobians that solvers
# need (implicit ODE steps, PDE stencils, Newton on a grid) have a few nonzeros per row, and
# columns that never share a row can be pushed *together* in one tangent direction: their
# sum's image separates again, because each row sees at most one of them. So the cost is
# the number of colours, not n. This notebook does it in three steps: the pattern (by
# propagating index sets through the recording, `ad.sparsity`), the colouring
# (`ad.sparse.coloring`), and the compressed passes with the strategy the cost model prices
# cheapest (`ad.jacobian(f, sparse=True)`).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import ad
import ad.numpy as anp
from ad.sparse import coloring


def brusselator(n):
    """2-D Brusselator right-hand side on an n x n periodic grid (two coupled fields)."""
    def f(y):
        u, v = anp.reshape(y[:n * n], (n, n)), anp.reshape(y[n * n:], (n, n))
        lap = lambda w: (anp.roll(w, 1, 0) + anp.roll(w, -1, 0) + anp.roll(w, 1, 1)  # noqa
                         + anp.roll(w, -1, 1) - 4.0 * w)
        du = 1.0 + u * u * v - 4.4 * u + 0.1 * lap(u)
        dv = 3.4 * u - u * u * v + 0.1 * lap(v)
        return anp.concatenate([anp.ravel(du), anp.ravel(dv)])
    return f


f = brusselator(32)
x = np.random.default_rng(1).uniform(0.5, 1.5, 2 * 32 * 32)

# %% [markdown]
# ## 1. The pattern
#
# Every primitive in the catalogue declares which result elements depend on which argument
# elements (elementwise: the diagonal; `roll` and slicing: index maps; `sum`: the reduced
# elements; matmul: the product pattern). The walk over the tape unions index sets, so
# detection costs about as much as one evaluation.

# %%
ad.sparsity(f, x)     # the first call in a process loads the compiled union kernel
start = time.perf_counter()
pattern = ad.sparsity(f, x)
print(f"{pattern.shape[0]} x {pattern.shape[1]}, {pattern.nnz} nonzeros "
      f"({pattern.nnz / pattern.shape[0]:.0f} per row), detected in "
      f"{(time.perf_counter() - start) * 1e3:.1f} ms")
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
axes[0].spy(pattern, markersize=0.3)
axes[0].set_title("Brusselator Jacobian pattern (2048 x 2048)")
axes[1].spy(pattern[:160, :160], markersize=2)
axes[1].set_title("its top-left 160 x 160 corner")
plt.tight_layout()

# %% [markdown]
# ## 2. The colouring
#
# Column colouring: no two columns of one colour share a row (a distance-2 colouring of
# the bipartite graph); the greedy algorithm tries several orderings and keeps the fewest
# colours. Below, each nonzero of the corner is drawn in its column's colour: within any
# row, every colour appears at most once, which is what lets one pass per colour recover
# every entry.

# %%
columns = coloring.column_coloring(pattern)
print(f"{columns.n_colors} colours (ordering: {columns.order}) instead of "
      f"{pattern.shape[1]} dense forward passes")
corner = pattern[:64, :64].tocoo()
plt.figure(figsize=(5, 5))
plt.scatter(corner.col, corner.row, c=columns.colors[corner.col], cmap="tab20", s=14)
plt.gca().invert_yaxis()
plt.title(f"nonzeros coloured by their column's colour ({columns.n_colors} colours)")
plt.xlabel("column (input)")
plt.ylabel("row (output)")

# %% [markdown]
# ## 3. The compressed Jacobian and what it saves
#
# `jacobian(f, sparse=True)` prepares once per input signature (pattern and colourings),
# prices every strategy with the calibrated cost model, and then runs only the passes of
# the chosen one. Its report shows the candidates.

# %%
sparse_jacobian = ad.jacobian(f, sparse=True)
J = sparse_jacobian(x)
dense_forward = ad.jacfwd(f)
print("max |sparse - dense| =", np.abs(J.toarray() - dense_forward(x)).max())
print(sparse_jacobian.report)


def median_time(fn, repeats=5):
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return float(np.median(samples))


times = {"dense forward": median_time(lambda: dense_forward(x), 3),
         "dense reverse": median_time(lambda: ad.jacrev(f)(x), 3),
         "sparse (prepared)": median_time(lambda: sparse_jacobian(x)),
         "sparse, first call\n(detect + colour + evaluate)":
             median_time(lambda: ad.jacobian(f, sparse=True)(x), 3)}
plt.figure(figsize=(7, 3.5))
plt.barh(list(times), [t * 1e3 for t in times.values()])
plt.xscale("log")
plt.xlabel("milliseconds (log scale; medians, this machine)")
plt.title(f"sparse over dense forward: "
          f"{times['dense forward'] / times['sparse (prepared)']:.0f}x")
plt.tight_layout()

# %% [markdown]
# ## 4. A dense row and a dense column: colour both sides
#
# An arrowhead (one output reads every input, one input feeds every output) defeats
# one-sided colouring: a dense row makes every column conflict, a dense column every row,
# so either side needs n colours. Bidirectional colouring recovers some entries from
# forward passes and the others from reverse sweeps: here two tangents and one cotangent.

# %%
def arrowhead(x):
    return anp.concatenate([anp.sum(x * x)[None], x[1:] ** 3 + x[0]])


xa = np.linspace(0.5, 1.5, 1000)
arrow = ad.jacobian(arrowhead, sparse=True)
A = arrow(xa)
print("max |sparse - dense| =", np.abs(A.toarray() - ad.jacfwd(arrowhead)(xa)).max())
print(arrow.report)

# %% [markdown]
# ## 5. Sparse Hessians: star colouring
#
# A Hessian is symmetric, so an entry can be read from either of its two columns: star
# colouring (every path on four vertices sees at least three colours) needs fewer colours
# than colouring the columns. The pattern is the Jacobian pattern of the gradient's
# recording, found by the same walk; each colour costs one forward-over-reverse pass.

# %%
def rosenbrock(x):
    return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


xr = np.random.default_rng(4).uniform(0.3, 1.2, 10_000)
sparse_hessian = ad.hessian(rosenbrock, sparse=True)
H = sparse_hessian(xr)
print(f"Hessian {H.shape[0]} x {H.shape[1]}: {H.nnz} nonzeros, "
      f"{sparse_hessian.report.colorings['star-coloured']} colours")
print(sparse_hessian.report)
