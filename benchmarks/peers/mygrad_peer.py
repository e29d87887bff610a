"""MyGrad peer: NumPy-protocol reverse mode on the plain NumPy definitions.

MyGrad tensors dispatch NumPy ufuncs and functions, so ``w*_f`` run unchanged.
MyGrad has only first-order reverse mode of scalars (``Tensor.backward``): it does
the gradient workloads (W1-W3); Jacobians and Hessians would need one backward pass
per row written by hand, so W4-W6 are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks import workloads as wl
from benchmarks.peers import Inputs, Variant

try:
    import mygrad as mg

    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    AVAILABLE = False


def _value_and_grad(f: Callable[..., Any], x: Any, *consts: Any) -> tuple[float, Any]:
    """Wrap ``x`` (array or dict of arrays) in tensors, run f, backpropagate."""
    def wrap(v: Any) -> Any:
        return mg.tensor(v, copy=False)

    leaves = {k: wrap(v) for k, v in x.items()} if isinstance(x, dict) else wrap(x)
    out = f(leaves, *consts)
    out.backward()
    grads = ({k: t.grad for k, t in leaves.items()} if isinstance(leaves, dict)
             else leaves.grad)
    return float(out.item()), grads


def _variant(f: Callable[..., Any], names: tuple[str, ...]) -> Variant:
    def prepare(inputs: Inputs) -> Callable[[], Any]:
        args = [inputs[n] for n in names]
        return lambda: _value_and_grad(f, *args)
    return Variant(prepare)


def workloads() -> dict[str, dict[str, Variant]]:
    """Gradient variants for W1-W3."""
    if not AVAILABLE:
        return {}
    return {"W1": {"grad": _variant(wl.w1_f, ("x",))},
            "W2": {"grad": _variant(wl.w2_f, ("x",))},
            "W3": {"grad": _variant(wl.w3_f, ("params", "X", "y"))}}
