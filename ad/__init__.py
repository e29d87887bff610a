"""`ad`: forward and reverse automatic differentiation on one op catalogue.

The public surface only. Layout (imports go down this list, never up):

    errors      named exceptions
    context     levels: who owns a traced value, nesting order, per-thread stacks
    primitive   Primitive, Aval, ZERO, registry, bind, the Tracer base (NumPy protocol)
    tape        the Tape (columns, one iterator, replay) and the block planner
    kernels     fused value+partial loops (Numba) and the NumPy reference path
    catalogue/  every primitive, declared once with define.py's public functions
    forward     Dual numbers (vector mode) and the forward level
    reverse     recording on a tape, the one sweep, push, VJPs by transposition
    graph       trace: the program as a graph, Wengert list, Graphviz DOT (values, adjoints)
    cost/       counts and predictions in seconds (calibration.py: the per-machine table),
                matrix-chain DP and chain(), vertex elimination
    numpy/      NumPy's API on traced values
    compiled    tapes lowered to flat arrays and run by one generated Numba interpreter
    transforms  grad, jvp, vjp, jacfwd, jacrev, jacobian, hessian, hvp, stop_gradient
                (compile=True on grad, value_and_grad and the Jacobians)
    distributed blocks of directions as tasks on Dask or concurrent.futures (executor=)
    sparse/     sparsity detection, colourings, compressed sparse Jacobians and Hessians
                (jacobian(sparse=True), hessian(sparse=True); SciPy, an optional extra)
    calibrate   `python -m ad.calibrate`: measures the cost model's table (nothing imports it)
    checking    check_grads
    custom      custom_jvp, custom_vjp (JAX's interface for user derivatives)
    schedule    binomial (revolve) checkpointing schedules
    checkpointing  checkpoint (recompute a function in the sweep), loop (checkpointed loops)

>>> import ad, ad.numpy as anp
>>> float(ad.grad(lambda x: anp.sum(x ** 2))(3.0))
6.0
"""
from __future__ import annotations

from ad import numpy  # noqa: F401  (registers NumPy dispatch; also ad.numpy)
from ad.catalogue.define import defelementwise, deflinear, defnondiff, defprimitive
from ad.checking import check_grads
from ad.checkpointing import checkpoint, checkpoint_name, checkpoint_policies, loop
from ad.custom import custom_jvp, custom_vjp
from ad.cost import Chain, CostReport, chain, cost_report, matrix_chain
from ad.cost.memory import MemoryBudgetError
from ad.errors import (ADError, DTypeError, GuardError, InPlaceError, LevelError,
                       NotDifferentiableError, RegistrationError, ShapeError,
                       TracerConversionError, UnsupportedFunctionError)
from ad.forward import Dual
from ad.graph import Graph, GraphvizNotFoundError, trace
from ad.primitive import PRIMITIVES as primitives
from ad.primitive import ZERO, Aval, Counts, PerElement, Primitive
from ad.primitive import user_primal_value as primal_value
from ad.schedule import binomial_schedule
from ad.sparse import SparsityError, sparsity
from ad.transforms import (CHUNK_SIZE, grad, grad_sum, hessian, hvp, jacfwd, jacobian, jacrev,
                           jvp, stop_gradient, value_and_grad, vjp)
from ad.transforms import compile_program as compile  # noqa: A001,F401 (not in __all__)

__version__ = "0.1.0"

__all__ = [
    "grad", "value_and_grad", "jvp", "vjp", "jacfwd", "jacrev", "jacobian", "hessian", "hvp",
    "stop_gradient", "check_grads", "custom_jvp", "custom_vjp", "Dual", "primal_value",
    "CHUNK_SIZE",
    "defelementwise", "defprimitive", "deflinear", "defnondiff", "Primitive", "Aval",
    "PerElement", "Counts", "ZERO", "primitives",
    "ADError", "DTypeError", "GuardError", "InPlaceError", "LevelError", "NotDifferentiableError",
    "RegistrationError", "ShapeError", "TracerConversionError", "UnsupportedFunctionError",
    "trace", "Graph", "GraphvizNotFoundError",
    "cost_report", "CostReport", "chain", "Chain", "matrix_chain", "sparsity", "SparsityError",
    "checkpoint", "checkpoint_name", "checkpoint_policies", "loop", "binomial_schedule",
    "grad_sum", "MemoryBudgetError",
]
