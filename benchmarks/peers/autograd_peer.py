"""HIPS autograd peer: the shared definitions traced with ``xp=autograd.numpy``.

``autograd.jacobian`` is reverse mode (one VJP per output, in a Python loop); the
``jacfwd[loop]`` variant pushes one forward-mode JVP (``autograd.make_jvp``) per input
basis vector. Inputs are plain NumPy arrays, so ``prepare`` only binds them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from benchmarks import workloads as wl
from benchmarks.peers import Inputs, Variant

try:
    import autograd
    import autograd.numpy as anp

    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    AVAILABLE = False

Computation = Callable[[Inputs], Any]


def _variant(fn: Computation) -> Variant:
    return Variant(lambda inputs: lambda: fn(inputs))


def _jacfwd_loop(f: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
    """Forward-mode Jacobian: one JVP per column of the identity."""
    jvp = autograd.make_jvp(f)(x)
    return np.stack([jvp(e)[1] for e in np.eye(x.size)], axis=1)


def _jacobians(f: Callable[..., Any], *names: str) -> dict[str, Computation]:
    def fx(a: Inputs) -> Callable[[np.ndarray], Any]:
        return lambda x: f(x, *(a[n] for n in names), xp=anp)
    return {"jacrev": lambda a: autograd.jacobian(fx(a))(a["x"]),
            "jacfwd[loop]": lambda a: _jacfwd_loop(fx(a), a["x"])}


def _computations() -> dict[str, dict[str, Computation]]:
    w1 = partial(wl.w1_f, xp=anp)
    w2 = partial(wl.w2_f, xp=anp)
    w3 = partial(wl.w3_f, xp=anp)
    w5 = partial(wl.w5_f, xp=anp)
    out: dict[str, dict[str, Computation]] = {
        "W1": {"grad": lambda a: autograd.value_and_grad(w1)(a["x"])},
        "W2": {"grad": lambda a: autograd.value_and_grad(w2)(a["x"])},
        "W3": {"grad": lambda a: autograd.value_and_grad(w3)(a["params"], a["X"], a["y"])},
        "W5": {"hessian": lambda a: autograd.hessian(w5)(a["x"], a["A"]),
               "hvp": lambda a: autograd.hessian_vector_product(w5)(a["x"], a["A"], a["v"])},
        "W6": _jacobians(wl.w6_f, "Ws"),
    }
    for n, m in wl.W4_SIZES:
        out[f"W4_{n}x{m}"] = _jacobians(wl.w4_f, "W1", "W2")
    return out


def workloads() -> dict[str, dict[str, Variant]]:
    """Every autograd variant, keyed by workload then variant name."""
    if not AVAILABLE:
        return {}
    return {name: {k: _variant(fn) for k, fn in kinds.items()}
            for name, kinds in _computations().items()}
