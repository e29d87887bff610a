"""Turning records into tables, targets, markdown and plots.

A *record* is one (tool, workload, variant) result as written by
:func:`benchmarks.peers.evaluate`; this module groups them into *columns* (a tool, or a
tool's flavour: "JAX jit", "torch.func") and *rows* (workload and derivative kind), and
checks the issue's targets. Tables are plain data (:class:`Table`) rendered with rich
when it is installed, as plain text otherwise, and as markdown for the README.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.workloads import W4_SIZES, family

Record = dict[str, Any]

#: (tool, tag) -> column label; a tag missing here keeps the tool's untagged column.
COLUMN_LABELS = {
    ("ad", None): "ad", ("ad", "optimal"): "ad", ("ad", "numpy-path"): "ad NumPy path",
    ("ad", "compiled"): "ad compiled",
    ("numpy_hand", None): "hand NumPy", ("numpy_hand", "optimal"): "hand NumPy",
    ("jax_peer", None): "JAX", ("jax_peer", "jit"): "JAX jit",
    ("torch_peer", None): "torch", ("torch_peer", "func"): "torch.func",
    ("torch_peer", "functional"): "torch.AF",
    ("autograd_peer", None): "autograd", ("autograd_peer", "loop"): "autograd",
    ("mygrad_peer", None): "mygrad",
    ("casadi_peer", None): "CasADi", ("casadi_peer", "jit"): "CasADi jit",
    ("advect_peer", None): "advect", ("advect_peer", "linearize"): "advect",
    ("advect_peer", "staged"): "advect staged",
}
COLUMN_ORDER = ("ad", "ad compiled", "hand NumPy", "JAX", "JAX jit", "torch", "torch.func",
                "torch.AF", "autograd", "mygrad", "CasADi", "CasADi jit", "advect",
                "advect staged", "ad NumPy path")
#: Columns that compile ahead (excluded from "non-jitted peer" comparisons), and the floor.
COMPILED = {"JAX jit", "advect staged", "CasADi jit", "ad compiled"}
NOT_PEERS = {"ad", "ad compiled", "ad NumPy path", "hand NumPy"}
ROW_ORDER = ("value", "grad", "jacfwd", "jacrev", "jacobian", "optimal", "hessian", "hvp")
ROW_LABELS = {"jacfwd": "jacobian forward", "jacrev": "jacobian reverse",
              "jacobian": "jacobian auto", "optimal": "jacobian optimal"}


def column_of(rec: Record) -> str:
    """The column a record is shown in."""
    tool, tag = rec["tool"], rec.get("tag")
    if (tool, tag) in COLUMN_LABELS:
        return COLUMN_LABELS[(tool, tag)]
    if (tool, None) in COLUMN_LABELS:
        return COLUMN_LABELS[(tool, None)]
    return tool if tag is None else f"{tool}[{tag}]"


def row_of(rec: Record) -> str:
    """The derivative row of a record: its kind, or ``optimal`` for the optimal bracketing."""
    return "optimal" if rec.get("tag") == "optimal" else rec["kind"]


def workload_order(name: str) -> tuple[int, int, int]:
    """Sort key: W1..W6, W4 rows in the issue's order."""
    fam = family(name)
    idx = int(fam[1:]) if fam[1:].isdigit() else 99
    if fam == "W4" and "_" in name:
        n, m = (int(v) for v in name.split("_", 1)[1].split("x"))
        sub = W4_SIZES.index((n, m)) if (n, m) in W4_SIZES else 50 + n
        return idx, sub, 0
    return idx, 0, 0


