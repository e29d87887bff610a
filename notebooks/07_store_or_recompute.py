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
# # 07 · Store or recompute: checkpointing and binomial schedules
#
# The back-propagation seed (Goodfellow et al. §6.5, seed 001) names the trade twice:
# back-propagation stores every node's intermediate result, "at the cost of more memory"
# (其代价是更高的内存开销), and "sometimes subexpressions must be recomputed, paying run time
# for less memory" (以较高的运行时间为代价,来换取较少的内存开销). The MLP seed (000) adds why
# training takes more memory than prediction: the forward pass's intermediates cannot be
# freed until the backward pass has used them. This notebook measures the trade in `ad`:
# `ad.loop` with binomial schedules, `ad.checkpoint`, and forward mode, which keeps no tape.

# %%
import time
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np

import ad
import ad.numpy as anp
from ad.schedule import binomial_schedule, optimal_steps

# %% [markdown]
# ## 1. The binomial schedule: fewest recomputations for a number of slots
#
# Reversing n steps with s stored states costs T(n, s) step evaluations (the taped one per
# step included): T(l, s) = min over j of j + T(l - j, s - 1) + T(j, s). Griewank and
# Walther's revolve attains it. For n = 1000:

# %%
n = 1000
for s in (1, 2, 3, 5, 10, 20, 50, 1000):
    schedule = binomial_schedule(n, s)
    print(f"s = {s:>4}: {schedule.forward_steps:>7,} step evaluations "
          f"({schedule.forward_steps / n:.2f} n), at most {schedule.max_stored} states stored")

# %% [markdown]
# The Pareto front: memory (states stored) against time (step evaluations). Every point
# is optimal for its memory; storing everything costs 2n - 1 evaluations, one slot
# n(n + 1)/2, and a handful of slots already comes within a few times the stored run.

# %%
slots = np.unique(np.round(np.logspace(0, 3, 40)).astype(int))
evaluations = [optimal_steps(n, int(s)) for s in slots]
plt.figure(figsize=(6, 4))
plt.loglog(slots, np.array(evaluations) / n, "o-")
plt.xlabel("states stored (slots s)")
plt.ylabel("step evaluations / n")
plt.title("binomial checkpointing, n = 1000 steps")
plt.grid(True, which="both", alpha=0.3)

# %% [markdown]
# ## 2. Measured: an ODE integration reversed under each schedule
#
# `ad.loop(step, carry, n, checkpoints=s)` runs the loop on plain arrays and reverses it by
# the schedule, each step on its own one-step tape. The gradient is the same float
# operations whatever s: bit for bit the same.

# %%
def step(x, dt=0.01):
    return x + dt * anp.stack([x[1], -anp.sin(x[0]) - 0.1 * x[1]])   # a damped pendulum


x0 = np.array([1.0, 0.0])
steps = 200


def objective(**how):
    return ad.grad(lambda x: anp.sum(ad.loop(step, x, steps, **how) ** 2))


