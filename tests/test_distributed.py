"""Derivatives on executors (ad/distributed.py and the executor= of the transforms): the
same bits as the serial computation with the same blocks, whatever order blocks finish in;
retries; picklability named; grad_sum in partition order; Dask when installed."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import ad
import ad.numpy as anp
from ad.distributed import TASK_SECONDS, DistributedError
from benchmarks.auto_suite import brusselator

F, X = brusselator(6)


def module_level(x):
    return anp.tanh(x[1:] * x[:-1]) + anp.sin(x[:-1])


@pytest.fixture(scope="module")
def threads():
    with ThreadPoolExecutor(2) as pool:
        yield pool


@pytest.mark.parametrize("transform,mode", [(ad.jacfwd, None), (ad.jacrev, None),
                                            (ad.jacobian, "forward"),
                                            (ad.jacobian, "reverse")])
def test_blocks_on_threads_give_the_serial_bits(threads, transform, mode):
    kwargs = {} if mode is None else {"mode": mode}
    distributed = transform(F, executor=threads, chunk_size=7, **kwargs)
    got = distributed(X)
    assert np.array_equal(got, transform(F, chunk_size=7, **kwargs)(X))
    report = distributed.report
    assert report.chunk == 7 and len(report.blocks) == -(-X.size // 7)
    assert [b.start for b in report.blocks] == list(range(0, X.size, 7))


def test_blocks_finishing_out_of_order_are_reassembled_in_order(threads):
    finished = []

    def slow_first(x):
        # blocks seeded earlier sleep longer, so later blocks finish first
        if not hasattr(x, "tangent"):                # the recording that sizes blocks
            return module_level(x)
        first = int(np.argmax(np.asarray(x.tangent)[0]))
        time.sleep(0.01 * (9 - first))
        finished.append(first)
        return module_level(x)
    x = np.linspace(0.1, 1.0, 9)
    got = ad.jacfwd(slow_first, executor=threads, chunk_size=2)(x)
    assert finished != sorted(finished)          # they did finish out of order
    assert np.array_equal(got, ad.jacfwd(module_level, chunk_size=2)(x))


def test_auto_mode_sizes_tasks_by_the_cost_model(threads):
    jac = ad.jacobian(F, executor=threads)
    jac(X)
    report = jac.report
    assert report.mode in ("forward", "reverse")
    # each task is predicted to take TASK_SECONDS, unless the planner's chunk caps it
    assert report.predicted_task_seconds >= TASK_SECONDS or report.chunk >= X.size
    assert "blocks" in str(report)


def test_pytrees_argnums_and_hessians(threads):
    def f(p, scale):
        return {"a": p["x"] * p["y"][:2] * scale, "b": anp.sum(p["y"] ** 2)}
    p = {"x": np.array([1.0, 2.0]), "y": np.array([3.0, 4.0, 5.0])}
    got = ad.jacrev(f, executor=threads, chunk_size=1)(p, 2.0)
    want = ad.jacrev(f, chunk_size=1)(p, 2.0)
    for out in want:
        for leaf in want[out]:
            assert np.array_equal(got[out][leaf], want[out][leaf])
    g = lambda x: anp.sum(x ** 3 * anp.roll(x, 1))   # noqa: E731
    x = np.arange(1.0, 7.0)
    assert np.array_equal(ad.hessian(g, executor=threads, chunk_size=2)(x),
                          ad.hessian(g, chunk_size=2)(x))


class Flaky:
    """Fails the first call for a block whose seed starts at `fail_at`."""

    def __init__(self, fail_at: int, times: int) -> None:
        self.lock = threading.Lock()
        self.fail_at, self.left = fail_at, times

    def __call__(self, x):
        tangent = getattr(x, "tangent", None)
        first = None if tangent is None else int(np.argmax(np.asarray(tangent)[0]))
        with self.lock:
            if first == self.fail_at and self.left > 0:
                self.left -= 1
                raise RuntimeError("a worker went away")
        return module_level(x)


def test_a_failed_block_is_retried(threads):
    x = np.linspace(0.1, 1.0, 9)
    flaky = Flaky(fail_at=4, times=2)
    jac = ad.jacfwd(flaky, executor=threads, chunk_size=2, retries=2)
    assert np.array_equal(jac(x), ad.jacfwd(module_level, chunk_size=2)(x))
    assert [b.attempts for b in jac.report.blocks] == [1, 1, 3, 1, 1]
    with pytest.raises(DistributedError, match="block 4:6 failed after 0 retries"):
        ad.jacfwd(Flaky(fail_at=4, times=1), executor=threads, chunk_size=2, retries=0)(x)


def test_process_pools_need_picklable_functions():
    x = np.linspace(0.1, 1.0, 5)
    with ProcessPoolExecutor(2) as pool:
        got = ad.jacfwd(module_level, executor=pool, chunk_size=2)(x)
        assert np.array_equal(got, ad.jacfwd(module_level, chunk_size=2)(x))
        with pytest.raises(TypeError, match="cannot be pickled"):
            ad.jacfwd(lambda v: v * 2.0, executor=pool)(x)


def test_bad_executors_and_arguments_are_named():
    with pytest.raises(TypeError, match="executor must be"):
        ad.jacfwd(module_level, executor=object())(np.ones(3))
    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(ValueError, match="retries"):
            ad.jacfwd(module_level, executor=pool, retries=-1)(np.ones(3))
    with pytest.raises(ValueError, match="mode must be"):
        ad.jacobian(module_level, mode="optimal", executor=ThreadPoolExecutor(1))


def loss(w, x, y):
    return anp.sum((anp.tanh(x @ w) - y) ** 2)


def test_grad_sum_is_the_serial_sum_in_partition_order(threads):
    rng = np.random.default_rng(0)
    w = rng.standard_normal(3)
    parts = [(rng.standard_normal((5, 3)), rng.standard_normal(5)) for _ in range(4)]
    serial = ad.grad(loss)(w, *parts[0])
    for part in parts[1:]:
        serial = serial + ad.grad(loss)(w, *part)
    assert np.array_equal(ad.grad_sum(loss, w, parts), serial)
    assert np.array_equal(ad.grad_sum(loss, w, parts, executor=threads), serial)
    whole = ad.grad(lambda w: sum(loss(w, *p) for p in parts))(w)
    np.testing.assert_allclose(serial, whole, rtol=1e-13)


def test_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        jac = ad.jacfwd(lambda x: F(x), executor=client, chunk_size=16)   # a closure
        assert np.array_equal(jac(X), ad.jacfwd(F, chunk_size=16)(X))
        assert jac.report.executor.startswith("Dask")
        x = np.linspace(0.1, 1.0, 9)
        flaky = Flaky(fail_at=2, times=1)
        got = ad.jacfwd(flaky, executor=client, chunk_size=2, retries=1)(x)
        assert np.array_equal(got, ad.jacfwd(module_level, chunk_size=2)(x))
        rng = np.random.default_rng(1)
        w = rng.standard_normal(3)
        parts = [(rng.standard_normal((4, 3)), rng.standard_normal(4)) for _ in range(3)]
        assert np.array_equal(ad.grad_sum(loss, w, parts, executor=client),
                              ad.grad_sum(loss, w, parts))
        x = np.linspace(0.1, 1.0, 30)                       # colour groups as Dask tasks
        sparse = ad.jacobian(sparse_program, sparse=True, executor=client)(x)
        assert (sparse != ad.jacobian(sparse_program, sparse=True)(x)).nnz == 0
        # repeated calls of the same payload, in both modes: each call's own keys (an
        # earlier call's copy being released, or its other mode's results, never reused)
        def g(x):
            return anp.tanh(x) * x[::-1]
        x = np.linspace(-0.9, 0.8, 9)
        dense = ad.jacfwd(g)(x)
        for _ in range(3):
            for mode in ("forward", "reverse"):
                for chunk in (1, 2):
                    got = ad.jacobian(g, mode=mode, executor=client, chunk_size=chunk)(x)
                    np.testing.assert_allclose(got, dense, rtol=1e-14, atol=1e-15)


# ----------------------------------------------------------------------------- sparse
def sparse_program(x):
    return anp.concatenate([x[1:] * x[:-1], anp.sin(x[:3]) * x[-1]])   # an arrowhead row


def rosenbrock(x):
    return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse", "bidirectional"])
def test_sparse_colour_groups_as_tasks_give_the_serial_bits(threads, mode):
    x = np.linspace(0.1, 1.0, 30)
    jac = ad.jacobian(sparse_program, sparse=True, mode=mode, executor=threads)
    got = jac(x)
    expected = ad.jacobian(sparse_program, sparse=True, mode=mode)(x)
    assert (got != expected).nnz == 0 and np.array_equal(got.indices, expected.indices)
    report = jac.report.distributed
    assert report is not None and report.blocks and report.executor == "ThreadPoolExecutor"
    if jac.report.choice in jac.report.colorings and jac.report.choice != "bicoloured":
        # the tasks carry the colour groups, each once
        assert sum(b.stop - b.start for b in report.blocks) == \
            jac.report.colorings[jac.report.choice]


def test_sparse_hessian_as_tasks_and_on_a_process_pool():
    x = np.linspace(0.1, 1.0, 40)
    expected = ad.hessian(rosenbrock, sparse=True)(x)
    with ProcessPoolExecutor(2) as pool:
        got = ad.hessian(rosenbrock, sparse=True, executor=pool)(x)
        jac = ad.jacobian(sparse_program, sparse=True, executor=pool)
        assert (jac(x) != ad.jacobian(sparse_program, sparse=True)(x)).nnz == 0
    assert (got != expected).nnz == 0


# ----------------------------------------------------------------------------- what travels
@pytest.mark.parametrize("transform", [ad.jacfwd, ad.jacrev])
def test_compiled_tapes_travel_instead_of_f(threads, transform):
    expected = transform(F, compile=True)(X)
    distributed = transform(F, executor=threads, compile=True, chunk_size=5)
    assert np.array_equal(distributed(X), expected)
    assert distributed.report.travelled == "compiled tape"
    assert "compiled tape" in str(distributed.report)
    with ProcessPoolExecutor(2) as pool:          # the program pickles (its arrays only)
        on_processes = transform(F, executor=pool, compile=True, chunk_size=5)
        assert np.array_equal(on_processes(X), expected)
    plain = transform(F, executor=threads, chunk_size=5)
    plain(X)
    assert plain.report.travelled == "f and its arguments"


def test_a_signature_that_does_not_lower_ships_f(threads):
    def unlowered(x):                   # cholesky does not lower yet
        return anp.ravel(anp.linalg.cholesky(2.0 * np.eye(2) + anp.reshape(x[:4], (2, 2)))) * x[4:]
    x = np.linspace(0.1, 1.0, 8)
    jac = ad.jacfwd(unlowered, executor=threads, compile=True)
    assert np.array_equal(jac(x), ad.jacfwd(unlowered)(x))
    assert jac.report.travelled == "f and its arguments"
    branchy = lambda x: anp.where(x > 0.5, x ** 2, anp.sin(x)) * x[::-1]   # noqa: E731
    jac = ad.jacfwd(branchy, executor=threads, compile=True)    # its mask is recomputed
    for point in (x, x[::-1] - 0.3):
        np.testing.assert_allclose(jac(point), ad.jacfwd(branchy)(point), rtol=1e-14)
    assert jac.report.travelled == "compiled tape"


def test_the_block_plan_is_made_once_per_signature(threads):
    calls = {"n": 0}

    def counted(x, k):
        calls["n"] += 1
        return anp.sin(x[:k]) * x[0]
    jac = ad.jacfwd(counted, executor=threads, chunk_size=2)
    x = np.linspace(0.1, 1.0, 6)
    first = jac(x, 3)
    runs = calls["n"]
    # 3 tasks and the plain run checking the sized shapes; no recording to size it again
    assert np.array_equal(jac(x, 3), first) and calls["n"] - runs == 4
    assert jac(x, 4).shape == (4, 6)          # another int argument: planned afresh


def test_values_that_shape_the_output_size_it_again(threads):
    # the sized shapes are checked at each call (before: a NumPy integer keyed by its dtype
    # and a mask's count gave the first call's 2 x 4 Jacobian, or a reshape error)
    x = np.array([0.1, 0.2, 0.3, 0.4])
    by_k = lambda x, k: anp.sin(x[:k])          # noqa: E731
    by_mask = lambda x: anp.sin(x[x > 0.15])    # noqa: E731
    for mode in ("forward", "reverse", "auto"):
        jac = ad.jacobian(by_k, mode=mode, executor=threads)
        for k in (2, 3, 2):
            np.testing.assert_array_equal(jac(x, np.int64(k)), ad.jacfwd(by_k)(x, np.int64(k)))
        jac = ad.jacobian(by_mask, mode=mode, executor=threads)
        for point in (x, x[::-1] - 0.1, x):
            np.testing.assert_array_equal(jac(point), ad.jacfwd(by_mask)(point))


def test_holomorphic_with_an_executor_is_refused_by_name(threads):
    z = np.array([1 + 1j, 2 - 1j])
    for transform in (ad.jacobian, ad.jacfwd, ad.jacrev):
        with pytest.raises(ValueError, match="holomorphic=True, executor=.*drop executor"):
            transform(lambda s: s ** 2, holomorphic=True, executor=threads)(z)


def test_a_signature_holds_the_arguments_tree(threads):
    def f(d):
        return d["a"] * 2.0 + 0.0 * d.get("b", d.get("c"))
    jac = ad.jacobian(f, executor=threads)
    jac({"a": np.ones(2), "b": np.ones(2)})
    got = jac({"a": np.ones(2), "c": np.ones(2)})
    assert list(got) == ["a", "c"]


def test_tasks_of_a_program_with_traced_only_methods(threads):
    def g(x):
        return x.at[np.array([2, 0])].add(x[:2] ** 2)
    x = np.linspace(0.2, 1.0, 4)
    jac = ad.jacobian(g, executor=threads)
    for y in (x, x + 1.0):                       # the second call checks the sized shapes
        np.testing.assert_allclose(jac(y), ad.jacfwd(g)(y), rtol=1e-14)
