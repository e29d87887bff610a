"""Levels: who owns a traced value, and in what order transforms nest.

Every `Dual` and every tape value carries a `Level`. Levels are ordered by a global counter
(ForwardDiff's tag idea): a level opened later is *inner* and is processed first, so nested
derivatives never confuse perturbations. A level belongs to the thread that opened it (using
its values from another thread is a named error), so tapes are per thread; it is closed when
its transform returns, and its values must not be used after that. Imports only `ad.errors`.
"""
from __future__ import annotations

import itertools
import threading
from threading import get_ident

from ad.errors import LevelError

_order = itertools.count(1)  # next() on itertools.count is atomic under the GIL


class Level:
    """One transform in progress: a forward (dual) or reverse (tape) level.

    Engines subclass it and implement `process(primitive, args, params)`.
    """

    kind = "level"
    __slots__ = ("order", "active", "thread", "__weakref__")

    def __init__(self) -> None:
        self.order = next(_order)
        self.active = True
        self.thread = get_ident()

    def process(self, primitive, args, params):  # pragma: no cover - engines override
        raise NotImplementedError

    def value_read(self, why: str, value=None) -> None:
        """A traced value of this level (`value`) was read as a plain value (`bool()` of
        it, an index computed from it, `ad.primal_value`): what was computed from the number
        cannot be recomputed from the recording. Engines that replay recordings override
        this (a compiled tape guards the value read)."""

    def check_usable(self) -> None:
        """Raise a clear error when a value of a finished or foreign level is used."""
        if not self.active:
            raise LevelError(
                f"a traced value from a finished {self.kind} transform was used; values created "
                "inside grad/jvp/vjp must not escape the function being differentiated "
                "(return them, or use ad.stop_gradient)")
        if self.thread is not None and self.thread != get_ident():
            raise LevelError(f"a traced value of a {self.kind} transform was used from another "
                             "thread; each thread must trace its own function")

    def __repr__(self) -> str:
        return f"<{self.kind} level {self.order}>"


#: Per thread, how many transforms' levels are open (`entered`): see `inside_transform`.
_open = threading.local()


def inside_transform() -> bool:
    """Whether some transform's function is running on this thread (a level is open). A
    compiled tape replays what it recorded: a value of that transform read from a closure
    or a global would lose its derivative, so compiled calls run interpreted then.

    >>> inside_transform()
    False
    """
    return getattr(_open, "depth", 0) > 0


class entered:
    """Context manager: the transform runs inside; on exit `level` is closed for good.

    >>> with entered(Level()) as level:
    ...     level.active
    True
    >>> level.active
    False
    """

    __slots__ = ("level",)

    def __init__(self, level: Level) -> None:
        self.level = level

    def __enter__(self) -> Level:
        _open.depth = getattr(_open, "depth", 0) + 1
        return self.level

    def __exit__(self, *exc) -> None:
        _open.depth -= 1
        self.level.active = False
