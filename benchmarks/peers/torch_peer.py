"""PyTorch (float64, CPU) peer: eager autograd, ``torch.func`` and
``torch.autograd.functional``.

The elementwise/matmul workloads reuse the shared definitions with ``xp=torch`` (the
names used coincide); the MLP loss is written idiomatically with
``torch.nn.functional.cross_entropy``. Inputs are converted to tensors in
``prepare``; results are converted back to NumPy inside the timed call.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from benchmarks import workloads as wl
from benchmarks.peers import Inputs, Variant

try:
    import torch
    import torch.nn.functional as F
    from torch.autograd import functional as AF

    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    AVAILABLE = False

Computation = Callable[[dict[str, Any]], Any]


def _to_torch(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _to_torch(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_torch(v) for v in tree)
    return torch.from_numpy(np.ascontiguousarray(tree))


def _to_numpy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _to_numpy(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_numpy(v) for v in tree)
    return tree.detach().numpy() if tree.ndim else tree.item()


def _variant(fn: Computation) -> Variant:
    def prepare(inputs: Inputs) -> Callable[[], Any]:
        args = _to_torch(inputs)
        return lambda: _to_numpy(fn(args))
    return Variant(prepare)


def w3_loss(params: dict[str, Any], X: Any, y: Any) -> Any:
    """The W3 loss in idiomatic PyTorch."""
    h = torch.tanh(X @ params["W1"] + params["b1"])
    h = torch.tanh(h @ params["W2"] + params["b2"])
    z = h @ params["W3"] + params["b3"]
    l2 = sum(torch.sum(params[k] * params[k]) for k in wl.W3_WEIGHTS)
    return F.cross_entropy(z, y) + wl.W3_LAMBDA * l2


def _eager_value_and_grad(f: Callable[..., Any], x: Any, *consts: Any) -> Any:
    """Classic autograd on a fresh leaf (tensor or dict of tensors)."""
    leaves = x if isinstance(x, dict) else {"": x}
    leaves = {k: v.detach().requires_grad_() for k, v in leaves.items()}
    val = f(leaves if isinstance(x, dict) else leaves[""], *consts)
    grads = dict(zip(leaves, torch.autograd.grad(val, list(leaves.values()))))
    return val, (grads if isinstance(x, dict) else grads[""])


def _scalar(f: Callable[..., Any], names: tuple[str, ...]) -> dict[str, Computation]:
    """value / grad / grad[func] for a scalar function of inputs ``names``."""
    def value(a: dict[str, Any]) -> Any:
        with torch.no_grad():
            return f(*(a[n] for n in names))
    return {
        "value": value,
        "grad": lambda a: _eager_value_and_grad(f, *(a[n] for n in names)),
        "grad[func]": lambda a: tuple(reversed(
            torch.func.grad_and_value(f)(*(a[n] for n in names)))),
    }


def _jacobians(f: Callable[..., Any], *names: str) -> dict[str, Computation]:
    """All Jacobian flavours of ``f(a["x"], *constants)`` w.r.t. ``x``."""
    def fx(a: dict[str, Any]) -> Callable[[Any], Any]:
        return lambda x: f(x, *(a[n] for n in names))
    return {
        "jacfwd[func]": lambda a: torch.func.jacfwd(fx(a))(a["x"]),
        "jacrev[func]": lambda a: torch.func.jacrev(fx(a))(a["x"]),
        "jacfwd[functional]": lambda a: AF.jacobian(fx(a), a["x"], vectorize=True,
                                                    strategy="forward-mode"),
        "jacrev[functional]": lambda a: AF.jacobian(fx(a), a["x"], vectorize=True),
    }


def _eager_hvp(f: Callable[[Any], Any], x: Any, v: Any) -> Any:
    """Double backward: grad of <grad f, v>."""
    x = x.detach().requires_grad_()
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    return torch.autograd.grad(g @ v, x)[0]


def _computations() -> dict[str, dict[str, Computation]]:
    w5 = partial(wl.w5_f, xp=torch)

    def f5(a: dict[str, Any]) -> Callable[[Any], Any]:
        return lambda x: w5(x, a["A"])

    out: dict[str, dict[str, Computation]] = {
        "W1": _scalar(partial(wl.w1_f, xp=torch), ("x",)),
        "W2": _scalar(partial(wl.w2_f, xp=torch), ("x",)),
        "W3": _scalar(w3_loss, ("params", "X", "y")),
        "W5": {
            "hessian[func]": lambda a: torch.func.hessian(f5(a))(a["x"]),
            "hessian[functional]": lambda a: AF.hessian(f5(a), a["x"], vectorize=True),
            "hvp": lambda a: _eager_hvp(f5(a), a["x"], a["v"]),
            "hvp[func]": lambda a: torch.func.jvp(torch.func.grad(f5(a)),
                                                  (a["x"],), (a["v"],))[1],
        },
        "W6": _jacobians(partial(wl.w6_f, xp=torch), "Ws"),
    }
    for n, m in wl.W4_SIZES:
        out[f"W4_{n}x{m}"] = _jacobians(partial(wl.w4_f, xp=torch), "W1", "W2")
    return out


def workloads() -> dict[str, dict[str, Variant]]:
    """Every torch variant, keyed by workload then variant name."""
    if not AVAILABLE:
        return {}
    return {name: {k: _variant(fn) for k, fn in kinds.items()}
            for name, kinds in _computations().items()}
