"""Is `jacobian(mode="auto")` right on programs it was not tuned for? (issue 11)

Run from the repository root::

    python -m benchmarks.auto_suite [--quick] [--repeats 7] [--json FILE] [--record]

A suite of programs of varied shape (stencils, banded chains, matrix inputs and outputs,
reductions, gathers and scatters, solves, scalar loops, wide and tall MLPs, mixed-width
chains). For each: the measured time of `jacfwd`, `jacrev` and `jacobian(mode="auto")` (its
remembered decision: what a user's loop pays), the mode auto chose, its *regret* (auto's
time over the better pure mode's, paired per round) and its *choice regret* (the chosen
mode's time over the better one's, from the same pure-mode measurements: the decision's cost
without the noise of timing a third loop) and what the fixed rules would have paid: ADOL-C
(forward iff n/2 < m), CppAD (forward iff n <= m), CasADi (forward iff n <= 2m: a fixed 2:1
weight) and JAX's `jacobian` (always reverse). The first call of auto (recording, the
prediction and the chosen mode) is reported over the chosen mode's time: the price of the
selection; the selection alone (counting the recording and predicting, what auto adds to the
recording the chosen mode reuses, as that first call timed it: `report.selection_seconds`)
likewise, and the same on fresh recordings of f afterwards ("again", the median of
SELECTIONS: the process has met f's entries once). Then the same for a held-out set:
twelve programs written after the model was tuned on the suite (nested Hessians, einsum,
attention, pairwise distances, 2-D stencils by slicing, scans, fixed-point loops), never
tuned on. Times are medians over
rounds that time every mode once each (drifts in load hit all alike), in one process, under
the default threading (as `python -m ad.calibrate` measures); only ratios are meant to be
read (the machine is shared and noisy).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import ad
import ad.cost.calibration
import ad.numpy as anp
from ad.cost import predict, tape_counts
from ad.recording import Recording
from benchmarks import machine

RESULTS = Path(__file__).resolve().parent / "results"

Program = tuple[str, Callable, np.ndarray]


# ----------------------------------------------------------------------------- the programs
def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def brusselator(n: int):
    """2-D Brusselator right-hand side on an n x n periodic grid (roll stencils)."""
    def f(y):
        u, v = y[:n * n].reshape(n, n), y[n * n:].reshape(n, n)
        lap = lambda w: (anp.roll(w, 1, 0) + anp.roll(w, -1, 0) + anp.roll(w, 1, 1)  # noqa
                         + anp.roll(w, -1, 1) - 4.0 * w)
        du = 1.0 + u * u * v - 4.4 * u + 0.1 * lap(u)
        dv = 3.4 * u - u * u * v + 0.1 * lap(v)
        return anp.concatenate([anp.ravel(du), anp.ravel(dv)])
    return f, _rng(1).uniform(0.5, 1.5, 2 * n * n)


def tridiagonal(n: int):
    """x[i-1] - 2 x[i] + x[i+1] with sin/cos nonlinearities (slices, concatenate)."""
    def f(x):
        inner = x[:-2] - 2.0 * anp.sin(x[1:-1]) + anp.cos(x[2:])
        return anp.concatenate([x[:1] ** 2, inner, x[-1:] ** 2])
    return f, _rng(2).standard_normal(n)


def heat_1d(n: int, steps: int = 10):
    """Explicit heat steps with a nonlinear source: a square stencil repeated."""
    def f(u):
        for _ in range(steps):
            u = u + 0.1 * (anp.roll(u, 1) - 2.0 * u + anp.roll(u, -1)) + 0.01 * anp.tanh(u)
        return u
    return f, _rng(3).standard_normal(n)


def gram_tanh(rows: int, cols: int):
    """tanh(X @ X.T): a matrix input, a matrix output."""
    return (lambda x: anp.tanh(anp.reshape(x, (rows, cols)) @ anp.reshape(x, (rows, cols)).T),
            _rng(4).standard_normal(rows * cols) / cols)


def elementwise_map(n: int):
    """A square diagonal Jacobian: exp(sin(x)) * x."""
    return (lambda x: anp.exp(anp.sin(x)) * x), _rng(5).standard_normal(n)


def mlp(n: int, hidden: int, m: int):
    """tanh(W2 tanh(W1 x)): wide (n > m) or tall (n < m)."""
    r = _rng(6)
    w1, w2 = r.standard_normal((hidden, n)) / math.sqrt(n), r.standard_normal((m, hidden))
    return (lambda x: anp.tanh(w2 @ anp.tanh(w1 @ x))), r.standard_normal(n)


def softmax(n: int):
    """softmax(x): a dense Jacobian through a reduction."""
    def f(x):
        e = anp.exp(x - anp.max(x))
        return e / anp.sum(e)
    return f, _rng(7).standard_normal(n)


def cumsum_map(n: int):
    """cumsum(x ** 2): a triangular Jacobian from a scan."""
    return (lambda x: anp.cumsum(x * x)), _rng(8).standard_normal(n)


def norm_scale(n: int):
    """x / ||x||: a rank-one update of a diagonal."""
    return (lambda x: x / anp.linalg.norm(x)), _rng(9).standard_normal(n)


def gather(n: int, m: int):
    """A gather: m picks (with repeats) of n inputs, squared."""
    index = _rng(10).integers(0, n, m)
    return (lambda x: x[index] ** 2), _rng(11).standard_normal(n)


def scatter(n: int, m: int):
    """A scatter-add: n inputs added into m bins."""
    index = _rng(12).integers(0, m, n)
    return (lambda x: anp.at(anp.zeros(m))[index].add(anp.sin(x))), _rng(13).standard_normal(n)


def linear_solve(n: int):
    """solve(A, tanh(b)) with a fixed well-conditioned A."""
    a = _rng(14).standard_normal((n, n)) + n * np.eye(n)
    return (lambda b: anp.linalg.solve(a, anp.tanh(b))), _rng(15).standard_normal(n)


def solve_in_matrix(n: int):
    """solve(A(x), 1): the matrix is the input."""
    ones = np.ones(n)
    return (lambda x: anp.linalg.solve(anp.reshape(x, (n, n)) + n * np.eye(n), ones),
            _rng(16).standard_normal(n * n))


def ode_trajectory(steps: int):
    """Lotka-Volterra, RK4: parameters and state (4 inputs) -> the whole trajectory."""
    def rhs(s, p):
        x, y = s[0], s[1]
        return anp.stack([p[0] * x - p[1] * x * y, p[1] * x * y - p[0] * 0.5 * y])

    def f(theta):
        p, s = theta[:2], theta[2:]
        out = []
        for _ in range(steps):
            k1 = rhs(s, p)
            k2 = rhs(s + 0.05 * k1, p)
            k3 = rhs(s + 0.05 * k2, p)
            k4 = rhs(s + 0.1 * k3, p)
            s = s + (0.1 / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            out.append(s)
        return anp.concatenate(out)
    return f, np.array([1.1, 0.4, 1.0, 0.5])


def scalar_loop(n: int, steps: int):
    """A scalar recurrence over every input: many tiny ops, n inputs, one output each."""
    def f(x):
        y = x
        for _ in range(steps):
            y = anp.sin(y) * 0.9 + 0.1 * x
        return y
    return f, _rng(17).standard_normal(n)


def mixed_chain(widths: Sequence[int]):
    """Dense maps with tanh between them, of mixed widths."""
    r = _rng(18)
    ws = [r.standard_normal((b, a)) / math.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]

    def f(x):
        for w in ws:
            x = anp.tanh(w @ x)
        return x
    return f, r.standard_normal(widths[0])


def outer_features(n: int):
    """All pairwise products x_i x_j: n inputs, n^2 outputs."""
    return (lambda x: anp.ravel(anp.outer(x, anp.sin(x)))), _rng(19).standard_normal(n)


def logsumexp_rows(rows: int, cols: int):
    """Row-wise log-sum-exp of a matrix input: rows*cols -> rows."""
    def f(x):
        z = anp.reshape(x, (rows, cols))
        zmax = anp.max(z, axis=1, keepdims=True)
        return anp.log(anp.sum(anp.exp(z - zmax), axis=1)) + anp.ravel(zmax)
    return f, _rng(20).standard_normal(rows * cols)


def _suite(quick: bool) -> list[Program]:
    scale = 1 if not quick else 0
    programs = [
        ("brusselator 2x16^2", *brusselator(16)),
        ("brusselator 2x32^2", *brusselator(32 if scale else 20)),
        ("tridiagonal 500", *tridiagonal(500)),
        ("tridiagonal 2000", *tridiagonal(2000 if scale else 800)),
        ("heat 1-D 400 x10", *heat_1d(400)),
        ("tanh(X X^T) 20x30", *gram_tanh(20, 30)),
        ("tanh(X X^T) 40x10", *gram_tanh(40, 10)),
        ("elementwise 100", *elementwise_map(100)),
        ("elementwise 1000", *elementwise_map(1000)),
        ("MLP wide 500-50-5", *mlp(500, 50, 5)),
        ("MLP tall 5-50-500", *mlp(5, 50, 500)),
        ("MLP square 200-200-200", *mlp(200, 200, 200)),
        ("MLP 50-400-50", *mlp(50, 400, 50)),
        ("softmax 300", *softmax(300)),
        ("cumsum 500", *cumsum_map(500)),
        ("x/||x|| 400", *norm_scale(400)),
        ("gather 300->900", *gather(300, 900)),
        ("gather 900->100", *gather(900, 100)),
        ("scatter 900->100", *scatter(900, 100)),
        ("scatter 100->900", *scatter(100, 900)),
        ("solve 100", *linear_solve(100)),
        ("solve 200", *linear_solve(200)),
        ("solve in A 12x12", *solve_in_matrix(12)),
        ("Lotka-Volterra RK4 50 steps", *ode_trajectory(50)),
        ("scalar loop 20 x30", *scalar_loop(20, 30)),
        ("scalar loop 200 x10", *scalar_loop(200, 10)),
        ("chain 300-30-300-30-300", *mixed_chain((300, 30, 300, 30, 300))),
        ("chain 10-300-300-10", *mixed_chain((10, 300, 300, 10))),
        ("chain 400-100-10-100-400", *mixed_chain((400, 100, 10, 100, 400))),
        ("outer 40 -> 1600", *outer_features(40)),
        ("logsumexp rows 50x40", *logsumexp_rows(50, 40)),
        ("logsumexp rows 5x400", *logsumexp_rows(5, 400)),
    ]
    return programs


# ----------------------------------------------------------------------------- held out
# Programs written after the model was tuned on the suite above (never tuned on): nested
# transforms, einsum, attention, pairwise distances, stencils by slicing, Horner loops.
def heat_2d(n: int, steps: int = 5):
    """Explicit 2-D heat steps by slicing and padding, with a cubic source."""
    def f(x):
        u = anp.reshape(x, (n, n))
        for _ in range(steps):
            inner = (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:]
                     - 4.0 * u[1:-1, 1:-1])
            u = u + 0.1 * anp.pad(inner, 1) + 0.01 * u ** 3
        return anp.ravel(u)
    return f, _rng(30).standard_normal(n * n)


def pairwise_distances(n: int):
    """All pairwise distances of n points in the plane (broadcast differences)."""
    def f(x):
        p = anp.reshape(x, (n, 2))
        d = p[:, None, :] - p[None, :, :]
        return anp.ravel(anp.sqrt(anp.sum(d * d, axis=-1) + 1e-3))
    return f, _rng(31).standard_normal(2 * n)


def horner(n: int, degree: int):
    """A polynomial evaluated by Horner's rule, elementwise."""
    c = _rng(32).standard_normal(degree)

    def f(x):
        y = anp.zeros_like(x)
        for k in range(degree):
            y = y * x + c[k]
        return y
    return f, _rng(33).standard_normal(n)


