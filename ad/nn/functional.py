"""Differentiable building blocks for small networks: activations, stable log-probabilities,
losses, linear/convolution layers and pooling.

Everything is written with `ad.numpy` operations, so each function works on plain arrays and
on traced values alike and differentiates in forward and reverse mode to any order. Plain
NumPy appears only on constants (index arrays, padding blocks, label checks), never on the
traced data. Shapes follow PyTorch: images are (N, C, H, W), convolution weights
(out_channels, in_channels, kh, kw), linear weights (out_features, in_features).
Stability: exponentials only ever see non-positive arguments (log-sum-exp shifts by a
`stop_gradient`-ed maximum, sigmoid/softplus go through `logaddexp`), so values and
derivatives stay finite at +-1000. Imports `ad.numpy`, `ad.primitive` and NumPy.

>>> import numpy as np, ad
>>> from ad.nn import functional as F
>>> float(F.sigmoid(1000.0)), float(F.log_sigmoid(-1000.0)), float(ad.grad(F.sigmoid)(-1000.0))
(1.0, -1000.0, 0.0)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ad import numpy as anp
from ad.numpy._reductions import _logsumexp
from ad.primitive import float_dtype, is_int, primal_value

Array = Any  # a NumPy array, a Python number or a traced value


# ----------------------------------------------------------------------------- activations
def relu(x: Array) -> Array:
    """max(x, 0), with derivative 0 at 0 (PyTorch's choice).

    >>> relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    return anp.where(x > 0, x, 0.0)     # a compiled tape recomputes the mask


def leaky_relu(x: Array, negative_slope: float = 0.01) -> Array:
    """x for x > 0, negative_slope * x otherwise.

    >>> leaky_relu(np.array([-2.0, 3.0]), 0.1)
    array([-0.2,  3. ])
    """
    return anp.where(x > 0, x, negative_slope * x)


def softplus(x: Array) -> Array:
    """log(1 + exp(x)) computed as logaddexp(0, x): never overflows.

    >>> float(softplus(0.0)) == float(np.log(2.0)), float(softplus(1000.0))
    (True, 1000.0)
    """
    return anp.logaddexp(0.0, x)


def log_sigmoid(x: Array) -> Array:
    """log(sigmoid(x)) = -softplus(-x): finite for every finite x.

    >>> float(log_sigmoid(-1000.0)), float(log_sigmoid(1000.0))
    (-1000.0, -0.0)
    """
    return -softplus(-x)


def sigmoid(x: Array) -> Array:
    """1 / (1 + exp(-x)) as exp(log_sigmoid(x)): the exponent is never positive.

    >>> float(sigmoid(0.0)), float(sigmoid(-1000.0)), float(sigmoid(1000.0))
    (0.5, 0.0, 1.0)
    """
    return anp.exp(log_sigmoid(x))


def tanh(x: Array) -> Array:
    """The hyperbolic tangent (here so that every activation sits in one namespace).

    >>> float(tanh(0.0))
    0.0
    """
    return anp.tanh(x)


def _erf(z: Array) -> Array:
    """erf by its everywhere-convergent series with positive terms (no cancellation):
    erf(z) = 2/sqrt(pi) z exp(-z^2) sum_n (2 z^2)^n / (1*3*...*(2n+1)), summed by Horner.

    |z| is clipped at 6 (erf(6) rounds to 1); the number of terms is picked from the data so
    the absolute error stays below 2e-15. ad.numpy has no erf yet, hence this composition.
    """
    zc = anp.clip(z, -6.0, 6.0)
    # the number of terms is read (a compiled tape guards it, not the data it comes from)
    zmax = anp.max(anp.abs(anp.stop_gradient(zc)), initial=0.0)
    terms = int(np.asarray(primal_value(anp.ceil(2 * zmax ** 2 + 4 * zmax + 12))))
    z2 = zc * zc
    s = 1.0
    for n in range(terms, 0, -1):
        s = 1.0 + s * z2 * (2.0 / (2 * n + 1))
    return (2.0 / math.sqrt(math.pi)) * zc * anp.exp(-z2) * s


def gelu(x: Array, approximate: str = "none") -> Array:
    """x * Phi(x), Phi the standard normal CDF; approximate="tanh" gives
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as PyTorch.

    >>> round(float(gelu(1.0)), 6), round(float(gelu(1.0, approximate="tanh")),6)
    (0.841345, 0.841192)
    """
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)
        return 0.5 * x * (1.0 + anp.tanh(inner))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    if float_dtype(x) == np.float32:
        # 1 + erf cancels for x < 0: float32 would keep 1e-7 of erf's error (2e-6 off
        # where gelu is 1e-11); in float64 the result rounds right to float32
        return anp.astype(gelu(anp.astype(x, np.float64)), np.float32)
    # 1 + erf is >= 0; rounded (a compiled tape's exp differs in the last bit from NumPy's)
    # it could be a hair below 0 at the clip, which made gelu of x < -8.5 positive
    return 0.5 * x * anp.maximum(1.0 + _erf(x / math.sqrt(2.0)), 0.0)


