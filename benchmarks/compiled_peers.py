"""The peers' side of `benchmarks.compiled_tapes`: JAX (jit, with `lax.fori_loop` as a JAX
user writes a fixed loop; first call with compilation and later calls) and PyTorch eager
on the op mix, W7 and the "Fastest Autograd in the West" graph, the same functions as
there. Runs in the peers' venv
(`.venv-peers`, made by `benchmarks/setup_peers.sh`); `python -m benchmarks.compiled_tapes`
starts it in the same run and prints its figures beside `ad`'s. Prints one JSON object.
Imports numpy, jax and torch only (never `ad`).
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")


def _median(fn, repeats: int, min_time: float = 0.05) -> float:
    fn()
    start = time.perf_counter()
    fn()
    loops = max(1, int(min_time / max(time.perf_counter() - start, 1e-7)))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - start) / loops)
    return float(np.median(samples))


def _programs(op_mix, lotka_volterra) -> dict:
    """The programs of `benchmarks.compiled_tapes` (same names, sizes and inputs) from one
    library's definitions of the op mix and W7."""
    return {"op mix, 100 ops": (op_mix(12), np.linspace(-1, 1, 10)),
            "op mix, 1,000 ops": (op_mix(125), np.linspace(-1, 1, 10)),
            "op mix, 10,000 ops": (op_mix(1250), np.linspace(-1, 1, 10)),
            "W7 Lotka-Volterra RK4, 1,000 steps":
            (lotka_volterra(), np.array([1.1, 0.4, 0.4, 0.1, 10.0, 10.0]))}


def _faitw(softplus, stack, softmax):
    """The "Fastest Autograd in the West" graph (`benchmarks.compiled_tapes.faitw_graph`)
    from one library's softplus, stack and softmax."""
    def graph(n_operations):
        def f(x):
            nodes = [x[i] for i in range(x.shape[0])]
            for op in range(n_operations):
                kind = op % 4
                if kind == 0:
                    nodes.append(softplus(nodes[-10]))
                elif kind == 1:
                    nodes.append(sum(nodes[-30:-10:5]))
                elif kind == 2:
                    nodes.append(nodes[-20] * nodes[-10])
                else:
                    nodes.extend(softmax(stack(nodes[-4:])))
            return nodes[-1]
        return f
    return graph


#: JAX jit compiles the unrolled graph of 10,000 operations for about 6.5 minutes on this
#: machine (390 s once, 21.6 ms per call after): only 1,000 are run here.
FAITW_JAX = {"FAitW graph, 1,000 ops": 1000}
FAITW_TORCH = {"FAitW graph, 1,000 ops": 1000, "FAitW graph, 10,000 ops": 10_000}


def jax_programs():
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)

    def op_mix(blocks):
        def block(_, x):
            e = jnp.exp(x)
            p = e / jnp.sum(e)
            return jnp.log1p(jnp.exp(p)) * 0.5 + x * 0.5

        def f(x):
            return jnp.sum(jax.lax.fori_loop(0, blocks, block, x) ** 2)
        return f

    def lotka_volterra(steps=1000, dt=0.01):
        def rhs(x, y, a, b, c, d):
            return a * x - b * x * y, -c * y + d * x * y

        def step(_, state):
            x, y, a, b, c, d = state
            k1x, k1y = rhs(x, y, a, b, c, d)
            k2x, k2y = rhs(x + 0.5 * dt * k1x, y + 0.5 * dt * k1y, a, b, c, d)
            k3x, k3y = rhs(x + 0.5 * dt * k2x, y + 0.5 * dt * k2y, a, b, c, d)
            k4x, k4y = rhs(x + dt * k3x, y + dt * k3y, a, b, c, d)
            return (x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x),
                    y + dt / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y), a, b, c, d)

        def f(theta):
            a, b, c, d, x, y = (theta[i] for i in range(6))
            x, y, *_ = jax.lax.fori_loop(0, steps, step, (x, y, a, b, c, d))
            return x + y
        return f

    programs = _programs(op_mix, lotka_volterra)
    graph = _faitw(jax.nn.softplus, jnp.stack, jax.nn.softmax)
    programs.update({name: (graph(n), np.arange(100.0)) for name, n in FAITW_JAX.items()})
    out = {}
    for name, (f, x) in programs.items():
        grad = jax.jit(jax.value_and_grad(f))
        xj = jnp.asarray(x)
        start = time.perf_counter()
        jax.block_until_ready(grad(xj))
        first = time.perf_counter() - start
        later = _median(lambda: jax.block_until_ready(grad(xj)), 7)
        out[name] = {"JAX jit first call (compiles)_s": first, "JAX jit_s": later}
    return out


def torch_programs():
    import torch
    torch.set_num_threads(1)

    def op_mix(blocks):
        def f(x):
            for _ in range(blocks):
                e = torch.exp(x)
                p = e / torch.sum(e)
                x = torch.log1p(torch.exp(p)) * 0.5 + x * 0.5
            return torch.sum(x * x)
        return f

    def lotka_volterra(steps=1000, dt=0.01):
        def f(theta):
            a, b, c, d, x, y = (theta[i] for i in range(6))
            for _ in range(steps):
                def rhs(x, y):
                    return a * x - b * x * y, -c * y + d * x * y
                k1x, k1y = rhs(x, y)
                k2x, k2y = rhs(x + 0.5 * dt * k1x, y + 0.5 * dt * k1y)
                k3x, k3y = rhs(x + 0.5 * dt * k2x, y + 0.5 * dt * k2y)
                k4x, k4y = rhs(x + dt * k3x, y + dt * k3y)
                x = x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
                y = y + dt / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
            return x + y
        return f

    programs = _programs(op_mix, lotka_volterra)
    import torch.nn.functional as F
    graph = _faitw(F.softplus, torch.stack, lambda s: F.softmax(s, dim=0))
    programs.update({name: (graph(n), np.arange(100.0)) for name, n in FAITW_TORCH.items()})
    out = {}
    for name, (f, x) in programs.items():
        def grad():
            t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
            y = f(t)
            y.backward()
            return y.item(), t.grad
        out[name] = {"torch eager_s": _median(grad, 3, 0.0)}
    return out


def main() -> None:
    results: dict = {}
    for part in (jax_programs, torch_programs):
        try:
            for name, values in part().items():
                results.setdefault(name, {}).update(values)
        except ImportError as error:
            results.setdefault("missing", []).append(str(error))
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
