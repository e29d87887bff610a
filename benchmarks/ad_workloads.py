"""``ad``'s side of every workload, as :class:`benchmarks.peers.Variant` objects.

Same contract as a peer module: ``workloads(table)`` returns ``{workload: {variant:
Variant}}`` and each variant's result has the shape of ``Workload.reference[kind]``.
Functions are the plain NumPy definitions of :mod:`benchmarks.workloads` (``ad``
dispatches NumPy's protocol), differentiated with ``ad``'s public transforms:

* ``value``  the function on plain arrays (what ``grad/f`` divides by)
* ``grad``   ``ad.value_and_grad``
* ``jacfwd`` / ``jacrev`` / ``jacobian``  ``ad.jacfwd``, ``ad.jacrev``,
  ``ad.jacobian(mode="auto")``
* ``hessian`` / ``hvp``  ``ad.hessian``, ``ad.hvp``
* ``jacobian[optimal]`` (W6) optimal bracketing through ``ad.chain`` when ``ad`` has it
* ``grad[numpy-path]`` (W2) the gradient with the Numba kernels switched off, when
  ``ad.kernels`` has the size switch (so fused and plain NumPy paths show side by side)
* ``grad[compiled]`` (W1) ``ad.value_and_grad(f, compile=True)``: a compiled tape
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import ad

from benchmarks import workloads as wl
from benchmarks.peers import Inputs, Variant

TOOL = "ad"


def _scalar(f: Callable[..., Any], names: tuple[str, ...]) -> dict[str, Variant]:
    """value and grad of a scalar function of ``inputs[names]`` (grad w.r.t. the first)."""
    value_and_grad = ad.value_and_grad(f)

    def value(inputs: Inputs) -> Callable[[], Any]:
        args = [inputs[n] for n in names]
        return lambda: float(f(*args))

    def grad(inputs: Inputs) -> Callable[[], Any]:
        args = [inputs[n] for n in names]
        return lambda: value_and_grad(*args)

    return {"value": Variant(value), "grad": Variant(grad)}


def _compiled_grad(f: Callable[..., Any], names: tuple[str, ...]) -> Variant:
    """``ad.value_and_grad(f, compile=True)``: recorded and lowered on the warm-up call, a
    compiled tape replayed after (issue 12)."""
    value_and_grad = ad.value_and_grad(f, compile=True)

    def prepare(inputs: Inputs) -> Callable[[], Any]:
        # the set-up waits for the interpreter (a machine's first use compiles it: outside
        # a benchmark those calls would run interpreted meanwhile, see ad.compiled)
        ad.compiled.interpreter()
        args = [inputs[n] for n in names]
        return lambda: value_and_grad(*args)
    return Variant(prepare)


@contextlib.contextmanager
def numpy_kernels() -> Iterator[bool]:
    """Force ``ad``'s plain NumPy elementwise path while the block runs.

    Yields whether a switch was found (``ad.kernels.NUMBA_MIN_SIZE``); without one
    nothing changes.
    """
    kernels = getattr(ad, "kernels", None)
    if kernels is None or not hasattr(kernels, "NUMBA_MIN_SIZE"):
        yield False
        return
    saved = kernels.NUMBA_MIN_SIZE
    kernels.NUMBA_MIN_SIZE = float("inf")
    try:
        yield True
    finally:
        kernels.NUMBA_MIN_SIZE = saved


def _numpy_path_grad(f: Callable[..., Any]) -> Variant:
    value_and_grad = ad.value_and_grad(f)

    def prepare(inputs: Inputs) -> Callable[[], Any]:
        x = inputs["x"]

        def run() -> Any:
            with numpy_kernels():
                return value_and_grad(x)
        return run
    return Variant(prepare)


def _jacobians(f: Callable[..., Any], consts: tuple[str, ...]) -> dict[str, Variant]:
    """Forward, reverse and auto Jacobians of ``f(x, *consts)`` w.r.t. ``x``."""
    def with_transform(transform: Callable[..., Any]) -> Variant:
        def prepare(inputs: Inputs) -> Callable[[], Any]:
            jac = transform(f)
            x, rest = inputs["x"], [inputs[n] for n in consts]
            return lambda: jac(x, *rest)
        return Variant(prepare)
    return {"jacfwd": with_transform(ad.jacfwd),
            "jacrev": with_transform(ad.jacrev),
            "jacobian": with_transform(lambda g: ad.jacobian(g, mode="auto"))}


def _tanh_stage(W: Any) -> Callable[[Any], Any]:
    import numpy as np

    def stage(x: Any) -> Any:
        return np.tanh(W @ x)
    return stage


def chain_jacobian(Ws: list[Any]) -> Callable[[Any], Any]:
    """The optimally bracketed Jacobian of the W6 chain through ``ad.chain``.

    ``ad.chain(f1, ..., fL)`` composes stages (issue 4); its optimal Jacobian is asked
    for as ``ad.jacobian(chain, mode="optimal")`` or, failing that, as
    ``chain.jacobian(mode="optimal")``.
    """
    composed = ad.chain(*[_tanh_stage(W) for W in Ws])
    try:
        return ad.jacobian(composed, mode="optimal")
    except (ValueError, TypeError):
        return composed.jacobian(mode="optimal")


def _optimal(inputs: Inputs) -> Callable[[], Any]:
    jac = chain_jacobian(inputs["Ws"])
    x = inputs["x"]
    return lambda: jac(x)


def has_chain() -> bool:
    """Whether ``ad`` offers the optimal bracketing of issue 4."""
    return hasattr(ad, "chain")


def workloads(table: dict[str, wl.Workload] | None = None) -> dict[str, dict[str, Variant]]:
    """Every ``ad`` variant for the workloads of ``table`` (default: full sizes)."""
    out: dict[str, dict[str, Variant]] = {}
    for name in (wl.WORKLOADS if table is None else table):
        family = wl.family(name)
        if family == "W1":
            out[name] = _scalar(wl.w1_f, ("x",))
            out[name]["grad[compiled]"] = _compiled_grad(wl.w1_f, ("x",))
        elif family == "W2":
            out[name] = _scalar(wl.w2_f, ("x",))
            kernels = getattr(ad, "kernels", None)
            if kernels is not None and hasattr(kernels, "NUMBA_MIN_SIZE"):
                out[name]["grad[numpy-path]"] = _numpy_path_grad(wl.w2_f)
        elif family == "W3":
            out[name] = _scalar(wl.w3_f, ("params", "X", "y"))
        elif family == "W4":
            out[name] = _jacobians(wl.w4_f, ("W1", "W2"))
        elif family == "W5":
            def hessian(inputs: Inputs) -> Callable[[], Any]:
                x, A = inputs["x"], inputs["A"]
                h = ad.hessian(wl.w5_f)
                return lambda: h(x, A)

            def hvp(inputs: Inputs) -> Callable[[], Any]:
                x, A, v = inputs["x"], inputs["A"], inputs["v"]
                return lambda: ad.hvp(lambda z: wl.w5_f(z, A), (x,), (v,))

            out[name] = {"hessian": Variant(hessian), "hvp": Variant(hvp)}
        elif family == "W6":
            out[name] = _jacobians(wl.w6_f, ("Ws",))
            if has_chain():
                out[name]["jacobian[optimal]"] = Variant(_optimal)
    return out


def tape_length(f: Callable[..., Any], *args: Any) -> int:
    """Number of primitive applications ``ad`` records on its tape for ``f(*args)``
    (``ad.trace`` records exactly what ``grad`` sweeps)."""
    return len(ad.trace(f, *args).tape)
