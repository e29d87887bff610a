"""Store or recompute (issue 14): checkpointed loops and functions against the stored tape.

Run from the repository root::

    python -m benchmarks.checkpointing [--steps 100000] [--repeats 3] [--record]

Parts: a long RK4 loop (a 4-species Lotka-Volterra system, `--steps` steps), gradient with
respect to the initial state by the unrolled loop (every step taped) and by `ad.loop` with
`checkpoints="auto"` under a memory budget 100x below the stored run's peak, and with a
few fixed slot counts (time, peak memory, step evaluations predicted by the schedule,
bit-for-bit equality of the gradients); a 100-layer tanh MLP (width 256, batch 64) with and
without `ad.checkpoint` around each layer and around blocks of 10: the memory a recording
keeps for its sweep (allocated after `ad.vjp` records) and the peak during one gradient.
Memory is tracemalloc's (separate runs from the timed ones, as tracing slows Python down);
times are medians of `--repeats` interleaved rounds. Only ratios are meant to be read.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import ad
import ad.numpy as anp
from ad import checkpointing
from benchmarks import machine
from benchmarks.auto_suite import _interleaved

RESULTS = Path(__file__).resolve().parent / "results"

#: Competitive Lotka-Volterra, 4 species (a small chaotic system; Vano et al. 2006).
GROWTH = np.array([1.0, 0.72, 1.53, 1.27])
INTERACTION = np.array([[1.0, 1.09, 1.52, 0.0], [0.0, 1.0, 0.44, 1.36],
                        [2.33, 0.0, 1.0, 0.47], [1.21, 0.51, 0.35, 1.0]])


def rk4_step(x, dt=0.001):
    def rhs(s):
        return GROWTH * s * (1.0 - INTERACTION @ s)
    k1 = rhs(x)
    k2 = rhs(x + 0.5 * dt * k1)
    k3 = rhs(x + 0.5 * dt * k2)
    k4 = rhs(x + dt * k3)
    return x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


X0 = np.array([0.3, 0.4, 0.2, 0.1])


def peak_bytes(fn: Callable) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return int(peak)


def loop_part(steps: int, repeats: int, slot_counts: Sequence[int] = (2, 10, 50)
              ) -> dict[str, Any]:
    def objective(**how):
        return lambda x: anp.sum(ad.loop(rk4_step, x, steps, **how) ** 2)
    stored = ad.grad(objective())
    stored_grad = stored(X0)
    stored_peak = peak_bytes(lambda: stored(X0))
    budget = stored_peak // 100
    state_bytes = sys.getsizeof(np.empty_like(X0)) + checkpointing.STATE_OVERHEAD
    variants = {"stored (unrolled)": stored,
                "auto, budget = peak / 100": ad.grad(objective(checkpoints="auto",
                                                               memory_budget=budget))}
    for s in slot_counts:
        variants[f"checkpoints={s}"] = ad.grad(objective(checkpoints=s))
    rows = {}
    for name, fn in variants.items():
        grad = fn(X0)
        s = (None if name.startswith("stored") else
             ad.schedule.slots_for_budget(steps, state_bytes, budget) if name.startswith("auto")
             else int(name.split("=")[1]))      # auto: the slots ad.loop takes, the same way
        schedule_steps = steps if s is None else ad.schedule.optimal_steps(steps, s)
        rows[name] = {"slots": s, "step evaluations": schedule_steps,
                      "peak bytes": stored_peak if s is None else peak_bytes(lambda: fn(X0)),
                      "identical to stored": bool(np.array_equal(grad, stored_grad)),
                      "max abs difference": float(np.abs(grad - stored_grad).max())}
    times = _interleaved({name: (lambda fn=fn: fn(X0)) for name, fn in variants.items()},
                         repeats, min_time=0.0)
    for name, t in times.items():
        rows[name]["seconds"] = t
        rows[name]["time / stored"] = t / times["stored (unrolled)"]
        rows[name]["peak / stored"] = rows[name]["peak bytes"] / stored_peak
    return {"steps": steps, "budget bytes": budget, "rows": rows}


def kept_bytes(f: Callable, *args) -> int:
    """What a recording keeps for its sweep: memory still allocated after `ad.vjp` records
    (the residuals and the tape), before any cotangent is pulled."""
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    _, pullback = ad.vjp(f, *args)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del pullback
    return int(after - before)


def mlp_part(repeats: int, layers: int = 100, width: int = 256, batch: int = 64
             ) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((width, width)) / np.sqrt(width) for _ in range(layers)]
    x = rng.standard_normal((batch, width))

    def layer_block(h, ws):
        for w in ws:
            h = anp.tanh(h @ w)
        return h

    def loss(block, wrap):
        run = wrap(layer_block)

        def f(ws):
            h = x
            for start in range(0, layers, block):
                h = run(h, ws[start:start + block])
            return anp.sum(h ** 2)
        return f

    variants = {"stored": loss(layers, lambda g: g),
                "ad.checkpoint per layer": loss(1, ad.checkpoint),
                "ad.checkpoint per 10 layers": loss(10, ad.checkpoint)}
    grads = {name: ad.grad(f) for name, f in variants.items()}
    reference = grads["stored"](weights)
    rows = {}
    for name, f in variants.items():
        got = grads[name](weights)
        rows[name] = {"kept for the sweep bytes": kept_bytes(f, weights),
                      "peak bytes": peak_bytes(lambda: grads[name](weights)),
                      "max abs difference": max(float(np.abs(a - b).max())
                                                for a, b in zip(got, reference))}
    times = _interleaved({name: (lambda g=g: g(weights)) for name, g in grads.items()},
                         repeats, min_time=0.0)
    for name in rows:
        rows[name]["seconds"] = times[name]
        rows[name]["time / stored"] = times[name] / times["stored"]
        rows[name]["kept / stored"] = (rows[name]["kept for the sweep bytes"]
                                       / rows["stored"]["kept for the sweep bytes"])
    return {"layers": layers, "width": width, "batch": batch,
            "parameter bytes": sum(w.nbytes for w in weights), "rows": rows}


def _mb(b: float) -> str:
    return f"{b / 2 ** 20:.1f} MiB"


def report(result: dict[str, Any]) -> str:
    lp = result["loop"]
    lines = [f"**RK4 loop, {lp['steps']:,} steps, 4-element state** (gradient of a function "
             f"of the final state; budget for 'auto': {_mb(lp['budget bytes'])})", "",
             "| variant | slots | step evaluations | time | time / stored | peak memory | "
             "peak / stored | gradient |", "|---|---|---|---|---|---|---|---|"]
    for name, r in lp["rows"].items():
        same = ("identical" if r["identical to stored"] else
                f"differs by {r['max abs difference']:.1e}")
        lines.append(f"| {name} | {r['slots'] or '-'} | {r['step evaluations']:,} | "
                     f"{r['seconds']:.2f} s | {r['time / stored']:.2f}x | {_mb(r['peak bytes'])} "
                     f"| {r['peak / stored']:.4f} | {same} |")
    m = result["mlp"]
    lines += ["", f"**{m['layers']}-layer tanh MLP, width {m['width']}, batch {m['batch']}** "
              f"(parameters {_mb(m['parameter bytes'])}, and as much again for their "
              "gradients, which no schedule saves)", "",
              "| variant | kept for the sweep | kept / stored | peak during grad | time | "
              "time / stored | gradient |", "|---|---|---|---|---|---|---|"]
    for name, r in m["rows"].items():
        lines.append(f"| {name} | {_mb(r['kept for the sweep bytes'])} | "
                     f"{r['kept / stored']:.3f} | {_mb(r['peak bytes'])} | "
                     f"{r['seconds'] * 1e3:.0f} ms | {r['time / stored']:.2f}x | "
                     f"max diff {r['max abs difference']:.1e} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slots", type=int, nargs="*", default=[2, 10, 50],
                        help="fixed slot counts to run besides 'auto'")
    parser.add_argument("--record", action="store_true",
                        help="write benchmarks/results/checkpointing-DATE.{json,md}")
    args = parser.parse_args(argv)
    result = {"loop": loop_part(args.steps, args.repeats, args.slots),
              "mlp": mlp_part(args.repeats),
              "machine": machine.machine(), "environment": machine.environment()}
    text = report(result)
    print(text)
    if args.record:
        stem = RESULTS / f"checkpointing-{time.strftime('%Y%m%d')}"
        stem.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str),
                                             encoding="utf-8")
        head = (f"### `python -m benchmarks.checkpointing --steps {args.steps} --repeats "
                f"{args.repeats} --slots {' '.join(map(str, args.slots))}` — "
                f"{time.strftime('%Y-%m-%d')}\n\n{result['machine']['cpu']}, "
                f"{result['machine']['usable_cores']} cores, Python "
                f"{result['environment']['python']}, numpy "
                f"{result['environment']['versions'].get('numpy')}; medians of "
                f"{args.repeats} interleaved rounds, peak memory by tracemalloc, one process."
                "\n\n")
        stem.with_suffix(".md").write_text(head + text + "\n", encoding="utf-8")
        print(f"recorded {stem}.md and .json")
    return result


if __name__ == "__main__":
    main()
