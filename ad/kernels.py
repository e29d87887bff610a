"""Elementwise kernels: value and partial derivatives in one pass, and fused accumulation.

Two paths compute the same thing:

* the NumPy reference path (`value_and_partials_numpy`): plain ufunc calls; it serves small
  inputs, where call overhead dominates, and runs when `NUMBA_DISABLE_JIT=1`;
* the Numba path: for each elementwise primitive, one loop computes the value and the
  partials it needs, and `accumulate` does `acc += partial * cotangent` in place. The loop
  calls the primitive's own `value` and partial functions compiled by Numba, so no
  derivative formula is written twice. Kernels compile lazily on first use (never at
  import) and are cached on disk.

How the Numba path caches. Numba's on-disk cache only works for functions that live in a
real source file (closures and functions passed as arguments recompile in every process).
So on first use of a primitive this module writes a small Python module into the kernel
cache directory (`$AD_KERNEL_CACHE`, else `$XDG_CACHE_HOME/ad/kernels`, else
`~/.cache/ad/kernels`) that imports the primitive's `value` and partial functions by
module and qualified name (a NumPy ufunc value gets a one-line wrapper), wraps them with
`numba.njit` and defines the loop kernels with `numba.njit(cache=True)`. The file name
carries a hash of the functions' source, the constants they read, and the Python, NumPy
and Numba versions, so an edited formula gets a fresh file and a stale cache is never used.

A primitive stays on the NumPy path, for good and without a second attempt, when its
functions cannot be imported by name (lambdas, closures, `__main__`, notebooks) or Numba
cannot compile them; the user never sees the failure. The Numba path is taken only for
float32/float64 C-contiguous arrays of one shape and dtype (a binary op's other argument
may be a Python number or a NumPy scalar of the same dtype) with at least
`NUMBA_MIN_SIZE` elements; everything else (broadcasting, integers, small arrays) uses
NumPy.

What goes into the loop (measured on 10^6 float64/float32 elements, see `_NATIVE`). Numba
has no SIMD math library here, so exp, log, tanh, `**`... are scalar libm calls in a
Numba loop, while NumPy's loops for them are vectorised (AVX-512) and several times
faster. Hence, per primitive and dtype, from the functions' source (`ast`):

* a value that is a NumPy ufunc of that kind (tanh, log, arctan...) is computed by NumPy
  first, and the loop computes the partials from the inputs and that output (tanh's
  `1 - y*y` in one pass, without NumPy's temporaries); other values (division, sqrt,
  maximum, Python-function values like sinc, and float64 sin/cos, whose NumPy loops are
  scalar too) are computed in the same loop as their partials;
* partials that call such functions (sinh's cosh, power's `**` and log), partials that are
  one of the arguments (exp's is its output, returned as is), and partials that read
  scalar arguments only (`x / 2`'s is `1 / 2`) are computed the NumPy way, outside the
  loop; when no partial is left for the loop, the whole call uses the NumPy path.

Imports numpy at import time and numba only on first use; knows primitives through the
attributes they carry (`name`, `value`, `partials`, `kernel`).
"""
from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import math
import os
import re
import sys
import textwrap
import threading
import warnings
from typing import Callable, Sequence

import numpy as np

#: Arrays with fewer elements than this use the NumPy path (Numba's dispatch costs more).
NUMBA_MIN_SIZE = 10_000
#: The same threshold for `accumulate`.
ACCUMULATE_MIN_SIZE = 10_000

#: Bump when the generated source changes shape (part of every generated file's hash).
_TEMPLATE_VERSION = "2"

#: Functions Numba lowers to machine instructions (LLVM vectorises a loop of them), and
#: the operators. Other functions (exp, log, tanh, `**`...) become scalar libm calls in a
#: Numba loop, slower than NumPy's SIMD loops for them: a value of that kind is computed by
#: its NumPy ufunc before the loop, and a partial of that kind the NumPy way after it.
_NATIVE = frozenset({"add", "subtract", "multiply", "divide", "true_divide", "negative",
                     "positive", "square", "reciprocal", "sqrt", "absolute", "fabs", "abs",
                     "maximum", "minimum", "fmax", "fmin", "max", "min", "remainder", "fmod",
                     "deg2rad", "rad2deg", "copysign", "floor", "ceil", "trunc", "rint",
                     "sign", "float"})
