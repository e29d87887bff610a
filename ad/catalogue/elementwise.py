"""Elementwise primitives: one line of value and partials per function, grouped by family.

Each partial is `d y / d x_i` as a function of the inputs and the output `y`, written with
NumPy ufuncs and operators only, so it runs on arrays, on traced values (and so can be
differentiated again) and inside the Numba kernels. Constants are Python floats, which keep
float32 inputs in float32. Conventions at non-differentiable points (collected in
docs/conventions.md): abs and sign-like kinks take the subgradient 0 at 0; maximum/minimum
split the derivative evenly at ties (fmax/fmin likewise, and give it all to the non-NaN
argument); sqrt and cbrt have the one-sided derivative +inf at 0; hypot's partials are 0 at
the origin and sinc's derivative is 0 at 0, never NaN; floor, ceil, round, sign and
comparisons are constants (derivative 0); remainder and fmod have d/dx = 1 everywhere.
Imports `ad.catalogue.define` and numpy only.
"""
from __future__ import annotations

import math

import numpy as np

from ad.catalogue.define import REAL, defelementwise, deflinear, defnondiff, defprimitive
from ad.catalogue.structure import unbroadcast
from ad import primitive as _primitive
from ad.primitive import ZERO, Counts, is_complex

POSITIVE = (0.0, math.inf)
NONZERO = "nonzero"
UNIT = (-1.0, 1.0)
LN2 = math.log(2.0)
LN10 = math.log(10.0)


# ----------------------------------------------------------------------------- linear arithmetic
def _one(x, y, out): return 1.0
def _minus_one(x, y, out): return -1.0
def _negative_d(x, out): return -1.0


defelementwise("add", np.add, (_one, _one), flops=1, partial_flops=0, linear=True,
               numpy=np.add, complex="holomorphic")
defelementwise("subtract", np.subtract, (_one, _minus_one), flops=1, partial_flops=0,
               linear=True, numpy=np.subtract, complex="holomorphic")
defelementwise("negative", np.negative, (_negative_d,), flops=1, partial_flops=0,
               linear=True, numpy=np.negative, complex="holomorphic")


# ----------------------------------------------------------------------------- products and powers
def _mul_dx(x, y, out): return y
def _mul_dy(x, y, out): return x
def _div_dx(x, y, out): return 1.0 / y
def _div_dy(x, y, out): return -out / y
def _pow_dx(x, y, out):
    # 0 * x**0 at x == y == 0, not 0 * inf; only there, since the exponent's shift is a
    # constant to the rule's own derivative in y (1/x at y == 0 elsewhere, not 1)
    return y * x ** (y - 1.0 + ((y == 0) & (x == 0)))
def _pow_dy(x, y, out):
    # log x (principal branch) for complex x; log |x| for real x, whose negative values
    # only have real powers at integer y
    return out * np.log((x if is_complex(x) else np.abs(x)) + (x == 0))
def _square_d(x, out): return 2.0 * x
def _reciprocal_d(x, out): return -out * out
def _sqrt_d(x, out): return 0.5 / out
def _cbrt_d(x, out): return 1.0 / (3.0 * out * out)


multiply = defelementwise("multiply", np.multiply, (_mul_dx, _mul_dy), flops=1,
                          partial_flops=0, numpy=np.multiply, kernel=False, complex="holomorphic")
defelementwise("true_divide", np.true_divide, (_div_dx, _div_dy), flops=4, partial_flops=5,
               domain=(REAL, NONZERO), numpy=np.true_divide, complex="holomorphic")
power = defelementwise("power", np.power, (_pow_dx, _pow_dy), flops=20, partial_flops=45,
               domain=(POSITIVE, REAL), numpy=np.power, complex="holomorphic")


# x ** n for a constant integer n (JAX's integer_pow): exact at x == 0 to every order, where
# power's y * x ** (y - 1) would meet 0 * inf. Its derivative is written with itself.
def _integer_pow(x, *, n):
    return np.power(x, n)


def _integer_pow_rule(t, out, x, *, n):
    if n == 0:
        return ZERO
    if n == 1:
        return t
    return t * (n * (x if n == 2 else integer_pow(x, n=n - 1)))


