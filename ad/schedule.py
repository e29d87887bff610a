"""Checkpointing schedules for reversing a loop `carry = step(carry)` run n times.

Reverse mode normally keeps all n intermediate states of such a loop. With at most s states
stored at once (s checkpoint *slots*), one stores a few states, re-runs steps forward from a
stored state when a later one is needed, and reverses the steps one at a time, last step
first. The binomial schedule (Griewank & Walther, "Algorithm 799: revolve", ACM TOMS 26,
2000) does this with the fewest evaluations of `step`. What lives here:

    Action, Schedule      the instructions an executor (`ad.checkpoint.loop`) carries out
    binomial_schedule     the optimal (revolve) schedule for n steps and s slots
    store_all_schedule    store every state, reverse once: the plain reverse mode
    optimal_steps         T(n, s), the number of step evaluations of the optimal schedule
    slots_for_budget      how many slots fit in a memory budget

The cost model: T(l, s) is the least number of evaluations of `step` that reverses l steps
with s slots, counting the one taped evaluation per step made during the reversal, where the
initial state occupies one of the s slots:

    T(0, s) = 0,  T(1, s) = 1,  T(l, 1) = l (l + 1) / 2,
    T(l, s) = min over 1 <= j < l of  j + T(l - j, s - 1) + T(j, s)

(advance j steps from the stored state, store the state there, reverse the last l - j steps
with the s - 1 other slots, free it, then reverse the first j steps with s slots again). Its
closed form: with t the least integer such that C(s + t, s) >= l,

    T(l, s) = (t + 1) l - C(s + t, s + 1),

and an optimal first split is j = max(C(s + t - 2, s) + 1, l - C(s + t - 1, s - 1)); both are
checked against the recurrence in tests/test_schedule.py. For s >= l - 1, T(l, s) = 2 l - 1
(each step advanced once and taped once, the last one only taped).

Imports only the standard library (NumPy is not needed; NumPy integers are accepted as
arguments).

>>> optimal_steps(1000, 10), optimal_steps(1000, 2), optimal_steps(1000, 1)
(4636, 29820, 500500)
>>> print(binomial_schedule(1000, 10).summary())
n=1000 s=10: 4636 step evaluations (4.64 n), at most 10 states stored
"""
from __future__ import annotations

import functools
import gc
import operator
from dataclasses import dataclass
from typing import Iterator

ADVANCE, STORE, RESTORE, REVERSE, FREE = "advance", "store", "restore", "reverse", "free"
KINDS = (ADVANCE, STORE, RESTORE, REVERSE, FREE)


@dataclass(frozen=True, slots=True)
class Action:
    """One instruction of a schedule (states are indexed 0..n, see `Schedule`).

    kind    "advance": run step (to - at) times, untaped, from the current state `at`;
            "store": save the current state (state `at`) in a slot;
            "restore": make the stored state `at` the current state;
            "reverse": tape step `at` (state at -> at + 1) from the current state `at` and
            pull the cotangent of state at + 1 back to state at;
            "free": drop the stored state `at`, releasing its slot.
    at      a state index
    to      the state an "advance" ends at (None for the other kinds)

    >>> Action("advance", 0, 3)
    Action(kind='advance', at=0, to=3)
    """

    kind: str
    at: int
    to: int | None = None


@dataclass(frozen=True, eq=False)   # hashed by identity: a tape entry's parameter
class Schedule:
    """A checkpointing schedule: the actions reversing n steps with at most `slots` stored.

    Semantics (what an executor may rely on):

    * states are indexed 0..n: state i is the carry after i steps, state 0 the input;
    * the schedule starts with state 0 current and no slot used; unless n = 0 the first
      action is ``store(0)`` (state 0 takes a slot);
    * ``advance(at, to)``: the current state is state `at` (at < to <= n); running step
      to - at times, untaped, makes state `to` current;
    * ``store(at)`` stores the current state, which is state `at`; ``restore(at)`` makes
      the stored state `at` current (it stays stored); ``free(at)`` drops the stored state
      `at`. Every stored state is freed, and frees come as early as possible, so
      `max_stored` is the true peak of states stored at once (never more than `slots`);
    * ``reverse(at)``: the current state is state `at`; the executor tapes step `at`
      (state at -> at + 1) and pulls the cotangent of state at + 1 back to state at.
      Reverses come for at = n-1, n-2, ..., 0, exactly once each, in that order. After a
      reverse the current state is spent: the next action that needs a current state is
      always preceded by a ``restore`` (the executor may keep using the value it had);
    * after the last action nothing is stored.

    `forward_steps` counts every evaluation of step: the advances (to - at each) plus one
    per reverse; for `binomial_schedule` it equals `optimal_steps(n, slots)`.

    >>> schedule = binomial_schedule(3, 2)
    >>> [(a.kind, a.at, a.to) for a in schedule][:4]
    [('store', 0, None), ('advance', 0, 1), ('store', 1, None), ('advance', 1, 2)]
    >>> len(schedule), schedule.forward_steps, schedule.max_stored
    (11, 5, 2)
    """

    n: int
    slots: int
    actions: tuple[Action, ...]
    forward_steps: int
    max_stored: int

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions)

    def __len__(self) -> int:
        return len(self.actions)

    def summary(self) -> str:
        """One line: n, s, the step evaluations (also as a multiple of n), the peak stored.

        >>> store_all_schedule(4).summary()
        'n=4 s=4: 7 step evaluations (1.75 n), at most 4 states stored'
        """
        ratio = f"{self.forward_steps / self.n:.2f} n" if self.n else "0 n"
        plural = "" if self.max_stored == 1 else "s"
        return (f"n={self.n} s={self.slots}: {self.forward_steps} step evaluations "
                f"({ratio}), at most {self.max_stored} state{plural} stored")


