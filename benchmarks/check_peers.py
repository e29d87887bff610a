"""Check every peer's derivatives against the hand-written NumPy ones, and time them.

Run from the repository root with the peers' venv::

    .venv-peers/bin/python -m benchmarks.check_peers [--only W4] [--no-timing]

Subprocess peers (advect) run in their own venv. This sanity check pins every
library to one thread (set here, for this process only) so it can run beside other
work on a small machine; it is not the benchmark itself.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks.peers import PEER_MODULES, SUBPROCESS_PEERS, evaluate, run_subprocess_peer  # noqa: E402

RTOL = 1e-8
ROOT = Path(__file__).resolve().parent.parent


def fmt_time(seconds: float | None) -> str:
    """Human-readable duration."""
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def table(records: list[dict[str, Any]]) -> str:
    """Text table: workload, peer, variant, status, median, first call."""
    lines = [f"{'workload':<13} {'peer':<14} {'variant':<20} {'check':<8} "
             f"{'relerr':>8} {'median':>10} {'first':>10}"]
    for r in records:
        if "error" in r:
            status, err = "ERROR", "-"
        else:
            status = "ok" if r["relerr"] <= RTOL else "MISMATCH"
            err = f"{r['relerr']:.1e}"
        first = (r["setup_s"] + r["first_s"]) if "first_s" in r else None
        lines.append(f"{r['workload']:<13} {r['peer']:<14} {r['variant']:<20} {status:<8} "
                     f"{err:>8} {fmt_time(r.get('median_s')):>10} {fmt_time(first):>10}")
        if "error" in r:
            lines.append(f"    {r['error']}")
    return "\n".join(lines)


def main() -> None:
    """Evaluate the requested peers and print the table (and optionally JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers", nargs="*", default=[*PEER_MODULES, *SUBPROCESS_PEERS])
    ap.add_argument("--only", action="append", default=[], help="workload prefix")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the records here")
    args = ap.parse_args()
    only, timing = tuple(args.only), not args.no_timing

    records: list[dict[str, Any]] = []
    for name in args.peers:
        if name in SUBPROCESS_PEERS:
            records += run_subprocess_peer(name, str(ROOT), timing=timing,
                                           repeats=args.repeats, only=only)
            continue
        mod = importlib.import_module(f"benchmarks.peers.{name}")
        if not mod.AVAILABLE:
            records.append({"peer": name, "workload": "*", "variant": "*",
                            "error": "not installed"})
            continue
        records += evaluate(name, mod.workloads(), timing=timing,
                            repeats=args.repeats, only=only)
        print(f"[{name} done]", flush=True)
    records.sort(key=lambda r: (r["workload"], r["peer"] != "numpy_hand", r["peer"]))
    print(table(records))
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    bad = [r for r in records if "error" in r or r.get("relerr", 0) > RTOL]
    print(f"{len(records) - len(bad)} passed, {len(bad)} failed")


if __name__ == "__main__":
    main()