def _integer_pow_cost(in_shapes, out_shape, *, n=2, **params):
    multiplies = max(1, abs(n).bit_length() + bin(abs(n)).count("1") - 1) + (n < 0) * 4
    size = math.prod(out_shape)
    return Counts(multiplies * size, (multiplies + 2) * size, (multiplies + 2) * size,
                  2 * size)   # the residuals hold x and the output


integer_pow = defprimitive("integer_pow", _integer_pow, jvp=(_integer_pow_rule,),
                           vjp=(_integer_pow_rule,), cost=_integer_pow_cost, batched=True,
                           dependency="elementwise", complex="holomorphic")

defelementwise("square", np.square, (_square_d,), flops=1, partial_flops=1, numpy=np.square,
               complex="holomorphic")
reciprocal = defelementwise("reciprocal", np.reciprocal, (_reciprocal_d,), flops=4,
                            partial_flops=2, domain=(NONZERO,), numpy=np.reciprocal,
                            complex="holomorphic")


def _integer_pow_lowering(emit, args, *, n):
    """x ** n for a compiled tape: products by repeated squaring, of 1 / x for n < 0 (so
    no intermediate power overflows where the result does not: x ** -3 at 1e160 is 0 with
    derivative -0, not 0 * inf), so their rules run (exact at x == 0, like integer_pow's
    own); x ** 0 is the constant 1."""
    (x,) = args
    if n == 0:
        return emit.constant(1.0, x)
    result, base, k = None, emit(reciprocal, x) if n < 0 else x, abs(n)
    while k:
        if k & 1:
            result = base if result is None else emit(multiply, result, base)
        k >>= 1
        if k:
            base = emit(multiply, base, base)
    return result


integer_pow.lowering = _integer_pow_lowering
defelementwise("sqrt", np.sqrt, (_sqrt_d,), flops=4, partial_flops=4, domain=(POSITIVE,),
               numpy=np.sqrt, complex="holomorphic")
defelementwise("cbrt", np.cbrt, (_cbrt_d,), flops=20, partial_flops=6, domain=(NONZERO,),
               numpy=np.cbrt)


# ------------------------------------------------------------- exponentials and logarithms
def _exp_d(x, out): return out
def _exp2_d(x, out): return out * LN2
def _expm1_d(x, out): return out + 1.0
def _log_d(x, out): return 1.0 / x
def _log2_d(x, out): return 1.0 / (x * LN2)
def _log10_d(x, out): return 1.0 / (x * LN10)
def _log1p_d(x, out): return 1.0 / (1.0 + x)
def _logaddexp_dx(x, y, out): return np.exp(x - out)
def _logaddexp_dy(x, y, out): return np.exp(y - out)
def _logaddexp2_dx(x, y, out): return np.exp2(x - out)
def _logaddexp2_dy(x, y, out): return np.exp2(y - out)


defelementwise("exp", np.exp, (_exp_d,), flops=20, partial_flops=0, numpy=np.exp,
               complex="holomorphic")
defelementwise("exp2", np.exp2, (_exp2_d,), flops=20, partial_flops=1, numpy=np.exp2,
               complex="holomorphic")
defelementwise("expm1", np.expm1, (_expm1_d,), flops=20, partial_flops=1, numpy=np.expm1,
               complex="holomorphic")
defelementwise("log", np.log, (_log_d,), flops=20, partial_flops=4, domain=(POSITIVE,),
               numpy=np.log, complex="holomorphic")
defelementwise("log2", np.log2, (_log2_d,), flops=20, partial_flops=5, domain=(POSITIVE,),
               numpy=np.log2, complex="holomorphic")
defelementwise("log10", np.log10, (_log10_d,), flops=20, partial_flops=5, domain=(POSITIVE,),
               numpy=np.log10, complex="holomorphic")
defelementwise("log1p", np.log1p, (_log1p_d,), flops=20, partial_flops=5, domain=(POSITIVE,),
               numpy=np.log1p, complex="holomorphic")
defelementwise("logaddexp", np.logaddexp, (_logaddexp_dx, _logaddexp_dy), flops=45,
               partial_flops=42, numpy=np.logaddexp)
