"""`ad.scipy.stats`: the normal distribution, built on `ad.scipy.special` and `ad.numpy`,
so it differentiates in the point, the location and the scale. Imports `ad.numpy` and
`ad.scipy.special`.
"""
from __future__ import annotations

import math

from ad import numpy as anp
from ad.scipy import special

__all__ = ["norm"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class _Normal:
    """scipy.stats.norm's functions: logpdf, pdf, cdf, logcdf, sf, ppf.

    >>> float(norm.pdf(0.0))
    0.3989422804014327
    """

    @staticmethod
    def logpdf(x, loc=0.0, scale=1.0):
        z = (x - loc) / scale
        return -0.5 * z * z - anp.log(scale) - _LOG_SQRT_2PI

    def pdf(self, x, loc=0.0, scale=1.0):
        return anp.exp(self.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x, loc=0.0, scale=1.0):
        return special.ndtr((x - loc) / scale)

    @staticmethod
    def logcdf(x, loc=0.0, scale=1.0):
        return special.log_ndtr((x - loc) / scale)

    @staticmethod
    def sf(x, loc=0.0, scale=1.0):
        return special.ndtr((loc - x) / scale)

    @staticmethod
    def ppf(q, loc=0.0, scale=1.0):
        return loc + scale * special.ndtri(q)


norm = _Normal()
