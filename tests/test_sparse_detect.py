"""Sparsity detection (ad/sparse/detect.py): detected patterns hold the dense Jacobian's
nonzeros for every primitive of the catalogue, equal them on programs without value-dependent
structure, follow the values in local mode, refuse branches in global mode, and name an
undeclared primitive."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import ad
import ad.numpy as anp
from ad.sparse import SparsityError, sparsity
from tests.test_catalogue import STRUCTURAL_CASES

pytest.importorskip("scipy")


def dense_pattern(f, args, argnums=0, hessian=False):
    """Nonzeros of the dense Jacobian (or Hessian), flattened as `sparsity` flattens."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    jac = (ad.hessian if hessian else ad.jacfwd)(f, argnums)(*args)
    blocks = jac if isinstance(jac, tuple) else (jac,)
    out = ad.jvp(f, tuple(args), tuple(np.zeros_like(a) for a in args))[0]
    m = int(np.size(out)) if not hessian else sum(np.size(args[a]) for a in nums)
    return np.concatenate([np.reshape(b, (m, -1)) for b in blocks], axis=1) != 0


def test_the_docstring_band():
    pattern = sparsity(lambda x: x[1:] * x[:-1], np.ones(4))
    assert pattern.dtype == bool and pattern.shape == (3, 4)
    assert pattern.toarray().astype(int).tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]


@pytest.mark.parametrize("name,case,f,args", STRUCTURAL_CASES,
                         ids=[f"{n}-{i}" for n, i, _, _ in STRUCTURAL_CASES])
def test_every_primitive_detected_pattern_holds_the_dense_nonzeros(name, case, f, args):
    nums = tuple(range(len(args)))
    pattern = sparsity(f, *args, argnums=nums).toarray()
    dense = dense_pattern(f, args, nums)
    assert pattern.shape == dense.shape
    missing = dense & ~pattern
    assert not missing.any(), f"{name}: detected pattern misses {np.argwhere(missing)[:5]}"


#: Cases whose structure does not depend on values (no max/min, no masks: `where` declares
#: both branches, which holds whatever the mask): the detected pattern is exactly the dense
#: Jacobian's nonzeros at random inputs.
EXACT = {"add", "subtract", "negative", "sum", "reshape", "broadcast_to",
         "transpose", "concatenate", "matmul", "astype", "cumsum", "inv", "solve", "det",
         "pinv"}


@pytest.mark.parametrize("name,case,f,args", [c for c in STRUCTURAL_CASES if c[0] in EXACT],
                         ids=[f"{n}-{i}" for n, i, _, _ in STRUCTURAL_CASES if n in EXACT])
def test_patterns_are_exact_where_no_value_shapes_them(name, case, f, args):
    nums = tuple(range(len(args)))
    assert np.array_equal(sparsity(f, *args, argnums=nums).toarray(),
                          dense_pattern(f, args, nums))


def test_getitem_with_fancy_index_is_exact():
    f = lambda x: x[np.array([3, 0, 3, 1])] * x[:4]   # noqa: E731
    x = np.arange(1.0, 6.0)
    assert np.array_equal(sparsity(f, x).toarray(), dense_pattern(f, (x,)))


# ----------------------------------------------------------------------------- random programs
UNARY = [anp.sin, lambda v: anp.exp(-v * v), anp.tanh, lambda v: v ** 2, lambda v: v ** 3,
         lambda v: anp.log1p(v * v),
         lambda v: 1.0 / (1.5 + anp.cos(v))]


def _program(ops, n):
    """A random program on a vector of n elements from structural and elementwise steps."""
    rng = np.random.default_rng(len(ops))
    matrix = rng.standard_normal((n, n))
    perm = rng.permutation(n)

    def f(x):
        v = x
        for kind, k in ops:
            if kind == "unary":
                value = getattr(v, "primal", v)      # (a traced value's, unannounced)
                f.peak = max(f.peak, float(np.max(np.abs(value))))  # how large v gets
                v = UNARY[k % len(UNARY)](v)
            elif kind == "shift":
                v = v * anp.roll(v, k % n + 1)
            elif kind == "slice":
                v = anp.concatenate([v[k % n:], v[:k % n] * 2.0])
            elif kind == "perm":
                v = v[perm] + v
            elif kind == "cumsum":
                v = anp.cumsum(v) * 0.1
            elif kind == "reduce":
                v = v + anp.sum(anp.reshape(v, (n // 2, 2)), axis=1).repeat(2) \
                    if n % 2 == 0 else v + 1.0
            elif kind == "matmul":
                v = matrix[: k % n + 1] @ v
                v = anp.concatenate([v, anp.ones(n - v.shape[0])]) if v.shape[0] < n else v
            elif kind == "at":
                v = v.at[np.array([0, k % n])].add(v[-2:] ** 2)
        return v
    f.peak = 0.0
    return f


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["unary", "shift", "slice", "perm", "cumsum",
                                               "reduce", "matmul", "at"]),
                              st.integers(0, 50)), min_size=1, max_size=6),
       n=st.sampled_from([4, 6, 7]), seed=st.integers(0, 2 ** 16))
