"""ad.numpy.linalg (ad/numpy/linalg.py): factorisations, solves, norms."""

import numpy as np

import ad.numpy as anp
from numpy_table import Table, big, distinct, flat, nz, pos, unit, v, wellcond  # noqa: F401

TABLE = Table()
row = TABLE.row


# ----------------------------------------------------------------------------- linalg
row("linalg.inv", [wellcond(3, 3)])
row("linalg.inv", [wellcond(2, 3, 3)])
row("linalg.solve", [wellcond(3, 3), v(3)])
row("linalg.solve", [wellcond(3, 3), v(3, 2)])
row("linalg.solve", [wellcond(2, 3, 3), v(2, 3, 1)])
row("linalg.det", [wellcond(3, 3)])
row("linalg.det", [wellcond(2, 2, 2)])
row("linalg.slogdet", [wellcond(3, 3) - 6 * np.eye(3)],
    np_fn=lambda a: np.linalg.slogdet(a)[1], fn=lambda a: anp.linalg.slogdet(a)[1],
    id="linalg.slogdet logabsdet")
row("linalg.slogdet", [wellcond(3, 3) - 6 * np.eye(3)],
    np_fn=lambda a: np.linalg.slogdet(a)[0] * a, fn=lambda a: anp.linalg.slogdet(a)[0] * a,
    id="linalg.slogdet sign")


def _spd(a):
    return a @ anp.swapaxes(a, -1, -2) + 3 * np.eye(np.shape(a)[-1])


def _spd_np(a):
    return a @ np.swapaxes(a, -1, -2) + 3 * np.eye(np.shape(a)[-1])


row("linalg.cholesky", [v(3, 3)], np_fn=lambda a: np.linalg.cholesky(_spd_np(a)),
    fn=lambda a: anp.linalg.cholesky(_spd(a)))
row("linalg.cholesky", [v(2, 2, 2)], np_fn=lambda a: np.linalg.cholesky(_spd_np(a)),
    fn=lambda a: anp.linalg.cholesky(_spd(a)))
row("linalg.eigvalsh", [v(3, 3)], np_fn=lambda a: np.linalg.eigvalsh(a + a.T),
    fn=lambda a: anp.linalg.eigvalsh(a + a.T))
row("linalg.eigh", [v(3, 3)], np_fn=lambda a: np.linalg.eigh(a + a.T)[1] ** 2,
    fn=lambda a: anp.linalg.eigh(a + a.T)[1] ** 2, id="linalg.eigh vectors")
row("linalg.eigh", [v(3, 3)],
    np_fn=lambda a: (lambda w, q: q * w @ q.T)(*np.linalg.eigh(a + a.T)),
    fn=lambda a: (lambda w, q: q * w @ q.T)(*anp.linalg.eigh(a + a.T)), id="linalg.eigh rebuild")
for _shape in [(3, 3), (4, 2), (2, 4), (2, 3, 2)]:
    row("linalg.svd", [v(*_shape)], compute_uv=False)
    row("linalg.svd", [v(*_shape)],
        np_fn=lambda a: (lambda u, s, vt: (u ** 2, s, vt ** 2))(
            *np.linalg.svd(a, full_matrices=False)),
        fn=lambda a: (lambda u, s, vt: (u ** 2, s, vt ** 2))(
            *anp.linalg.svd(a, full_matrices=False)), id="linalg.svd factors")
row("linalg.qr", [v(3, 3)], np_fn=lambda a: np.linalg.qr(a)[1], fn=lambda a: anp.linalg.qr(a)[1],
    id="linalg.qr R")
row("linalg.qr", [v(4, 2)], np_fn=lambda a: np.linalg.qr(a)[0], fn=lambda a: anp.linalg.qr(a)[0],
    id="linalg.qr Q")
row("linalg.qr", [v(3, 2)], mode="r")
row("linalg.pinv", [v(3, 2)])
row("linalg.pinv", [v(2, 4)])
row("linalg.pinv", [v(2, 3, 3)])
row("linalg.lstsq", [v(4, 2), v(4)], np_fn=lambda a, b: np.linalg.lstsq(a, b)[0],
    fn=lambda a, b: anp.linalg.lstsq(a, b)[0], id="linalg.lstsq x")
row("linalg.lstsq", [v(4, 2), v(4, 3)], np_fn=lambda a, b: np.linalg.lstsq(a, b)[1],
    fn=lambda a, b: anp.linalg.lstsq(a, b)[1], id="linalg.lstsq residuals")
for _n in [0, 1, 2, 5, -2]:
    row("linalg.matrix_power", [wellcond(3, 3)], n=_n)
row("linalg.multi_dot", [v(2, 3), v(3, 3), v(3)],
    np_fn=lambda a, b, c: np.linalg.multi_dot([a, b, c]),
    fn=lambda a, b, c: anp.linalg.multi_dot([a, b, c]))
row("linalg.cond", [wellcond(3, 3)])
row("linalg.cond", [wellcond(3, 3)], p="fro")
for _ord in [None, 1, 2, np.inf, -np.inf, 3, 0.5]:
    row("linalg.norm", [nz(4)], ord=_ord)
row("linalg.norm", [v(2, 3)])
row("linalg.norm", [v(2, 3)], axis=1)
row("linalg.norm", [v(2, 3)], axis=0, keepdims=True)
row("linalg.norm", [v(2, 3, 2)], keepdims=True)
for _ord in ["fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]:
    row("linalg.norm", [distinct(3, 3)], ord=_ord)
row("linalg.norm", [distinct(2, 3, 4)], ord="fro", axis=(2, 0), keepdims=True)
row("linalg.norm", [distinct(2, 3, 4)], ord=2, axis=(1, 2))



row("linalg.eigvalsh", [wellcond(3, 3)], id="eigvalsh UPLO=U", UPLO="U")
row("linalg.eigh", [wellcond(3, 3)], id="eigh UPLO=U vectors",
    np_fn=lambda a: np.abs(np.linalg.eigh(a, UPLO="U")[1]),
    fn=lambda a: anp.abs(anp.linalg.eigh(a, UPLO="U")[1]))

test_value_matches_numpy, test_derivatives_second_order, test_numpy_dispatch_same_derivative = \
    TABLE.tests()

