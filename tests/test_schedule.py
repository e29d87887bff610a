"""ad.schedule: binomial checkpointing schedules against the recurrence and an executor.

The truth is the dynamic programme of the cost model (computed here, independently of the
module's closed form); every schedule is also *run* by a strict simulator on integer states.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ad.schedule import (Action, Schedule, _split, binomial_schedule, optimal_steps,
                         slots_for_budget, store_all_schedule)

DP_STEPS, DP_SLOTS = 1000, 12          # the required figures need n = 1000
SQUARE = 200                            # and every 1 <= s < n <= 200


def dp_table(steps: int, slots: int) -> np.ndarray:
    """T[l, s] for 0 <= l <= steps, 1 <= s <= slots, by the recurrence (min over j vectorised).

    T(0, s) = 0, T(1, s) = 1, T(l, 1) = l (l + 1) / 2,
    T(l, s) = min over 1 <= j < l of j + T(l - j, s - 1) + T(j, s).
    """
    table = np.zeros((steps + 1, slots + 1), dtype=np.int64)
    lengths = np.arange(steps + 1)
    table[:, 1] = lengths * (lengths + 1) // 2
    for s in range(2, slots + 1):
        table[1, s] = 1
        for length in range(2, steps + 1):
            j = np.arange(1, length)
            table[length, s] = np.min(j + table[length - j, s - 1] + table[j, s])
    return table


@functools.lru_cache(maxsize=None)
def dp_tables() -> tuple[np.ndarray, np.ndarray]:
    return dp_table(DP_STEPS, DP_SLOTS), dp_table(SQUARE, SQUARE)


def dp(n: int, s: int) -> int:
    """T(n, s) by the recurrence, for n <= 1000 and s <= 12 or n, s <= 200."""
    long, square = dp_tables()
    if n <= DP_STEPS and s <= DP_SLOTS:
        return int(long[n, s])
    return int(square[n, s])


def simulate(schedule: Schedule, n: int, s: int) -> int:
    """Execute `schedule` on states that are integers (step(i) = i + 1), checking every
    documented invariant; return the number of step evaluations."""
    evaluations = 0

    def step(state: int) -> int:
        nonlocal evaluations
        evaluations += 1
        return state + 1

    current: int | None = 0
    stored: dict[int, int] = {}
    peak = 0
    expected = n - 1                                 # the next step to reverse
    actions = list(schedule)
    assert len(actions) == len(schedule)
    if n:
        assert actions[0] == Action("store", 0)
    for index, action in enumerate(actions):
        where = f"action {index} {action}"
        assert action.kind in {"advance", "store", "restore", "reverse", "free"}, where
        if action.kind == "advance":
            assert current == action.at, where
            assert action.to is not None and action.at < action.to <= n, where
            for _ in range(action.to - action.at):
                current = step(current)
            assert current == action.to, where
            continue
        assert action.to is None, where
        if action.kind == "store":
            assert current == action.at and action.at not in stored, where
            stored[action.at] = current
            peak = max(peak, len(stored))
            assert len(stored) <= s, where
        elif action.kind == "restore":
            assert action.at in stored, where
            current = stored[action.at]
            assert current == action.at, where
        elif action.kind == "free":
            assert action.at in stored, where
            del stored[action.at]
        else:                                        # reverse
            assert action.at == expected, where
            assert current == action.at, where
            assert step(current) == action.at + 1, where      # the taped evaluation
            expected -= 1
            current = None                           # spent: a restore must come next
    assert expected == -1, "not every step was reversed"
    assert not stored, f"still stored at the end: {sorted(stored)}"
    assert evaluations == schedule.forward_steps
    assert peak == schedule.max_stored <= s
    return evaluations


# ----------------------------------------------------------------------------- the figures
def test_required_figures():
    assert dp(1000, 10) == optimal_steps(1000, 10) == 4636
    assert dp(1000, 2) == optimal_steps(1000, 2) == 29820
    assert dp(1000, 1) == optimal_steps(1000, 1) == 500500
    for s, figure in [(10, 4636), (2, 29820), (1, 500500)]:
        schedule = binomial_schedule(1000, s)
        assert simulate(schedule, 1000, s) == figure
    assert "4636" in binomial_schedule(1000, 10).summary()
    assert "4.64 n" in binomial_schedule(1000, 10).summary()


def test_one_slot_is_triangular():
    for n in [0, 1, 2, 3, 17, 1000, 123_457]:
        assert optimal_steps(n, 1) == n * (n + 1) // 2
    for n in range(0, 60):
        assert binomial_schedule(n, 1).forward_steps == n * (n + 1) // 2 == dp(n, 1)


def test_enough_slots_store_all():
    for n in range(1, 40):
        for s in range(n - 1 if n > 1 else 1, n + 3):
            assert optimal_steps(n, s) == 2 * n - 1
            assert dp(n, s) == 2 * n - 1
            schedule = binomial_schedule(n, s)
            assert simulate(schedule, n, s) == 2 * n - 1
            assert schedule.max_stored == max(n - 1, 1)      # state n-1 is only taped
        everything = store_all_schedule(n)
        assert simulate(everything, n, n) == 2 * n - 1 == optimal_steps(n, n)
        assert everything.max_stored == everything.slots == n
        assert sum(a.kind == "store" for a in everything) == n
    assert optimal_steps(10**6, 10**7) == 2 * 10**6 - 1


def test_closed_form_agrees_with_dp():
    for table in dp_tables():
        steps, slots = table.shape[0] - 1, table.shape[1] - 1
        for s in range(1, slots + 1):
            for n in range(steps + 1):
                assert optimal_steps(n, s) == table[n, s], (n, s)


def test_every_split_is_optimal():
    """The generator's only choice: its first advance j attains the recurrence's minimum for
    every (l, s) up to the DP's reach. With the simulated schedules below this covers every
    schedule with n <= 200 (each split of one is a split tested here)."""
    for table in dp_tables():
        steps, slots = table.shape[0] - 1, table.shape[1] - 1
        for s in range(2, slots + 1):
            for length in range(2, steps + 1):
                j = 1 if s >= length - 1 else _split(length, s)
                assert 1 <= j < length, (length, s, j)
                cost = j + table[length - j, s - 1] + table[j, s]
                assert cost == table[length, s], (length, s, j)


# ----------------------------------------------------------------------------- schedules
def grid() -> list[tuple[int, int]]:
    """Every 1 <= s < n for n <= 60; for 60 < n <= 200 small s, a spread of s and the top."""
    cases = [(n, s) for n in range(2, 61) for s in range(1, n)]
    for n in range(61, SQUARE + 1):
        spread = {1, 2, 3, 4, 5, 6, 8, 12, 20, n // 3, n // 2, n - 2, n - 1, 7 + n % 41}
        cases += [(n, s) for s in sorted(spread) if 1 <= s < n]
    return cases


def test_schedules_are_optimal_and_valid_on_a_grid():
    for n, s in grid():
        schedule = binomial_schedule(n, s)
        assert (schedule.n, schedule.slots) == (n, s)
        assert simulate(schedule, n, s) == dp(n, s), (n, s)


@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))))
def test_schedules_are_optimal_and_valid_sampled(case):
    n, s = case
    schedule = binomial_schedule(n, s)
    assert simulate(schedule, n, s) == dp(n, s) == optimal_steps(n, s)


def test_larger_schedules_match_optimal_steps():
    for n, s in [(1000, 3), (2500, 5), (5000, 20), (3000, 64), (777, 777)]:
        schedule = binomial_schedule(n, s)
        assert simulate(schedule, n, s) == optimal_steps(n, s)
    optimal_steps(10**5, 20)                         # fast: closed form
    assert optimal_steps(10**6, 50) > 10**6


def test_empty_and_single():
    empty = binomial_schedule(0, 3)
    assert (len(empty), empty.forward_steps, empty.max_stored, list(empty)) == (0, 0, 0, [])
    assert optimal_steps(0, 1) == 0 and store_all_schedule(0).forward_steps == 0
    assert "n=0" in empty.summary()
    one = binomial_schedule(1, 1)
    assert list(one) == [Action("store", 0), Action("reverse", 0), Action("free", 0)]
    assert simulate(one, 1, 1) == 1


def test_simulator_catches_broken_schedules():
    good = binomial_schedule(6, 2)
    actions = list(good)

    def broken(new_actions, **changes):
        fields = dict(n=6, slots=2, actions=tuple(new_actions), forward_steps=good.forward_steps,
                      max_stored=good.max_stored)
        fields.update(changes)
        return Schedule(**fields)

    reverse_at = next(i for i, a in enumerate(actions) if a.kind == "reverse")
    free_at = next(i for i, a in enumerate(actions) if a.kind == "free")
    cases = [
        broken(actions[:-1]),                                            # 0 never freed
        broken(actions[:reverse_at] + actions[reverse_at + 1:]),         # a reverse missing
        broken(actions, forward_steps=good.forward_steps + 1),           # miscounted
        broken(actions[:free_at] + actions[free_at + 1:]),               # a free missing
        broken([Action("advance", 0, 1)] + actions),                     # no store(0) first
    ]
    for case in cases:
        with pytest.raises(AssertionError):
            simulate(case, 6, 2)
    with pytest.raises(AssertionError):
        simulate(good, 6, 1)                                             # too many slots


# ----------------------------------------------------------------------------- budgets, errors
def test_slots_for_budget():
    assert slots_for_budget(1000, 8_000, 100_000) == 12
    assert slots_for_budget(1000, 8, 8) == 1
    assert slots_for_budget(10, 8, 10**9) == 10
    assert slots_for_budget(0, 8, 100) == 1
    with pytest.raises(ValueError, match=r"budget.*\b7\b.*\b8\b"):
        slots_for_budget(10, 8, 7)


@pytest.mark.parametrize("call, error, words", [
    (lambda: binomial_schedule(-1, 2), ValueError, ["n", "-1"]),
    (lambda: binomial_schedule(5, 0), ValueError, ["s", "0"]),
    (lambda: binomial_schedule(5.0, 2), TypeError, ["n", "5.0"]),
    (lambda: binomial_schedule(5, "3"), TypeError, ["s", "'3'"]),
    (lambda: binomial_schedule(True, 2), TypeError, ["n", "True"]),
    (lambda: optimal_steps(-3, 2), ValueError, ["n", "-3"]),
    (lambda: optimal_steps(3, -2), ValueError, ["s", "-2"]),
    (lambda: optimal_steps(3, 2.5), TypeError, ["s", "2.5"]),
    (lambda: store_all_schedule(-2), ValueError, ["n", "-2"]),
    (lambda: slots_for_budget(4, 0, 10), ValueError, ["state_bytes", "0"]),
    (lambda: slots_for_budget(4, 8, -1), ValueError, ["budget_bytes", "-1"]),
    (lambda: slots_for_budget(4.5, 8, 100), TypeError, ["n", "4.5"]),
])
def test_bad_arguments_are_named(call, error, words):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value)


def test_numpy_integers_accepted():
    schedule = binomial_schedule(np.int64(50), np.int32(4))
    assert simulate(schedule, 50, 4) == optimal_steps(50, 4) == dp(50, 4)
