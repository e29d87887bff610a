"""The tape (ad/tape.py): columns, the one iterator, replay, lowering, and the block planner
(the passes the cost model predicts are the passes the transforms run)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ad
import ad.numpy as anp
from ad.recording import Recording
from ad.reverse import sweep
from ad.tape import CHUNK_BUDGET, CHUNK_SIZE, CONSTANT, plan_blocks


def _program(x, y):
    z = anp.sin(x) * y + 2.0 * x
    return anp.sum(anp.tanh(z) ** 2) + anp.sum(z[1:] * x[:-1])


X, Y = np.array([0.3, -1.2, 0.7]), np.array([1.5, 0.2, -0.4])


def _tape():
    return ad.trace(_program, X, Y).tape


def test_columns_agree_with_the_iterator():
    graph = ad.trace(_program, X, Y)
    tape = graph.tape
    entries = list(tape.entries())
    assert len(entries) == len(tape) == len(tape.opcodes)
    assert [e[0].opcode for e in entries] == tape.opcodes
    assert [e[4] for e in entries] == tape.outs
    assert tape.inputs == [0, 1] and tape.outs == list(range(2, 2 + len(tape)))
    for primitive, params, parents, constants, out, residuals in entries:
        assert ad.primitives[primitive.name] is primitive
        assert all(p == CONSTANT or 0 <= p < out for p in parents)   # topological ids
        if CONSTANT in parents:
            assert constants is not None and len(constants) == len(parents)
            assert all((c is None) == (p != CONSTANT) for c, p in zip(constants, parents))
        else:
            assert constants is None
        assert tape.shapes[out] == np.shape(graph.values[out])


def test_iterator_runs_backwards_and_consumes():
    tape = _tape()
    forward = list(tape.entries())
    backward = list(tape.entries(reverse=True))
    assert [e[4] for e in backward] == [e[4] for e in reversed(forward)]
    consumed = [e[4] for e in tape.entries(reverse=True, consume=True)]
    assert consumed == [e[4] for e in backward]
    assert len(tape) == 0 and tape.residuals == [] and len(tape.shapes) > 0
    with pytest.raises(ValueError, match="backwards only"):
        tape.entries(reverse=False, consume=True)


def test_replay_reproduces_every_value_and_the_gradient():
    """Re-running each entry on the replayed values of its parents gives the recorded values;
    storing the recomputed residuals gives the same sweep (recompute instead of store)."""
    graph = ad.trace(_program, X, Y)
    tape = graph.tape
    values = {0: X, 1: Y}
    for position, out in enumerate(tape.outs):
        values[out], _ = tape.replay(position, values, store=True)
        np.testing.assert_allclose(values[out], graph.values[out], rtol=1e-15)
    out_id = graph.outputs[0]
    replayed = sweep(tape, [(out_id, np.float64(1.0))], [0, 1])
    expected = ad.grad(_program, argnums=(0, 1))(X, Y)
    np.testing.assert_allclose(replayed[0], expected[0], rtol=1e-13)
    np.testing.assert_allclose(replayed[1], expected[1], rtol=1e-13)


def test_replay_on_new_inputs_is_the_function_there():
    tape = ad.trace(lambda x: anp.exp(x) * 3.0 + x, 0.0).tape
    values = {0: np.float64(1.5)}
    for position, out in enumerate(tape.outs):
        values[out], _ = tape.replay(position, values)
    assert float(values[tape.outs[-1]]) == pytest.approx(np.exp(1.5) * 3.0 + 1.5)


def test_lowered_columns_are_flat_integer_arrays():
    tape = _tape()
    low = tape.lowered()
    assert low["opcodes"].dtype == np.int32 and low["opcodes"].tolist() == tape.opcodes
    starts, ids = low["parent_start"], low["parent_ids"]
    assert [tuple(ids[starts[k]:starts[k + 1]]) for k in range(len(tape))] == tape.parents


def test_sweep_keep_returns_every_adjoint():
    tape = _tape()
    out = tape.outs[-1]
    kept = sweep(tape, [(out, np.float64(1.0))], keep=True)
    assert len(kept) == tape.n_values and kept[out] == 1.0
    np.testing.assert_allclose(kept[0], ad.grad(_program)(X, Y))


# ----------------------------------------------------------------------------- block planner
@given(n=st.integers(0, 3000), m=st.integers(0, 3000),
       chunk=st.one_of(st.none(), st.integers(1, 700)))
def test_blocks_cover_every_direction_once(n, m, chunk):
    plan = plan_blocks([(n,)], [(m,)], chunk)
    for blocks, total, passes in ((plan.forward_blocks, n, plan.forward_passes),
                                  (plan.reverse_blocks, m, plan.reverse_passes)):
        assert len(blocks) == passes == max(1, math.ceil(total / plan.chunk))
        covered = [i for start, stop in blocks for i in range(start, stop)]
        assert covered == list(range(total))
        assert all(stop - start <= plan.chunk for start, stop in blocks)


def test_chunk_respects_the_budget_on_inputs_and_outputs():
    assert plan_blocks([(10,)], [(3,)]).chunk == CHUNK_SIZE
    for shapes in (([(50_000,)], [()]), ([(3,)], [(50_000,)]), ([(2, 3), (40_000,)], [(7,)])):
        plan = plan_blocks(*shapes)
        assert plan.chunk * 50_000 <= CHUNK_BUDGET or plan.chunk * 40_000 <= CHUNK_BUDGET
        assert plan.chunk == CHUNK_BUDGET // max(math.prod(s) for s in shapes[0] + shapes[1])
    with pytest.raises(ValueError, match="chunk_size"):
        plan_blocks([(3,)], [(3,)], -2)


def _counting(monkeypatch):
    passes = {"forward": 0, "reverse": 0}
    push, pull = Recording.push, Recording.pull

    def counted_push(self, tangents):
        passes["forward"] += 1
        return push(self, tangents)

    def counted_pull(self, cotangents, *args, **kwargs):
        passes["reverse"] += 1
        return pull(self, cotangents, *args, **kwargs)
    monkeypatch.setattr(Recording, "push", counted_push)
    monkeypatch.setattr(Recording, "pull", counted_pull)
    return passes


@pytest.mark.parametrize("n,m,chunk", [(3, 20_000, None), (20_000, 3, None), (40, 900, 64),
                                       (900, 40, 64), (5, 7, None)])
def test_auto_jacobian_runs_exactly_the_predicted_passes(monkeypatch, n, m, chunk):
    """The cost model predicts with the plan the transform executes (first call and the
    remembered decision alike)."""
    weights = np.random.default_rng(0).standard_normal((m, n)) / n

    def f(x):
        return anp.tanh(weights @ x)
    x = np.linspace(-1.0, 1.0, n)
    passes = _counting(monkeypatch)
    jac = ad.jacobian(f, chunk_size=chunk)
    J = jac(x)
    report = jac.report
    predicted = report.forward.passes if report.choice == "forward" else report.reverse.passes
    assert report.plan == plan_blocks([(n,)], [(m,)], chunk)
    assert passes[report.choice] == predicted
    np.testing.assert_allclose(J, (1 - np.tanh(weights @ x) ** 2)[:, None] * weights,
                               atol=1e-12)
    # the remembered decision runs the chosen mode with the same chunk
    by = ad.jacfwd if report.choice == "forward" else ad.jacrev
    np.testing.assert_allclose(jac(x), by(f, chunk_size=report.plan.chunk)(x))


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 40), m=st.integers(1, 40), chunk=st.integers(1, 16))
def test_jacrev_and_cost_report_agree_on_passes(n, m, chunk):
    weights = np.ones((m, n))
    report = ad.cost_report(lambda x: weights @ anp.sin(x), np.ones(n), chunk_size=chunk)
    assert report.forward.passes == math.ceil(n / chunk)
    assert report.reverse.passes == math.ceil(m / chunk)
    assert report.plan.forward_blocks == plan_blocks([(n,)], [(m,)], chunk).forward_blocks


def test_recording_writes_the_rows_tape_append_writes():
    """ReverseLevel.process inlines Tape.append for arrays: the two must write the same."""
    from ad.context import entered
    from ad.reverse import ReverseLevel
    from ad.tape import Tape
    level = ReverseLevel()
    with entered(level):
        x = level.new_input(np.array([1.0, 2.0]))
        anp.sin(x) * 2.0
    manual = Tape()
    manual.new_input(np.array([1.0, 2.0]))
    for primitive, params, parents, constants, out, residuals in level.tape.entries():
        value = np.zeros(level.tape.shapes[out], level.tape.dtypes[out])
        assert manual.append(primitive, params, parents, constants, residuals, value) == out
    assert manual.rows == level.tape.rows
    assert manual.shapes == level.tape.shapes and manual.dtypes == level.tape.dtypes


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "4"])
def test_a_chunk_size_that_is_not_a_positive_integer_is_named(bad):
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        plan_blocks([(5,)], [(3,)], chunk_size=bad)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        ad.jacfwd(anp.sin, chunk_size=bad)(np.ones(5))