# ----------------------------------------------------------------------------- log-probabilities
def logsumexp(x: Array, axis: int | tuple[int, ...] | None = -1, keepdims: bool = False) -> Array:
    """log(sum(exp(x), axis)), shifted by the (gradient-stopped) maximum so exp never overflows.

    >>> float(logsumexp(np.array([1000.0, 1000.0])))
    1000.6931471805599
    """
    return _logsumexp(x, axis, keepdims=keepdims)


def log_softmax(x: Array, axis: int = -1) -> Array:
    """x - logsumexp(x): log-probabilities, finite even for logits of +-1000.

    >>> log_softmax(np.array([1000.0, 0.0, -1000.0]))
    array([    0., -1000., -2000.])
    """
    # shifted by the row's (gradient-stopped, finite) maximum first: x - (max + log sum)
    # would round max + log sum to an ulp of the largest logit (1e-3 off at 1e4 in float32)
    # (the shifted row's maximum is 0: its exps cannot overflow, no second shift needed)
    top = anp.stop_gradient(anp.max(x, axis=axis, keepdims=True))
    shifted = x - anp.where(anp.isfinite(top), top, 0.0)
    return shifted - anp.log(anp.sum(anp.exp(shifted), axis=axis, keepdims=True))


def softmax(x: Array, axis: int = -1) -> Array:
    """exp(log_softmax(x)): probabilities along `axis`, stable for large logits.

    >>> softmax(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    """
    return anp.exp(log_softmax(x, axis))


# ----------------------------------------------------------------------------- losses
def _reduce(loss: Array, reduction: str, function: str) -> Array:
    if reduction == "mean":
        return anp.mean(loss)
    if reduction == "sum":
        return anp.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{function}: reduction must be 'mean', 'sum' or 'none', not {reduction!r}")