# ----------------------------------------------------------------------------- validation
def _integer(name: str, value, minimum: int) -> int:
    """`value` as an int >= minimum, or a TypeError / ValueError naming `name`."""
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{name} must be an integer, not {value!r} ({type(value).__name__})")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {value}")
    return value


# ----------------------------------------------------------------------------- closed forms
def _repetitions(steps: int, slots: int) -> tuple[int, int]:
    """(t, C(slots + t, slots)) for the least t >= 0 with C(slots + t, slots) >= steps.

    t is the number of untaped runs of the most-repeated step in an optimal schedule.
    """
    if slots == 1:                     # C(1 + t, 1) = t + 1
        t = max(steps - 1, 0)
        return t, t + 1
    t, beta = 0, 1
    while beta < steps:
        t += 1
        beta = beta * (slots + t) // t     # C(s + t, s) = C(s + t - 1, s) (s + t) / t, exact
    return t, beta


def _optimal_steps(steps: int, slots: int) -> int:
    """T(steps, slots) by the closed form (arguments already validated)."""
    if steps == 0:
        return 0
    slots = min(slots, steps)          # more slots than steps do not help
    t, beta = _repetitions(steps, slots)
    return (t + 1) * steps - beta * t // (slots + 1)     # C(s + t, s + 1) = C(s + t, s) t / (s + 1)


@functools.lru_cache(maxsize=1 << 16)
def _split(steps: int, slots: int) -> int:
    """An optimal number of steps to advance before storing, for steps >= 2 and slots >= 2.

    With t as in `_repetitions`, j = max(C(s + t - 2, s) + 1, l - C(s + t - 1, s - 1)) keeps
    the first j steps within t - 1 repetitions (with s slots) and the last l - j within t
    (with s - 1), which by the convexity of T in l makes j + T(l - j, s - 1) + T(j, s) minimal.
    """
    t, beta = _repetitions(steps, slots)
    beta_fewer_slots = beta * slots // (slots + t)                  # C(s - 1 + t, s - 1)
    beta_t1 = beta * t // (slots + t)                               # C(s + t - 1, s)
    beta_t2 = beta_t1 * (t - 1) // (slots + t - 1) if t >= 2 else 0  # C(s + t - 2, s)
    return max(beta_t2 + 1, steps - beta_fewer_slots)


# ----------------------------------------------------------------------------- public API
def optimal_steps(n: int, s: int) -> int:
    """T(n, s): the step evaluations of the optimal schedule, taped ones included.

    Closed form, O(t) integer operations (t as in the module docstring), so fast for any n.

    >>> optimal_steps(10, 3), optimal_steps(10, 10), optimal_steps(10, 1)
    (25, 19, 55)
    """
    n = _integer("n", n, 0)
    s = _integer("s", s, 1)
    return _optimal_steps(n, s)


def binomial_schedule(n: int, s: int) -> Schedule:
    """The optimal (revolve) schedule reversing n steps with at most s states stored.

    `forward_steps` == `optimal_steps(n, s)`; for s >= n - 1 that is 2 n - 1, the same count
    as `store_all_schedule(n)` (the last state reversed, n - 1, need not be stored). The
    schedule is generated with an explicit stack (no recursion), in O(len) time.

    >>> [(a.kind, a.at) for a in binomial_schedule(2, 1)]
    [('store', 0), ('advance', 0), ('reverse', 1), ('restore', 0), ('reverse', 0),
     ('free', 0)]
    """
    n = _integer("n", n, 0)
    s = _integer("s", s, 1)
    if n == 0:
        return Schedule(0, s, (), 0, 0)
    # Hundreds of thousands of small acyclic objects: the cyclic collector would rescan the
    # growing list over and over (about half the time for n = 10**5), so it pauses meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        actions, evaluations, peak = _binomial_actions(n, min(s, n))
    finally:
        if collecting:
            gc.enable()
    return Schedule(n, s, actions, evaluations, peak)


