"""The calibration table (ad/cost/calibration.py) and its measurement (ad/calibrate.py):
deterministic prices from a fixed table, the planner's passes equal the executed ones, the
cache keyed by machine and version, and the fit."""
from __future__ import annotations

import json

import numpy as np
import pytest

import ad
import ad.numpy as anp
from ad import calibrate
from ad import transforms
from ad.cost import calibration
from ad.cost.calibration import Calibration, Line
from ad.recording import Recording


def _table(scale: float = 1.0, **engine) -> Calibration:
    lines = {name: {"value": (1e-6 * scale, 2e-9 * scale),
                    "jvp": (2e-6 * scale, 3e-9 * scale, 1e-10 * scale),
                    "vjp": (3e-6 * scale, 4e-9 * scale, 1e-10 * scale)}
             for name in ad.primitives}
    terms = {term: 1e-6 * scale for term in calibration.ENGINE_TERMS}
    terms.update({k: v * scale for k, v in engine.items()})
    terms["element"] = terms["accumulate"] = 1e-9 * scale
    return Calibration(lines, {}, terms)


def _program(x):
    return anp.tanh(anp.cumsum(x * anp.sin(x))[::2]) @ np.ones((5, 3))


def test_predictions_are_deterministic_given_the_table():
    x = np.linspace(0.1, 1.0, 10)
    first = ad.cost_report(_program, x, table=_table())
    again = ad.cost_report(_program, x, table=_table())
    assert first.forward.seconds == again.forward.seconds > 0
    assert first.reverse.seconds == again.reverse.seconds > 0
    assert first.calibration == "fixed"
    # every term is linear in the table: prices doubled, predictions doubled
    doubled = ad.cost_report(_program, x, table=_table(2.0))
    for mode in ("evaluation", "jvp", "vjp", "forward", "reverse"):
        assert getattr(doubled, mode).seconds == pytest.approx(
            2 * getattr(first, mode).seconds, rel=1e-12)


def test_terms_name_the_dominant_primitive():
    """A program that is one huge solve: the solve line dominates every mode's time."""
    A = np.eye(300) * 3.0 + 0.01
    report = ad.cost_report(lambda b: anp.linalg.solve(A, anp.sin(b)), np.ones(300),
                            table=_table())
    for mode in (report.forward, report.reverse):
        assert sum(t for _, t in mode.terms) == pytest.approx(mode.seconds)
        assert [t for _, t in mode.terms] == sorted((t for _, t in mode.terms), reverse=True)
    assert "largest terms" in str(report)


@pytest.mark.parametrize("chunk", [1, 3, 4, 64])
def test_planned_passes_are_the_executed_ones(chunk, monkeypatch):
    x = np.linspace(0.1, 1.0, 10)
    report = ad.cost_report(_program, x, chunk_size=chunk, table=_table())
    pushes, pulls = [], []
    push_forward, pull = transforms._push_forward, Recording.pull
    monkeypatch.setattr(transforms, "_push_forward",
                        lambda *a, **k: pushes.append(1) or push_forward(*a, **k))
    monkeypatch.setattr(Recording, "pull",
                        lambda self, *a, **k: pulls.append(1) or pull(self, *a, **k))
    J = ad.jacfwd(_program, chunk_size=chunk)(x)
    np.testing.assert_allclose(ad.jacrev(_program, chunk_size=chunk)(x), J, atol=1e-12)
    assert len(pushes) == report.forward.passes == report.plan.forward_passes
    assert len(pulls) == report.reverse.passes == report.plan.reverse_passes


def test_jacobian_report_shows_the_measured_time():
    jac = ad.jacobian(lambda x: anp.sum(anp.sin(x) ** 2))
    jac(np.ones(500))
    choice = jac.report.choice
    assert set(jac.report.measured) == {choice} and jac.report.measured[choice] > 0
    jac(np.ones(50))                     # the remembered decision: measured again
    assert "measured" in str(jac.report)


def test_uncalibrated_primitives_are_priced_by_their_kind():
    table = Calibration({"sin": {m: (5e-6, 1e-9) for m in calibration.MODES}},
                        {"sin": "elementwise"}, {})
    assert table.line("cos", "jvp", "elementwise") == Line(5e-6, 1e-9)
    assert table.calibrated("sin") and not table.calibrated("cos")
    report = ad.cost_report(anp.cos, np.ones(4), table=table)
    assert report.forward.seconds > 0


