"""Regenerate the notebooks from their plain-text twins and execute them.

The `NN_name.py` files (jupytext percent format) are the source of truth; this script turns
each into `NN_name.ipynb`, executes it with nbclient (cwd = this folder) and saves it with
its outputs and plots. Needs jupytext, nbclient, nbformat, ipykernel and matplotlib (the
`test` extras).

    python notebooks/build.py                 # every notebook
    python notebooks/build.py 01 04           # the ones whose names start with 01 / 04
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def kernel_env() -> None:
    """Let the kernel import `ad` from this checkout even when it is not installed, and run
    BLAS on one thread: the notebooks' matrices are small, and BLAS threads fighting over two
    busy cores made matrix products ten times slower."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in paths if p])


def sources() -> list[Path]:
    """The notebooks' text twins, in order."""
    return sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))


def build(source: Path, timeout: int = 600) -> float:
    """Convert `source` to .ipynb, execute it in place, save; return the seconds it took."""
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                       "name": "python3"}
    kernel_env()
    start = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE)}}).execute()
    seconds = time.perf_counter() - start
    nbformat.write(notebook, source.with_suffix(".ipynb"))
    return seconds


if __name__ == "__main__":
    wanted = sys.argv[1:]
    for path in sources():
        if wanted and not any(path.name.startswith(w) for w in wanted):
            continue
        print(f"{path.name}: {build(path):.1f} s", flush=True)
