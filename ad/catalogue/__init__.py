"""The op catalogue: every primitive `ad` differentiates, declared once.

Modules register their primitives on import, through the same public functions users call
(`ad.catalogue.define`). `TABLE` lists every registered primitive; `BUILTINS` names the
catalogue's own, the table the tests walk.
Imports the engines never; imports `ad.primitive`, `ad.kernels` and its own modules.
"""
from __future__ import annotations

from ad.catalogue import define, elementwise, linalg, reductions, structure  # noqa: F401
from ad.primitive import PRIMITIVES

TABLE = PRIMITIVES
#: Names of the primitives the catalogue itself declares (users may register more).
BUILTINS = frozenset(PRIMITIVES)
