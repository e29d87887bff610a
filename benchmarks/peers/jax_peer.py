"""JAX (float64, CPU) peer, eager and ``jax.jit``-compiled.

The shared workload definitions are traced with ``xp=jax.numpy``. Inputs are put on
the device in ``prepare``; compilation of the ``[jit]`` variants happens on the first
call. Results are blocked on and converted back to NumPy inside the timed call.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from benchmarks import workloads as wl
from benchmarks.peers import Inputs, Variant

try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    AVAILABLE = False

Computation = Callable[[Inputs], Any]


def _to_numpy(tree: Any) -> Any:
    """Block on an async result and convert every leaf to NumPy."""
    return jax.tree_util.tree_map(np.asarray, jax.block_until_ready(tree))


def _variant(fn: Computation, jit: bool) -> Variant:
    def prepare(inputs: Inputs) -> Callable[[], Any]:
        args = jax.device_put(inputs)
        compiled = jax.jit(fn) if jit else fn
        return lambda: _to_numpy(compiled(args))
    return Variant(prepare)


def _jacobians(f: Callable[..., Any], *names: str) -> dict[str, Computation]:
    """Forward and reverse Jacobians of ``f(a["x"], *constants)`` w.r.t. ``x``."""
    def with_mode(transform: Callable[..., Any]) -> Computation:
        return lambda a: transform(lambda x: f(x, *(a[n] for n in names), xp=jnp))(a["x"])
    return {"jacfwd": with_mode(jax.jacfwd), "jacrev": with_mode(jax.jacrev)}


def _computations() -> dict[str, dict[str, Computation]]:
    w1 = partial(wl.w1_f, xp=jnp)
    w2 = partial(wl.w2_f, xp=jnp)
    w3 = partial(wl.w3_f, xp=jnp)
    w5 = partial(wl.w5_f, xp=jnp)
    out: dict[str, dict[str, Computation]] = {
        "W1": {"value": lambda a: w1(a["x"]),
               "grad": lambda a: jax.value_and_grad(w1)(a["x"])},
        "W2": {"value": lambda a: w2(a["x"]),
               "grad": lambda a: jax.value_and_grad(w2)(a["x"])},
        "W3": {"value": lambda a: w3(a["params"], a["X"], a["y"]),
               "grad": lambda a: jax.value_and_grad(w3)(a["params"], a["X"], a["y"])},
        "W5": {"hessian": lambda a: jax.hessian(w5)(a["x"], a["A"]),
               "hvp": lambda a: jax.jvp(lambda x: jax.grad(w5)(x, a["A"]),
                                        (a["x"],), (a["v"],))[1]},
        "W6": _jacobians(wl.w6_f, "Ws"),
    }
    for n, m in wl.W4_SIZES:
        out[f"W4_{n}x{m}"] = _jacobians(wl.w4_f, "W1", "W2")
    return out


def workloads() -> dict[str, dict[str, Variant]]:
    """Eager (``kind``) and jitted (``kind[jit]``) variants for every workload."""
    if not AVAILABLE:
        return {}
    return {name: {**{k: _variant(fn, False) for k, fn in kinds.items()},
                   **{f"{k}[jit]": _variant(fn, True) for k, fn in kinds.items()}}
            for name, kinds in _computations().items()}