def logistic_hessian(n: int, d: int):
    """The Jacobian of a logistic loss's gradient (a Hessian: reverse inside)."""
    a, y = _rng(34).standard_normal((n, d)), (_rng(35).random(n) > 0.5) * 1.0

    def loss(w):
        z = a @ w
        return anp.sum(anp.logaddexp(0.0, z) - y * z)
    return ad.grad(loss), 0.1 * _rng(36).standard_normal(d)


def rosenbrock_hessian(n: int):
    """The Jacobian of the Rosenbrock function's gradient."""
    def rosen(x):
        return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    return ad.grad(rosen), _rng(37).standard_normal(n)


def convolution(n: int, k: int):
    """A valid 1-D convolution by shifted slices, then tanh."""
    w = _rng(38).standard_normal(k)

    def f(x):
        out = 0.0
        for j in range(k):
            out = out + w[j] * x[j:n - k + 1 + j]
        return anp.tanh(out)
    return f, _rng(39).standard_normal(n)


def cumprod_map(n: int):
    """A running product (a triangular Jacobian from a multiplicative scan)."""
    return (lambda x: anp.cumprod(1.0 + 0.01 * anp.sin(x))), _rng(40).standard_normal(n)


def attention(t: int, d: int):
    """Self-attention of t tokens of width d (queries, keys and values all x)."""
    def f(x):
        q = anp.reshape(x, (t, d))
        s = q @ q.T / math.sqrt(d)
        s = s - anp.max(s, axis=1, keepdims=True)
        p = anp.exp(s)
        p = p / anp.sum(p, axis=1, keepdims=True)
        return anp.ravel(p @ q)
    return f, _rng(41).standard_normal(t * d)


