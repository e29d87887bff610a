"""`ad.numpy` function by function: one row per call in the tables below.

Each row is (id, numpy function or None, ad.numpy function, float arguments, keywords). For
every row: the value equals NumPy's; `ad.check_grads` passes to second order in both modes
on the ad.numpy function; the same call through NumPy's own function (`np.sin(x)` on a
traced x, the NumPy protocol) gives the same derivative. Inputs cover scalars, vectors,
matrices, broadcasting and axis/keepdims variants; hypothesis draws shapes, axes and
indices for the reductions and indexing. Non-differentiable functions get a zero derivative.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ad
import ad.numpy as anp
from ad.primitive import Tracer

rng = np.random.default_rng(7)


def v(*shape):
    """Standard normal values."""
    return rng.standard_normal(shape)


def pos(*shape):
    return rng.uniform(0.5, 2.0, shape)


def unit(*shape):
    return rng.uniform(-0.8, 0.8, shape)


def nz(*shape):
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def big(*shape):
    return rng.uniform(1.2, 3.0, shape)


def wellcond(*shape):
    n = shape[-1]
    return v(*shape) + 3 * np.eye(n)


def distinct(*shape):
    """Values far apart (no ties within 0.1), for max/min/sort/median."""
    n = math.prod(shape)
    return (rng.permutation(n) * 0.37 - n * 0.15 + rng.uniform(-0.05, 0.05, n)).reshape(shape)


ROWS = []


def row(name, args, np_fn="auto", fn=None, id=None, dispatch=True, **kw):
    """Register one row: `name` is the ad.numpy (and NumPy) name unless fn/np_fn are given.

    `dispatch=False` marks an `np_fn` that is only a reference for the value (NumPy has no
    function that could dispatch, e.g. in-place updates)."""
    if fn is None:
        fn = _lookup(anp, name)
    if np_fn == "auto":
        np_fn = _lookup(np, name)
    label = id or name + ("" if not kw else "-" + ",".join(f"{k}={v}" for k, v in kw.items()))
    label += "-" + "x".join(str(np.shape(a)) for a in args).replace(" ", "")
    ROWS.append(pytest.param(np_fn, fn, tuple(args), kw, dispatch, id=label))


def _lookup(module, name):
    for part in name.split("."):
        module = getattr(module, part, None)
    return module


# ----------------------------------------------------------------------------- elementwise
UNARY = {"sin": v, "cos": v, "tan": unit, "arcsin": unit, "arccos": unit, "arctan": v,
         "sinh": v, "cosh": v, "tanh": v, "arcsinh": v, "arccosh": big, "arctanh": unit,
         "exp": v, "exp2": v, "expm1": v, "log": pos, "log2": pos, "log10": pos, "log1p": pos,
         "sqrt": pos, "cbrt": nz, "square": v, "reciprocal": nz, "abs": nz, "absolute": nz,
         "fabs": nz, "sinc": v, "deg2rad": v, "rad2deg": v, "negative": v, "positive": v,
         "conjugate": v, "real": v, "nan_to_num": v}
for _name, _draw in UNARY.items():
    for _shape in [(), (4,), (2, 3)]:
        row(_name, [_draw(*_shape)])

BINARY = {"add": (v, v), "subtract": (v, v), "multiply": (v, v), "divide": (v, nz),
          "true_divide": (v, nz), "power": (pos, v), "arctan2": (nz, nz),
          "maximum": (distinct, distinct), "minimum": (distinct, distinct),
          "fmax": (distinct, distinct), "fmin": (distinct, distinct), "logaddexp": (v, v),
          "logaddexp2": (v, v), "hypot": (nz, nz), "remainder": (pos, nz), "mod": (pos, nz),
          "fmod": (pos, nz)}
for _name, (_dx, _dy) in BINARY.items():
    for _sx, _sy in [((), ()), ((3,), (3,)), ((2, 1), (3,)), ((), (2, 3))]:
        row(_name, [_dx(*_sx), _dy(*_sy)])

row("where", [v(2, 3), v(3)], np_fn=None, id="where",
    fn=lambda x, y: anp.where(np.array([True, False, True]), x, y))
row("where", [v(3)], np_fn=lambda x: np.where(x > 0, x, 0.0), id="where-np",
    fn=lambda x: anp.where(x > 0, x, 0.0))
row("clip", [distinct(5)], a_min=-0.5, a_max=0.5)
row("clip", [distinct(2, 3)], a_min=None, a_max=0.2)

OPERATORS = {
    "x+y": lambda x, y: x + y, "x-y": lambda x, y: x - y, "x*y": lambda x, y: x * y,
    "x/y": lambda x, y: x / (y + 3.0), "x%y": lambda x, y: (x + 3.0) % 1.7,
    "x**y": lambda x, y: (x * x + 1.0) ** y, "-x": lambda x, y: -x + y,
    "x**2": lambda x, y: x ** 2 + y ** 3, "2**x": lambda x, y: 2.0 ** x + 1 / (y * y + 1),
    "abs": lambda x, y: abs(x + 0.5) * y, "pos": lambda x, y: +x * y,
    "int mix": lambda x, y: 2 * x + True * y - 3,
}
for _name, _fn in OPERATORS.items():
    row(_name, [v(2, 3), v(3)], np_fn=_fn, fn=_fn, id="op " + _name)

# ----------------------------------------------------------------------------- reductions
for _name in ["sum", "mean", "prod", "max", "min", "amax", "amin", "var", "std", "ptp",
              "nansum", "nanmean", "nanmax", "nanmin"]:
    row(_name, [distinct(3, 4)])
    row(_name, [distinct(2, 3, 4)], axis=1)
    row(_name, [distinct(2, 3, 4)], axis=(0, 2), keepdims=True)
    row(_name, [distinct(3, 4)], axis=-1, keepdims=True)
    row(_name, [distinct(5)], axis=0)
row("var", [v(3, 4)], axis=0, ddof=1)
row("std", [v(3, 4)], axis=1, ddof=1, keepdims=True)
row("prod", [np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0]])], id="prod zeros", axis=1)
row("prod", [np.array([2.0, 0.0, -1.0, 3.0, 0.5])], id="prod one zero")
row("average", [v(3, 4)])
row("average", [v(3, 4), pos(4)], np_fn=lambda a, w: np.average(a, axis=1, weights=w),
    fn=lambda a, w: anp.average(a, axis=1, weights=w), id="average weights")
row("median", [distinct(5)])
row("median", [distinct(3, 4)], axis=1)
row("median", [distinct(3, 4)], axis=0, keepdims=True)
for _name in ["cumsum", "cumprod"]:
    row(_name, [v(5)])
    row(_name, [v(3, 4)], axis=0)
    row(_name, [v(2, 3, 4)], axis=-1)
    row(_name, [v(2, 3)])
row("cumprod", [np.array([1.5, 0.0, 2.0, 0.0, 3.0])], id="cumprod zeros")
row("sort", [distinct(6)])
row("sort", [distinct(3, 4)], axis=0)
row("sort", [distinct(3, 4)], axis=None)

# ----------------------------------------------------------------------------- shapes
row("reshape", [v(2, 3)], shape=(3, 2))
row("reshape", [v(2, 3)], shape=(-1,))
row("ravel", [v(2, 3)])
row("transpose", [v(2, 3)])
row("transpose", [v(2, 3, 4)], axes=(1, 2, 0))
row("swapaxes", [v(2, 3, 4)], axis1=0, axis2=2)
row("moveaxis", [v(2, 3, 4)], source=0, destination=-1)
row("moveaxis", [v(2, 3, 4)], source=(0, 1), destination=(2, 0))
row("expand_dims", [v(2, 3)], axis=1)
row("expand_dims", [v(3)], axis=(0, 2))
row("squeeze", [v(1, 3, 1)])
row("squeeze", [v(1, 3, 1)], axis=2)
row("broadcast_to", [v(3, 1)], shape=(2, 3, 4))
row("broadcast_to", [v()], shape=(3,))
for _name in ["concatenate", "stack", "hstack", "vstack", "column_stack", "dstack"]:
    row(_name, [v(3), v(3)], np_fn=lambda x, y, _n=_name: getattr(np, _n)([x, y, x]),
        fn=lambda x, y, _n=_name: getattr(anp, _n)([x, y, x]), id=_name + "-1d")
    row(_name, [v(2, 3), v(2, 3)], np_fn=lambda x, y, _n=_name: getattr(np, _n)([x, y]),
        fn=lambda x, y, _n=_name: getattr(anp, _n)([x, y]), id=_name + "-2d")
row("concatenate", [v(2, 3), v(2, 1)], np_fn=lambda x, y: np.concatenate([x, y], axis=1),
    fn=lambda x, y: anp.concatenate([x, y], axis=1), id="concatenate axis1")
row("concatenate", [v(2, 3), v(1)], np_fn=lambda x, y: np.concatenate([x, y], axis=None),
    fn=lambda x, y: anp.concatenate([x, y], axis=None), id="concatenate axisNone")
row("stack", [v(2, 3), v(2, 3)], np_fn=lambda x, y: np.stack([x, y], axis=-1),
    fn=lambda x, y: anp.stack([x, y], axis=-1), id="stack axis-1")
for _name, _kw in [("split", dict(indices_or_sections=2, axis=1)),
                   ("split", dict(indices_or_sections=[1, 3], axis=1)),
                   ("array_split", dict(indices_or_sections=3, axis=1)),
                   ("hsplit", dict(indices_or_sections=2)),
                   ("vsplit", dict(indices_or_sections=2))]:
    row(_name, [v(2, 4)], np_fn=lambda x, _n=_name, _k=_kw: getattr(np, _n)(x, **_k),
        fn=lambda x, _n=_name, _k=_kw: getattr(anp, _n)(x, **_k), id=f"{_name} {_kw}")
row("broadcast_arrays", [v(3, 1), v(4)], np_fn=lambda x, y: np.broadcast_arrays(x, y),
    fn=lambda x, y: anp.broadcast_arrays(x, y))
for _name in ["atleast_1d", "atleast_2d", "atleast_3d"]:
    for _shape in [(), (3,), (2, 3)]:
        row(_name, [v(*_shape)])
row("tile", [v(2, 3)], reps=(2, 1))
row("tile", [v(3)], reps=2)
row("tile", [v(2)], reps=(2, 2))
row("repeat", [v(2, 3)], repeats=2)
row("repeat", [v(2, 3)], repeats=2, axis=1)
row("repeat", [v(2, 3)], repeats=np.array([1, 0, 3]), axis=1, id="repeat array")
row("flip", [v(2, 3)])
row("flip", [v(2, 3, 2)], axis=(0, 2))
row("fliplr", [v(2, 3)])
row("flipud", [v(2, 3)])
row("roll", [v(5)], shift=2)
row("roll", [v(2, 3)], shift=-1, axis=1)
row("roll", [v(2, 3)], shift=4)
row("roll", [v(2, 3)], shift=(1, 2), axis=(0, 1))
row("rot90", [v(2, 3)])
row("rot90", [v(2, 3)], k=2)
row("rot90", [v(2, 3)], k=3)
row("diag", [v(3)])
row("diag", [v(3)], k=-1)
row("diag", [v(3, 4)])
row("diag", [v(3, 4)], k=1)
row("diagflat", [v(2, 2)])
row("diagonal", [v(3, 4)])
row("diagonal", [v(2, 3, 4)], offset=1, axis1=1, axis2=2)
row("diagonal", [v(2, 3, 4)], offset=-1, axis1=2, axis2=0)
row("trace", [v(3, 3)])
row("trace", [v(2, 3, 4)], offset=1, axis1=1, axis2=2)
row("triu", [v(3, 4)])
row("triu", [v(2, 3, 3)], k=1)
row("tril", [v(3, 4)])
row("tril", [v(3, 4)], k=-1)
row("pad", [v(2, 3)], pad_width=1)
row("pad", [v(2, 3)], pad_width=((0, 1), (2, 0)), constant_values=1.5)
for _mode in ["edge", "reflect", "symmetric", "wrap"]:
    row("pad", [v(3, 4)], pad_width=((1, 2), (2, 1)), mode=_mode)
row("take", [v(5)], indices=np.array([4, 0, 0, 2]))
row("take", [v(3, 4)], indices=np.array([[0, 3], [1, 1]]), axis=1)
row("take", [v(3, 4)], indices=np.array([5, -1]), axis=1, mode="wrap")
row("take", [v(3, 4)], indices=np.array([7, -3]), axis=1, mode="clip")
row("take_along_axis", [v(3, 4)], indices=np.array([[0, 3], [1, 1], [2, 0]]), axis=1)
row("take_along_axis", [v(3, 4)], indices=np.array([[0, 1, 2, 0]]), axis=0)
row("append", [v(2, 2), v(3)])
row("append", [v(2, 2), v(1, 2)], axis=0)
row("delete", [v(2, 4)], obj=1, axis=1)
row("delete", [v(5)], obj=[0, 3])
row("copy", [v(3)])
row("meshgrid", [v(3), v(2)], np_fn=lambda x, y: np.meshgrid(x, y),
    fn=lambda x, y: anp.meshgrid(x, y))
row("meshgrid", [v(3), v(2)], np_fn=lambda x, y: np.meshgrid(x, y, indexing="ij"),
    fn=lambda x, y: anp.meshgrid(x, y, indexing="ij"), id="meshgrid ij")
row("array", [v(), v()], np_fn=lambda x, y: np.array([[x, y], [y, 2.0]]),
    fn=lambda x, y: anp.array([[x, y], [y, 2.0]]), id="array of traced scalars",
    dispatch=False)
row("asarray", [v(), v(3)], np_fn=lambda x, y: np.asarray([x * y[0], y[1], 1.0]),
    fn=lambda x, y: anp.asarray([x * y[0], y[1], 1.0]), id="asarray of traced scalars",
    dispatch=False)
row("select", [v(4), v(4)],
    np_fn=lambda x, y: np.select([x > 0.5, y > 0], [x, y], 0.0),
    fn=lambda x, y: anp.select([x > 0.5, y > 0], [x, y], 0.0))
row("unique", [np.array([2.0, 1.0, 3.0])], np_fn=np.unique, fn=anp.unique)

# ----------------------------------------------------------------------------- indexing
INDICES = {
    "int": (v(4, 3), 1), "negative int": (v(4, 3), -1), "slice step": (v(7), slice(1, 6, 2)),
    "reversed": (v(5), slice(None, None, -1)), "newaxis": (v(3), (None, slice(None))),
    "ellipsis": (v(2, 3, 4), (Ellipsis, 1)), "int array": (v(4, 2), np.array([3, 0, 3])),
    "list": (v(4, 2), [0, 2]), "bool mask": (v(4), np.array([True, False, True, True])),
    "2d mask": (v(2, 3), np.array([[True, False, True], [False, True, True]])),
    "arrays + slice": (v(3, 4), (np.array([0, 2]), slice(1, 3))),
    "two arrays": (v(3, 4), (np.array([0, 2, 2]), np.array([1, 1, 3]))),
    "split arrays": (v(2, 3, 4), (np.array([0, 1]), slice(None), np.array([3, 0]))),
    "2d index": (v(4), np.array([[0, 1], [1, 3]])),
    "mixed": (v(3, 4, 2), (None, 1, Ellipsis, np.array([1, 0]))),
    "empty tuple": (v(2), ()),
}
for _name, (_x, _index) in INDICES.items():
    row("getitem", [_x], np_fn=lambda x, _i=_index: x[_i], fn=lambda x, _i=_index: x[_i],
        id="index " + _name)
AT = {"set": "__setitem__", "add": np.add, "multiply": np.multiply, "divide": np.divide,
      "min": np.minimum, "max": np.maximum, "subtract": np.subtract}


def _numpy_at(x, index, values, how):
    out = np.array(x, dtype=np.result_type(x, values))
    if how == "set":
        out[index] = values
    else:
        AT[how].at(out, index, values)
    return out


for _how in AT:
    for _name, (_shape, _index, _vshape) in {
            "slice": ((3, 4), (slice(1, None), slice(None, None, 2)), (2,)),
            "repeated": ((5,), np.array([0, 3, 0, 0]), (4,)),
            "mask": ((2, 3), np.array([[True, False, True], [False, True, True]]), ()),
            "arrays": ((3, 4), (np.array([0, 2, 0]), np.array([1, 1, 1])), (3,)),
            "ellipsis": ((2, 3), (Ellipsis, 1), (2,))}.items():
        _x, _values = distinct(*_shape), nz(*_vshape)
        row("at", [_x, _values],
            np_fn=lambda x, y, _i=_index, _h=_how: _numpy_at(x, _i, y, _h),
            fn=lambda x, y, _i=_index, _h=_how: getattr(anp.at(x)[_i], _h)(y),
            id=f"at {_how} {_name}", dispatch=False)
row("at", [v(4)], np_fn=lambda x: x[1:3], fn=lambda x: anp.at(x)[1:3].get(), id="at get",
    dispatch=False)
row("at", [v(2, 3), v()], np_fn=lambda x, y: _numpy_at(x, (0, 1), y, "set"),
    fn=lambda x, y: x.at[0, 1].set(y) if isinstance(x, Tracer) else anp.at(x)[0, 1].set(y),
    id="at property", dispatch=False)
row("index_update", [v(4), v()], np_fn=lambda x, y: _numpy_at(x, 2, y, "set"),
    fn=lambda x, y: anp.index_update(x, 2, y), dispatch=False)
row("index_add", [v(4), v(2)], np_fn=lambda x, y: _numpy_at(x, np.array([1, 1]), y, "add"),
    fn=lambda x, y: anp.index_add(x, np.array([1, 1]), y), dispatch=False)

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


# ----------------------------------------------------------------------------- the tests
def _call(fn, args, kw):
    return fn(*args, **kw)


@pytest.mark.parametrize("np_fn,fn,args,kw,dispatch", ROWS)
def test_value_matches_numpy(np_fn, fn, args, kw, dispatch):
    if np_fn is None:
        pytest.skip("no NumPy counterpart")
    expected = np_fn(*args, **kw)
    # evaluated on traced inputs, so the traced code path is the one compared
    out, _ = ad.jvp(lambda *xs: _call(fn, xs, kw), args, tuple(np.zeros_like(a) for a in args))
    for got, want in zip(_flat(out), _flat(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("np_fn,fn,args,kw,dispatch", ROWS)
def test_derivatives_second_order(np_fn, fn, args, kw, dispatch):
    ad.check_grads(lambda *xs: _call(fn, xs, kw), args, order=2, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("np_fn,fn,args,kw,dispatch", ROWS)
def test_numpy_dispatch_same_derivative(np_fn, fn, args, kw, dispatch):
    """The NumPy function itself, called on traced values, differentiates like ad.numpy's."""
    if np_fn is None or not dispatch:
        pytest.skip("no NumPy function to dispatch")
    tangents = tuple(np.random.default_rng(0).standard_normal(np.shape(a)) for a in args)
    _, expected = ad.jvp(lambda *xs: _call(fn, xs, kw), args, tangents)
    _, got = ad.jvp(lambda *xs: _call(np_fn, xs, kw), args, tangents)
    for a, b in zip(_flat(got), _flat(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [np.asarray(leaf) for item in out for leaf in _flat(item)]
    return [np.asarray(out)]


# ----------------------------------------------------------------------------- no derivative
NONDIFF = {"floor": np.floor, "ceil": np.ceil, "round": np.round, "rint": np.rint,
           "trunc": np.trunc, "sign": np.sign, "floor_divide": lambda x: x // 0.7,
           "isnan": np.isnan, "isfinite": np.isfinite, "less": lambda x: x < 0.1,
           "greater_equal": lambda x: x >= 0.1, "equal": lambda x: x == x,
           "argmax": np.argmax, "argmin": lambda x: np.argmin(x, axis=0),
           "argsort": np.argsort, "nonzero": lambda x: np.isin(np.arange(5), np.nonzero(x > 0)[0]),
           "count_nonzero": lambda x: np.count_nonzero(x > 0), "all": lambda x: np.all(x > -9),
           "any": lambda x: np.any(x > 0), "searchsorted": lambda x: np.searchsorted(x, 0.0),
           "isclose": lambda x: np.isclose(x, x)}


@pytest.mark.parametrize("name", sorted(NONDIFF))
def test_non_differentiable_functions_pass_values_with_zero_derivative(name):
    f = NONDIFF[name]
    x = np.sort(v(5))
    g = ad.grad(lambda x_: anp.sum(x_ * anp.asarray(f(x_), dtype=float)))(x)
    np.testing.assert_allclose(g, np.asarray(f(x), dtype=float))
    out, tangent = ad.jvp(lambda x_: anp.asarray(f(x_), dtype=float), (x,), (np.ones(5),))
    np.testing.assert_allclose(out, np.asarray(f(x), dtype=float))
    np.testing.assert_array_equal(tangent, 0.0)


def test_unique_with_repeats_gathers_first_occurrences():
    x = np.array([2.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(anp.unique(x), [1.0, 2.0, 3.0])
    g = ad.grad(lambda x_: anp.sum(anp.unique(x_) * np.array([1.0, 2.0, 3.0])))(x)
    np.testing.assert_array_equal(g, [2.0, 1.0, 0.0, 3.0])


# ----------------------------------------------------------------------------- hypothesis
REDUCTIONS = ["sum", "mean", "prod", "max", "min", "var", "std", "ptp", "nansum"]


@st.composite
def shape_axis(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1) |
                st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape),
                         unique=True).map(tuple))
    return shape, axis, draw(st.booleans())


@pytest.mark.parametrize("name", REDUCTIONS)
@given(spec=shape_axis(), seed=st.integers(0, 2 ** 16))
def test_reductions_any_axis(name, spec, seed):
    shape, axis, keepdims = spec
    x = np.random.default_rng(seed).permutation(math.prod(shape)).reshape(shape) * 0.3 + 0.1
    fn = getattr(anp, name)
    np.testing.assert_allclose(fn(x, axis=axis, keepdims=keepdims),
                               getattr(np, name)(x, axis=axis, keepdims=keepdims))
    ad.check_grads(lambda x_: fn(x_, axis=axis, keepdims=keepdims), (x,), order=2,
                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "sort"])
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
       data=st.data())
