"""Compiled tapes against the interpreted engine (issue 12).

Run from the repository root::

    python -m benchmarks.compiled_tapes [--repeats 7] [--record]

For each program: the median time of `ad.value_and_grad(f)` (interpreted: every call
records and sweeps) and of `ad.value_and_grad(f, compile=True)` (a compiled tape
replayed), interleaved round by round, their ratio, the time per recorded operation, and
what building the compiled program costs (recording plus lowering, once per signature).
Programs: W1 (the main benchmark's 252-op chain on 8-vectors), a 10-op scalar program (the
per-call overhead), an op mix on small vectors (softmax, softplus, sums: "Fastest Autograd
in the West") at 100, 1,000 and 10,000 ops, with the same value and gradient written by
hand in one Numba function beside it (the arithmetic's floor: no tape, fused loops), that
post's own graph of scalar nodes (softplus, sums of four, products, softmax of four:
"FAitW graph", 1,000 and 10,000 of the post's operations, about 4.3 recorded ops each), W7
(an RK4 integration of Lotka-Volterra for 1,000 steps, gradient with respect to the 4
parameters and the 2 initial values), and the bytes per operation a compiled tape keeps on
a deep scalar chain. When the peers' venv exists, JAX jit (with `lax.fori_loop`; its first
call, which compiles, and later calls) and torch eager run the op mix and W7 in the same
run (`benchmarks.compiled_peers`); JAX jit and CasADi on W1 are in `python -m benchmarks`
(its "ad compiled" column). Only ratios are meant to be read (the machine is shared and
noisy).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import ad
import ad.numpy as anp
from benchmarks import machine
from benchmarks import workloads as wl
from benchmarks.auto_suite import _interleaved

RESULTS = Path(__file__).resolve().parent / "results"


def w1(x):
    return wl.w1_f(x, anp)


def ten_ops(x):
    return anp.sin(x) * x + anp.exp(-x * x) / (1.0 + x * x) - anp.tanh(x)


def op_mix(ops: int):
    """Blocks of softmax, softplus and a residual on a 10-vector, about `ops` operations."""
    blocks = max(1, ops // 8)

    def f(x):
        for _ in range(blocks):
            e = anp.exp(x)
            p = e / anp.sum(e)                      # softmax: exp, sum, divide
            x = anp.log1p(anp.exp(p)) * 0.5 + x * 0.5   # softplus, residual
        return anp.sum(x * x)
    return f


def op_mix_by_hand(ops: int) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """`op_mix(ops)`'s value and gradient written out by hand in one Numba function (the
    forward loop keeps exp(x), the sum and exp(p) per block; the reverse loop reuses them):
    what the arithmetic itself costs here, with no tape, no dispatch and fused loops. The
    floor a compiled tape's time per op is read against."""
    import numba
    blocks = max(1, ops // 8)

    @numba.njit(cache=True)
    def value_and_grad(x0, E, S, Q):
        n = x0.size
        x = x0.copy()
        for b in range(E.shape[0]):
            s = 0.0
            for i in range(n):
                E[b, i] = np.exp(x[i])
                s += E[b, i]
            S[b] = s
            for i in range(n):
                Q[b, i] = np.exp(E[b, i] / s)
                x[i] = np.log1p(Q[b, i]) * 0.5 + x[i] * 0.5
        value = 0.0
        for i in range(n):
            value += x[i] * x[i]
        g = 2.0 * x
        gp = np.empty(n)
        for b in range(E.shape[0] - 1, -1, -1):
            s, dot = S[b], 0.0
            for i in range(n):
                gp[i] = 0.5 * g[i] * Q[b, i] / (1.0 + Q[b, i])   # softplus' = sigmoid
                dot += gp[i] * E[b, i]
            for i in range(n):                                  # through e / sum(e)
                g[i] = 0.5 * g[i] + (gp[i] / s - dot / (s * s)) * E[b, i]
        return value, g

    buffers: dict = {}      # reused across calls, as a compiled tape's arena pool is

    def f(x):
        if x.size not in buffers:
            buffers[x.size] = (np.empty((blocks, x.size)), np.empty(blocks),
                               np.empty((blocks, x.size)))
        return value_and_grad(x, *buffers[x.size])
    return f


def faitw_graph(n_operations: int):
    """The graph of "Fastest Autograd in the West" (A. Rogozhnikov, 2023) as its post
    builds it: scalar nodes (the 100 inputs' elements), then per operation, in turn, a
    softplus of an earlier node, a sum of four (Python's `sum`), a product of two and a
    softmax of the last four (four new nodes); the loss is the last node."""
    def f(x):
        nodes = [x[i] for i in range(x.shape[0])]
        for op in range(n_operations):
            kind = op % 4
            if kind == 0:
                nodes.append(anp.logaddexp(nodes[-10], 0.0))         # softplus
            elif kind == 1:
                nodes.append(sum(nodes[-30:-10:5]))
            elif kind == 2:
                nodes.append(nodes[-20] * nodes[-10])
            else:                                    # softmax, as torch's: max subtracted
                s = anp.stack(nodes[-4:])
                e = anp.exp(s - anp.max(s))
                nodes.extend(e / anp.sum(e))
        return nodes[-1]
    return f


def lotka_volterra(steps: int = 1000, dt: float = 0.01):
    """W7: RK4 on dx = a x - b x y, dy = -c y + d x y; theta = (a, b, c, d, x0, y0); the
    loss is the sum of the final state."""
    def rhs(x, y, a, b, c, d):
        return a * x - b * x * y, -c * y + d * x * y

    def f(theta):
        a, b, c, d, x, y = (theta[i] for i in range(6))
        for _ in range(steps):
            k1x, k1y = rhs(x, y, a, b, c, d)
            k2x, k2y = rhs(x + 0.5 * dt * k1x, y + 0.5 * dt * k1y, a, b, c, d)
            k3x, k3y = rhs(x + 0.5 * dt * k2x, y + 0.5 * dt * k2y, a, b, c, d)
            k4x, k4y = rhs(x + dt * k3x, y + dt * k3y, a, b, c, d)
            x = x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
            y = y + dt / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
        return x + y
    return f


def scalar_chain(length: int):
    def f(x):
        for _ in range(length // 3):
            x = anp.sin(x) * 0.999 + x
        return x
    return f


PROGRAMS: list[tuple[str, Callable, Callable[[], np.ndarray]]] = [
    ("W1 (252 ops on 8-vectors)", w1, lambda: np.linspace(0.1, 1.0, 8)),
    ("10-op scalar program", ten_ops, lambda: np.array(0.3)),
    ("op mix, 100 ops", op_mix(100), lambda: np.linspace(-1, 1, 10)),
    ("op mix, 1,000 ops", op_mix(1000), lambda: np.linspace(-1, 1, 10)),
    ("op mix, 10,000 ops", op_mix(10_000), lambda: np.linspace(-1, 1, 10)),
    ("W7 Lotka-Volterra RK4, 1,000 steps", lotka_volterra(),
     lambda: np.array([1.1, 0.4, 0.4, 0.1, 10.0, 10.0])),
    ("FAitW graph, 1,000 ops", faitw_graph(1000), lambda: np.arange(100.0)),
    ("FAitW graph, 10,000 ops", faitw_graph(10_000), lambda: np.arange(100.0)),
]
#: Programs with a hand-written Numba floor (`op_mix_by_hand`), timed beside them.
FLOORS = {"op mix, 100 ops": 100, "op mix, 1,000 ops": 1000, "op mix, 10,000 ops": 10_000}


#: Fresh builds timed per program (at most; within BUILD_BUDGET seconds in all).
BUILDS, BUILD_BUDGET = 5, 3.0


def measure(name: str, f: Callable, x: np.ndarray, repeats: int) -> dict[str, Any]:
    """Interpreted against compiled value_and_grad, and the compiled call's predicted time
    (`Program.predict_grad`, the calibrated compiled lines)."""
    interpreted = ad.value_and_grad(f)
    start = time.perf_counter()
    fast = ad.value_and_grad(f, compile=True)
    value, grad = fast(x)                      # records and lowers
    first_build = time.perf_counter() - start
    # what a graph's build costs once the process has met its primitives: fresh functions
    # (each its own compiled program), the median of up to BUILDS within BUILD_BUDGET
    builds: list[float] = []
    while len(builds) < BUILDS and sum(builds) < BUILD_BUDGET:
        again = (lambda g: lambda y: g(y))(f)
        start = time.perf_counter()
        ad.value_and_grad(again, compile=True)(x)
        builds.append(time.perf_counter() - start)
    build = float(np.median(builds))
    v2, g2 = interpreted(x)
    np.testing.assert_allclose(value, v2, rtol=1e-12)
    np.testing.assert_allclose(grad, g2, rtol=1e-10, atol=1e-12)
    (report,) = fast.compiled.reports.values()
    replay = next(r for r in fast.compiled.replays.values() if r is not None)
    ops = ad.trace(f, x).tape.__len__()
    timed = {"interpreted": lambda: interpreted(x), "compiled": lambda: fast(x)}
    if name in FLOORS:
        by_hand = op_mix_by_hand(FLOORS[name])
        v3, g3 = by_hand(x)
        np.testing.assert_allclose(v3, v2, rtol=1e-12)
        np.testing.assert_allclose(g3, g2, rtol=1e-10, atol=1e-12)
        timed["by hand"] = lambda: by_hand(x)
    times = _interleaved(timed, repeats)
    return {"program": name, "recorded ops": ops, "compiled ops": replay.program.n_ops,
            "interpreted_s": times["interpreted"], "compiled_s": times["compiled"],
            "speed-up": times["interpreted"] / times["compiled"],
            "interpreted per op_s": times["interpreted"] / ops,
            "compiled per op_s": times["compiled"] / ops,
            "build_s": build, "build per 200 ops_s": build / ops * 200,
            "first build_s": first_build, "report": report,
            "predicted_s": replay.program.predict_grad(),
            "prediction error": replay.program.predict_grad() / times["compiled"],
            "by hand_s": times.get("by hand")}


def jacobians(repeats: int, quick: bool = False) -> list[dict[str, Any]]:
    """`benchmarks.auto_suite`'s programs: the interpreted auto Jacobian, compiled jacfwd and
    jacrev (compile="always") with their predicted times (`Program.predict_jacobian`), and
    `jacobian(compile=True)`, which runs the compiled tape in the mode predicted faster, or
    the interpreted engine where that is predicted faster still. Its regret is its time
    over the fastest of the three, paired by round; the errors are predicted / measured."""
    from benchmarks import auto_suite as suite
    rows = []
    for name, f, x in suite._suite(quick):
        forced = ad.jacobian(f, compile="always")
        forced(x)
        replay = next((r for r in forced.compiled.replays.values() if r is not None), None)
        if replay is None:
            (why,) = forced.compiled.reports.values()
            rows.append({"program": name, "lowers": False, "report": why})
            continue
        program = replay.program
        plan = ad.compiled.jacobian_plan(program)
        interpreted, auto = ad.jacobian(f), ad.jacobian(f, compile=True)
        forward, reverse = ad.jacfwd(f, compile="always"), ad.jacrev(f, compile="always")
        np.testing.assert_allclose(auto(x), interpreted(x), rtol=1e-8, atol=1e-10)
        times = _interleaved({"interpreted": lambda: interpreted(x), "auto": lambda: auto(x),
                              "forward": lambda: forward(x), "reverse": lambda: reverse(x)},
                             repeats)
        rounds = suite._interleaved.samples
        fastest = min(("interpreted", "forward", "reverse"), key=times.get)
        compiled = next((r for r in auto.compiled.replays.values() if r is not None), None)
        runs = (next(iter(auto.plans.values()))[2] if compiled is not None and auto.plans
                else "interpreted")       # the mode it settled on, for a close call
        predicted = {mode: program.predict_jacobian(mode, plan) for mode in ("forward",
                                                                            "reverse")}
        rows.append({"program": name, "lowers": True, "n": int(np.size(x)),
                     "m": int(np.prod(program.out_shape)),
                     "interpreted_s": times["interpreted"], "compiled forward_s":
                     times["forward"], "compiled reverse_s": times["reverse"],
                     "compile=True_s": times["auto"], "runs": runs, "fastest": fastest,
                     "regret": float(np.median(np.array(rounds["auto"]) /
                                               np.array(rounds[fastest]))),
                     "predicted forward_s": predicted["forward"],
                     "predicted reverse_s": predicted["reverse"],
                     "error forward": predicted["forward"] / times["forward"],
                     "error reverse": predicted["reverse"] / times["reverse"],
                     "speed-up": times["interpreted"] / times["auto"]})
    return rows


def jacobian_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| Jacobian | n -> m | interpreted (auto) | compiled forward (predicted) | "
             "compiled reverse (predicted) | compile=True | runs | regret | speed-up |",
             "|---|---|---|---|---|---|---|---|---|"]
    lowered = [r for r in rows if r["lowers"]]
    for r in lowered:
        lines.append(
            f"| {r['program']} | {r['n']} -> {r['m']} | {_time(r['interpreted_s'])} | "
            f"{_time(r['compiled forward_s'])} ({_time(r['predicted forward_s'])}) | "
            f"{_time(r['compiled reverse_s'])} ({_time(r['predicted reverse_s'])}) | "
            f"{_time(r['compile=True_s'])} | {r['runs']} | {r['regret']:.2f} | "
            f"{r['speed-up']:.2g}x |")
    if lowered:
        errors = [r[f"error {mode}"] for r in lowered for mode in ("forward", "reverse")]
        within = sum(0.5 <= e <= 2.0 for e in errors)
        regrets = [r["regret"] for r in lowered]
        lines += ["", f"- {len(lowered)} of {len(rows)} programs lower. `jacobian(f, "
                  "compile=True)`'s regret (its time over the fastest of interpreted auto, "
                  f"compiled forward, compiled reverse) <= 1.10 on "
                  f"{sum(g <= 1.10 for g in regrets)} of them, <= 1.5 on "
                  f"{sum(g <= 1.5 for g in regrets)}, worst {max(regrets):.2f}; compiled "
                  f"times predicted within 2x on {within} of {len(errors)} (program, mode) "
                  f"pairs (predicted / measured {min(errors):.2f} to {max(errors):.2f})"]
    others = [r for r in rows if not r["lowers"]]
    if others:
        lines.append("- do not lower: " + "; ".join(
            f"{r['program']} ({r['report'].removeprefix('runs interpreted: ')})"
            for r in others))
    return "\n".join(lines)


def tape_bytes(length: int = 400_000) -> dict[str, float]:
    f = scalar_chain(length)
    fast = ad.value_and_grad(f, compile=True)
    fast(np.array(0.5))
    replay = next(r for r in fast.compiled.replays.values() if r is not None)
    program = replay.program
    return {"ops": program.n_ops, "compiled tape bytes per op":
            program.tape_bytes() / program.n_ops}


PEERS_PYTHON = Path(__file__).resolve().parent.parent / ".venv-peers" / "bin" / "python"


def peers(module: str = "benchmarks.compiled_peers", *arguments: str) -> dict[str, Any]:
    """A peers' script (default: JAX jit and torch eager on the same programs) run with
    `arguments` in the peers' venv, when there; its JSON."""
    if not PEERS_PYTHON.exists():
        return {}
    done = subprocess.run([str(PEERS_PYTHON), "-m", module, *arguments],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        print("peers failed:", done.stderr[-2000:])
        return {}
    return json.loads(done.stdout)


def _time(t: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if t >= scale or unit == "ns":
            return f"{t / scale:.3g} {unit}"
    return ""  # pragma: no cover


def table(rows: Sequence[dict[str, Any]], others: dict | None = None) -> str:
    """ad's rows; with `others` (from `peers()`), JAX jit and torch eager beside them as
    time (their time over compiled ad's: above 1x ad is faster)."""
    others = others or {}
    head = ("program", "ops", "interpreted", "compiled", "predicted", "speed-up",
            "per op interpreted",
            "per op compiled", "build (record + lower)", "by hand (Numba)", "JAX jit",
            "JAX jit 1st call", "torch eager")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        peer = others.get(r["program"], {})
        by_hand = r.get("by hand_s")
        cells = ["-" if by_hand is None else
                 f"{_time(by_hand / r['recorded ops'])} per op ({by_hand / r['compiled_s']:.2g}x)"]
        for key in ("JAX jit_s", "JAX jit first call (compiles)_s", "torch eager_s"):
            t = peer.get(key)
            cells.append("-" if t is None else f"{_time(t)} ({t / r['compiled_s']:.2g}x)")
        lines.append("| " + " | ".join([
            r["program"], str(r["recorded ops"]), _time(r["interpreted_s"]),
            _time(r["compiled_s"]), f"{_time(r['predicted_s'])} "
            f"({r['prediction error']:.2f}x)", f"{r['speed-up']:.1f}x",
            _time(r["interpreted per op_s"]),
            _time(r["compiled per op_s"]),
            f"{_time(r['build_s'])} ({_time(r['build per 200 ops_s'])} per 200 ops; "
            f"first {_time(r['first build_s'])})", *cells]) + " |")
    return "\n".join(lines)


_LOAD = """
import sys, time
import numpy as np
import ad, ad.numpy as anp
import ad.compiled
if sys.argv[1] == "after kernels":      # a session that has run ad's Numba kernels
    ad.grad(lambda x: anp.sum(anp.sin(x) * anp.tanh(x)))(np.linspace(0.0, 1.0, 100000))
start = time.perf_counter()
ad.compiled.interpreter()
print(time.perf_counter() - start)
"""


def interpreter_loads(repeats: int = 3) -> dict[str, float]:
    """Seconds to load the interpreter from its on-disk cache in a new process (the best
    of `repeats` processes, bytecode cached): first thing in the process, where it also
    pays Numba's own one-time set-up (its NumPy registries; SciPy's BLAS, when SciPy is
    installed), and after ad's elementwise kernels have run, which pay that set-up."""
    import os
    import sys
    # Python's default, bytecode caching on (a machine may set PYTHONDONTWRITEBYTECODE:
    # every import then compiles its source again, the generated interpreter's too)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = {}
    for when in ("first in the process", "after kernels"):
        times = []
        for _ in range(repeats + 1):            # the first may write the bytecode caches
            done = subprocess.run([sys.executable, "-c", _LOAD, when], capture_output=True,
                                  text=True, check=True, env=env)
            times.append(float(done.stdout.split()[-1]))
        out[when] = min(times)
    return out


_FIRST_USE = """
import time
import numpy as np
import ad, ad.numpy as anp
grad = ad.grad(lambda x: anp.sum(anp.tanh(x) * x), compile=True)
x = np.linspace(0.0, 1.0, 8)
start = time.perf_counter()
grad(x)
first = time.perf_counter() - start
while not grad.compiled.recordings:     # interpreted until the interpreter is compiled
    time.sleep(0.1)
    grad(x)
print(first, time.perf_counter() - start, grad.compiled.waited)
"""


def first_use() -> dict[str, float]:
    """A machine's first use of compile=True, in a new process with an empty kernel cache:
    the first call's seconds (interpreted: the interpreter compiles in another process),
    the seconds until calls run compiled, and the calls run interpreted meanwhile."""
    import os
    import sys
    import tempfile
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, AD_KERNEL_CACHE=cache, AD_COMPILE_BACKGROUND="1")
        done = subprocess.run([sys.executable, "-c", _FIRST_USE], capture_output=True,
                              text=True, check=True, env=env)
    first, compiled, waited = done.stdout.split()[-3:]
    return {"first call_s": float(first), "compiled after_s": float(compiled),
            "calls interpreted meanwhile": int(waited)}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true",
                        help="the auto suite's smaller sizes for the Jacobians")
    parser.add_argument("--first-use", action="store_true",
                        help="also time a machine's first use (an empty kernel cache: a "
                        "minute of compiling in another process)")
    parser.add_argument("--record", action="store_true",
                        help="write benchmarks/results/compiled_tapes-DATE.{json,md}")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    ad.compiled.interpreter()
    interpreter_s = time.perf_counter() - start
    rows = [measure(name, f, make(), args.repeats) for name, f, make in PROGRAMS]
    jacobian_rows = jacobians(min(args.repeats, 5), args.quick)
    memory = tape_bytes()
    others = peers()
    loads = interpreter_loads()
    first = first_use() if args.first_use else None
    result = {"rows": rows, "jacobians": jacobian_rows, "tape": memory,
              "interpreter load_s": interpreter_s, "interpreter loads_s": loads,
              "first use": first,
              "peers": others,
              "machine": machine.machine(), "environment": machine.environment()}
    text = [table(rows, others), "", jacobian_table(jacobian_rows), "",
            f"- deep scalar chain of {memory['ops']:,} ops: the compiled tape keeps "
            f"{memory['compiled tape bytes per op']:.0f} bytes per op (entries, slot layout "
            "and value arena; `python -m benchmarks.tape_memory` measures the interpreted "
            "tape)",
            f"- the interpreter: loaded (or compiled, on a machine's first use) in "
            f"{interpreter_s:.2f} s in this process; from its cache in a new process (best of "
            f"3, bytecode cached) {loads['first in the process']:.2f} s as the first Numba "
            "code there, "
            f"{loads['after kernels']:.2f} s after ad's elementwise kernels ran (they pay "
            "Numba's own set-up)"]
    if first:
        text.append(f"- a machine's first use (an empty cache): the first compile=True call "
                    f"{first['first call_s'] * 1e3:.0f} ms (interpreted; another process "
                    f"compiles the interpreter), compiled calls after "
                    f"{first['compiled after_s']:.0f} s")
    print("\n".join(text))
    if args.record:
        machine.record("compiled_tapes",
                       f"python -m benchmarks.compiled_tapes --repeats {args.repeats}"
                       + (" --first-use" if args.first_use else ""),
                       result, "\n".join(text), f"medians of {args.repeats} interleaved "
                       "rounds, one process.")
    return result


if __name__ == "__main__":
    main()
