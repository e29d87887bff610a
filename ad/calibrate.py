"""Measure this machine's calibration table: ``python -m ad.calibrate`` (a few seconds).

1. **Probes.** Every registered elementwise primitive on arrays inside its domain, and a list
   of `ad.numpy` programs for the others (reductions, structural ops, products, linalg),
   each at a small and a large size. Each probe is recorded once and every entry of its
   tape is timed where it stands (its shapes, params and residuals, through
   `Tape.entries`): the value (`Primitive.forward`), the JVP rule on a block of k tangents
   and the VJP rules (`ad.reverse.pull_entry`, every traced argument) on a block of k
   cotangents, for several k.
2. **Lines.** Per primitive and mode, seconds = overhead + slope * work (the work of
   `ad.cost.calibration.entry_work`, from the cost entry), fitted to those samples by least
   squares in relative error, both terms non-negative.
3. **Engine terms.** Whole forward passes, recordings and sweeps of the probes and of
   scalar chains, minus what the lines predict for their entries, regressed on the number
   of entries and passes; Jacobian calls likewise for the per-call cost and the per-element
   cost of seeds and assembly.
4. **Compiled tapes** (`fit_compiled`, when Numba is there): per interpreter op and run
   mode (values, forward, reverse), seconds = per entry + per element + per element and
   direction, fitted to runs of probe programs of that op alone; the Python around the
   runs from compiled calls of small programs.
5. The table is cached for this machine's key and made current.

Imports the engines, `ad.numpy`, `ad.cost`, `ad.recording`, `ad.transforms` and
`ad.compiled` (it times them); `ad.scipy` when SciPy is installed, so its primitives are
measured too. Nothing in `ad` imports this module.
"""
from __future__ import annotations

import argparse
import gc
import math
import time
import warnings
from typing import Callable, Sequence

import numpy as np

import ad.numpy as anp
from ad.context import entered
from ad.cost import tape_counts
from ad.cost.calibration import (DEFAULT_TABLE, MODES, Calibration, entry_elements,
                                 entry_work, kind_of, machine_key, use, variant)
from ad.cost.counts import forward_cost, predict, reverse_cost
from ad.forward import Dual, ForwardLevel
from ad.primitive import OPCODES, ZERO
from ad.reverse import ReverseLevel, pull_entry, sweep
from ad.tape import CONSTANT
from ad import transforms
from ad.transforms import jacfwd, jacrev

try:   # SciPy's primitives join the catalogue when ad.scipy is importable
    import ad.scipy  # noqa: F401
except ImportError:  # pragma: no cover - scipy is an optional extra
    pass

Program = Callable[[np.ndarray], object]