def test_scans_any_axis(name, shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(0).permutation(math.prod(shape)).reshape(shape) * 0.3 - 0.5
    fn = getattr(anp, name)
    np.testing.assert_allclose(fn(x, axis=axis), getattr(np, name)(x, axis=axis))
    ad.check_grads(lambda x_: fn(x_, axis=axis), (x,), order=2, rtol=1e-4, atol=1e-5)


@given(data=st.data())
def test_basic_indexing_any_index(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    x = v(*shape)
    np.testing.assert_array_equal(ad.jvp(lambda x_: x_[index], (x,), (x,))[0], x[index])
    ad.check_grads(lambda x_: x_[index] ** 2, (x,), order=2)


@given(data=st.data())
def test_integer_array_indexing_and_at(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5))
    index = data.draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(
        min_dims=1, max_dims=2, max_side=4)))
    x = distinct(*shape)
    values = nz(*x[index].shape)
    np.testing.assert_array_equal(ad.jvp(lambda x_: x_[index], (x,), (x,))[0], x[index])
    ad.check_grads(lambda x_: x_[index] ** 2, (x,), order=2)
    for how in ["set", "add", "multiply"]:
        expected = _numpy_at(x, index, values, how)
        np.testing.assert_allclose(getattr(anp.at(x)[index], how)(values), expected)
        ad.check_grads(lambda x_, y_: getattr(anp.at(x_)[index], how)(y_), (x, values),
                       order=2, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["sin", "exp", "tanh", "arctan", "square", "logaddexp",
                                  "maximum", "hypot", "multiply", "subtract"])
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 2 ** 16))
def test_elementwise_dispatch_broadcast(name, shapes, seed):
    r = np.random.default_rng(seed)
    np_fn = getattr(np, name)
    xs = [r.standard_normal(s) + 0.1 for s in shapes.input_shapes[:np_fn.nin]]
    np.testing.assert_allclose(ad.jvp(lambda *a: np_fn(*a), xs, xs)[0], np_fn(*xs))
    ad.check_grads(lambda *a: np_fn(*a), xs, order=2, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- dtypes
FLOAT32 = {
    "sum": lambda x: anp.sum(x, axis=0), "mean": anp.mean, "prod": lambda x: anp.prod(x),
    "var": anp.var, "std": anp.std, "cumsum": anp.cumsum, "cumprod": anp.cumprod,
    "sort": anp.sort, "max": anp.max, "norm": anp.linalg.norm,
    "matrix norm 2": lambda x: anp.linalg.norm(x, 2), "index": lambda x: x[::2, 1],
    "at set": lambda x: x.at[0].set(2.0), "at multiply": lambda x: x.at[0, 1].multiply(x[1, 1]),
    "pad": lambda x: anp.pad(x, 1), "tril": anp.tril, "roll": lambda x: anp.roll(x, 1),
    "einsum": lambda x: anp.einsum("ij,jk->ik", x, x), "kron": lambda x: anp.kron(x, x),
    "inv": anp.linalg.inv, "solve": lambda x: anp.linalg.solve(x, x[0]),
    "det": anp.linalg.det, "slogdet": lambda x: anp.linalg.slogdet(x)[1],
    "cholesky": lambda x: anp.linalg.cholesky(x @ x.T), "eigh": lambda x: anp.linalg.eigh(
        x + x.T)[0], "svd": lambda x: anp.linalg.svd(x, compute_uv=False),
    "qr": lambda x: anp.linalg.qr(x)[1], "pinv": anp.linalg.pinv,
    "matrix_power": lambda x: anp.linalg.matrix_power(x, 3), "mixed python": lambda x: 2 * x +
    1.5 - True, "where": lambda x: anp.where(x > 0, x, 0.0), "clip": lambda x: anp.clip(x, 0, 1),
}


@pytest.mark.parametrize("name", sorted(FLOAT32))
def test_float32_stays_float32(name):
    f = FLOAT32[name]
    x = (np.eye(3) * 3 + v(3, 3) * 0.3).astype(np.float32)
    out, tangent = ad.jvp(f, (x,), (np.ones_like(x),))
    assert np.asarray(out).dtype == np.float32 and np.asarray(tangent).dtype == np.float32
    g = ad.grad(lambda x_: anp.sum(f(x_)))(x)
    assert g.dtype == np.float32


def test_int_and_bool_mix_like_numpy():
    x = np.array([1.0, 2.0])
    g = ad.grad(lambda x_: anp.sum(x_ * np.array([1, 2]) + np.array([True, False]) * x_))(x)
    np.testing.assert_allclose(g, [2.0, 2.0])
    assert (ad.jvp(lambda x_: x_ + 1, (x,), (x,))[0]).dtype == np.float64


# ----------------------------------------------------------------------------- fill values
def test_traced_pad_value_keeps_its_derivative():
    """Regression: np.pad(..., constant_values=T) dropped T's derivative (3.0 for 5.0)."""
    f = lambda T: np.sum(np.pad(T * np.ones(3), 1, constant_values=T))  # noqa: E731
    assert float(ad.grad(f)(2.0)) == 5.0
    assert float(ad.jvp(f, (2.0,), (1.0,))[1]) == 5.0
    per_axis = lambda T: anp.sum(anp.pad(np.ones((2, 2)), ((1, 0), (0, 2)),  # noqa: E731
                                         constant_values=((T, 2 * T), (3 * T, 4 * T))))
    assert float(ad.grad(per_axis)(2.0)) == 2 * 1 + 4 * 6
    ad.check_grads(lambda x: anp.pad(x[:2], ((1, 2),), constant_values=x[2]),
                   (np.array([1.0, 2.0, 3.0]),), order=2)


def test_traced_fill_value_keeps_its_derivative():
    """Regression: np.full_like(x, x[0]) dropped the fill value's derivative ([0, 0])."""
    g = ad.grad(lambda x: np.sum(np.full_like(x, x[0])))(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g, [2.0, 0.0])
    assert float(ad.grad(lambda v: anp.sum(anp.full_like(np.ones(3), v)))(1.0)) == 3.0
    assert float(ad.grad(lambda v: anp.sum(anp.full((2, 2), v)))(1.0)) == 4.0
    assert anp.full_like(np.ones(2, np.float32), 2.5).dtype == np.float32
    np.testing.assert_array_equal(anp.full(3, 2.0), np.full(3, 2.0))


def test_numpy_full_with_traced_value_names_the_fix():
    with pytest.raises(ad.errors.InPlaceError, match="ad.numpy.full_like"):
        ad.grad(lambda v: np.sum(np.full_like(np.ones(2), v)))(1.0)


def test_input_cotangent_takes_the_input_dtype():
    """Regression: float32 input times a float64 constant gave a float64 gradient."""
    x = np.ones(3, np.float32)
    assert ad.grad(lambda x_: anp.sum(x_ * np.float64(2.0)))(x).dtype == np.float32
    assert ad.grad(lambda x_: anp.sum(x_ * np.ones(3)))(x).dtype == np.float32
    assert ad.vjp(lambda x_: x_ * np.ones(3), x)[1](np.ones(3))[0].dtype == np.float32
    assert ad.jacrev(lambda x_: x_ * np.ones(3))(x).dtype == np.float32
    np.testing.assert_allclose(ad.grad(lambda x_: anp.sum(x_ * np.float64(2.0)))(x), 2.0)
