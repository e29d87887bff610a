"""Benchmark workloads shared by ``ad`` and its peers.

Each workload has deterministic float64 inputs from ``numpy.random.default_rng(seed)``,
a plain-NumPy definition of the function, and hand-written NumPy derivatives (the floor
every AD tool is compared against).

Functions take an ``xp`` array namespace (``numpy`` by default) so that peers whose
namespace mirrors NumPy (``jax.numpy``, ``autograd.numpy``) can trace the very same
code; NumPy-protocol tools (``ad``, advect, mygrad) run the default NumPy version.

A workload declares the derivative *kinds* it asks for; a peer's variant is named
``kind`` or ``kind[tag]`` (e.g. ``grad[jit]``), and its output must match
``Workload.reference[kind]``:

* ``value``   -> ``f`` (float)
* ``grad``    -> ``(f, gradient)``, gradient shaped like the differentiated input
  (a dict of arrays for W3)
* ``jacfwd`` / ``jacrev`` / ``jacobian`` -> dense ``(m, n)`` Jacobian (forward mode,
  reverse mode, mode chosen by the tool)
* ``hessian`` -> dense ``(n, n)`` Hessian; ``hvp`` -> ``H @ v``
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

Inputs = dict[str, Any]
SEED = 0

# --------------------------------------------------------------------------- W1


def w1_f(x: np.ndarray, xp: ModuleType = np) -> Any:
    """50 x [x = sin(x)*1.0001 + cos(x)*0.5], then sum(tanh(x)): many tiny ops."""
    for _ in range(50):
        x = xp.sin(x) * 1.0001 + xp.cos(x) * 0.5
    return xp.sum(xp.tanh(x))


def w1_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
    """Hand-written reverse sweep of :func:`w1_f`."""
    xs = []
    for _ in range(50):
        xs.append(x)
        x = np.sin(x) * 1.0001 + np.cos(x) * 0.5
    t = np.tanh(x)
    g = 1.0 - t * t
    for xk in reversed(xs):
        g = g * (np.cos(xk) * 1.0001 - np.sin(xk) * 0.5)
    return float(np.sum(t)), g


# --------------------------------------------------------------------------- W2


def w2_f(x: np.ndarray, xp: ModuleType = np) -> Any:
    """~20 elementwise ops on a large vector (x > 0), summed."""
    a = xp.sin(x)
    b = xp.exp(0.1 * x)
    c = xp.tanh(a * b)
    d = xp.sqrt(x * x + 1.0)
    e = xp.log(d + c * c)
    g = a * e / d
    h = xp.cos(g) + 0.5 * b
    k = h * h / (1.0 + e * e)
    return xp.sum(k - c)


def w2_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
    """Hand-written reverse sweep of :func:`w2_f`."""
    a, ca = np.sin(x), np.cos(x)
    b = np.exp(0.1 * x)
    c = np.tanh(a * b)
    d = np.sqrt(x * x + 1.0)
    e = np.log(d + c * c)
    g = a * e / d
    h = np.cos(g) + 0.5 * b
    q = 1.0 + e * e
    k = h * h / q
    # Adjoints (suffix _).
    h_ = 2.0 * h / q
    e_ = -k / q * 2.0 * e
    c_ = -1.0
    g_ = -np.sin(g) * h_
    b_ = 0.5 * h_
    a_ = g_ * e / d
    e_ = e_ + g_ * a / d
    d_ = -g_ * g / d
    de_ = e_ / (d + c * c)
    d_ = d_ + de_
    c_ = c_ + de_ * 2.0 * c
    x_ = d_ * x / d
    ab_ = c_ * (1.0 - c * c)
    a_ = a_ + ab_ * b
    b_ = b_ + ab_ * a
    x_ = x_ + b_ * 0.1 * b + a_ * ca
    return float(np.sum(k - c)), x_


# --------------------------------------------------------------------------- W3

W3_LAMBDA = 1e-4
W3_WEIGHTS = ("W1", "W2", "W3")


def w3_f(params: dict[str, Any], X: np.ndarray, y: np.ndarray, xp: ModuleType = np) -> Any:
    """MLP 784-512-512-10 (tanh), mean softmax cross-entropy + lambda * sum(W**2).

    ``y`` holds integer labels; the log-softmax is the stable max-shifted form.
    The L2 term covers the weight matrices, not the biases.
    """
    h = xp.tanh(X @ params["W1"] + params["b1"])
    h = xp.tanh(h @ params["W2"] + params["b2"])
    z = h @ params["W3"] + params["b3"]
    zmax = xp.max(z, axis=1, keepdims=True)
    logp = z - zmax - xp.log(xp.sum(xp.exp(z - zmax), axis=1, keepdims=True))
    nll = -xp.mean(xp.sum(logp * (xp.arange(z.shape[1]) == y[:, None]), axis=1))
    return nll + W3_LAMBDA * sum(xp.sum(params[k] * params[k]) for k in W3_WEIGHTS)


def w3_grad(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
            ) -> tuple[float, dict[str, np.ndarray]]:
    """Hand-written backpropagation of :func:`w3_f` w.r.t. all parameters."""
    h1 = np.tanh(X @ params["W1"] + params["b1"])
    h2 = np.tanh(h1 @ params["W2"] + params["b2"])
    z = h2 @ params["W3"] + params["b3"]
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(len(y))
    l2 = sum(float(np.sum(params[k] ** 2)) for k in W3_WEIGHTS)
    loss = float(-np.mean(z[rows, y] - lse[:, 0])) + W3_LAMBDA * l2
    dz = np.exp(z - lse)
    dz[rows, y] -= 1.0
    dz /= len(y)
    g = {"W3": h2.T @ dz, "b3": dz.sum(axis=0)}
    da = (dz @ params["W3"].T) * (1.0 - h2 * h2)
    g["W2"], g["b2"] = h1.T @ da, da.sum(axis=0)
    da = (da @ params["W2"].T) * (1.0 - h1 * h1)
    g["W1"], g["b1"] = X.T @ da, da.sum(axis=0)
    for k in W3_WEIGHTS:
        g[k] += 2.0 * W3_LAMBDA * params[k]
    return loss, {k: g[k] for k in params}


W3_SIZES = (784, 512, 512, 10)
W3_BATCH = 256


def w3_inputs(seed: int, sizes: tuple[int, ...] = W3_SIZES, batch: int = W3_BATCH) -> Inputs:
    """Glorot-ish scaled weights, small biases, a standard-normal batch of 256."""
    rng = np.random.default_rng(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{i}"] = rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)
        params[f"b{i}"] = 0.1 * rng.standard_normal(n_out)
    X = rng.standard_normal((batch, sizes[0]))
    y = rng.integers(0, sizes[-1], size=batch)
    return {"params": params, "X": X, "y": y}


# --------------------------------------------------------------------------- W4

W4_SIZES = ((10, 1000), (100, 1000), (1000, 1000), (1000, 100), (1000, 10))
W4_HIDDEN = 200


def w4_f(x: np.ndarray, W1: np.ndarray, W2: np.ndarray, xp: ModuleType = np) -> Any:
    """y = tanh(W2 tanh(W1 x)): R^n -> R^m through a hidden layer of 200."""
    return xp.tanh(W2 @ xp.tanh(W1 @ x))


def w4_jacobian(x: np.ndarray, W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """dy/dx = diag(1 - y^2) W2 diag(1 - h^2) W1, shape (m, n)."""
    h = np.tanh(W1 @ x)
    y = np.tanh(W2 @ h)
    return (1.0 - y * y)[:, None] * (W2 @ ((1.0 - h * h)[:, None] * W1))


def w4_inputs(n: int, m: int, hidden: int = W4_HIDDEN) -> Callable[[int], Inputs]:
    """Input factory for one (n inputs, m outputs) size."""
    def make(seed: int) -> Inputs:
        rng = np.random.default_rng(seed)
        return {"x": rng.standard_normal(n),
                "W1": rng.standard_normal((hidden, n)) / np.sqrt(n),
                "W2": rng.standard_normal((m, hidden)) / np.sqrt(hidden)}
    return make


# --------------------------------------------------------------------------- W5


def w5_f(x: np.ndarray, A: np.ndarray, xp: ModuleType = np) -> Any:
    """sum(tanh(A x)^2) with A 300x200."""
    t = xp.tanh(A @ x)
    return xp.sum(t * t)


def _w5_curvature(x: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Second derivative of sum(tanh(z)^2) per z: (2 - 6 t^2)(1 - t^2)."""
    t = np.tanh(A @ x)
    return (2.0 - 6.0 * t * t) * (1.0 - t * t)


