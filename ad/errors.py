"""Named exceptions of `ad`.

Every error a user can meet names the problem: which function, argument, shape, dtype or
primitive. Imports nothing from `ad`.
"""
from __future__ import annotations


class ADError(Exception):
    """Base class of every error raised by `ad`."""


class RegistrationError(ADError, ValueError):
    """A primitive was declared without a rule it needs, or twice under one name."""


class NotDifferentiableError(ADError, TypeError):
    """A function or primitive was asked for a derivative it does not have."""


class LevelError(ADError, RuntimeError):
    """A traced value was used outside the transform that created it (perturbation confusion)."""


class TracerConversionError(ADError, TypeError):
    """A traced value was converted to a plain number or array, which would drop its derivative."""


class GuardError(ADError, RuntimeError):
    """A compiled tape in strict mode (compile="strict") met inputs taking another path than
    the one it recorded (a Python branch, an index or a value read from the inputs)."""


class InPlaceError(ADError, TypeError):
    """In-place mutation of a traced value; use the functional update `x.at[idx].set(v)`."""


class UnsupportedFunctionError(ADError, TypeError):
    """A NumPy function reached a traced value but `ad` has no rule for it."""


class ShapeError(ADError, ValueError):
    """A tangent, cotangent or argument has the wrong shape or tree structure."""


class DTypeError(ADError, TypeError):
    """An argument has a dtype that cannot be differentiated (integer, bool, object)."""
