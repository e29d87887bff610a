"""The traced program as a graph: `trace`, the Wengert list, Graphviz DOT and rendering.

`trace(f, *args)` runs `f` once on a `GraphLevel` (a `ReverseLevel` that also keeps every
forward value in a side list, so the tape format is unchanged) and returns a `Graph`:
nodes are primitive applications with their shapes, edges are data dependencies (each
carries a local partial derivative). A `Graph` prints as a Wengert list, exports DOT with
forward values on the nodes and, after `backward()`, adjoints in a second colour, and
renders SVG/PNG through the Graphviz `dot` program when it is installed.

Everything here is a loop over the node list (ids are topologically ordered), never a
recursion, so graphs with millions of nodes are fine. Imports `ad.errors`, `ad.context`,
`ad.primitive`, `ad.reverse`, `ad.recording` and `ad.tree`; never the catalogue, `ad.cost`
or the transforms.
"""
from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ad.errors import ADError
from ad.primitive import Primitive, Tracer, float_dtype, primal_value
from ad.recording import Recording, check_callable, normalize_argnums
from ad.reverse import MeasuringLevel, ReverseLevel, TapeValue, sweep
from ad.tape import CONSTANT

#: Colours of the picture: forward values and data edges, backward adjoints.
FORWARD_COLOUR = "#1f5fbf"
BACKWARD_COLOUR = "#c0392b"


class GraphvizNotFoundError(ADError, RuntimeError):
    """The Graphviz `dot` program is needed to render a graph but is not on PATH."""


# ----------------------------------------------------------------------------- recording
class GraphLevel(ReverseLevel):
    """A reverse level that also remembers every value's forward value (for the picture).

    The tape is exactly a `ReverseLevel`'s (constants included); the forward values live in
    a side list indexed by value id.
    """

    kind = "reverse"
    __slots__ = ("values",)

    def __init__(self) -> None:
        super().__init__()
        self.values: list[Any] = []            # id -> forward value

    def new_input(self, primal: Any) -> TapeValue:
        self.values.append(primal)
        return super().new_input(primal)

    def process(self, primitive, args, params):
        before = len(self.tape)
        out = super().process(primitive, args, params)
        if len(self.tape) > before:   # recorded (non-differentiable results are constants)
            self.values.extend(o.primal for o in (out if type(out) is tuple else (out,)))
        return out


@dataclass
class Node:
    """One value of the traced program: an input, or a primitive application."""

    id: int
    primitive: Primitive | None          # None for an input
    params: dict
    parents: tuple[int | None, ...]      # per argument: the id it came from, or None (constant)
    shape: tuple[int, ...]
    in_shapes: tuple[tuple[int, ...], ...]
    constants: tuple | None              # per argument: the constant (None where traced)
    entry: int | None                    # position on the tape (None for an input)
    result: int = 0                      # which result of its primitive (several outputs)

    @property
    def name(self) -> str:
        if self.primitive is None:
            return "input"
        if self.primitive.n_outputs == 1:
            return self.primitive.name
        return f"{self.primitive.name}[{self.result}]"

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def is_input(self) -> bool:
        return self.primitive is None