def fmt_time(seconds: float | None) -> str:
    """A duration with 3 significant digits in s, ms, µs or ns."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_ratio(ratio: float | None) -> str:
    """A time ratio to ``ad`` (>1: ``ad`` is faster)."""
    if ratio is None:
        return ""
    return f"{ratio:.2g}x" if ratio < 10 else f"{ratio:.0f}x"


# ------------------------------------------------------------------ grouping


class Index:
    """Records looked up by (workload, row, column); the fastest variant wins a cell."""

    def __init__(self, records: Iterable[Record]) -> None:
        self.records = [r for r in records if r.get("tool")]
        self.cells: dict[tuple[str, str, str], Record] = {}
        for rec in self.records:
            if rec.get("median_s") is None:
                continue
            key = (rec["workload"], row_of(rec), column_of(rec))
            best = self.cells.get(key)
            if best is None or rec["median_s"] < best["median_s"]:
                self.cells[key] = rec

    def time(self, workload: str, row: str, column: str) -> float | None:
        rec = self.cells.get((workload, row, column))
        return None if rec is None else rec["median_s"]

    def record(self, workload: str, row: str, column: str) -> Record | None:
        return self.cells.get((workload, row, column))

    def workloads(self) -> list[str]:
        return sorted({r["workload"] for r in self.records}, key=workload_order)

    def rows(self, workload: str) -> list[str]:
        rows = {row_of(r) for r in self.records if r["workload"] == workload}
        return sorted(rows, key=lambda k: ROW_ORDER.index(k) if k in ROW_ORDER else 99)

    def columns(self, exclude: Iterable[str] = ()) -> list[str]:
        cols = {column_of(r) for r in self.records} - set(exclude)
        return sorted(cols, key=lambda c: COLUMN_ORDER.index(c) if c in COLUMN_ORDER else 50)

    def best_mode(self, workload: str, column: str,
                  rows: tuple[str, ...] = ("jacfwd", "jacrev", "jacobian")
                  ) -> tuple[str | None, float | None]:
        """The fastest of a column's Jacobian rows on a workload: (row, seconds)."""
        found = [(t, r) for r in rows if (t := self.time(workload, r, column)) is not None]
        if not found:
            return None, None
        t, r = min(found)
        return r, t


def add_ratios(records: list[Record]) -> None:
    """Set ``ratio_to_ad`` on every timed record: its median over ``ad``'s, same row.

    A row ``ad`` has no variant for (the optimal bracketing before ``ad.chain``
    exists) is compared with ``ad``'s auto Jacobian and says so in ``ratio_base``.
    """
    ad = {(r["workload"], row_of(r)): r for r in records
          if r.get("tool") == "ad" and r.get("tag") in (None, "optimal")
          and r.get("median_s") is not None}
    for rec in records:
        if rec.get("median_s") is None:
            continue
        row = row_of(rec)
        base = ad.get((rec["workload"], row))
        base_row = row
        if base is None and row == "optimal":
            base, base_row = ad.get((rec["workload"], "jacobian")), "jacobian"
        if base is not None:
            rec["ratio_to_ad"] = rec["median_s"] / base["median_s"]
            rec["ratio_base"] = f"ad {base_row}"


# ------------------------------------------------------------------ tables


def _one_line(cell: str) -> str:
    """"1.2 ms\\n3x" -> "1.2 ms (3x)"."""
    first, _, rest = cell.partition("\n")
    return f"{first} ({rest})" if rest else first


