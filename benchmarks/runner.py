"""The benchmark suite's entry point: ``python -m benchmarks [--smoke|--quick|--full]``.

One run: ``ad``'s variants (checked against the hand-written NumPy derivatives, then
timed), then every installed peer (checked against ``ad``'s results before it is timed),
then tables (median per call, ratio to ``ad`` measured in the same run, first-call
times, the issue's targets, the mode comparison), a JSON file with machine info in
``benchmarks/results/local/`` (ignored by git; ``--record`` writes the committed record in
``benchmarks/results/`` instead) (``<date>-<preset>.json`` and ``latest-<preset>.json``),
markdown (``latest-<preset>.md``; ``latest.md`` for quick and full), and PNG plots of
the mode comparison.

Peers are found in three places, in this order: importable in this interpreter (run
in-process); in ``.venv-peers`` / ``.venv-advect`` at the repository root, made by
``benchmarks/setup_peers.sh`` (run there by :mod:`benchmarks.peer_worker`, which
streams its records back); otherwise skipped with a note. So ``python -m benchmarks
--quick`` from the project's own venv picks up the peers' venvs when they exist.

All numeric libraries are pinned to ``--threads`` threads (default 1; environment
variables already set win) so the figures are comparable and the run shares a small
machine politely.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The committed record (`--record` writes here, with machine info: the README's figures).
RESULTS = Path(__file__).resolve().parent / "results"
#: Where an ordinary run writes (git ignores it), so a user's first run leaves the checkout
#: clean and the committed record untouched.
LOCAL_RESULTS = RESULTS / "local"
README = Path(__file__).resolve().parent / "README.md"
SCHEMA = "ad-benchmarks/1"
README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"

#: Peer modules, and the venv each one is looked for in when it is not importable here.
PEER_VENVS = {"jax_peer": ".venv-peers", "torch_peer": ".venv-peers",
              "autograd_peer": ".venv-peers", "mygrad_peer": ".venv-peers",
              "casadi_peer": ".venv-peers", "advect_peer": ".venv-advect"}
#: Install hints for the notes of skipped peers.
SETUP_HINT = "bash benchmarks/setup_peers.sh, or pip install -e '.[peers]'"


# ------------------------------------------------------------------ progress


class Progress:
    """A tqdm bar on stderr (a line per step without tqdm; nothing when disabled)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.enabled, self.done, self.total = enabled, 0, total
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="variant", file=sys.stderr,
                                dynamic_ncols=True, leave=False)
            except ImportError:
                pass

    def grow(self, n: int) -> None:
        self.total += n
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def describe(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(text[:40])

    def step(self, rec: dict[str, Any]) -> None:
        self.done += 1
        label = f"{rec['workload']} {rec['tool']} {rec['variant']}"
        if self.bar is not None:
            self.bar.set_description_str(label[:40])
            self.bar.update(1)
        elif self.enabled:
            print(f"[{self.done}/{self.total}] {label}: {rec.get('status')}", file=sys.stderr,
                  flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ------------------------------------------------------------------ the run


def _filter(variants: dict[str, dict[str, Any]], table: dict[str, Any],
            only: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    return {w: vs for w, vs in variants.items()
            if w in table and (not only or any(w.startswith(o) for o in only))}


def _count(variants: dict[str, dict[str, Any]]) -> int:
    return sum(len(vs) for vs in variants.values())


def _run_ad(preset: Any, only: tuple[str, ...], progress: Progress, repeats: int
            ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], Any]]:
    """``ad``'s records, and its results by (workload, kind) for checking the peers.

    ``ad`` is checked against the hand-written NumPy derivative (``relerr``) and only
    timed when it agrees.
    """
    from benchmarks import ad_workloads
    from benchmarks.peers import (RTOL, first_call, kind_of, relative_error, tag_of,
                                  time_calls)
    from benchmarks.workloads import SEED

    variants = _filter(ad_workloads.workloads(preset.workloads), preset.workloads, only)
    records, results = [], {}
    for wname, vs in variants.items():
        w = preset.workloads[wname]
        inputs = w.inputs(SEED)
        refs: dict[str, Any] = {}
        for vname, variant in vs.items():
            kind, tag = kind_of(vname), tag_of(vname)
            rec: dict[str, Any] = {"tool": "ad", "peer": "ad", "workload": wname,
                                   "variant": vname, "kind": kind, "tag": tag}
            try:
                if kind not in refs:
                    refs[kind] = w.reference[kind](**inputs)
                run, got, times = first_call(variant, inputs)
                rec.update(times)
                rec["relerr"] = relative_error(got, refs[kind])
                rec["status"] = "ok" if rec["relerr"] <= RTOL else "mismatch"
                if tag is None and rec["status"] == "ok":
                    results[(wname, kind)] = got
                if rec["status"] == "ok":
                    rec.update(time_calls(run, repeats, preset.min_time, preset.budget))
            except Exception as exc:  # noqa: BLE001 - report, do not abort the suite
                rec["status"] = "error"
                rec["error"] = f"{type(exc).__name__}: {exc}"[:300]
            records.append(rec)
            progress.step(rec)
    return records, results


def _stream_worker(python: Path, peers: list[str], preset: str, only: tuple[str, ...],
                   ad_file: str | None, threads: int, repeats: int | None,
                   progress: Progress) -> tuple[list[dict[str, Any]], dict[str, Any],
                                                dict[str, Any]]:
    """Run :mod:`benchmarks.peer_worker` in another venv; (records, env, plans by peer)."""
    from benchmarks.peer_worker import PREFIX

    cmd = [str(python), "-m", "benchmarks.peer_worker", "--json", "--preset", preset,
           "--threads", str(threads), "--peers", *peers]
    cmd += [a for o in only for a in ("--only", o)]
    if ad_file:
        cmd += ["--ad-results", ad_file]
    if repeats:
        cmd += ["--repeats", str(repeats)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    records: list[dict[str, Any]] = []
    worker_env: dict[str, Any] = {}
    plans: dict[str, Any] = {}
    progress.describe(f"starting {python.parent.parent.name}")
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err,
                                text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.startswith(PREFIX):
                continue
            event = json.loads(line[len(PREFIX):])
            kind = event.pop("event")
            if kind == "env":
                worker_env = event
            elif kind == "plan":
                plans[event["peer"]] = event
                progress.grow(event.get("count", 0))
            elif kind == "record":
                records.append(event["record"])
                progress.step(event["record"])
        code = proc.wait()
        err.seek(0)
        tail = err.read().strip().splitlines()
    if code != 0:
        worker_env["error"] = (tail or [f"exit code {code}"])[-1][:300]
    return records, worker_env, plans


def _cost_model() -> tuple[dict[str, Any] | None, str | None]:
    """Sections from ``benchmarks/cost_model.py`` (issue 4) when that module exists.

    Either ``rows()`` returning a list of dicts (one section), or ``main(argv)``
    returning ``{section: rows | dict | number}`` (called with ``["--quick"]``, its own
    printing silenced: its full sweep is ``python -m benchmarks.cost_model``).
    """
    import contextlib
    import io

    if importlib.util.find_spec("benchmarks.cost_model") is None:
        return None, ("benchmarks/cost_model.py not present yet (issue 4): no predicted-vs-"
                      "measured rows")
    try:
        mod = importlib.import_module("benchmarks.cost_model")
        if callable(getattr(mod, "rows", None)):
            return {"rows": mod.rows()}, None
        if callable(getattr(mod, "main", None)):
            with contextlib.redirect_stdout(io.StringIO()):
                out = mod.main(["--quick"])
            if isinstance(out, dict):
                return out, None
        return None, "benchmarks/cost_model.py offers neither rows() nor main() -> dict"
    except Exception as exc:  # noqa: BLE001 - another engineer's module; report it
        return None, f"benchmarks/cost_model.py failed: {type(exc).__name__}: {exc}"[:300]


def _jsonable(obj: Any) -> Any:
    """NumPy scalars and arrays as Python numbers and lists; anything else as text."""
    if hasattr(obj, "item") and getattr(obj, "ndim", 0) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def _source() -> dict[str, Any]:
    """The commit measured, and whether the work tree differed from it (read-only git)."""
    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None
    status = git("status", "--porcelain", "--", "ad")
    return {"commit": git("rev-parse", "HEAD"),
            "ad_modified_files": None if status is None else len(status.splitlines())}


def run(preset_name: str = "quick", *, out_dir: Path | str | None = LOCAL_RESULTS,
        only: tuple[str, ...] = (), peers: list[str] | None = None, threads: int | None = 1,
        repeats: int | None = None, plots: bool | None = None, coldstart: bool | None = None,
        progress: bool = True, subprocess_peers: bool = True) -> dict[str, Any]:
    """Run a preset and return the result document (also written to ``out_dir``).

    ``peers``: peer module names to run (``None``: the preset's choice, i.e. all for
    quick/full and none for smoke; ``[]``: none). ``out_dir=None`` writes nothing.
    ``threads=None`` leaves this process's thread settings alone (the test-suite).
    """
    from benchmarks.machine import pin_threads

    if threads is not None:
        pin_threads(threads)
    from benchmarks import machine, report
    from benchmarks.peers.numpy_hand import workloads as hand_workloads
    from benchmarks.presets import PRESETS

    preset = PRESETS[preset_name]
    started = _dt.datetime.now(_dt.timezone.utc)
    t_start = time.perf_counter()
    reps = repeats or preset.repeats
    notes: list[str] = []
    peer_list = list(PEER_VENVS) if (peers is None and preset.peers) else (peers or [])
    peer_list = [p if p.endswith("_peer") else f"{p}_peer" for p in peer_list]

    import ad

    from benchmarks import ad_workloads

    ad_variants = _filter(ad_workloads.workloads(preset.workloads), preset.workloads, only)
    hand_variants = _filter(hand_workloads(preset.workloads), preset.workloads, only)
    bar = Progress(_count(ad_variants) + _count(hand_variants), progress)
    records: list[dict[str, Any]] = []
    peer_envs: dict[str, Any] = {}
    peer_status: dict[str, str] = {}
    try:
        bar.describe("ad")
        ad_records, ad_results = _run_ad(preset, only, bar, reps)
        records += ad_records
        from benchmarks.peers import evaluate

        records += evaluate("numpy_hand", hand_variants, repeats=reps, min_time=preset.min_time,
                            budget=preset.budget, workloads=preset.workloads,
                            ad_results=ad_results, progress=bar.step)
        peer_status["numpy_hand"] = "in-process"
        remote: dict[Path, list[str]] = {}
        for name in peer_list:
            try:
                mod = importlib.import_module(f"benchmarks.peers.{name}")
                available = bool(mod.AVAILABLE)
            except Exception as exc:  # noqa: BLE001 - a broken install: try its venv
                available = False
                notes.append(f"{name}: import failed here ({type(exc).__name__}: {exc})"[:300])
            if available:
                variants = _filter(mod.workloads(), preset.workloads, only)
                bar.grow(_count(variants))
                peer_status[name] = "in-process"
                records += evaluate(name, variants, repeats=reps, min_time=preset.min_time,
                                    budget=preset.budget, workloads=preset.workloads,
                                    ad_results=ad_results, progress=bar.step)
                continue
            python = ROOT / PEER_VENVS.get(name, ".venv-peers") / "bin" / "python"
            if subprocess_peers and python.exists():
                remote.setdefault(python, []).append(name)
            else:
                peer_status[name] = "absent"
                notes.append(f"{name}: not installed here and no {PEER_VENVS.get(name)} "
                             f"venv; skipped ({SETUP_HINT})")
        if remote:
            from benchmarks.peer_worker import save_results

            with tempfile.TemporaryDirectory(prefix="ad-bench-") as tmp:
                ad_file = os.path.join(tmp, "ad_results.npz")
                save_results(ad_file, ad_results)
                for python, names in remote.items():
                    venv = python.parent.parent.name
                    recs, env, plans = _stream_worker(python, names, preset_name, only, ad_file,
                                                      threads or 1, repeats, bar)
                    records += recs
                    peer_envs[venv] = env
                    if "error" in env:
                        notes.append(f"{venv} worker failed: {env['error']}")
                    for name in names:
                        plan = plans.get(name)
                        if plan and plan.get("available"):
                            peer_status[name] = f"subprocess ({venv})"
                        else:
                            peer_status[name] = "absent"
                            why = (plan or {}).get("error", "not installed there")
                            notes.append(f"{name}: {why} in {venv}; skipped ({SETUP_HINT})")
    finally:
        bar.close()

    report.add_ratios(records)
    index = report.Index(records)
    op_count = None
    if "W1" in preset.workloads:
        from benchmarks.workloads import SEED

        op_count = ad_workloads.tape_length(preset.workloads["W1"].f,
                                            preset.workloads["W1"].inputs(SEED)["x"])
    target_list = report.targets(index, op_count) if preset_name != "smoke" else []
    if not ad_workloads.has_chain():
        notes.append("ad.chain not present yet (issue 4): W6 optimal bracketing by ad not run; "
                     "the hand-NumPy optimal bracketing is shown instead")

    cold = None
    if coldstart if coldstart is not None else preset.coldstart:
        bar.describe("cold start")
        from benchmarks.coldstart import probe

        cold = probe(str(ROOT))
    cost_rows = None
    if preset.cost_model and not only:
        bar.describe("cost model")
        cost_rows, why = _cost_model()
        if why:
            notes.append(why)

    bad = [r for r in records if r.get("status") in ("mismatch", "error")]
    for r in bad:
        notes.append(f"{r['tool']} {r['workload']} {r['variant']}: {r['status']} "
                     f"{r.get('error', '') or 'relerr %.1e / vs ad %s' % (r.get('relerr', float('nan')), r.get('relerr_ad'))}")
    doc: dict[str, Any] = {
        "schema": SCHEMA, "preset": preset_name, "started": started.isoformat(),
        "duration_s": None,
        "settings": {"repeats": reps, "min_time_s": preset.min_time,
                     "budget_per_variant_s": preset.budget, "threads": threads,
                     "only": list(only), "statistic": "median over repeats after warm-up"},
        "machine": machine.machine(), "environment": machine.environment(),
        "ad": {"version": getattr(ad, "__version__", None), "has_chain": ad_workloads.has_chain(),
               "w1_tape_ops": op_count, "source": _source()},
        "peers": peer_status, "peer_environments": peer_envs,
        "records": records, "targets": [t.as_dict() for t in target_list],
        "coldstart": cold, "cost_model": cost_rows, "notes": notes, "files": [],
    }
    doc["duration_s"] = time.perf_counter() - t_start
    tables = _tables(doc, index, op_count, target_list)
    doc["markdown"] = _markdown(doc, tables)
    if out_dir is not None:
        _write(doc, Path(out_dir), index, plots if plots is not None else preset.plots)
    doc["_tables"] = tables
    return doc


def _tables(doc: dict[str, Any], index: Any, op_count: int | None, target_list: list) -> list:
    from benchmarks import report

    tables = [report.summary_table(index, op_count)]
    if doc["preset"] != "smoke":
        tables.append(report.targets_table(target_list))
    tables.append(report.mode_table(index))
    tables.append(report.first_call_table(index))
    if doc.get("coldstart"):
        cold = report.coldstart_table(doc["coldstart"])
        if cold is not None:
            tables.append(cold)
    if doc.get("cost_model"):
        tables += report.cost_model_tables(doc["cost_model"])
    return tables


def _machine_line(doc: dict[str, Any]) -> str:
    m, e = doc["machine"], doc["environment"]
    v = e["versions"]
    peers = {venv: env.get("versions", {}) for venv, env in doc["peer_environments"].items()}
    peer_v = {k: vv for vs in [v, *peers.values()] for k, vv in vs.items()
              if k in ("jax", "torch", "autograd", "mygrad", "advect")}
    parts = [f"{m['cpu']}, {m['usable_cores']} usable cores, Python {e['python']}, "
             f"numpy {v.get('numpy', '?')}, numba {v.get('numba', '?')}"]
    if peer_v:
        parts.append(", ".join(f"{k} {vv}" for k, vv in sorted(peer_v.items())))
    parts.append(f"{doc['settings']['threads']} thread(s) per library, median of "
                 f"{doc['settings']['repeats']} repeats")
    if m.get("load_average"):
        parts.append("load average at start " + "/".join(f"{x:.1f}" for x in m["load_average"]))
    return "; ".join(parts)


def _markdown(doc: dict[str, Any], tables: list) -> str:
    lines = [f"### `python -m benchmarks --{doc['preset']}` — {doc['started'][:19]} UTC",
             "", _machine_line(doc), ""]
    for t in tables:
        lines += [t.markdown(), ""]
    if doc["notes"]:
        lines += ["Notes:", ""] + [f"- {n}" for n in doc["notes"]] + [""]
    lines.append(f"Run took {doc['duration_s']:.0f} s.")
    return "\n".join(lines) + "\n"


def _write(doc: dict[str, Any], out: Path, index: Any, plots: bool) -> None:
    from benchmarks import report

    out.mkdir(parents=True, exist_ok=True)
    preset = doc["preset"]
    stamp = doc["started"][:19].replace(":", "").replace("-", "").replace("T", "-")
    files = []
    if plots:
        try:
            files += report.plot_modes(index, str(out / f"w4_modes-{preset}.png"),
                                       str(out / f"w6_diamond-{preset}.png"),
                                       f" ({preset} run)")
        except ImportError:
            doc["notes"].append("matplotlib not installed: no plots (pip install -e '.[bench]')")
    md = out / f"latest-{preset}.md"
    md.write_text(doc["markdown"], encoding="utf-8")
    files.append(str(md))
    if preset != "smoke":
        (out / "latest.md").write_text(doc["markdown"], encoding="utf-8")
        files.append(str(out / "latest.md"))
    dated = out / f"{stamp}-{preset}.json"
    files += [str(dated), str(out / f"latest-{preset}.json")]
    doc["files"] = [os.path.relpath(f, ROOT) if f.startswith(str(ROOT)) else f for f in files]
    text = json.dumps({k: v for k, v in doc.items() if not k.startswith("_")}, indent=1,
                      default=_jsonable)
    dated.write_text(text, encoding="utf-8")
    (out / f"latest-{preset}.json").write_text(text, encoding="utf-8")


def write_readme(markdown: str, readme: Path = README) -> bool:
    """Put ``markdown`` between the results markers of ``benchmarks/README.md``."""
    if not readme.exists():
        return False
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{markdown}\n{README_END}{tail}", encoding="utf-8")
    return True


def render(path: Path) -> dict[str, Any]:
    """Rebuild a saved run's tables and markdown (after a change to the report code)."""
    from benchmarks import report

    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    index = report.Index(doc["records"])
    op_count = doc["ad"].get("w1_tape_ops")
    target_list = report.targets(index, op_count) if doc["preset"] != "smoke" else []
    doc["targets"] = [t.as_dict() for t in target_list]
    doc["_tables"] = _tables(doc, index, op_count, target_list)
    doc["markdown"] = _markdown(doc, doc["_tables"])
    return doc


def print_tables(doc: dict[str, Any]) -> None:
    """Print the run's tables (rich when installed)."""
    tables = doc["_tables"]
    try:
        from rich.console import Console

        console = Console() if sys.stdout.isatty() else Console(width=200)
        console.print(_machine_line(doc), style="dim")
        for t in tables:
            console.print(t.rich())
        for n in doc["notes"]:
            console.print(f"[yellow]note:[/] {n}", highlight=False)
        for f in doc["files"]:
            console.print(f"wrote {f}", style="dim", highlight=False)
    except ImportError:
        print(_machine_line(doc))
        for t in tables:
            print()
            print(t.text())
        for n in doc["notes"]:
            print(f"note: {n}")
        for f in doc["files"]:
            print(f"wrote {f}")
    print(f"run took {doc['duration_s']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    """Command line: parse, run, print, write."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks",
                                 description="Benchmark ad against its peers (see "
                                             "benchmarks/README.md).")
    group = ap.add_mutually_exclusive_group()
    for name, text in (("smoke", "tiny sizes, ad vs hand NumPy only, a few seconds (CI)"),
                       ("quick", "the issue's sizes, every installed peer, <= 2 min "
                                 "(default)"),
                       ("full", "more repeats and longer loops, plus the cost-model rows")):
        group.add_argument(f"--{name}", dest="preset", action="store_const", const=name,
                           help=text)
    ap.add_argument("--only", action="append", default=[], metavar="PREFIX",
                    help="workloads whose name starts with PREFIX (repeatable), e.g. W4")
    ap.add_argument("--peers", nargs="*", metavar="NAME",
                    help="peers to run (jax torch autograd mygrad advect); none if empty")
    ap.add_argument("--no-peers", action="store_true", help="run ad and hand NumPy only")
    ap.add_argument("--no-subprocess", action="store_true",
                    help="do not use .venv-peers/.venv-advect; only peers importable here")
    ap.add_argument("--threads", type=int, default=1, help="threads per library (default 1)")
    ap.add_argument("--repeats", type=int, help="override the preset's repeats")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--no-coldstart", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    root = RESULTS.parent.parent
    ap.add_argument("--out", type=Path, default=None,
                    help=f"results folder (default {LOCAL_RESULTS.relative_to(root)}, ignored "
                         "by git)")
    ap.add_argument("--record", action="store_true",
                    help=f"write the committed record ({RESULTS.relative_to(root)}) instead")
    ap.add_argument("--write-readme", action="store_true",
                    help="also copy the tables into benchmarks/README.md")
    ap.add_argument("--render", type=Path, metavar="JSON",
                    help="do not run: rebuild a saved run's tables and markdown (latest-"
                         "<preset>.md, latest.md beside it; README with --write-readme)")
    args = ap.parse_args(argv)
    if args.render:
        doc = render(args.render)
        out = args.render.parent / f"latest-{doc['preset']}.md"
        out.write_text(doc["markdown"], encoding="utf-8")
        doc["files"] = [str(out)]
        if doc["preset"] != "smoke":
            (args.render.parent / "latest.md").write_text(doc["markdown"], encoding="utf-8")
            doc["files"].append(str(args.render.parent / "latest.md"))
    else:
        preset = args.preset or "quick"
        peers = [] if args.no_peers else args.peers
        out_dir = args.out or (RESULTS if args.record else LOCAL_RESULTS)
        doc = run(preset, out_dir=out_dir, only=tuple(args.only), peers=peers,
                  threads=args.threads, repeats=args.repeats,
                  plots=False if args.no_plots else None,
                  coldstart=False if args.no_coldstart else None,
                  progress=not args.no_progress,
                  subprocess_peers=not args.no_subprocess)
    print_tables(doc)
    if args.write_readme:
        if write_readme(doc["markdown"]):
            print(f"updated {os.path.relpath(README, Path.cwd())}")
        else:
            print("README.md has no results markers; not updated", file=sys.stderr)
    failed = [r for r in doc["records"] if r.get("tool") == "ad" and r.get("status") != "ok"]
    return 1 if failed else 0
