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

PEER_MODULES = ("numpy_hand", "jax_peer", "torch_peer", "autograd_peer", "mygrad_peer",
                "casadi_peer")
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


def first_call(variant: Variant, inputs: Inputs) -> tuple[Callable[[], Any], Any, dict[str, float]]:
    """Set up a variant and call it once: ``(run, result, {"setup_s", "first_s"})``.

    The first call carries JIT compilation (jax.jit, Numba), so it is reported apart.
    """
    t0 = time.perf_counter()
    run = variant.prepare(inputs)
    t1 = time.perf_counter()
    result = run()
    t2 = time.perf_counter()
    return run, result, {"setup_s": t1 - t0, "first_s": t2 - t1}


def time_calls(run: Callable[[], Any], repeats: int = 7, min_time: float = 0.05,
               budget: float | None = None) -> dict[str, float]:
    """Median per-call time of ``run`` after one warm-up call.

    Each of the ``repeats`` samples is a timeit loop of ``number`` calls, ``number`` chosen
    (doubling from the warm-up) so one loop lasts at least ``min_time`` seconds. With a
    ``budget`` (seconds for this variant), slow calls get fewer repeats (at least one):
    the record says how many were taken.
    """
    timer = timeit.Timer(run)
    number = 1
    elapsed = timer.timeit(1)  # warm-up, doubling as the first calibration step
    spent = elapsed
    while elapsed < min_time and number < 1 << 20 and (budget is None or spent < budget / 2):
        number *= max(2, min(10, int(min_time / max(elapsed, 1e-9)) + 1))
        elapsed = timer.timeit(number)
        spent += elapsed
    if budget is not None:
        fit = int((budget - spent) / max(elapsed, 1e-12))
        repeats = max(1, min(repeats, fit))
    runs = [t / number for t in timer.repeat(repeat=repeats, number=number)]
    return {"median_s": statistics.median(runs), "min_s": min(runs),
            "number": number, "repeats": repeats}


def measure(variant: Variant, inputs: Inputs, repeats: int = 7,
            min_time: float = 0.05, budget: float | None = None
            ) -> tuple[Any, dict[str, float]]:
    """Time a variant: setup, first call, then the median of ``repeats`` runs.

    Returns the first call's result and the timings (seconds per call).
    """
    run, result, times = first_call(variant, inputs)
    times.update(time_calls(run, repeats, min_time, budget))
    return result, times


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


def tag_of(variant_name: str) -> str | None:
    """Tag of a variant name: ``"jacrev[jit]"`` -> ``"jit"``, ``"grad"`` -> ``None``."""
    return variant_name[:-1].split("[", 1)[1] if "[" in variant_name else None


#: Largest relative error accepted when a derivative is checked (float64 everywhere).
RTOL = 1e-8


def evaluate(peer: str, variants: dict[str, dict[str, Variant]], *, timing: bool = True,
             repeats: int = 5, only: tuple[str, ...] = (), min_time: float = 0.05,
             budget: float | None = None, workloads: dict[str, Any] | None = None,
             ad_results: dict[tuple[str, str], Any] | None = None, rtol: float = RTOL,
             progress: Callable[[dict[str, Any]], None] | None = None,
             ) -> list[dict[str, Any]]:
    """Check each variant, then (if it is right and ``timing``) time it.

    Every result is compared with the hand-written reference (``relerr``) and, when
    ``ad_results`` holds ``ad``'s result for the same workload and kind, with ``ad``'s
    (``relerr_ad``). A variant that disagrees beyond ``rtol`` is not timed (status
    ``mismatch``); one that raises is recorded with its error (status ``error``) instead
    of failing the whole run. ``progress`` is called with each finished record.
    """
    from benchmarks.workloads import SEED, WORKLOADS

    table = WORKLOADS if workloads is None else workloads
    records = []
    for wname, vs in variants.items():
        if wname not in table or (only and not any(wname.startswith(o) for o in only)):
            continue
        w = table[wname]
        inputs = w.inputs(SEED)
        refs: dict[str, Any] = {}
        for vname, variant in vs.items():
            kind = kind_of(vname)
            rec: dict[str, Any] = {"tool": peer, "peer": peer, "workload": wname,
                                   "variant": vname, "kind": kind, "tag": tag_of(vname)}
            try:
                if kind not in refs:
                    refs[kind] = w.reference[kind](**inputs)
                run, got, times = first_call(variant, inputs)
                rec.update(times)
                rec["relerr"] = relative_error(got, refs[kind])
                ok = rec["relerr"] <= rtol
                if ad_results is not None and (wname, kind) in ad_results:
                    rec["relerr_ad"] = relative_error(got, ad_results[(wname, kind)])
                    ok = ok and rec["relerr_ad"] <= rtol
                del got
                rec["status"] = "ok" if ok else "mismatch"
                if ok and timing:
                    rec.update(time_calls(run, repeats, min_time, budget))
                del run
            except Exception as exc:  # noqa: BLE001 - report, do not abort the suite
                rec["status"] = "error"
                rec["error"] = f"{type(exc).__name__}: {exc}"[:300]
            records.append(rec)
            if progress is not None:
                progress(rec)
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
