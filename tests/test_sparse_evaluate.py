"""Sparse Jacobians and Hessians (ad/sparse/evaluate.py): every strategy's decompressed
result equals the dense one, the prepared pattern is reused per signature (a local one is
re-detected when x changes), the cost model's choice follows the colour counts, and the
report shows every candidate."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ad
import ad.numpy as anp
from ad.sparse import SparsityError
from benchmarks.auto_suite import brusselator, tridiagonal

sparse = pytest.importorskip("scipy.sparse")

MODES = ["auto", "forward", "reverse", "bidirectional"]


def arrowhead(x):
    return anp.concatenate([anp.sum(x ** 2)[None], x[1:] ** 3 + x[0]])


def dense_row(x):
    return anp.concatenate([anp.sum(anp.sin(x))[None], x[1:] ** 2])


PROGRAMS = {
    "brusselator": brusselator(6),
    "tridiagonal": tridiagonal(40),
    "arrowhead": (arrowhead, np.linspace(0.5, 1.5, 300)),
    "dense row": (dense_row, np.linspace(0.5, 1.5, 300)),
    "wide": (lambda x: anp.tanh(x[:10] * x[10:20]) + x[20:], np.linspace(-1, 1, 30)),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_strategy_equals_the_dense_jacobian(name, mode):
    f, x = PROGRAMS[name]
    jac = ad.jacobian(f, sparse=True, mode=mode)
    got = jac(x)
    assert isinstance(got, sparse.csr_array)
    np.testing.assert_allclose(got.toarray(), ad.jacfwd(f)(x), rtol=1e-12, atol=1e-12)
    assert got.has_sorted_indices


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2 ** 16), n=st.integers(2, 12), density=st.floats(0.05, 0.6))
def test_random_sparse_maps_in_every_mode(seed, n, density):
    rng = np.random.default_rng(seed)
    mask = rng.random((n + 1, n)) < density
    weights = rng.standard_normal((n + 1, n)) * mask

    def f(x):
        return anp.tanh(weights @ anp.sin(x)) + anp.sum(x[:1]) * 0.0 + weights[:, 0] * x[0]
    x = rng.uniform(-1, 1, n)
    want = ad.jacfwd(f)(x)
    for mode in MODES:
        np.testing.assert_allclose(ad.jacobian(f, sparse=True, mode=mode)(x).toarray(), want,
                                   rtol=1e-12, atol=1e-12)


def test_the_cost_model_picks_the_colouring_with_fewer_passes():
    f, x = PROGRAMS["arrowhead"]
    jac = ad.jacobian(f, sparse=True)
    jac(x)
    assert jac.report.choice == "bicoloured"
    bi = jac.report.candidate("bicoloured")
    assert bi.forward + bi.reverse <= 3
    f, x = PROGRAMS["dense row"]
    jac = ad.jacobian(f, sparse=True)
    jac(x)
    assert jac.report.colorings["column-coloured forward"] == 300
    assert jac.report.choice in ("row-coloured reverse", "bicoloured")
    f, x = brusselator(16)
    jac = ad.jacobian(f, sparse=True)
    jac(x)
    assert jac.report.choice in ("column-coloured forward", "row-coloured reverse")


def test_the_report_lists_every_candidate_and_the_choice():
    f, x = PROGRAMS["brusselator"]
    jac = ad.jacobian(f, sparse=True)
    jac(x)
    jac(x)
    report = jac.report
    assert [c.strategy for c in report.candidates][:4] == [
        "dense forward", "dense reverse", "column-coloured forward", "row-coloured reverse"]
    assert min(report.candidates, key=lambda c: c.seconds).strategy == report.choice
    assert len(report.measured[report.choice]) == 2
    text = str(report)
    assert "<- chosen" in text and "nonzeros" in text and "detection" in text


def test_the_pattern_is_detected_once_per_signature():
    f, x = PROGRAMS["tridiagonal"]
    jac = ad.jacobian(f, sparse=True)
    first = (jac(x), jac.report)
    second = (jac(x + 1.0), jac.report)
    assert first[1] is second[1]
    np.testing.assert_allclose(second[0].toarray(), ad.jacfwd(f)(x + 1.0), rtol=1e-12)
    jac(np.ones(12))                                   # another shape: prepared anew
    assert jac.report is not first[1] and jac.report.n == 12


def branchy(x):
    if x[0] > 0:
        return x[1:] * x[1:]
    return x[:-1] * x[1:]


def test_a_global_jacobian_refuses_a_branch_and_a_local_one_follows_it():
    with pytest.raises(SparsityError, match="sparse='local'"):
        ad.jacobian(branchy, sparse=True)(np.array([1.0, 2.0, 3.0]))
    jac = ad.jacobian(branchy, sparse="local")
    for x in (np.array([1.0, 2.0, 3.0]), np.array([-1.0, 2.0, 3.0])):
        got = jac(x)
        np.testing.assert_allclose(got.toarray(), ad.jacfwd(branchy)(x), rtol=1e-12)
    assert jac.report.nnz == 4                        # re-detected at the second x


def test_an_output_shape_that_follows_the_values_is_detected_again():
    # x[x > 0]: the global pattern holds for each shape it was detected at; at inputs
    # with another output shape it is detected again (before: the 3 x 4 Jacobian was
    # returned for a 4-element output)
    f = lambda x: 2.0 * x[x > 0]                         # noqa: E731
    jac = ad.jacobian(f, sparse=True, dense_output=True)
    for x in (np.array([1.0, -1.0, 2.0, 3.0]), np.array([1.0, 2.0, 2.0, 3.0]),
              np.array([-1.0, -2.0, 2.0, 3.0])):
        np.testing.assert_array_equal(jac(x), ad.jacfwd(f)(x))


def test_any_on_a_comparison_is_a_branch_too():
    def f(x):
        while (x > 10).any():
            x = x / 2
        return x * 2.0
    with pytest.raises(SparsityError, match="branches"):
        ad.sparsity(f, np.array([20.0, 1.0]))
    assert ad.sparsity(f, np.array([20.0, 1.0]), local=True).nnz == 2


def test_pytrees_in_and_out_with_dense_output():
    def f(p):
        return {"u": p["a"] * p["b"][:2], "v": anp.sum(p["b"])}
    p = {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0, 5.0])}
    got = ad.jacobian(f, sparse=True, dense_output=True)(p)
    want = ad.jacobian(f)(p)
    for out in ("u", "v"):
        for leaf in ("a", "b"):
            np.testing.assert_allclose(got[out][leaf], want[out][leaf], rtol=1e-12)
            assert np.shape(got[out][leaf]) == np.shape(want[out][leaf])
    flat = ad.jacobian(f, sparse=True)(p)
    assert flat.shape == (3, 5)


def test_argnums_and_static_arguments():
    def f(x, y, scale):
        return anp.sin(x * y) * scale
    x, y = np.linspace(0, 1, 4), np.linspace(1, 2, 4)
    got = ad.jacobian(f, argnums=(0, 1), sparse=True)(x, y, 3.0)
    assert got.shape == (4, 8) and got.nnz == 8
    want = np.concatenate(ad.jacfwd(f, argnums=(0, 1))(x, y, 3.0), axis=1)
    np.testing.assert_allclose(got.toarray(), want, rtol=1e-12)


def rosenbrock(x):
    return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def grid_energy(u):
    g = anp.reshape(u, (8, 8))
    return (anp.sum((g[1:] - g[:-1]) ** 4) + anp.sum((g[:, 1:] - g[:, :-1]) ** 4)) / 4 \
        + anp.sum(anp.cos(u))


@pytest.mark.parametrize("f,n,colours", [(rosenbrock, 50, 3), (grid_energy, 64, 5)],
                         ids=["rosenbrock", "grid energy"])
def test_sparse_hessians_equal_the_dense_ones(f, n, colours):
    x = np.random.default_rng(1).uniform(0.3, 1.2, n)
    hess = ad.hessian(f, sparse=True)
    got = hess(x)
    np.testing.assert_allclose(got.toarray(), ad.hessian(f)(x), rtol=1e-12, atol=1e-10)
    assert hess.report.choice == "star-coloured"
    assert hess.report.colorings["star-coloured"] <= colours
    dense = ad.hessian(f, sparse=True, dense_output=True)(x)
    np.testing.assert_allclose(dense, ad.hessian(f)(x), rtol=1e-12, atol=1e-10)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="sparse must be"):
        ad.jacobian(anp.sin, sparse="banana")
    with pytest.raises(ValueError, match="mode must be"):
        ad.jacobian(anp.sin, sparse=True, mode="optimal")
    with pytest.raises(SparsityError, match="scalar"):
        ad.hessian(anp.sin, sparse=True)(np.ones(3))


def test_a_sparse_jacobian_inside_another_transform_is_named():
    # the error blamed an np.asarray the program never wrote
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="sparse=True.*inside another transform"):
        ad.grad(lambda a: anp.sum(ad.jacobian(lambda y: y ** 3, sparse=True,
                                              dense_output=True)(a)))(x)
    with pytest.raises(TypeError, match="sparse=True.*inside another transform"):
        ad.grad(lambda a: anp.sum(ad.hessian(lambda y: anp.sum(y ** 3 * a), sparse=True,
                                             dense_output=True)(x)))(x)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        ad.jacobian(lambda y: y ** 3, sparse=True, chunk_size=2.5)


# ----------------------------------------------------------------------------- signatures
def test_a_pattern_is_keyed_by_the_arguments_trees():
    def f(d):
        if "b" in d:
            return d["a"] * 2.0 + 0.0 * d["b"]
        return anp.roll(d["a"], 1) * 3.0 + 0.0 * d["c"]
    jac = ad.jacobian(f, sparse=True)
    jac({"a": np.ones(3), "b": np.ones(3)})
    other = {"a": np.ones(3), "c": np.ones(3)}      # the same shapes, another tree
    got = jac(other).toarray()
    np.testing.assert_array_equal(got, np.hstack(list(ad.jacfwd(f)(other).values())))
    hess = ad.hessian(lambda d: anp.sum(d["a"] ** 3) if "b" in d else
                      anp.sum(d["a"] * anp.roll(d["a"], 1)) + 0.0 * anp.sum(d["c"]),
                      sparse=True, dense_output=True)
    hess({"a": np.ones(3), "b": np.ones(3)})
    np.testing.assert_array_equal(hess(other)["a"]["a"], np.ones((3, 3)) - np.eye(3))


def test_f_changed_behind_the_signature_is_a_named_error():
    class Config:
        keep = 3
    jac = ad.jacobian(lambda x: x[:Config.keep] * 2.0, sparse=True)
    jac(np.ones(4))
    Config.keep = 2                                  # a global the signature cannot see
    with pytest.raises(SparsityError, match="changed f"):
        jac(np.ones(4))


def test_value_dependent_programs_may_use_traced_only_methods():
    def f(x):
        return x.at[np.array([1])].set(x[anp.argmax(x)]) * x
    x = np.linspace(0.2, 1.0, 4)
    for sparse_kind in (True, "local"):
        jac = ad.jacobian(f, sparse=sparse_kind)
        jac(x)
        for y in (x[::-1].copy(), x + 1.0):
            np.testing.assert_allclose(jac(y).toarray(), ad.jacfwd(f)(y), rtol=1e-14)


def test_what_a_sparse_jacobian_cannot_do_is_refused_by_name():
    with pytest.raises(ValueError, match="drop compile=True"):
        ad.jacobian(anp.sin, sparse=True, compile=True)
    with pytest.raises(ValueError, match="drop holomorphic=True"):
        ad.jacobian(anp.sin, sparse=True, holomorphic=True)
    with pytest.raises(ad.DTypeError, match="output leaf 0 has dtype bool"):
        ad.jacobian(lambda x: x > 0, sparse=True)(np.ones(2))
    with pytest.raises(ad.DTypeError, match="output leaf 1 has dtype int"):
        ad.jacobian(lambda x: (x * 2.0, anp.argmax(x)), sparse=True)(np.ones(2))


def test_float32_in_float32_out():
    x = np.linspace(0.1, 1.0, 5, dtype=np.float32)
    f = lambda x: x[1:] * x[:-1]                       # noqa: E731
    for mode in ("auto", "forward", "reverse", "bidirectional"):
        assert ad.jacobian(f, sparse=True, mode=mode)(x).dtype == np.float32
    assert ad.jacobian(f, sparse=True, dense_output=True)(x).dtype == ad.jacfwd(f)(x).dtype
    h = ad.hessian(lambda x: anp.sum(x[1:] * x[:-1] ** 2), sparse=True)(x)
    assert h.dtype == np.float32


def test_a_signature_s_cache_keeps_no_tape():
    import gc
    from ad.tape import Tape

    def tapes():
        gc.collect()
        return sum(type(o) is Tape for o in gc.get_objects())
    before = tapes()
    jac = ad.jacobian(lambda x: anp.sin(x[1:]) * x[:-1], sparse=True)
    hess = ad.hessian(lambda x: anp.sum(anp.sin(x[1:]) * x[:-1]), sparse=True)
    for n in (5, 6, 7):                            # three signatures each, kept
        jac(np.linspace(0.1, 1.0, n))
        hess(np.linspace(0.1, 1.0, n))
    assert tapes() == before
    x = np.linspace(0.1, 1.0, 6)
    np.testing.assert_allclose(jac(x).toarray(), ad.jacfwd(lambda x: anp.sin(x[1:]) * x[:-1])(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_empty_pattern_keeps_the_arguments_precision(dtype):
    """No structural nonzero (f constant, or no element at all): the sparse Jacobian and
    Hessian keep float32 as the dense ones do (they were float64)."""
    x = np.array([1.0, 2.0], dtype)
    for transform, f in ((ad.jacobian, lambda x: anp.concatenate([x[:0], x[:0]])),
                         (ad.jacobian, lambda x: x * 0.0 + 1.0),
                         (ad.hessian, lambda x: anp.sum(x * 2.0))):
        dense = transform(f)(x)
        for dense_output in (True, False):
            found = transform(f, sparse=True, dense_output=dense_output)(x)
            assert found.dtype == dense.dtype == dtype
            np.testing.assert_array_equal(found if dense_output else found.toarray(), dense)