def test_random_programs_detect_exactly_the_dense_nonzeros(ops, n, seed):
    f = _program(ops, n)
    x = np.random.default_rng(seed).uniform(0.2, 1.0, n)
    assume(np.all(np.isfinite(ad.jacfwd(f)(x))))   # an overflow is not a pattern
    out = np.abs(ad.jvp(f, (x,), (x,))[0])
    # nor an underflow (exp(-729) is 1e-317, exp(-750) is 0): these programs' outputs are
    # never zero but by underflow, and an underflowed output has a zero derivative
    assume(np.all(out > 1e-250))
    # nor a saturation (tanh of 729 has the derivative 0.0 exactly: a structural nonzero
    # the dense Jacobian cannot show); the jvp above noted how large the values got
    assume(f.peak < 15.0)
    pattern = sparsity(f, x).toarray()
    dense = dense_pattern(f, (x,))
    assert not (dense & ~pattern).any()          # never smaller than the truth
    assert np.array_equal(pattern, dense)        # and no larger, without cancellation


def test_several_inputs_and_outputs_are_flattened_in_order():
    def f(x, y):
        return {"a": x * y[0], "b": anp.sum(y)}
    pattern = sparsity(f, np.ones(2), np.ones(3), argnums=(0, 1)).toarray().astype(int)
    assert pattern.tolist() == [[1, 0, 1, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 1]]


def test_a_constant_output_has_an_empty_row():
    pattern = sparsity(lambda x: [x * 2.0, np.ones(2)], np.ones(3))
    assert pattern.shape == (5, 3) and pattern[3:].nnz == 0


# ----------------------------------------------------------------------------- global and local
def branchy(x):
    if x[0] > 0:
        return x[1:] * 2.0
    return x[:-1] * x[1:]


def test_global_detection_refuses_a_branch_on_values():
    with pytest.raises(SparsityError, match="branch.*sparse='local'"):
        sparsity(branchy, np.array([1.0, 2.0, 3.0]))


def test_global_detection_refuses_the_program_s_own_primal_value():
    # a Python number from the values: an index (or a branch) no recording sees. Before,
    # x[i] with i = argmax of the values was taken as a fixed index: column 0 only
    def pick(x):
        return x[int(np.argmax(ad.primal_value(x)))] * x

    def branch(x):
        return x[0] * x if ad.primal_value(x)[0] > 0 else x[1] * x
    for f in (pick, branch):
        with pytest.raises(SparsityError, match="primal_value.*sparse='local'"):
            sparsity(f, np.array([3.0, 0.0, 1.0]))
    assert sparsity(pick, np.array([0.0, 1.0, 5.0]), local=True).toarray().astype(
        int).tolist() == [[1, 0, 1], [0, 1, 1], [0, 0, 1]]


_ESCAPES = {   # a number from the values reaches Python by another road than bool() or int()
    "element of a mask": lambda x: x[1:] * x[:-1] if (x > 0)[0] else x[1:] * x[0],
    "mask iterated": lambda x: x[1:] * x[:-1] if next(iter(x > 0)) else x[1:] * x[0],
    "element of sign": lambda x: x[1:] * x[:-1] if anp.sign(x)[0] > 0 else x[1:] * x[0],
    "np.count_nonzero of a mask": lambda x: x[1:] * x[:-1] if np.count_nonzero(x > 0) > 2
    else x[1:] * x[0],
    "anp.count_nonzero": lambda x: x[1:] * x[:-1] if anp.count_nonzero(x) > 2 else x[1:],
    "isclose": lambda x: x[1:] * x[:-1] if not np.isclose(x[0], -0.5) else x[1:] * x[0],
    "allclose": lambda x: x[1:] * x[:-1] if anp.allclose(anp.maximum(x[0], 0.0), x[0])
    else x[1:] * x[0],
    "roll by argmax": lambda x: anp.roll(x, anp.argmax(x)) * x,
    "roll by a count": lambda x: anp.roll(x, anp.sum(x > 0)) * x,
    "searchsorted index": lambda x: x[anp.searchsorted(anp.sort(x[:4]), 0.0)] * x,
    "argmax element": lambda x: x * x[anp.argmax(x)[()]],
}


