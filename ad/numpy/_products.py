"""Products beyond matmul: einsum, vdot, kron, cross.

`einsum` contracts operands pairwise, each contraction one batched matmul after transposes
and reshapes (never a broadcast outer product), so it costs what the equivalent matmuls
cost; repeated subscripts take diagonals and subscripts used once are summed first.
Imports `ad.numpy` (the package) and `ad.primitive`.
"""
from __future__ import annotations

import math
import string

import operator

import numpy as np

from ad import numpy as anp
from ad.numpy import _implements
from ad.primitive import Tracer

__all__ = ["einsum", "vdot", "kron", "cross"]


# ----------------------------------------------------------------------------- einsum
def _parse(subscripts: str, operands) -> tuple[list[str], str]:
    """Input terms and output term with every '...' replaced by explicit letters."""
    subscripts = subscripts.replace(" ", "")
    lhs, arrow, rhs = subscripts.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: {len(terms)} operand subscripts for {len(operands)} operands")
    used = set(subscripts) - set(",.->")
    spare = [c for c in string.ascii_letters if c not in used]
    n_ellipsis = 0
    for term, op in zip(terms, operands):
        if "..." in term:
            n_ellipsis = max(n_ellipsis, anp.ndim(op) - (len(term) - 3))
    ellipsis = "".join(spare[:n_ellipsis])
    explicit = []
    for term, op in zip(terms, operands):
        if "..." in term:
            k = anp.ndim(op) - (len(term) - 3)
            term = term.replace("...", ellipsis[n_ellipsis - k:] if k else "")
        if len(term) != anp.ndim(op):
            raise ValueError(f"einsum: subscripts '{term}' do not match an operand with "
                             f"{anp.ndim(op)} dimensions")
        explicit.append(term)
    if arrow:
        out = rhs.replace("...", ellipsis)
    else:
        counts = {c: "".join(explicit).count(c) for c in set("".join(explicit))}
        out = ellipsis + "".join(sorted(c for c, n in counts.items()
                                        if n == 1 and c not in ellipsis))
    return explicit, out


def _diagonals(a, term: str):
    """Take diagonals for letters repeated within one term ('ii' -> 'i')."""
    while len(set(term)) != len(term):
        letter = next(c for c in term if term.count(c) > 1)
        i = term.index(letter)
        j = term.index(letter, i + 1)
        a = anp.diagonal(a, 0, i, j)
        term = "".join(c for k, c in enumerate(term) if k not in (i, j)) + letter
    return a, term


def _sum_out(a, term: str, keep: set[str]):
    axes = tuple(i for i, c in enumerate(term) if c not in keep)
    if axes:
        a = anp.sum(a, axis=axes)
        term = "".join(c for c in term if c in keep)
    return a, term


def _contract(a, ta: str, b, tb: str, keep: set[str], sizes: dict[str, int]):
    a, ta = _sum_out(a, ta, keep | set(tb))
    b, tb = _sum_out(b, tb, keep | set(ta))
    batch = [c for c in ta if c in tb and c in keep]
    summed = [c for c in ta if c in tb and c not in keep]
    free_a = [c for c in ta if c not in tb]
    free_b = [c for c in tb if c not in ta]

    def size(letters):
        return math.prod(sizes[c] for c in letters)
    a = anp.broadcast_to(anp.transpose(a, [ta.index(c) for c in batch + free_a + summed]),
                         tuple(sizes[c] for c in batch + free_a + summed))
    b = anp.broadcast_to(anp.transpose(b, [tb.index(c) for c in batch + summed + free_b]),
                         tuple(sizes[c] for c in batch + summed + free_b))
    a = anp.reshape(a, (size(batch), size(free_a), size(summed)))
    b = anp.reshape(b, (size(batch), size(summed), size(free_b)))
    out = anp.matmul(a, b)
    term = "".join(batch + free_a + free_b)
    return anp.reshape(out, tuple(sizes[c] for c in term)), term


def _from_sublists(arguments):
    """einsum(op0, [0, 1], op1, [1, 2], [0, 2]) as ("ab,bc->ac", [op0, op1])."""
    def letters(sublist):
        return "".join("..." if axis is Ellipsis else
                       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[operator.index(axis)]
                       for axis in sublist)
    operands, inputs = list(arguments[0::2]), [letters(s) for s in arguments[1::2]]
    output = None
    if len(arguments) % 2:   # a trailing output sublist
        output = letters(arguments[-1])
        operands = operands[:-1]
    subscripts = ",".join(inputs) + ("" if output is None else "->" + output)
    return subscripts, tuple(operands)