def test_memory_factor_follows_the_curve_from_its_fastest_point():
    """Small arrays (overhead-bound, priced by the lines' overheads) get no factor; beyond
    the fastest point an element costs the curve's rate over the fastest rate."""
    table = Calibration({}, {}, {}, memory=[[1e3, 4e-9], [1e5, 1e-9], [1e7, 3e-9]])
    factor = [table.memory_factor(b) for b in (1e2, 1e3, 1e5, 1e6, 1e7, 1e9)]
    np.testing.assert_allclose(factor, [1.0, 1.0, 1.0, 2.0, 3.0, 3.0])
    assert Calibration({}).memory_factor(1e9) == 1.0
    # the factor multiplies the rule's work: a block beyond the caches costs more
    x = np.ones(4000)
    slow = ad.cost_report(anp.sin, x, table=Calibration(
        {"sin": {m: (0.0, 1e-9, 0.0) for m in calibration.MODES}}, {}, {},
        memory=[[1e3, 1e-9], [1e6, 1e-9], [1e8, 4e-9]]))
    fast = ad.cost_report(anp.sin, x, table=Calibration(
        {"sin": {m: (0.0, 1e-9, 0.0) for m in calibration.MODES}}, {}, {}))
    assert slow.forward.seconds > 1.5 * fast.forward.seconds


# ----------------------------------------------------------------------------- the cache
def test_cache_is_keyed_by_machine_versions_and_code(tmp_path, monkeypatch):
    monkeypatch.setenv("AD_CACHE_DIR", str(tmp_path))
    key = calibration.machine_key()
    assert {"processor", "cores", "python", "numpy", "numba", "ad", "code"} <= set(key)
    table = _table()
    table.key = key
    path = table.save()
    assert path.parent == tmp_path
    loaded = calibration.load_cached(key)
    assert loaded is not None and loaded.source == "cache"
    assert loaded.lines["sin"]["jvp"] == table.lines["sin"]["jvp"]
    # another version of the code (or of NumPy, or another machine): not this table
    for field, other in (("code", "0" * 16), ("numpy", "0.0"), ("processor", "elsewhere")):
        assert calibration.load_cached({**key, field: other}) is None


def test_a_cached_table_from_another_machine_is_not_used(tmp_path, monkeypatch):
    """Copied into this machine's cache file, a table made elsewhere is still rejected."""
    monkeypatch.setenv("AD_CACHE_DIR", str(tmp_path))
    key = calibration.machine_key()
    foreign = _table(5.0)
    foreign.key = {**key, "processor": "some other CPU"}
    foreign.save(calibration.cache_path(key))
    assert calibration.load_cached(key) is None
    calibration.use(None)
    try:
        assert calibration.current().source == "default"
    finally:
        calibration.use(calibration.load_default())


def test_the_shipped_default_table_covers_the_catalogue():
    table = calibration.load_default()
    for name in ("sin", "multiply", "add", "matmul", "sum", "getitem", "solve", "reshape"):
        assert table.calibrated(name), name
    for modes in table.lines.values():
        for line in modes.values():
            assert all(v >= 0 for v in line)
    assert "add~tc" in table.lines       # x + constant: the tangent passes through, free
    assert table.engine["forward_entry"] > 0 and table.engine["record_entry"] > 0
    assert table.memory
    data = json.loads(calibration.DEFAULT_TABLE.read_text())
    assert Calibration.from_json(data, "default").to_json() == data


# ----------------------------------------------------------------------------- the fit
def test_fit_recovers_a_line_and_drops_negative_terms():
    work = np.array([1e3, 1e4, 1e5, 1e6])
    seconds = 2e-6 + 3e-9 * work
    coef = calibrate.fit_nonnegative(np.column_stack([np.ones(4), work]), seconds)
    np.testing.assert_allclose(coef, [2e-6, 3e-9], rtol=1e-9)
    # a decreasing trend would need a negative slope: it is dropped, the overhead refitted
    coef = calibrate.fit_nonnegative(np.column_stack([np.ones(4), work]), seconds[::-1])
    assert coef[1] == 0.0 and coef[0] > 0


def test_measuring_entries_gives_samples_per_mode():
    samples, kinds = {}, {}
    calibrate.time_entries(lambda x: anp.sum(anp.sin(x) * x), np.linspace(0, 1, 16), (1, 4),
                           samples, kinds, budget=1e-5)
    assert set(samples) == {"sin", "multiply", "sum"}
    assert kinds["sin"] == "elementwise"
    for modes in samples.values():
        assert len(modes["value"]) == 1 and len(modes["jvp"]) == len(modes["vjp"]) == 2
        assert all(t > 0 for *_, t in modes["jvp"])
    lines = calibrate.fit_lines(samples)
    assert all(len(lines[name]["jvp"]) == 3 for name in lines)