@dataclass
class Table:
    """A titled table of strings (cells may hold a second line after ``\\n``)."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""

    def markdown(self) -> str:
        def cell(s: str) -> str:
            return _one_line(s).replace("|", "\\|")
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in self.rows]
        if self.caption:
            lines += ["", self.caption]
        return "\n".join(lines)

    def text(self) -> str:
        flat = [[_one_line(c) for c in row] for row in self.rows]
        widths = [max([len(h)] + [len(r[i]) for r in flat]) for i, h in enumerate(self.columns)]
        lines = [self.title, "  ".join(h.ljust(w) for h, w in zip(self.columns, widths))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in flat]
        if self.caption:
            lines.append(self.caption)
        return "\n".join(lines)

    def rich(self) -> Any:
        from rich.table import Table as RichTable

        t = RichTable(title=self.title, caption=self.caption or None, show_lines=False,
                      title_justify="left")
        for i, c in enumerate(self.columns):
            t.add_column(c, justify="left" if i < 2 else "right", overflow="fold")
        for row in self.rows:
            t.add_row(*row)
        return t


def summary_table(index: Index, op_count: int | None) -> Table:
    """Workload x tool medians, each with its ratio to ``ad``."""
    cols = index.columns(exclude=("ad NumPy path",))
    table = Table("Median time per call (ratio to ad: >1x means ad is faster)",
                  ["workload", "derivative"] + cols,
                  caption="median over repeats after warm-up; first calls are in the next "
                          "table; '-' = not run by that tool")
    for w in index.workloads():
        for row in index.rows(w):
            ad_t = index.time(w, row, "ad")
            cells = []
            for c in cols:
                t = index.time(w, row, c)
                if t is None:
                    cells.append("-")
                elif c == "ad" or ad_t is None:
                    cells.append(fmt_time(t))
                else:
                    cells.append(f"{fmt_time(t)}\n{fmt_ratio(t / ad_t)}")
            table.rows.append([w, ROW_LABELS.get(row, row)] + cells)
        if family(w) == "W1" and op_count:
            cells = []
            for c in cols:
                t = index.time(w, "grad", c)
                cells.append("-" if t is None else fmt_time(t / op_count))
            table.rows.append([w, f"grad per op ({op_count} ops)"] + cells)
    return table


def first_call_table(index: Index) -> Table:
    """Set-up plus first call (compilation, tracing) per workload and tool."""
    cols = index.columns(exclude=("ad NumPy path",))
    table = Table("First call (set-up + first call, includes JIT compilation)",
                  ["workload", "derivative"] + cols)
    for w in index.workloads():
        for row in index.rows(w):
            cells = []
            for c in cols:
                rec = index.record(w, row, c)
                cells.append("-" if rec is None or rec.get("first_s") is None
                             else fmt_time(rec.get("setup_s", 0.0) + rec["first_s"]))
            table.rows.append([w, ROW_LABELS.get(row, row)] + cells)
    return table


def mode_table(index: Index) -> Table:
    """W4 rows and W6: ad's forward, reverse and auto, and the best peers."""
    table = Table("Mode comparison (W4: n inputs -> m outputs; W6: diamond chain)",
                  ["workload", "ad forward", "ad reverse", "ad auto", "auto ~ mode",
                   "ad optimal", "best non-jit peer", "best jit peer", "hand NumPy best"])
    for w in index.workloads():
        if family(w) not in ("W4", "W6"):
            continue
        fwd, rev, auto = (index.time(w, r, "ad") for r in ("jacfwd", "jacrev", "jacobian"))
        pick = "-"
        if None not in (fwd, rev, auto):
            pick = "forward" if abs(math.log(auto / fwd)) < abs(math.log(auto / rev)) else "reverse"
            faster = "forward" if fwd < rev else "reverse"
            pick += " (faster)" if pick == faster else f" (faster: {faster})"
        peers = [c for c in index.columns() if c not in NOT_PEERS]

        def best(cols: list[str]) -> str:
            found = [(t, c, r) for c in cols for r, t in [index.best_mode(w, c)] if t is not None]
            if not found:
                return "-"
            t, c, r = min(found)
            return f"{fmt_time(t)} {c} {ROW_LABELS.get(r, r).replace('jacobian ', '')}"
        hand = index.best_mode(w, "hand NumPy", ("jacfwd", "jacrev", "optimal"))[1]
        table.rows.append([w, fmt_time(fwd), fmt_time(rev), fmt_time(auto), pick,
                           fmt_time(index.time(w, "optimal", "ad")),
                           best([c for c in peers if c not in COMPILED]),
                           best([c for c in peers if c in COMPILED]), fmt_time(hand)])
    return table


# ------------------------------------------------------------------ targets


