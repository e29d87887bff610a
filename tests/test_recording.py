"""Running a function on a tape (ad/recording.py): argument checks, inputs and outputs, and
pulling and pushing through one recording."""
import numpy as np
import pytest

import ad.numpy as anp
from ad.errors import DTypeError
from ad.recording import Recording, normalize_argnums


def _f(x, y, scale=1.0):
    return {"out": anp.sin(x) * y * scale, "const": np.ones(2)}


def test_inputs_outputs_and_constant_outputs():
    r = Recording(_f, (np.array([0.1, 0.2]), 3.0), {"scale": 2.0}, (0, 1), False, "test")
    assert r.in_ids == [0, 1]
    assert r.out_ids[0] is None and r.out_ids[1] is not None     # const (sorted first), out
    np.testing.assert_allclose(r.output()["out"], np.sin([0.1, 0.2]) * 6.0)
    np.testing.assert_array_equal(r.output()["const"], np.ones(2))


def test_pull_and_push_through_one_recording():
    x, y = np.array([0.1, 0.2]), np.float64(3.0)
    r = Recording(_f, (x, y), {}, (0, 1), False, "test")
    gx, gy = r.pull([np.zeros(2), np.ones(2)])
    np.testing.assert_allclose(gx, np.cos(x) * 3.0)
    np.testing.assert_allclose(gy, np.sum(np.sin(x)))
    tangents = r.push([np.array([1.0, 0.0]), np.float64(0.0)])
    assert tangents[0] is None
    np.testing.assert_allclose(tangents[1], [np.cos(0.1) * 3.0, 0.0])
    # a batch of cotangents: two rows at once
    rows = r.pull([np.zeros((2, 2)), np.eye(2)], batch=(2,))
    np.testing.assert_allclose(rows[0], np.diag(np.cos(x) * 3.0))


def test_unreached_inputs_get_zero_cotangents_of_their_dtype():
    r = Recording(lambda x, y: anp.sin(x), (np.ones(2, np.float32), np.ones(3)), {}, (0, 1),
                  False, "test")
    _, gy = r.pull([np.ones(2, np.float32)])
    assert gy.dtype == np.float64 and not gy.any()


def test_argument_checks_name_the_argument():
    with pytest.raises(DTypeError, match=r"test\(_f\): argument 1 .*int64"):
        Recording(_f, (1.0, np.arange(2)), {}, (0, 1), False, "test")
    with pytest.raises(ValueError, match="out of range"):
        normalize_argnums(3, 2, "test", _f)
    with pytest.raises(ValueError, match="duplicates"):
        normalize_argnums((0, -2), 2, "test", _f)
    assert normalize_argnums(-1, 2, "test", _f) == (1,)