#: Functions whose NumPy loop is scalar libm too (NumPy 2 on x86-64, measured), per dtype:
#: a Numba loop computing them loses nothing and saves passes over memory.
_SCALAR_IN_NUMPY = {"d": frozenset({"sin", "cos", "hypot"}), "f": frozenset({"hypot"})}

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_lock = threading.RLock()
_numba = None            # the numba module once imported; False when unusable
_kernel_sets: dict = {}  # primitive -> _KernelSet, or None when it stays on NumPy
_common = None           # the generated module of `accumulate`, `scatter_add`; False: unusable


def value_and_partials_numpy(primitive, xs: Sequence[np.ndarray], needs: Sequence[bool]):
    """Reference path: y = value(*xs), then each needed partial(*xs, y)."""
    y = primitive.value(*xs)
    xs = numpy_scalars(xs)
    return y, tuple([same_dtype(partial(*xs, y), y) if need else None
                     for partial, need in zip(primitive.partials, needs)])


_PYTHON_NUMBERS = (int, float, complex)


def numpy_scalars(xs: Sequence) -> Sequence:
    """Python numbers as NumPy scalars, for a partial: its formula then follows NumPy (1 / 0
    is inf, not ZeroDivisionError; a complex number has a dtype, so log(c) takes its
    branch, not log |c|). The value keeps the Python numbers (NumPy's weak promotion), and
    `same_dtype` gives the partial the output's dtype."""
    for x in xs:                 # on every elementwise entry: a plain loop, no generator
        if type(x) in _PYTHON_NUMBERS:
            return [np.asarray(x)[()] if type(x) in _PYTHON_NUMBERS else x for x in xs]
    return xs


def same_dtype(partial, y):
    """A partial as an array of the output's float dtype (comparisons give bools, and
    float64 scalars would upcast float32 derivatives)."""
    if type(partial) is np.ndarray or isinstance(partial, np.generic):
        dtype = y.dtype
        if partial.dtype == dtype or dtype.kind not in "fc":
            return partial
        if partial.dtype.kind == "c":    # complex at the output's precision (a Python
            # complex constant is complex128 here, NumPy's weak one complex64 by float32)
            wanted = np.result_type(dtype, np.complex64)
            return partial if partial.dtype == wanted else partial.astype(wanted)
        return partial.astype(dtype)
    return partial


def value_and_partials(primitive, xs: Sequence, needs: Sequence[bool]):
    """Value and needed partials of an elementwise primitive on plain arrays."""
    if primitive.kernel and True in needs:
        layout = _layout(xs)
        if layout is not None:
            result = value_and_partials_numba(primitive, xs, needs, layout)
            if result is not None:
                return result
    return value_and_partials_numpy(primitive, xs, needs)


def accumulate(acc: np.ndarray, partial, cotangent: np.ndarray) -> np.ndarray:
    """acc += partial * cotangent, in place (shapes and dtypes already agree)."""
    if (acc.size >= ACCUMULATE_MIN_SIZE and type(partial) is np.ndarray
            and type(cotangent) is np.ndarray and acc.dtype in _FLOAT_DTYPES
            and partial.dtype == acc.dtype == cotangent.dtype
            and partial.shape == acc.shape == cotangent.shape
            and acc.flags.c_contiguous and partial.flags.c_contiguous
            and cotangent.flags.c_contiguous):
        if accumulate_numba(acc, partial, cotangent):
            return acc
    acc += partial * cotangent
    return acc