@dataclass
class Target:
    """One of the issue's targets, with the measured value."""

    workload: str
    goal: str
    measured: float | None
    limit: float
    sense: str                                   # "<=": measured at most limit; ">="
    show: Callable[[float], str] = fmt_ratio
    detail: str = ""
    info: bool = False                           # shown, not judged

    @property
    def status(self) -> str:
        if self.measured is None:
            return "n/a"
        if self.info:
            return "info"
        ok = self.measured <= self.limit if self.sense == "<=" else self.measured >= self.limit
        return "met" if ok else "missed"

    @property
    def margin(self) -> float | None:
        """How far from the limit, as a factor (>1: missed by that factor)."""
        if self.measured is None or self.measured <= 0:
            return None
        return self.measured / self.limit if self.sense == "<=" else self.limit / self.measured

    def as_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "goal": self.goal, "measured": self.measured,
                "limit": self.limit, "sense": self.sense, "status": self.status,
                "margin": self.margin, "detail": self.detail}


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.3g} µs"


def targets(index: Index, op_count: int | None, auto_tolerance: float = 1.10) -> list[Target]:
    """The issue's targets, measured on this run's records."""
    out: list[Target] = []
    t = index.time
    per_op = _div(t("W1", "grad", "ad"), op_count)
    out.append(Target("W1", "grad per recorded op <= 5 µs", per_op, 5e-6, "<=", _us,
                      f"{op_count} ops on ad's tape" if op_count else "op count unknown"))
    compiled = t("W1", "grad", "ad compiled")
    if compiled is not None:          # issue 12: the compiled tape against compiling peers
        out.append(Target("W1", "compiled grad per op <= JAX jit's (issue 12)",
                          _div(compiled, t("W1", "grad", "JAX jit")), 1.0, "<=",
                          detail=f"ad compiled {fmt_time(compiled)}"))
        casadi = [c for c in (t("W1", "grad", "CasADi"), t("W1", "grad", "CasADi jit"))
                  if c is not None]
        out.append(Target("W1", "compiled grad per op <= CasADi's, its best way (issue 12)",
                          _div(compiled, min(casadi, default=None) if casadi else None), 1.0,
                          "<=", detail=", ".join(
                              f"{label} {fmt_time(c)}" for label in ("CasADi", "CasADi jit")
                              for c in [t("W1", "grad", label)] if c is not None)))
    out.append(Target("W1", "grad >= 3x faster than PyTorch eager",
                      _div(t("W1", "grad", "torch"), t("W1", "grad", "ad")), 3.0, ">="))
    out.append(Target("W1", "grad >= 5x faster than autograd",
                      _div(t("W1", "grad", "autograd"), t("W1", "grad", "ad")), 5.0, ">="))
    out.append(Target("W2", "grad/f <= 1.5",
                      _div(t("W2", "grad", "ad"), t("W2", "value", "ad")), 1.5, "<="))
    numpy_path = t("W2", "grad", "ad NumPy path")
    if numpy_path is not None:
        out.append(Target("W2", "fused kernels vs plain NumPy path (grad time ratio, info)",
                          _div(t("W2", "grad", "ad"), numpy_path), 1.0, "<=",
                          detail=f"NumPy path {fmt_time(numpy_path)}", info=True))
    out.append(Target("W3", "grad within 1.2x of hand NumPy",
                      _div(t("W3", "grad", "ad"), t("W3", "grad", "hand NumPy")), 1.2, "<="))
    out.append(Target("W3", "grad >= 2.5x faster than autograd",
                      _div(t("W3", "grad", "autograd"), t("W3", "grad", "ad")), 2.5, ">="))
    for w in index.workloads():
        if family(w) != "W4":
            continue
        fwd, rev, auto = (t(w, r, "ad") for r in ("jacfwd", "jacrev", "jacobian"))
        better = min(fwd, rev) if fwd is not None and rev is not None else None
        out.append(Target(w, f"auto picks the faster mode (auto <= {auto_tolerance:g} x "
                             "faster pure mode)", _div(auto, better), auto_tolerance, "<="))
        peers = [c for c in index.columns() if c not in NOT_PEERS | COMPILED]
        found = [(tt, c) for c in peers if (tt := index.best_mode(w, c)[1]) is not None]
        best_peer, best_col = min(found) if found else (None, "")
        out.append(Target(w, "auto faster than every non-jitted peer's better mode",
                          _div(best_peer, auto), 1.0, ">=",
                          detail=f"best: {best_col} {fmt_time(best_peer)}" if found else ""))
    torch_h = [x for x in (t("W5", "hessian", c) for c in ("torch", "torch.func", "torch.AF"))
               if x is not None]
    out.append(Target("W5", "Hessian faster than PyTorch's",
                      _div(min(torch_h) if torch_h else None, t("W5", "hessian", "ad")),
                      1.0, ">="))
    out.append(Target("W5", "Hessian within 1.5x of JAX jit",
                      _div(t("W5", "hessian", "ad"), t("W5", "hessian", "JAX jit")), 1.5, "<="))
    out.append(Target("W5", "HVP faster than autograd's",
                      _div(t("W5", "hvp", "autograd"), t("W5", "hvp", "ad")), 1.0, ">="))
    fwd, rev, auto = (t("W6", r, "ad") for r in ("jacfwd", "jacrev", "jacobian"))
    better = min(fwd, rev) if fwd is not None and rev is not None else None
    out.append(Target("W6", f"auto no worse than the better pure mode (<= {auto_tolerance:g}x)",
                      _div(auto, better), auto_tolerance, "<="))
    optimal = t("W6", "optimal", "ad")
    if optimal is not None:
        out.append(Target("W6", "optimal bracketing beats both pure modes (issue 4)",
                          _div(optimal, better), 1.0, "<="))
        hand = t("W6", "optimal", "hand NumPy")
        out.append(Target("W6", "optimal bracketing vs hand NumPy's (info)", _div(optimal, hand),
                          1.0, "<=", info=True))
    return out