def kepler(n: int, iterations: int = 15):
    """Kepler's equation E = M + e sin E by fixed-point iteration."""
    def f(m):
        e = m
        for _ in range(iterations):
            e = m + 0.3 * anp.sin(e)
        return e
    return f, _rng(42).standard_normal(n)


def matrix_power_chain(k: int):
    """Repeated products of a k x k input matrix with itself."""
    def f(x):
        a = anp.reshape(x, (k, k))
        b = a
        for _ in range(4):
            b = b @ a * 0.5
        return anp.ravel(b)
    return f, _rng(43).standard_normal(k * k) / k


def bilinear(n: int, m: int):
    """m bilinear forms x^T W_k x by einsum."""
    w = _rng(44).standard_normal((m, n, n)) / n
    return (lambda x: anp.einsum("kij,i,j->k", w, x, x)), _rng(45).standard_normal(n)


def summaries(n: int):
    """Four summaries of a long vector: sum, sum of squares, a product, the max."""
    return (lambda x: anp.stack([anp.sum(x), anp.sum(x ** 2),
                                 anp.prod(anp.cos(x) * 0.5 + 1.0), anp.max(x)]),
            _rng(46).standard_normal(n))


def _held_out(quick: bool) -> list[Program]:
    scale = 1 if not quick else 0
    return [
        ("heat 2-D 16^2 x5", *heat_2d(16 if scale else 8)),
        ("pairwise distances 40", *pairwise_distances(40 if scale else 10)),
        ("Horner 300 x8", *horner(300 if scale else 50, 8)),
        ("logistic Hessian 200x50", *logistic_hessian(200 if scale else 40, 50 if scale else 10)),
        ("Rosenbrock Hessian 100", *rosenbrock_hessian(100 if scale else 20)),
        ("convolution 400 k5", *convolution(400 if scale else 60, 5)),
        ("cumprod 300", *cumprod_map(300 if scale else 50)),
        ("attention 10x8", *attention(10 if scale else 4, 8 if scale else 4)),
        ("Kepler 200 x15", *kepler(200 if scale else 30)),
        ("matrix power 8x8", *matrix_power_chain(8 if scale else 4)),
        ("einsum bilinear 30->20", *bilinear(30 if scale else 8, 20 if scale else 5)),
        ("summaries 1000->4", *summaries(1000 if scale else 100)),
    ]