defelementwise("logaddexp2", np.logaddexp2, (_logaddexp2_dx, _logaddexp2_dy), flops=45,
               partial_flops=42, numpy=np.logaddexp2)


# ----------------------------------------------------------------------------- trigonometric
def _sin_d(x, out): return np.cos(x)
def _cos_d(x, out): return -np.sin(x)
def _tan_d(x, out): return 1.0 + out * out
def _arcsin_d(x, out): return 1.0 / np.sqrt(1.0 - x * x)
def _arccos_d(x, out): return -1.0 / np.sqrt(1.0 - x * x)
def _arctan_d(x, out): return 1.0 / (1.0 + x * x)
def _arctan2_dy(y, x, out): return x / (x * x + y * y)
def _arctan2_dx(y, x, out): return -y / (x * x + y * y)
def _hypot_dx(x, y, out): return x / (out + (out == 0))
def _hypot_dy(x, y, out): return y / (out + (out == 0))
def _sinc_d(x, out):
    # within 0.01 of 0, the Taylor series of sinc' (x^1 to x^9): the quotient's own
    # derivatives are right to first order only at 0 (sinc'' would come out 0, not -pi^2/3)
    near = (np.abs(x) < 0.01) * 1.0
    x2 = x * x
    series = x * (-3.289868133696453 + x2 * (3.246969701133414 + x2 * (
        -1.144510944732505 + x2 * (0.20918278254123832 + x2 * -0.023460810354558225))))
    return near * series + (1.0 - near) * (np.cos(math.pi * x) - out) / (x + near)
def _deg2rad_d(x, out): return math.pi / 180.0
def _rad2deg_d(x, out): return 180.0 / math.pi


def _sinc(x):
    return np.sinc(x)


defelementwise("sin", np.sin, (_sin_d,), flops=15, partial_flops=15, numpy=np.sin,
               complex="holomorphic")
defelementwise("cos", np.cos, (_cos_d,), flops=15, partial_flops=16, numpy=np.cos,
               complex="holomorphic")
defelementwise("tan", np.tan, (_tan_d,), flops=20, partial_flops=2, domain=(UNIT,),
               numpy=np.tan, complex="holomorphic")
defelementwise("arcsin", np.arcsin, (_arcsin_d,), flops=20, partial_flops=8, domain=(UNIT,),
               numpy=np.arcsin, complex="holomorphic")
defelementwise("arccos", np.arccos, (_arccos_d,), flops=20, partial_flops=9, domain=(UNIT,),
               numpy=np.arccos, complex="holomorphic")
defelementwise("arctan", np.arctan, (_arctan_d,), flops=20, partial_flops=6, numpy=np.arctan,
               complex="holomorphic")
defelementwise("arctan2", np.arctan2, (_arctan2_dy, _arctan2_dx), flops=25, partial_flops=10,
               domain=(NONZERO, NONZERO), numpy=np.arctan2)
defelementwise("hypot", np.hypot, (_hypot_dx, _hypot_dy), flops=6, partial_flops=10,
               numpy=np.hypot)
sinc = defelementwise("sinc", _sinc, (_sinc_d,), flops=20, partial_flops=22, numpy=np.sinc)
defelementwise("deg2rad", np.deg2rad, (_deg2rad_d,), flops=1, partial_flops=0, linear=True,
               numpy=np.deg2rad)
defelementwise("rad2deg", np.rad2deg, (_rad2deg_d,), flops=1, partial_flops=0, linear=True,
               numpy=np.rad2deg)


# ----------------------------------------------------------------------------- hyperbolic
def _sinh_d(x, out): return np.cosh(x)
def _cosh_d(x, out): return np.sinh(x)
def _tanh_d(x, out): return 1.0 - out * out
def _arcsinh_d(x, out): return 1.0 / np.sqrt(x * x + 1.0)
def _arccosh_d(x, out): return 1.0 / np.sqrt(x * x - 1.0)
def _arctanh_d(x, out): return 1.0 / (1.0 - x * x)


defelementwise("sinh", np.sinh, (_sinh_d,), flops=20, partial_flops=20, numpy=np.sinh,
               complex="holomorphic")
defelementwise("cosh", np.cosh, (_cosh_d,), flops=20, partial_flops=20, numpy=np.cosh,
               complex="holomorphic")