def targets_table(items: list[Target]) -> Table:
    """Targets as met / missed (by what factor) / n/a (a peer was not run)."""
    table = Table("Targets (issues 5 and 12)",
                  ["workload", "target", "measured", "status", "detail"])
    for tg in items:
        measured = "-" if tg.measured is None else tg.show(tg.measured)
        status = tg.status
        if status == "missed" and tg.margin is not None:
            status = f"missed by {tg.margin:.2f}x"
        elif status == "n/a":
            status = "n/a (peer not run)"
        table.rows.append([tg.workload, tg.goal, measured, status, tg.detail])
    return table


def coldstart_table(cold: dict[str, Any]) -> Table | None:
    """Import and first-call times from fresh processes, empty and warm Numba cache."""
    empty, warm = cold.get("empty_cache", {}), cold.get("warm_cache", {})
    if "error" in empty or not empty:
        return None
    table = Table("Cold start (fresh process)", ["what", "empty Numba cache", "warm Numba cache"])
    table.rows.append(["import numpy", fmt_time(empty.get("import_numpy_s")),
                       fmt_time(warm.get("import_numpy_s"))])
    table.rows.append(["import ad (after numpy)", fmt_time(empty.get("import_ad_s")),
                       fmt_time(warm.get("import_ad_s"))])
    for case, e in empty.get("calls", {}).items():
        w = warm.get("calls", {}).get(case, {})
        table.rows.append([f"{case}: first call / second call",
                           f"{fmt_time(e['first_s'])} / {fmt_time(e['second_s'])}",
                           f"{fmt_time(w.get('first_s'))} / {fmt_time(w.get('second_s'))}"])
    return table


