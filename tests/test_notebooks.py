"""The notebooks in notebooks/ stay true: each one re-executes without error (nbclient), its
committed .ipynb carries outputs, and it is in sync with its plain-text twin (the jupytext
percent-format `NN_name.py`, the source of truth; regenerate with `python notebooks/build.py`).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install "
                               "-e '.[test]' brings it)")


def _missing(*modules: str) -> str | None:
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            return name
    return None


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_is_in_sync_with_its_text_twin(source):
    jupytext = pytest.importorskip("jupytext", reason="jupytext is not installed")
    notebook_path = source.with_suffix(".ipynb")
    assert notebook_path.exists(), f"{notebook_path.name} is missing: run notebooks/build.py"
    text = jupytext.read(source)
    notebook = nbformat.read(notebook_path, as_version=4)
    want = [(c.cell_type, c.source.strip()) for c in text.cells]
    have = [(c.cell_type, c.source.strip()) for c in notebook.cells]
    assert have == want, (f"{notebook_path.name} differs from {source.name}: edit the .py "
                          "and run `python notebooks/build.py` to regenerate the notebook")
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), f"{notebook_path.name} is not executed"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"], \
        f"{notebook_path.name} was saved with an error output"


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_executes(source):
    missing = _missing("nbclient", "ipykernel", "matplotlib")
    if missing:
        pytest.skip(f"{missing} is not installed: notebooks cannot be executed "
                    "(pip install -e '.[test]' brings it)")
    from nbclient import NotebookClient

    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    # the kernel imports `ad` from this checkout; one BLAS thread (small matrices, 2 cores)
    paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {"PYTHONPATH": os.pathsep.join(paths), "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        start = time.perf_counter()
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
        seconds = time.perf_counter() - start
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    print(f"{source.stem}: executed in {seconds:.1f} s")