@_implements(np.einsum)
def einsum(subscripts, *operands, optimize=False, **kwargs):
    """Einstein summation, as numpy.einsum: the subscripts form (with '...', diagonals and an
    implicit output) or the sublist form (op0, [0, 1], op1, [1, 2], [0, 2]).

    >>> einsum("ij,j->i", np.eye(2), np.array([1.0, 2.0]))
    array([1., 2.])
    """
    if not isinstance(subscripts, str):   # the sublist form: op0, sublist0, op1, ...
        subscripts, operands = _from_sublists((subscripts,) + operands)
    bad = sorted({c for c in subscripts if not (c.isalpha() and c.isascii()) and c not in
                  ",->. "})
    if bad:
        raise ValueError(f"einsum: invalid subscript {bad[0]!r} in einstein sum subscripts "
                         "string, subscripts must be letters")
    if kwargs.get("out") is not None:
        anp._no_out(kwargs["out"], "einsum")
    unknown = set(kwargs) - {"out", "dtype", "casting", "order"}
    if unknown:
        raise TypeError(f"einsum() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    if not any(isinstance(op, Tracer) for op in operands):
        return np.einsum(subscripts, *operands, optimize=optimize, **kwargs)
    return anp._cast_to(_einsum(subscripts, operands), kwargs.get("dtype"),
                        kwargs.get("casting", "safe"), "einsum")


def _einsum(subscripts: str, operands):
    terms, out = _parse(subscripts, operands)
    for c in out:                     # NumPy's checks of the output subscripts
        if out.count(c) > 1:
            raise ValueError(f"einsum: output subscript {c!r} appears more than once")
        if not any(c in term for term in terms):
            raise ValueError(f"einsum: output subscript {c!r} does not appear in the input "
                             "subscripts")
    sizes: dict[str, int] = {}
    for term, op in zip(terms, operands):
        for c, n in zip(term, anp.shape(op)):
            seen = sizes.get(c)
            if seen is not None and seen != n and 1 not in (seen, n):
                raise ValueError(f"einsum: subscript '{c}' has sizes {seen} and {n}")
            if seen is None or seen == 1:        # a size 1 broadcasts (0 does not)
                sizes[c] = n
    pairs = [_diagonals(op, term) for op, term in zip(operands, terms)]
    result, term = pairs[0]
    if len(pairs) == 1:
        result, term = _sum_out(result, term, set(out))
    for k in range(1, len(pairs)):
        later = set(out).union(*[set(t) for _, t in pairs[k + 1:]])
        result, term = _contract(result, term, pairs[k][0], pairs[k][1], later, sizes)
    result = anp.broadcast_to(result, tuple(sizes[c] for c in term))
    return anp.transpose(result, [term.index(c) for c in out])


# ----------------------------------------------------------------------------- small products
@_implements(np.vdot)
def vdot(a, b):
    """Dot product of the flattened inputs, the first conjugated (as numpy.vdot).

    >>> complex(vdot(np.array([1j, 2.0]), np.array([1j, 1.0])))
    (3+0j)
    """
    return anp.sum(anp.conj(anp.ravel(a)) * anp.ravel(b))


@_implements(np.kron)
def kron(a, b):
    """Kronecker product, as numpy.kron.

    >>> kron(np.array([1.0, 2.0]), np.array([1.0, 10.0]))
    array([ 1., 10.,  2., 20.])
    """
    nd = max(anp.ndim(a), anp.ndim(b))
    sa = (1,) * (nd - anp.ndim(a)) + anp.shape(a)
    sb = (1,) * (nd - anp.ndim(b)) + anp.shape(b)
    a2 = anp.reshape(a, tuple(x for d in sa for x in (d, 1)))
    b2 = anp.reshape(b, tuple(x for d in sb for x in (1, d)))
    return anp.reshape(a2 * b2, tuple(x * y for x, y in zip(sa, sb)))


@_implements(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 3-vectors (or 2-vectors, giving the scalar z component).

    >>> cross(np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    array([0., 0., 1.])
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a = anp.moveaxis(a, axisa, -1)
    b = anp.moveaxis(b, axisb, -1)
    na, nb = anp.shape(a)[-1], anp.shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(f"cross: incompatible dimensions for cross product (dimension must "
                         f"be 2 or 3), got {na} and {nb}")
    a0, a1, b0, b1 = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    z = a0 * b1 - a1 * b0
    if na == nb == 2:
        return z
    a2 = a[..., 2] if na == 3 else 0.0
    b2 = b[..., 2] if nb == 3 else 0.0
    x = a1 * b2 - a2 * b1
    y = a2 * b0 - a0 * b2
    shape = np.broadcast_shapes(anp.shape(x), anp.shape(y), anp.shape(z))
    c = anp.stack([anp.broadcast_to(v, shape) for v in (x, y, z)], axis=-1)
    return anp.moveaxis(c, -1, axisc)
