"""Levels (ad/context.py): ordering by a global counter, closing, and thread ownership."""
import threading

import pytest

import ad
import ad.numpy as anp
from ad.context import Level, entered
from ad.errors import LevelError
from ad.reverse import ReverseLevel


def test_levels_are_ordered_by_creation():
    a, b, c = Level(), Level(), Level()
    assert a.order < b.order < c.order


def test_a_level_is_active_until_its_transform_returns():
    level = ReverseLevel()
    with entered(level):
        x = level.new_input(1.0)
        assert level.active
        anp.sin(x)                      # usable inside
    assert not level.active
    with pytest.raises(LevelError, match="finished reverse transform"):
        anp.sin(x)


def test_closing_happens_even_when_the_function_raises():
    level = ReverseLevel()
    with pytest.raises(ZeroDivisionError):
        with entered(level):
            1 / 0
    assert not level.active


def test_values_of_a_level_are_refused_on_another_thread():
    level = ReverseLevel()
    errors = []
    with entered(level):
        x = level.new_input(1.0)

        def use():
            try:
                anp.sin(x)
            except LevelError as error:
                errors.append(str(error))
        worker = threading.Thread(target=use)
        worker.start()
        worker.join()
    assert errors and "another thread" in errors[0]


def test_inner_levels_win_whatever_the_mode():
    """The innermost (latest) level processes first: d/dx [x * d/dy (x * y)] = 2x."""
    def inner(x):
        return x * ad.grad(lambda y: x * y)(1.0)
    assert float(ad.grad(inner)(3.0)) == 6.0
    assert float(ad.jvp(inner, (3.0,), (1.0,))[1]) == 6.0


def test_hand_made_duals_work_on_any_thread():
    results = []
    worker = threading.Thread(target=lambda: results.append(ad.Dual(2.0, 1.0) ** 3))
    worker.start()
    worker.join()
    assert float(results[0].tangent) == 12.0
