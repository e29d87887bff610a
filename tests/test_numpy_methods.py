"""ndarray methods on traced values (Tracer methods, dispatching to ad.numpy)."""

import numpy as np
import pytest

import ad
from numpy_table import Table, big, distinct, flat, nz, pos, unit, v, wellcond  # noqa: F401

TABLE = Table()
row = TABLE.row


# ----------------------------------------------------------------------------- array methods
METHODS = {
    "x.sum(axis=0)": lambda x: x.sum(axis=0), "x.mean()": lambda x: x.mean(),
    "x.prod(1)": lambda x: x.prod(1), "x.max()": lambda x: x.max(),
    "x.min(axis=1)": lambda x: x.min(axis=1), "x.var()": lambda x: x.var(),
    "x.std(0)": lambda x: x.std(0), "x.cumsum(0)": lambda x: x.cumsum(0),
    "x.cumprod()": lambda x: x.cumprod(), "x.reshape(3, 2)": lambda x: x.reshape(3, 2),
    "x.reshape((-1,))": lambda x: x.reshape((-1,)), "x.T": lambda x: x.T,
    "x.transpose(1, 0)": lambda x: x.transpose(1, 0), "x.ravel()": lambda x: x.ravel(),
    "x.flatten()": lambda x: x.flatten(), "x.dot(x.T)": lambda x: x.dot(x.T),
    "x.clip(-0.5, 0.5)": lambda x: x.clip(-0.5, 0.5), "x.trace()": lambda x: x.trace(),
    "x.diagonal()": lambda x: x.diagonal(), "x.repeat(2)": lambda x: x.repeat(2),
    "x.swapaxes(0, 1)": lambda x: x.swapaxes(0, 1),
    "x[None].squeeze()": lambda x: x[None].squeeze(), "x.copy()": lambda x: x.copy(),
    "iterate": lambda x: [row_ * (i + 1) for i, row_ in enumerate(x)],
    "x * len(x)": lambda x: x * len(x),
    "x.astype(float64)": lambda x: x.astype(np.float64),
}
for _name, _fn in METHODS.items():
    row("method", [distinct(2, 3)], np_fn=_fn, fn=_fn, id="method " + _name)




test_value_matches_numpy, test_derivatives_second_order, test_numpy_dispatch_same_derivative = \
    TABLE.tests()



@pytest.mark.parametrize("name, f", [
    ("take", lambda x: x.take([0, 2])), ("all", lambda x: x * x.all()),
    ("any", lambda x: x * x.any(axis=0)), ("mT", lambda x: x.mT),
    ("flatten F", lambda x: x.flatten("F")), ("reshape np.int64", lambda x: x.reshape(np.int64(6))),
    ("divmod", lambda x: divmod(x, 0.7)[1]), ("rdivmod", lambda x: divmod(3.0, x + 5.0)[1]),
    ("svdvals", lambda x: np.linalg.svdvals(x)), ("np.astype", lambda x: np.astype(x, np.float32)),
    ("tensordot np.int64", lambda x: np.tensordot(x, x.T, axes=np.int64(1))),
])
def test_more_numpy_spellings_reach_the_catalogue(name, f):
    x = np.arange(1.0, 7.0).reshape(2, 3) + 0.25
    value, _ = ad.jvp(f, (x,), (np.ones_like(x),))
    assert value.dtype == f(x).dtype
    np.testing.assert_allclose(value, f(x), rtol=1e-14)
    np.testing.assert_allclose(ad.jacfwd(f)(x), ad.jacrev(f)(x), rtol=1e-10, atol=1e-12)
