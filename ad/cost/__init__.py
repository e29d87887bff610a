"""The cost model: counts and predictions, the matrix-chain DP and chains of stages, vertex
elimination. One module each:

    counts       what a recorded program costs (`tape_counts`, `count`), and what each mode
                 would cost in seconds (`predict`, `cost_report`, `CostReport`)
    calibration  the table that prices counts in seconds on this machine (`Calibration`,
                 cached per machine and version; measured by `python -m ad.calibrate`)
    chain        the matrix-chain dynamic program (`matrix_chain`, `ChainPlan`) and
                 `chain(f1, ..., fL)` with its `ChainReport`
    elimination  the linearised graph and vertex elimination (forward, reverse, Markowitz)

This package re-exports counts, chain and elimination (`ad.cost.calibration` is reached by
name). Imports `ad.context`, `ad.primitive`, `ad.forward`, `ad.reverse`, `ad.tape` and
`ad.graph`; never the catalogue or the transforms.
"""
from ad.cost.chain import *  # noqa: F401,F403
from ad.cost.chain import __all__ as _chain_all
from ad.cost.counts import *  # noqa: F401,F403
from ad.cost.counts import __all__ as _counts_all
from ad.cost.elimination import *  # noqa: F401,F403
from ad.cost.elimination import __all__ as _elimination_all

__all__ = list(_counts_all) + list(_chain_all) + list(_elimination_all)
