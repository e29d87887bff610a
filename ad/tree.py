"""Pytrees: nested tuples, lists and dicts of arrays, via `optree` (a well-kept C++ library).

`None` is an empty subtree, as in JAX. Imports nothing from `ad`.
"""
from __future__ import annotations

from typing import Any, Callable

import optree

PyTreeDef = optree.PyTreeSpec


class TreeTooDeepError(ValueError):
    """A pytree nested more deeply than optree walks (its recursion limit)."""


def _too_deep(error: RecursionError) -> TreeTooDeepError:
    return TreeTooDeepError(
        f"a pytree is nested more deeply than can be walked ({error}); pass its leaves in a "
        "flat list or tuple, or an array, instead of nesting one level per element")


def flatten(tree: Any) -> tuple[list[Any], PyTreeDef]:
    """Leaves in a fixed order, and the structure to rebuild the tree."""
    try:
        return optree.tree_flatten(tree, none_is_leaf=False)
    except RecursionError as error:
        raise _too_deep(error) from None


def unflatten(structure: PyTreeDef, leaves) -> Any:
    return optree.tree_unflatten(structure, leaves)


def tree_map(function: Callable, tree: Any, *rest: Any) -> Any:
    try:
        return optree.tree_map(function, tree, *rest, none_is_leaf=False)
    except RecursionError as error:
        raise _too_deep(error) from None


def structure(tree: Any) -> PyTreeDef:
    try:
        return optree.tree_structure(tree, none_is_leaf=False)
    except RecursionError as error:
        raise _too_deep(error) from None