defelementwise("tanh", np.tanh, (_tanh_d,), flops=20, partial_flops=2, numpy=np.tanh,
               complex="holomorphic")
defelementwise("arcsinh", np.arcsinh, (_arcsinh_d,), flops=25, partial_flops=7,
               numpy=np.arcsinh, complex="holomorphic")
defelementwise("arccosh", np.arccosh, (_arccosh_d,), flops=25, partial_flops=7,
               domain=((1.0, math.inf),), numpy=np.arccosh, complex="holomorphic")
defelementwise("arctanh", np.arctanh, (_arctanh_d,), flops=25, partial_flops=6,
               domain=(UNIT,), numpy=np.arctanh, complex="holomorphic")


# ----------------------------------------------------------------------------- kinks and selections
def _abs_d(x, out):
    if not is_complex(x):
        return np.sign(x)
    # conj(z) / |z| (0 at 0), differentiable again: on complex z it is not a constant
    zero = x == 0
    safe = np.where(zero, 1.0, x)
    return np.where(zero, 0.0, np.conj(safe) / np.abs(safe))


def _sign(x, out):
    return np.sign(x)


_abs_d.real_form = _sign     # what compiled kernels run: they see real values only
def _max_dx(x, y, out): return (x > y) + 0.5 * (x == y)
def _max_dy(x, y, out): return (y > x) + 0.5 * (x == y)
def _fmax_dx(x, y, out): return (x > y) + 0.5 * (x == y) + (y != y)
def _fmax_dy(x, y, out): return (y > x) + 0.5 * (x == y) + (x != x)
def _min_dx(x, y, out): return (x < y) + 0.5 * (x == y)
def _min_dy(x, y, out): return (y < x) + 0.5 * (x == y)
def _fmin_dx(x, y, out): return (x < y) + 0.5 * (x == y) + (y != y)
def _fmin_dy(x, y, out): return (y < x) + 0.5 * (x == y) + (x != x)
# (1 in x's shape: 0 * y would be NaN for an infinite divisor, where fmod(x, inf) = x)
def _remainder_dx(x, y, out): return 1.0 + 0.0 * x
def _remainder_dy(x, y, out): return -np.floor(x / y)
def _fmod_dx(x, y, out): return 1.0 + 0.0 * x
def _fmod_dy(x, y, out): return -np.trunc(x / y)


defelementwise("absolute", np.absolute, (_abs_d,), flops=1, partial_flops=1,
               numpy=np.absolute, complex="real-valued")
defelementwise("fabs", np.fabs, (_abs_d,), flops=1, partial_flops=1, numpy=np.fabs)
defelementwise("maximum", np.maximum, (_max_dx, _max_dy), flops=1, partial_flops=6,
               numpy=np.maximum)
defelementwise("minimum", np.minimum, (_min_dx, _min_dy), flops=1, partial_flops=6,
               numpy=np.minimum)
defelementwise("fmax", np.fmax, (_fmax_dx, _fmax_dy), flops=1, partial_flops=8,
               numpy=np.fmax)
defelementwise("fmin", np.fmin, (_fmin_dx, _fmin_dy), flops=1, partial_flops=8,
               numpy=np.fmin)
def _remainder(x, y):
    """x mod y with y's sign, zeros included (NumPy's; Numba's gives 0 % -1 as 0.0)."""
    return np.copysign(np.remainder(x, y), y)


defelementwise("remainder", _remainder, (_remainder_dx, _remainder_dy), flops=6,
               partial_flops=6, domain=(REAL, NONZERO), numpy=np.remainder)
defelementwise("fmod", np.fmod, (_fmod_dx, _fmod_dy), flops=6, partial_flops=6,
               domain=(REAL, NONZERO), numpy=np.fmod)


def _where_transpose_x(ct, out, condition, x, y):
    return unbroadcast(where(condition, ct, 0.0), x.shape, out.shape)


def _where_transpose_y(ct, out, condition, x, y):
    return unbroadcast(where(condition, 0.0, ct), y.shape, out.shape)


def _where_cost(in_shapes, out_shape, **params):
    size = math.prod(out_shape)
    return Counts(size, size, size, 0)


