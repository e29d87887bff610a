"""Store or recompute (issue 14): checkpointed loops and functions against the stored tape.

Run from the repository root::

    python -m benchmarks.checkpointing [--steps 100000] [--repeats 3] [--record]

Parts: a long RK4 loop (a 4-species Lotka-Volterra system, `--steps` steps; each variant
in fresh processes, memory as peak RSS above the process's warmed-up baseline), gradient with
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


def _loop_worker(steps: int, how: dict) -> None:
    """One gradient of the loop in this (fresh) process: prints its seconds, the peak RSS
    above the process's baseline after a small warm-up, and the gradient."""
    import resource

    def objective(x):
        return anp.sum(ad.loop(rk4_step, x, steps, **how) ** 2)
    ad.grad(lambda x: anp.sum(ad.loop(rk4_step, x, 3, **how) ** 2))(X0)   # warm, small
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    grad = ad.grad(objective)(X0)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "extra bytes": max(peak - baseline, 0),
                      "grad": [float(g).hex() for g in grad]}))


def _in_process(steps: int, how: dict) -> dict:
    import subprocess
    done = subprocess.run([sys.executable, "-c", "import json, sys; from benchmarks."
                           "checkpointing import _loop_worker; _loop_worker(int(sys.argv[1]), "
                           "json.loads(sys.argv[2]))", str(steps), json.dumps(how)],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def loop_part(steps: int, repeats: int, slot_counts: Sequence[int] = (2, 10, 50)
              ) -> dict[str, Any]:
    """Each variant in fresh processes (peak RSS is per process), `repeats` times."""
    def run(how):
        samples = [_in_process(steps, how) for _ in range(repeats)]
        return {"seconds": float(np.median([r["seconds"] for r in samples])),
                "extra bytes": int(np.median([r["extra bytes"] for r in samples])),
                "grad": samples[0]["grad"]}
    stored = run({})
    budget = max(stored["extra bytes"] // 100, 1)
    variants = {"stored (unrolled)": ({}, stored)}
    variants["auto, budget = peak / 100"] = (
        {"checkpoints": "auto", "memory_budget": budget}, None)
    for s in slot_counts:
        variants[f"checkpoints={s}"] = ({"checkpoints": s}, None)
    state_bytes = sys.getsizeof(np.empty_like(X0)) + checkpointing.STATE_OVERHEAD
    rows = {}
    for name, (how, done) in variants.items():
        done = done or run(how)
        s = (None if not how else
             ad.schedule.slots_for_budget(steps, state_bytes,
                                          int(checkpointing.STATE_SHARE * budget))
             if how["checkpoints"]
             == "auto" else how["checkpoints"])        # auto: the slots ad.loop takes
        rows[name] = {"slots": s,
                      "step evaluations": steps if s is None else
                      ad.schedule.optimal_steps(steps, s),
                      "seconds": done["seconds"], "peak bytes": done["extra bytes"],
                      "identical to stored": done["grad"] == stored["grad"],
                      "max abs difference": max(abs(float.fromhex(a) - float.fromhex(b))
                                                for a, b in zip(done["grad"], stored["grad"])),
                      "time / stored": done["seconds"] / stored["seconds"],
                      "peak / stored": done["extra bytes"] / max(stored["extra bytes"], 1)}
    return {"steps": steps, "budget bytes": budget, "rows": rows}


def kept_bytes(f: Callable, *args, **how) -> int:
    """What a recording keeps for its sweep: memory still allocated after `ad.vjp` records
    (the residuals and the tape), before any cotangent is pulled."""
    ad.vjp(f, *args, **how)                      # a budget plans on its first call
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    _, pullback = ad.vjp(f, *args, **how)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del pullback
    return int(after - before)


def mlp_part(repeats: int, layers: int = 100, width: int = 256, batch: int = 64,
             shares: Sequence[float] = (0.5, 0.3, 0.2)) -> dict[str, Any]:
    """The MLP with respect to its weights (kept for the sweep, peak, time) for each way
    of checkpointing; and with respect to its input batch (the weights fixed, so the
    result is small and the peak during the gradient is the tape's), stored against
    `grad(f, memory_budget=B)` for budgets B = `shares` of the stored tape."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((width, width)) / np.sqrt(width) for _ in range(layers)]
    x = rng.standard_normal((batch, width))
    policies = ad.checkpoint_policies

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
                "ad.checkpoint per layer, dots_saveable": loss(
                    1, lambda g: ad.checkpoint(g, policy=policies.dots_saveable)),
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
    _timed(rows, {name: (lambda g=g: g(weights)) for name, g in grads.items()}, repeats)
    for name in rows:
        rows[name]["kept / stored"] = (rows[name]["kept for the sweep bytes"]
                                       / rows["stored"]["kept for the sweep bytes"])

    def of_input(h):
        return anp.sum(layer_block(h, weights) ** 2)
    stored = kept_bytes(of_input, x)
    budgets = {"stored": None, **{f"memory_budget = stored x {share:g}": int(share * stored)
                                  for share in shares}}
    input_grads = {name: ad.grad(of_input, memory_budget=b) for name, b in budgets.items()}
    expected = input_grads["stored"](x)
    budget_rows = {}
    for name, g in input_grads.items():
        got = g(x)
        plan = g.recorder.plan if g.recorder is not None else None
        budget_rows[name] = {"budget bytes": budgets[name],
                             "peak bytes": peak_bytes(lambda: g(x)),
                             "predicted peak bytes": None if plan is None else plan.peak_bytes,
                             "plan": None if plan is None else str(plan),
                             "extra evaluations": 0.0 if plan is None
                             else plan.extra_evaluations,
                             "identical": bool(np.array_equal(got, expected))}
    _timed(budget_rows, {name: (lambda g=g: g(x)) for name, g in input_grads.items()},
           repeats)
    for name in budget_rows:
        budget_rows[name]["peak / stored"] = (budget_rows[name]["peak bytes"]
                                              / budget_rows["stored"]["peak bytes"])
    return {"layers": layers, "width": width, "batch": batch,
            "parameter bytes": sum(w.nbytes for w in weights), "rows": rows,
            "budget rows": budget_rows, "peers": peers_part(repeats)}


def peers_part(repeats: int) -> dict[str, Any]:
    """JAX's jax.checkpoint and torch.utils.checkpoint on the same MLP, in the peers' venv
    (`benchmarks.checkpointing_peers`), when it is there."""
    from benchmarks.compiled_tapes import peers
    return peers("benchmarks.checkpointing_peers", "--repeats", str(max(repeats, 3)))


def _timed(rows: dict, calls: dict, repeats: int) -> None:
    """Each row's median seconds (interleaved rounds) and its ratio to the "stored" row's."""
    times = _interleaved(calls, repeats, min_time=0.0)
    for name in rows:
        rows[name]["seconds"] = times[name]
        rows[name]["time / stored"] = times[name] / times["stored"]


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
    lines += ["", "**The same MLP, gradient with respect to its input batch** (the weights "
              "fixed: the peak during the gradient is the tape's), `grad(f, memory_budget=B)`",
              "", "| variant | budget | measured peak | predicted peak | peak / stored | "
              "extra evaluations (predicted) | time / stored | gradient |",
              "|---|---|---|---|---|---|---|---|"]
    for name, r in m["budget rows"].items():
        lines.append(f"| {name} | {_mb(r['budget bytes']) if r['budget bytes'] else '-'} | "
                     f"{_mb(r['peak bytes'])} | "
                     f"{_mb(r['predicted peak bytes']) if r['predicted peak bytes'] else '-'} | "
                     f"{r['peak / stored']:.3f} | {r['extra evaluations']:.2f} | "
                     f"{r['time / stored']:.2f}x | "
                     f"{'identical' if r['identical'] else 'DIFFERS'} |")
    peers = m.get("peers") or {}
    if peers:
        ours = m["rows"]
        pairs = {"stored": "stored", "per layer": "ad.checkpoint per layer",
                 "per 10 layers": "ad.checkpoint per 10 layers"}
        lines += ["", "**Peers on the MLP (weights' gradient)**: kept for the backward pass "
                  "(new arrays only) and median time, each peer in its own process of this "
                  "run; ad's from the table above", "",
                  "| variant | ad kept | ad time | JAX kept | JAX jit time | torch kept | "
                  "torch time |", "|---|---|---|---|---|---|---|"]
        for variant, mine in pairs.items():
            cells = [variant, _mb(ours[mine]["kept for the sweep bytes"]),
                     f"{ours[mine]['seconds'] * 1e3:.0f} ms"]
            for peer in ("jax", "torch"):
                r = peers.get(peer, {}).get(variant)
                cells += ([_mb(r["kept"]), f"{r['time'] * 1e3:.0f} ms"] if r else ["-", "-"])
            lines.append("| " + " | ".join(cells) + " |")
        versions = ", ".join(f"{k} {v['version']}" for k, v in peers.items())
        lines += ["", f"Peers: {versions}."]
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
        machine.record("checkpointing",
                       f"python -m benchmarks.checkpointing --steps {args.steps} --repeats "
                       f"{args.repeats} --slots {' '.join(map(str, args.slots))}",
                       result, text, "the loop: each variant in fresh processes, peak RSS "
                       "above the warmed-up baseline; the MLP: medians of interleaved "
                       "rounds, memory by tracemalloc.")
    return result


if __name__ == "__main__":
    main()
