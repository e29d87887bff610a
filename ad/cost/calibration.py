"""Calibration: the table that turns the catalogue's counts into seconds on one machine.

The cost entry of each primitive stays the one place that states its counts (flops of the
value, of one JVP direction, of one VJP cotangent). Calibration only prices them: for each
primitive and each mode it holds a line

    seconds = overhead + slope * work

fitted by `ad.calibrate` from timings of that primitive's own rules, where `work` is what
`entry_work` derives from the counts and the shapes (the mode's flops plus the elements it
reads and writes, times the k directions of a block for JVP and VJP). Besides the lines it
holds the engines' own terms: the cost of one entry in a forward pass, a recording, a sweep;
the fixed cost of a pass and of a Jacobian call; per element of the seed blocks and the
assembled Jacobian; per element of a cotangent accumulation.

A table is keyed by the machine (processor, cores), the versions (Python, NumPy, Numba,
`ad`) and a hash of the code whose speed it measures (the catalogue, kernels, engines). It
is cached on disk (`cache_dir()`); `current()` returns the cached table for this key, else
the default table shipped with the package (measured on the machine that made the release,
so the predictions hold in ratio if not in absolute time). A cached table whose key does not
match is never used.

Imports `ad.primitive` only.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import math
import os
import pathlib
import platform
import sys
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ad.primitive import Counts, Primitive

#: The modes a line is fitted for: the value (`Primitive.forward`), the JVP rule on a block
#: of tangents, the VJP rules (every traced argument) on a block of cotangents.
MODES = ("value", "jvp", "vjp")
#: The engines' own terms (seconds; `element` and `accumulate` per element, the rest per
#: occurrence): one entry of a forward pass on duals (`forward_entry`), of a recording
#: (`record_entry`), of a sweep (`sweep_entry`), of a plain evaluation (`eval_entry`); the
#: fixed cost of one forward pass, recording and sweep; of one Jacobian call; per element
#: of seed blocks and Jacobian assembly; per element added into a cotangent accumulator.
ENGINE_TERMS = ("forward_entry", "record_entry", "sweep_entry", "eval_entry", "forward_pass",
                "record_pass", "sweep_pass", "call", "element", "accumulate")
#: The modes of a compiled tape's interpreter run (`ad.compiled`): the values only, values
#: and a block of tangents pushed forward, values then a block of cotangents pulled back.
COMPILED_MODES = ("values", "forward", "reverse")
#: A compiled tape's own terms (seconds): one interpreter run from Python (`run`), per
#: element of a small block cleared or copied (`block_element`; `compiled["blocks"]` holds
#: the rate per block size, which grows beyond the caches), the Python around one compiled
#: call (`call`: the signature's lookup, loading the inputs, the results) and around each
#: block of a compiled Jacobian (`block`).
COMPILED_TERMS = ("run", "block_element", "call", "block")
#: Kinds of primitive; an uncalibrated primitive (declared after the table was made) is
#: priced by the median line of its kind.
KINDS = ("elementwise", "linear", "other")

_PACKAGE = pathlib.Path(__file__).resolve().parent.parent
#: The code whose speed a table measures: a change to any of it makes cached tables stale.
_MEASURED_CODE = ("catalogue", "kernels.py", "forward.py", "reverse.py", "tape.py",
                  "primitive.py", "compiled.py")
DEFAULT_TABLE = pathlib.Path(__file__).resolve().parent / "calibration_default.json"


def kind_of(primitive: Primitive) -> str:
    """"elementwise", "linear" (a linear map: reshape, sum, getitem, ...) or "other"."""
    if primitive.elementwise:
        return "elementwise"
    return "linear" if primitive.residual_form == "avals" else "other"   # keeps no values


def variant(name: str, traced: Sequence[bool]) -> str:
    """The line an entry is priced by: its primitive's, or, when some arguments are
    constants, that of the primitive with those constants ("add~tc": add with its second
    argument constant). Rules run differently then (x + c has the tangent of x for its
    JVP, at no cost; x + y adds two blocks), so calibration fits each variant it meets.

    >>> variant("add", [True, False]), variant("add", [True, True]), variant("sin", [True])
    ('add~tc', 'add', 'sin')
    """
    if all(traced):
        return name
    return name + "~" + "".join("t" if t else "c" for t in traced)


def entry_elements(in_shapes: Sequence[tuple], out_shapes: Sequence[tuple],
                   traced: Sequence[bool]) -> tuple[int, int, int]:
    """(output elements, elements one direction's rule reads and writes: the output and the
    traced arguments, elements the value moves: the output and every argument) of an entry
    with these argument and output shapes: what `entry_work` and the memory curve count.

    >>> entry_elements([(5,), (5,)], [(5,)], [True, False])
    (5, 10, 15)
    """
    out_size = sum(math.prod(s) for s in out_shapes)
    sizes = [math.prod(s) for s in in_shapes]
    return (out_size, out_size + sum(n for n, t in zip(sizes, traced) if t),
            out_size + sum(sizes))


def entry_work(counts: Counts, in_shapes: Sequence[tuple], out_sizes: int,
               traced: Sequence[bool]) -> tuple[float, float, float]:
    """The work of one application per mode, from its cost entry and shapes: (value, JVP per
    direction, VJP per cotangent). Each is the mode's flops plus the elements it touches
    (a reshape has no flops but still costs by its size, or not at all: the fitted slope
    says which).

    >>> entry_work(Counts(10.0, 4.0, 6.0, 0.0), [(5,), (5,)], 5, [True, False])
    (25.0, 14.0, 16.0)
    """
    sizes = [math.prod(s) for s in in_shapes]
    traced_in = sum(s for s, t in zip(sizes, traced) if t)
    return (counts.flops + sum(sizes) + out_sizes, counts.jvp + out_sizes + traced_in,
            counts.vjp + out_sizes + traced_in)


@dataclass(frozen=True)
class Line:
    """seconds = overhead * applications + slope * work + per_value * value_work.

    `work` is the mode's own (k directions times the work of one); `value_work` the
    entry's value work once per application, for rules that redo part of the value per
    block (a solve's JVP refactorises its matrix once per block, whatever k).
    """

    overhead: float
    slope: float
    per_value: float = 0.0

    def __call__(self, applications: float, work: float, value_work: float = 0.0) -> float:
        return self.overhead * applications + self.slope * work + self.per_value * value_work


@dataclass
class Calibration:
    """A table of lines per (primitive, mode) and the engines' terms (see the module
    docstring). `source` says where it came from: "measured", "cache", "default" (shipped)
    or "fixed" (built by hand, as the tests do).

    >>> table = Calibration({"sin": {"value": (1e-6, 1e-9), "jvp": (1e-6, 1e-9),
    ...                              "vjp": (2e-6, 1e-9)}}, {"sin": "elementwise"})
    >>> table.line("sin", "vjp", "elementwise")
    Line(overhead=2e-06, slope=1e-09, per_value=0.0)
    >>> table.line("cos", "vjp", "elementwise")    # not measured: the median of its kind
    Line(overhead=2e-06, slope=1e-09, per_value=0.0)
    """

    lines: dict[str, dict[str, tuple[float, ...]]]
    kinds: dict[str, str] = field(default_factory=dict)
    engine: dict[str, float] = field(default_factory=dict)
    key: dict = field(default_factory=dict)
    source: str = "fixed"
    #: (bytes, seconds per element) of a product streaming that many bytes: beyond the
    #: caches an element costs more. Lines are fitted with this factor divided out, and
    #: predictions multiply it back per entry (`memory_factor`).
    memory: list = field(default_factory=list)
    #: Per mode ("jvp", "vjp"), (block bytes, multiplier): whole passes of large blocks
    #: cost more per element than rules timed alone (fresh pages for every intermediate
    #: block, where a loop reuses one), measured on passes of `ad.calibrate`'s programs.
    passes: dict = field(default_factory=dict)
    #: (Jacobian bytes, seconds per element) of seeding the blocks of directions and
    #: assembling the Jacobian, measured at several sizes (large ones fault in fresh pages).
    assembly: list = field(default_factory=list)
    #: The compiled tapes' prices: {"lines": {op: {mode: (per entry, per element, per
    #: element and direction)}}, "terms": COMPILED_TERMS}, an op being an interpreter
    #: entry's name (a primitive's, or "gather", "scatter", "select", "guard", ...) and a
    #: mode one of COMPILED_MODES. Empty when the table was made without Numba.
    compiled: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.engine = {term: float(self.engine.get(term, 0.0)) for term in ENGINE_TERMS}
        if self.memory:
            points = sorted(self.memory)
            rates = [float(r) for _, r in points]
            # below the fastest point small arrays are dominated by per-call overhead, which
            # the lines' own overheads price: the factor starts at the fastest point
            fastest = rates.index(min(rates))
            self._in_cache = rates[fastest]
            self._memory = ([math.log2(b) for b, _ in points],
                            [self._in_cache if j < fastest else r for j, r in enumerate(rates)])
        self._lines: dict[tuple, Line] = {}             # (name, mode, kind) -> its line
        self._factors: dict[tuple, float] = {}          # (bytes, mode) -> memory_factor
        self._compiled_median: dict[str, tuple] = {}    # mode -> the median op's line
        self._compiled_dearest: dict[str, tuple] = {}   # mode -> compiled_dearest(mode)
        self._passes = {}           # mode -> (log2 bytes, multiplier) of its pass points
        for mode, points in self.passes.items():
            ordered = sorted(points)
            if ordered:
                self._passes[mode] = ([math.log2(b) for b, _ in ordered],
                                      [float(f) for _, f in ordered])
        ordered = sorted(self.assembly)
        self._assembly = ([math.log2(b) for b, _ in ordered], [r for _, r in ordered])
        ordered = sorted(self.compiled.get("blocks") or ())
        self._blocks = ([math.log2(b) for b, _ in ordered], [r for _, r in ordered])
        self._variants: dict[str, list[str]] = {}     # primitive -> its variants' lines
        for key in sorted(self.lines):
            if "~" in key:
                self._variants.setdefault(key.split("~")[0], []).append(key)
        self._fallback: dict[tuple[str, str], Line] = {}
        for mode in MODES:
            every = [v[mode] for v in self.lines.values() if mode in v]
            for kind in KINDS:
                same = [self.lines[name][mode] for name, k in self.kinds.items()
                        if k == kind and name in self.lines and mode in self.lines[name]]
                pool = [tuple(v) + (0.0,) * (3 - len(v)) for v in same or every] or \
                    [(0.0, 0.0, 0.0)]
                self._fallback[kind, mode] = Line(*(_median([v[j] for v in pool])
                                                    for j in range(3)))

    def line(self, name: str, mode: str, kind: str = "other") -> Line:
        """The fitted line of primitive (or `variant`) `name` in `mode`; else that of the
        primitive the variant is of, or of another variant of it; else the median of its
        kind."""
        known = self._lines.get((name, mode, kind))
        if known is not None:
            return known
        base = name.split("~")[0]
        line = self._fallback[kind, mode]
        for key in (name, base, *self._variants.get(base, ())):
            entry = self.lines.get(key)
            if entry is not None and mode in entry:
                line = Line(*entry[mode])
                break
        self._lines[name, mode, kind] = line
        return line

    def compiled_line(self, op: str, mode: str) -> tuple[float, float, float]:
        """A compiled tape entry's (per entry, per element, per element and direction)
        seconds in `mode`: its op's line, else the median of the elementwise ops' lines
        (an op the table did not meet), else zeros (a table without compiled prices)."""
        lines = self.compiled.get("lines", {})
        line = lines.get(op, {}).get(mode)
        if line is None:
            line = self._compiled_median.get(mode)
            if line is None:
                pool = [v[mode] for v in lines.values() if mode in v] or [(0.0, 0.0, 0.0)]
                line = self._compiled_median[mode] = tuple(_median([p[j] for p in pool])
                                                           for j in range(3))
        return tuple(line)

    def compiled_dearest(self, mode: str) -> tuple[float, float, float]:
        """The largest per entry, per element and per direction prices of any compiled op
        in `mode` (and the median line's, which prices ops the table did not meet): what
        bounds a compiled tape's time without pricing its ops one by one."""
        dearest = self._compiled_dearest.get(mode)
        if dearest is None:
            lines = [v[mode] for v in self.compiled.get("lines", {}).values() if mode in v]
            lines.append(self.compiled_line("", mode))    # the median: an unknown op's
            dearest = self._compiled_dearest[mode] = tuple(max(line[j] for line in lines)
                                                          for j in range(3))
        return dearest

    def compiled_term(self, term: str) -> float:
        return float(self.compiled.get("terms", {}).get(term, 0.0))

    def compiled_block_rate(self, block_bytes: float) -> float:
        """Seconds per element of clearing (or copying) a compiled tape's block of
        `block_bytes`: the measured curve (`compiled["blocks"]`: bytes, seconds per element)
        at that size, else the `block_element` term."""
        if not self._blocks[0]:
            return self.compiled_term("block_element")
        return _interp(math.log2(max(block_bytes, 1.0)), *self._blocks)

    def calibrated(self, name: str) -> bool:
        """Whether `name` (a primitive or a variant) has a line of its own primitive."""
        base = name.split("~")[0]
        return base in self.lines or base in self._variants

    def assembly_seconds(self, elements: float, jacobian_bytes: float) -> float:
        """Seeds and assembly of a Jacobian of `jacobian_bytes`, `elements` of them in all
        (directions x (n + m)): the measured rate at that size, else the engine's element
        term times the memory curve."""
        if self.assembly:
            return elements * _interp(math.log2(max(jacobian_bytes, 1.0)), *self._assembly)
        return self.engine["element"] * elements * self.memory_factor(jacobian_bytes)

    def memory_factor(self, block_bytes: float, mode: str | None = None) -> float:
        """How much more an element costs when a block streams `block_bytes` than in cache
        (>= 1; from the memory curve, 1 where there is none), and, for a `mode` whose whole
        passes were measured, times that mode's pass multiplier. Plain floats: a prediction
        prices a few groups of entries, where NumPy's per-call cost would dominate; and
        remembered, since a program's blocks repeat the same few sizes."""
        key = (block_bytes, mode)
        factor = self._factors.get(key)
        if factor is not None:
            return factor
        if len(self._factors) >= 1 << 14:
            self._factors.clear()
        log_bytes = math.log2(max(block_bytes, 1.0))
        factor = max(_interp(log_bytes, *self._memory) / self._in_cache, 1.0) \
            if self.memory else 1.0
        points = self._passes.get(mode) if mode is not None else None
        if points is not None:
            factor *= _interp(log_bytes, *points)
        self._factors[key] = factor
        return factor

    # --- storage ---------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"key": self.key, "engine": self.engine, "kinds": self.kinds,
                "memory": self.memory, "passes": self.passes, "assembly": self.assembly,
                "compiled": self.compiled,
                "lines": {name: {mode: list(v) for mode, v in modes.items()}
                          for name, modes in sorted(self.lines.items())}}

    @classmethod
    def from_json(cls, data: dict, source: str) -> "Calibration":
        lines = {name: {mode: tuple(map(float, v)) for mode, v in modes.items()}
                 for name, modes in data["lines"].items()}
        return cls(lines, dict(data.get("kinds", {})), dict(data["engine"]),
                   dict(data.get("key", {})), source, list(data.get("memory", [])),
                   dict(data.get("passes", {})), list(data.get("assembly", [])),
                   dict(data.get("compiled", {})))

    def save(self, path: str | os.PathLike | None = None) -> pathlib.Path:
        """Write the table (by default to this machine's cache file for its key)."""
        path = pathlib.Path(path) if path is not None else cache_path(self.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True), encoding="utf-8")
        return path


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    """`np.interp` of one number (clamped at the ends), without NumPy's call overhead."""
    k = bisect.bisect_right(xs, x)
    if k == 0:
        return ys[0]
    if k == len(xs):
        return ys[-1]
    t = (x - xs[k - 1]) / (xs[k] - xs[k - 1])
    return ys[k - 1] + t * (ys[k] - ys[k - 1])


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


