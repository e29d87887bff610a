"""Bytes of tape per recorded operation: a deep chain of scalar operations recorded in reverse
mode, measured with tracemalloc while the recording is alive.

    python -m benchmarks.tape_memory [--ops 400000]
"""
from __future__ import annotations

import argparse
import gc
import json
import tracemalloc

import numpy as np


def chain(x, ops: int):
    """ops/2 times x = sin(x) * 1.0001: a chain of `ops` scalar primitives."""
    for _ in range(ops // 2):
        x = np.sin(x) * 1.0001
    return x


def tape_bytes_per_op(ops: int = 400_000) -> dict:
    import ad
    from ad.recording import Recording
    chain(np.float64(0.5), 10)           # warm up imports and caches
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    recording = Recording(chain, (np.float64(0.5), ops), {}, (0,), False, "grad")
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    nodes = ops
    del recording
    return {"ops": nodes, "bytes": held, "bytes_per_op": held / nodes,
            "ad": getattr(ad, "__version__", "?")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=400_000)
    args = parser.parse_args(argv)
    result = tape_bytes_per_op(args.ops)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
