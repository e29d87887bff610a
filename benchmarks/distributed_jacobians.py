"""Jacobians on executors (issue 16): blocks of directions as tasks, against the serial
Jacobian with the same blocks.

Run from the repository root::

    python -m benchmarks.distributed_jacobians [--repeats 3] [--record]

The program: a heat equation with a nonlinear source, integrated for 2000 explicit steps on
a `--points` grid (256), differentiated with respect to its initial state (a square
Jacobian in which every column costs a simulation run), interpreted and with compiled tapes
(which then travel to the workers instead of f); and a fault injection: one Dask worker
killed while blocks are in flight. Forward mode in blocks sized by the cost model
(at least `ad.distributed.TASK_SECONDS` each) runs serially, on a process pool of 2 and on
a Dask `LocalCluster` of 2 worker processes (when Dask is installed); each result is
checked bit for bit against the serial one. Medians of `--repeats` interleaved rounds; the
machine has 2 cores, so 2x is the ceiling.
"""
from __future__ import annotations

import argparse
import os
import signal
import threading
import time
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


def _kill_one_worker_after(cluster, seconds: float, killed: dict) -> threading.Thread:
    """Fault injection: end one worker's process (SIGKILL) `seconds` from now; its nanny
    starts a new one and Dask reruns the lost tasks."""
    def kill():
        time.sleep(seconds)
        nanny = next(iter(cluster.workers.values()))
        killed["pid"] = nanny.process.pid
        os.kill(nanny.process.pid, signal.SIGKILL)
    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--points", type=int, default=256)
    parser.add_argument("--record", action="store_true",
                        help="write benchmarks/results/distributed_jacobians-DATE.{json,md}")
    args = parser.parse_args(argv)
    ad.compiled.interpreter()     # compiled now (not in the background: see ad.compiled)
    x = np.random.default_rng(0).uniform(0.0, 1.0, args.points)
    runs: dict[str, Any] = {}
    pool = ProcessPoolExecutor(2)
    sized = ad.jacfwd(heat, executor=pool)
    reference_blocks = sized(x)
    chunk = sized.report.chunk
    serial = ad.jacfwd(heat, chunk_size=chunk)
    want = serial(x)
    serial_compiled = ad.jacfwd(heat, chunk_size=chunk, compile=True)
    want_compiled = serial_compiled(x)
    runs["serial"] = lambda: serial(x)
    runs["serial, compiled tape"] = lambda: serial_compiled(x)
    on_pool = ad.jacfwd(heat, executor=pool, chunk_size=chunk)
    pool_compiled = ad.jacfwd(heat, executor=pool, chunk_size=chunk, compile=True)
    runs["process pool (2)"] = lambda: on_pool(x)
    runs["process pool (2), compiled tape"] = lambda: pool_compiled(x)
    identical = {"process pool (2)": bool(np.array_equal(reference_blocks, want)),
                 "process pool (2), compiled tape": bool(np.array_equal(pool_compiled(x),
                                                                        want_compiled))}
    cluster = client = None
    fault: dict[str, Any] = {}
    try:
        from dask.distributed import Client, LocalCluster
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        on_dask = ad.jacfwd(heat, executor=client, chunk_size=chunk)
        dask_compiled = ad.jacfwd(heat, executor=client, chunk_size=chunk, compile=True)
        identical["Dask LocalCluster (2 processes)"] = bool(np.array_equal(on_dask(x), want))
        identical["Dask LocalCluster (2 processes), compiled tape"] = bool(
            np.array_equal(dask_compiled(x), want_compiled))
        runs["Dask LocalCluster (2 processes)"] = lambda: on_dask(x)
        runs["Dask LocalCluster (2 processes), compiled tape"] = lambda: dask_compiled(x)
    except ImportError:
        on_dask = None
    times = _interleaved(runs, args.repeats, min_time=0.0)
    if client is not None:             # one worker killed while blocks are in flight
        killed: dict = {}
        undisturbed = times["Dask LocalCluster (2 processes)"]
        thread = _kill_one_worker_after(cluster, 0.4 * undisturbed, killed)
        start = time.perf_counter()
        got = on_dask(x)
        seconds = time.perf_counter() - start
        thread.join()
        fault = {"seconds": seconds, "undisturbed_s": undisturbed,
                 "killed pid": killed.get("pid"), "identical": bool(np.array_equal(got, want))}
    result = {"n": x.size, "chunk": chunk, "blocks": len(sized.report.blocks),
              "predicted task_s": sized.report.predicted_task_seconds,
              "block times_s": [b.seconds for b in sized.report.blocks],
              "times_s": times, "identical": identical, "fault": fault,
              "machine": machine.machine(), "environment": machine.environment()}
    if client is not None:
        client.close()
        cluster.close()
    pool.shutdown()
    n = x.size
    lines = [f"**Heat equation, 2000 steps, {n} points: a {n} x {n} Jacobian by forward mode** "
             f"({result['blocks']} blocks of {chunk} directions, predicted "
             f"{result['predicted task_s'] * 1e3:.0f} ms each, measured "
             f"{min(result['block times_s']) * 1e3:.0f}-{max(result['block times_s']) * 1e3:.0f} "
             "ms on the pool)", "",
             "| executor | time | speed-up over its serial run | bits equal to that serial run |",
             "|---|---|---|---|"]
    for name, t in times.items():
        base = times["serial, compiled tape" if "compiled" in name else "serial"]
        same = "-" if name.startswith("serial") else ("yes" if identical.get(name) else "NO")
        lines.append(f"| {name} | {t:.2f} s | {base / t:.2f}x | {same} |")
    if fault:
        lines += ["", f"Fault injection: one of the 2 Dask workers killed (SIGKILL) "
                  f"{0.4 * fault['undisturbed_s']:.2f} s into the Jacobian: it completed in "
                  f"{fault['seconds']:.2f} s, {fault['seconds'] / fault['undisturbed_s']:.2f}x "
                  f"the undisturbed median, bits equal to serial: "
                  f"{'yes' if fault['identical'] else 'NO'}."]
    text = "\n".join(lines)
    print(text)
    if args.record:
        machine.record("distributed_jacobians",
                       f"python -m benchmarks.distributed_jacobians --repeats {args.repeats} "
                       f"--points {args.points}",
                       result, text, f"medians of {args.repeats} interleaved rounds, one "
                       "process (plus the workers).")
    return result


if __name__ == "__main__":
    main()