@pytest.mark.parametrize("name", list(_ESCAPES))
def test_global_detection_refuses_every_road_from_a_value_to_python(name):
    # each was taken as fixed before: a pattern true at this input only, reused at others
    # (an index from the values keeps its entry dense instead: x[argmax(x)[()]])
    f = _ESCAPES[name]
    x1 = np.array([0.9, -0.3, 0.2, -0.8, 0.4, 0.1])
    x2 = np.array([-0.5, 0.3, -0.2, -0.8, -0.4, -0.1])
    try:                   # refused, or a pattern that holds at every input (dense there)
        pattern = sparsity(f, x1).toarray()
    except SparsityError as error:
        assert "sparse='local'" in str(error)
        pattern = None
    for x in (x1, x2):     # the local pattern holds the Jacobian there; so does a compiled one
        jacobian = np.asarray(ad.jacfwd(f)(x))
        assert sparsity(f, x, local=True).toarray()[jacobian != 0].all()
        assert pattern is None or pattern[jacobian != 0].all()
        np.testing.assert_allclose(ad.jacrev(f, compile=True)(x), jacobian, rtol=1e-12)


def test_a_mask_s_cotangent_stored_into_an_array_is_not_a_branch():
    # the Hessian's gradient scatters max's 0-d masked partial into an array (NumPy calls
    # float() on it): a global pattern, not "the program branches"
    x = np.array([0.3, -0.2, 0.5])
    g = lambda x: anp.sum(anp.maximum(x[0], x) ** 2)      # noqa: E731
    pattern = sparsity(g, x, hessian=True).toarray()
    assert pattern[ad.hessian(g)(x) != 0].all()
    assert (pattern | sparsity(g, x, hessian=True, local=True).toarray()).sum() == pattern.sum()


def test_a_weighted_logsumexp_s_hessian_pattern():
    """logsumexp(x, b=) feeds a comparison's result (a FromValues) into where's branches:
    its shape is a plain tuple of ints (it was a tuple of 0-d arrays: unhashable, deep in
    the recording), and the pattern and Hessian are the dense ones."""
    import ad.scipy.special as special
    from ad.primitive import shape_of
    from ad.sparse.detect import FromValues
    f = lambda x: special.logsumexp(x, b=np.array([1.0, 2.0, 0.5]))   # noqa: E731
    x = np.array([0.1, -0.3, 0.7])
    np.testing.assert_allclose(ad.hessian(f, sparse=True, dense_output=True)(x),
                               ad.hessian(f)(x), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ad.jacobian(ad.grad(f), sparse=True, dense_output=True)(x),
                               ad.hessian(f)(x), rtol=1e-13, atol=1e-15)
    mask = np.ones((2, 3)).view(FromValues)
    for shape in (np.shape(mask), shape_of(mask)):
        assert shape == (2, 3) and all(type(d) is int for d in shape)
    assert type(np.ndim(mask)) is int and type(np.size(mask)) is int


def test_local_detection_follows_the_branch():
    up = sparsity(branchy, np.array([1.0, 2.0, 3.0]), local=True).toarray().astype(int)
    down = sparsity(branchy, np.array([-1.0, 2.0, 3.0]), local=True).toarray().astype(int)
    assert up.tolist() == [[0, 1, 0], [0, 0, 1]]
    assert down.tolist() == [[1, 1, 0], [0, 1, 1]]


def test_an_index_computed_from_values_is_dense_globally_and_exact_locally():
    def f(x):
        index = (x > 0).astype(np.intp)              # 0 or 1, from the values
        return x[index] * 3.0
    x = np.array([-1.0, 2.0, 5.0])
    assert sparsity(f, x).toarray().all()           # any element might be picked
    local = sparsity(f, x, local=True).toarray().astype(int)
    assert local.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]
    assert not (dense_pattern(f, (x,)) & ~local.astype(bool)).any()


def test_a_mask_used_elementwise_keeps_the_diagonal_globally():
    f = lambda x: anp.where(x > 0, x, 0.1 * x) * x   # noqa: E731  (leaky relu times x)
    assert np.array_equal(sparsity(f, np.array([-1.0, 2.0, 3.0])).toarray(), np.eye(3, dtype=bool))


