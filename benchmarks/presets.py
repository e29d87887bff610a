"""Run presets: which workloads, how many repeats, which extras.

Imports NumPy and :mod:`benchmarks.workloads` only, so the peer worker (run in the
peers' own venvs, where ``ad`` may not be installed) can read the same presets.

=========  =====================================================================
``smoke``  tiny sizes, one repeat, ``ad`` checked against the hand NumPy
           derivatives; no peers, no plots, no cold-start probe (a few seconds;
           CI and the test-suite run it so the suite cannot rot)
``quick``  the issue's sizes, 3 repeats, every installed peer, plots, cold start
           (at most ~2 minutes on 2 cores: the README's main command)
``full``   the issue's sizes, 7 repeats of longer loops, plus the cost-model
           rows (``benchmarks/cost_model.py``) when that module exists
=========  =====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.workloads import SMOKE_WORKLOADS, WORKLOADS, Workload


@dataclass(frozen=True)
class Preset:
    """How one run is done."""

    name: str
    workloads: dict[str, Workload]
    repeats: int          # samples per figure; the figure is their median
    min_time: float       # seconds one timing loop lasts at least (calls per loop grow)
    budget: float         # seconds one variant may take; slow ones get fewer repeats
    peers: bool           # run the peers (those installed)
    plots: bool
    coldstart: bool       # probe import and first-call times in fresh processes
    cost_model: bool      # add benchmarks/cost_model.py's rows when it exists


PRESETS: dict[str, Preset] = {
    "smoke": Preset("smoke", SMOKE_WORKLOADS, repeats=1, min_time=0.0, budget=0.5,
                    peers=False, plots=False, coldstart=False, cost_model=False),
    "quick": Preset("quick", WORKLOADS, repeats=3, min_time=0.01, budget=0.6,
                    peers=True, plots=True, coldstart=True, cost_model=False),
    "full": Preset("full", WORKLOADS, repeats=7, min_time=0.1, budget=8.0,
                   peers=True, plots=True, coldstart=True, cost_model=True),
}