# Linear in x and y (the condition is a constant): the JVP selects between the tangents,
# so the unselected branch contributes exactly 0 even where it is inf or NaN.
where = deflinear("where", np.where, transpose=(None, _where_transpose_x, _where_transpose_y),
                  complex="holomorphic",
                  broadcasting=True, arity=3, cost=_where_cost, dependency="elementwise")


def _where_lowering(emit, args):
    """A compiled tape selects by a condition it recomputes at every replay (a traced
    comparison), else (a constant condition) lowers where as the linear map it then is."""
    return emit.select(*args) if emit.varies(args[0]) else emit.linear(args)


where.lowering = _where_lowering


# ----------------------------------------------------------------------------- no derivative
for _ufunc in (np.sign, np.floor, np.ceil, np.rint, np.trunc, np.floor_divide,
               np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
               np.isnan, np.isinf, np.isfinite, np.signbit, np.logical_and, np.logical_or,
               np.logical_not, np.logical_xor):
    defnondiff(_ufunc.__name__, _ufunc, numpy=_ufunc, arity=_ufunc.nin, lowering="elementwise")


def _floor_divide(a, b):
    """NumPy's floating floor division (npy_divmod), for the compiled tape's interpreter:
    Numba's differs at infinities (1 // -inf is -1 in NumPy, 0 in Numba)."""
    if b == 0.0:
        return a / b
    mod = np.fmod(a, b)
    div = (a - mod) / b
    if mod != 0.0 and (b < 0.0) != (mod < 0.0):
        div -= 1.0
    if div == 0.0:
        return np.copysign(0.0, a / b)
    floor = np.floor(div)
    return floor + 1.0 if div - floor > 0.5 else floor


_primitive.PRIMITIVES["floor_divide"].value = _floor_divide


def _sign_value(x):
    """NumPy's sign, for the compiled tape's interpreter: sign(-0.0) is 0.0 (Numba's -0.0)."""
    return np.sign(x) + 0.0


_primitive.PRIMITIVES["sign"].value = _sign_value


def _round(x, *, decimals=0):
    return np.round(x, decimals)


round_ = defnondiff("round", _round, arity=1)


def _stop_gradient(x):
    return x


def _stop_gradient_lowering(emit, args):
    return emit.detach(args[0])     # the value, carrying no derivative


stop_gradient = defnondiff("stop_gradient", _stop_gradient, arity=1,
                           lowering=_stop_gradient_lowering)


# ----------------------------------------------------------------------------- dtype conversion
def _astype(x, *, dtype):
    x = np.asarray(x)
    if x.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        x = x.real                       # the real part, without NumPy's ComplexWarning
    return x.astype(dtype)


def _astype_transpose(ct, out, x, *, dtype):
    return astype(ct, dtype=x.dtype)


def _astype_cost(in_shapes, out_shape, **params):
    size = math.prod(out_shape)
    return Counts(0, size, size, 0)


astype = deflinear("astype", _astype, transpose=(_astype_transpose,), cost=_astype_cost,
                   complex="real-linear",
                   dependency="elementwise")


# ----------------------------------------------------------------------------- complex parts
# Linear over the reals only, so their transposes are written for JAX's pairing Re(sum u*v):
# Re(g t) = ct Re(t) gives g = ct; = ct Im(t) gives g = -i ct; = Re(ct conj(t)) gives conj(ct).
def _real_transpose(ct, out, x):
    return ct


def _imag_transpose(ct, out, x):
    return ct * -1j


def _conj_transpose(ct, out, x):
    return conj(ct)


def _part_cost(in_shapes, out_shape, **params):
    size = math.prod(out_shape)
    return Counts(size, size, size, 0)


real = deflinear("real", np.real, transpose=(_real_transpose,), cost=_part_cost,
                 dependency="elementwise", complex="real-linear", numpy=np.real)
imag = deflinear("imag", np.imag, transpose=(_imag_transpose,), cost=_part_cost,
                 dependency="elementwise", complex="real-linear", numpy=np.imag)
conj = deflinear("conj", np.conjugate, transpose=(_conj_transpose,), cost=_part_cost,
                 dependency="elementwise", complex="real-linear", numpy=np.conjugate)
_primitive.real_part = real          # the engines keep a real value's derivative real
