"""Cold start of ``ad``: import time and first-call time, in fresh processes.

``python -m benchmarks.coldstart --json`` (one fresh interpreter) prints the import
time of NumPy and then of ``ad``, and for a few workloads the first call (which carries
Numba compilation, or loading compiled kernels from Numba's on-disk cache) next to the
second. :func:`probe` runs it twice with one new, empty ``NUMBA_CACHE_DIR``: the first
run is the empty cache, the second the warm one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

#: (workload, variant) pairs whose first call is measured.
CASES = (("W1", "grad"), ("W2", "grad"), ("W3", "grad"), ("W5", "hessian"))


def measure_here() -> dict[str, Any]:
    """Import and first-call times in this (fresh) process."""
    t0 = time.perf_counter()
    import numpy  # noqa: F401

    t1 = time.perf_counter()
    import ad  # noqa: F401

    t2 = time.perf_counter()
    from benchmarks import ad_workloads
    from benchmarks.workloads import SEED, WORKLOADS

    out: dict[str, Any] = {"import_numpy_s": t1 - t0, "import_ad_s": t2 - t1, "calls": {}}
    variants = ad_workloads.workloads({w: WORKLOADS[w] for w, _ in CASES})
    for wname, vname in CASES:
        run = variants[wname][vname].prepare(WORKLOADS[wname].inputs(SEED))
        a = time.perf_counter()
        run()
        b = time.perf_counter()
        run()
        c = time.perf_counter()
        out["calls"][f"{wname} {vname}"] = {"first_s": b - a, "second_s": c - b}
    return out


def _run(python: str, cwd: str, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([python, "-m", "benchmarks.coldstart", "--json"], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def probe(cwd: str, python: str = sys.executable) -> dict[str, Any]:
    """Fresh-process cold start with an empty and then a warm Numba cache."""
    with tempfile.TemporaryDirectory(prefix="ad-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [cwd, env.get("PYTHONPATH")]))
        empty = _run(python, cwd, env)
        warm = _run(python, cwd, env)
    return {"empty_cache": empty, "warm_cache": warm}


if __name__ == "__main__":
    print(json.dumps(measure_here()))