# ----------------------------------------------------------------------------- measuring
RULES = {"ADOL-C": lambda n, m: "forward" if n / 2 < m else "reverse",
         "CppAD": lambda n, m: "forward" if n <= m else "reverse",
         "CasADi": lambda n, m: "forward" if n <= 2 * m else "reverse",
         "JAX": lambda n, m: "reverse"}


def _interleaved(fns: dict[str, Callable[[], Any]], repeats: int,
                 min_time: float = 0.05) -> dict[str, float]:
    """Median per function over `repeats` rounds; each round times every function once (a
    loop lasting >= min_time), so drifts in the machine's load hit all of them alike."""
    loops = {}
    for key, fn in fns.items():
        fn()
        start = time.perf_counter()
        fn()
        loops[key] = max(1, int(min_time / max(time.perf_counter() - start, 1e-7)))
    samples: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            for _ in range(loops[key]):
                fn()
            samples[key].append((time.perf_counter() - start) / loops[key])
    _interleaved.samples = samples      # per round, for paired ratios
    return {key: float(np.median(v)) for key, v in samples.items()}


#: Fresh selections timed per program after the first call (their median is reported).
SELECTIONS = 5


def measure(name: str, f: Callable, x: np.ndarray, repeats: int) -> dict[str, Any]:
    """Times of jacfwd, jacrev, auto (remembered decision) and auto's first call, and the
    cost model's predicted time of each mode."""
    forward, reverse = ad.jacfwd(f), ad.jacrev(f)
    J = reverse(x)
    np.testing.assert_allclose(forward(x), J, rtol=1e-8, atol=1e-10)
    auto = ad.jacobian(f)
    start = time.perf_counter()
    np.testing.assert_allclose(auto(x), J, rtol=1e-8, atol=1e-10)
    first = time.perf_counter() - start
    report = auto.report
    selection = report.selection_seconds  # what that first call spent counting, predicting
    selections = []                      # the same again, on fresh recordings of f
    for _ in range(SELECTIONS):
        recording = Recording(f, (x,), {}, (0,), False, "jacobian")
        start = time.perf_counter()
        predict(tape_counts(recording.level.tape, recording.in_ids, [x.size],
                            recording.out_ids), report.plan)
        selections.append(time.perf_counter() - start)
    again = float(np.median(selections))
    measured = _interleaved({"forward": lambda: forward(x), "reverse": lambda: reverse(x),
                             "auto": lambda: auto(x)}, repeats)
    t_fwd, t_rev, t_auto = measured["forward"], measured["reverse"], measured["auto"]
    rounds = _interleaved.samples
    settled = auto.report               # after the loops: a close call is settled by now
    n, m = int(np.size(x)), int(np.size(J) // max(np.size(x), 1))
    times = {"forward": t_fwd, "reverse": t_rev}
    best = min(times.values())
    row = {"program": name, "n": n, "m": m, "forward_s": t_fwd, "reverse_s": t_rev,
           "auto_s": t_auto, "auto": settled.choice, "predicted_choice": report.choice,
           "settled": "settled by measurement" in settled.reason,
           "faster": min(times, key=times.get),
           # paired: auto's time over the faster mode's in the same round, the median over
           # rounds (drifts in load between rounds cancel)
           "regret": float(np.median(np.array(rounds["auto"]) / np.array(
               rounds[min(times, key=times.get)]))),
           "choice_regret": times[settled.choice] / best,
           "first_call_over_chosen": first / times[report.choice],
           "selection_over_chosen": selection / times[report.choice],
           "selection_again_over_chosen": again / times[report.choice],
           "predicted_forward_s": report.forward.seconds,
           "predicted_reverse_s": report.reverse.seconds,
           "error_forward": report.forward.seconds / t_fwd,
           "error_reverse": report.reverse.seconds / t_rev,
           "predicted_ratio": report.forward.seconds / report.reverse.seconds,
           "measured_ratio": t_fwd / t_rev, "calibration": report.calibration}
    for rule, pick in RULES.items():
        row[rule] = times[pick(n, m)] / best
    return row


def run(quick: bool = False, repeats: int = 5, held_out: bool = False
        ) -> list[dict[str, Any]]:
    """The suite's rows (with `held_out`, the held-out programs' instead)."""
    ad.cost.calibration.current()   # loaded once per process: no selection's cost
    programs = _held_out(quick) if held_out else _suite(quick)
    return [measure(name, f, x, repeats) for name, f, x in programs]


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    regrets = np.array([r["regret"] for r in rows])
    errors = np.array([r[f"error_{mode}"] for r in rows for mode in ("forward", "reverse")])
    big = [r for r in rows if r[f"{r['auto']}_s"] > 1e-3]
    choice = np.array([r["choice_regret"] for r in rows])
    out = {"programs": len(rows), "regret_le_1.10": float(np.mean(regrets <= 1.10)),
           "choice_regret_le_1.10": float(np.mean(choice <= 1.10)),
           "choice_regret_max": float(choice.max()),
           "regret_max": float(regrets.max()), "regret_geomean": float(np.exp(np.log(
               regrets).mean())), "auto_picked_faster": int(sum(r["auto"] == r["faster"]
                                                             for r in rows)),
           "prediction_picked_faster": int(sum(r["predicted_choice"] == r["faster"]
                                               for r in rows)),
           "settled_by_measurement": int(sum(r["settled"] for r in rows)),
           "predicted_within_2x": float(np.mean((errors >= 0.5) & (errors <= 2.0))),
           "prediction_error_geomean": float(np.exp(np.abs(np.log(errors)).mean())),
           "selection_max_over_chosen (J > 1 ms)": max(
               (r["selection_over_chosen"] for r in big), default=0.0),
           "selection_again_max_over_chosen (J > 1 ms)": max(
               (r["selection_again_over_chosen"] for r in big), default=0.0)}
    for rule in RULES:
        differ = [r for r in rows if RULES[rule](r["n"], r["m"]) != r["auto"]]
        better = sum(r["regret"] < r[rule] for r in differ)
        out[f"vs {rule}"] = f"differs on {len(differ)}, auto faster on {better}"
        out[f"{rule} regret_geomean"] = float(np.exp(np.mean(np.log([r[rule] for r in rows]))))
    return out


def table(rows: Sequence[dict[str, Any]]) -> str:
    head = ("program", "n", "m", "fwd ms", "rev ms", "predicted", "auto", "faster", "regret",
            "choice regret",
            "pred fwd ms", "pred rev ms", "err fwd", "err rev", "ADOL-C", "CppAD", "CasADi",
            "JAX")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            r["program"], str(r["n"]), str(r["m"]), f"{r['forward_s'] * 1e3:.3g}",
            f"{r['reverse_s'] * 1e3:.3g}", r["predicted_choice"],
            r["auto"] + (" (settled)" if r["settled"] else ""), r["faster"],
            f"{r['regret']:.2f}", f"{r['choice_regret']:.2f}",
            f"{r['predicted_forward_s'] * 1e3:.3g}", f"{r['predicted_reverse_s'] * 1e3:.3g}",
            f"{r['error_forward']:.2f}", f"{r['error_reverse']:.2f}",
            *(f"{r[rule]:.2f}" for rule in RULES)]) + " |")
    return "\n".join(lines)


