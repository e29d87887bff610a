"""The peers' side of the checkpointing benchmark: JAX's `jax.checkpoint` (policy
`nothing_saveable`) and PyTorch's `torch.utils.checkpoint.checkpoint` (use_reentrant=False)
on the MLP of `benchmarks.checkpointing.mlp_part`: 100 layers h = tanh(h @ W_k), width 256,
batch 64, float64, loss sum(h ** 2), gradient with respect to the list of weights; each
peer stored (no checkpointing), checkpointed per layer and per block of 10 layers.

Run from the repository root in the peers' venv (`.venv-peers`, made by
`benchmarks/setup_peers.sh`)::

    .venv-peers/bin/python -m benchmarks.checkpointing_peers [--repeats 5]

Prints one JSON object: per peer its version and per variant "time" (median seconds of one
gradient over `--repeats` rounds interleaved across all variants; JAX's jit-compiled, the
first call reported apart as "compile"), "kept" (bytes the recording keeps for the backward
pass, not counting arrays that already existed: the weights and the input; "kept incl.
inputs" counts them too) and "max abs difference" to the peer's stored gradient. JAX's kept
bytes are the distinct leaves of the function `jax.vjp` returns (its residuals); JAX also
gets "peak temp", XLA's temp buffer size for the compiled gradient (XLA may place
temporaries in the output buffers, so it understates). Torch's are the distinct storages
its `saved_tensors_hooks` pack hook sees. A peer that does not import is left out.
Imports numpy, jax and torch only (never `ad`).
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

import numpy as np

LAYERS, WIDTH, BATCH, BLOCK = 100, 256, 64, 10
VARIANTS = {"stored": None, "per layer": 1, f"per {BLOCK} layers": BLOCK}


def problem() -> tuple[list[np.ndarray], np.ndarray]:
    """The same weights and input as `mlp_part` (same seed, same order of draws)."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH) for _ in range(LAYERS)]
    return weights, rng.standard_normal((BATCH, WIDTH))


def chained(block_fn: Callable, wrap: Callable, block: int | None, x, ws, total):
    """The loss: blocks of `block` layers (all in one if None), each run through `wrap`."""
    run = wrap(block_fn) if block else block_fn
    h = x
    for start in range(0, LAYERS, block or LAYERS):
        h = run(h, ws[start:start + (block or LAYERS)])
    return total(h ** 2)


def jax_peer(weights, x) -> tuple[dict, dict[str, Callable]]:
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    ws, xj = [jnp.asarray(w) for w in weights], jnp.asarray(x)

    def layers(h, block_ws):
        for w in block_ws:
            h = jnp.tanh(h @ w)
        return h

    def wrap(g):   # prevent_cse stays True (the default), so XLA cannot undo the recompute
        return jax.checkpoint(g, policy=jax.checkpoint_policies.nothing_saveable)

    inputs = {id(a) for a in ws + [xj]}
    out: dict[str, Any] = {"version": jax.__version__}
    timed, reference = {}, None
    for name, block in VARIANTS.items():
        def loss(ws, block=block):
            return chained(layers, wrap, block, xj, ws, jnp.sum)
        _, vjp_fn = jax.vjp(loss, ws)       # un-jitted: its leaves are the residuals
        leaves = {id(a): a for a in jax.tree_util.tree_leaves(vjp_fn) if hasattr(a, "nbytes")}
        grad_fn = jax.jit(jax.grad(loss))
        start = time.perf_counter()
        got = jax.block_until_ready(grad_fn(ws))    # trace + compile + one run
        row = {"compile": time.perf_counter() - start,
               "kept": sum(a.nbytes for k, a in leaves.items() if k not in inputs),
               "kept incl. inputs": sum(a.nbytes for a in leaves.values()),
               "residual arrays": len(leaves)}
        try:
            row["peak temp"] = int(grad_fn.lower(ws).compile().memory_analysis()
                                   .temp_size_in_bytes)
        except Exception:                   # memory_analysis is optional per backend
            pass
        reference = got if reference is None else reference
        row["max abs difference"] = max(float(jnp.max(jnp.abs(a - b)))
                                        for a, b in zip(got, reference))
        out[name] = row
        timed[name] = lambda f=grad_fn: jax.block_until_ready(f(ws))
    return out, timed


def torch_peer(weights, x) -> tuple[dict, dict[str, Callable]]:
    import torch
    from torch.utils.checkpoint import checkpoint
    ws = [torch.from_numpy(w.copy()).requires_grad_() for w in weights]
    xt = torch.from_numpy(x.copy())

    def layers(h, block_ws):
        for w in block_ws:
            h = torch.tanh(h @ w)
        return h

    def wrap(g):   # weights as tensor arguments, so checkpoint saves them (as JAX does)
        return lambda h, block_ws: checkpoint(lambda h, *w: g(h, w), h, *block_ws,
                                              use_reentrant=False)

    def grad(block):
        loss = chained(layers, wrap, block, xt, ws, torch.sum)
        return torch.autograd.grad(loss, ws)

    inputs = {t.untyped_storage().data_ptr() for t in ws + [xt]}
    out: dict[str, Any] = {"version": torch.__version__, "threads": torch.get_num_threads()}
    timed, reference = {}, None
    for name, block in VARIANTS.items():
        saved: dict[int, int] = {}          # storage address -> bytes (views share one)

        def pack(t):
            s = t.untyped_storage()
            saved[s.data_ptr()] = s.nbytes()
            return t                        # keep the tensor itself: only observing

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = chained(layers, wrap, block, xt, ws, torch.sum)
        del loss
        got = grad(block)
        reference = got if reference is None else reference
        out[name] = {"kept": sum(b for p, b in saved.items() if p not in inputs),
                     "kept incl. inputs": sum(saved.values()),
                     "saved storages": len(saved),
                     "max abs difference": max(float((a - b).abs().max())
                                               for a, b in zip(got, reference))}
        timed[name] = lambda block=block: grad(block)
    return out, timed


def interleaved(fns: dict[str, Callable], repeats: int) -> dict[str, float]:
    """Median seconds per function over `repeats` rounds, each round calling all in turn
    (so drifts of a noisy machine hit every variant alike)."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {k: float(np.median(v)) for k, v in samples.items()}


def main(argv=None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    weights, x = problem()
    result: dict[str, Any] = {}
    timed: dict[tuple[str, str], Callable] = {}
    for peer, build in (("jax", jax_peer), ("torch", torch_peer)):
        try:
            result[peer], fns = build(weights, x)
        except ImportError:                 # a missing peer is simply absent
            continue
        for name, fn in fns.items():
            fn()                            # warm (torch's allocator, JAX's dispatch)
            timed[peer, name] = fn
    times = interleaved({f"{p}\0{n}": fn for (p, n), fn in timed.items()}, args.repeats)
    for key, seconds in times.items():
        peer, name = key.split("\0")
        result[peer][name]["time"] = seconds
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
