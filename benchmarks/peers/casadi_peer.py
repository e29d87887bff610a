"""CasADi peer (W1): a symbolic graph built once, then evaluated per call.

``prepare`` builds the graph a CasADi user would: the shared W1 definition traced on an
``SX`` symbol (CasADi's scalar expression graph), its gradient by ``casadi.gradient``
(reverse mode on the graph), and one ``casadi.Function`` returning (value, gradient).
Two variants:

* ``value`` / ``grad``: the Function run by CasADi's virtual machine (no compiler);
* ``value[jit]`` / ``grad[jit]``: the same Function generated as C and compiled by the
  system's C compiler (``jit=True, compiler="shell"``); skipped when there is none.

The graph building (and the C compilation) happens in ``prepare``, as JAX's tracing and
compilation happen on its first call: the runner reports set-up and first call apart. Each
timed call converts the result to NumPy, as every peer does.
"""

from __future__ import annotations

import shutil
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import workloads as wl
from benchmarks.peers import Inputs, Variant

try:
    import casadi

    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    AVAILABLE = False


def _namespace() -> types.SimpleNamespace:
    """The NumPy functions W1 calls, spelled in CasADi."""
    return types.SimpleNamespace(sin=casadi.sin, cos=casadi.cos, tanh=casadi.tanh,
                                 sum=casadi.sum1)


def _variant(gradient: bool, jit: bool) -> Variant:
    def prepare(inputs: Inputs) -> Callable[[], Any]:
        x0 = np.asarray(inputs["x"], dtype=float)
        x = casadi.SX.sym("x", x0.size)
        value = wl.w1_f(x, xp=_namespace())
        outputs = [value, casadi.gradient(value, x)] if gradient else [value]
        options = {"jit": True, "compiler": "shell", "jit_options": {"flags": ["-O2"]}} \
            if jit else {}
        function = casadi.Function("w1", [x], outputs, options)
        shape = x0.shape
        if gradient:
            def run() -> tuple[float, np.ndarray]:
                v, g = function(x0)
                return float(v), np.asarray(g).reshape(shape)
        else:
            def run() -> float:
                return float(function(x0))
        return run
    return Variant(prepare)


def workloads() -> dict[str, dict[str, Variant]]:
    """W1's value and gradient, run by CasADi's virtual machine and, when a C compiler is
    on the PATH, compiled to C."""
    if not AVAILABLE:
        return {}
    variants = {"value": _variant(False, False), "grad": _variant(True, False)}
    if shutil.which("gcc") or shutil.which("cc"):
        variants.update({"value[jit]": _variant(False, True), "grad[jit]": _variant(True, True)})
    return {"W1": variants}
