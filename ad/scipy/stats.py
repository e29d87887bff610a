"""`ad.scipy.stats`: distributions built on `ad.scipy.special` and `ad.numpy`, so they
differentiate in the point, the location and the scale (and in the shape parameters of
logpdf/pdf; the cdfs of t, gamma and beta in the point only, as the special functions do).
norm, t, gamma, beta and multivariate_normal, with SciPy's argument names. Imports
`ad.numpy` and `ad.scipy.special`.
"""
from __future__ import annotations

import math

import numpy as np

from ad import numpy as anp
from ad.scipy import special

__all__ = ["norm", "t", "gamma", "beta", "multivariate_normal"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _weak(fn, *values):
    """fn of parameters; of Python numbers, a Python float: weakly typed (NEP 50), so
    float32 points keep float32 values, as JAX's (fn of a NumPy float64 would promote)."""
    if all(type(v) in (int, float) for v in values):
        with np.errstate(all="ignore"):      # log(0) = -inf and log(-1) = NaN, as NumPy's
            return float(fn(*map(np.float64, values)))
    return fn(*values)


def _log(value):
    return _weak(anp.log, value)


class _Normal:
    """scipy.stats.norm's functions: logpdf, pdf, cdf, logcdf, sf, ppf.

    >>> float(norm.pdf(0.0))
    0.3989422804014327
    """

    @staticmethod
    def logpdf(x, loc=0.0, scale=1.0):
        z = _standard(x, loc, scale)
        return -0.5 * z * z - _log(scale) - _LOG_SQRT_2PI

    def pdf(self, x, loc=0.0, scale=1.0):
        return anp.exp(self.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x, loc=0.0, scale=1.0):
        return special.ndtr(_standard(x, loc, scale))

    @staticmethod
    def logcdf(x, loc=0.0, scale=1.0):
        return special.log_ndtr(_standard(x, loc, scale))

    @staticmethod
    def sf(x, loc=0.0, scale=1.0):
        return special.ndtr(-_standard(x, loc, scale))

    @staticmethod
    def ppf(q, loc=0.0, scale=1.0):
        return loc + scale * special.ndtri(q)


norm = _Normal()


def _standard(x, loc, scale):
    """(x - loc) / scale; NaN (as SciPy's) where scale is 0 (Python numbers divide by zero
    with an error)."""
    centred = x - loc
    if type(centred) in (int, float) and type(scale) in (int, float):
        return centred / scale if scale != 0 else math.nan
    return centred / scale


_UNSET = object()


class _Standardised:
    """logpdf/pdf/cdf of a location-scale family from its standard logpdf and cdf; as
    SciPy's, the shape parameters (`shapes` of them, named `names`) come first, then loc
    and scale, positionally or by keyword."""

    names: tuple = ()
    public = ""          # its name in the module (t, gamma, beta)

    def _parsed(self, what: str, args: tuple, loc, scale):
        k = len(self.names)
        if len(args) < k:
            raise TypeError(f"{self.public}.{what}: missing shape "
                            f"parameter(s) {', '.join(self.names[len(args):])}")
        if len(args) > k + 2:
            raise TypeError(f"{self.public}.{what}: takes x, "
                            f"{', '.join(self.names)}, loc and scale; got {len(args) + 1} "
                            "positional arguments")
        given = dict(zip(("loc", "scale"), args[k:]))
        for name, value in (("loc", loc), ("scale", scale)):
            if value is not _UNSET:
                if name in given:
                    raise TypeError(f"{self.public}.{what}: "
                                    f"got multiple values for {name}")
                given[name] = value
        return args[:k], given.get("loc", 0.0), given.get("scale", 1.0)

    def logpdf(self, x, *args, loc=_UNSET, scale=_UNSET):
        shape, loc, scale = self._parsed("logpdf", args, loc, scale)
        return self._logpdf(_standard(x, loc, scale), *shape) - _log(scale)

    def pdf(self, x, *args, loc=_UNSET, scale=_UNSET):
        shape, loc, scale = self._parsed("pdf", args, loc, scale)
        return anp.exp(self.logpdf(x, *shape, loc=loc, scale=scale))

    def cdf(self, x, *args, loc=_UNSET, scale=_UNSET):
        shape, loc, scale = self._parsed("cdf", args, loc, scale)
        return self._cdf(_standard(x, loc, scale), *shape)


class _StudentT(_Standardised):
    """scipy.stats.t: logpdf, pdf, cdf (degrees of freedom `df`)."""

    names, public = ("df",), "t"

    @staticmethod
    def _logpdf(z, df):
        # the constant -log(sqrt(df) B(1/2, df/2)): one betaln, where the difference of
        # gammaln((df + 1)/2) and gammaln(df/2) cancels at a large df
        infinite = np.isinf(np.asarray(anp._primal_value(df)))
        if infinite.any():                 # df = inf: the normal distribution
            finite = _StudentT._logpdf(z, anp.where(infinite, 1.0, df))
            return anp.where(infinite, -0.5 * z * z - _LOG_SQRT_2PI, finite)
        constant = -_weak(lambda d: special.betaln(0.5, 0.5 * d) + 0.5 * anp.log(d), df)
        return constant - 0.5 * (df + 1.0) * anp.log1p(z * z / df)

    def _cdf(self, z, df):
        # Two forms of the regularised incomplete beta function, as SciPy's stdtr: for
        # z^2 < df the probability of |T| <= |z|, I(1/2, df/2; z^2 / (df + z^2)), whose
        # argument has no 1 - x to cancel (the tail form's derivative reads (1 - x)^(-1/2)
        # with x = df / (df + z^2) rounded to 1: wrong near 0, and inf in float32); beyond,
        # the tail I(df/2, 1/2; df / (df + z^2)). For z^2 < 1e-6 min(df, 1) the Taylor
        # series of the cdf to z^5 (its terms in z^2 and z^2 / df: the next is below 1e-11
        # of the first to second order): the beta form's second derivative there is two
        # terms of order 1/|z| that cancel (eps / z^2 of it is lost; 0 * inf at 0). So
        # float32 is computed in float64 (its eps / z^2 at the switch would be 6%).
        # df = inf is the normal distribution.
        value = np.asarray(anp._primal_value(z))
        if value.dtype == np.float32:
            return anp.astype(self._cdf(anp.astype(z, np.float64), df), np.float32)
        square, dof = value * value, np.asarray(anp._primal_value(df))
        infinite = np.isinf(dof)
        if infinite.any():
            finite = self._cdf(z, anp.where(infinite, 1.0, df))
            return anp.where(infinite, special.ndtr(z), finite)
        small, near = square < 1e-6 * np.minimum(dof, 1.0), square < dof
        safe = anp.where(small, 1.0, z)
        z2 = safe * safe
        # each form at points of its own only (the other's derivative may be inf there,
        # and 0 * inf is NaN in reverse mode): z^2 = df, x = 1/2, where it is not taken
        z2_near, z2_far = anp.where(near, z2, df), anp.where(near, df, z2)
        inner = 0.5 * special.betainc(0.5, 0.5 * df, z2_near / (df + z2_near))
        tail = 0.5 * special.betainc(0.5 * df, 0.5, df / (df + z2_far))
        close = anp.where(value < 0, 0.5 - inner, 0.5 + inner)
        away = anp.where(value < 0, tail, 1.0 - tail)
        zz = anp.where(small, z * z, 0.0)
        density = _weak(lambda d: anp.exp(self._logpdf(0.0, d)), df)    # the pdf at 0
        series = 0.5 + density * z * (
            1.0 - (df + 1.0) / (6.0 * df) * zz
            + (df + 1.0) * (df + 3.0) / (40.0 * df * df) * zz * zz)
        return anp.where(small, series, anp.where(near, close, away))


class _Gamma(_Standardised):
    """scipy.stats.gamma: logpdf, pdf, cdf (shape `a`)."""

    names, public = ("a",), "gamma"

    # outside the support (z < 0): logpdf -inf, pdf and cdf 0, as SciPy (the formulas give
    # NaN there); the formulas see a point inside, so no NaN reaches a derivative either
    @staticmethod
    def _logpdf(z, a):
        inside = z >= 0.0
        z = anp.where(inside, z, 1.0)
        return anp.where(inside, special.xlogy(a - 1.0, z) - z - _weak(special.gammaln, a),
                         -np.inf)

    @staticmethod
    def _cdf(z, a):
        inside = z >= 0.0
        return anp.where(inside, special.gammainc(a, anp.where(inside, z, 0.0)), 0.0)


class _Beta(_Standardised):
    """scipy.stats.beta: logpdf, pdf, cdf (shapes `a`, `b`)."""

    names, public = ("a", "b"), "beta"

    # outside [0, 1]: logpdf -inf, pdf 0, cdf 0 below and 1 above, as SciPy
    @staticmethod
    def _logpdf(z, a, b):
        inside = anp.logical_and(z >= 0.0, z <= 1.0)
        z = anp.where(inside, z, 0.5)
        return anp.where(inside, special.xlogy(a - 1.0, z) + special.xlog1py(b - 1.0, -z)
                         - _weak(special.betaln, a, b), -np.inf)

    @staticmethod
    def _cdf(z, a, b):
        inside = anp.logical_and(z >= 0.0, z <= 1.0)
        return anp.where(z > 1.0, 1.0, anp.where(inside, special.betainc(
            a, b, anp.where(inside, z, 0.5)), 0.0))


class _MultivariateNormal:
    """scipy.stats.multivariate_normal: logpdf and pdf (points in the last axis), through a
    Cholesky factor of `cov`, differentiable in x, mean and cov."""

    @staticmethod
    def logpdf(x, mean=None, cov=1.0):
        x = anp.asarray(x)
        # the dimension is SciPy's: the mean's length, else the covariance's, else 1 (so a
        # vector x with a scalar mean and cov is that many one-dimensional points)
        d = (anp.shape(mean)[-1] if mean is not None and anp.ndim(mean) > 0 else
             anp.shape(cov)[0] if anp.ndim(cov) > 0 else 1)
        points = anp.shape(x)[:-1] if anp.ndim(x) > 1 or (anp.ndim(x) == 1 and d > 1) \
            else anp.shape(x)
        if points != anp.shape(x) and anp.shape(x)[-1] != d:
            raise ValueError(f"multivariate_normal.logpdf: x's last axis has "
                             f"{anp.shape(x)[-1]} elements, the distribution {d} dimensions")
        if anp.ndim(cov) == 2 and anp.shape(cov) != (d, d) or \
                anp.ndim(cov) == 1 and anp.shape(cov) != (d,) or anp.ndim(cov) > 2:
            raise ValueError(f"multivariate_normal.logpdf: cov of shape {anp.shape(cov)} for "
                             f"{d} dimensions (a ({d}, {d}) matrix, {d} variances or one)")
        x = anp.reshape(x, points + (d,))
        cov = cov * anp.eye(d) if anp.ndim(cov) == 0 else (
            anp.diag(cov) if anp.ndim(cov) == 1 else cov)
        lower = anp.linalg.cholesky(cov)
        centred = x if mean is None else x - mean
        flat = anp.reshape(centred, (-1, d))
        white = anp.linalg.solve(lower, anp.transpose(flat))              # (d, points)
        maha = anp.sum(white * white, axis=0)
        log_det = 2.0 * anp.sum(anp.log(anp.diagonal(lower)))
        out = -0.5 * (maha + log_det + d * math.log(2.0 * math.pi))
        return anp.reshape(out, anp.shape(x)[:-1])

    def pdf(self, x, mean=None, cov=1.0):
        return anp.exp(self.logpdf(x, mean, cov))


t = _StudentT()
gamma = _Gamma()
beta = _Beta()
multivariate_normal = _MultivariateNormal()
