"""Does the cost model hold? Predicted cost ratios against measured time ratios.

Run from the repository root::

    python -m benchmarks.cost_model [--quick] [--repeats 7]

Every function returns rows (dicts) so the benchmark suite and the notebooks can import
them; `main` prints them. Parts:

* `nm_sweep`: f(x) = tanh(B tanh(A x)) for a grid of (n, m); predicted forward/reverse cost
  ratio against the measured jacfwd/jacrev time ratio, whether `auto` picked the faster mode,
  and what the fixed rules of ADOL-C (forward iff n/2 < m) and CppAD (forward iff n <= m) pick.
* `chain_rows`: chains of dense maps with tanh between them; forward, reverse and the optimal
  plan (`ad.jacobian(chain, mode="optimal")`), predicted and measured, relative to optimal.
* `diamond`: widths 1000, 10, 1000, 10, 1000, 10, 1000: the optimal bracketing must beat both
  pure modes in measured time (and agree with them to 1e-10).
* `elimination_rows`: forward, reverse and Markowitz vertex elimination counts on the
  benchmark graphs, with a check that all three give the same Jacobian.
* `spearman`: rank correlation (average ranks for ties), computed here with NumPy.

Times are medians of repeats, and only ratios of times taken in the same process, back to
back, are reported: the machine is shared and noisy, so no absolute time is quoted. BLAS is
pinned to one thread (for this process) so that the counts, not the thread pool, decide.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from typing import Any, Callable, Sequence  # noqa: E402

import numpy as np  # noqa: E402

import ad  # noqa: E402
import ad.numpy as anp  # noqa: E402
from ad import cost  # noqa: E402

Row = dict[str, Any]

SIZES = (2, 8, 32, 64, 100, 200, 1000)
QUICK_SIZES = (2, 32, 100, 1000)
DIAMOND = (1000, 10, 1000, 10, 1000, 10, 1000)
CHAINS = ((200, 20, 200), (20, 400, 20), (500, 50, 5, 50, 500), (8, 300, 300, 8),
          (300, 30, 300, 30, 300), (1000, 100, 10, 1))
QUICK_CHAINS = ((200, 20, 200), (500, 50, 5, 50, 500))


# ----------------------------------------------------------------------------- timing
def median_time(fn: Callable[[], Any], repeats: int = 7, min_time: float = 0.02) -> float:
    """Median over `repeats` of the mean time of fn() in a loop lasting >= `min_time`."""
    fn()  # warm up (caches, lazy imports)
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    loops = max(1, int(min_time / once))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - start) / loops)
    return float(np.median(samples))


def paired_ratio(a: Callable[[], Any], b: Callable[[], Any], repeats: int = 7) -> float:
    """time(a) / time(b), both measured alternately so drifts in machine load cancel."""
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(median_time(a, 1))
        tb.append(median_time(b, 1))
    return float(np.median(ta) / np.median(tb))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson correlation of the ranks (ties get the mean rank).

    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40]), spearman([1, 2, 3], [3, 2, 1])
    (1.0, -1.0)
    """
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denominator) if denominator else float("nan")


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):            # ties: the mean of their ranks
        tied = x == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


# ----------------------------------------------------------------------------- workloads
def two_layer(n: int, m: int, hidden: int = 32, seed: int = 0):
    """f(x) = tanh(B tanh(A x)), A: hidden x n, B: m x hidden; returns (f, x)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((hidden, n)) / np.sqrt(n)
    B = rng.standard_normal((m, hidden)) / np.sqrt(hidden)

    def f(x):
        return anp.tanh(B @ anp.tanh(A @ x))
    return f, rng.standard_normal(n)


def dense_chain(widths: Sequence[int], seed: int = 0):
    """ad.chain of stages x -> tanh(W_i x), W_i: widths[i] x widths[i-1]; returns (chain, x)."""
    rng = np.random.default_rng(seed)
    stages = []
    for i in range(1, len(widths)):
        W = rng.standard_normal((widths[i], widths[i - 1])) / np.sqrt(widths[i - 1])

        def stage(x, W=W):
            return anp.tanh(W @ x)
        stage.__name__ = f"dense{i}"
        stages.append(stage)
    return ad.chain(*stages), rng.standard_normal(widths[0])


def adolc_rule(n: int, m: int) -> str:
    """ADOL-C's driver rule: forward iff n/2 < m."""
    return "forward" if n / 2 < m else "reverse"