def test_every_builtin_primitive_runs_in_forward_mode():
    """Only a primitive declared with a VJP alone (a custom_vjp function) is reverse-only;
    the cost model forces reverse mode through such a one, so a builtin marked reverse-only
    would silently turn auto into jacrev (as concatenate once did)."""
    from ad.primitive import BUILTIN_NAMES     # (other tests' custom_vjp functions are not)
    reverse_only = [p.name for p in ad.primitives.values()
                    if p.name in BUILTIN_NAMES and p.differentiable and not p.forward_mode]
    assert len(BUILTIN_NAMES) > 90 and reverse_only == []
    report = ad.cost_report(lambda x: anp.concatenate([x, x]), np.ones(2))
    assert report.counts.reverse_only is None


# ----------------------------------------------------------------------------- settling
def test_a_close_call_past_the_budget_settles_after_the_minimum_trials(monkeypatch):
    monkeypatch.setattr(transforms, "SETTLE_BUDGET", 0.0)   # every call "expensive"
    calibration.use(_table())
    try:
        jac = ad.jacobian(anp.sin)
        x = np.linspace(0, 1, 50)
        jac(x)
        for _ in range(2 * transforms.SETTLE_TRIALS):
            jac(x)
        assert f"best of {transforms.SETTLE_TRIALS} calls each" in jac.report.reason
    finally:
        calibration.use(calibration.load_default())


def test_a_close_call_is_settled_by_measurement():
    """Predicted within SETTLE_WITHIN of each other, the modes are each timed
    SETTLE_TRIALS times on the next calls, and the faster one is kept."""
    calibration.use(_table())
    try:
        jac = ad.jacobian(anp.sin)
        x = np.linspace(0, 1, 50)
        J = jac(x)
        report = jac.report
        assert max(report.ratio, 1 / report.ratio) < transforms.SETTLE_WITHIN
        for _ in range(2 * transforms.SETTLE_TRIALS):
            np.testing.assert_allclose(jac(x), J, atol=1e-15)
        # a cheap Jacobian is timed more often, within the budget, before it settles
        assert "settled by measurement" not in jac.report.reason
        for _ in range(2 * (transforms.SETTLE_MAX_TRIALS - transforms.SETTLE_TRIALS)):
            np.testing.assert_allclose(jac(x), J, atol=1e-15)
        settled = jac.report
        assert f"best of {transforms.SETTLE_MAX_TRIALS} calls each" in settled.reason
        assert "settled by measurement" in settled.reason
        assert set(settled.measured) == {"forward", "reverse"}
        assert settled.choice in ("forward", "reverse")
        # later calls run the settled mode only
        jac(x)
        assert "settled by measurement" in jac.report.reason
        keep = ad.jacobian(anp.sin, settle=False)
        for _ in range(5):
            keep(x)
        assert set(keep.report.measured) == {keep.report.choice}
        assert "settled" not in keep.report.reason
    finally:
        calibration.use(calibration.load_default())


def test_a_clear_call_is_not_explored():
    calibration.use(_table())
    try:
        A = np.ones((1, 2000))
        jac = ad.jacobian(lambda x: A @ anp.sin(x))       # 2000 -> 1: reverse, clearly
        for _ in range(6):
            jac(np.ones(2000))
        assert jac.report.choice == "reverse" and set(jac.report.measured) == {"reverse"}
    finally:
        calibration.use(calibration.load_default())


def test_assembly_is_priced_by_the_jacobians_size():
    table = Calibration({}, {}, {"element": 1e-9}, assembly=[[1e5, 2e-9], [1e7, 4e-9]])
    assert table.assembly_seconds(1e6, 1e5) == pytest.approx(2e-3)
    assert table.assembly_seconds(1e6, 1e6) == pytest.approx(3e-3)     # log-interpolated
    assert table.assembly_seconds(1e6, 1e9) == pytest.approx(4e-3)     # held at the end
    assert Calibration({}, {}, {"element": 1e-9}).assembly_seconds(1e6, 1e9) == \
        pytest.approx(1e-3)


def test_the_compiled_lines_are_fitted_for_every_interpreter_op():
    pytest.importorskip("numba")
    from ad import calibrate, compiled
    fitted = calibrate.fit_compiled(budget=1e-6)      # one run per sample: quick
    ops = {p.name for p in compiled.interpreter().opcodes}
    assert ops | {"gather", "scatter", "select", "guard", "argmax", "max"} <= set(fitted["lines"])
    for modes in fitted["lines"].values():
        assert set(modes) == {"values", "forward", "reverse"}
        assert all(len(line) == 3 and min(line) >= 0.0 for line in modes.values())
    assert {"run", "call", "block", "block_element"} <= set(fitted["terms"])
    assert fitted["terms"]["run"] > 0.0