# ----------------------------------------------------------------------------- dispatch
def _layout(xs: Sequence):
    """(pattern, shape, dtype) when the inputs suit a kernel, else None. The pattern has
    'a' for an array argument and 's' for a scalar one."""
    shape = dtype = None
    for x in xs:
        if type(x) is np.ndarray:
            if shape is None:
                if x.size < NUMBA_MIN_SIZE or x.dtype not in _FLOAT_DTYPES:
                    return None
                shape, dtype = x.shape, x.dtype
            elif x.shape != shape or x.dtype != dtype:
                return None
            if not x.flags.c_contiguous:
                return None
    if shape is None:
        return None
    pattern = ""
    for x in xs:
        if type(x) is np.ndarray:
            pattern += "a"
        elif type(x) is float or (type(x) is int and abs(x) < 2 ** 53):
            pattern += "s"  # a weak Python scalar: NumPy keeps the array's dtype
        elif isinstance(x, np.floating) and x.dtype == dtype:
            pattern += "s"
        else:
            return None
    return pattern, shape, dtype


def value_and_partials_numba(primitive, xs: Sequence, needs: Sequence[bool], layout=None):
    """The Numba path, or None when it does not apply (then use the NumPy path)."""
    if layout is None:
        layout = _layout(xs)
        if layout is None:
            return None
    kernel_set = _kernel_sets.get(primitive, False)
    if kernel_set is False:
        kernel_set = _kernel_set(primitive)
    if kernel_set is None:
        return None
    return kernel_set.run(xs, needs, *layout)


def accumulate_numba(acc, partial, cotangent) -> bool:
    """acc += partial * cotangent with the fused kernel; False when Numba is unusable."""
    global _common
    common = _common
    if common is None:
        common = _load_common()
    if common is False:
        return False
    key = acc.dtype.char
    if key not in common._ready:
        with _lock:
            try:
                _compile_call(common.accumulate, acc.reshape(-1), partial.reshape(-1),
                              cotangent.reshape(-1))
            except Exception:
                _common = False
                return False
            common._ready.add(key)
        return True
    common.accumulate(acc.reshape(-1), partial.reshape(-1), cotangent.reshape(-1))
    return True


def scatter_add(out: np.ndarray, positions: np.ndarray, values: np.ndarray) -> None:
    """out[b, positions[k]] += values[b, k] for every b and k, in place, repeated positions
    summed (`np.add.at`'s meaning: one pass, where NumPy's add.at on a block of rows is
    an order of magnitude slower). `out` is (B, P), `values` (B, K), `positions` (K,)."""
    if (out.dtype == values.dtype and out.dtype.kind in "fc" and out.flags.c_contiguous
            and values.flags.c_contiguous and out.shape[0] > 1):
        global _common
        common = _common if _common is not None else _load_common()
        if common is not False:
            key = "scatter" + out.dtype.char
            if key not in common._ready:
                with _lock:
                    try:
                        _compile_call(common.scatter_add, out, positions, values)
                    except Exception:
                        _common = False
                    else:
                        common._ready.add(key)
                        return
            else:
                common.scatter_add(out, positions, values)
                return
    if out.shape[0] == 1:
        np.add.at(out[0], positions, values[0])
    else:
        np.add.at(out, (slice(None), positions), values)


def _compile_call(kernel, *args):
    """Call a kernel for the first time with given types (it may compile), quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kernel(*args)


# ----------------------------------------------------------------------------- numba and cache dir
def numba_available() -> bool:
    """Whether the Numba path can run: numba importable and JIT not disabled."""
    global _numba
    if _numba is None:
        with _lock:
            if _numba is None:
                _numba = _import_numba()
    return _numba is not False


def _import_numba():
    if os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return False
    if importlib.util.find_spec("numba") is None:
        return False
    try:
        import numba
    except Exception:
        return False
    if numba.config.DISABLE_JIT:
        return False
    _register_overloads(numba)
    return numba


def _register_overloads(numba) -> None:
    """Teach Numba the catalogue's own helpers that rules call (`is_complex`: a fact of
    the value's type, a constant in compiled code), so those rules compile too."""
    from numba.core import types
    from numba.extending import overload

    from ad.primitive import is_complex

    @overload(is_complex)
    def _is_complex(value):
        result = isinstance(value.dtype if isinstance(value, types.Array) else value,
                            types.Complex)
        return lambda value: result


