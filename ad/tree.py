"""Pytrees: nested tuples, lists and dicts of arrays, via `optree` (a well-kept C++ library).

`None` is an empty subtree, as in JAX. Imports nothing from `ad`.
"""
from __future__ import annotations

from typing import Any, Callable

import optree

PyTreeDef = optree.PyTreeSpec


def flatten(tree: Any) -> tuple[list[Any], PyTreeDef]:
    """Leaves in a fixed order, and the structure to rebuild the tree."""
    return optree.tree_flatten(tree, none_is_leaf=False)


def unflatten(structure: PyTreeDef, leaves) -> Any:
    return optree.tree_unflatten(structure, leaves)


def tree_map(function: Callable, tree: Any, *rest: Any) -> Any:
    return optree.tree_map(function, tree, *rest, none_is_leaf=False)


def structure(tree: Any) -> PyTreeDef:
    return optree.tree_structure(tree, none_is_leaf=False)