def w5_hessian(x: np.ndarray, A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H = A^T diag(s) A."""
    return A.T @ (_w5_curvature(x, A)[:, None] * A)


def w5_hvp(x: np.ndarray, A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H v = A^T (s * (A v)), without forming H."""
    return A.T @ (_w5_curvature(x, A) * (A @ v))


W5_SHAPE = (300, 200)


def w5_inputs(seed: int, shape: tuple[int, int] = W5_SHAPE) -> Inputs:
    """A ~ N(0, 1/200), x and v standard normal."""
    rng = np.random.default_rng(seed)
    rows, n = shape
    return {"x": rng.standard_normal(n),
            "A": rng.standard_normal((rows, n)) / np.sqrt(n),
            "v": rng.standard_normal(n)}


# --------------------------------------------------------------------------- W6

W6_WIDTHS = (1000, 10, 1000, 10, 1000, 10, 1000)


def w6_f(x: np.ndarray, Ws: list[np.ndarray], xp: ModuleType = np) -> Any:
    """Diamond chain x -> tanh(W_i x) through widths 1000,10,1000,...,1000."""
    for W in Ws:
        x = xp.tanh(W @ x)
    return x


def w6_stage_jacobians(x: np.ndarray, Ws: list[np.ndarray]) -> list[np.ndarray]:
    """Per-stage Jacobians diag(tanh'(W_i x_i)) W_i, first stage first."""
    Js = []
    for W in Ws:
        x = np.tanh(W @ x)
        Js.append((1.0 - x * x)[:, None] * W)
    return Js


def w6_jacobian(x: np.ndarray, Ws: list[np.ndarray]) -> np.ndarray:
    """Reference Jacobian: left-to-right product of the stage Jacobians."""
    J = np.eye(len(x))
    for Ji in w6_stage_jacobians(x, Ws):
        J = Ji @ J
    return J


def w6_inputs(seed: int, widths: tuple[int, ...] = W6_WIDTHS) -> Inputs:
    """Scaled Gaussian maps between the widths in :data:`W6_WIDTHS`."""
    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((m, n)) / np.sqrt(n)
          for n, m in zip(widths[:-1], widths[1:])]
    return {"x": rng.standard_normal(widths[0]), "Ws": Ws}


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Workload:
    """One benchmark problem: inputs, function and reference derivatives."""

    name: str
    description: str
    make_inputs: Callable[[int], Inputs]
    f: Callable[..., Any]
    reference: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def inputs(self, seed: int = SEED) -> Inputs:
        """Deterministic inputs for this workload."""
        return self.make_inputs(seed)


