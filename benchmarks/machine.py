"""What the figures were measured on: CPU, cores, versions, thread settings.

Standard library (plus NumPy, and threadpoolctl when installed): the peer worker calls
:func:`environment` in the peers' venvs too, so each record can name the versions that
produced it.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

#: Environment variables that set how many threads numeric libraries use.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS",
               "XLA_FLAGS", "NUMBA_DISABLE_JIT", "NUMBA_CACHE_DIR", "MALLOC_TOP_PAD_")

#: glibc hands freed heap back to the OS after every large temporary, so the next one
#: page-faults its memory in again; NumPy-based code (ad, the hand-written floor, autograd)
#: loses up to 3x to that (measured: W5 Hessian 4.0 -> 1.2 ms, hand NumPy 1.0 -> 0.35 ms),
#: while JAX and PyTorch keep their own caching allocators. Every participant (this process
#: and the peers' workers, which inherit the environment) runs with the same 256 MiB pad.
ALLOCATOR_ENV = {"MALLOC_TOP_PAD_": str(256 * 2 ** 20)}


def reexec_with_allocator_env() -> None:
    """Restart this interpreter with ALLOCATOR_ENV set (glibc reads it only at start)."""
    missing = {k: v for k, v in ALLOCATOR_ENV.items() if k not in os.environ}
    if not missing or os.environ.get("AD_BENCH_NO_REEXEC"):
        return
    os.environ.update(missing)
    os.environ["AD_BENCH_NO_REEXEC"] = "1"
    os.execv(sys.executable, [sys.executable, "-m", "benchmarks", *sys.argv[1:]])

#: Distributions whose versions are reported when installed (distribution name first).
PACKAGES = ("numpy", "numba", "optree", "admodes", "jax", "jaxlib", "torch", "autograd",
            "mygrad", "advect", "casadi", "threadpoolctl", "rich", "tqdm", "matplotlib")


def pin_threads(threads: int) -> None:
    """Ask every numeric library of this process for ``threads`` threads.

    Sets the environment variables (honoured by libraries not yet loaded; values the
    user set win) and, with threadpoolctl, limits BLAS/OpenMP pools already loaded.
    """
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    if threads == 1:
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                           "intra_op_parallelism_threads=1")
    try:
        import threadpoolctl
    except ImportError:
        return
    global _LIMITER
    _LIMITER = threadpoolctl.threadpool_limits(limits=threads)


_LIMITER: Any = None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, ``platform`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    """Installed versions of the packages that matter here."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def threadpools() -> list[dict[str, Any]] | None:
    """threadpoolctl's view of the loaded BLAS/OpenMP pools, if threadpoolctl is installed."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    return [{k: v for k, v in pool.items() if k in ("user_api", "internal_api", "prefix",
                                                     "version", "num_threads",
                                                     "threading_layer", "architecture")}
            for pool in threadpoolctl.threadpool_info()]


def numpy_blas() -> dict[str, Any] | None:
    """The BLAS NumPy was built against (NumPy >= 1.25 reports it as a dict)."""
    try:
        import numpy as np

        config = np.show_config(mode="dicts")
    except Exception:  # noqa: BLE001 - older NumPy, or a build without the info
        return None
    deps = config.get("Build Dependencies", {}) if isinstance(config, dict) else {}
    return {k: {kk: vv for kk, vv in v.items() if kk in ("name", "version", "openblas configuration")}
            for k, v in deps.items() if k in ("blas", "lapack")}


def environment() -> dict[str, Any]:
    """Interpreter, packages and thread settings of this process."""
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "executable": sys.executable, "versions": versions(),
            "thread_env": {v: os.environ[v] for v in THREAD_VARS if v in os.environ},
            "threadpools": threadpools()}


def machine() -> dict[str, Any]:
    """The machine: CPU model, cores (logical and usable), OS, memory."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    memory = None
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    return {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "usable_cores": usable,
            "machine": platform.machine(), "system": platform.platform(),
            "memory_bytes": memory, "hostname": platform.node(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "numpy_blas": numpy_blas()}


def record(name: str, command: str, result: dict[str, Any], text: str, how: str) -> str:
    """Write `result` (JSON) and `text` (Markdown, under a header naming the command, the
    date, this machine and `how` it was measured) as benchmarks/results/NAME-DATE.*;
    returns the stem written."""
    import json
    import time
    from pathlib import Path
    stem = Path(__file__).resolve().parent / "results" / f"{name}-{time.strftime('%Y%m%d')}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str),
                                         encoding="utf-8")
    m, e = result["machine"], result["environment"]
    head = (f"### `{command}` — {time.strftime('%Y-%m-%d')}\n\n{m['cpu']}, "
            f"{m['usable_cores']} cores, Python {e['python']}, numpy "
            f"{e['versions'].get('numpy')}, numba {e['versions'].get('numba')}; {how}\n\n")
    stem.with_suffix(".md").write_text(head + text + "\n", encoding="utf-8")
    print(f"recorded {stem}.md and .json")
    return str(stem)