def binomial_actions(n: int, s: int) -> Iterator[Action]:
    """The actions of `binomial_schedule(n, s)` one at a time, generated as they are
    taken (memory O(s), whatever n): what a loop's sweep executes.

    >>> [a.kind for a in binomial_actions(2, 1)]
    ['store', 'advance', 'reverse', 'restore', 'reverse', 'free']
    """
    n = _integer("n", n, 0)
    s = min(_integer("s", s, 1), max(n, 1))
    if n == 0:
        return
    # (no table of restore actions: one per state ever restored would grow with n)
    yield Action(STORE, 0)
    # Tasks: (a, l, k) reverses steps a .. a+l-1 with k slots, state a current and (if l > 1)
    # stored in one of them; (a, -1, b) frees state a if a >= 0, then makes stored b current.
    tasks: list[tuple[int, int, int]] = [(0, n, s)]
    while tasks:
        a, length, k = tasks.pop()
        if length < 0:                                  # back from the tail of a split
            if a >= 0:
                yield Action(FREE, a)
            yield Action(RESTORE, k)
        elif length == 1:
            yield Action(REVERSE, a)
        elif k == 1:                                    # one slot: from state a every time
            restore = Action(RESTORE, a)                # reused within this run only
            last = a + length - 1
            yield Action(ADVANCE, a, last)
            yield Action(REVERSE, last)
            for last in range(last - 1, a, -1):
                yield restore
                yield Action(ADVANCE, a, last)
                yield Action(REVERSE, last)
            yield restore
            yield Action(REVERSE, a)
        else:
            j = 1 if k >= length - 1 else _split(length, k)     # enough slots: store all
            middle = a + j
            yield Action(ADVANCE, a, middle)
            tasks.append((a, j, k))                     # last: the first j steps, k slots
            if length - j > 1:
                yield Action(STORE, middle)
                tasks.append((middle, -1, a))
                tasks.append((middle, length - j, k - 1))   # first: the tail, one slot fewer
            else:                                       # a one-step tail: reverse it at once
                yield Action(REVERSE, middle)
                tasks.append((-1, -1, a))
    yield Action(FREE, 0)


def _binomial_actions(n: int, s: int) -> tuple[tuple[Action, ...], int, int]:
    """The actions of `binomial_schedule(n, s)` (n >= 1, 1 <= s <= n), their step
    evaluations and the peak of states stored (counted from the actions themselves)."""
    actions = tuple(binomial_actions(n, s))
    evaluations = stored = peak = 0
    for action in actions:
        kind = action.kind
        if kind == ADVANCE:
            evaluations += action.to - action.at
        elif kind == REVERSE:
            evaluations += 1
        elif kind == STORE:
            stored += 1
            peak = max(peak, stored)
        elif kind == FREE:
            stored -= 1
    return actions, evaluations, peak


def store_all_schedule(n: int) -> Schedule:
    """Plain reverse mode as a schedule: store states 0..n-1, then reverse each step.

    n stores (slots = n) and n reverses. Counted as for the binomial schedule:
    n - 1 untaped single-step advances (0 -> 1 -> ... -> n-1, storing each state) plus n taped
    evaluations, so forward_steps = 2 n - 1 == optimal_steps(n, n) (not 2 n: the step from
    state n-1 runs only on the tape). Frees come right after each reverse.

    >>> [(a.kind, a.at) for a in store_all_schedule(2)]
    [('store', 0), ('advance', 0), ('store', 1), ('reverse', 1), ('free', 1), ('restore', 0),
     ('reverse', 0), ('free', 0)]
    """
    n = _integer("n", n, 0)
    if n == 0:
        return Schedule(0, 1, (), 0, 0)
    actions = [Action(STORE, 0)]
    for i in range(1, n):
        actions += (Action(ADVANCE, i - 1, i), Action(STORE, i))
    for i in range(n - 1, -1, -1):
        if i < n - 1:
            actions.append(Action(RESTORE, i))
        actions += (Action(REVERSE, i), Action(FREE, i))
    return Schedule(n, n, tuple(actions), 2 * n - 1, n)


def slots_for_budget(n: int, state_bytes: int, budget_bytes: int) -> int:
    """The most slots s with s * state_bytes <= budget_bytes, capped at n (and at least 1).

    Raises ValueError naming the budget and the state size if not even one state fits.

    >>> slots_for_budget(1000, 8_000, 100_000), slots_for_budget(5, 8, 10**9)
    (12, 5)
    """
    n = _integer("n", n, 0)
    state_bytes = _integer("state_bytes", state_bytes, 1)
    budget_bytes = _integer("budget_bytes", budget_bytes, 0)
    slots = budget_bytes // state_bytes
    if slots < 1:
        raise ValueError(f"a memory budget of {budget_bytes} bytes (budget_bytes) does not hold "
                         f"one state of {state_bytes} bytes (state_bytes)")
    return max(1, min(slots, n))


__all__ = ["Action", "Schedule", "binomial_schedule", "binomial_actions", "store_all_schedule",
           "optimal_steps", "slots_for_budget"]