def cache_dir() -> str:
    """Where generated kernel modules (and Numba's cache of them) live."""
    path = os.environ.get("AD_KERNEL_CACHE")
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".cache")
        path = os.path.join(base, "ad", "kernels")
    return path


def _versions() -> str:
    return (f"template={_TEMPLATE_VERSION} python={sys.version_info[:3]} "
            f"numpy={np.__version__} numba={_numba.__version__}")


def _import_generated(stem: str, source: str):
    """Write `source` as `<cache dir>/<stem>.py` unless present, and import it."""
    directory = cache_dir()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, stem + ".py")
    if not os.path.exists(path):
        # Write then rename: a reader never sees half a file, and an existing file keeps
        # its timestamp (Numba's cache index is keyed on it).
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(source)
        try:
            if not os.path.exists(path):
                os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    name = "_ad_kernels_" + stem
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    module._ready = set()
    return module


_COMMON_SOURCE = '''\
"""Generated by ad.kernels: the fused reverse accumulation. Safe to delete."""
import numba


@numba.njit(cache=True, nogil=True, error_model="numpy")
def accumulate(acc, partial, cotangent):
    for i in range(acc.shape[0]):
        acc[i] += partial[i] * cotangent[i]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def scatter_add(out, positions, values):
    for b in range(out.shape[0]):
        for k in range(positions.shape[0]):
            out[b, positions[k]] += values[b, k]
'''


def _load_common():
    global _common
    with _lock:
        if _common is None:
            _common = False
            if numba_available():
                digest = _digest(_COMMON_SOURCE + _versions())
                try:
                    _common = _import_generated(f"common_{digest}", _COMMON_SOURCE)
                except Exception:
                    _common = False
        return _common


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- generated kernels
class _Unsupported(Exception):
    """A primitive whose functions the kernel generator cannot reference or compile."""