# ----------------------------------------------------------------------------- keys and cache
def _processor() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_hash() -> str:
    """A hash of the source whose speed a table measures (catalogue, kernels, engines)."""
    digest = hashlib.sha256()
    for name in _MEASURED_CODE:
        path = _PACKAGE / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(_PACKAGE).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def machine_key() -> dict:
    """What a table is valid for: this machine, these versions, this code."""
    numba = sys.modules.get("numba")   # the kernels import it; never import it only for this
    if numba is not None:
        numba_version = numba.__version__
    else:   # its dist-info directory names the version (importlib.metadata is slow to load)
        import importlib.util
        spec = importlib.util.find_spec("numba")
        found = sorted(pathlib.Path(spec.origin).parent.parent.glob("numba-*.dist-info")) \
            if spec and spec.origin else []
        numba_version = found[-1].name[len("numba-"):-len(".dist-info")] if found \
            else "unknown"
    return {"processor": _processor(), "cores": os.cpu_count(), "system": platform.system(),
            "python": "%d.%d" % sys.version_info[:2], "numpy": np.__version__,
            "numba": numba_version, "ad": sys.modules["ad"].__version__, "code": code_hash()}


def cache_dir() -> pathlib.Path:
    """$AD_CACHE_DIR, else $XDG_CACHE_HOME/admodes, else ~/.cache/admodes."""
    explicit = os.environ.get("AD_CACHE_DIR")
    if explicit:
        return pathlib.Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "admodes"


