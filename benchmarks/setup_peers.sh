#!/usr/bin/env bash
# Create the virtual environments used by the peer benchmarks.
#   .venv-peers  (Python 3.11): numpy, numba, jax[cpu], torch==2.13.0 (CPU), autograd, mygrad, casadi,
#                asdex (sparse Jacobians in JAX; 0.5.2 needs Python >= 3.12, so pip picks 0.5.1)
#   .venv-advect (Python 3.12): advect (NumPy-protocol AD), run in a subprocess by the runner
# Usage: bash benchmarks/setup_peers.sh   (from the repository root; idempotent)
set -euo pipefail
cd "$(dirname "$0")/.."
PYROOT="$(pyenv root)"
PY311="${PY311:-$PYROOT/versions/3.11.7/bin/python}"   # torch 2.13.0 CPU wheel is cp311
PY312="${PY312:-$PYROOT/versions/3.12.1/bin/python}"   # advect needs Python >= 3.12
# pip on this machine also lists local index folders that may not exist; hide that noise.
pipq() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

if [ ! -x .venv-peers/bin/python ]; then
    "$PY311" -m venv .venv-peers
fi
pipq .venv-peers/bin/python -m pip install -q --upgrade pip
# torch is pinned exactly: the CPU wheel is found locally (find-links); an unpinned
# install would download the multi-GB CUDA build.
pipq .venv-peers/bin/python -m pip install -q numpy numba "jax[cpu]" "torch==2.13.0" autograd mygrad casadi asdex

if [ ! -x .venv-advect/bin/python ]; then
    "$PY312" -m venv .venv-advect
fi
pipq .venv-advect/bin/python -m pip install -q --upgrade pip
pipq .venv-advect/bin/python -m pip install -q numpy advect

touch .gitignore
grep -qxF '.venv-*' .gitignore || echo '.venv-*' >> .gitignore
echo "peer venvs ready"
