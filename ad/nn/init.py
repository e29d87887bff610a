"""Weight initialisers: the ten PyTorch lists in `torch.nn.init`, plus `calculate_gain`.

Each initialiser takes a shape and a `numpy.random.Generator` and returns a new float array
(nothing is filled in place). Formulas and fan conventions are PyTorch's: a weight has shape
(fan_out, fan_in, *receptive_field), so for a 2-D weight fan_in = shape[1] and
fan_out = shape[0], and for a convolution both are multiplied by prod(shape[2:]).
Initial values are data, not traced values, so this module uses plain NumPy only; it imports
nothing from `ad`.

>>> import numpy as np
>>> from ad.nn import init
>>> w = init.xavier_uniform((256, 128), np.random.default_rng(0), gain=init.calculate_gain("tanh"))
>>> w.shape, bool(np.abs(w).max() <= 5 / 3 * np.sqrt(6 / (256 + 128)))
((256, 128), True)
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Shape = Sequence[int]

_LINEAR = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
           "conv_transpose2d", "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table).

    linear/conv/sigmoid: 1, tanh: 5/3, relu: sqrt(2), leaky_relu: sqrt(2 / (1 + slope^2))
    (slope defaults to 0.01), selu: 3/4.

    >>> calculate_gain("tanh"), calculate_gain("relu") ** 2, calculate_gain("leaky_relu", 1.0)
    (1.6666666666666667, 2.0000000000000004, 1.0)
    """
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def fans(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) by PyTorch's convention for a weight of shape (out, in, *kernel).

    >>> fans((64, 32)), fans((16, 3, 5, 5))
    ((32, 64), (75, 400))
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2:
        raise ValueError("fan in and fan out can not be computed for a shape with fewer "
                         f"than 2 dimensions, got {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(shape: Shape, mode: str) -> int:
    fan_in, fan_out = fans(shape)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"mode {mode!r} not supported, use 'fan_in' or 'fan_out'")


def _shape(shape: Shape | int) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)


def _need(rng, name: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name}: pass a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


def uniform(shape: Shape, rng: np.random.Generator, a: float = 0.0, b: float = 1.0,
            dtype=np.float64) -> np.ndarray:
    """Values drawn from U(a, b).

    >>> w = uniform((1000,), np.random.default_rng(0), -2.0, 2.0)
    >>> bool(w.min() >= -2 and w.max() < 2)
    True
    """
    return _need(rng, "uniform").uniform(a, b, size=_shape(shape)).astype(dtype)


def normal(shape: Shape, rng: np.random.Generator, mean: float = 0.0, std: float = 1.0,
           dtype=np.float64) -> np.ndarray:
    """Values drawn from N(mean, std^2).

    >>> normal((2, 3), np.random.default_rng(0)).shape
    (2, 3)
    """
    return (mean + std * _need(rng, "normal").standard_normal(_shape(shape))).astype(dtype)


def constant(shape: Shape, rng: np.random.Generator | None = None, val: float = 0.0,
             dtype=np.float64) -> np.ndarray:
    """Every value equal to `val` (`rng` is accepted for a uniform signature, and unused).

    >>> constant((2,), val=0.5)
    array([0.5, 0.5])
    """
    return np.full(_shape(shape), val, dtype=dtype)


def eye(shape: Shape, rng: np.random.Generator | None = None, dtype=np.float64) -> np.ndarray:
    """The identity on a 2-D shape (rectangular allowed): keeps the inputs of a linear layer.

    >>> eye((2, 3))
    array([[1., 0., 0.],
           [0., 1., 0.]])
    """
    shape = _shape(shape)
    if len(shape) != 2:
        raise ValueError(f"eye: only 2-D shapes are supported, got {shape}")
    return np.eye(*shape, dtype=dtype)