def cache_path(key: dict) -> pathlib.Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"calibration-{digest}.json"


def load_cached(key: dict | None = None) -> Calibration | None:
    """This key's cached table, or None (missing, unreadable, or made for another key)."""
    key = machine_key() if key is None else key
    path = cache_path(key)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("key") != key:       # copied from another machine, or a stale version
        return None
    return Calibration.from_json(data, "cache")


def load_default() -> Calibration:
    """The table shipped with the package."""
    return Calibration.from_json(json.loads(DEFAULT_TABLE.read_text(encoding="utf-8")),
                                 "default")


_CURRENT: list[Calibration] = []


def current() -> Calibration:
    """The table predictions use: set by `use`, else this machine's cached one, else the
    shipped default. Looked up once per process."""
    if not _CURRENT:
        _CURRENT.append(load_cached() or load_default())
    return _CURRENT[0]


def use(table: Calibration | None) -> None:
    """Make `table` the one predictions use (None: look it up again)."""
    _CURRENT.clear()
    if table is not None:
        _CURRENT.append(table)


__all__ = ["Calibration", "Line", "MODES", "ENGINE_TERMS", "KINDS", "COMPILED_MODES",
           "COMPILED_TERMS", "entry_work",
           "entry_elements", "kind_of",
           "variant",
           "machine_key", "code_hash", "cache_dir", "cache_path", "load_cached",
           "load_default", "current", "use", "DEFAULT_TABLE"]
