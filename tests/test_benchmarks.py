"""The benchmark suite cannot rot: its smoke preset runs here, in-process, in seconds.

The smoke preset checks every ``ad`` derivative (value, grad, forward / reverse / auto
Jacobians, Hessian, HVP) against the hand-written NumPy one on tiny inputs and writes
the same JSON document as a real run; this test checks that document's schema. Needs
no peer and none of the ``bench`` extras (rich, tqdm, matplotlib).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import ad
from benchmarks import report, runner
from benchmarks.peer_worker import load_results, save_results
from benchmarks.peers import RTOL, relative_error


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    doc = runner.run("smoke", out_dir=out, threads=None, progress=False)
    return doc, out


def test_smoke_checks_every_ad_derivative(smoke):
    doc, _ = smoke
    ad = [r for r in doc["records"] if r["tool"] == "ad"]
    kinds = {r["kind"] for r in ad}
    assert {"value", "grad", "jacfwd", "jacrev", "jacobian", "hessian", "hvp"} <= kinds
    assert {r["workload"].split("_")[0] for r in ad} == {"W1", "W2", "W3", "W4", "W5", "W6"}
    for r in ad:
        assert r["status"] == "ok", r
        assert r["relerr"] <= RTOL
        assert r["median_s"] > 0 and r["first_s"] > 0


def test_smoke_json_schema(smoke):
    doc, out = smoke
    on_disk = json.loads((out / "latest-smoke.json").read_text())
    assert on_disk["schema"] == runner.SCHEMA
    assert on_disk["preset"] == "smoke"
    for key in ("started", "duration_s", "settings", "machine", "environment", "ad", "peers",
                "records", "targets", "notes", "files", "markdown"):
        assert key in on_disk, key
    assert {"cpu", "logical_cores", "usable_cores"} <= set(on_disk["machine"])
    assert {"python", "versions", "thread_env"} <= set(on_disk["environment"])
    assert "numpy" in on_disk["environment"]["versions"]
    assert on_disk["ad"]["w1_tape_ops"] > 0
    for r in on_disk["records"]:
        assert {"tool", "workload", "variant", "kind", "status"} <= set(r)
        if r["status"] == "ok" and r["tool"] != "ad":
            assert r["ratio_to_ad"] > 0
            assert r["relerr_ad"] <= RTOL      # checked against ad before it was timed
    dated = [p for p in out.glob("*-smoke.json") if not p.name.startswith("latest")]
    assert len(dated) == 1
    assert (out / "latest-smoke.md").read_text().startswith("### `python -m benchmarks --smoke`")


def test_tables_render_without_rich(smoke):
    doc, _ = smoke
    text = "\n".join(t.text() for t in doc["_tables"])
    assert "W4_3x20" in text and "hand NumPy" in text
    assert "| workload |" in doc["markdown"]


def test_ad_results_round_trip_for_the_peer_worker(tmp_path):
    results = {("W1", "grad"): (1.5, np.arange(3.0)),
               ("W3", "grad"): (2.0, {"b": np.ones(2), "a": np.zeros((2, 2))})}
    path = str(tmp_path / "ad.npz")
    save_results(path, results)
    back = load_results(path)
    for key, tree in results.items():
        assert relative_error(tree, back[key]) == 0.0


def _rec(tool, workload, variant, median, tag=None):
    kind = variant.split("[")[0]
    return {"tool": tool, "workload": workload, "variant": variant, "kind": kind, "tag": tag,
            "status": "ok", "median_s": median}


def test_targets_met_missed_and_not_run():
    records = [_rec("ad", "W1", "grad", 1e-3), _rec("torch_peer", "W1", "grad", 2e-3),
               _rec("ad", "W2", "grad", 1.2), _rec("ad", "W2", "value", 1.0),
               _rec("ad", "W4_10x1000", "jacfwd", 1.0), _rec("ad", "W4_10x1000", "jacrev", 5.0),
               _rec("ad", "W4_10x1000", "jacobian", 1.05),
               _rec("autograd_peer", "W4_10x1000", "jacfwd[loop]", 2.0, "loop"),
               _rec("jax_peer", "W4_10x1000", "jacfwd[jit]", 0.1, "jit")]
    report.add_ratios(records)
    assert records[1]["ratio_to_ad"] == pytest.approx(2.0)
    found = {(t.workload, t.goal): t for t in report.targets(report.Index(records), 100)}
    assert found[("W1", "grad per recorded op <= 5 µs")].status == "missed"   # 10 µs/op
    assert found[("W1", "grad per recorded op <= 5 µs")].margin == pytest.approx(2.0)
    assert found[("W1", "grad >= 3x faster than PyTorch eager")].status == "missed"
    assert found[("W1", "grad >= 5x faster than autograd")].status == "n/a"
    assert found[("W2", "grad/f <= 1.5")].status == "met"
    w4 = [t for (w, _), t in found.items() if w == "W4_10x1000"]
    assert [t.status for t in w4] == ["met", "met"]     # the jitted JAX row does not count


def test_the_compiled_tape_is_its_own_column():
    """grad[compiled] must not stand in for the interpreted grad: issue 5's per-op target
    reads the interpreted engine, issue 12's the compiled column against the compiling
    peers (CasADi's best way)."""
    records = [_rec("ad", "W1", "grad", 1e-3), _rec("ad", "W1", "grad[compiled]", 5e-5,
                                                    "compiled"),
               _rec("jax_peer", "W1", "grad[jit]", 4e-5, "jit"),
               _rec("casadi_peer", "W1", "grad", 1e-4), _rec("casadi_peer", "W1", "grad[jit]",
                                                            6e-5, "jit")]
    index = report.Index(records)
    assert index.time("W1", "grad", "ad") == 1e-3
    assert index.time("W1", "grad", "ad compiled") == 5e-5
    found = {t.goal: t for t in report.targets(index, 100)}
    assert found["grad per recorded op <= 5 µs"].status == "missed"          # 10 µs/op
    assert found["compiled grad per op <= JAX jit's (issue 12)"].status == "missed"
    casadi = found["compiled grad per op <= CasADi's, its best way (issue 12)"]
    assert casadi.status == "met" and casadi.measured == pytest.approx(5 / 6)


def test_auto_suite_measures_a_program():
    """The suite of issue 11 runs (one small program) and its rows have what the table reads."""
    from benchmarks import auto_suite
    f, x = auto_suite.softmax(20)
    row = auto_suite.measure("softmax 20", f, x, repeats=1)
    assert row["auto"] in ("forward", "reverse") and row["regret"] > 0
    assert set(auto_suite.RULES) <= set(row)
    assert "softmax 20" in auto_suite.table([row])
    assert auto_suite.summary([row])["programs"] == 1
    assert len(auto_suite._suite(quick=True)) >= 30


def test_compiled_tapes_benchmark_measures_a_program():
    pytest.importorskip("numba")
    from benchmarks import compiled_tapes
    row = compiled_tapes.measure("10 ops", compiled_tapes.ten_ops, np.array(0.3), repeats=1)
    assert row["compiled ops"] >= 10 and row["speed-up"] > 0
    assert "compiled tape" in row["report"]
    assert "10 ops" in compiled_tapes.table([row])


def test_the_op_mix_by_hand_is_the_op_mix_s_value_and_gradient():
    pytest.importorskip("numba")
    from benchmarks import compiled_tapes
    x = np.linspace(-1.0, 1.0, 10)
    value, grad = ad.value_and_grad(compiled_tapes.op_mix(24))(x)
    by_hand = compiled_tapes.op_mix_by_hand(24)
    for _ in range(2):                          # again on the buffers it keeps
        v2, g2 = by_hand(x)
        np.testing.assert_allclose(v2, value, rtol=1e-13)
        np.testing.assert_allclose(g2, grad, rtol=1e-12, atol=1e-14)
    assert set(compiled_tapes.FLOORS) <= {name for name, *_ in compiled_tapes.PROGRAMS}


def test_the_faitw_graph_is_the_post_s_graph_and_compiles():
    pytest.importorskip("numba")
    from benchmarks import compiled_tapes
    # the graph written with plain NumPy, as the post's loop builds it
    nodes = list(np.arange(100.0))
    for op in range(60):
        if op % 4 == 0:
            nodes.append(np.logaddexp(nodes[-10], 0.0))
        elif op % 4 == 1:
            nodes.append(sum(nodes[-30:-10:5]))
        elif op % 4 == 2:
            nodes.append(nodes[-20] * nodes[-10])
        else:
            s = np.array(nodes[-4:])
            nodes.extend(np.exp(s - s.max()) / np.exp(s - s.max()).sum())
    f = compiled_tapes.faitw_graph(60)
    value, grad = ad.value_and_grad(f)(np.arange(100.0))
    np.testing.assert_allclose(value, nodes[-1], rtol=1e-13)
    fast = ad.value_and_grad(f, compile=True)
    v2, g2 = fast(np.arange(100.0))
    assert "compiled tape" in next(iter(fast.compiled.reports.values()))
    np.testing.assert_allclose(v2, value, rtol=1e-13)
    np.testing.assert_allclose(g2, grad, rtol=1e-10, atol=1e-15)