def dict_rows_table(title: str, rows: list[dict[str, Any]]) -> Table:
    """A table from a list of dicts (the cost-model rows), columns in first-seen order."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    table = Table(title, cols)
    for r in rows:
        table.rows.append([_cell(r.get(c)) for c in cols])
    return table


def cost_model_tables(sections: dict[str, Any]) -> list[Table]:
    """One table per section of the cost-model benchmark (issue 4), scalars in one more."""
    tables, scalars = [], {}
    for name, value in sections.items():
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            tables.append(dict_rows_table(f"Cost model ({name}): predicted vs measured", value))
        elif isinstance(value, dict):
            row = {k: v for k, v in value.items()
                   if not (isinstance(v, str) and "\n" in v) and not isinstance(v, (list, dict))}
            tables.append(dict_rows_table(f"Cost model ({name})", [row]))
        elif isinstance(value, (int, float, str, bool)) or hasattr(value, "item"):
            scalars[name] = value
    if scalars:
        tables.append(dict_rows_table("Cost model summary", [scalars]))
    return tables


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(_cell(x) for x in v)
    return str(v)


# ------------------------------------------------------------------ plots


def plot_modes(index: Index, path_w4: str, path_w6: str, title_suffix: str = "") -> list[str]:
    """W4 (forward / reverse / auto per (n, m)) and W6 (every variant) as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    rows = [w for w in index.workloads() if family(w) == "W4"]
    if rows:
        fig, ax = plt.subplots(figsize=(9, 4.8))
        width = 0.25
        xs = range(len(rows))
        for k, (row, color) in enumerate((("jacfwd", "#4c72b0"), ("jacrev", "#dd8452"),
                                          ("jacobian", "#55a868"))):
            vals = [index.time(w, row, "ad") or float("nan") for w in rows]
            ax.bar([x + (k - 1) * width for x in xs], [v * 1e3 for v in vals], width,
                   label=f"ad {ROW_LABELS[row].replace('jacobian ', '')}", color=color)
        for col, marker in (("hand NumPy", "_"), ("JAX jit", "x"), ("torch.func", "o"),
                            ("autograd", "^"), ("JAX", "s"), ("advect", "d")):
            pts = [index.best_mode(w, col, ("jacfwd", "jacrev", "jacobian", "optimal"))[1]
                   for w in rows]
            if any(p is not None for p in pts):
                ax.plot(list(xs), [(p or float("nan")) * 1e3 for p in pts], marker,
                        linestyle="none", markersize=8, label=f"{col} (better mode)",
                        color="black" if col == "hand NumPy" else None)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([w.split("_", 1)[1].replace("x", " -> ") for w in rows])
        ax.set_xlabel("n inputs -> m outputs")
        ax.set_yscale("log")
        ax.set_ylabel("median time per Jacobian (ms, log)")
        ax.set_title(f"W4: Jacobian of tanh(W2 tanh(W1 x)) by mode{title_suffix}")
        ax.legend(fontsize=8, ncol=2)
        fig.tight_layout()
        fig.savefig(path_w4, dpi=110)
        plt.close(fig)
        written.append(path_w4)
    bars = [(f"{column_of(r)}: {ROW_LABELS.get(row_of(r), row_of(r))}", r["median_s"],
             column_of(r)) for r in index.records
            if r["workload"] == "W6" and r.get("median_s") is not None]
    if bars:
        bars.sort(key=lambda b: -b[1])
        fig, ax = plt.subplots(figsize=(9, max(3.0, 0.28 * len(bars) + 1)))
        colors = ["#c44e52" if c == "ad" else "#8c8c8c" if c == "hand NumPy" else "#4c72b0"
                  for _, _, c in bars]
        ax.barh([b[0] for b in bars], [b[1] * 1e3 for b in bars], color=colors)
        ax.set_xscale("log")
        ax.set_xlabel("median time per Jacobian (ms, log)")
        ax.set_title(f"W6 diamond chain 1000-10-1000-10-1000-10-1000{title_suffix}\n"
                     "red: ad, grey: hand NumPy, blue: peers")
        ax.tick_params(axis="y", labelsize=7)
        fig.tight_layout()
        fig.savefig(path_w6, dpi=110)
        plt.close(fig)
        written.append(path_w6)
    return written
