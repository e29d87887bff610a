"""The folder layout is the architecture: imports go one way, and every module says so.

Each module of `ad` may import only the layers listed for it below (module names are
relative to `ad`; a prefix such as "catalogue" covers its submodules).
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "ad"

LOWER = ["errors", "context", "primitive", "tree"]
ALLOWED = {
    "errors": [],
    "context": ["errors"],
    "primitive": ["errors", "context"],
    "tree": [],
    "kernels": ["errors", "primitive"],
    "catalogue": LOWER + ["kernels", "catalogue"],
    "tape": ["primitive"],
    "forward": ["errors", "context", "primitive"],
    "reverse": ["errors", "context", "primitive", "tape"],
    "numpy": LOWER + ["catalogue", "numpy"],
    "recording": LOWER + ["forward", "reverse", "numpy"],
    "graph": LOWER + ["tape", "reverse", "recording"],
    "cost": LOWER + ["tape", "forward", "reverse", "graph", "cost"],
    "compiled": LOWER + ["tape", "reverse", "kernels", "cost", "recording"],
    "sparse": LOWER + ["tape", "reverse", "recording", "cost", "sparse", "distributed"],
    "distributed": ["errors"],
    "transforms": LOWER + ["tape", "forward", "reverse", "recording", "numpy", "cost", "graph",
                           "compiled", "sparse", "distributed"],
    "checking": ["transforms", "tree", "errors"],
    # measures the catalogue through the engines and the transforms: nothing imports it
    "calibrate": LOWER + ["tape", "forward", "reverse", "recording", "numpy", "cost", "graph",
                          "transforms", "scipy", "compiled"],
    "custom": LOWER + ["catalogue"],
    "schedule": [],
    "checkpointing": LOWER + ["tape", "reverse", "catalogue", "numpy", "recording", "schedule"],
    "scipy": LOWER + ["catalogue", "numpy", "scipy"],
    "nn": LOWER + ["numpy", "transforms", "nn", "catalogue"],
    "testing": None,       # test helper: may import anything; nothing in ad imports it
    "__init__": None,
}
def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield path, parts


def _layer(parts) -> str:
    return parts[0] if parts[0] != "__init__" or len(parts) == 1 else parts[0]


def _ad_imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "ad":
                yield from (alias.name for alias in node.names)
            elif node.module.startswith("ad."):
                yield node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ad."):
                    yield alias.name.split(".")[1]


@pytest.mark.parametrize("path,parts", list(_modules()), ids=lambda v: str(v))
def test_imports_go_one_way(path, parts):
    layer = _layer(parts)
    assert layer in ALLOWED, f"new module ad/{'/'.join(parts)}.py: add its layer to ALLOWED"
    allowed = ALLOWED[layer]
    tree = ast.parse(path.read_text())
    imported = set(_ad_imports(tree))     # function bodies included: no lazy exemptions
    if layer != "testing":
        assert "testing" not in imported, "nothing in ad may import ad.testing"
    if allowed is None:
        return
    forbidden = sorted(m for m in imported if m != layer and m not in allowed)
    assert not forbidden, f"ad/{'/'.join(parts)}.py imports {forbidden}; allowed: {allowed}"


@pytest.mark.parametrize("path,parts", list(_modules()), ids=lambda v: str(v))
def test_every_module_opens_with_a_docstring(path, parts):
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring and len(docstring) > 40, f"ad/{'/'.join(parts)}.py needs a docstring " \
        "saying what lives there and what it may import"
