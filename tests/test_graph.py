"""ad.trace: the graph, the Wengert list, DOT export, rendering, large graphs."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import ad
import ad.numpy as anp
from ad import graph as graph_module
from ad.graph import BACKWARD_COLOUR, FORWARD_COLOUR


def circuit(x, y, z):          # the CS231n-style circuit f = (x + y) z
    return (x + y) * z


def test_nodes_edges_and_shapes():
    g = ad.trace(lambda x, w: anp.sum(anp.tanh(w @ x)), np.ones(3), np.ones((2, 3)))
    assert [n.name for n in g.nodes] == ["input", "input", "reshape", "matmul", "reshape",
                                         "tanh", "sum"]
    assert [n.shape for n in g.nodes] == [(3,), (2, 3), (3, 1), (2, 1), (2,), (2,), ()]
    assert (g.n, g.m, len(g)) == (9, 1, 7)
    assert (1, 3, 0) in g.edges and (2, 3, 1) in g.edges
    assert g.consumers()[0] == [2]


def test_wengert_list():
    g = ad.trace(circuit, -2.0, 5.0, -4.0)
    lines = str(g).splitlines()
    assert lines[3].startswith("v3 = add(v0, v1)")
    assert lines[4].startswith("v4 = multiply(v3, v2)")
    assert lines[-1] == "return v4"
    g = ad.trace(lambda x: 2.0 * x, 1.0)
    assert "multiply(2, v0)" in str(g)


def test_backward_keeps_every_adjoint():
    g = ad.trace(circuit, -2.0, 5.0, -4.0).backward()
    assert [float(a) for a in g.adjoints] == [-4.0, -4.0, 3.0, -4.0, 1.0]
    assert [float(v) for v in g.gradients] == [-4.0, -4.0, 3.0]
    x = np.linspace(0, 1, 5)
    g = ad.trace(lambda x: anp.sum(anp.sin(x) * x), x).backward()
    np.testing.assert_allclose(g.gradients[0], ad.grad(lambda x: anp.sum(anp.sin(x) * x))(x))


def test_constant_outputs_and_unused_inputs():
    g = ad.trace(lambda x, y: (x * 2.0, 3.0), 1.0, 2.0).backward()
    assert g.outputs[1] is None and g.adjoints[1] is None
    assert "return v2, const" in str(g)
    with pytest.raises(ad.DTypeError):
        ad.trace(lambda k: k, np.arange(3))


def dot_is_well_formed(text: str) -> None:
    assert text.startswith("digraph") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    declared = set(re.findall(r"^\s+(v\d+) \[", text, re.M))
    for a, b in re.findall(r"^\s+(v\d+) -> (v\d+)", text, re.M):
        assert a in declared and b in declared


def test_dot_has_values_and_adjoints_in_two_colours():
    g = ad.trace(circuit, -2.0, 5.0, -4.0)
    before = g.to_dot()
    assert FORWARD_COLOUR in before and BACKWARD_COLOUR not in before
    dot_is_well_formed(before)
    after = g.backward().to_dot()
    assert "value -12" in after and "adjoint -4" in after and BACKWARD_COLOUR in after
    assert "style=dashed" in after
    dot_is_well_formed(after)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_dot_parses_with_graphviz(tmp_path):
    g = ad.trace(lambda x: anp.sum(anp.tanh(np.ones((2, 3)) @ x) * x[:2]), np.ones(3))
    g.backward()
    done = subprocess.run(["dot", "-Tcanon"], input=g.to_dot().encode(), capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    svg = g.render(tmp_path / "g.svg")
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    assert g.render(tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    assert g._repr_svg_().count("<svg") == 1


def test_dot_parses_with_pydot():
    pydot = pytest.importorskip("pydot")
    g = ad.trace(circuit, -2.0, 5.0, -4.0).backward()
    (parsed,) = pydot.graph_from_dot_data(g.to_dot())
    assert len(parsed.get_edges()) >= 4


def test_render_without_graphviz_says_how_to_fix(tmp_path, monkeypatch):
    g = ad.trace(circuit, -2.0, 5.0, -4.0)
    assert g.render(tmp_path / "g.dot").read_text() == g.to_dot()    # needs no Graphviz
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    with pytest.raises(ad.GraphvizNotFoundError, match="apt-get install graphviz"):
        g.render(tmp_path / "g.svg")
    assert g._repr_svg_() is None


def test_big_graph_without_recursion():
    # 30,000 nodes, with the recursion limit far below the depth: every pass is a loop.
    def long(x):
        for _ in range(10_000):
            x = anp.sin(x) * 0.5 + x
        return x
    g = ad.trace(long, 0.1)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(300)
    try:
        assert len(g) == 30_001
        assert len(g.wengert().splitlines()) == 30_002
        assert g.backward().adjoints[0] is not None
        assert g.to_dot().count("->") > 30_000
        from ad import cost
        assert cost.count(g).nodes == 30_000
        lg = cost.linearize(g)
        assert cost.elimination_cost(lg, cost.markowitz_order(lg)) > 0
    finally:
        sys.setrecursionlimit(limit)