class Graph:
    """A traced program: nodes in execution order (ids 0..N-1, inputs first).

    `inputs` and `outputs` are node ids (an output is None when it does not depend on the
    inputs); `values[i]` is node i's forward value; `adjoints` is filled by `backward()`.
    `tape` is the reverse-mode tape the trace recorded, usable by the sweep.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> g = ad.trace(lambda x, y: anp.sin(x) * y, 1.0, 2.0)
    >>> print(g)
    v0 = input                         # ()
    v1 = input                         # ()
    v2 = sin(v0)                       # ()
    v3 = multiply(v2, v1)              # ()
    return v3
    """

    def __init__(self, level: GraphLevel, input_ids: Sequence[int],
                 output_ids: Sequence[int | None], output_values: Sequence[Any],
                 out_structure: Any = None) -> None:
        self.level = level
        self.tape = level.tape
        self.values = level.values
        self.inputs = list(input_ids)
        self.outputs = list(output_ids)
        self.output_values = list(output_values)
        self.out_structure = out_structure
        self.adjoints: list[Any] | None = None
        self.nodes: list[Node] = []
        for i in self.inputs:
            self.nodes.append(Node(i, None, {}, (), self.tape.shapes[i], (), None, None))
        tape = self.tape
        for position, (primitive, params, parents, constants, out, _) in enumerate(
                tape.entries()):
            for j in range(primitive.n_outputs):   # one node per result
                self.nodes.append(Node(out + j, primitive, params,
                                       tuple(None if p == CONSTANT else p for p in parents),
                                       tape.shapes[out + j],
                                       tuple(tape.in_shapes(parents, constants)), constants,
                                       position, j))

    # --- sizes ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    @property
    def n(self) -> int:
        """Number of scalar inputs."""
        return sum(self.nodes[i].size for i in self.inputs)

    @property
    def m(self) -> int:
        """Number of scalar outputs."""
        return sum(math.prod(np.shape(v)) for v in self.output_values)

    @property
    def edges(self) -> list[tuple[int, int, int]]:
        """(parent id, child id, argument position) for every data dependency."""
        return [(p, node.id, k) for node in self.nodes for k, p in enumerate(node.parents)
                if p is not None]

    def consumers(self) -> list[list[int]]:
        """For each node id, the ids of the nodes that use it (one loop over the edges)."""
        users: list[list[int]] = [[] for _ in self.nodes]
        for node in self.nodes:
            for p in node.parents:
                if p is not None and (not users[p] or users[p][-1] != node.id):
                    users[p].append(node.id)
        return users

    # --- the backward sweep, keeping every adjoint ---------------------------------------
    def backward(self, cotangents: Sequence[Any] | Any = None) -> "Graph":
        """Sweep adjoints from the outputs back to every node; returns the graph.

        `cotangents` gives one seed per output (default: ones, i.e. the gradient of the
        sum of the outputs). Unlike the engine's sweep, every adjoint is kept, for the
        picture. Nodes the outputs do not depend on get adjoint None.

        >>> import ad, ad.numpy as anp
        >>> g = ad.trace(lambda x: x * x, 3.0).backward()
        >>> float(g.adjoints[0])
        6.0
        """
        if cotangents is None:
            seeds = [np.ones(np.shape(v), dtype=float_dtype(v)) for v in self.output_values]
        else:
            seeds = list(cotangents) if isinstance(cotangents, (list, tuple)) else [cotangents]
            if len(seeds) != len(self.outputs):
                raise ValueError(f"backward: {len(seeds)} cotangents for "
                                 f"{len(self.outputs)} outputs")
        seeds = [(index, np.asarray(seed, dtype=float_dtype(self.values[index])))
                 for index, seed in zip(self.outputs, seeds) if index is not None]
        self.adjoints = sweep(self.tape, seeds, keep=True)
        return self

    @property
    def gradients(self) -> list[Any]:
        """Adjoints of the inputs (after `backward()`), zeros where nothing flowed."""
        if self.adjoints is None:
            raise ValueError("no adjoints yet: call graph.backward() first")
        return [np.zeros(np.shape(self.values[i])) if self.adjoints[i] is None
                else self.adjoints[i] for i in self.inputs]

    # --- text ----------------------------------------------------------------------------
    def _argument(self, node: Node, k: int) -> str:
        parent = node.parents[k]
        if parent is not None:
            return f"v{parent}"
        value = node.constants[k]
        return _short(value) if value is not None else "const"

    def _call(self, node: Node) -> str:
        args = [self._argument(node, k) for k in range(len(node.parents))]
        params = [f"{key}={_short(value)}" for key, value in node.params.items()]
        return f"{node.name}({', '.join(args + params)})"

    def wengert(self) -> str:
        """The program as a Wengert list: one assignment per node, then the outputs."""
        lines = []
        for node in self.nodes:
            rhs = "input" if node.is_input else self._call(node)
            lines.append(f"{f'v{node.id} = {rhs}':<34} # {node.shape}")
        outs = ", ".join("const" if i is None else f"v{i}" for i in self.outputs)
        lines.append(f"return {outs}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.wengert()

    def __repr__(self) -> str:
        return (f"<Graph: {len(self.inputs)} inputs ({self.n} scalars), "
                f"{len(self.nodes) - len(self.inputs)} operations, {len(self.outputs)} outputs "
                f"({self.m} scalars)>")

    # --- Graphviz ----------------------------------------------------------------------
    def to_dot(self, *, values: bool = True, adjoints: bool = True, name: str = "ad") -> str:
        """Graphviz DOT text: forward values in one colour and, after `backward()`, adjoints
        in another (with dashed edges drawn from each node back to its parents).

        >>> import ad, ad.numpy as anp
        >>> dot = ad.trace(lambda x: anp.sin(x), 0.5).to_dot()
        >>> dot.startswith("digraph ad {") and "sin" in dot
        True
        """
        show_adjoints = adjoints and self.adjoints is not None
        out_set = {i for i in self.outputs if i is not None}
        lines = [f"digraph {_dot_id(name)} {{", "  rankdir=TB;",
                 '  node [fontname="Helvetica", fontsize=10];',
                 f'  edge [color="{FORWARD_COLOUR}", arrowsize=0.7, fontname="Helvetica", '
                 'fontsize=8];']
        for node in self.nodes:
            rows = [f"<b>v{node.id} = {_html(node.name)}</b>"]
            rows.append(f"{_html(str(node.shape))}")
            if values:
                value = _html(_summary(self.values[node.id]))
                rows.append(f'<font color="{FORWARD_COLOUR}">value {value}</font>')
            if show_adjoints:
                adj = self.adjoints[node.id]
                text = "none" if adj is None else _summary(adj)
                rows.append(f'<font color="{BACKWARD_COLOUR}">adjoint {_html(text)}</font>')
            shape = "ellipse" if node.is_input else "box"
            border = ', penwidth=2' if node.id in out_set else ""
            lines.append(f'  v{node.id} [shape={shape}{border}, label=<{"<br/>".join(rows)}>];')
        for node in self.nodes:
            for k, parent in enumerate(node.parents):
                if parent is not None:
                    label = f' [label="{k}"]' if len(node.parents) > 1 else ""
                    lines.append(f"  v{parent} -> v{node.id}{label};")
        if show_adjoints:
            for node in self.nodes:
                if self.adjoints[node.id] is None:
                    continue
                for parent in dict.fromkeys(p for p in node.parents if p is not None):
                    lines.append(f'  v{node.id} -> v{parent} [color="{BACKWARD_COLOUR}", '
                                 'style=dashed, constraint=false];')
        legend = f'<font color="{FORWARD_COLOUR}">forward values</font>'
        if show_adjoints:
            legend += f'<br/><font color="{BACKWARD_COLOUR}">backward adjoints</font>'
        lines.append(f"  legend [shape=note, label=<{legend}>];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render(self, path: str | Path, format: str | None = None, **dot_options) -> Path:
        """Write the picture to `path` (format from the suffix: svg, png, pdf, or dot).

        `.dot` needs nothing; other formats run the Graphviz `dot` program and raise
        `GraphvizNotFoundError` with install hints when it is missing.
        """
        path = Path(path)
        fmt = (format or path.suffix.lstrip(".") or "svg").lower()
        text = self.to_dot(**dot_options)
        if fmt in ("dot", "gv"):
            path.write_text(text)
            return path
        path.write_bytes(run_dot(text, fmt))
        return path

    def _repr_svg_(self) -> str | None:   # Jupyter shows the picture when dot exists
        if shutil.which("dot") is None:
            return None
        return run_dot(self.to_dot(), "svg").decode()


def run_dot(text: str, fmt: str = "svg") -> bytes:
    """Run Graphviz `dot -T<fmt>` on DOT text and return its output."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError(
            "rendering needs the Graphviz 'dot' program, which is not on PATH. Install "
            "Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; "
            "conda: conda install graphviz), or save the DOT text instead: "
            "graph.render('g.dot') or graph.to_dot()")
    done = subprocess.run([exe, f"-T{fmt}"], input=text.encode(), capture_output=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {done.stderr.decode().strip()}")
    return done.stdout


# ----------------------------------------------------------------------------- trace
def trace(f: Callable, *args, argnums: int | Sequence[int] | None = None, **kwargs) -> Graph:
    """Run `f(*args, **kwargs)` once and record it as a `Graph`.

    The leaves of the arguments in `argnums` (default: every positional argument) are the
    graph's inputs; other arguments are constants.

    >>> import numpy as np, ad, ad.numpy as anp
    >>> g = ad.trace(lambda x: anp.sum(anp.tanh(x)), np.zeros(3))
    >>> [node.name for node in g.nodes], g.n, g.m
    (['input', 'tanh', 'sum'], 3, 1)
    """
    check_callable(f, "trace")
    nums = normalize_argnums(tuple(range(len(args))) if argnums is None else argnums,
                             len(args), "trace", f)
    recording = Recording(f, args, kwargs, nums, False, "trace", level=GraphLevel())
    out_values = [primal_value(p) if isinstance(p, Tracer) else np.asarray(p)
                  for p in recording.out_primals]
    return Graph(recording.level, recording.in_ids, recording.out_ids, out_values,
                 recording.out_structure)


def measure(f: Callable, *args, argnums: int | Sequence[int] | None = None, **kwargs):
    """Run `f` once on a tape that keeps no residuals, only what they would cost
    (`ad.reverse.MeasuringLevel`); returns that tape (`ad.cost.memory.footprint` reads it).

    >>> import sys, numpy as np, ad.numpy as anp
    >>> tape = measure(lambda x: anp.sum(anp.tanh(x)), np.zeros(4))
    >>> (tanh, held), summed = tape.residuals   # tanh keeps its partial, sum nothing
    >>> tanh - sys.getsizeof(np.empty(0)), held, summed      # 32 bytes and the array object
    (32, (), (0, ()))
    """
    check_callable(f, "measure")
    nums = normalize_argnums(tuple(range(len(args))) if argnums is None else argnums,
                             len(args), "measure", f)
    return Recording(f, args, kwargs, nums, False, "measure", level=MeasuringLevel()).level.tape


# ----------------------------------------------------------------------------- formatting
def _short(value) -> str:
    """A parameter or constant in a few characters."""
    if isinstance(value, Tracer):
        value = primal_value(value)
    if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) > 0:
        return "const[" + "x".join(map(str, np.shape(value))) + "]" if np.size(value) > 3 else \
            "[" + ", ".join(f"{float(x):.4g}" for x in np.ravel(value)) + "]"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, tuple) and len(value) > 6:
        return f"({len(value)} items)"
    if isinstance(value, np.dtype) or isinstance(value, type):
        return np.dtype(value).name
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _summary(value) -> str:
    """A value for a picture: the number, a few entries, or its norm for big arrays."""
    value = primal_value(value)
    array = np.asarray(value)
    if array.ndim == 0:
        return f"{float(array):.4g}"
    if array.size <= 3:
        return "[" + ", ".join(f"{float(x):.3g}" for x in array.ravel()) + "]"
    return f"|.|={float(np.linalg.norm(array.ravel())):.4g}"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _dot_id(name: str) -> str:
    return name if name.isidentifier() else '"' + name.replace('"', r"\"") + '"'


__all__ = ["trace", "measure", "Graph", "Node", "GraphLevel", "GraphvizNotFoundError", "run_dot",
           "FORWARD_COLOUR", "BACKWARD_COLOUR"]
