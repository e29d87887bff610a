"""The peers' side of a sparse-Jacobian benchmark: asdex (sparsity detection on the jaxpr,
greedy colouring, compressed JVPs/VJPs/HVPs) and JAX's dense `jax.jacfwd` / `jax.jacrev` /
`jax.hessian`, on fixed patterns (banded, 5-point stencil, block-diagonal, random 1%,
arrowhead, two Hessians) and on the 2-D Brusselator (N = 32) and the chained Rosenbrock
Hessian. Runs in the peers' venv (`.venv-peers`, made by `benchmarks/setup_peers.sh`).
Prints one JSON object: colour counts per pattern and colouring mode, detection /
colouring / evaluation times (seconds, medians) and max abs differences to the dense
Jacobian / Hessian. `--quick` takes fewer repeats.
Imports numpy, jax and asdex only (never `ad`).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
import traceback
import warnings

import numpy as np

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")

from benchmarks.compiled_peers import _median  # noqa: E402  (imports numpy only)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)

NOTES: list[str] = []




def _python_step(out: dict, key: str, fn, repeats: int) -> None:
    """Time a Python-heavy step (asdex's detection builds many small sets, so every few
    calls pay a full cyclic-GC pass over the process's objects): the median with loops
    of >= 0.25 s, GC pauses amortised in, and the median with the GC paused."""
    out[key + "_s"] = _median(fn, repeats, 0.25)
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        out[key + ", GC paused_s"] = _median(fn, repeats)
    finally:
        if was_enabled:
            gc.enable()


def _first(fn) -> float:
    """Seconds of one call (for a freshly jitted function: tracing + compilation + run)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _note_failure(what: str, error: BaseException) -> None:
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    NOTES.append(f"{what} failed: {last}")


# ---------------------------------------------------------------------------------------
# The patterns: each a JAX function of x plus its expected pattern (rows, cols) in numpy.

def _coo_keys(rows, cols, n_cols: int) -> np.ndarray:
    return np.unique(np.asarray(rows, np.int64) * n_cols + np.asarray(cols, np.int64))


def banded(n: int, b: int):
    """y_i = sum_{|k| <= b} sin(x_{i+k}), zero padding at the ends."""
    def f(x):
        s = jnp.pad(jnp.sin(x), b)
        return sum(s[b + k:b + k + n] for k in range(-b, b + 1))
    i, k = np.meshgrid(np.arange(n), np.arange(-b, b + 1), indexing="ij")
    j = i + k
    keep = (j >= 0) & (j < n)
    return f, (i[keep], j[keep])


def _grid_neighbours(g: int, periodic: bool):
    """(p, q) pairs of 4-neighbours on a g x g grid, row-major indices."""
    p, q = [], []
    for a in range(g):
        for c in range(g):
            for da, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                a2, c2 = a + da, c + dc
                if periodic:
                    a2, c2 = a2 % g, c2 % g
                elif not (0 <= a2 < g and 0 <= c2 < g):
                    continue
                p.append(a * g + c)
                q.append(a2 * g + c2)
    return np.array(p), np.array(q)


def stencil5(g: int):
    """y = 4 u - (4 neighbours, zero boundary) + tanh(u) on a g x g grid."""
    def f(x):
        u = x.reshape(g, g)
        up = jnp.pad(u, 1)
        nb = up[:-2, 1:-1] + up[2:, 1:-1] + up[1:-1, :-2] + up[1:-1, 2:]
        return jnp.ravel(4.0 * u - nb + jnp.tanh(u))
    p, q = _grid_neighbours(g, periodic=False)
    d = np.arange(g * g)
    return f, (np.concatenate([d, p]), np.concatenate([d, q]))


def block_diagonal(n: int, size: int):
    """Per block of `size`: B @ tanh(x_block) with a dense fixed B."""
    B = np.random.default_rng(2).standard_normal((size, size))

    def f(x):
        return jnp.ravel(jnp.tanh(x).reshape(-1, size) @ jnp.asarray(B).T)
    i, j = np.meshgrid(np.arange(n), np.arange(size), indexing="ij")
    return f, (i.ravel(), (i // size * size + j).ravel())


def random_pattern(n: int, density: float):
    """y_i = sum over j in row i of sin(x_j) * w_ij; each (i, j) kept with probability
    `density` (np.random.default_rng(0)), plus the diagonal."""
    mask = np.random.default_rng(0).random((n, n)) < density
    np.fill_diagonal(mask, True)
    rows, cols = np.nonzero(mask)
    w = np.random.default_rng(3).standard_normal(len(rows))

    def f(x):
        return jax.ops.segment_sum(jnp.sin(x)[cols] * w, rows, num_segments=n)
    return f, (rows, cols)


def arrowhead(n: int):
    """y_0 = sum(x^2), y_i = x_i^3 + x_0 (i >= 1)."""
    def f(x):
        return jnp.concatenate([jnp.sum(x * x)[None], x[1:] ** 3 + x[0]])
    r = np.arange(1, n)
    return f, (np.concatenate([np.zeros(n, int), r, r]),
               np.concatenate([np.arange(n), r, np.zeros(n - 1, int)]))


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_hessian_pattern(n: int):
    i = np.arange(n)
    return (np.concatenate([i, i[:-1], i[1:]]), np.concatenate([i, i[1:], i[:-1]]))


def grid_energy(g: int):
    """sum over grid edges of (u_p - u_q)^4 / 4 + sum cos(u), on a g x g grid."""
    def f(x):
        u = x.reshape(g, g)
        return (jnp.sum((u[1:, :] - u[:-1, :]) ** 4) / 4.0
                + jnp.sum((u[:, 1:] - u[:, :-1]) ** 4) / 4.0 + jnp.sum(jnp.cos(u)))
    p, q = _grid_neighbours(g, periodic=False)
    d = np.arange(g * g)
    return f, (np.concatenate([d, p]), np.concatenate([d, q]))


def brusselator(y):          # y has 2 * 32 * 32 = 2048 entries
    n = 32
    u, v = y[:n * n].reshape(n, n), y[n * n:].reshape(n, n)

    def lap(w):
        return (jnp.roll(w, 1, 0) + jnp.roll(w, -1, 0) + jnp.roll(w, 1, 1)
                + jnp.roll(w, -1, 1) - 4.0 * w)
    du = 1.0 + u * u * v - 4.4 * u + 0.1 * lap(u)
    dv = 3.4 * u - u * u * v + 0.1 * lap(v)
    return jnp.concatenate([jnp.ravel(du), jnp.ravel(dv)])


# ---------------------------------------------------------------------------------------

def _pattern_info(sparsity, expected, n: int) -> dict:
    found = _coo_keys(sparsity.rows, sparsity.cols, n)
    want = _coo_keys(*expected, n)
    return {"n": int(n), "nnz detected": int(sparsity.nnz), "nnz expected": int(len(want)),
            "detected pattern exact": bool(np.array_equal(found, want))}


def colour_counts(asdex) -> tuple[dict, dict]:
    """Colours per pattern: asdex's default choice and every colouring it exposes."""
    colours: dict = {}
    patterns: dict = {}
    jacobians = {
        "banded b=1": (1000, *banded(1000, 1)),
        "banded b=2": (1000, *banded(1000, 2)),
        "banded b=5": (1000, *banded(1000, 5)),
        "5-point stencil 32x32": (1024, *stencil5(32)),
        "block-diagonal 4": (1000, *block_diagonal(1000, 4)),
        "random 1%": (1000, *random_pattern(1000, 0.01)),
        "arrowhead 1000": (1000, *arrowhead(1000)),
    }
    for name, (n, f, expected) in jacobians.items():
        try:
            x = np.linspace(0.1, 0.9, n)
            sp = asdex.jacobian_sparsity(f, x)
            info = _pattern_info(sp, expected, n)
            default = asdex.jacobian_coloring_from_sparsity(sp)
            entry = {"asdex": int(default.num_colors),
                     "column (fwd, JVPs)": int(asdex.color_cols(sp)[1]),
                     "row (rev, VJPs)": int(asdex.color_rows(sp)[1])}
            info["asdex default mode"] = default.mode
            symmetric_pattern = np.array_equal(_coo_keys(sp.rows, sp.cols, n),
                                               _coo_keys(sp.cols, sp.rows, n))
            info["pattern symmetric"] = bool(symmetric_pattern)
            if symmetric_pattern:
                entry["star (symmetric=True)"] = int(asdex.color_symmetric(sp)[1])
                entry["star, postprocessed"] = int(
                    asdex.color_symmetric(sp, postprocess=True)[1])
            colours[name] = entry
            patterns[name] = info
        except Exception as error:  # noqa: BLE001 - record and go on
            _note_failure(f"colours for {name}", error)
    hessians = {
        "rosenbrock hessian 10^4": (10_000, rosenbrock, rosenbrock_hessian_pattern(10_000)),
        "grid energy hessian 100x100": (10_000, *grid_energy(100)),
    }
    for name, (n, f, expected) in hessians.items():
        try:
            x = np.linspace(0.1, 0.9, n)
            sp = asdex.hessian_sparsity(f, x)
            info = _pattern_info(sp, expected, n)
            default = asdex.hessian_coloring_from_sparsity(sp)
            info["asdex default mode"] = default.mode
            colours[name] = {
                "asdex": int(default.num_colors),
                "star, postprocessed": int(asdex.hessian_coloring_from_sparsity(
                    sp, postprocess=True).num_colors),
                "column (symmetric=False)": int(asdex.hessian_coloring_from_sparsity(
                    sp, symmetric=False).num_colors),
                "row (rev, VJPs of the gradient)": int(asdex.color_rows(sp)[1])}
            patterns[name] = info
        except Exception as error:  # noqa: BLE001
            _note_failure(f"colours for {name}", error)
    return colours, patterns


def brusselator_bench(asdex, repeats: int) -> dict:
    out: dict = {"n": 2048}
    x = np.random.default_rng(1).uniform(0.5, 1.5, 2048)
    xj = jnp.asarray(x)
    f = brusselator
    try:
        out["asdex detection first call_s"] = _first(lambda: asdex.jacobian_sparsity(f, x))
        _python_step(out, "asdex detection", lambda: asdex.jacobian_sparsity(f, x), repeats)
        sp = asdex.jacobian_sparsity(f, x)
        out["nnz"] = int(sp.nnz)
        out["asdex colouring first call_s"] = _first(
            lambda: asdex.jacobian_coloring_from_sparsity(sp))
        out["asdex colouring_s"] = _median(
            lambda: asdex.jacobian_coloring_from_sparsity(sp), repeats)
        _python_step(out, "asdex preparation (asdex.jacobian: detection + colouring)",
                     lambda: asdex.jacobian(f, x), repeats)
        coloring = asdex.jacobian_coloring_from_sparsity(sp)
        out["colours"] = int(coloring.num_colors)
        out["asdex mode"] = coloring.mode
        out["colours column (fwd)"] = int(asdex.color_cols(sp)[1])
        out["colours row (rev)"] = int(asdex.color_rows(sp)[1])
        for fmt in ("bcoo", "dense"):
            jac = jax.jit(asdex.jacobian_from_coloring(f, coloring, output_format=fmt))
            out[f"asdex jit first call (compiles), {fmt} output_s"] = _first(
                lambda: jax.block_until_ready(jac(xj)))
            out[f"asdex jit, {fmt} output_s"] = _median(
                lambda: jax.block_until_ready(jac(xj)), repeats)
        sparse_dense = np.asarray(jax.jit(asdex.jacobian_from_coloring(
            f, coloring, output_format="dense"))(xj))
        sparse_bcoo = np.asarray(jax.jit(asdex.jacobian_from_coloring(f, coloring))(xj)
                                 .todense())
    except Exception as error:  # noqa: BLE001
        _note_failure("asdex on the Brusselator", error)
        sparse_dense = sparse_bcoo = None
    dense = {}
    for name, make in (("jacfwd", jax.jacfwd), ("jacrev", jax.jacrev)):
        jac = jax.jit(make(f))
        out[f"JAX {name} jit first call (compiles)_s"] = _first(
            lambda: jax.block_until_ready(jac(xj)))
        out[f"JAX {name} jit_s"] = _median(lambda: jax.block_until_ready(jac(xj)), repeats)
        dense[name] = np.asarray(jac(xj))
    out["max abs diff jacfwd vs jacrev"] = float(np.max(np.abs(dense["jacfwd"]
                                                               - dense["jacrev"])))
    if sparse_dense is not None:
        diff = float(np.max(np.abs(sparse_dense - dense["jacfwd"])))
        out["max abs diff asdex vs jacfwd"] = diff
        out["max abs diff asdex bcoo vs jacfwd"] = float(
            np.max(np.abs(sparse_bcoo - dense["jacfwd"])))
        out["asdex equals dense to 1e-12"] = bool(diff <= 1e-12)
    return out


def _sparse_hessian_timings(asdex, f, x, repeats: int, prefix: str, out: dict,
                            dense_output: bool):
    out[f"{prefix}asdex detection first call_s"] = _first(
        lambda: asdex.hessian_sparsity(f, x))
    _python_step(out, f"{prefix}asdex detection", lambda: asdex.hessian_sparsity(f, x),
                 repeats)
    sp = asdex.hessian_sparsity(f, x)
    out[f"{prefix}nnz"] = int(sp.nnz)
    out[f"{prefix}asdex colouring_s"] = _median(
        lambda: asdex.hessian_coloring_from_sparsity(sp), repeats)
    coloring = asdex.hessian_coloring_from_sparsity(sp)
    out[f"{prefix}colours"] = int(coloring.num_colors)
    out[f"{prefix}asdex mode"] = coloring.mode
    xj = jnp.asarray(x)
    formats = ("bcoo", "dense") if dense_output else ("bcoo",)
    results = {}
    for fmt in formats:
        hess = jax.jit(asdex.hessian_from_coloring(f, coloring, output_format=fmt))
        out[f"{prefix}asdex jit first call (compiles), {fmt} output_s"] = _first(
            lambda: jax.block_until_ready(hess(xj)))
        out[f"{prefix}asdex jit, {fmt} output_s"] = _median(
            lambda: jax.block_until_ready(hess(xj)), repeats)
        results[fmt] = hess(xj)
    return results


def hessian_bench(asdex, repeats: int, n_big: int = 10_000, n_dense: int = 2_000) -> dict:
    out: dict = {"function": "chained Rosenbrock", "n sparse": n_big, "n dense": n_dense}
    rng = np.random.default_rng(4)
    # n = 10^4: sparse only (a dense 10^4 x 10^4 Hessian is 800 MB); check H v against an
    # HVP (jvp of grad) for a few random v.
    try:
        x = rng.uniform(-1.0, 1.5, n_big)
        res = _sparse_hessian_timings(asdex, rosenbrock, x, repeats, "", out, False)
        H = res["bcoo"]
        hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(rosenbrock), (x,), (v,))[1])
        err = scale = 0.0
        for _ in range(3):
            v = jnp.asarray(rng.standard_normal(n_big))
            exact = hvp(jnp.asarray(x), v)
            err = max(err, float(jnp.max(jnp.abs(H @ v - exact))))
            scale = max(scale, float(jnp.max(jnp.abs(exact))))
        out["max abs diff asdex H v vs HVP (3 random v)"] = err
        out["max abs HVP entry"] = scale
    except Exception as error:  # noqa: BLE001
        _note_failure(f"asdex Rosenbrock Hessian n={n_big}", error)
    # n = 2,000: sparse and dense side by side.
    x = rng.uniform(-1.0, 1.5, n_dense)
    xj = jnp.asarray(x)
    p = f"n={n_dense}: "
    try:
        res = _sparse_hessian_timings(asdex, rosenbrock, x, repeats, p, out, True)
    except Exception as error:  # noqa: BLE001
        _note_failure(f"asdex Rosenbrock Hessian n={n_dense}", error)
        res = None
    hess = jax.jit(jax.hessian(rosenbrock))
    out[p + "JAX hessian (jacfwd of jacrev) jit first call (compiles)_s"] = _first(
        lambda: jax.block_until_ready(hess(xj)))
    out[p + "JAX hessian (jacfwd of jacrev) jit_s"] = _median(
        lambda: jax.block_until_ready(hess(xj)), repeats)
    dense = np.asarray(hess(xj))
    if res is not None:
        diff = float(np.max(np.abs(np.asarray(res["dense"]) - dense)))
        out[p + "max abs diff asdex vs jax.hessian"] = diff
        out[p + "max abs diff asdex bcoo vs jax.hessian"] = float(
            np.max(np.abs(np.asarray(res["bcoo"].todense()) - dense)))
        out[p + "max abs jax.hessian entry"] = float(np.max(np.abs(dense)))
        out[p + "asdex equals dense to 1e-12"] = bool(diff <= 1e-12)
    return out


def _versions() -> dict:
    from importlib import metadata
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "jax": jax.__version__}
    for name in ("jaxlib", "asdex", "numba"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7
    results: dict = {"versions": _versions(), "repeats": repeats,
                     "xla_flags": os.environ.get("XLA_FLAGS", "")}
    start = time.perf_counter()
    try:
        import asdex
    except Exception as error:  # noqa: BLE001
        _note_failure("import asdex", error)
        asdex = None
    if asdex is not None:
        # Arrowhead colourings by rows or columns are dense (n colours); asdex warns.
        warnings.filterwarnings("ignore", category=asdex.DenseColoringWarning)
        try:   # the colouring kernels are numba functions cached on disk: load them once
            tiny = asdex.SparsityPattern.from_dense(np.eye(3, dtype=bool))
            results["asdex first colouring in process (numba cache load)_s"] = _first(
                lambda: (asdex.color_cols(tiny), asdex.color_rows(tiny),
                         asdex.color_symmetric(tiny)))
        except Exception as error:  # noqa: BLE001
            _note_failure("first asdex colouring", error)
        try:
            results["colours"], results["patterns"] = colour_counts(asdex)
        except Exception as error:  # noqa: BLE001
            _note_failure("colour counts", error)
    for key, bench in (("brusselator", brusselator_bench), ("hessian", hessian_bench)):
        try:
            results[key] = bench(asdex, repeats)
        except Exception as error:  # noqa: BLE001
            _note_failure(key, error)
    NOTES.append(
        "colours: 'asdex' is asdex's default choice (Jacobians: the fewer of greedy "
        "column/JVP and row/VJP distance-2 colourings, ties to columns; Hessians: star "
        "colouring, no postprocessing, forward-over-reverse HVPs); all colourings use "
        "LargestFirst order. Star colourings of Jacobian patterns are listed for "
        "structurally symmetric patterns only and are valid only for numerically "
        "symmetric Jacobians (none of these is), so they are for comparison.")
    NOTES.append("times in seconds, medians of `repeats` samples (loops of >= 50 ms; asdex "
                 "detection and preparation: loops of >= 0.25 s, and again with Python's "
                 "cyclic GC paused, as a GC pass over jax's objects lands in every few "
                 "detections); "
                 "'first call' = one call of a fresh function (for jit: trace + compile "
                 "+ run); the numba colouring kernels are loaded before any figure is taken")
    if sys.version_info < (3, 12):
        NOTES.append("asdex 0.5.2 (the newest) requires Python >= 3.12; this venv is Python "
                     f"{platform.python_version()}, so pip installs the newest it allows "
                     f"(asdex {results['versions'].get('asdex')})")
    results["total_s"] = time.perf_counter() - start
    results["notes"] = NOTES
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
