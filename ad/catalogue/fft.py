"""The discrete Fourier transforms as one linear primitive, `fft`, with its transposes.

`fft(x, kind=, s=, axes=, norm=)` is NumPy's fftn, ifftn, rfftn or irfftn (the 1-D and 2-D
forms are these with one or two axes); `axes` are negative, so tangents and cotangents with
leading batch axes go through unchanged. Every transform is linear (over the reals: rfft
takes real input, irfft drops the imaginary parts of the half spectrum's ends), so the JVP
is the transform of the tangent and one transpose per kind gives the VJP, in JAX's pairing
Re(sum u * v) (`ad.primitive.COMPLEX_KINDS`):

* fft, ifft: the DFT matrix is symmetric, so the transpose is the same transform of the
  cotangent (same norm), fitted back to the input's lengths (a crop transposes a zero-pad);
* rfft: Re(fftn(ct zero-padded to the full last length)) over the same axes;
* irfft: the half spectrum counts its inner bins twice, so the transpose is
  weights * conj(rfft(ct)) with the norm that scales as irfft's did, then the inverse
  complex transform over the other axes.

Imports numpy, `ad.primitive`, `ad.catalogue.define`, `ad.catalogue.structure` and
`ad.catalogue.elementwise`.
"""
from __future__ import annotations

import math

import numpy as np

from ad.catalogue.define import deflinear
from ad.catalogue.elementwise import conj, real
from ad.catalogue.structure import concatenate, getitem
from ad.primitive import Counts

KINDS = {"fft": np.fft.fftn, "ifft": np.fft.ifftn, "rfft": np.fft.rfftn,
         "irfft": np.fft.irfftn}
#: The norm whose scale is the other direction's (NumPy's norm= names the direction that is
#: scaled).
DUAL_NORM = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


def _fft(x, *, kind, s, axes, norm):
    return KINDS[kind](np.asarray(x), s=s, axes=axes, norm=norm)


def _fit(x, lengths, axes):
    """x cropped or zero-padded to `lengths` along `axes` (both orders of a pad's transpose)."""
    for length, axis in zip(lengths, axes):
        have = np.shape(x)[axis]
        if have > length:
            index = [slice(None)] * np.ndim(x)
            index[axis] = slice(0, length)
            x = getitem(x, index=tuple(index), nbatch=0)
        elif have < length:
            shape = list(np.shape(x))
            shape[axis] = length - have
            x = concatenate(x, np.zeros(shape, dtype=x.dtype), axis=axis % np.ndim(x))
    return x


def _lengths(x, axes) -> tuple:
    return tuple(np.shape(x)[a] for a in axes)


def _fft_transpose(ct, out, x, *, kind, s, axes, norm):
    lengths = _lengths(x, axes)
    if kind in ("fft", "ifft"):
        back = fft(ct, kind=kind, s=_lengths(ct, axes), axes=axes, norm=norm)
        return _fit(back, lengths, axes)
    if kind == "rfft":
        padded = _fit(ct, s[-1:], axes[-1:])          # to the real transform's length
        back = real(fft(padded, kind="fft", s=_lengths(padded, axes), axes=axes, norm=norm))
        return _fit(back, lengths, axes)
    # irfft: the half spectrum's inner bins stand for two, the ends for one
    full = s[-1]
    half = fft(ct, kind="rfft", s=(full,), axes=axes[-1:], norm=DUAL_NORM[norm])
    weights = np.full(full // 2 + 1, 2.0)
    weights[0] = 1.0
    if full % 2 == 0:
        weights[-1] = 1.0
    back = conj(half) * weights.reshape((-1,) + (1,) * (-axes[-1] - 1))
    if len(axes) > 1:
        back = fft(back, kind="ifft", s=_lengths(back, axes[:-1]), axes=axes[:-1], norm=norm)
    return _fit(back, lengths, axes)


def _fft_cost(in_shapes, out_shape, *, s=None, **params) -> Counts:
    n = max(math.prod(out_shape), math.prod(in_shapes[0]), 1)
    length = math.prod(s) if s else n
    flops = 5.0 * n * math.log2(max(length, 2))         # Cooley-Tukey's 5 n log2 n
    return Counts(flops, flops, flops, 0)


fft = deflinear("fft", _fft, transpose=(_fft_transpose,), cost=_fft_cost,
                dependency="linear", complex="real-linear")

__all__ = ["fft", "KINDS", "DUAL_NORM"]