def softmax_cross_entropy(logits: Array, labels: Any, reduction: str = "mean") -> Array:
    """-log softmax(logits)[label]: logits (..., C), integer labels (...) in [0, C).

    The same as PyTorch's F.cross_entropy on logits (class axis last here).

    >>> round(float(softmax_cross_entropy(np.array([[2.0, 0.0], [0.0, 0.0]]), [0, 1])), 6)
    0.410038
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"softmax_cross_entropy: labels must be integers, got {labels.dtype}")
    shape = anp.shape(logits)
    if labels.shape != shape[:-1]:
        raise ValueError(f"softmax_cross_entropy: labels of shape {labels.shape} do not match "
                         f"logits of shape {shape} (expected {shape[:-1]})")
    classes = shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"softmax_cross_entropy: labels must lie in [0, {classes})")
    logp = anp.reshape(log_softmax(logits, axis=-1), (-1, classes))
    flat = labels.reshape(-1)
    picked = anp.reshape(logp[np.arange(flat.size), flat], labels.shape)
    return _reduce(-picked, reduction, "softmax_cross_entropy")


def mse(prediction: Array, target: Array, reduction: str = "mean") -> Array:
    """Mean squared error (PyTorch's MSELoss).

    >>> float(mse(np.array([1.0, 3.0]), np.array([0.0, 0.0])))
    5.0
    """
    return _reduce((prediction - target) ** 2, reduction, "mse")


def binary_cross_entropy_with_logits(logits: Array, targets: Array,
                                     reduction: str = "mean") -> Array:
    """-(t log sigmoid(z) + (1 - t) log sigmoid(-z)), stable for any logit z.

    >>> round(float(binary_cross_entropy_with_logits(0.0, 1.0)), 6)
    0.693147
    """
    loss = -(targets * log_sigmoid(logits) + (1.0 - targets) * log_sigmoid(-logits))
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


# ----------------------------------------------------------------------------- layers
def linear(x: Array, weight: Array, bias: Array | None = None) -> Array:
    """x @ weight.T + bias, weight of shape (out_features, in_features) as in PyTorch.

    >>> linear(np.ones((1, 2)), np.array([[1.0, 2.0]]), np.array([0.5]))
    array([[3.5]])
    """
    out = anp.matmul(x, anp.transpose(weight))
    return out if bias is None else out + bias


def _pair(v, name: str) -> tuple[int, int]:
    pair = (v, v) if is_int(v) else tuple(v) if isinstance(v, (tuple, list)) else ()
    if len(pair) != 2 or not all(is_int(p) for p in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return int(pair[0]), int(pair[1])


def _pool_padding(padding, kernel: tuple[int, int], function: str) -> tuple[int, int]:
    """A pooling's padding: at most half the kernel, as PyTorch requires (a window of
    padding alone would give -inf or a mean of zeros)."""
    pair = _pair(padding, "padding")
    if any(p < 0 or p > k // 2 for p, k in zip(pair, kernel)):
        raise ValueError(f"{function}: padding {pair} must be between 0 and half the kernel "
                         f"size {kernel}")
    return pair


def pad2d(x: Array, padding: int | tuple[int, int], value: float = 0.0) -> Array:
    """Pad the last two axes with `value` (ph rows above and below, pw columns either side).

    Composed with concatenate (ad.numpy has no `pad` yet).

    >>> pad2d(np.ones((1, 1)), 1)
    array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]])
    """
    ph, pw = _pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"pad2d: padding must be non-negative, got {padding!r}")
    shape = anp.shape(x)
    dtype = anp.result_type(x)
    if pw:
        side = np.full(shape[:-1] + (pw,), value, dtype=dtype)
        x = anp.concatenate([side, x, side], axis=-1)
        shape = anp.shape(x)
    if ph:
        side = np.full(shape[:-2] + (ph, shape[-1]), value, dtype=dtype)
        x = anp.concatenate([side, x, side], axis=-2)
    return x


def _patches(x, kernel, stride, padding, dilation, pad_value):
    """Sliding windows of x (N, C, H, W) as (N, C, OH, OW, kh, kw): one gather (im2col)."""
    kh, kw = kernel
    sh, sw = stride
    dh, dw = dilation
    for name, pair in (("kernel size", kernel), ("stride", stride), ("dilation", dilation)):
        if not all(is_int(v) and v >= 1 for v in pair):
            raise ValueError(f"the {name} must be positive integers, not {tuple(pair)}")
    x = pad2d(x, padding, pad_value)
    h, w = anp.shape(x)[-2:]
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    if oh <= 0 or ow <= 0:
        raise ValueError(f"kernel {kernel} (dilation {dilation}) is larger than the padded "
                         f"input {(h, w)}")
    rows = (np.arange(oh) * sh)[:, None, None, None] + (np.arange(kh) * dh)[None, None, :, None]
    cols = (np.arange(ow) * sw)[None, :, None, None] + (np.arange(kw) * dw)[None, None, None, :]
    return x[:, :, rows, cols]


def _batched(x, function: str):
    nd = anp.ndim(x)
    if nd == 3:
        return anp.reshape(x, (1,) + anp.shape(x)), True
    if nd != 4:
        raise ValueError(f"{function}: expected input of shape (N, C, H, W) or (C, H, W), got "
                         f"{anp.shape(x)}")
    return x, False


def conv2d(x: Array, weight: Array, bias: Array | None = None, stride: int | tuple = 1,
           padding: int | tuple = 0, dilation: int | tuple = 1) -> Array:
    """2-D cross-correlation (PyTorch's conv2d): x (N, C, H, W), weight (O, C, kh, kw)
    -> (N, O, OH, OW), by im2col: one gather of the windows, then one matmul.

    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> conv2d(x, np.ones((1, 1, 2, 2)))[0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    x, unbatched = _batched(x, "conv2d")
    o, c, kh, kw = anp.shape(weight)
    if anp.shape(x)[1] != c:
        raise ValueError(f"conv2d: input has {anp.shape(x)[1]} channels, weight expects {c}")
    p = _patches(x, (kh, kw), _pair(stride, "stride"), _pair(padding, "padding"),
                 _pair(dilation, "dilation"), 0.0)              # (N, C, OH, OW, kh, kw)
    n, _, oh, ow = anp.shape(p)[:4]
    cols = anp.reshape(anp.transpose(p, (0, 2, 3, 1, 4, 5)), (n, oh * ow, c * kh * kw))
    out = anp.matmul(cols, anp.transpose(anp.reshape(weight, (o, c * kh * kw))))
    out = anp.transpose(anp.reshape(out, (n, oh, ow, o)), (0, 3, 1, 2))
    if bias is not None:
        out = out + anp.reshape(bias, (1, o, 1, 1))
    return out[0] if unbatched else out


def avg_pool2d(x: Array, kernel_size: int | tuple, stride: int | tuple | None = None,
               padding: int | tuple = 0) -> Array:
    """Average over windows (stride defaults to the kernel; padded zeros are counted, as in
    PyTorch's default count_include_pad=True).

    >>> avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    x, unbatched = _batched(x, "avg_pool2d")
    kernel = _pair(kernel_size, "kernel_size")
    p = _patches(x, kernel, _pair(stride if stride is not None else kernel, "stride"),
                 _pool_padding(padding, kernel, "avg_pool2d"), (1, 1), 0.0)
    out = anp.mean(p, axis=(4, 5))
    return out[0] if unbatched else out


def max_pool2d(x: Array, kernel_size: int | tuple, stride: int | tuple | None = None,
               padding: int | tuple = 0) -> Array:
    """Maximum over windows (stride defaults to the kernel; padding with -inf). The derivative
    goes to the window's maximum; ties share it evenly (PyTorch picks one element).

    >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    x, unbatched = _batched(x, "max_pool2d")
    kernel = _pair(kernel_size, "kernel_size")
    p = _patches(x, kernel, _pair(stride if stride is not None else kernel, "stride"),
                 _pool_padding(padding, kernel, "max_pool2d"), (1, 1), -np.inf)
    out = anp.max(p, axis=(4, 5))
    return out[0] if unbatched else out


__all__ = ["relu", "leaky_relu", "softplus", "log_sigmoid", "sigmoid", "tanh", "gelu",
           "logsumexp", "log_softmax", "softmax", "softmax_cross_entropy", "mse",
           "binary_cross_entropy_with_logits", "linear", "pad2d", "conv2d", "avg_pool2d",
           "max_pool2d"]
