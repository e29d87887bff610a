"""Blocks of derivative work as tasks on an executor: a Dask client or any
`concurrent.futures.Executor`, with retries, deterministic keys and reassembly in order.

`run_blocks(executor, task, payload, blocks)` runs `task(payload, start, stop)` for every
(start, stop) block of the block planner and returns the results in block order, whatever
order they finish in, so a Jacobian assembled from them is the serial one bit for bit.
With a Dask client (`dask.distributed.Client`: a `LocalCluster` or a scheduler address)
the payload (the function and its arguments) is scattered once to every worker
(`broadcast=True`, so losing a worker loses no copy), tasks get keys naming the work, the
call and the block, and Dask's `retries=`; with a `concurrent.futures` executor, a failed
task is resubmitted up to `retries` times. A payload a process pool cannot pickle is
refused up front, naming what failed (Dask pickles closures with cloudpickle).
`progress=True` shows a tqdm bar.

Dask is an optional extra (`pip install admodes[distributed]`); nothing here imports it
unless a Dask client is passed. Imports `ad.errors` only (and, on use, dask and tqdm).
"""
from __future__ import annotations

import math
import pickle
import time
import uuid
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ad.errors import ADError

#: The smallest predicted time of one task that block sizing aims for: Dask pays about a
#: millisecond per task, so shorter tasks may not speed up at all.
TASK_SECONDS = 0.1
def task_chunk(seconds_per_direction: float) -> int:
    """Directions per task so that one task takes about TASK_SECONDS (at least one): the
    chunk the block planner then cuts the directions with."""
    return max(1, math.ceil(TASK_SECONDS / max(seconds_per_direction, 1e-12)))


#: Resubmissions of a failed block before the error reaches the caller.
RETRIES = 3


class DistributedError(ADError, RuntimeError):
    """A block failed on every attempt (the message names the block and the last error)."""


@dataclass
class BlockTiming:
    """One task: its directions `start:stop`, the seconds it took where it ran, and the
    attempts it needed (counted here for concurrent.futures; Dask retries internally)."""

    start: int
    stop: int
    seconds: float
    attempts: int = 1


@dataclass
class DistributedReport:
    """How a distributed derivative ran: the mode, the directions per task, the predicted
    seconds of one task, the executor, and every block's timing, in block order."""

    mode: str
    chunk: int
    predicted_task_seconds: float
    executor: str
    blocks: list[BlockTiming] = field(default_factory=list)
    wall_seconds: float = 0.0
    #: What the tasks received: "f and its arguments" or "compiled tape".
    travelled: str = "f and its arguments"

    def __str__(self) -> str:
        times = [b.seconds for b in self.blocks]
        total = sum(times)
        return (f"{self.mode} mode on {self.executor}: {len(self.blocks)} blocks of up to "
                f"{self.chunk} directions (predicted {self.predicted_task_seconds * 1e3:.3g} "
                f"ms each), task time {total:.3g} s in all (slowest "
                f"{max(times, default=0.0) * 1e3:.3g} ms), wall {self.wall_seconds:.3g} s, "
                f"{sum(b.attempts - 1 for b in self.blocks)} retries; tasks got "
                f"{self.travelled}")


def is_dask_client(executor) -> bool:
    return type(executor).__module__.startswith("distributed") and hasattr(executor, "scatter")


def _timed(task: Callable, payload, start: int, stop: int):
    began = time.perf_counter()
    result = task(payload, start, stop)
    return result, time.perf_counter() - began


def _check_picklable(payload, what: str) -> None:
    try:
        pickle.dumps(payload)
    except Exception as error:   # pickle raises several types (PicklingError, AttributeError)
        raise TypeError(
            f"{what}: the function and its arguments cannot be pickled for a process pool "
            f"({type(error).__name__}: {error}); use a module-level function (or "
            "functools.partial of one), a ThreadPoolExecutor, or a Dask client (which "
            "pickles closures with cloudpickle)") from None


def _key(what: str, task: Callable, call: str, start: int, stop: int) -> str:
    """A task's key: what it computes, the task function (a forward and a reverse block of
    the same payload are different work), the call (unique: keys of an earlier call that
    Dask is still releasing are never reused) and its block."""
    return f"ad-{what}-{getattr(task, '__name__', 'task')}-{call}-{start}-{stop}"


def _bar(progress: bool, total: int, what: str):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("progress=True needs tqdm: pip install tqdm (or admodes[bench])") \
            from None
    return tqdm(total=total, desc=what, unit="block")


def run_blocks(executor: Any, task: Callable, payload: Any,
               blocks: Sequence[tuple[int, int]], *, retries: int = RETRIES,
               progress: bool = False, what: str = "jacobian"):
    """`task(payload, start, stop)` for each block on `executor`: (results in block order,
    their `BlockTiming`s)."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"{what}: retries must be an int >= 0, not {retries!r}")
    bar = _bar(progress, len(blocks), what)
    try:
        if is_dask_client(executor):
            return _on_dask(executor, task, payload, blocks, retries, bar, what)
        if not isinstance(executor, Executor):
            raise TypeError(f"{what}: executor must be a dask.distributed.Client or a "
                            f"concurrent.futures.Executor, not {type(executor).__name__}")
        if isinstance(executor, ProcessPoolExecutor):
            _check_picklable((task, payload), what)
        return _on_futures(executor, task, payload, blocks, retries, bar, what)
    finally:
        if bar is not None:
            bar.close()


def _on_dask(client, task, payload, blocks, retries, bar, what):
    # one copy on every worker, under a key of its own: a content hash would give a repeated
    # call the key of the previous call's copy, which Dask may be releasing (its tasks then
    # lose their dependency)
    [shared] = client.scatter([payload], broadcast=True, hash=False)
    call = uuid.uuid4().hex
    futures = [client.submit(_timed, task, shared, start, stop, retries=retries, pure=False,
                             key=_key(what, task, call, start, stop))
               for start, stop in blocks]
    results, timings = [], []
    for (start, stop), future in zip(blocks, futures):
        try:
            value, seconds = future.result()
        except Exception as error:
            raise DistributedError(f"{what}: block {start}:{stop} failed after {retries} "
                                   f"retries: {type(error).__name__}: {error}") from error
        results.append(value)
        timings.append(BlockTiming(start, stop, seconds))
        if bar is not None:
            bar.update(1)
    return results, timings


def _on_futures(executor, task, payload, blocks, retries, bar, what):
    futures = [executor.submit(_timed, task, payload, start, stop) for start, stop in blocks]
    results, timings = [], []
    for (start, stop), future in zip(blocks, futures):
        attempts = 1
        while True:
            try:
                value, seconds = future.result()
                break
            except Exception as error:
                if attempts > retries:
                    raise DistributedError(
                        f"{what}: block {start}:{stop} failed after {retries} retries: "
                        f"{type(error).__name__}: {error}") from error
                attempts += 1
                future = executor.submit(_timed, task, payload, start, stop)
        results.append(value)
        timings.append(BlockTiming(start, stop, seconds, attempts))
        if bar is not None:
            bar.update(1)
    return results, timings


def executor_name(executor) -> str:
    if is_dask_client(executor):
        workers = len(getattr(executor, "scheduler_info", lambda: {})().get("workers", {}))
        return f"Dask ({workers} workers)"
    return type(executor).__name__


__all__ = ["run_blocks", "DistributedReport", "BlockTiming", "DistributedError",
           "TASK_SECONDS", "RETRIES", "is_dask_client", "executor_name", "task_chunk"]
