"""Peer AD tools benchmarked against ``ad``.

Every peer module exposes ``AVAILABLE`` (its library imported) and ``workloads()``
returning ``{workload_name: {variant_name: Variant}}``. A :class:`Variant` is called
with the NumPy inputs of :mod:`benchmarks.workloads` and returns NumPy results; its
``prepare(inputs)`` performs the one-off setup a user would do (conversion to
tensors, building transformed functions) and returns the zero-argument callable that
is timed. JIT compilation happens on that callable's first call, which
:func:`measure` reports separately as ``first_s``.

This module imports NumPy only, so that a peer living in another virtual
environment (advect) can reuse it in a subprocess.
"""

from __future__ import annotations

import statistics
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Inputs = dict[str, Any]
Prepare = Callable[[Inputs], Callable[[], Any]]

PEER_MODULES = ("numpy_hand", "jax_peer", "torch_peer", "autograd_peer", "mygrad_peer")
SUBPROCESS_PEERS = {"advect_peer": ".venv-advect"}  # module -> venv directory


@dataclass(frozen=True)
class Variant:
    """A benchmarkable derivative computation of one peer on one workload."""

    prepare: Prepare

    def __call__(self, inputs: Inputs) -> Any:
        """Set up and run once, returning NumPy results."""
        return self.prepare(inputs)()


def kind_of(variant_name: str) -> str:
    """Derivative kind of a variant name: ``"jacrev[jit]"`` -> ``"jacrev"``."""
    return variant_name.split("[", 1)[0]


def measure(variant: Variant, inputs: Inputs, repeats: int = 7,
            min_time: float = 0.05) -> tuple[Any, dict[str, float]]:
    """Time a variant: setup, first call, then the median of ``repeats`` runs.

    Each run is a timeit loop of ``number`` calls, with ``number`` chosen so a loop
    lasts at least ``min_time`` seconds; per-call times are reported in seconds.
    Returns the first call's result and the timings.
    """
    t0 = time.perf_counter()
    run = variant.prepare(inputs)
    t1 = time.perf_counter()
    result = run()
    t2 = time.perf_counter()
    timer = timeit.Timer(run)
    number = 1
    while True:  # warm-up doubling as loop-count calibration
        elapsed = timer.timeit(number)
        if elapsed >= min_time or number >= 1 << 20:
            break
        number *= max(2, min(10, int(min_time / max(elapsed, 1e-9)) + 1))
    runs = [t / number for t in timer.repeat(repeat=repeats, number=number)]
    return result, {"setup_s": t1 - t0, "first_s": t2 - t1,
                    "median_s": statistics.median(runs), "min_s": min(runs),
                    "number": number, "repeats": repeats}


# ------------------------------------------------------------------ checking harness


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in _leaves(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [leaf for v in tree for leaf in _leaves(v)]
    return [tree]


def relative_error(got: Any, ref: Any) -> float:
    """Largest ``max|got - ref| / max|ref|`` over the leaves of two result trees.

    Mismatched structure or shapes give ``inf``.
    """
    import numpy as np

    got_l, ref_l = _leaves(got), _leaves(ref)
    if len(got_l) != len(ref_l):
        return float("inf")
    worst = 0.0
    for g, r in zip(got_l, ref_l):
        g, r = np.asarray(g, dtype=np.float64), np.asarray(r, dtype=np.float64)
        if g.shape != r.shape:
            return float("inf")
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        err = float(np.max(np.abs(g - r))) if r.size else 0.0
        worst = max(worst, err / scale if scale else err)
    return worst


def evaluate(peer: str, variants: dict[str, dict[str, Variant]], *, timing: bool = True,
             repeats: int = 5, only: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Check each variant against the hand-written reference and optionally time it.

    Returns one JSON-serialisable record per (workload, variant); a variant that
    raises is recorded with its error instead of failing the whole run.
    """
    from benchmarks.workloads import SEED, WORKLOADS

    records = []
    for wname, vs in variants.items():
        if only and not any(wname.startswith(o) for o in only):
            continue
        w = WORKLOADS[wname]
        inputs = w.inputs(SEED)
        refs: dict[str, Any] = {}
        for vname, variant in vs.items():
            rec: dict[str, Any] = {"peer": peer, "workload": wname, "variant": vname}
            try:
                kind = kind_of(vname)
                if kind not in refs:
                    refs[kind] = w.reference[kind](**inputs)
                if timing:
                    got, times = measure(variant, inputs, repeats=repeats)
                    rec.update(times)
                else:
                    got = variant(inputs)
                rec["relerr"] = relative_error(got, refs[kind])
            except Exception as exc:  # noqa: BLE001 - report, do not abort the suite
                rec["error"] = f"{type(exc).__name__}: {exc}"[:300]
            records.append(rec)
    return records


def run_subprocess_peer(module: str, repo_root: str, *, timing: bool = True,
                        repeats: int = 5, only: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run :func:`evaluate` for a peer living in its own venv; returns its records.

    The peer module must provide a ``__main__`` entry accepting the flags used
    here and printing the records as JSON on its last stdout line.
    """
    import json
    import os
    import subprocess

    python = os.path.join(repo_root, SUBPROCESS_PEERS[module], "bin", "python")
    if not os.path.exists(python):
        return [{"peer": module, "workload": "*", "variant": "*",
                 "error": f"venv missing: {python} (run benchmarks/setup_peers.sh)"}]
    cmd = [python, "-m", f"benchmarks.peers.{module}", "--repeats", str(repeats)]
    cmd += [] if timing else ["--no-timing"]
    cmd += [a for o in only for a in ("--only", o)]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return [{"peer": module, "workload": "*", "variant": "*",
                 "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def subprocess_main(peer: str, variants: Callable[[], dict[str, dict[str, Variant]]],
                    argv: list[str] | None = None) -> None:
    """``__main__`` body of a subprocess peer: evaluate and print JSON records."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=f"check/time the {peer} peer, JSON out")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--only", action="append", default=[], help="workload prefix")
    args = ap.parse_args(argv)
    records = evaluate(peer, variants(), timing=not args.no_timing,
                       repeats=args.repeats, only=tuple(args.only))
    print(json.dumps(records))
