"""Optimisers over pytrees: SGD (momentum, Nesterov, weight decay) and Adam (or AdamW).

An optimiser is a small immutable object holding hyper-parameters. `init(params)` returns a
state pytree; `update(grads, state, params)` returns `(new_params, new_state)`. Nothing is
changed in place, so a training step is an ordinary function of its inputs (and the update
itself is written with `ad.numpy`, so it can be differentiated, e.g. through an unrolled
inner loop). Parameters and gradients are any pytrees of arrays with the same structure
(`ad.tree`, i.e. optree: nested dicts, lists and tuples). The update rules are PyTorch's
(torch.optim.SGD / Adam / AdamW). Imports `ad.numpy` and `ad.tree`.

A training loop:

>>> import numpy as np, ad, ad.numpy as anp
>>> from ad.nn import optim
>>> params = {"w": np.array([3.0, -2.0])}
>>> loss = lambda p: anp.sum(p["w"] ** 2)
>>> opt = optim.SGD(lr=0.1, momentum=0.9)
>>> state = opt.init(params)
>>> for _ in range(200):
...     params, state = opt.update(ad.grad(loss)(params), state, params)
>>> bool(np.abs(params["w"]).max() < 1e-3)
True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from ad import numpy as anp
from ad import tree

PyTree = Any


def _check_same(grads: PyTree, params: PyTree, who: str) -> None:
    if tree.structure(grads) != tree.structure(params):
        raise ValueError(f"{who}: gradients have structure {tree.structure(grads)}, "
                         f"parameters {tree.structure(params)}")


def _zeros(params: PyTree) -> PyTree:
    return tree.tree_map(anp.zeros_like, params)


class SGDState(NamedTuple):
    """Momentum buffers (None before the first step: PyTorch seeds them with the gradient)."""
    momentum: PyTree | None
    step: int


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent, PyTorch's rule:

        g <- g + weight_decay * p
        b <- g on the first step, else momentum * b + (1 - dampening) * g
        g <- g + momentum * b if nesterov else b         (only when momentum > 0)
        p <- p - lr * g

    >>> import numpy as np
    >>> opt = SGD(lr=0.5, weight_decay=0.1)
    >>> p, s = opt.update(np.array([1.0]), opt.init(np.array([2.0])), np.array([2.0]))
    >>> p                                  # 2 - 0.5 * (1 + 0.1 * 2)
    array([1.4])
    """

    lr: float
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False

    def __post_init__(self):
        if self.lr < 0 or self.momentum < 0 or self.weight_decay < 0:
            raise ValueError("SGD: lr, momentum and weight_decay must be non-negative")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening 0")

    def init(self, params: PyTree) -> SGDState:
        return SGDState(momentum=None, step=0)

    def update(self, grads: PyTree, state: SGDState, params: PyTree) -> tuple[PyTree, SGDState]:
        _check_same(grads, params, "SGD.update")
        if self.weight_decay:
            grads = tree.tree_map(lambda g, p: g + self.weight_decay * p, grads, params)
        buffers = state.momentum
        if self.momentum:
            if buffers is None:
                buffers = grads
            else:
                buffers = tree.tree_map(
                    lambda b, g: self.momentum * b + (1 - self.dampening) * g, buffers, grads)
            if self.nesterov:
                grads = tree.tree_map(lambda g, b: g + self.momentum * b, grads, buffers)
            else:
                grads = buffers
        new_params = tree.tree_map(lambda p, g: p - self.lr * g, params, grads)
        return new_params, SGDState(momentum=buffers, step=state.step + 1)


class AdamState(NamedTuple):
    """First and second moment estimates and the number of steps taken."""
    m: PyTree
    v: PyTree
    step: int


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015), PyTorch's rule; `decoupled=True` gives AdamW:

        g <- g + weight_decay * p             (Adam; AdamW instead p <- p (1 - lr wd))
        m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,   t <- t + 1
        p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    >>> import numpy as np
    >>> opt = Adam(lr=0.1)
    >>> p, s = opt.update(np.array([5.0]), opt.init(np.array([1.0])), np.array([1.0]))
    >>> p.round(6)                          # the first step moves by lr, whatever |g|
    array([0.9])
    """

    lr: float = 1e-3
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    decoupled: bool = False

    def __post_init__(self):
        if not (0 <= self.b1 < 1 and 0 <= self.b2 < 1):
            raise ValueError("Adam: b1 and b2 must lie in [0, 1)")
        if self.lr < 0 or self.eps < 0 or self.weight_decay < 0:
            raise ValueError("Adam: lr, eps and weight_decay must be non-negative")

    def init(self, params: PyTree) -> AdamState:
        return AdamState(m=_zeros(params), v=_zeros(params), step=0)

    def update(self, grads: PyTree, state: AdamState, params: PyTree) -> tuple[PyTree, AdamState]:
        _check_same(grads, params, "Adam.update")
        if self.weight_decay and self.decoupled:
            params = tree.tree_map(lambda p: p * (1 - self.lr * self.weight_decay), params)
        elif self.weight_decay:
            grads = tree.tree_map(lambda g, p: g + self.weight_decay * p, grads, params)
        t = state.step + 1
        m = tree.tree_map(lambda m, g: self.b1 * m + (1 - self.b1) * g, state.m, grads)
        v = tree.tree_map(lambda v, g: self.b2 * v + (1 - self.b2) * g * g, state.v, grads)
        c1, c2 = 1 - self.b1 ** t, 1 - self.b2 ** t

        def step(p, m, v):
            return p - self.lr * (m / c1) / (anp.sqrt(v / c2) + self.eps)

        return tree.tree_map(step, params, m, v), AdamState(m=m, v=v, step=t)


def sgd_step(params: PyTree, grads: PyTree, lr: float) -> PyTree:
    """One plain gradient-descent step p - lr * g over a pytree (no state).

    >>> import numpy as np
    >>> sgd_step({"w": np.array([34.0])}, {"w": np.array([-4800.0])}, 0.005)
    {'w': array([58.])}
    """
    _check_same(grads, params, "sgd_step")
    return tree.tree_map(lambda p, g: p - lr * g, params, grads)


__all__ = ["SGD", "SGDState", "Adam", "AdamState", "sgd_step"]