def solve_against_hand(n: int = 200, repeats: int = 7) -> dict[str, float]:
    """The Jacobian of solve(A, tanh(b)) by each mode against the hand-written one,
    solve(A, diag(1 - tanh(b)^2)): one factorisation and n right-hand sides."""
    f, b = linear_solve(n)
    a = _rng(14).standard_normal((n, n)) + n * np.eye(n)   # linear_solve's matrix
    def hand():
        return np.linalg.solve(a, np.diag(1.0 - np.tanh(b) ** 2))
    np.testing.assert_allclose(ad.jacfwd(f)(b), hand(), rtol=1e-10, atol=1e-13)
    auto = ad.jacobian(f)
    times = _interleaved({"hand": hand, "forward": lambda: ad.jacfwd(f)(b),
                          "reverse": lambda: ad.jacrev(f)(b), "auto": lambda: auto(b)},
                         repeats)
    return {f"{mode} / hand": times[mode] / times["hand"]
            for mode in ("forward", "reverse", "auto")} | {"hand_s": times["hand"]}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=str, help="also write the rows and summary here")
    parser.add_argument("--record", action="store_true",
                        help="write benchmarks/results/auto_suite-DATE.{json,md} with the "
                        "machine record (to commit)")
    args = parser.parse_args(argv)
    rows = run(args.quick, args.repeats)
    held = run(args.quick, args.repeats, held_out=True)
    result = {"rows": rows, "summary": summary(rows),
              "held out": held, "held-out summary": summary(held),
              "solve 200 Jacobian": solve_against_hand(200, args.repeats),
              "calibration": ad.cost.calibration.current().source,
              "machine": machine.machine(), "environment": machine.environment()}
    print(table(rows))
    print()
    for key, value in result["summary"].items():
        print(f"{key}: {value}")
    print("\nheld out (programs the model was never tuned on):")
    print(table(held))
    for key, value in result["held-out summary"].items():
        print(f"{key}: {value}")
    print("solve(A, tanh(b)), A 200 x 200, Jacobian against the hand-written "
          "solve(A, diag(1 - tanh(b)^2)):",
          ", ".join(f"{k} {v:.3g}" for k, v in result["solve 200 Jacobian"].items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)
    if args.record:
        stem = RESULTS / f"auto_suite-{time.strftime('%Y%m%d')}"
        stem.with_suffix(".json").write_text(json.dumps(result, indent=1), encoding="utf-8")
        lines = [f"### `python -m benchmarks.auto_suite --repeats {args.repeats}` — "
                 f"{time.strftime('%Y-%m-%d')}, calibration: {result['calibration']}", "",
                 f"{result['machine']['cpu']}, {result['machine']['usable_cores']} cores, "
                 f"Python {result['environment']['python']}, numpy "
                 f"{result['environment']['versions'].get('numpy')}; medians of "
                 f"{args.repeats} interleaved rounds, one process.", "", table(rows), ""]
        lines += [f"- {k}: {v}" for k, v in result["summary"].items()]
        lines.append("- solve(A, tanh(b)), A 200 x 200, Jacobian over the hand-written "
                     "solve(A, diag(1 - tanh(b)^2)): " + ", ".join(
                         f"{k} {v:.3g}" for k, v in result["solve 200 Jacobian"].items()))
        lines += ["", "Held out: programs written after the model was tuned on the suite "
                  "(never tuned on).", "", table(held), ""]
        lines += [f"- {k}: {v}" for k, v in result["held-out summary"].items()]
        stem.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"recorded {stem}.md and .json")
    return result


if __name__ == "__main__":
    main()