class _Function:
    """How the generated module reaches one of the primitive's functions, and what the
    kernels may skip: `alias` is the argument a partial merely returns, `uses` the
    arguments it reads."""

    def __init__(self, fn: Callable, nargs: int, is_value: bool) -> None:
        fn = getattr(fn, "real_form", fn)   # a rule's branch for real values, if it names one
        self.fn = fn
        self.alias = None
        self.uses = set(range(nargs))
        if isinstance(fn, np.ufunc):
            if getattr(np, fn.__name__, None) is not fn or fn.nin != nargs or fn.nout != 1:
                raise _Unsupported(f"ufunc {fn!r}")
            self.ufunc = fn.__name__
            self.fingerprint = f"ufunc np.{fn.__name__}"
            return
        self.ufunc = None
        self.calls: set[str] = set()
        module = getattr(fn, "__module__", None)
        qualname = getattr(fn, "__qualname__", "")
        if (not isinstance(fn, type(_layout)) or not module or module == "__main__"
                or "<" in qualname or not all(p.isidentifier() for p in qualname.split("."))):
            raise _Unsupported(f"{fn!r} is not importable by name")
        target = sys.modules.get(module)
        for part in qualname.split("."):
            target = getattr(target, part, None)
        if target is not fn:
            raise _Unsupported(f"{fn!r} is not importable by name")
        try:
            source = textwrap.dedent(inspect.getsource(fn))
            tree = ast.parse(source)
        except (OSError, TypeError, SyntaxError) as error:
            raise _Unsupported(f"no source for {fn!r}") from error
        self.module, self.qualname = module, qualname
        code = fn.__code__
        if code.co_argcount != nargs or fn.__defaults__ or fn.__kwdefaults__ or fn.__closure__:
            raise _Unsupported(f"{fn!r}: unexpected signature")
        # The constants a formula reads from its module are frozen into the machine code,
        # so they are part of the fingerprint along with the source.
        constants = sorted((name, repr(fn.__globals__[name])) for name in code.co_names
                           if isinstance(fn.__globals__.get(name), (int, float, complex)))
        self.fingerprint = f"{module}.{qualname}\n{source}\n{constants}"
        if not is_value:
            self._analyse(tree, list(code.co_varnames[:nargs]))

    def _analyse(self, tree, params: list[str]) -> None:
        func = tree.body[0] if tree.body else None
        if not isinstance(func, ast.FunctionDef):
            self.calls = {"?"}
            return
        body = [node for node in func.body
                if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        if (len(body) == 1 and isinstance(body[0], ast.Return)
                and isinstance(body[0].value, ast.Name) and body[0].value.id in params):
            self.alias = params.index(body[0].value.id)
        names = {node.id for node in ast.walk(func) if isinstance(node, ast.Name)}
        self.uses = {i for i, name in enumerate(params) if name in names}
        self.calls = set()
        for node in ast.walk(func):
            if isinstance(node, ast.Call):
                callee = node.func
                self.calls.add(callee.attr if isinstance(callee, ast.Attribute)
                               else getattr(callee, "id", "?"))
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
                self.calls.add("power")

    def vectorises(self, char: str) -> bool:
        """Whether a Numba loop computes this function as fast as NumPy would, in dtype
        `char` ('d' or 'f')."""
        calls = {self.ufunc} if self.ufunc else self.calls
        return not (calls - _NATIVE - _SCALAR_IN_NUMPY[char])


def _kernel_source(primitive, value: _Function, partials: list[_Function | None]) -> str:
    arity = len(partials)
    lines = [f'"""Generated by ad.kernels for primitive {primitive.name!r}. Safe to delete."""',
             "import numpy as np", "import numba", ""]
    args = ", ".join(f"x{i}" for i in range(arity))
    functions = [("value", value)] + [(f"p{i}", p) for i, p in enumerate(partials)]
    for k, (name, fn) in enumerate(functions):
        if fn is None:
            continue
        if fn.ufunc:
            lines += ["", f"def _{name}_py({args}):", f"    return np.{fn.ufunc}({args})", ""]
        else:
            lines.append(f"import {fn.module} as _m{k}")
            lines.append(f"_{name}_py = _m{k}.{fn.qualname}")
    lines += ["", '_inline = numba.njit(error_model="numpy", inline="always")']
    for name, fn in functions:
        if fn is not None:
            lines.append(f"_{name} = _inline(_{name}_py)")
    # One kernel per pattern of array/scalar arguments and set of partials in the loop, in
    # two kinds: "k" computes the value in the loop too, "h" finds it already in `out`
    # (computed by its NumPy ufunc).
    values = ", ".join(f"a{i}" for i in range(arity))
    for pattern in _patterns(arity):
        for mask in range(1, 2 ** arity):
            loop = [i for i in range(arity) if mask >> i & 1]
            if any(partials[i] is None for i in loop):
                continue
            params = [f"x{i}" for i in range(arity)] + ["out"] + [f"d{i}" for i in loop]
            for kind in "kh":
                lines += ["", "", '@numba.njit(cache=True, nogil=True, error_model="numpy")',
                          f"def {_kernel_name(pattern, loop, kind)}({', '.join(params)}):"]
                lines += [f"    a{i} = x{i}" for i in range(arity) if pattern[i] == "s"]
                lines.append("    for i in range(out.shape[0]):")
                lines += [f"        a{i} = x{i}[i]" for i in range(arity) if pattern[i] == "a"]
                if kind == "k":
                    lines.append(f"        out[i] = _value({values})")
                lines.append("        y = out[i]")
                lines += [f"        d{i}[i] = _p{i}({values}, y)" for i in loop]
    return "\n".join(lines) + "\n"


def _patterns(arity: int) -> list[str]:
    patterns = [""]
    for _ in range(arity):
        patterns = [p + c for p in patterns for c in "as"]
    return [p for p in patterns if "a" in p]


def _kernel_name(pattern: str, loop: Sequence[int], kind: str = "k") -> str:
    return f"{kind}_{pattern}_" + "".join(str(i) for i in loop)


def _kernel_set(primitive):
    """The primitive's kernels (generating and importing their module), or None."""
    with _lock:
        if primitive in _kernel_sets:
            return _kernel_sets[primitive]
        kernel_set = None
        try:
            if numba_available():
                kernel_set = _KernelSet(primitive)
        except Exception:
            kernel_set = None
        _kernel_sets[primitive] = kernel_set
        return kernel_set


class _KernelSet:
    """A primitive's generated module and the per-call choice of kernel."""

    def __init__(self, primitive) -> None:
        partials = primitive.partials
        arity = len(partials)
        if not 1 <= arity <= 3:
            raise _Unsupported(f"arity {arity}")
        self.primitive = primitive
        self.value = _Function(primitive.value, arity, True)
        self.partials = [None if p is None else _Function(p, arity + 1, False)
                         for p in partials]
        source = _kernel_source(primitive, self.value, self.partials)
        fingerprint = "\n".join([source, _versions(), self.value.fingerprint]
                                + [p.fingerprint for p in self.partials if p is not None])
        stem = re.sub(r"\W", "_", primitive.name)[:40] + "_" + _digest(fingerprint)
        self.module = _import_generated(stem, source)
        self.plans: dict = {}

    def _plan(self, pattern: str, needs: tuple, char: str):
        """Which partials the loop computes, and the kernel (None: use the NumPy path).

        Left out of the loop, and computed the NumPy way: partials that are one of the
        arguments (exp's is its output), that read scalar arguments only (x / 2's is 1 / 2),
        and those calling functions NumPy computes faster (see `_NATIVE`)."""
        loop = []
        for i, need in enumerate(needs):
            partial = self.partials[i]
            if not need or partial is None or partial.alias is not None:
                continue
            if all(j < len(pattern) and pattern[j] == "s" for j in partial.uses):
                continue
            if partial.vectorises(char):
                loop.append(i)
        if not loop:
            return None
        # Python-function values (sinc) are composites: one loop beats their temporaries.
        fused = self.value.ufunc is None or self.value.vectorises(char)
        return loop, fused, getattr(self.module, _kernel_name(pattern, loop, "kh"[not fused]))

    def run(self, xs, needs, pattern, shape, dtype):
        key = (pattern, tuple(needs), dtype.char)
        plan = self.plans.get(key, False)
        if plan is False:
            plan = self.plans[key] = self._plan(*key)
        if plan is None:
            return None
        loop, fused, kernel = plan
        n = math.prod(shape)
        args = [x.reshape(-1) if p == "a" else dtype.type(x) for x, p in zip(xs, pattern)]
        if fused:
            out = np.empty(n, dtype)
        else:
            out = self.primitive.value(*xs)
            if (type(out) is not np.ndarray or out.dtype != dtype or out.shape != shape
                    or not out.flags.c_contiguous):
                return None
            out = out.reshape(-1)
        ds = [np.empty(n, dtype) for _ in loop]
        ready = (kernel.__name__, dtype.char)
        if ready in self.module._ready:
            kernel(*args, out, *ds)
        else:
            with _lock:
                try:
                    _compile_call(kernel, *args, out, *ds)
                except Exception:
                    # Numba cannot compile this primitive's functions: NumPy from now on.
                    _kernel_sets[self.primitive] = None
                    return None
                self.module._ready.add(ready)
        out = out.reshape(shape)
        partials = []
        for i, need in enumerate(needs):
            if not need or self.partials[i] is None:
                partials.append(None)
            elif i in loop:
                partials.append(ds[loop.index(i)].reshape(shape))
            else:  # left out of the loop (see `_plan`): the NumPy way
                partials.append(same_dtype(self.partials[i].fn(*xs, out), out))
        return out, tuple(partials)
