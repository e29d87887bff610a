"""``python -m benchmarks [--smoke | --quick | --full]``: see :mod:`benchmarks.runner`."""

import sys

from benchmarks.machine import reexec_with_allocator_env
from benchmarks.runner import main

if __name__ == "__main__":
    reexec_with_allocator_env()
    sys.exit(main())
