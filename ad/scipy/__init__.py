"""`ad.scipy`: SciPy's functions on traced values (an optional extra: `admodes[scipy]`).

`special` declares SciPy's special functions as elementwise primitives (their partials
written with each other, so every order of derivative works) and the log-sum-exp family as
compositions; `stats` has distributions built on them; `linalg` triangular and Cholesky
solves and the matrix exponential and square root. Calling SciPy's own ufuncs
on traced values (`scipy.special.erf(x)`) dispatches here once `ad.scipy` is imported.
Imports `ad.catalogue.define`, `ad.numpy`, `ad.primitive` and SciPy.
"""
from __future__ import annotations

try:
    import scipy.special  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("ad.scipy needs SciPy, an optional dependency: "
                      "pip install 'admodes[scipy]' (or pip install scipy)") from error

from ad.scipy import linalg, special, stats  # noqa: E402,F401

__all__ = ["special", "stats", "linalg"]
