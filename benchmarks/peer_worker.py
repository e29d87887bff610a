"""Run peers in another interpreter (a peers' venv) and stream their records as JSON.

The runner (``python -m benchmarks``) calls this when a peer cannot be imported in its
own interpreter but a venv made by ``benchmarks/setup_peers.sh`` has it::

    .venv-peers/bin/python -m benchmarks.peer_worker --json --preset quick \\
        --peers jax_peer torch_peer --ad-results /tmp/ad.npz

Imports NumPy and the ``benchmarks`` modules that need only NumPy, never ``ad`` (the
peers' venvs need not have it): ``ad``'s results arrive in ``--ad-results`` (an
``.npz`` written by :func:`save_results`) so each peer is checked against ``ad``
before it is timed. Every output line that belongs to the protocol starts with
``@@bench `` followed by one JSON object: ``{"event": "env", ...}`` first, then per
peer ``{"event": "plan", "peer", "available", "count"}``, one ``{"event": "record",
"record": {...}}`` per variant, and ``{"event": "done"}`` last.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

PREFIX = "@@bench "


def save_results(path: str, results: dict[tuple[str, str], Any]) -> None:
    """Write ``{(workload, kind): result tree}`` as the flat leaves of each tree."""
    import numpy as np

    from benchmarks.peers import _leaves

    arrays = {}
    for (workload, kind), tree in results.items():
        for i, leaf in enumerate(_leaves(tree)):
            arrays[f"{workload}|{kind}|{i}"] = np.asarray(leaf, dtype=np.float64)
    np.savez(path, **arrays)


def load_results(path: str) -> dict[tuple[str, str], list[Any]]:
    """Read :func:`save_results`' file back as ``{(workload, kind): [leaves]}``."""
    import numpy as np

    grouped: dict[tuple[str, str], dict[int, Any]] = {}
    with np.load(path) as data:
        for key in data.files:
            workload, kind, i = key.split("|")
            grouped.setdefault((workload, kind), {})[int(i)] = data[key]
    return {k: [v[i] for i in sorted(v)] for k, v in grouped.items()}


def emit(event: dict[str, Any]) -> None:
    """One protocol line on stdout."""
    import json

    sys.stdout.write(PREFIX + json.dumps(event) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """Evaluate the requested peers and stream the records."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="JSON lines out (the only format)")
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--peers", nargs="+", required=True)
    ap.add_argument("--only", action="append", default=[], help="workload prefix")
    ap.add_argument("--ad-results", help=".npz of ad's results to check against")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int)
    args = ap.parse_args(argv)

    from benchmarks.machine import environment, pin_threads

    pin_threads(args.threads)

    import importlib

    from benchmarks.peers import evaluate
    from benchmarks.presets import PRESETS

    preset = PRESETS[args.preset]
    ad_results = load_results(args.ad_results) if args.ad_results else None
    emit({"event": "env", **environment()})
    only = tuple(args.only)
    for name in args.peers:
        try:
            mod = importlib.import_module(f"benchmarks.peers.{name}")
            available = bool(mod.AVAILABLE)
            variants = mod.workloads() if available else {}
        except Exception as exc:  # noqa: BLE001 - a broken peer must not stop the others
            emit({"event": "plan", "peer": name, "available": False, "count": 0,
                  "error": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        variants = {w: vs for w, vs in variants.items() if w in preset.workloads
                    and (not only or any(w.startswith(o) for o in only))}
        emit({"event": "plan", "peer": name, "available": available,
              "count": sum(len(vs) for vs in variants.values())})
        if not available:
            continue
        evaluate(name, variants, repeats=args.repeats or preset.repeats,
                 min_time=preset.min_time, budget=preset.budget,
                 workloads=preset.workloads, ad_results=ad_results,
                 progress=lambda rec: emit({"event": "record", "record": rec}))
    emit({"event": "done"})


if __name__ == "__main__":
    main()
