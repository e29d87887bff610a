"""ad.numpy products: dot, tensordot, einsum, kron, cross... (ad/numpy/_products.py)."""

import numpy as np
import pytest

import ad
import ad.numpy as anp
from numpy_table import Table, big, distinct, flat, nz, pos, unit, v, wellcond  # noqa: F401

TABLE = Table()
row = TABLE.row


# ----------------------------------------------------------------------------- products
for _a, _b in [((), (3,)), ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)),
               ((2, 2, 3), (4, 3, 2))]:
    row("dot", [v(*_a), v(*_b)])
for _a, _b in [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)),
               ((2, 2, 3), (3, 2)), ((2, 1, 2, 3), (3, 3, 2))]:
    row("matmul", [v(*_a), v(*_b)])
row("matmul", [v(2, 3), v(3, 2)], np_fn=lambda a, b: a @ b, fn=lambda a, b: a @ b, id="op @")
row("tensordot", [v(2, 3, 4), v(3, 4, 2)])
row("tensordot", [v(2, 3, 4), v(4, 3)], axes=([1, 2], [1, 0]))
row("tensordot", [v(2, 3), v(3, 2)], axes=1)
row("outer", [v(3), v(2, 2)])
row("inner", [v(2, 3), v(4, 3)])
row("inner", [v(3), v(3)])
row("vdot", [v(2, 3), v(2, 3)])
row("kron", [v(2, 3), v(2, 2)])
row("kron", [v(3), v(2, 2)])
row("cross", [v(3), v(3)])
row("cross", [v(4, 3), v(3)])
row("cross", [v(3, 2), v(3, 2)], axis=0)
for _spec, _shapes in [("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]),
                       ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("ij->", [(2, 3)]),
                       ("ij->ji", [(2, 3)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
                       ("...ij,...jk->...ik", [(2, 2, 3), (3, 2)]), ("i,i->", [(3,), (3,)]),
                       ("i,j->ij", [(3,), (2,)]), ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
                       ("ijk,kj->i", [(2, 3, 4), (4, 3)]), ("ab,cd->", [(2, 2), (2, 3)]),
                       ("i...->...", [(3, 2)])]:
    row("einsum", [v(*s) for s in _shapes],
        np_fn=lambda *xs, _s=_spec: np.einsum(_s, *xs),
        fn=lambda *xs, _s=_spec: anp.einsum(_s, *xs), id=f"einsum {_spec}")



_B = v(3, 2)
row("einsum", [v(2, 3)], id="einsum sublist", np_fn=lambda a: np.einsum(a, [0, 1], _B, [1, 2],
                                                                     [0, 2]),
    fn=lambda a: anp.einsum(a, [0, 1], _B, [1, 2], [0, 2]))
row("einsum", [v(3, 3)], id="einsum sublist implicit", np_fn=lambda a: np.einsum(a, [0, 0]),
    fn=lambda a: anp.einsum(a, [0, 0]))

test_value_matches_numpy, test_derivatives_second_order, test_numpy_dispatch_same_derivative = \
    TABLE.tests()



def test_vdot_conjugates_its_first_argument():
    a, b = np.array([1 + 2j, 0.5 - 1j]), np.array([0.3 - 1j, 2 + 1j])
    assert complex(anp.vdot(a, b)) == pytest.approx(complex(np.vdot(a, b)))
    x = np.array([0.7, -1.2])
    g = ad.grad(lambda x: anp.abs(anp.vdot(a * x, b)) ** 2)(x)
    fd = [(abs(np.vdot(a * (x + e), b)) ** 2 - abs(np.vdot(a * (x - e), b)) ** 2) / 2e-6
          for e in np.eye(2) * 1e-6]
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_einsum_honours_dtype_and_casting():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    f = lambda x: np.einsum("ij,ij->i", x, x, dtype=np.float32, casting="unsafe")  # noqa: E731
    assert ad.jvp(f, (x,), (x,))[0].dtype == f(x).dtype == np.float32
    with pytest.raises(TypeError, match="cannot cast"):     # the default casting is 'safe'
        ad.jvp(lambda x: np.einsum("ij,ij->i", x, x, dtype=np.float32), (x,), (x,))


@pytest.mark.parametrize("f", [
    lambda x: np.einsum("ij,ij->j", x[:0], x[:0]), lambda x: np.einsum("ij,jk->ik", x[:0].T, x[:0]),
    lambda x: x[:0].T @ x[:0], lambda x: x[:, :0] @ np.ones((0, 4)),
    lambda x: np.ones((0, 2)) @ x,
])
def test_products_over_an_empty_dimension(f):
    # a size-0 subscript is not a size-1 one; matmul's folding of a stack needs a size
    x = np.ones((2, 3))
    want = f(x)
    assert ad.jvp(f, (x,), (x,))[0].shape == want.shape
    assert ad.jacfwd(f)(x).shape == ad.jacrev(f)(x).shape == want.shape + x.shape


def test_einsum_output_subscripts_are_checked_as_numpy_checks_them():
    # 'ij->k' raised "substring not found" from inside, 'i->ii' a transpose's error
    for spec, a in (("ij->k", np.ones((2, 2))), ("i->ii", np.ones(2))):
        with pytest.raises(ValueError, match="output subscript"):
            ad.grad(lambda a: anp.sum(anp.einsum(spec, a)))(a)
