"""Pytrees (ad/tree.py): round trips, None as an empty subtree, and the transforms on them."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ad
import ad.numpy as anp
from ad import tree

leaves = st.floats(-3, 3).map(np.float64)
trees = st.recursive(leaves | st.none(), lambda children: st.one_of(
    st.lists(children, max_size=3), st.tuples(children, children),
    st.dictionaries(st.sampled_from("abc"), children, max_size=3)), max_leaves=8)


@given(trees)
def test_flatten_unflatten_round_trip(value):
    flat, structure = tree.flatten(value)
    assert all(leaf is not None for leaf in flat)        # None is an empty subtree
    rebuilt = tree.unflatten(structure, flat)
    assert tree.structure(rebuilt) == structure
    assert tree.flatten(rebuilt)[0] == flat


def test_tree_map_keeps_structure_and_order():
    value = {"b": [1.0, (2.0, None)], "a": 3.0}
    doubled = tree.tree_map(lambda x: 2 * x, value)
    assert doubled == {"b": [2.0, (4.0, None)], "a": 6.0}
    assert tree.flatten(value)[0] == [3.0, 1.0, 2.0]     # dict keys sorted


@given(trees)
def test_grad_of_a_pytree_has_its_structure(value):
    flat, structure = tree.flatten(value)
    grads = ad.grad(lambda t: sum((leaf * leaf for leaf in tree.flatten(t)[0]),
                                  np.float64(0.0)))(value)
    assert tree.structure(grads) == structure
    for g, leaf in zip(tree.flatten(grads)[0], flat):
        np.testing.assert_allclose(g, 2 * leaf)


def test_jacobian_nests_output_tree_over_input_tree():
    jac = ad.jacobian(lambda p: {"s": anp.sin(p["x"]), "t": p["x"] * p["y"]})(
        {"x": np.array([0.0, 1.0]), "y": 2.0})
    assert set(jac) == {"s", "t"} and set(jac["s"]) == {"x", "y"}
    assert jac["s"]["x"].shape == (2, 2) and jac["t"]["y"].shape == (2,)
    np.testing.assert_allclose(jac["t"]["y"], [0.0, 1.0])


def test_a_pytree_nested_too_deeply_is_named():
    """optree's recursion limit (a few thousand levels) is a named error saying what to do,
    not a bare RecursionError from inside a transform."""
    from ad.tree import TreeTooDeepError
    deep = 1.0
    for _ in range(5000):
        deep = [deep]

    def f(t):
        while isinstance(t, list):
            t = t[0]
        return t * 2.0
    for transform in (ad.grad, ad.jacfwd, ad.jacrev):
        with pytest.raises(TreeTooDeepError, match="nested more deeply.*flat list"):
            transform(f)(deep)
    shallow = 1.0
    for _ in range(200):
        shallow = [shallow]
    found = ad.grad(f)(shallow)
    for _ in range(200):
        found = found[0]
    assert found == 2.0