# ----------------------------------------------------------------------------- timing
def median_seconds(fn: Callable[[], object], budget: float = 1e-4, repeats: int = 5) -> float:
    """Median over `repeats` of the mean time of a loop lasting about `budget` seconds,
    with the garbage collector off (as timeit does: a collection's cost depends on the
    whole heap, not on what is timed)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        fn()
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
        number = max(1, int(budget / max(once, 1e-7)))
        if once > 50 * budget:      # a long call: fewer repeats (its noise is relatively small)
            repeats = min(repeats, 3)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - start) / number)
    finally:
        if enabled:
            gc.enable()
    return float(np.median(times))


# ----------------------------------------------------------------------------- probes
def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _in_domain(domain, size: int, rng) -> np.ndarray:
    u = rng.uniform(0.1, 0.9, size)
    if not isinstance(domain, tuple):            # "nonzero" or unknown: (0.1, 0.9)
        return 0.2 + 0.6 * u
    lo, hi = domain
    lo = lo if math.isfinite(lo) else (hi - 2.0 if math.isfinite(hi) else 0.2)
    hi = hi if math.isfinite(hi) else lo + 1.0
    return lo + (hi - lo) * u


def elementwise_probes(size: int) -> list[tuple[str, Program, np.ndarray]]:
    """One probe per registered elementwise primitive, all its arguments traced; then, for
    each binary one, a probe per argument held constant (a Python number, as in `x * 0.5`):
    its rules run one term instead of two, and `variant` prices it by its own line."""
    rng = _rng(1)
    probes, variants = [], []
    for primitive in OPCODES:
        if not (primitive.elementwise and primitive.differentiable):
            continue
        domains = primitive.domain or ((-np.inf, np.inf),) * primitive.arity
        x = np.concatenate([_in_domain(d, size, rng) for d in domains])

        def f(x, primitive=primitive, k=primitive.arity):
            return primitive(*(x[j * size:(j + 1) * size] for j in range(k)))
        probes.append((primitive.name, f, x))
        if primitive.arity != 2:
            continue
        for held in (0, 1):
            constant = float(_in_domain(domains[held], 1, rng)[0])

            def g(x, primitive=primitive, held=held, constant=constant):
                return primitive(constant, x) if held == 0 else primitive(x, constant)
            variants.append((variant(primitive.name, [held == 1, held == 0]), g,
                             _in_domain(domains[1 - held], size, rng)))
    return probes + variants


def _matrix(r: int, seed: int) -> np.ndarray:
    return _rng(seed).standard_normal((r, r)) / math.sqrt(r) + 2.0 * np.eye(r)


def program_probes(size: int, r: int) -> list[tuple[str, Program, np.ndarray]]:
    """Probes for the primitives that are not elementwise, at vector size `size` and matrix
    size `r` x `r`."""
    rng = _rng(2)
    v = rng.standard_normal(size)
    q = max(1, size // 8)
    index = rng.integers(0, size, size)
    a, b = _matrix(r, 3), _matrix(r, 4)
    flat = _matrix(r, 5).ravel()

    def square(x):
        return anp.reshape(x, (r, r))

    def spd(x):
        m = square(x)
        return m @ anp.transpose(m) + r * np.eye(r)

    return [
        ("sum", lambda x: anp.sum(x), v),
        ("sum axis", lambda x: anp.sum(anp.reshape(x, (8, q)), axis=0), v[:8 * q]),
        ("max", lambda x: anp.max(x), v),
        ("min axis", lambda x: anp.min(anp.reshape(x, (8, q)), axis=1), v[:8 * q]),
        ("cumsum", lambda x: anp.cumsum(x), v),
        ("transpose", lambda x: anp.transpose(anp.reshape(x, (8, q))), v[:8 * q]),
        ("broadcast", lambda x: anp.broadcast_to(x, (4, size)), v),
        ("slice", lambda x: x[1:-1], v),
        ("gather", lambda x: x[index], v),
        ("scatter", lambda x: anp.at(anp.zeros(size))[index].add(x), v),
        ("concatenate", lambda x: anp.concatenate([x, x[::-1]]), v),
        ("roll", lambda x: anp.roll(x, 1), v),
        ("where", lambda x: anp.where(v > 0, x, -x), v),
        ("astype", lambda x: x.astype(np.float32), v),
        ("integer_pow", lambda x: x ** 3, v),
        ("matvec", lambda x: a @ x, v[:r] if size >= r else rng.standard_normal(r)),
        ("matmat", lambda x: square(x) @ b, flat),
        ("solve", lambda x: anp.linalg.solve(a, x), rng.standard_normal(r)),
        ("solve in A", lambda x: anp.linalg.solve(square(x), np.ones(r)), flat),
        ("inv", lambda x: anp.linalg.inv(square(x)), flat),
        ("det", lambda x: anp.linalg.det(square(x)), flat),
        ("slogdet", lambda x: anp.linalg.slogdet(square(x))[1], flat),
        ("cholesky", lambda x: anp.linalg.cholesky(spd(x)), flat),
        ("eigh", lambda x: anp.linalg.eigh(spd(x))[0], flat),
        ("svd", lambda x: anp.linalg.svd(square(x))[1], flat),
        ("qr", lambda x: anp.linalg.qr(square(x))[1], flat),
        ("pinv", lambda x: anp.linalg.pinv(square(x)), flat),
    ]


#: The probes of `program_probes` whose cost is a matrix size's cube.
MATRIX_PROBES = ("matvec", "matmat", "solve", "solve in A", "inv", "det", "slogdet",
                 "cholesky")   # eigh, svd, qr, pinv: too slow to calibrate there in seconds


def scalar_chain(length: int) -> tuple[str, Program, np.ndarray]:
    """`length` tiny scalar primitives: a pass over it is all per-entry cost."""
    def f(x):
        for _ in range(length // 3):
            x = anp.sin(x) * 1.0001 + x
        return x
    return (f"scalar chain {length}", f, np.array([0.5]))


def _record(f: Program, x: np.ndarray):
    level = ReverseLevel()
    with entered(level):
        inp = level.new_input(x)
        out = f(inp)
    return level.tape, inp.index, out


# ----------------------------------------------------------------------------- entry timings
def _block(shape, k: int, dtype, rng) -> np.ndarray:
    return rng.standard_normal((k,) + tuple(shape)).astype(dtype, copy=False)


def time_entries(f: Program, x: np.ndarray, ks: Sequence[int], samples: dict,
                 kinds: dict, budget: float, memory: Calibration | None = None) -> None:
    """Time every entry of f's tape at x: value, JVP(k) and VJP(k), into `samples` as
    samples[name][mode] = [(value work, the mode's work, seconds), ...], each work times
    `memory`'s factor for the bytes its block streams (so the lines fit the in-cache rate)."""
    streaming, blocked = (memory or Calibration({})).memory_factor, Calibration({}).memory_factor
    tape, x_id, _ = _record(f, x)
    rng = _rng(7)
    values: dict[int, object] = {x_id: x}
    for position, (primitive, params, parents, constants, out, residuals) in enumerate(
            tape.entries()):
        value, _ = tape.replay(position, values)
        several = primitive.n_outputs != 1
        for j, v in enumerate(value if several else (value,)):
            values[out + j] = v
        primals = tape.arguments(parents, constants, values)
        needs = [parent != CONSTANT for parent in parents]
        in_shapes = tape.in_shapes(parents, constants)
        out_shape = tape.out_shape(primitive, out)
        out_size, touched, moved = entry_elements(
            in_shapes, out_shape if several else (out_shape,), needs)
        counts = primitive.counts(in_shapes, out_shape, params, needs)
        works = entry_work(counts, in_shapes, out_size, needs)
        itemsize = np.dtype(np.result_type(value if not several else value[0])).itemsize
        name = variant(primitive.name, needs)
        kinds[name] = kinds[primitive.name] = kind = kind_of(primitive)
        # as predictions do: the memory curve for streaming kinds, not for blocked kernels
        factor = streaming if kind != "other" else blocked
        value_work = works[0] * factor(moved * itemsize)
        rows = samples.setdefault(name, {mode: [] for mode in MODES})
        rows["value"].append((0.0, value_work, median_seconds(
            lambda: primitive.forward(primals, params, needs), budget)))
        shapes_arg = in_shapes if primitive.elementwise else None
        dtypes = [np.result_type(p) for p in primals]
        outs = value if several else (value,)
        for k in ks:
            block = k * factor(k * touched * itemsize)
            if primitive.forward_mode:
                tangents = [_block(s, k, d, rng) if need else ZERO
                            for s, d, need in zip(in_shapes, dtypes, needs)]
                rows["jvp"].append((value_work, block * works[1], median_seconds(
                    lambda: primitive.jvp(residuals, tangents, params, shapes_arg, out_shape),
                    budget)))
            cts = tuple(_block(np.shape(o), k, np.result_type(o), rng) for o in outs)
            cotangent = cts if several else cts[0]
            traced = [i for i, need in enumerate(needs) if need]
            rows["vjp"].append((value_work, block * works[2], median_seconds(
                lambda: [pull_entry(primitive, i, cotangent, residuals, params, in_shapes[i],
                                    out_shape) for i in traced], budget)))


# ----------------------------------------------------------------------------- fitting
def fit_nonnegative(features: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Non-negative coefficients c minimising sum(((features @ c) - seconds) / seconds)**2:
    least squares in relative error, coefficients that come out negative dropped (set to
    zero) and the rest refitted."""
    scale = 1.0 / np.maximum(seconds, 1e-12)
    a = features * scale[:, None]
    active = list(range(features.shape[1]))
    coef = np.zeros(features.shape[1])
    while active:
        sol, *_ = np.linalg.lstsq(a[:, active], np.ones(len(seconds)), rcond=None)
        if (sol >= 0).all():
            coef[active] = sol
            break
        active.pop(int(np.argmin(sol)))
    return coef


def fit_lines(samples: dict) -> dict[str, dict[str, tuple[float, ...]]]:
    """Per primitive and mode: (overhead, slope, per_value) of `ad.cost.calibration.Line`
    (per_value only for the rules: the value's own line has its work as the slope)."""
    lines = {}
    for name, modes in samples.items():
        fitted = {}
        for mode, rows in modes.items():
            if not rows:
                continue
            data = np.array(rows, dtype=float)
            ones = np.ones(len(data))
            if mode == "value":
                coef = fit_nonnegative(np.column_stack([ones, data[:, 1]]), data[:, 2])
                fitted[mode] = (float(coef[0]), float(coef[1]))
            else:
                coef = fit_nonnegative(np.column_stack([ones, data[:, 1], data[:, 0]]),
                                       data[:, 2])
                fitted[mode] = tuple(float(c) for c in coef)
        lines[name] = fitted
    return lines


# ----------------------------------------------------------------------------- engine terms
def _passes(f: Program, x: np.ndarray, ks: Sequence[int], budget: float) -> dict:
    """Measured whole passes of f at x: evaluation, forward on duals, recording, sweep."""
    tape, x_id, out = _record(f, x)
    rng = _rng(9)
    out_id, out_shape = out.index, np.shape(out.primal)
    times = {"eval": median_seconds(lambda: f(x), budget),
             "record": median_seconds(lambda: _record(f, x), budget)}
    for k in ks:
        block = _block(np.shape(x), k, x.dtype, rng)

        def dual_pass():
            level = ForwardLevel()
            with entered(level):
                return f(Dual._make(x, block, level))
        seed = _block(out_shape, k, np.result_type(out.primal), rng)
        times["forward", k] = median_seconds(dual_pass, budget)
        times["sweep", k] = median_seconds(lambda: sweep(tape, [(out_id, seed)], [x_id]),
                                           budget)
    return times


def _accumulate_seconds() -> float:
    a, b = np.ones(1 << 20), np.ones(1 << 20)
    return median_seconds(lambda: np.add(a, b, out=a), 1e-3) / a.size


def fit_engine(table: Calibration, programs, ks: Sequence[int], budget: float) -> dict:
    """The engines' own terms: what whole passes cost beyond their entries' rules. The
    per-entry costs come from two scalar chains, `programs[0]` and `programs[1]` (their
    difference is all per-entry cost);
    the fixed cost of a pass is the median, over the probe programs, of what remains."""
    from ad.cost.counts import _rules
    residuals: dict[str, list] = {"eval": [], "forward": [], "record": [], "sweep": []}
    accumulate = _accumulate_seconds()
    for _, f, x in programs:
        tape, x_id, out = _record(f, x)
        c = tape_counts(tape, [x_id], [x.size], [out.index])
        times = _passes(f, x, ks, budget)
        value = sum(_rules(c, table, 1, None, 0, 0).values())
        residuals["eval"].append((c.nodes, times["eval"] - value))
        residuals["record"].append((c.nodes, times["record"] - value))
        for k in ks:
            jvp = sum(_rules(c, table, 1, "jvp", 1, k).values())
            vjp = sum(_rules(c, table, 0, "vjp", 1, k).values())
            residuals["forward"].append((c.nodes, times["forward", k] - jvp))
            residuals["sweep"].append((c.nodes, times["sweep", k] - vjp
                                       - accumulate * k * c.fan_in))
    engine = {"accumulate": accumulate}
    # the chains: each pass minus its entries' rules timed alone, in this same run; the
    # per-entry cost is their difference over the entries, the median of three estimates
    estimates: dict[str, list[float]] = {"eval": [], "record": [], "forward": [], "sweep": []}
    for _ in range(3):
        chains = []
        for _, f, x in programs[:2]:
            samples: dict = {}
            time_entries(f, x, ks[:1], samples, {}, budget, table)
            rules = {mode: sum(t for modes in samples.values() for *_, t in modes[mode])
                     for mode in MODES}
            times = _passes(f, x, ks[:1], 10 * budget)
            nodes = len(_record(f, x)[0])
            chains.append((nodes, {"eval": times["eval"] - rules["value"],
                                   "record": times["record"] - rules["value"],
                                   "forward": times["forward", ks[0]] - rules["value"]
                                   - rules["jvp"],
                                   "sweep": times["sweep", ks[0]] - rules["vjp"]}))
        (n1, short), (n2, long_) = chains
        for what in estimates:
            estimates[what].append((long_[what] - short[what]) / (n2 - n1))
    for what, per_entry, per_pass in (("eval", "eval_entry", None),
                                      ("forward", "forward_entry", "forward_pass"),
                                      ("record", "record_entry", "record_pass"),
                                      ("sweep", "sweep_entry", "sweep_pass")):
        entry = max(0.0, float(np.median(estimates[what])))
        engine[per_entry] = entry
        if per_pass:
            engine[per_pass] = max(0.0, float(np.median([r - nodes * entry
                                                         for nodes, r in residuals[what]])))
    return engine


def memory_curve(points: Sequence[int] = (10, 12, 14, 16, 17, 18, 19, 20, 21, 22, 23)
                 ) -> list[list[float]]:
    """Seconds per element of a product of two arrays of 2**p elements that writes a fresh
    array, against its bytes: beyond the caches each element costs more, and blocks of
    tangents are large."""
    curve = []
    for p in points:
        a, b = np.ones(1 << p), np.ones(1 << p)
        curve.append([float(3 * a.nbytes), median_seconds(lambda: a * b, 2e-3, 3) / a.size])
    return curve


def fit_jacobian_terms(table: Calibration, budget: float) -> dict:
    """The per-call cost (tiny Jacobians: all of the remainder once their passes are
    predicted), and the per-element cost of seed blocks and assembly timed directly on
    square Jacobians of 80 KB to 16 MB in each mode (engine terms, assembly curve)."""
    tiny = []
    for size in (1, 2, 4):
        f, x = (lambda x: anp.sin(x) * 2.0), np.linspace(0.1, 0.9, size)
        tape, x_id, out = _record(f, x)
        c = tape_counts(tape, [x_id], [x.size], [out.index])
        chunk = predict(c, None, table).plan.chunk
        for by, cost, directions in ((jacfwd, forward_cost, c.n), (jacrev, reverse_cost, c.m)):
            predicted = cost(c, directions, chunk, table).seconds
            tiny.append(median_seconds(lambda: by(f)(x), budget) - predicted)
    assembly = []
    for n in (100, 300, 700, 1400):
        shapes, dtypes = [(n,)], [np.dtype(np.float64)]
        per_mode = []
        for by_columns in (True, False):
            def seeds_and_assembly():
                block = transforms._seeds(0, n, shapes, dtypes)[0] * 1.0   # a fresh block
                transforms._assemble([[block]], shapes, shapes, by_columns)
            per_mode.append(median_seconds(seeds_and_assembly, budget, 3) / (n * 2 * n))
        assembly.append([float(n * n * 8), float(np.median(per_mode))])
    return {"call": max(0.0, float(np.median(tiny))), "element": assembly[0][1]}, assembly


def fit_pass_factors(table: Calibration, budget: float) -> dict:
    """Per mode, (block bytes, measured / predicted) of the rules' share of whole Jacobian
    passes with blocks from 64 KB to 32 MB: what large blocks cost in a pass beyond what
    the rules timed alone predict."""
    def f(x):
        y = anp.tanh(x) * x
        return anp.sin(y) - x * y
    points: dict[str, list] = {"jvp": [], "vjp": []}
    for n, chunk in ((256, 16), (512, 64), (1024, 128), (1024, 512), (2048, 1024)):
        x = np.linspace(0.1, 0.9, n)
        tape, x_id, out = _record(f, x)
        c = tape_counts(tape, [x_id], [x.size], [out.index])
        block = chunk * float(np.median(np.repeat(c.group_touched, c.group_tally))) * c.itemsize
        for mode, by, cost in (("jvp", jacfwd, forward_cost), ("vjp", jacrev, reverse_cost)):
            predicted = cost(c, n, chunk, table)
            # the best of three: a whole pass is long enough for the machine's other load
            # to land in one timing, and this factor scales every rule of every pass
            jacobian = by(f, chunk_size=chunk)
            measured = min(median_seconds(lambda: jacobian(x), budget, 3) for _ in range(3))
            rules = predicted.seconds - predicted.overhead
            share = (measured - predicted.overhead) / max(rules, 1e-9)
            points[mode].append([block, float(min(max(share, 0.5), 4.0))])
    return points


# ----------------------------------------------------------------------------- compiled tapes
#: Entries of each compiled probe (all of one op), its sizes and block widths.
COMPILED_LENGTH, COMPILED_SIZES, COMPILED_WIDTHS = 16, (1, 48), (1, 8)


def compiled_probes(size: int) -> list[tuple[str, object, list]]:
    """(op, lowered program, its inputs) per op of the compiled-tape interpreter: every
    elementwise primitive compiled into it and each structural entry, COMPILED_LENGTH
    entries of that op on the program's inputs of `size` elements."""
    from ad import compiled
    from ad.primitive import PRIMITIVES
    opcodes = compiled.interpreter().opcodes
    rng = _rng(3)

    def build(name, primitive, values, entry):
        builder = compiled.Builder(None, opcodes)
        builder.current = (primitive, {}, None, (size,))
        xs = [builder.slot((size,), True) for _ in values]
        for _ in range(COMPILED_LENGTH):
            out = entry(builder, xs)
        return name, compiled.program_of(builder, xs, [(size,)] * len(xs), out, 0.0), values

    probes = []
    for primitive in opcodes:
        domains = primitive.domain or ((-np.inf, np.inf),) * primitive.arity
        probes.append(build(primitive.name, primitive,
                            [_in_domain(d, size, rng) for d in domains],
                            lambda b, xs, p=primitive: b.elementwise(p, xs, (size,))))
    x, y = _in_domain(None, size, rng), _in_domain(None, size, rng)
    mask = (rng.uniform(size=size) > 0.5).astype(float)
    probes += [
        build("gather", PRIMITIVES["reshape"], [x],
              lambda b, xs: b.gather(xs[0], rng.permutation(size), (size,), b.current[0])),
        build("scatter", PRIMITIVES["sum"], [x],
              lambda b, xs: b.scatter(xs[0], np.zeros(size, int), (), b.current[0])),
        build("select", PRIMITIVES["where"], [mask, x, y], lambda b, xs: b.select(*xs)),
        build("guard", None, [x], lambda b, xs: b.guard(xs[0], x, False, "probe") or xs[0]),
        build("argmax", PRIMITIVES["argmax"], [x], lambda b, xs: b.index_of(xs[0], "max")),
        build("max", PRIMITIVES["max"], [x],
              lambda b, xs: b.extremum(xs[0], np.zeros(size, int), (), "max")),
    ]
    return probes


def _time_run(program, values, mode: str, width: int, budget: float) -> float:
    return median_seconds(program.runner(values, mode, width), budget)


def fit_compiled(budget: float) -> dict:
    """The compiled tapes' prices (`Calibration.compiled`): each op's line per mode,
    fitted to runs of its probes at COMPILED_SIZES and COMPILED_WIDTHS less an empty
    program's run, and the terms around the runs, from compiled calls of small programs.
    Empty without Numba."""
    from ad.compiled import NotLowered, jacobian_plan
    try:
        probes = {size: compiled_probes(size) for size in COMPILED_SIZES}
    except NotLowered:                   # no Numba, or the interpreter does not compile
        return {}
    empty = probes[COMPILED_SIZES[0]][0][1]
    empty = type(empty)(empty.entries[:, :0], empty.offs, empty.sizes, empty.maps[:1],
                        empty.arena, empty.inputs, empty.in_shapes, empty.output)
    run = _time_run(empty, [np.zeros(shape) for shape in empty.in_shapes], "reverse", 1,
                    budget)
    samples: dict = {}
    for size, found in probes.items():
        for name, program, values in found:
            n = float(np.mean(program.entry_elements()))
            for mode in ("values", "forward", "reverse"):
                for width in (1,) if mode == "values" else COMPILED_WIDTHS:
                    seconds = _time_run(program, values, mode, width, budget) - run
                    samples.setdefault(name, {}).setdefault(mode, []).append(
                        (COMPILED_LENGTH, COMPILED_LENGTH * n, COMPILED_LENGTH * n * width,
                         max(seconds, 1e-9)))
    lines = {}
    for name, modes in samples.items():
        lines[name] = {}
        for mode, rows in modes.items():
            data = np.array(rows)
            features = data[:, :2] if mode == "values" else data[:, :3]
            coef = fit_nonnegative(features, data[:, 3])
            lines[name][mode] = tuple(float(c) for c in coef) + (0.0,) * (3 - len(coef))
    blocks = []
    for log_bytes in range(14, 27, 2):       # clearing blocks of 16 KiB to 64 MiB
        block = np.zeros(2 ** log_bytes // 8)
        blocks.append([float(block.nbytes), median_seconds(lambda: block.fill(0.0), budget)
                       / block.size])
    terms = {"run": run, "block_element": blocks[0][1]}
    table = Calibration({}, compiled={"lines": lines, "terms": terms, "blocks": blocks})
    # the Python around the runs: a compiled gradient call, and a compiled Jacobian in one
    # block and in 8
    x = np.linspace(0.1, 0.9, 8)
    grad = transforms.value_and_grad(lambda x: anp.sum(anp.sin(x)), compile="always")
    grad(x)
    program = next(r for r in grad.compiled.replays.values() if r is not None).program
    call = median_seconds(lambda: grad(x), budget) - program.predict_grad(table)
    times = {}
    for chunk in (None, 1):
        jac = jacfwd(anp.sin, chunk_size=chunk, compile="always")
        jac(x)
        times[chunk] = median_seconds(lambda: jac(x), budget)
    program = next(r for r in jac.compiled.replays.values() if r is not None).program
    plans = {chunk: jacobian_plan(program, chunk) for chunk in (None, 1)}
    # less what the table predicts so far (no per-block term yet): one block's and eight
    # blocks' Python
    rest = {chunk: times[chunk] - program.predict_jacobian("forward", plans[chunk], table)
            for chunk in (None, 1)}
    per_block = max((rest[1] - rest[None]) / 7, 0.0)
    terms.update(call=max(call, 0.0), block=per_block)
    return {"lines": lines, "terms": terms, "blocks": blocks}


# ----------------------------------------------------------------------------- the run
def run(quick: bool = False, verbose: bool = False) -> Calibration:
    """Measure the table on this machine (quick: fewer sizes and shorter loops)."""
    budget = 5e-5 if quick else 1e-4
    # (vector size, matrix size, block widths, which probes): matrix primitives also at a
    # size where LAPACK and BLAS run at their large-matrix rate
    sizes = ((8, 4, (1, 16), "all"), (1024 if quick else 2048, 24 if quick else 48,
                                       (1, 16, 128), "all"),
             (256, 96 if quick else 128, (1, 32, 128), "matrix"))
    samples: dict = {}
    kinds: dict = {}
    started = time.perf_counter()
    memory = Calibration({}, memory=memory_curve())
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for size, r, ks, which in sizes:
            probes = program_probes(size, r)
            if which == "all":
                probes = elementwise_probes(size) + probes
            else:
                probes = [p for p in probes if p[0] in MATRIX_PROBES]
            for name, f, x in probes:
                try:
                    time_entries(f, x, ks, samples, kinds, budget, memory)
                except Exception as error:  # noqa: BLE001 - a probe that fails is reported
                    if verbose:
                        print(f"probe {name} ({size}): skipped ({type(error).__name__}: "
                              f"{error})")
        table = Calibration(fit_lines(samples), kinds, {}, machine_key(), "measured",
                            memory.memory)
        programs = [scalar_chain(30), scalar_chain(300)] + \
            [p for p in program_probes(256, 12)] + elementwise_probes(64)[:8]
        engine = fit_engine(table, programs, (1, 16), budget)
        table = Calibration(table.lines, kinds, engine, table.key, "measured", memory.memory)
        terms, assembly = fit_jacobian_terms(table, budget)
        engine.update(terms)
        table = Calibration(table.lines, kinds, engine, table.key, "measured", table.memory,
                            {}, assembly)
        table = Calibration(table.lines, kinds, engine, table.key, "measured", table.memory,
                            fit_pass_factors(table, budget), assembly, fit_compiled(budget))
    if verbose:
        print(f"calibrated {len(table.lines)} primitives in "
              f"{time.perf_counter() - started:.1f} s")
    return table


def main(argv: Sequence[str] | None = None) -> Calibration:
    parser = argparse.ArgumentParser(prog="python -m ad.calibrate",
                                     description="Measure this machine's calibration table "
                                     "(the cost model's prices) and cache it.")
    parser.add_argument("--quick", action="store_true", help="fewer sizes, shorter loops")
    parser.add_argument("--output", help="write the table here instead of the cache")
    parser.add_argument("--default", action="store_true",
                        help=f"write the table shipped with the package ({DEFAULT_TABLE.name})")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    table = run(args.quick, args.verbose)
    path = table.save(DEFAULT_TABLE if args.default else args.output)
    use(table)
    e = table.engine
    print(f"{len(table.lines)} primitives calibrated; per entry: forward pass "
          f"{e['forward_entry'] * 1e6:.2f} us, recording {e['record_entry'] * 1e6:.2f} us, "
          f"sweep {e['sweep_entry'] * 1e6:.2f} us; per Jacobian call {e['call'] * 1e6:.0f} us")
    print(f"written to {path}")
    return table


if __name__ == "__main__":
    main()
