"""Running a function on a tape, shared by the transforms and `ad.trace`.

`Recording` flattens and checks the differentiated arguments (pytrees of float arrays),
wraps their leaves as tape inputs, calls the function once and reads its outputs; it then
pulls cotangents back (`ad.reverse.sweep`) or pushes tangents forward (`ad.reverse.push`)
through that one recording; `push_forward` runs it once on dual numbers instead. The
argument checks here are what every transform reports: which argument, which leaf, which
dtype. Imports `ad.errors`, `ad.context`, `ad.primitive`, `ad.forward`, `ad.reverse`,
`ad.numpy` (casts) and `ad.tree`.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ad import numpy as anp
from ad import tree
from ad.context import entered
from ad.errors import DTypeError
from ad.forward import Dual, ForwardLevel
from ad.primitive import COMPLEX, Tracer, is_int
from ad.reverse import ReverseLevel, TapeValue, push, sweep


# ----------------------------------------------------------------------------- argument checks
def name_of(f: Callable) -> str:
    return getattr(f, "__name__", None) or getattr(f, "name", None) or type(f).__name__


def check_callable(f, transform: str) -> None:
    if not callable(f):
        raise TypeError(f"{transform}: expected a function, got {type(f).__name__}")


def argnums_items(argnums, transform: str, f) -> tuple[int, ...]:
    """argnums as a tuple of ints, its type checked: True is not argnums 1, nor 1.0 (or a
    NumPy integer: int(...) it) argnums 1."""
    def refuse():
        raise TypeError(f"{transform}({name_of(f)}): argnums must be an int or a tuple of "
                        f"ints, not {argnums!r}") from None
    if isinstance(argnums, (bool, np.bool_, np.integer)):
        refuse()
    try:
        items = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    except TypeError:
        refuse()
    if not all(map(is_int, items)):
        refuse()
    return tuple(int(a) for a in items)


def normalize_argnums(argnums, nargs: int, transform: str, f) -> tuple[int, ...]:
    items = argnums_items(argnums, transform, f)
    if not items:
        raise ValueError(f"{transform}({name_of(f)}): argnums is empty")
    normalised = []
    for a in items:
        if not -nargs <= a < nargs:
            raise ValueError(f"{transform}({name_of(f)}): argnums {a} is out of range for a call "
                             f"with {nargs} positional argument(s)")
        normalised.append(a % nargs)
    if len(set(normalised)) != len(normalised):
        raise ValueError(f"{transform}({name_of(f)}): argnums {argnums} has duplicates")
    return tuple(normalised)


def input_leaf(x, where: str):
    """A leaf to differentiate with respect to: a float array (or a traced value)."""
    if isinstance(x, Tracer):
        dtype = x.dtype
    else:
        if isinstance(x, (bool, np.bool_)):
            dtype = np.dtype(bool)
        else:
            x = np.asarray(x)
            dtype = x.dtype
    if dtype.kind == "f":
        return x
    if dtype.kind == "c":
        COMPLEX.seen = True                      # the engines check complex rules from now on
        return x
    if dtype.kind in "iub":
        raise DTypeError(f"{where} has dtype {dtype}: only floating-point inputs can be "
                         "differentiated; pass a float array, e.g. np.asarray(x, dtype=float)")
    raise DTypeError(f"{where} has dtype {dtype}, which cannot be differentiated")


def flatten_inputs(args: tuple, argnums: tuple[int, ...], transform: str, f):
    """Leaves and structures of the differentiated arguments, checked."""
    leaves, structures = [], []
    for a in argnums:
        arg_leaves, structure = tree.flatten(args[a])
        for k, leaf in enumerate(arg_leaves):
            where = f"{transform}({name_of(f)}): argument {a}" + (
                f" (leaf {k})" if len(arg_leaves) > 1 else "")
            leaves.append(input_leaf(leaf, where))
        structures.append((structure, len(arg_leaves)))
    return leaves, structures


def rebuild_args(args: tuple, argnums, structures, new_leaves) -> list:
    args = list(args)
    position = 0
    for a, (structure, count) in zip(argnums, structures):
        args[a] = tree.unflatten(structure, new_leaves[position:position + count])
        position += count
    return args


def per_argnum(structures, leaves, single: bool):
    """Regroup flat leaves into one pytree per differentiated argument."""
    grouped, position = [], 0
    for structure, count in structures:
        grouped.append(tree.unflatten(structure, leaves[position:position + count]))
        position += count
    return grouped[0] if single else tuple(grouped)


def split_aux(out, has_aux: bool, f, transform: str):
    if not has_aux:
        return out, None
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"{transform}({name_of(f)}, has_aux=True): the function must return a "
                        f"pair (output, aux), got {type(out).__name__}")
    return out[0], out[1]


def as_scalar(value):
    """0-d arrays come back as NumPy scalars; traced values stay as they are."""
    if type(value) is np.ndarray and value.ndim == 0:
        return value[()]
    return value


def strip_levels(aux, levels) -> Any:
    """Aux outputs leave the transform without derivatives of its level."""
    def strip_leaf(leaf):
        while isinstance(leaf, Tracer) and leaf._level in levels:
            leaf = leaf.primal
        return leaf
    return tree.tree_map(strip_leaf, aux)


def output_leaf(leaf, f, transform: str):
    if isinstance(leaf, Tracer):
        return leaf
    value = np.asarray(leaf)
    if value.dtype.kind not in "fiubc":
        raise TypeError(f"{transform}({name_of(f)}): the function returned a {type(leaf).__name__}"
                        ", which is not an array or number")
    return value


# ----------------------------------------------------------------------------- forward mode
def push_forward(f, args, kwargs, argnums, leaves, structures, tangents, transform):
    """Run `f` on duals (leaf i carries tangents[i]); return output primals and tangents."""
    level = ForwardLevel()
    with entered(level):
        duals = [Dual._make(leaf, t, level) for leaf, t in zip(leaves, tangents)]
        out = f(*rebuild_args(args, argnums, structures, duals), **kwargs)
    out_leaves, out_structure = tree.flatten(out)
    primals, out_tangents = [], []
    for leaf in out_leaves:
        leaf = output_leaf(leaf, f, transform)
        if type(leaf) is Dual and leaf._level is level:
            primals.append(leaf.primal)
            out_tangents.append(leaf.tangent)
        else:
            primals.append(leaf)
            out_tangents.append(None)
    return primals, out_tangents, out_structure


# ----------------------------------------------------------------------------- reverse mode
class Recording:
    """A function run once on a tape: its outputs, and how to pull cotangents back through
    it (`pull`) or push tangents forward through it (`push`)."""

    def __init__(self, f, args, kwargs, argnums, has_aux, transform,
                 level: ReverseLevel | None = None):
        self.f = f
        self.transform = transform
        leaves, self.structures = flatten_inputs(args, argnums, transform, f)
        self.level = level = ReverseLevel() if level is None else level
        with entered(level):
            inputs = [level.new_input(leaf) for leaf in leaves]
            out = f(*rebuild_args(args, argnums, self.structures, inputs), **kwargs)
        out, aux = split_aux(out, has_aux, f, transform)
        self.aux = strip_levels(aux, (level,))
        out_leaves, self.out_structure = tree.flatten(out)
        self.out_ids = []
        self.out_primals = []
        for leaf in out_leaves:
            leaf = output_leaf(leaf, f, transform)
            if type(leaf) is TapeValue and leaf._level is level:
                self.out_ids.append(leaf.index)
                self.out_primals.append(leaf.primal)
            else:
                self.out_ids.append(None)
                self.out_primals.append(leaf)
        self.in_primals = leaves
        self.in_ids = [x.index for x in inputs]

    def output(self):
        return tree.unflatten(self.out_structure, [as_scalar(p) for p in self.out_primals])

    def push(self, tangents: Sequence[Any]) -> list:
        """Output tangents (flat; None where constant) for input tangents, by forward mode
        over the recording: each entry's JVP rule on the residuals it already holds."""
        found = push(self.level.tape, zip(self.in_ids, tangents),
                     [i for i in self.out_ids if i is not None])
        return [None if i is None else found[i] for i in self.out_ids]

    def pull(self, cotangents: Sequence[Any], batch: tuple[int, ...] = (), consume=False):
        """Input cotangents (flat) for flat output cotangents (each batch + output shape)."""
        seeds = [(i, ct) for i, ct in zip(self.out_ids, cotangents) if i is not None]
        found = sweep(self.level.tape, seeds, self.in_ids, consume=consume)
        results = []
        for index, primal in zip(self.in_ids, self.in_primals):
            ct = found[index]
            dtype = np.result_type(primal)
            if ct is None:
                ct = np.zeros(batch + np.shape(primal), dtype=dtype)
            elif getattr(ct, "dtype", dtype) != dtype:   # a cotangent takes its input's dtype
                ct = anp.astype(ct, dtype)
            results.append(ct)
        return results
