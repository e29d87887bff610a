"""Hand-written NumPy derivatives: the floor every AD tool is measured against."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import workloads as wl
from benchmarks.peers import Variant

AVAILABLE = True


def _plain(fn: Callable[..., Any]) -> Variant:
    """Variant calling ``fn(**inputs)``; NumPy needs no setup."""
    return Variant(lambda inputs: lambda: fn(**inputs))


def w4_jacfwd(x: np.ndarray, W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """Push the n identity tangents through the layers (cost ~ n)."""
    h = np.tanh(W1 @ x)
    y = np.tanh(W2 @ h)
    T = (1.0 - h * h)[:, None] * W1            # hidden tangents for I_n
    return (1.0 - y * y)[:, None] * (W2 @ T)


def w4_jacrev(x: np.ndarray, W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """Pull the m identity cotangents back through the layers (cost ~ m)."""
    h = np.tanh(W1 @ x)
    y = np.tanh(W2 @ h)
    C = (1.0 - y * y)[:, None] * W2            # hidden cotangents for I_m
    return (C * (1.0 - h * h)) @ W1


def w6_jacfwd(x: np.ndarray, Ws: list[np.ndarray]) -> np.ndarray:
    """Forward mode: propagate all 1000 input tangents stage by stage."""
    T = None
    for W in Ws:
        x = np.tanh(W @ x)
        T = (1.0 - x * x)[:, None] * (W if T is None else W @ T)
    return T


def w6_jacrev(x: np.ndarray, Ws: list[np.ndarray]) -> np.ndarray:
    """Reverse mode: pull all 1000 output cotangents back stage by stage."""
    ds = []
    for W in Ws:
        x = np.tanh(W @ x)
        ds.append(1.0 - x * x)
    C = None
    for W, d in zip(reversed(Ws), reversed(ds)):
        C = d[:, None] * W if C is None else (C * d) @ W
    return C


def chain_order(dims: list[int]) -> list[list[int]]:
    """Optimal matrix-chain split table for matrices of shape (dims[i], dims[i+1])."""
    k = len(dims) - 1
    cost = [[0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for length in range(2, k + 1):
        for i in range(k - length + 1):
            j = i + length - 1
            cost[i][j], split[i][j] = min(
                (cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1], s)
                for s in range(i, j))
    return split


def w6_optimal(x: np.ndarray, Ws: list[np.ndarray]) -> np.ndarray:
    """Build each stage Jacobian diag(tanh')W_i and multiply in the optimal order."""
    mats = wl.w6_stage_jacobians(x, Ws)[::-1]     # J = J_6 J_5 ... J_1
    dims = [M.shape[0] for M in mats] + [mats[-1].shape[1]]
    split = chain_order(dims)

    def product(i: int, j: int) -> np.ndarray:
        if i == j:
            return mats[i]
        s = split[i][j]
        return product(i, s) @ product(s + 1, j)

    return product(0, len(mats) - 1)


def workloads(table: dict[str, wl.Workload] | None = None) -> dict[str, dict[str, Variant]]:
    """Hand-written variants for every workload (of ``table``, default the full sizes)."""
    out: dict[str, dict[str, Variant]] = {}
    for name, w in (wl.WORKLOADS if table is None else table).items():
        if name.startswith("W4"):
            out[name] = {"jacfwd": _plain(w4_jacfwd), "jacrev": _plain(w4_jacrev)}
        elif name == "W6":
            out[name] = {"jacfwd": _plain(w6_jacfwd), "jacrev": _plain(w6_jacrev),
                         "jacobian[optimal]": _plain(w6_optimal)}
        else:
            out[name] = {k: _plain(fn) for k, fn in w.reference.items()}
    return out

