"""SciPy's special functions as primitives: one line of value and partials each.

Partials are written with other special functions and `ad.numpy` operations, so they
differentiate again: erf's is a Gaussian, gammaln's is digamma, digamma's is polygamma(1),
polygamma(n)'s is polygamma(n + 1), i0's is i1. Conventions: xlogy and xlog1py take the
derivative log(y) (log1p(y)) in x even where x == 0; i1 and i1e have the limit 1/2 at 0.
Registering them also makes SciPy's own ufuncs dispatch on traced values. Imports
`ad.catalogue.define`, `ad.numpy`, `ad.primitive` and `scipy.special`.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special as sp

from ad import numpy as anp
from ad.catalogue.define import REAL, defelementwise
from ad.numpy._reductions import _logsumexp
from ad.primitive import UFUNCS

__all__ = ["expit", "logit", "erf", "erfc", "erfinv", "ndtr", "ndtri", "log_ndtr", "gammaln",
           "digamma", "polygamma", "xlogy", "xlog1py", "entr", "i0", "i1", "i0e", "i1e",
           "gammainc", "gammaincc", "betainc", "betaln", "logsumexp", "softmax", "log_softmax"]

POSITIVE = (0.0, math.inf)
UNIT = (-1.0, 1.0)
PROBABILITY = (0.0, 1.0)
SQRT_PI = math.sqrt(math.pi)
SQRT_2PI = math.sqrt(2.0 * math.pi)


def _polygamma(n, x):
    return sp.polygamma(n, x)


def _expit_d(x, y): return y * (1.0 - y)
def _logit_d(x, y): return 1.0 / (x * (1.0 - x))
def _erf_d(x, y): return (2.0 / SQRT_PI) * np.exp(-x * x)
def _erfc_d(x, y): return (-2.0 / SQRT_PI) * np.exp(-x * x)
def _erfinv_d(x, y): return (SQRT_PI / 2.0) * np.exp(y * y)
def _ndtr_d(x, y): return np.exp(-0.5 * x * x) / SQRT_2PI
def _ndtri_d(x, y): return SQRT_2PI * np.exp(0.5 * y * y)
def _log_ndtr_d(x, y):
    """phi(x) / Phi(x): below x = -30 by the Mills ratio's asymptotic series (the direct
    form subtracts two numbers near x^2 / 2: 1% wrong at -1e7), else directly (both
    within about 5e-14 at the switch)."""
    tail = x < -30.0
    t = anp.where(tail, x, -30.0)            # the series where it is used (no 1 / 0)
    r = 1.0 / (t * t)
    series = -t / (1.0 + r * (-1.0 + r * (3.0 + r * (-15.0 + r * (105.0 - r * 945.0)))))
    # (the direct form's exponent is at most log(30 sqrt(2 pi)) where it is used: the cap
    # only keeps the unused one from overflowing)
    return anp.where(tail, series, anp.exp(anp.minimum(-0.5 * x * x - y, 700.0)) / SQRT_2PI)
def _gammaln_d(x, y): return digamma(x)
def _digamma_d(x, y): return polygamma(1.0, x)
def _polygamma_dx(n, x, y): return polygamma(n + 1.0, x)
def _xlogy_dx(x, y, out): return np.log(y)
def _xlogy_dy(x, y, out): return x / y
def _xlog1py_dx(x, y, out): return np.log1p(y)
def _xlog1py_dy(x, y, out): return x / (1.0 + y)
def _entr_d(x, y): return -np.log(x) - 1.0
def _i0_d(x, y): return i1(x)
def _i1_over_x(x, scaled: bool = False):
    """i1(x) / x (with `scaled`, i1e(x) / x = exp(-|x|) i1(x) / x, where i1's overflow
    beyond |x| = 713 would make 0 * inf) by its series within 0.01 of 0 (x^0 to x^8), so
    that its derivatives of every order are right there too (the quotient cancels; a
    constant 0.5 at 0 gave i1'''(0) = 1/2, not 3/8)."""
    near = anp.abs(x) < 0.01
    x2 = x * x
    series = 0.5 + x2 * (1 / 16 + x2 * (1 / 384 + x2 * (1 / 18432 + x2 / 1474560)))
    if scaled:
        return anp.where(near, anp.exp(-anp.abs(x)) * series, i1e(x) / (x + near))
    return anp.where(near, series, i1(x) / (x + near))


def _i1_d(x, y): return i0(x) - _i1_over_x(x)
def _i0e_d(x, y): return i1e(x) - np.sign(x) * y
def _i1e_d(x, y): return i0e(x) - y * np.sign(x) - _i1_over_x(x, scaled=True)


def _in_float32(fn):
    """fn, its float64 result taken in float32 when its arguments are float32 (Python
    numbers weakly typed): SciPy has no float32 loop for some (xlogy, gammainc,
    polygamma); ad's convention is JAX's, float32 in, float32 out."""
    def value(*args):
        out = fn(*args)
        if getattr(out, "dtype", None) == np.float64 and np.result_type(*args) == np.float32:
            return np.asarray(out, dtype=np.float32)[()]
        return out
    value.__name__ = getattr(fn, "__name__", "value")
    return value


def _special(name, ufunc, partials, domain, flops=30, partial_flops=30):
    primitive = defelementwise(f"scipy.special.{name}", _in_float32(ufunc), partials, flops=flops,
                               partial_flops=partial_flops, domain=domain, numpy=ufunc,
                               kernel=False)
    UFUNCS[ufunc] = primitive     # scipy.special.<name>(traced) dispatches here
    return primitive


expit = _special("expit", sp.expit, (_expit_d,), (REAL,))
logit = _special("logit", sp.logit, (_logit_d,), (PROBABILITY,))
erf = _special("erf", sp.erf, (_erf_d,), (REAL,))
erfc = _special("erfc", sp.erfc, (_erfc_d,), (REAL,))
erfinv = _special("erfinv", sp.erfinv, (_erfinv_d,), (UNIT,))
ndtr = _special("ndtr", sp.ndtr, (_ndtr_d,), (REAL,))
ndtri = _special("ndtri", sp.ndtri, (_ndtri_d,), (PROBABILITY,))
log_ndtr = _special("log_ndtr", sp.log_ndtr, (_log_ndtr_d,), (REAL,))
gammaln = _special("gammaln", sp.gammaln, (_gammaln_d,), (POSITIVE,))
digamma = _special("digamma", sp.digamma, (_digamma_d,), (POSITIVE,))
polygamma = defelementwise("scipy.special.polygamma", _in_float32(_polygamma),
                           (None, _polygamma_dx),
                           flops=60, partial_flops=60, domain=((1.0, 3.0), POSITIVE),
                           kernel=False)
xlogy = _special("xlogy", sp.xlogy, (_xlogy_dx, _xlogy_dy), (REAL, POSITIVE))
xlog1py = _special("xlog1py", sp.xlog1py, (_xlog1py_dx, _xlog1py_dy), (REAL, (-0.5, 3.0)))
entr = _special("entr", sp.entr, (_entr_d,), (POSITIVE,))
i0 = _special("i0", sp.i0, (_i0_d,), (REAL,))
i1 = _special("i1", sp.i1, (_i1_d,), (REAL,))
i0e = _special("i0e", sp.i0e, (_i0e_d,), (REAL,))
i1e = _special("i1e", sp.i1e, (_i1e_d,), (REAL,))


# Regularised incomplete gamma and beta functions: differentiable in x (their shape
# parameters a, b are constants here; derivatives in them have no closed form).
def _gammainc_dx(a, x, y): return np.exp((a - 1.0) * np.log(x) - x - gammaln(a))
def _gammaincc_dx(a, x, y): return -np.exp((a - 1.0) * np.log(x) - x - gammaln(a))
def _betainc_dx(a, b, x, y):
    return np.exp((a - 1.0) * np.log(x) + (b - 1.0) * np.log1p(-x) - betaln(a, b))


def _betaln(a, b):
    return sp.betaln(a, b)


def _betaln_da(a, b, y): return digamma(a) - digamma(a + b)
def _betaln_db(a, b, y): return digamma(b) - digamma(a + b)


gammainc = _special("gammainc", sp.gammainc, (None, _gammainc_dx), ((0.5, 3.0), POSITIVE))
gammaincc = _special("gammaincc", sp.gammaincc, (None, _gammaincc_dx), ((0.5, 3.0), POSITIVE))
betainc = _special("betainc", sp.betainc, (None, None, _betainc_dx),
                   ((0.5, 3.0), (0.5, 3.0), PROBABILITY))
betaln = _special("betaln", sp.betaln, (_betaln_da, _betaln_db), (POSITIVE, POSITIVE))


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(b * exp(a))) over `axis`, shifted by the maximum (stable).

    >>> float(logsumexp(np.array([1000.0, 1000.0])))
    1000.6931471805599
    """
    if return_sign:
        raise NotImplementedError("ad.scipy.special.logsumexp: return_sign=True")
    return _logsumexp(a, axis, b=b, keepdims=keepdims)


def softmax(x, axis=None):
    """exp(x) / sum(exp(x)) over `axis`, stably."""
    return anp.exp(log_softmax(x, axis=axis))


def log_softmax(x, axis=None):
    """x - logsumexp(x) over `axis`."""
    return x - logsumexp(x, axis=axis, keepdims=True)