def _vector(n: int, low: float = -1.0, high: float = 1.0) -> Callable[[int], Inputs]:
    return lambda seed: {"x": np.random.default_rng(seed).uniform(low, high, n)}


def _value(f: Callable[..., Any]) -> Callable[..., float]:
    return lambda **kw: float(f(**kw))


def family(name: str) -> str:
    """Workload family of a (possibly sized) name: ``"W4_10x1000"`` -> ``"W4"``."""
    return name.split("_", 1)[0]


def _build(w1_len: int = 10, w2_len: int = 10**6, w3_sizes: tuple[int, ...] = W3_SIZES,
           w3_batch: int = W3_BATCH, w4_sizes: tuple[tuple[int, int], ...] = W4_SIZES,
           w4_hidden: int = W4_HIDDEN, w5_shape: tuple[int, int] = W5_SHAPE,
           w6_widths: tuple[int, ...] = W6_WIDTHS) -> dict[str, Workload]:
    """The workload registry at the given sizes (the defaults are the issue's sizes)."""
    wl = [
        Workload("W1", f"scalar-heavy: 50 x (sin, cos, mul, add) on R^{w1_len}",
                 _vector(w1_len), w1_f, {"value": _value(w1_f), "grad": w1_grad}),
        Workload("W2", f"big elementwise: ~20 ops on {w2_len:.0e} elements, summed",
                 _vector(w2_len, 0.1, 2.0), w2_f, {"value": _value(w2_f), "grad": w2_grad}),
        Workload("W3", f"MLP {'-'.join(map(str, w3_sizes))} tanh, batch {w3_batch}, CE + L2",
                 lambda seed: w3_inputs(seed, w3_sizes, w3_batch), w3_f,
                 {"value": _value(w3_f), "grad": w3_grad}),
    ]
    for n, m in w4_sizes:
        wl.append(Workload(f"W4_{n}x{m}", f"Jacobian of tanh(W2 tanh(W1 x)), n={n}, m={m}",
                           w4_inputs(n, m, w4_hidden), w4_f,
                           {k: w4_jacobian for k in ("jacfwd", "jacrev", "jacobian")}))
    wl.append(Workload("W5", "Hessian and HVP of sum(tanh(A x)^2), A {}x{}".format(*w5_shape),
                       lambda seed: w5_inputs(seed, w5_shape), w5_f,
                       {"hessian": w5_hessian, "hvp": w5_hvp}))
    wl.append(Workload("W6", "diamond chain Jacobian, widths " + ",".join(map(str, w6_widths)),
                       lambda seed: w6_inputs(seed, w6_widths), w6_f,
                       {k: w6_jacobian for k in ("jacfwd", "jacrev", "jacobian")}))
    return {w.name: w for w in wl}


WORKLOADS: dict[str, Workload] = _build()

#: Tiny versions of every workload (same code paths, sizes that run in milliseconds), used
#: by the ``--smoke`` preset and the test-suite so the benchmark code cannot rot.
SMOKE_WORKLOADS: dict[str, Workload] = _build(
    w1_len=4, w2_len=1000, w3_sizes=(12, 8, 8, 5), w3_batch=6, w4_sizes=((3, 20), (20, 3)),
    w4_hidden=7, w5_shape=(9, 6), w6_widths=(20, 3, 20, 3, 20))
