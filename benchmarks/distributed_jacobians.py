"""Jacobians on executors (issue 16): blocks of directions as tasks, against the serial
Jacobian with the same blocks.

Run from the repository root::

    python -m benchmarks.distributed_jacobians [--repeats 3] [--record]

The program: a heat equation with a nonlinear source, integrated for 2000 explicit steps on
a 128-point grid, differentiated with respect to its initial state (a 128 x 128 Jacobian in
which every column costs a simulation run). Forward mode in blocks sized by the cost model
(at least `ad.distributed.TASK_SECONDS` each) runs serially, on a process pool of 2 and on
a Dask `LocalCluster` of 2 worker processes (when Dask is installed); each result is
checked bit for bit against the serial one. Medians of `--repeats` interleaved rounds; the
machine has 2 cores, so 2x is the ceiling.
"""
from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import ad
import ad.numpy as anp
from benchmarks import machine
from benchmarks.auto_suite import _interleaved

RESULTS = Path(__file__).resolve().parent / "results"


def heat(u):
    """2000 explicit heat steps with a tanh source (module-level: process pools pickle it)."""
    for _ in range(2000):
        u = u + 0.2 * (anp.roll(u, 1) - 2.0 * u + anp.roll(u, -1)) + 0.01 * anp.tanh(u)
    return u


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--record", action="store_true",
                        help="write benchmarks/results/distributed_jacobians-DATE.{json,md}")
    args = parser.parse_args(argv)
    x = np.random.default_rng(0).uniform(0.0, 1.0, 128)
    runs: dict[str, Any] = {}
    pool = ProcessPoolExecutor(2)
    sized = ad.jacfwd(heat, executor=pool)
    reference_blocks = sized(x)
    chunk = sized.report.chunk
    serial = ad.jacfwd(heat, chunk_size=chunk)
    want = serial(x)
    runs["serial"] = lambda: serial(x)
    on_pool = ad.jacfwd(heat, executor=pool, chunk_size=chunk)
    runs["process pool (2)"] = lambda: on_pool(x)
    identical = {"process pool (2)": bool(np.array_equal(reference_blocks, want))}
    cluster = client = None
    try:
        from dask.distributed import Client, LocalCluster
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        on_dask = ad.jacfwd(heat, executor=client, chunk_size=chunk)
        identical["Dask LocalCluster (2 processes)"] = bool(np.array_equal(on_dask(x), want))
        runs["Dask LocalCluster (2 processes)"] = lambda: on_dask(x)
    except ImportError:
        on_dask = None
    times = _interleaved(runs, args.repeats, min_time=0.0)
    result = {"n": x.size, "chunk": chunk, "blocks": len(sized.report.blocks),
              "predicted task_s": sized.report.predicted_task_seconds,
              "block times_s": [b.seconds for b in sized.report.blocks],
              "times_s": times, "identical": identical,
              "machine": machine.machine(), "environment": machine.environment()}
    if client is not None:
        client.close()
        cluster.close()
    pool.shutdown()
    lines = [f"**Heat equation, 2000 steps, 128 points: a 128 x 128 Jacobian by forward mode** "
             f"({result['blocks']} blocks of {chunk} directions, predicted "
             f"{result['predicted task_s'] * 1e3:.0f} ms each, measured "
             f"{min(result['block times_s']) * 1e3:.0f}-{max(result['block times_s']) * 1e3:.0f} "
             "ms on the pool)", "",
             "| executor | time | speed-up over serial | bits equal to serial |",
             "|---|---|---|---|"]
    for name, t in times.items():
        same = "-" if name == "serial" else ("yes" if identical.get(name) else "NO")
        lines.append(f"| {name} | {t:.2f} s | {times['serial'] / t:.2f}x | {same} |")
    text = "\n".join(lines)
    print(text)
    if args.record:
        machine.record("distributed_jacobians",
                       f"python -m benchmarks.distributed_jacobians --repeats {args.repeats}",
                       result, text, f"medians of {args.repeats} interleaved rounds, one "
                       "process (plus the workers).")
    return result


if __name__ == "__main__":
    main()
