"""`ad.numpy.fft`: the discrete Fourier transforms on traced values, mirroring numpy.fft.

fft/ifft/rfft/irfft and their 2-D and n-D forms, hfft/ihfft, with NumPy's `n`/`s`, `axis`/
`axes` and `norm`: each is the one catalogue primitive `ad.catalogue.fft.fft` with the
lengths and (negative) axes NumPy would use, so one rule and its transpose serve them all.
fftfreq, rfftfreq (constants) and fftshift/ifftshift (rolls) complete the namespace.
Imports `ad.numpy` (the package) and `ad.catalogue.fft`.
"""
from __future__ import annotations

import operator as _operator

import numpy as _np

from ad import numpy as _anp
from ad.catalogue.fft import fft as _fft_p
from ad.numpy import _implements
from ad.primitive import Tracer as _Tracer

__all__ = ["fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn",
           "ifftn", "rfftn", "irfftn", "hfft", "ihfft", "fftfreq", "rfftfreq", "fftshift",
           "ifftshift"]

fftfreq = _np.fft.fftfreq
rfftfreq = _np.fft.rfftfreq


def _plan(a, s, axes, kind: str):
    """NumPy's lengths and axes for an n-D transform, axes made negative."""
    ndim = _anp.ndim(a)
    if axes is None:
        axes = tuple(range(ndim)) if s is None else tuple(range(ndim - len(s), ndim))
    axes = tuple(_anp._axis(ax, ndim, kind) - ndim for ax in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(f"fft: repeated axes {axes}")
    shape = _anp.shape(a)
    if s is None:
        s = [shape[ax] for ax in axes]
        if kind == "irfft":
            s[-1] = 2 * (shape[axes[-1]] - 1)
    if len(s) != len(axes):
        raise ValueError(f"fft: s {tuple(s)} and axes {axes} differ in length")
    # None in s: that axis's own length (NumPy 2), irfft's last as 2 (m - 1)
    s = [(2 * (shape[ax] - 1) if kind == "irfft" and k == len(axes) - 1 else shape[ax])
         if n is None else n for k, (n, ax) in enumerate(zip(s, axes))]
    return tuple(int(n) for n in s), axes


def _norm(norm):
    norm = "backward" if norm is None else norm
    if norm not in ("backward", "ortho", "forward"):
        raise ValueError(f'fft: norm must be "backward", "ortho" or "forward", not {norm!r}')
    return norm


def _transform(kind: str, a, s, axes, norm):
    if not isinstance(a, _Tracer):
        return getattr(_np.fft, kind + "n")(a, s=s, axes=axes, norm=norm)
    if s is not None:          # NumPy's checks of the lengths (a traced input skips NumPy)
        s = [None if n is None else _operator.index(n) for n in s]
        if any(n is not None and n < 1 for n in s):
            raise ValueError(f"{kind}: invalid number of FFT data points ({s}) specified")
    s, axes = _plan(a, s, axes, kind)
    if kind == "rfft" and a.dtype.kind == "c":
        raise TypeError("rfft: the input must be real")
    return _fft_p(a, kind=kind, s=s, axes=axes, norm=_norm(norm))


def _one(kind):
    def transform(a, n=None, axis=-1, norm=None, out=None):
        _anp._no_out(out, kind)
        return _transform(kind, a, None if n is None else (n,), (axis,), norm)
    transform.__name__ = kind
    transform.__doc__ = (f"numpy.fft.{kind} on traced values (the catalogue's fft primitive)."
                         "\n\n    >>> import numpy as np, ad\n    >>> x = np.arange(4.0)\n"
                         f"    >>> bool(np.allclose({kind}(x), np.fft.{kind}(x)))\n    True\n")
    return _implements(getattr(_np.fft, kind))(transform)


def _many(kind, name, default_axes):
    def transform(a, s=None, axes=default_axes, norm=None, out=None):
        _anp._no_out(out, name)
        return _transform(kind, a, s, axes, norm)
    transform.__name__ = name
    transform.__doc__ = f"numpy.fft.{name} on traced values (the catalogue's fft primitive)."
    return _implements(getattr(_np.fft, name))(transform)


fft = _one("fft")
ifft = _one("ifft")
rfft = _one("rfft")
irfft = _one("irfft")
fft2 = _many("fft", "fft2", (-2, -1))
ifft2 = _many("ifft", "ifft2", (-2, -1))
rfft2 = _many("rfft", "rfft2", (-2, -1))
irfft2 = _many("irfft", "irfft2", (-2, -1))
fftn = _many("fft", "fftn", None)
ifftn = _many("ifft", "ifftn", None)
rfftn = _many("rfft", "rfftn", None)
irfftn = _many("irfft", "irfftn", None)

_SWAP = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


@_implements(_np.fft.hfft)
def hfft(a, n=None, axis=-1, norm=None, out=None):
    """The FFT of a Hermitian-symmetric signal given by its half: irfft(conj(a)) rescaled."""
    _anp._no_out(out, "hfft")
    return irfft(_anp.conj(a), n, axis, _SWAP[norm])


@_implements(_np.fft.ihfft)
def ihfft(a, n=None, axis=-1, norm=None, out=None):
    """The inverse of hfft: conj(rfft(a)) rescaled."""
    _anp._no_out(out, "ihfft")
    return _anp.conj(rfft(a, n, axis, _SWAP[norm]))


@_implements(_np.fft.fftshift)
def fftshift(x, axes=None):
    """The zero frequency moved to the centre (a roll)."""
    axes = tuple(range(_anp.ndim(x))) if axes is None else (
        (axes,) if isinstance(axes, (int, _np.integer)) else tuple(axes))
    return _anp.roll(x, [_anp.shape(x)[ax] // 2 for ax in axes], axes)


@_implements(_np.fft.ifftshift)
def ifftshift(x, axes=None):
    """The inverse of fftshift."""
    axes = tuple(range(_anp.ndim(x))) if axes is None else (
        (axes,) if isinstance(axes, (int, _np.integer)) else tuple(axes))
    return _anp.roll(x, [-(_anp.shape(x)[ax] // 2) for ax in axes], axes)