def test_a_primitive_without_a_dependency_declaration_is_named():
    def cube_jvp(t, out, x):
        return 3 * x * x * t
    cube = ad.defprimitive("cube_no_dependency", lambda x: x ** 3, jvp=(cube_jvp,),
                           vjp=(cube_jvp,))
    with pytest.raises(SparsityError, match="cube_no_dependency.*dependency="):
        sparsity(lambda x: cube(x) + x, np.ones(3))


def test_a_declared_dependency_is_used():
    def cube_jvp(t, out, x):
        return 3 * x * x * t
    cube = ad.defprimitive("cube_with_dependency", lambda x: x ** 3, jvp=(cube_jvp,),
                           vjp=(cube_jvp,), dependency="elementwise")
    assert np.array_equal(sparsity(lambda x: cube(x[::-1]), np.ones(3)).toarray(),
                          np.eye(3, dtype=bool)[::-1])


def test_a_bad_dependency_declaration_is_refused_at_registration():
    with pytest.raises(ad.RegistrationError, match="dependency="):
        ad.defprimitive("cube_bad_dependency", lambda x: x ** 3, jvp=(None,), vjp=(None,),
                        dependency="diagonal")


# ----------------------------------------------------------------------------- Hessians
def rosenbrock(x):
    return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def grid_energy(u):
    g = anp.reshape(u, (6, 6))
    return (anp.sum((g[1:] - g[:-1]) ** 4) + anp.sum((g[:, 1:] - g[:, :-1]) ** 4)) / 4 \
        + anp.sum(anp.cos(u))


@pytest.mark.parametrize("f,n", [(rosenbrock, 12), (grid_energy, 36)],
                         ids=["rosenbrock", "grid energy"])
def test_hessian_patterns_equal_the_dense_hessian_nonzeros(f, n):
    x = np.random.default_rng(0).uniform(0.3, 1.2, n)
    pattern = sparsity(f, x, hessian=True).toarray()
    assert np.array_equal(pattern, pattern.T)
    assert np.array_equal(pattern, dense_pattern(f, (x,), hessian=True))


def test_a_hessian_pattern_needs_a_scalar_function():
    with pytest.raises(SparsityError, match="scalar"):
        sparsity(lambda x: x ** 2, np.ones(3), hessian=True)


def test_the_brusselator_pattern():
    from benchmarks.auto_suite import brusselator
    f, x = brusselator(8)
    pattern = sparsity(f, x)
    assert pattern.nnz == 6 * 2 * 64
    assert np.array_equal(pattern.toarray(), dense_pattern(f, (x,)))


def test_deep_programs_do_not_recurse():
    def f(x):
        for _ in range(3000):
            x = anp.sin(x) * 1.0001
        return x
    assert sparsity(f, np.ones(3)).nnz == 3


def test_a_scalar_index_computed_from_values_is_dense_globally():
    """x[argmax(x)] picks another element at other inputs: the global pattern (and the
    sparse Jacobian and Hessian built on it) must hold there too."""
    f = lambda x: x * x[anp.argmax(x)]                       # noqa: E731
    g = lambda x: anp.sum(x ** 2) * anp.take(x, anp.argmax(x))   # noqa: E731
    x0, x1 = np.array([3.0, 1.0, 2.0]), np.array([1.0, 2.0, 5.0])
    assert ad.sparsity(f, x0).toarray().all()
    jac = ad.jacobian(f, sparse=True, dense_output=True)
    hes = ad.hessian(g, sparse=True, dense_output=True)
    jac(x0), hes(x0)
    np.testing.assert_allclose(jac(x1), ad.jacfwd(f)(x1), rtol=1e-12)
    np.testing.assert_allclose(hes(x1), ad.hessian(g)(x1), rtol=1e-12)
    # a constant scalar index stays exact
    assert ad.sparsity(lambda x: x * x[0], x0).toarray().sum() == 5


def test_a_checkpoint_with_several_results_depends_densely_on_its_arguments():
    ck = ad.checkpoint(lambda x: (anp.sin(x), x[:2] * 2.0))
    x = np.array([0.1, 0.5, -0.3])
    assert sparsity(lambda x: ck(x)[1], x).toarray().all()          # conservative: dense
    jac = ad.jacobian(lambda x: ck(x)[1] * ck(x)[0][0], sparse=True)(x)
    np.testing.assert_allclose(jac.toarray(), ad.jacfwd(lambda x: ck(x)[1] * ck(x)[0][0])(x),
                               rtol=1e-14)
    h = ad.hessian(lambda x: anp.sum(ck(x)[0] ** 2), sparse=True)(x)
    np.testing.assert_allclose(h.toarray(), ad.hessian(lambda x: anp.sum(anp.sin(x) ** 2))(x),
                               rtol=1e-14, atol=1e-15)