def cppad_rule(n: int, m: int) -> str:
    """CppAD's Jacobian driver rule: forward iff n <= m."""
    return "forward" if n <= m else "reverse"


# ----------------------------------------------------------------------------- the (n, m) sweep
def nm_sweep(sizes: Sequence[int] = SIZES, repeats: int = 7) -> list[Row]:
    """One row per (n, m): predicted and measured forward/reverse ratios, and the choices."""
    rows = []
    for n in sizes:
        for m in sizes:
            f, x = two_layer(n, m)
            report = ad.cost_report(f, x)
            ratio = paired_ratio(lambda: ad.jacfwd(f)(x), lambda: ad.jacrev(f)(x), repeats)
            faster = "forward" if ratio < 1 else "reverse"
            rows.append({
                "n": n, "m": m,
                "predicted_ratio": report.ratio, "measured_ratio": ratio,
                "auto": report.choice, "faster": faster,
                "adolc": adolc_rule(n, m), "cppad": cppad_rule(n, m),
                "auto_ok": report.choice == faster,
                # how much slower the auto choice is than the faster mode (1.0 = right pick)
                "auto_penalty": _penalty(report.choice, ratio),
                "adolc_penalty": _penalty(adolc_rule(n, m), ratio),
                "cppad_penalty": _penalty(cppad_rule(n, m), ratio),
            })
    return rows


def _penalty(choice: str, ratio: float) -> float:
    """time(choice) / time(faster mode), from the measured forward/reverse ratio."""
    if choice == "forward":
        return max(ratio, 1.0)
    return max(1.0 / ratio, 1.0)


def rule_comparison(rows: Sequence[Row]) -> list[Row]:
    """For each fixed rule, the rows where it differs from auto and who was faster there."""
    out = []
    for rule in ("adolc", "cppad"):
        differ = [r for r in rows if r[rule] != r["auto"]]
        wins = [r for r in differ if r["auto_penalty"] < r[f"{rule}_penalty"]]
        out.append({
            "rule": {"adolc": "ADOL-C (forward iff n/2 < m)",
                     "cppad": "CppAD (forward iff n <= m)"}[rule],
            "rows": len(rows), "differ": len(differ), "auto_faster": len(wins),
            "rule_faster": len(differ) - len(wins),
            # geometric mean of time(auto choice) / time(rule choice) where they differ
            "geomean_auto_over_rule": float(np.exp(np.mean(
                [np.log(r["auto_penalty"] / r[f"{rule}_penalty"]) for r in differ])))
            if differ else 1.0,
            "where": [(r["n"], r["m"]) for r in differ],
        })
    return out


# ----------------------------------------------------------------------------- chains
def chain_rows(shapes: Sequence[Sequence[int]] = CHAINS, repeats: int = 7,
               check: bool = True) -> list[Row]:
    """Chains of dense+tanh stages: predicted and measured cost of forward and reverse,
    relative to the optimal plan (ratios > 1: the optimal plan is faster)."""
    rows = []
    for widths in shapes:
        f, x = dense_chain(widths)
        plan = f.plan(x)
        jf, jr = ad.jacobian(f, mode="forward"), ad.jacobian(f, mode="reverse")
        jo = ad.jacobian(f, mode="optimal")
        if check:
            J = jo(x)
            err = max(np.max(np.abs(J - jf(x))), np.max(np.abs(J - jr(x))))
            assert err <= 1e-10, f"optimal chain Jacobian differs by {err:.2e} for {widths}"
        # what mode="optimal" runs: the stage-wise plan, or a pure mode predicted cheaper
        optimal = {"plan": plan.optimal, "forward": plan.forward,
                   "reverse": plan.reverse}[plan.choice].cost
        rows.append({
            "widths": tuple(widths), "bracketing": plan.plan.bracketing(),
            "stage_modes": tuple(plan.modes), "optimal_uses": plan.choice,
            "predicted_forward_over_optimal": plan.forward.cost / optimal,
            "predicted_reverse_over_optimal": plan.reverse.cost / optimal,
            "measured_forward_over_optimal": paired_ratio(lambda: jf(x), lambda: jo(x), repeats),
            "measured_reverse_over_optimal": paired_ratio(lambda: jr(x), lambda: jo(x), repeats),
            "predicted_forward_over_reverse": plan.forward.cost / plan.reverse.cost,
        })
    for r in rows:
        r["measured_forward_over_reverse"] = (r["measured_forward_over_optimal"]
                                              / r["measured_reverse_over_optimal"])
    return rows