def measure(fn):
    fn(x0)
    tracemalloc.start()
    fn(x0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    start = time.perf_counter()
    fn(x0)
    return time.perf_counter() - start, peak


stored_time, stored_peak = measure(objective())
reference = objective()(x0)
rows = []
for s in (2, 4, 8, 16, 64, 200):
    seconds, peak = measure(objective(checkpoints=s))
    same = np.array_equal(objective(checkpoints=s)(x0), reference)
    rows.append((s, seconds, peak, same))
    print(f"s = {s:>3}: {seconds / stored_time:5.2f}x the stored run's time, "
          f"{peak / stored_peak:.3f}x its peak memory, gradient identical: {same}")
plt.figure(figsize=(6, 4))
plt.loglog([r[2] / stored_peak for r in rows], [r[1] / stored_time for r in rows], "o-",
           label="ad.loop(checkpoints=s)")
for s, seconds, peak, _ in rows:
    plt.annotate(f"s={s}", (peak / stored_peak, seconds / stored_time), fontsize=8)
plt.plot([1.0], [1.0], "s", label="every step stored")
plt.xlabel("peak memory / stored run's")
plt.ylabel("time / stored run's")
plt.legend()
plt.title(f"memory against time, {steps} steps (measured)")

# %% [markdown]
# ## 3. `ad.checkpoint`: recompute a block in the sweep
#
# Wrapping a block of layers keeps only its inputs for the sweep; the block is re-run on a
# tape when its cotangent arrives. What a recording keeps (allocated after `ad.vjp` has
# recorded, before the sweep):

# %%
rng = np.random.default_rng(0)
weights = [rng.standard_normal((64, 64)) / 8.0 for _ in range(40)]
batch = rng.standard_normal((32, 64))


def block(h, ws):
    for w in ws:
        h = anp.tanh(h @ w)
    return h


def network(wrap, size):
    run = wrap(block)

    def f(ws):
        h = batch
        for start in range(0, len(ws), size):
            h = run(h, ws[start:start + size])
        return anp.sum(h ** 2)
    return f


def kept(f):
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    _, pullback = ad.vjp(f, weights)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return after - before


plain = network(lambda g: g, 40)
stored, reference = kept(plain), ad.grad(plain)(weights)
for size in (1, 5, 10):
    f = network(ad.checkpoint, size)
    same = all(np.array_equal(a, b) for a, b in zip(ad.grad(f)(weights), reference))
    print(f"checkpoint per {size:>2} layers: keeps {kept(f) / stored:.3f}x of the stored "
          f"run's memory; gradient identical: {same}")

# %% [markdown]
# ## 4. Forward mode keeps no tape
#
# The seed's other point (前向模式累加避免了存储整个图的值和梯度): forward-mode accumulation
# carries tangents along with the values and stores nothing for later. A directional
# derivative of the 200-step loop by `jvp` allocates no more than a few states, whatever n:

# %%
def loop_plain(x):
    return ad.loop(step, x, steps)


tracemalloc.start()
ad.jvp(loop_plain, (x0,), (np.array([1.0, 0.0]),))
_, forward_peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(f"jvp through {steps} steps: peak {forward_peak / 1024:.0f} KiB; the taped gradient: "
      f"{stored_peak / 1024:.0f} KiB")

# %% [markdown]
# ## 5. Any program under a memory budget
#
# `ad.checkpoint` and `ad.loop` need the program's structure; `grad(f, memory_budget=B)`
# does not. One run that keeps nothing measures what each entry's residuals would cost; the
# cost model (`ad.cost.memory.plan_recompute`) then picks segments of entries that keep
# only their inputs and are re-run in the sweep, the least predicted extra work that fits
# (a knapsack over segments). `cost_report(..., memory_budget=B)` prints the same plan
# beside the other rows: forward mode keeps no tape at all. Here the 40-layer network's
# gradient with respect to its input (the weights fixed, so the peak measured during the
# gradient is the tape's):

# %%
def of_input(h):
    return anp.sum(block(h, weights) ** 2)


least, most = ad.cost_report(of_input, batch).memory_range
print(ad.cost_report(of_input, batch, memory_budget=(least + most) // 2))


def measured(g):
    g(batch)
    tracemalloc.start()
    g(batch)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        g(batch)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), peak


plain_grad = ad.grad(of_input)
base_time, base_peak = measured(plain_grad)
expected = plain_grad(batch)
points = []
for share in (0.9, 0.7, 0.5, 0.3, 0.1, 0.0):
    budget = int(least + share * (most - least))
    g = ad.grad(of_input, memory_budget=budget)
    seconds, peak = measured(g)
    same = np.array_equal(g(batch), expected)
    points.append((peak / base_peak, seconds / base_time))
    print(f"budget {budget / base_peak:.2f}x: peak {peak / base_peak:.3f}x (under the budget: "
          f"{peak <= budget}), time {seconds / base_time:.2f}x, "
          f"identical: {same}; {g.recorder.plan.extra_evaluations:.2f} extra evaluations "
          "predicted")
plt.figure(figsize=(6, 4))
plt.plot(*zip(*points), "o-", label="grad(f, memory_budget=B)")
plt.plot([1.0], [1.0], "s", label="stored")
plt.xlabel("peak memory / stored")
plt.ylabel("time / stored")
plt.legend()
plt.title("a 40-layer network under memory budgets (measured)")

# %% [markdown]
# Each point recomputes more of the program for less memory: the Pareto front of the
# seed's trade, chosen by the cost model rather than by hand. A policy keeps some values
# inside a checkpoint instead: `ad.checkpoint(layer, policy=ad.checkpoint_policies.
# dots_saveable)` keeps the matrix products (the sweep's re-run skips them and recomputes
# only the cheap tanh), `save_only_these_names(...)` keeps what `ad.checkpoint_name` marks.
