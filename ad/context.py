"""Levels: who owns a traced value, and in what order transforms nest.

Every `Dual` and every tape value carries a `Level`. Levels are ordered by a global counter
(ForwardDiff's tag idea): a level opened later is *inner* and is processed first, so nested
derivatives never confuse perturbations. Each thread keeps its own stack of open levels, so
tapes are per thread. Imports only `ad.errors`.
"""
from __future__ import annotations

import itertools
import threading
from ad.errors import LevelError

_order = itertools.count(1)  # next() on itertools.count is atomic under the GIL
_local = threading.local()


class Level:
    """One transform in progress: a forward (dual) or reverse (tape) level.

    Engines subclass it and implement `process(primitive, args, params)`.
    """

    kind = "level"
    __slots__ = ("order", "active", "thread", "__weakref__")

    def __init__(self) -> None:
        self.order = next(_order)
        self.active = True
        self.thread = threading.get_ident()

    def process(self, primitive, args, params):  # pragma: no cover - engines override
        raise NotImplementedError

    def check_usable(self) -> None:
        """Raise a clear error when a value of a finished or foreign level is used."""
        if not self.active:
            raise LevelError(
                f"a traced value from a finished {self.kind} transform was used; values created "
                "inside grad/jvp/vjp must not escape the function being differentiated "
                "(return them, or use ad.stop_gradient)")
        if self.thread != threading.get_ident():
            raise LevelError(f"a traced value of a {self.kind} transform was used from another "
                             "thread; each thread must trace its own function")

    def __repr__(self) -> str:
        return f"<{self.kind} level {self.order}>"


def _stack() -> list[Level]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def open_levels() -> tuple[Level, ...]:
    """The levels open in this thread, outermost first."""
    return tuple(_stack())


class entered:
    """Context manager: push `level` on this thread's stack, and close it on exit."""

    __slots__ = ("level",)

    def __init__(self, level: Level) -> None:
        self.level = level

    def __enter__(self) -> Level:
        _stack().append(self.level)
        return self.level

    def __exit__(self, *exc) -> None:
        stack = _stack()
        if stack and stack[-1] is self.level:
            stack.pop()
        else:  # pragma: no cover - only on misuse of the context protocol
            stack.remove(self.level)
        self.level.active = False
