"""advect peer: NumPy-protocol AD on the plain NumPy definitions (Python >= 3.12).

advect lives in its own venv (``.venv-advect``), so the runner calls this module in
a subprocess (:func:`benchmarks.peers.run_subprocess_peer`), which prints the
check/timing records as JSON::

    .venv-advect/bin/python -m benchmarks.peers.advect_peer [--only W4] [--no-timing]

Variants: ``grad`` traces on every call; ``grad[staged]`` stages the function once in
``prepare`` (``advect.stage``) and differentiates the staged program. ``jacobian``
lets advect pick the mode; ``jacfwd[linearize]`` / ``jacrev[linearize]`` force it by
applying one linearization to every input / output basis vector.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import workloads as wl
from benchmarks.peers import Inputs, Variant, subprocess_main

try:
    import advect

    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    AVAILABLE = False


def _bind(fn: Callable[..., Any], names: tuple[str, ...]) -> Variant:
    """Variant calling ``fn(*inputs[names])``; inputs stay NumPy arrays."""
    def prepare(inputs: Inputs) -> Callable[[], Any]:
        args = [inputs[n] for n in names]
        return lambda: fn(*args)
    return Variant(prepare)


def _staged_grad(f: Callable[..., Any], names: tuple[str, ...]) -> Variant:
    """value_and_grad of a program staged from the inputs (compiled in prepare)."""
    def prepare(inputs: Inputs) -> Callable[[], Any]:
        args = [inputs[n] for n in names]
        program = advect.value_and_grad(advect.stage(f, *args))
        return lambda: program(*args)
    return Variant(prepare)


def _jacfwd(f: Callable[..., Any], x: np.ndarray, *consts: Any) -> np.ndarray:
    _, lin = advect.linearize(f, x, *consts)
    with lin:
        return np.stack(lin.apply_many(tuple(np.eye(x.size))), axis=1)


def _jacrev(f: Callable[..., Any], x: np.ndarray, *consts: Any) -> np.ndarray:
    y, lin = advect.linearize(f, x, *consts)
    with lin:
        return np.stack(lin.transpose_many(tuple(np.eye(np.size(y)))), axis=0)


def _jacobians(f: Callable[..., Any], names: tuple[str, ...]) -> dict[str, Variant]:
    return {"jacobian": _bind(advect.jacobian(f), names),
            "jacfwd[linearize]": _bind(lambda *a: _jacfwd(f, *a), names),
            "jacrev[linearize]": _bind(lambda *a: _jacrev(f, *a), names)}


def workloads() -> dict[str, dict[str, Variant]]:
    """Every advect variant, keyed by workload then variant name."""
    if not AVAILABLE:
        return {}
    out: dict[str, dict[str, Variant]] = {}
    for name, f, names in (("W1", wl.w1_f, ("x",)), ("W2", wl.w2_f, ("x",)),
                           ("W3", wl.w3_f, ("params", "X", "y"))):
        out[name] = {"grad": _bind(advect.value_and_grad(f), names),
                     "grad[staged]": _staged_grad(f, names)}
    out["W5"] = {
        "hessian": _bind(advect.hessian(wl.w5_f), ("x", "A")),
        "hvp": _bind(lambda x, A, v: advect.hvp(wl.w5_f)(x, A, vectors=v)[1], ("x", "A", "v")),
    }
    for n, m in wl.W4_SIZES:
        out[f"W4_{n}x{m}"] = _jacobians(wl.w4_f, ("x", "W1", "W2"))
    out["W6"] = _jacobians(wl.w6_f, ("x", "Ws"))
    return out


if __name__ == "__main__":
    subprocess_main("advect_peer", workloads)
