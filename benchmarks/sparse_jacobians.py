"""Sparse Jacobians and Hessians (issue 13): detection, colouring and compressed evaluation
against `ad`'s dense Jacobians, with asdex (on JAX) beside them.

Run from the repository root::

    python -m benchmarks.sparse_jacobians [--repeats 7] [--record]

Parts: colour counts on fixed patterns (banded with bandwidth 1, 2 and 5, a 2-D 5-point
stencil, block-diagonal, random 1%, arrowhead: the same functions as the peers' script)
for `ad`'s column, row and bidirectional colourings; the 2-D Brusselator (N = 32, a 2048 x
2048 Jacobian): detection, colouring, the prepared sparse Jacobian against the dense
forward one (interleaved rounds), and the one-off cost (detection + colouring + first
evaluation) against the dense Jacobian for growing n; the chained Rosenbrock Hessian
(star colouring; dense at n = 2,000, sparse only at n = 10,000) and a 2-D grid energy.
When the peers' venv exists, `benchmarks.sparse_peers` runs asdex and JAX in the same run.
Only ratios are meant to be read (the machine is shared and noisy).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import ad
import ad.numpy as anp
from ad.sparse import coloring
from benchmarks import machine
from benchmarks.auto_suite import _interleaved, brusselator
from benchmarks.compiled_tapes import _time, peers

RESULTS = Path(__file__).resolve().parent / "results"


# ----------------------------------------------------------------------------- the programs
def banded(n: int, b: int):
    """y_i = sum_{|k| <= b} sin(x_{i+k}), zero padding at the ends."""
    def f(x):
        s = anp.pad(anp.sin(x), b)
        total = s[0:n]
        for k in range(1, 2 * b + 1):
            total = total + s[k:k + n]
        return total
    return f


def stencil5(g: int):
    """y = 4 u - (4 neighbours, zero boundary) + tanh(u) on a g x g grid."""
    def f(x):
        u = anp.reshape(x, (g, g))
        up = anp.pad(u, 1)
        nb = up[:-2, 1:-1] + up[2:, 1:-1] + up[1:-1, :-2] + up[1:-1, 2:]
        return anp.ravel(4.0 * u - nb + anp.tanh(u))
    return f


def block_diagonal(n: int, size: int):
    B = np.random.default_rng(2).standard_normal((size, size))

    def f(x):
        return anp.ravel(anp.reshape(anp.tanh(x), (-1, size)) @ B.T)
    return f


def random_pattern(n: int, density: float):
    mask = np.random.default_rng(0).random((n, n)) < density
    np.fill_diagonal(mask, True)
    rows, cols = np.nonzero(mask)
    w = np.random.default_rng(3).standard_normal(len(rows))

    def f(x):
        return (x * 0.0).at[rows].add(anp.sin(x)[cols] * w)
    return f


def arrowhead(n: int):
    def f(x):
        return anp.concatenate([anp.sum(x * x)[None], x[1:] ** 3 + x[0]])
    return f


PATTERNS = {
    "banded b=1": (banded(1000, 1), 1000),
    "banded b=2": (banded(1000, 2), 1000),
    "banded b=5": (banded(1000, 5), 1000),
    "5-point stencil 32x32": (stencil5(32), 1024),
    "block-diagonal 4": (block_diagonal(1000, 4), 1000),
    "random 1%": (random_pattern(1000, 0.01), 1000),
    "arrowhead 1000": (arrowhead(1000), 1000),
}


def rosenbrock(x):
    return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def grid_energy(g: int):
    def f(u):
        grid = anp.reshape(u, (g, g))
        return (anp.sum((grid[1:] - grid[:-1]) ** 4)
                + anp.sum((grid[:, 1:] - grid[:, :-1]) ** 4)) / 4 + anp.sum(anp.cos(u))
    return f


# ----------------------------------------------------------------------------- measurements
def _seconds(fn: Callable, repeats: int) -> float:
    return _interleaved({"fn": fn}, repeats)["fn"]


def colours(repeats: int) -> dict[str, dict[str, Any]]:
    out = {}
    for name, (f, n) in PATTERNS.items():
        x = np.random.default_rng(5).uniform(0.5, 1.5, n)
        pattern = ad.sparsity(f, x)
        col = coloring.column_coloring(pattern)
        row = coloring.row_coloring(pattern)
        bi = coloring.bicoloring(pattern)
        jac = ad.jacobian(f, sparse=True)
        got = jac(x)
        np.testing.assert_allclose(got.toarray(), ad.jacfwd(f)(x), rtol=1e-12, atol=1e-12)
        out[name] = {"n": n, "nnz": int(pattern.nnz), "column": col.n_colors,
                     "row": row.n_colors,
                     "bicoloured": bi.n_column_colors + bi.n_row_colors,
                     "chosen": jac.report.choice,
                     "column colouring_s": _seconds(lambda: coloring.column_coloring(pattern),
                                                    repeats)}
    return out


def brusselator_part(repeats: int) -> dict[str, Any]:
    f, x = brusselator(32)
    sparse_jac = ad.jacobian(f, sparse=True)
    got = sparse_jac(x)                         # prepares: detection and colouring
    dense = ad.jacfwd(f)
    want = dense(x)
    error = float(np.abs(got.toarray() - want).max())
    pattern = ad.sparsity(f, x)
    times = _interleaved({
        "detection": lambda: ad.sparsity(f, x),
        "column colouring": lambda: coloring.column_coloring(pattern),
        "all colourings": lambda: (coloring.column_coloring(pattern),
                                   coloring.row_coloring(pattern),
                                   coloring.bicoloring(pattern)),
        "sparse (prepared)": lambda: sparse_jac(x),
        "dense forward": lambda: dense(x),
        "dense reverse": lambda: ad.jacrev(f)(x),
    }, repeats)
    samples = _interleaved.samples
    paired = float(np.median(np.array(samples["dense forward"])
                             / np.array(samples["sparse (prepared)"])))
    return {"n": x.size, "nnz": int(got.nnz), "colours": sparse_jac.report.colorings,
            "chosen": sparse_jac.report.choice, "max abs error": error,
            "times_s": times, "speed-up over dense forward": paired,
            "report": str(sparse_jac.report)}


def one_off(repeats: int) -> list[dict[str, Any]]:
    """Detection + colouring + first evaluation (a fresh jacobian(sparse=True) each time)
    against one dense forward Jacobian, for growing Brusselators."""
    rows = []
    for grid in (8, 12, 16, 24, 32):
        f, x = brusselator(grid)
        times = _interleaved({"sparse one-off": lambda: ad.jacobian(f, sparse=True)(x),
                              "dense forward": lambda: ad.jacfwd(f)(x)}, repeats)
        rows.append({"n": x.size, "one-off_s": times["sparse one-off"],
                     "dense forward_s": times["dense forward"],
                     "ratio": times["dense forward"] / times["sparse one-off"]})
    return rows


def hessians(repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    x = np.random.default_rng(4).uniform(0.3, 1.2, 2000)
    sparse_h = ad.hessian(rosenbrock, sparse=True)
    got = sparse_h(x)
    dense_h = ad.hessian(rosenbrock)
    error = float(np.abs(got.toarray() - dense_h(x)).max())
    times = _interleaved({"sparse (prepared)": lambda: sparse_h(x),
                          "dense": lambda: dense_h(x)}, max(3, repeats // 2))
    out["rosenbrock n=2000"] = {"colours": sparse_h.report.colorings["star-coloured"],
                                "max abs error": error, "times_s": times,
                                "speed-up": times["dense"] / times["sparse (prepared)"]}
    x = np.random.default_rng(4).uniform(0.3, 1.2, 10_000)
    sparse_h = ad.hessian(rosenbrock, sparse=True)
    start = time.perf_counter()
    sparse_h(x)
    first = time.perf_counter() - start
    out["rosenbrock n=10^4"] = {
        "colours": sparse_h.report.colorings["star-coloured"], "first call_s": first,
        "prepared_s": _seconds(lambda: sparse_h(x), repeats),
        "detection_s": _seconds(lambda: ad.sparsity(rosenbrock, x, hessian=True), repeats),
        "predicted dense_s": sparse_h.report.candidate("dense").seconds}
    energy = grid_energy(100)
    u = np.random.default_rng(4).uniform(0.3, 1.2, 10_000)
    sparse_h = ad.hessian(energy, sparse=True)
    sparse_h(u)
    out["grid energy 100x100"] = {"colours": sparse_h.report.colorings["star-coloured"],
                                  "prepared_s": _seconds(lambda: sparse_h(u), repeats)}
    return out


# ----------------------------------------------------------------------------- the report
def report(result: dict[str, Any]) -> str:
    theirs = result["peers"].get("colours", {})
    lines = ["| pattern | n | nnz | ad column | ad row | ad bicoloured (total) | ad chooses "
             "| asdex (best one-sided) | asdex star (symmetric only) |", "|" + "---|" * 9]
    for name, r in result["colours"].items():
        peer = theirs.get(name, {})
        lines.append(f"| {name} | {r['n']} | {r['nnz']} | {r['column']} | {r['row']} | "
                     f"{r['bicoloured']} | {r['chosen']} | {peer.get('asdex', '-')} | "
                     f"{peer.get('star (symmetric=True)', '-')} |")
    b = result["brusselator"]
    t = b["times_s"]
    pb = result["peers"].get("brusselator", {})

    def peer(key: str) -> str:      # a peer's time, "-" where it did not run (no asdex)
        return _time(pb[key]) if key in pb else "-"
    lines += ["", f"**2-D Brusselator, N = 32** ({b['n']} x {b['n']}, {b['nnz']} nonzeros, "
              f"colours {b['colours']}, chosen: {b['chosen']}, max abs error "
              f"{b['max abs error']:.1e})", "",
              "| step | ad | asdex / JAX |", "|---|---|---|",
              f"| detection | {_time(t['detection'])} | "
              f"{peer('asdex detection, GC paused_s')} (GC paused) |",
              f"| column colouring | {_time(t['column colouring'])} | "
              f"{peer('asdex colouring_s')} |",
              f"| column + row + bicolouring | {_time(t['all colourings'])} | - |",
              f"| sparse Jacobian, prepared | {_time(t['sparse (prepared)'])} | "
              f"{peer('asdex jit, bcoo output_s')} (jit, BCOO) |",
              f"| dense forward | {_time(t['dense forward'])} | "
              f"{peer('JAX jacfwd jit_s')} (jit) |",
              f"| dense reverse | {_time(t['dense reverse'])} | "
              f"{peer('JAX jacrev jit_s')} (jit) |",
              f"| speed-up, sparse over dense forward (paired rounds) | "
              f"{b['speed-up over dense forward']:.0f}x | "
              + (f"{pb['JAX jacfwd jit_s'] / pb['asdex jit, bcoo output_s']:.0f}x |"
                 if {'JAX jacfwd jit_s', 'asdex jit, bcoo output_s'} <= set(pb) else "- |"),
              "", "One-off cost (a fresh `jacobian(f, sparse=True)`: detection, colouring, "
              "first evaluation) against one dense forward Jacobian:", "",
              "| n | one-off sparse | dense forward | dense / one-off |", "|---|---|---|---|"]
    for r in result["one-off"]:
        lines.append(f"| {r['n']} | {_time(r['one-off_s'])} | {_time(r['dense forward_s'])} | "
                     f"{r['ratio']:.2g}x |")
    h = result["hessians"]
    ph = result["peers"].get("hessian", {})
    r2, r4, ge = h["rosenbrock n=2000"], h["rosenbrock n=10^4"], h["grid energy 100x100"]
    lines += ["", "**Hessians** (star colouring, forward-over-reverse per colour):", "",
              "| Hessian | colours (ad / asdex) | sparse | dense | speed-up |",
              "|---|---|---|---|---|",
              f"| chained Rosenbrock n = 2,000 | {r2['colours']} / "
              f"{ph.get('n=2000: colours', '-')} | {_time(r2['times_s']['sparse (prepared)'])} | "
              f"{_time(r2['times_s']['dense'])} | {r2['speed-up']:.0f}x |",
              f"| chained Rosenbrock n = 10,000 | {r4['colours']} / {ph.get('colours', '-')} | "
              f"{_time(r4['prepared_s'])} (first call {_time(r4['first call_s'])}, "
              f"detection {_time(r4['detection_s'])}) | not formed (predicted "
              f"{_time(r4['predicted dense_s'])}) | - |",
              f"| grid energy 100 x 100 | {ge['colours']} / "
              f"{theirs.get('grid energy hessian 100x100', {}).get('asdex', '-')} | "
              f"{_time(ge['prepared_s'])} | - | - |"]
    if result["peers"]:
        lines += ["", "asdex " + str(result["peers"].get("versions", {}).get("asdex"))
                  + " on JAX " + str(result["peers"].get("versions", {}).get("jax"))
                  + "; " + " ".join(result["peers"].get("notes", []))]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--record", action="store_true",
                        help="write benchmarks/results/sparse_jacobians-DATE.{json,md}")
    args = parser.parse_args(argv)
    result = {"colours": colours(args.repeats), "brusselator": brusselator_part(args.repeats),
              "one-off": one_off(max(3, args.repeats // 2)),
              "hessians": hessians(args.repeats),
              "peers": peers("benchmarks.sparse_peers"),
              "machine": machine.machine(), "environment": machine.environment()}
    text = report(result)
    print(text)
    if args.record:
        machine.record("sparse_jacobians",
                       f"python -m benchmarks.sparse_jacobians --repeats {args.repeats}",
                       result, text, f"medians of {args.repeats} interleaved rounds, one "
                       "process.")
    return result


if __name__ == "__main__":
    main()