def orthogonal(shape: Shape, rng: np.random.Generator, gain: float = 1.0,
               dtype=np.float64) -> np.ndarray:
    """A (semi-)orthogonal matrix times `gain` (Saxe et al. 2013), PyTorch's QR recipe.

    The shape is flattened to (shape[0], prod(shape[1:])); rows are orthonormal when there are
    fewer rows than columns, columns otherwise.

    >>> q = orthogonal((4, 4), np.random.default_rng(0))
    >>> bool(np.allclose(q @ q.T, np.eye(4)))
    True
    """
    shape = _shape(shape)
    if len(shape) < 2:
        raise ValueError(f"orthogonal: only shapes with 2 or more dimensions are supported, "
                         f"got {shape}")
    rows = shape[0]
    cols = math.prod(shape) // rows
    flat = _need(rng, "orthogonal").standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))   # makes the distribution uniform (Haar), as PyTorch does
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).astype(dtype)


def sparse(shape: Shape, rng: np.random.Generator, sparsity: float, std: float = 0.01,
           dtype=np.float64) -> np.ndarray:
    """A 2-D matrix from N(0, std^2) with ceil(sparsity * rows) zeros in every column
    (Martens 2010), as PyTorch's `sparse_`.

    >>> w = sparse((10, 4), np.random.default_rng(0), sparsity=0.3)
    >>> (w == 0).sum(axis=0).tolist()
    [3, 3, 3, 3]
    """
    shape = _shape(shape)
    if len(shape) != 2:
        raise ValueError(f"sparse: only 2-D shapes are supported, got {shape}")
    rng = _need(rng, "sparse")
    rows, cols = shape
    zeros = int(math.ceil(sparsity * rows))
    w = std * rng.standard_normal(shape)
    for c in range(cols):
        w[rng.permutation(rows)[:zeros], c] = 0.0
    return w.astype(dtype)


def xavier_uniform(shape: Shape, rng: np.random.Generator, gain: float = 1.0,
                   dtype=np.float64) -> np.ndarray:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010).

    >>> w = xavier_uniform((300, 200), np.random.default_rng(0))
    >>> round(float(w.var() * (300 + 200) / 2), 1)      # Var = 2 / (fan_in + fan_out)
    1.0
    """
    fan_in, fan_out = fans(shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, rng, -a, a, dtype)


def xavier_normal(shape: Shape, rng: np.random.Generator, gain: float = 1.0,
                  dtype=np.float64) -> np.ndarray:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).

    >>> w = xavier_normal((300, 200), np.random.default_rng(0))
    >>> round(float(w.std() * np.sqrt((300 + 200) / 2)), 1)
    1.0
    """
    fan_in, fan_out = fans(shape)
    return normal(shape, rng, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), dtype)


def _kaiming_std(shape, a, mode, nonlinearity) -> float:
    return calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))


def kaiming_uniform(shape: Shape, rng: np.random.Generator, a: float = 0.0,
                    mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    dtype=np.float64) -> np.ndarray:
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al. 2015); gain from `nonlinearity`
    with negative slope `a`, fan by `mode` ("fan_in" keeps forward variances, "fan_out"
    backward ones). PyTorch's defaults, including nonlinearity="leaky_relu".

    >>> w = kaiming_uniform((400, 300), np.random.default_rng(0), nonlinearity="relu")
    >>> round(float(w.var() * 300 / 2), 1)              # Var = 2 / fan_in for ReLU
    1.0
    """
    bound = math.sqrt(3.0) * _kaiming_std(shape, a, mode, nonlinearity)
    return uniform(shape, rng, -bound, bound, dtype)


def kaiming_normal(shape: Shape, rng: np.random.Generator, a: float = 0.0,
                   mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                   dtype=np.float64) -> np.ndarray:
    """N(0, std^2) with std = gain / sqrt(fan) (He et al. 2015), arguments as kaiming_uniform.

    >>> w = kaiming_normal((400, 300), np.random.default_rng(0), nonlinearity="relu")
    >>> round(float(w.std() * np.sqrt(300 / 2)), 1)
    1.0
    """
    return normal(shape, rng, 0.0, _kaiming_std(shape, a, mode, nonlinearity), dtype)


__all__ = ["calculate_gain", "fans", "uniform", "normal", "constant", "eye", "orthogonal",
           "sparse", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"]