def diamond(repeats: int = 7, widths: Sequence[int] = DIAMOND) -> Row:
    """The diamond chain: optimal bracketing against both pure modes, measured."""
    row = chain_rows([widths], repeats)[0]
    f, x = dense_chain(widths)
    row["report"] = str(f.plan(x))
    row["speedup_vs_forward"] = row["measured_forward_over_optimal"]
    row["speedup_vs_reverse"] = row["measured_reverse_over_optimal"]
    row["optimal_beats_both"] = min(row["speedup_vs_forward"], row["speedup_vs_reverse"]) > 1
    return row


# ----------------------------------------------------------------------------- elimination
def elimination_rows(quick: bool = False) -> list[Row]:
    """Multiplications of forward, reverse and Markowitz elimination on benchmark graphs;
    every order's Jacobian is checked against jacfwd (to 1e-10)."""
    cases: list[tuple[str, Callable, np.ndarray]] = []
    for n, m in ((100, 2), (2, 100), (32, 32)):
        f, x = two_layer(n, m)
        cases.append((f"two_layer n={n} m={m}", f, x))
    for widths in ((200, 20, 200), (100, 10, 100, 10, 100)) if quick else \
            ((200, 20, 200), (500, 50, 5, 50, 500), (1000, 10, 1000, 10, 1000, 10, 1000)):
        f, x = dense_chain(widths)
        cases.append((f"chain {'-'.join(map(str, widths))}", f, x))
    rng = np.random.default_rng(1)
    y0 = rng.standard_normal(6)

    def scalar_program(y):          # a scalar DAG: where Markowitz usually shines
        a, b, c = anp.sin(y[0] * y[1]), anp.exp(y[2]) * y[3], y[4] / (1.0 + y[5] ** 2)
        d = a * b + anp.tanh(c)
        return anp.stack([d * a, d + b * c, anp.log(1.0 + d * d)])
    cases.append(("scalar DAG (6 -> 3)", scalar_program, y0))
    rows = []
    for name, f, x in cases:
        graph = ad.trace(f, x)
        lg = cost.linearize(graph)
        orders = {"forward": cost.forward_order(lg), "reverse": cost.reverse_order(lg),
                  "markowitz": cost.markowitz_order(lg)}
        reference = np.asarray(ad.jacfwd(f)(x)).reshape(graph.m, graph.n)
        row: Row = {"graph": name, "vertices": len(lg.intermediates)}
        for label, order in orders.items():
            J, mults = cost.eliminate(lg, order)
            assert np.max(np.abs(J - reference)) <= 1e-10, f"{label} elimination differs: {name}"
            row[label] = mults
        row["markowitz_over_best_pure"] = row["markowitz"] / min(row["forward"], row["reverse"])
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- printing
def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(h) for h in header]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, tuple):
        return "-".join(map(str, v))
    return str(v)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    print(f"cost model benchmark ({'quick' if args.quick else 'full'}; medians of {repeats} "
          "paired repeats; only ratios are reported)\n")

    rows = nm_sweep(QUICK_SIZES if args.quick else SIZES, repeats)
    print("1. f(x) = tanh(B tanh(A x)), hidden 32: forward/reverse cost, predicted vs measured")
    print(_table([(r["n"], r["m"], r["predicted_ratio"], r["measured_ratio"], r["auto"],
                   r["faster"], r["auto_ok"], r["auto_penalty"], r["adolc"], r["cppad"])
                  for r in rows],
                 ("n", "m", "pred fwd/rev", "meas fwd/rev", "auto", "faster", "auto ok",
                  "auto slowdown", "ADOL-C", "CppAD")))
    wrong = [r for r in rows if not r["auto_ok"]]
    rho_nm = spearman([r["predicted_ratio"] for r in rows], [r["measured_ratio"] for r in rows])
    print(f"\nauto picked the faster mode on {len(rows) - len(wrong)}/{len(rows)} rows; "
          f"Spearman rank correlation (predicted vs measured ratio): {rho_nm:.3f}")
    for r in wrong:
        print(f"  wrong pick at n={r['n']}, m={r['m']}: auto said {r['auto']} (predicted "
              f"ratio {r['predicted_ratio']:.3g}), measured ratio {r['measured_ratio']:.3g}, "
              f"so the pick is {r['auto_penalty']:.2f}x slower than the other mode")
    print("\n2. auto against the fixed rules, where they differ")
    comparison = rule_comparison(rows)
    print(_table([(c["rule"], c["differ"], c["auto_faster"], c["rule_faster"],
                   c["geomean_auto_over_rule"]) for c in comparison],
                 ("rule", "rows differing", "auto faster", "rule faster",
                  "geomean time auto/rule")))

    chains = chain_rows(QUICK_CHAINS if args.quick else CHAINS, repeats)
    print("\n3. chains of dense+tanh stages: cost relative to mode='optimal' (> 1: optimal is "
          "faster; it runs the stage-wise plan, or a pure mode when that is predicted cheaper)")
    print(_table([(c["widths"], c["bracketing"], "".join(m[0] for m in c["stage_modes"]),
                   c["optimal_uses"], c["predicted_forward_over_optimal"], c["measured_forward_over_optimal"],
                   c["predicted_reverse_over_optimal"], c["measured_reverse_over_optimal"])
                  for c in chains],
                 ("widths", "product order", "stages", "optimal uses", "pred fwd/opt",
                  "meas fwd/opt",
                  "pred rev/opt", "meas rev/opt")))

    d = diamond(repeats)
    print("\n4. the diamond chain " + "-".join(map(str, DIAMOND)))
    print(d["report"])
    print(f"measured: optimal is {d['speedup_vs_forward']:.2f}x faster than forward mode and "
          f"{d['speedup_vs_reverse']:.2f}x faster than reverse mode "
          f"({'beats both' if d['optimal_beats_both'] else 'DOES NOT beat both'}); "
          "all three agree to 1e-10")

    predicted = ([r["predicted_ratio"] for r in rows]
                 + [c["predicted_forward_over_reverse"] for c in chains + [d]]
                 + [c["predicted_forward_over_optimal"] for c in chains + [d]]
                 + [c["predicted_reverse_over_optimal"] for c in chains + [d]])
    measured = ([r["measured_ratio"] for r in rows]
                + [c["measured_forward_over_reverse"] for c in chains + [d]]
                + [c["measured_forward_over_optimal"] for c in chains + [d]]
                + [c["measured_reverse_over_optimal"] for c in chains + [d]])
    rho = spearman(predicted, measured)
    print(f"\nSpearman rank correlation over all {len(predicted)} predicted/measured ratios: "
          f"{rho:.3f}")

    elim = elimination_rows(args.quick)
    print("\n5. vertex elimination: multiplications by order (all orders give the same "
          "Jacobian, checked to 1e-10)")
    print(_table([(e["graph"], e["vertices"], e["forward"], e["reverse"], e["markowitz"],
                   e["markowitz_over_best_pure"]) for e in elim],
                 ("graph", "vertices", "forward", "reverse", "Markowitz", "Markowitz/best")))
    return {"nm": rows, "rules": comparison, "chains": chains, "diamond": d,
            "spearman_nm": rho_nm, "spearman_all": rho, "elimination": elim}


if __name__ == "__main__":
    main()
