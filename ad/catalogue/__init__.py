"""The op catalogue: every primitive `ad` differentiates, declared once.

Modules register their primitives on import, through the same public functions users call
(`ad.catalogue.define`); the registry is `ad.primitive.PRIMITIVES` (public as
`ad.primitives`). `BUILTINS` names the catalogue's own, the table the tests walk. The
modules, in import order: `define` (the declaration functions), `structure` (reshape,
broadcast_to, sum, transpose, indexing, concatenate), `reductions`, `elementwise`, `ops`
(what rules are written with), `linalg` and `fft` (the discrete Fourier transforms).
Imports the engines never; imports `ad.primitive`, `ad.kernels` and its own modules.
"""
from __future__ import annotations

from ad.catalogue import (define, elementwise, fft, linalg, ops, reductions,  # noqa: F401
                          structure)
from ad.primitive import BUILTIN_NAMES, PRIMITIVES

#: Names of the primitives the catalogue itself declares (users may register more).
BUILTINS = frozenset(PRIMITIVES)
BUILTIN_NAMES.update(BUILTINS)
