"""Graph colourings for compressed sparse Jacobians and Hessians, and their decompression.

A Jacobian J (m outputs x n inputs) whose sparsity pattern is known needs far fewer than n
forward products: columns that never share a row ("structurally orthogonal") can be seeded
together, so J @ S, with a 0/1 seed matrix S of one column per colour, holds every nonzero of J
and each one is read off directly (never solved for). What lives here:

* `column_coloring` / `row_coloring`: greedy distance-2 colourings of the bipartite graph of
  the pattern, for forward mode (J @ S) and reverse mode (S.T @ J);
* `star_coloring`: for a symmetric (Hessian) pattern, a star colouring (Gebremedhin, Manne and
  Pothen 2005 "What color is your Jacobian?"; the greedy algorithm 4.1 of Gebremedhin,
  Tarafdar, Manne and Pothen 2007 "New acyclic and star coloring algorithms"), with which
  every entry of H is read directly from H @ S;
* `bicoloring`: forward and reverse mode together (some columns get forward colours, some rows
  reverse colours), a star colouring of the bipartite graph [[0, J^T], [J, 0]] in which columns
  and rows draw from separate palettes, then the colour classes that no entry needs are dropped
  (an exact minimum vertex cover, by Koenig's theorem);
* `decompress_columns`, `decompress_rows`, `decompress_star`, `decompress_bicolored`: the matrix
  from its compressed products, as a `scipy.sparse.csr_array` with the pattern's structure;
* `is_column_coloring`, `is_row_coloring`, `is_star_coloring`, `is_bicoloring`: structural
  checks.

Every colouring tries the vertex orderings in `ORDERINGS` (or the one asked for) and keeps the
one with the fewest colours. The greedy loops are Numba kernels over CSR/CSC index arrays, the
checks and decompressions are vectorised NumPy. A pattern is anything `scipy.sparse.csr_array`
accepts (a SciPy sparse array or matrix, a dense array); its nonzero (True) entries are the
structure. Imports numpy, numba and scipy only (SciPy is the optional `admodes[sparse]` extra).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

try:
    import scipy.sparse as sp
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("sparse Jacobians need SciPy: pip install admodes[sparse]") from error

__all__ = [
    "Coloring", "ORDERINGS",
    "column_coloring", "row_coloring", "star_coloring", "bicoloring",
    "decompress_columns", "decompress_rows", "decompress_star", "decompress_bicolored",
    "is_column_coloring", "is_row_coloring", "is_star_coloring", "is_bicoloring",
]

ORDERINGS = ("natural", "largest_first", "smallest_last", "incidence_degree",
             "dynamic_largest_first")

KINDS = ("column", "row", "star", "bicolor")


# --------------------------------------------------------------------------- result type


@dataclass(frozen=True, eq=False)
class Coloring:
    """A colouring and the seed matrices it gives.

    `colors` holds one colour per column (kind "column" and "star") or per row (kind "row"),
    numbered 0..n_colors-1. For kind "bicolor", `column_colors` (forward, one per column) and
    `row_colors` (reverse, one per row) hold the colours, -1 where a vertex is in no seed;
    `colors` is then the colouring of the augmented graph, columns first then rows, with
    reverse colour r shown as n_column_colors + r, and n_colors the total.

    >>> c = Coloring("column", np.array([0, 1, 0]), 2, "natural")
    >>> c.seeds()
    array([[1., 0.],
           [0., 1.],
           [1., 0.]])
    """

    kind: str
    colors: np.ndarray
    n_colors: int
    order: str
    column_colors: np.ndarray | None = None
    row_colors: np.ndarray | None = None
    n_column_colors: int = 0
    n_row_colors: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown colouring kind {self.kind!r}: use one of {KINDS}")
        # frozen means frozen: the colour arrays are private read-only int64 copies
        for name in ("colors", "column_colors", "row_colors"):
            value = getattr(self, name)
            if value is not None:
                value = np.array(value, dtype=np.int64).reshape(-1)
                value.setflags(write=False)
                object.__setattr__(self, name, value)
        for name in ("n_colors", "n_column_colors", "n_row_colors"):
            object.__setattr__(self, name, int(getattr(self, name)))
        if self.kind == "bicolor" and (self.column_colors is None or self.row_colors is None):
            raise ValueError("a bicolor Coloring needs column_colors and row_colors")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Coloring):
            return NotImplemented
        return (self.kind == other.kind and self.order == other.order
                and self.n_colors == other.n_colors
                and self.n_column_colors == other.n_column_colors
                and self.n_row_colors == other.n_row_colors
                and all(_same_array(getattr(self, name), getattr(other, name))
                        for name in ("colors", "column_colors", "row_colors")))

    __hash__ = None  # equality compares arrays, so a Coloring is not hashable

    def seeds(self) -> np.ndarray:
        """The 0/1 seed matrix S with S[v, colors[v]] = 1: (n, n_colors) for kinds "column"
        and "star" (compress with J @ S), (m, n_colors) for kind "row" (S.T @ J).

        >>> Coloring("row", np.array([0, 0]), 1, "natural").seeds()
        array([[1.],
               [1.]])
        """
        if self.kind == "bicolor":
            raise ValueError("a bicoloring has two seed matrices: use column_seeds() for the "
                             "forward products J @ S_col and row_seeds() for the reverse "
                             "products S_row.T @ J")
        return _seed_matrix(self.colors, self.n_colors)

    def column_seeds(self) -> np.ndarray:
        """Forward seed matrix, (n, n_column_colors) for a bicoloring (columns coloured -1 get
        an all-zero row); for kinds "column" and "star" the same as `seeds()`.

        >>> Coloring("bicolor", np.array([0, -1, 1]), 2, "natural",
        ...          np.array([0, -1]), np.array([0]), 1, 1).column_seeds()
        array([[1.],
               [0.]])
        """
        if self.kind == "bicolor":
            return _seed_matrix(self.column_colors, self.n_column_colors)
        if self.kind in ("column", "star"):
            return self.seeds()
        raise ValueError("a row colouring has no column seeds: use seeds() or row_seeds()")

    def row_seeds(self) -> np.ndarray:
        """Reverse seed matrix, (m, n_row_colors) for a bicoloring (rows coloured -1 get an
        all-zero row); for kind "row" the same as `seeds()`.

        >>> Coloring("bicolor", np.array([0, -1, 1]), 2, "natural",
        ...          np.array([0, -1]), np.array([0]), 1, 1).row_seeds()
        array([[1.]])
        """
        if self.kind == "bicolor":
            return _seed_matrix(self.row_colors, self.n_row_colors)
        if self.kind == "row":
            return self.seeds()
        raise ValueError(f"a {self.kind} colouring has no row seeds: use seeds()")


def _same_array(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return np.array_equal(a, b)


def _seed_matrix(colors: np.ndarray, n_colors: int) -> np.ndarray:
    seeds = np.zeros((colors.shape[0], n_colors))
    coloured = np.flatnonzero(colors >= 0)
    seeds[coloured, colors[coloured]] = 1.0
    return seeds


# --------------------------------------------------------------------------- Numba kernels
#
# A graph is given to the ordering and distance-2 kernels as two hops: the neighbours of
# vertex v are the vertices x in inner[outer[v]], i.e. x = inner_idx[b] for b in
# inner_ptr[r]:inner_ptr[r+1] for r = outer_idx[a], a in outer_ptr[v]:outer_ptr[v+1].
# For the columns of a pattern, outer is its CSC (column -> rows) and inner its CSR (row ->
# columns): the column intersection graph (distance 2 in the bipartite graph), walked without
# being written out. It is written out (`_explicit_two_hop_graph`, then used with the
# identity as outer hop, like any plain adjacency graph) unless that would be too big: a
# dense row makes it n^2.

# the kernels get an ordering as its position in ORDERINGS
_NATURAL, _LARGEST_FIRST, _SMALLEST_LAST, _INCIDENCE_DEGREE, _DYNAMIC_LARGEST_FIRST = range(5)


@numba.njit(cache=True)
def _two_hop_degrees(outer_ptr, outer_idx, inner_ptr, inner_idx):
    """Number of distinct neighbours (other than v itself) of every vertex v."""
    n = outer_ptr.shape[0] - 1
    degrees = np.zeros(n, np.int64)
    last_seen_from = np.full(n, -1, np.int64)  # stamps, so no clearing between vertices
    for v in range(n):
        last_seen_from[v] = v
        count = 0
        for a in range(outer_ptr[v], outer_ptr[v + 1]):
            r = outer_idx[a]
            for b in range(inner_ptr[r], inner_ptr[r + 1]):
                x = inner_idx[b]
                if last_seen_from[x] != v:
                    last_seen_from[x] = v
                    count += 1
        degrees[v] = count
    return degrees


@numba.njit(cache=True)
def _explicit_two_hop_graph(outer_ptr, outer_idx, inner_ptr, inner_idx, capacity):
    """The two-hop graph written out as an adjacency (indptr, indices), each neighbour
    once; `capacity` bounds the number of visits (duplicates included)."""
    n = outer_ptr.shape[0] - 1
    indptr = np.zeros(n + 1, np.int64)
    indices = np.empty(capacity, np.int64)
    last_seen_from = np.full(n, -1, np.int64)
    end = 0
    for v in range(n):
        last_seen_from[v] = v
        for a in range(outer_ptr[v], outer_ptr[v + 1]):
            r = outer_idx[a]
            for b in range(inner_ptr[r], inner_ptr[r + 1]):
                x = inner_idx[b]
                if last_seen_from[x] != v:
                    last_seen_from[x] = v
                    indices[end] = x
                    end += 1
        indptr[v + 1] = end
    return indptr, indices[:end]  # a view: no second copy of a possibly large array


@numba.njit(cache=True)
def _dynamic_order(mode, degrees, outer_ptr, outer_idx, inner_ptr, inner_idx):
    """Degree-based orderings whose keys change as vertices are ordered (ColPack's):

    * smallest last: repeatedly take the vertex of smallest degree in the graph of the
      vertices not yet taken; it is coloured after all of those (the order is filled from
      the back);
    * incidence degree: repeatedly take the vertex with the most neighbours already taken;
    * dynamic largest first: repeatedly take the vertex of largest degree among the vertices
      not yet taken.

    Vertices sit in buckets by key, and a key moves by one at a time, so finding the next
    vertex costs amortised O(1) besides the neighbour updates. The buckets are circular
    doubly linked lists through one pair of link arrays, bucket k headed by the sentinel
    node n + k: moving a vertex then has no branches (no empty-list special cases), and it
    is written out inline, as njit helper calls cost five times more here (reference
    counting of the array arguments on every call).
    """
    n = degrees.shape[0]
    order = np.empty(n, np.int64)
    if n == 0:
        return order
    if mode == _INCIDENCE_DEGREE:
        key = np.zeros(n, np.int64)
        delta = 1
    else:
        key = degrees.copy()
        delta = -1
    n_buckets = degrees.max() + 1
    next_link = np.empty(n + n_buckets, np.int64)
    prev_link = np.empty(n + n_buckets, np.int64)
    for k in range(n_buckets):  # empty lists: each sentinel points at itself
        next_link[n + k] = n + k
        prev_link[n + k] = n + k
    for v in range(n - 1, -1, -1):  # pushed in reverse, so ties pop in natural order
        sentinel = n + key[v]
        first = next_link[sentinel]
        next_link[v] = first
        prev_link[v] = sentinel
        prev_link[first] = v
        next_link[sentinel] = v
    last_seen_from = np.full(n, -1, np.int64)
    cursor = 0 if mode == _SMALLEST_LAST else key.max()
    for step in range(n):
        if mode == _SMALLEST_LAST:
            while next_link[n + cursor] == n + cursor:
                cursor += 1
        else:
            while next_link[n + cursor] == n + cursor:
                cursor -= 1
        u = next_link[n + cursor]  # pop the first vertex of the bucket
        next_link[n + cursor] = next_link[u]
        prev_link[next_link[u]] = n + cursor
        key[u] = -1  # taken
        order[n - 1 - step if mode == _SMALLEST_LAST else step] = u
        last_seen_from[u] = u
        for a in range(outer_ptr[u], outer_ptr[u + 1]):
            r = outer_idx[a]
            for b in range(inner_ptr[r], inner_ptr[r + 1]):
                x = inner_idx[b]
                if last_seen_from[x] == u:
                    continue
                last_seen_from[x] = u
                if key[x] < 0:
                    continue
                # unlink x from its bucket ...
                before, after = prev_link[x], next_link[x]
                next_link[before] = after
                prev_link[after] = before
                # ... and push it onto the next one
                new_key = key[x] + delta
                key[x] = new_key
                sentinel = n + new_key
                first = next_link[sentinel]
                next_link[x] = first
                prev_link[x] = sentinel
                prev_link[first] = x
                next_link[sentinel] = x
                # keep the cursor on the extreme bucket: a key moves by one only
                if mode == _SMALLEST_LAST and new_key < cursor:
                    cursor = new_key
                elif mode == _INCIDENCE_DEGREE and new_key > cursor:
                    cursor = new_key
    return order


@numba.njit(cache=True)
def _greedy_two_hop_coloring(vertex_order, outer_ptr, outer_idx, inner_ptr, inner_idx):
    """Greedy colouring in which v avoids the colours of all its two-hop neighbours
    (Gebremedhin-Manne-Pothen 2005, algorithm 3.2: partial distance-2 colouring)."""
    n = outer_ptr.shape[0] - 1
    # Not yet coloured is colour n, a slot of its own in forbidden_for, so the inner loop
    # has no branch; the search below never reaches n (v has at most n - 1 neighbours).
    colors = np.full(n, n, np.int64)
    forbidden_for = np.full(n + 1, -1, np.int64)  # forbidden_for[c] == v: v may not take c
    for v in vertex_order:
        for a in range(outer_ptr[v], outer_ptr[v + 1]):
            r = outer_idx[a]
            for b in range(inner_ptr[r], inner_ptr[r + 1]):
                forbidden_for[colors[inner_idx[b]]] = v
        c = 0
        while forbidden_for[c] == v:
            c += 1
        colors[v] = c
    return colors


@numba.njit(cache=True)
def _vertex_order(code, degrees, outer_ptr, outer_idx, inner_ptr, inner_idx):
    """The vertex order ORDERINGS[code] of a two-hop graph with the given degrees."""
    if code == _NATURAL:
        return np.arange(degrees.shape[0])
    if code == _LARGEST_FIRST:
        return np.argsort(-degrees, kind="mergesort")  # stable: ties in natural order
    return _dynamic_order(code, degrees, outer_ptr, outer_idx, inner_ptr, inner_idx)


@numba.njit(cache=True)
def _best_two_hop_coloring_kernel(codes, degrees, outer_ptr, outer_idx, inner_ptr,
                                  inner_idx):
    """Greedy two-hop colourings in each ordering of `codes`; the first with the fewest
    colours wins. One call for all orderings: no dispatch between them."""
    best_colors = np.zeros(0, np.int64)
    best_count = -1
    best_code = -1
    for code in codes:
        vertex_order = _vertex_order(code, degrees, outer_ptr, outer_idx, inner_ptr,
                                     inner_idx)
        colors = _greedy_two_hop_coloring(vertex_order, outer_ptr, outer_idx, inner_ptr,
                                          inner_idx)
        count = colors.max() + 1 if colors.shape[0] else 0
        if best_count < 0 or count < best_count:
            best_colors, best_count, best_code = colors, count, code
    return best_colors, best_count, best_code


@numba.njit(cache=True)
def _transposed(indptr, indices, n_columns):
    """CSC (column -> rows) index arrays of a CSR pattern, rows sorted in each column (a
    counting sort; SciPy's tocsc plus its checks cost several times more here)."""
    column_ptr = np.zeros(n_columns + 1, np.int64)
    for k in range(indices.shape[0]):
        column_ptr[indices[k] + 1] += 1
    for j in range(n_columns):
        column_ptr[j + 1] += column_ptr[j]
    cursor = column_ptr[:-1].copy()
    rows = np.empty(indices.shape[0], np.int64)
    for r in range(indptr.shape[0] - 1):  # rows in increasing order: each column sorted
        for k in range(indptr[r], indptr[r + 1]):
            rows[cursor[indices[k]]] = r
            cursor[indices[k]] += 1
    return column_ptr, rows


@numba.njit(cache=True)
def _undirected_edge_ids(indptr, indices):
    """For a symmetric CSR pattern with sorted indices, one id per undirected edge: entry k
    and its transpose get the same id (the smaller of their two positions)."""
    n = indptr.shape[0] - 1
    # Rows are visited in increasing order, so the entries (r, c) met for a fixed c come in
    # increasing r, the same order as the entries (c, r) of row c: a cursor per row finds the
    # transposed position.
    cursor = indptr[:-1].copy()
    ids = np.empty(indices.shape[0], np.int64)
    for r in range(n):
        for k in range(indptr[r], indptr[r + 1]):
            c = indices[k]
            transposed = cursor[c]
            cursor[c] += 1
            ids[k] = min(k, transposed)
    return ids


@numba.njit(cache=True)
def _greedy_star_coloring(vertex_order, indptr, indices, edge_id, side, stride, cautious):
    """Greedy star colouring (Gebremedhin, Tarafdar, Manne, Pothen 2007, algorithm 4.1),
    which keeps the two-coloured stars (an id per edge, and each star's hub) so that a
    vertex only needs its distance-2 neighbourhood to avoid a two-coloured path on four
    vertices. Returns colour ids.

    `side[v] + stride * k` are the colour ids vertex v may take: stride 1 is the plain
    (Hessian) problem; stride 2 with side 0 for columns and 1 for rows gives the columns and
    the rows of a bipartite graph separate palettes (bicolouring).

    `cautious` also forbids the colours of vertices two steps away through a still uncoloured
    vertex (as the 2005 algorithm does): more colours on some graphs, far fewer on others
    (arrowhead patterns), so both variants are tried.
    """
    n = indptr.shape[0] - 1
    n_ids = stride * (n + 2)
    colors = np.full(n, -1, np.int64)
    forbidden_for = np.full(n_ids, -1, np.int64)
    # first neighbour of v met with colour c: first_vertex[c] == v, first_neighbor[c] = w
    first_vertex = np.full(n_ids, -1, np.int64)
    first_neighbor = np.full(n_ids, -1, np.int64)
    first_edge = np.full(n_ids, -1, np.int64)
    treated_for = np.full(n, -1, np.int64)  # treated_for[w] == v: N(w)'s colours forbidden
    star = np.full(indices.shape[0], -1, np.int64)  # star of each edge (by edge id)
    hub = np.full(indices.shape[0] + 1, -1, np.int64)  # -1: a single edge, no hub yet
    # is_leaf[w]: w is a leaf of some star that has a hub; else no neighbour x of w can be
    # the hub of the star of edge wx, and the check below skips N(w) (a dense row's hub
    # would otherwise make every vertex next to it scan the whole row)
    is_leaf = np.zeros(n, np.bool_)
    n_stars = 0
    for v in vertex_order:
        for k in range(indptr[v], indptr[v + 1]):
            w = indices[k]
            color_w = colors[w]
            if color_w < 0:
                if cautious:
                    for k2 in range(indptr[w], indptr[w + 1]):
                        color_x = colors[indices[k2]]
                        if color_x >= 0:
                            forbidden_for[color_x] = v
                continue
            forbidden_for[color_w] = v
            if first_vertex[color_w] == v:
                # v has two neighbours q, w of one colour, so v will be the hub of their
                # star: no neighbour of q or of w may take v's colour
                q = first_neighbor[color_w]
                for leaf in (q, w):
                    if treated_for[leaf] != v:
                        for k2 in range(indptr[leaf], indptr[leaf + 1]):
                            color_x = colors[indices[k2]]
                            if color_x >= 0:
                                forbidden_for[color_x] = v
                        treated_for[leaf] = v
            else:
                first_vertex[color_w] = v
                first_neighbor[color_w] = w
                first_edge[color_w] = edge_id[k]
                if not is_leaf[w]:
                    continue
                # if x is the hub of the star holding edge wx, taking colour(x) would make
                # v - w - x - (another leaf of x) a two-coloured path
                for k2 in range(indptr[w], indptr[w + 1]):
                    x = indices[k2]
                    color_x = colors[x]
                    if x != v and color_x >= 0 and hub[star[edge_id[k2]]] == x:
                        forbidden_for[color_x] = v
        c = side[v]
        while forbidden_for[c] == v:
            c += stride
        colors[v] = c
        # record the stars the new edges join or start
        for k in range(indptr[v], indptr[v + 1]):
            w = indices[k]
            color_w = colors[w]
            if color_w < 0:
                continue
            joined = False
            for k2 in range(indptr[w], indptr[w + 1]):
                x = indices[k2]
                if x != v and colors[x] == c:  # v and x are leaves of a star centred on w
                    s = star[edge_id[k2]]
                    hub[s] = w
                    star[edge_id[k]] = s
                    is_leaf[v] = True
                    is_leaf[x] = True
                    joined = True
                    break
            if joined:
                continue
            if first_vertex[color_w] == v and first_neighbor[color_w] != w:
                # w and the first neighbour of that colour are leaves of a star centred on v
                s = star[first_edge[color_w]]
                hub[s] = v
                star[edge_id[k]] = s
                is_leaf[w] = True
                is_leaf[first_neighbor[color_w]] = True
            else:
                star[edge_id[k]] = n_stars
                n_stars += 1
    return colors


@numba.njit(cache=True)
def _koenig_vertex_cover(indptr, indices, n_right, match_of_left):
    """Minimum vertex cover of a bipartite graph (left -> right adjacency in CSR) from a
    maximum matching, by Koenig's theorem: with Z the vertices reachable from unmatched left
    vertices by alternating paths, the cover is (left not in Z) and (right in Z)."""
    n_left = indptr.shape[0] - 1
    match_of_right = np.full(n_right, -1, np.int64)
    for a in range(n_left):
        if match_of_left[a] >= 0:
            match_of_right[match_of_left[a]] = a
    left_reached = np.zeros(n_left, np.bool_)
    right_reached = np.zeros(n_right, np.bool_)
    queue = np.empty(n_left, np.int64)
    tail = 0
    for a in range(n_left):
        if match_of_left[a] < 0:
            left_reached[a] = True
            queue[tail] = a
            tail += 1
    head = 0
    while head < tail:
        a = queue[head]
        head += 1
        for k in range(indptr[a], indptr[a + 1]):
            b = indices[k]
            if b == match_of_left[a] or right_reached[b]:
                continue
            right_reached[b] = True
            partner = match_of_right[b]  # matched, or the matching was not maximum
            if partner >= 0 and not left_reached[partner]:
                left_reached[partner] = True
                queue[tail] = partner
                tail += 1
    return ~left_reached, right_reached


# --------------------------------------------------------------------------- pattern helpers


def _canonical(pattern) -> sp.csr_array:
    """A private boolean CSR copy with sorted indices, no duplicates and no stored False."""
    matrix = sp.csr_array(pattern, dtype=bool, copy=True)
    if matrix.ndim != 2:
        raise ValueError(f"a sparsity pattern must be 2-D, got shape {matrix.shape}")
    matrix.eliminate_zeros()
    matrix.sum_duplicates()  # also sorts the indices
    return matrix


def _index_arrays(matrix) -> tuple[np.ndarray, np.ndarray]:
    """int64 indptr and indices (one Numba specialisation whatever SciPy picked)."""
    return (np.asarray(matrix.indptr, dtype=np.int64),
            np.asarray(matrix.indices, dtype=np.int64))


def _compressed_axis_arrays(matrix: sp.csr_array):
    """(row -> columns) and (column -> rows) index arrays of a canonical CSR pattern."""
    by_row = _index_arrays(matrix)
    return by_row, _transposed(*by_row, matrix.shape[1])


def _row_of_each_entry(matrix) -> np.ndarray:
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


def _identity_hop(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int64)


def _symmetrized(matrix: sp.csr_array) -> sp.csr_array:
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a symmetric (Hessian) pattern must be square, got {matrix.shape}")
    symmetric = sp.csr_array(matrix + matrix.T, dtype=bool)
    symmetric.sum_duplicates()
    return symmetric


def _off_diagonal_arrays(symmetric: sp.csr_array) -> tuple[np.ndarray, np.ndarray]:
    """Adjacency (indptr, indices) of the graph of a symmetric pattern: no self loops."""
    rows = _row_of_each_entry(symmetric)
    indices = np.asarray(symmetric.indices, dtype=np.int64)
    keep = rows != indices
    indptr = np.zeros(symmetric.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=symmetric.shape[0]), out=indptr[1:])
    return indptr, indices[keep]


def _requested_orders(order: str) -> tuple[str, ...]:
    if isinstance(order, str):
        if order == "best":
            return ORDERINGS
        if order in ORDERINGS:
            return (order,)
    raise ValueError(f"unknown order {order!r}: use 'best' or one of {ORDERINGS}")


# Above this many two-hop visits (the buffer for the written-out intersection graph, 8 bytes
# each: 32 MB) the kernels walk the two hops instead, in memory O(nnz) whatever the rows.
_EXPLICIT_GRAPH_LIMIT = 1 << 22


def _two_hop_graph(outer, inner):
    """(outer, inner, degrees) for the kernels: the explicit intersection graph behind an
    identity hop when it is affordable (each neighbour then once, in one array: about twice
    as fast for the orderings and colourings), else the two hops as given (degrees None)."""
    middle_sizes = np.diff(inner[0]).astype(np.float64)  # float: no overflow
    visits = float(np.dot(middle_sizes, middle_sizes))  # every v -> r -> x walk, repeats too
    if visits > _EXPLICIT_GRAPH_LIMIT:
        return outer, inner, None
    graph = _explicit_two_hop_graph(*outer, *inner, int(visits))
    n = outer[0].shape[0] - 1
    return _identity_hop(n), graph, np.diff(graph[0])


class _Orderings:
    """Vertex orders of one two-hop graph, sharing the degree computation."""

    def __init__(self, outer, inner, degrees=None):
        self.outer, self.inner = outer, inner
        self._degrees = degrees

    def degrees(self) -> np.ndarray:
        if self._degrees is None:
            self._degrees = _two_hop_degrees(*self.outer, *self.inner)
        return self._degrees

    def __call__(self, name: str) -> np.ndarray:
        return _vertex_order(ORDERINGS.index(name), self.degrees(), *self.outer, *self.inner)


def _n_colors(colors: np.ndarray) -> int:
    return int(colors.max()) + 1 if colors.size else 0


def _best_two_hop_coloring(orders, outer, inner) -> tuple[np.ndarray, int, str]:
    outer, inner, degrees = _two_hop_graph(outer, inner)
    if degrees is None:
        degrees = _two_hop_degrees(*outer, *inner)
    codes = np.array([ORDERINGS.index(name) for name in orders], dtype=np.int64)
    colors, n_colors, code = _best_two_hop_coloring_kernel(codes, degrees, *outer, *inner)
    return colors, int(n_colors), ORDERINGS[code]


# Key helpers: whether an entry's (group, colour) pair is unique among all entries, i.e.
# whether its value is alone in its slot of the compressed product and can be read off.


def _unique_flags(keys: np.ndarray) -> np.ndarray:
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    repeated = np.zeros(keys.shape[0], dtype=bool)
    same_as_next = ordered[1:] == ordered[:-1]
    repeated[1:] |= same_as_next
    repeated[:-1] |= same_as_next
    unique = np.empty(keys.shape[0], dtype=bool)
    unique[order] = ~repeated
    return unique


def _alone_in_slot(groups: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """Per entry: its colour is >= 0 and no other entry of its group has that colour. Groups
    are rows for forward products (J @ S) and columns for reverse ones (S.T @ J)."""
    alone = np.zeros(groups.shape[0], dtype=bool)
    seeded = colors >= 0
    if seeded.any():
        width = int(colors.max()) + 1
        alone[seeded] = _unique_flags(groups[seeded] * width + colors[seeded])
    return alone


def _check_recovers(entry_colors: np.ndarray, groups: np.ndarray, n_colors: int,
                    colored: str, group: str) -> None:
    """A one-sided decompression reads each entry from its own slot: its colour must be in
    0..n_colors-1 and alone in its row (columns coloured) or column (rows coloured)."""
    if entry_colors.size and (entry_colors.min() < 0 or entry_colors.max() >= n_colors):
        raise ValueError(f"colours must lie in 0..{n_colors - 1}")
    if not np.all(_alone_in_slot(groups, entry_colors)):
        raise ValueError(f"two {colored} of one colour have entries in the same {group}: the "
                         "compressed product sums them, so they cannot be told apart (not a "
                         f"valid {colored[:-1]} colouring of this pattern)")


def _colors_array(colors, length: int, what: str) -> np.ndarray:
    colors = np.asarray(colors)
    if colors.shape != (length,):
        raise ValueError(f"{what} must have shape ({length},), got {colors.shape}")
    if colors.size and not np.issubdtype(colors.dtype, np.integer):
        if not np.array_equal(colors, np.round(colors)):
            raise ValueError(f"{what} must be integers")
    return colors.astype(np.int64, copy=False)


def _dense_compressed(compressed, expected: tuple[int, int]) -> np.ndarray:
    if sp.issparse(compressed):
        compressed = compressed.toarray()
    compressed = np.asarray(compressed)
    if compressed.shape != expected:
        raise ValueError(f"compressed product must have shape {expected}, "
                         f"got {compressed.shape}")
    return compressed


def _check_kind(coloring: Coloring, allowed: tuple[str, ...], function: str) -> None:
    if not isinstance(coloring, Coloring) or coloring.kind not in allowed:
        kind = getattr(coloring, "kind", type(coloring).__name__)
        raise ValueError(f"{function} needs a {' or '.join(allowed)} Coloring, got {kind}")


def _on_pattern(matrix: sp.csr_array, values: np.ndarray) -> sp.csr_array:
    return sp.csr_array((values, matrix.indices, matrix.indptr), shape=matrix.shape)


# --------------------------------------------------------------------------- colourings


def column_coloring(pattern, order: str = "best") -> Coloring:
    """Colour the columns so that no two columns of one colour share a row (a distance-2
    colouring of the bipartite graph): J @ coloring.seeds() then holds every nonzero of J.
    `order="best"` tries every ordering in ORDERINGS and keeps the fewest colours (ties: the
    first); a pattern with no columns gets 0 colours, any other at least 1.

    >>> c = column_coloring(np.array([[1, 1, 0], [0, 1, 1]]))
    >>> c.colors, c.n_colors
    (array([0, 1, 0]), 2)
    """
    orders = _requested_orders(order)
    matrix = _canonical(pattern)
    by_row, by_column = _compressed_axis_arrays(matrix)
    colors, n_colors, name = _best_two_hop_coloring(orders, by_column, by_row)
    return Coloring("column", colors, n_colors, name)


def row_coloring(pattern, order: str = "best") -> Coloring:
    """Colour the rows so that no two rows of one colour share a column: coloring.seeds().T
    @ J then holds every nonzero of J (reverse mode). Orderings as in `column_coloring`.

    >>> c = row_coloring(np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]]))
    >>> c.colors, c.n_colors
    (array([0, 1, 0]), 2)
    """
    orders = _requested_orders(order)
    matrix = _canonical(pattern)
    by_row, by_column = _compressed_axis_arrays(matrix)
    colors, n_colors, name = _best_two_hop_coloring(orders, by_row, by_column)
    return Coloring("row", colors, n_colors, name)


def star_coloring(pattern, order: str = "best") -> Coloring:
    """Star colouring of a symmetric (Hessian) pattern: adjacent vertices get different
    colours and every path on four vertices uses at least three, so every entry of H is read
    directly from H @ coloring.seeds() (`decompress_star`). The pattern is symmetrised
    (pattern | pattern.T) and its diagonal does not enter the graph.

    >>> c = star_coloring(np.eye(5) + np.eye(5, k=1) + np.eye(5, k=-1))
    >>> c.n_colors
    3
    """
    orders = _requested_orders(order)
    matrix = _canonical(pattern)
    adjacency = _off_diagonal_arrays(_symmetrized(matrix))
    n = matrix.shape[0]
    edge_id = _undirected_edge_ids(*adjacency)
    same_palette = np.zeros(n, dtype=np.int64)
    orderings = _Orderings(_identity_hop(n), adjacency, np.diff(adjacency[0]))
    best = None
    for name in orders:
        vertex_order = orderings(name)
        for cautious in (False, True):
            colors = _greedy_star_coloring(vertex_order, *adjacency, edge_id, same_palette,
                                           1, cautious)
            if best is None or _n_colors(colors) < best[1]:
                best = (colors, _n_colors(colors), name)
    colors, n_colors, name = best
    return Coloring("star", colors, n_colors, name)


def _keep_needed_colors(groups: tuple[np.ndarray, np.ndarray], column_colors: np.ndarray,
                        row_colors: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Drop the colour classes no entry needs (they become -1) and renumber the rest.

    Each entry (i, j) can be read from the forward slot (row i, colour of j) when no other
    column of row i has that colour, and from the reverse slot (column j, colour of i) when no
    other row of column j has it. An entry readable from one side only makes that side's
    class needed; an entry readable from both asks for either class, and choosing the fewest
    classes for those is a minimum vertex cover of the bipartite graph between column classes
    and row classes, solved exactly (maximum matching, Koenig's theorem).
    """
    from scipy.sparse.csgraph import maximum_bipartite_matching

    rows, columns = groups
    entry_column_colors = column_colors[columns]
    entry_row_colors = row_colors[rows]
    forward = _alone_in_slot(rows, entry_column_colors)
    reverse = _alone_in_slot(columns, entry_row_colors)
    if not np.all(forward | reverse):
        raise AssertionError("internal error: bicolouring leaves an entry unrecoverable")
    n_column_classes = _n_colors(column_colors)  # 0 when all are -1
    n_row_classes = _n_colors(row_colors)
    column_needed = np.zeros(n_column_classes, dtype=bool)
    row_needed = np.zeros(n_row_classes, dtype=bool)
    column_needed[entry_column_colors[forward & ~reverse]] = True
    row_needed[entry_row_colors[reverse & ~forward]] = True
    # entries readable from both sides whose classes are both still unneeded
    either = forward & reverse
    either[either] = (~column_needed[entry_column_colors[either]]
                      & ~row_needed[entry_row_colors[either]])
    if either.any():
        pairs = np.unique(entry_column_colors[either] * n_row_classes + entry_row_colors[either])
        class_graph = sp.csr_array(
            (np.ones(pairs.shape[0], dtype=np.int8),
             (pairs // n_row_classes, pairs % n_row_classes)),
            shape=(n_column_classes, n_row_classes))
        match = maximum_bipartite_matching(class_graph, perm_type="column")
        cover_columns, cover_rows = _koenig_vertex_cover(
            *_index_arrays(class_graph), n_row_classes, np.asarray(match, dtype=np.int64))
        column_needed |= cover_columns
        row_needed |= cover_rows
    return (_renumbered(column_colors, column_needed), _renumbered(row_colors, row_needed),
            int(column_needed.sum()), int(row_needed.sum()))


def _renumbered(colors: np.ndarray, needed: np.ndarray) -> np.ndarray:
    """Colours of the needed classes renumbered 0, 1, ... in order; -1 for the rest."""
    new_number = np.where(needed, np.cumsum(needed) - 1, -1)
    renumbered = np.full(colors.shape[0], -1, dtype=np.int64)
    coloured = colors >= 0
    renumbered[coloured] = new_number[colors[coloured]]
    return renumbered


def _bicolor(column_colors, row_colors, n_column_colors, n_row_colors, name) -> Coloring:
    combined = np.concatenate(
        [column_colors, np.where(row_colors >= 0, row_colors + n_column_colors, -1)])
    return Coloring("bicolor", combined, n_column_colors + n_row_colors, name,
                    column_colors, row_colors, n_column_colors, n_row_colors)


def bicoloring(pattern, order: str = "best") -> Coloring:
    """Bidirectional colouring: forward colours for some columns and reverse colours for some
    rows (-1 elsewhere) such that every nonzero J[i, j] is read directly from
    (J @ S_col)[i, column_colors[j]] or from (S_row.T @ J)[row_colors[i], j], with
    S_col = coloring.column_seeds() and S_row = coloring.row_seeds().

    In each ordering (all for `order="best"`), the bipartite graph [[0, J^T], [J, 0]] gets a
    star colouring in which columns and rows draw from separate palettes, then the colour
    classes no entry needs become -1; the one-sided colourings (as a bicolouring with one
    side empty) compete too. The fewest n_column_colors + n_row_colors wins; `order` is
    the winner's ordering (a one-sided winner's own).

    >>> arrowhead = np.eye(6, dtype=bool); arrowhead[0, :] = arrowhead[:, 0] = True
    >>> c = bicoloring(arrowhead)
    >>> c.n_column_colors, c.n_row_colors
    (2, 1)
    """
    orders = _requested_orders(order)
    matrix = _canonical(pattern)
    m, n = matrix.shape
    (row_ptr, row_idx), (column_ptr, column_idx) = _compressed_axis_arrays(matrix)
    groups = (_row_of_each_entry(matrix), np.asarray(matrix.indices, dtype=np.int64))
    # augmented graph [[0, J^T], [J, 0]]: vertices 0..n-1 are columns, n..n+m-1 rows
    nnz = row_idx.shape[0]
    augmented = (np.concatenate([column_ptr, row_ptr[1:] + nnz]),
                 np.concatenate([column_idx + n, row_idx]))
    edge_id = _undirected_edge_ids(*augmented)
    palette = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(m, dtype=np.int64)])
    orderings = _Orderings(_identity_hop(n + m), augmented, np.diff(augmented[0]))
    best = None
    for name in orders:
        vertex_order = orderings(name)
        for cautious in (False, True):
            ids = _greedy_star_coloring(vertex_order, *augmented, edge_id, palette, 2,
                                        cautious)
            candidate = _keep_needed_colors(groups, ids[:n] // 2, ids[n:] // 2) + (name,)
            if best is None or sum(candidate[2:4]) < sum(best[2:4]):
                best = candidate
    # Never worse than the better one-sided colouring. A column colouring needs at least as
    # many colours as the longest row has entries (a row colouring: the longest column), so
    # it is only computed when it could win (not for an arrowhead, where it needs n).
    longest_row = int(np.diff(row_ptr).max(initial=0))
    if longest_row < sum(best[2:4]):
        one_sided = column_coloring(matrix, order)
        candidate = _keep_needed_colors(groups, one_sided.colors,
                                        np.full(m, -1, np.int64)) + (one_sided.order,)
        if sum(candidate[2:4]) < sum(best[2:4]):
            best = candidate
    longest_column = int(np.diff(column_ptr).max(initial=0))
    if longest_column < sum(best[2:4]):
        one_sided = row_coloring(matrix, order)
        candidate = _keep_needed_colors(groups, np.full(n, -1, np.int64),
                                        one_sided.colors) + (one_sided.order,)
        if sum(candidate[2:4]) < sum(best[2:4]):
            best = candidate
    return _bicolor(*best)


# --------------------------------------------------------------------------- decompression


def decompress_columns(pattern, coloring: Coloring, compressed) -> sp.csr_array:
    """J on `pattern` from compressed = J @ coloring.seeds(), shape (m, n_colors): entry
    (i, j) is compressed[i, colors[j]].

    >>> J = np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0]])
    >>> c = column_coloring(J != 0)
    >>> decompress_columns(J != 0, c, J @ c.seeds()).toarray()
    array([[1., 2., 0.],
           [0., 3., 4.]])
    """
    _check_kind(coloring, ("column",), "decompress_columns")
    matrix = _canonical(pattern)
    m, n = matrix.shape
    colors = _colors_array(coloring.colors, n, "the colouring's colors (one per column)")
    compressed = _dense_compressed(compressed, (m, coloring.n_colors))
    rows = _row_of_each_entry(matrix)
    _check_recovers(colors[matrix.indices], rows, coloring.n_colors, "columns", "row")
    return _on_pattern(matrix, compressed[rows, colors[matrix.indices]])


def decompress_rows(pattern, coloring: Coloring, compressed) -> sp.csr_array:
    """J on `pattern` from compressed = coloring.seeds().T @ J, shape (n_colors, n): entry
    (i, j) is compressed[colors[i], j].

    >>> J = np.array([[1.0, 0.0], [2.0, 3.0], [0.0, 4.0]])
    >>> c = row_coloring(J != 0)
    >>> decompress_rows(J != 0, c, c.seeds().T @ J).toarray()
    array([[1., 0.],
           [2., 3.],
           [0., 4.]])
    """
    _check_kind(coloring, ("row",), "decompress_rows")
    matrix = _canonical(pattern)
    m, n = matrix.shape
    colors = _colors_array(coloring.colors, m, "the colouring's colors (one per row)")
    compressed = _dense_compressed(compressed, (coloring.n_colors, n))
    rows = _row_of_each_entry(matrix)
    _check_recovers(colors[rows], np.asarray(matrix.indices, dtype=np.int64),
                    coloring.n_colors, "rows", "column")
    return _on_pattern(matrix, compressed[colors[rows], matrix.indices])


def decompress_star(pattern, coloring: Coloring, compressed) -> sp.csr_array:
    """The full symmetric H (both triangles and the pattern's diagonal, with the structure of
    pattern | pattern.T) from compressed = H @ coloring.seeds(), shape (n, n_colors). Entry
    (i, j) is compressed[i, colors[j]] when no other entry of row i has colour colors[j],
    else compressed[j, colors[i]]. Also takes a column colouring of the symmetric pattern.

    >>> H = np.array([[2.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 2.0]])
    >>> c = star_coloring(H != 0)
    >>> np.array_equal(decompress_star(H != 0, c, H @ c.seeds()).toarray(), H)
    True
    """
    _check_kind(coloring, ("star", "column"), "decompress_star")
    symmetric = _symmetrized(_canonical(pattern))
    n = symmetric.shape[0]
    colors = _colors_array(coloring.colors, n, "the colouring's colors (one per column)")
    compressed = _dense_compressed(compressed, (n, coloring.n_colors))
    rows = _row_of_each_entry(symmetric)
    columns = np.asarray(symmetric.indices, dtype=np.int64)
    if symmetric.nnz and (colors.min() < 0 or colors.max() >= coloring.n_colors):
        raise ValueError(f"colours must lie in 0..{coloring.n_colors - 1}")
    # (H @ S)[i, c] sums the entries of row i whose column has colour c: keys count them
    width = max(coloring.n_colors, 1)
    keys = rows * width + colors[columns]
    distinct, counts = np.unique(keys, return_counts=True)
    alone_at_row = counts[np.searchsorted(distinct, keys)] == 1
    transposed_keys = columns * width + colors[rows]  # the slot (j, colour of i)
    alone_at_column = counts[np.searchsorted(distinct, transposed_keys)] == 1
    if not np.all(alone_at_row | alone_at_column):
        raise ValueError("the colouring does not recover every entry of the symmetric "
                         "pattern directly (not a star colouring of it)")
    values = np.where(alone_at_row, compressed[rows, colors[columns]],
                      compressed[columns, colors[rows]])
    return _on_pattern(symmetric, values)


def decompress_bicolored(pattern, coloring: Coloring, forward, reverse) -> sp.csr_array:
    """J on `pattern` from forward = J @ coloring.column_seeds(), shape (m, n_column_colors),
    and reverse = coloring.row_seeds().T @ J, shape (n_row_colors, n): each entry is read
    from the forward product when it is alone in its slot there, else from the reverse one.

    >>> J = np.eye(4); J[0, :] = J[:, 0] = np.arange(1.0, 5.0)
    >>> c = bicoloring(J != 0)
    >>> forward, reverse = J @ c.column_seeds(), c.row_seeds().T @ J
    >>> np.array_equal(decompress_bicolored(J != 0, c, forward, reverse).toarray(), J)
    True
    """
    _check_kind(coloring, ("bicolor",), "decompress_bicolored")
    matrix = _canonical(pattern)
    m, n = matrix.shape
    column_colors = _colors_array(coloring.column_colors, n, "column_colors")
    row_colors = _colors_array(coloring.row_colors, m, "row_colors")
    forward = _dense_compressed(forward, (m, coloring.n_column_colors))
    reverse = _dense_compressed(reverse, (coloring.n_row_colors, n))
    rows = _row_of_each_entry(matrix)
    columns = np.asarray(matrix.indices, dtype=np.int64)
    entry_column_colors = column_colors[columns]
    entry_row_colors = row_colors[rows]
    from_forward = _alone_in_slot(rows, entry_column_colors)
    from_reverse = _alone_in_slot(columns, entry_row_colors)
    if not np.all(from_forward | from_reverse):
        raise ValueError("the bicoloring does not recover every entry of the pattern")
    # np.where evaluates both sides: clip the indices the other side will not use
    forward_values = (forward[rows, np.maximum(entry_column_colors, 0)]
                      if forward.size else np.zeros(rows.shape[0], forward.dtype))
    reverse_values = (reverse[np.maximum(entry_row_colors, 0), columns]
                      if reverse.size else np.zeros(rows.shape[0], reverse.dtype))
    # an empty side (no colours: no passes) does not decide the dtype (float32 stays)
    dtype = np.result_type(*[a for a in (forward, reverse) if a.size] or [forward, reverse])
    return _on_pattern(matrix, np.where(from_forward, forward_values, reverse_values)
                       .astype(dtype, copy=False))


# --------------------------------------------------------------------------- checks


def is_column_coloring(pattern, colors) -> bool:
    """Whether `colors` (one per column, >= 0) gives structurally orthogonal colour classes:
    no two columns of one colour share a row.

    >>> is_column_coloring(np.array([[1, 1, 0], [0, 1, 1]]), [0, 1, 0])
    True
    >>> is_column_coloring(np.array([[1, 1, 0], [0, 1, 1]]), [0, 0, 1])
    False
    """
    matrix = _canonical(pattern)
    colors = _colors_array(colors, matrix.shape[1], "colors (one per column)")
    if colors.size and colors.min() < 0:
        return False
    rows = _row_of_each_entry(matrix)
    return bool(np.all(_alone_in_slot(rows, colors[matrix.indices])))


def is_row_coloring(pattern, colors) -> bool:
    """Whether `colors` (one per row, >= 0) is such that no two rows of one colour share a
    column.

    >>> is_row_coloring(np.array([[1, 0], [1, 1], [0, 1]]), [0, 1, 0])
    True
    """
    matrix = _canonical(pattern)
    colors = _colors_array(colors, matrix.shape[0], "colors (one per row)")
    if colors.size and colors.min() < 0:
        return False
    rows = _row_of_each_entry(matrix)
    columns = np.asarray(matrix.indices, dtype=np.int64)
    return bool(np.all(_alone_in_slot(columns, colors[rows])))


def is_star_coloring(pattern, colors) -> bool:
    """Whether `colors` (one per vertex, >= 0) is a star colouring of the graph of the
    symmetrised pattern (diagonal ignored): adjacent vertices differ, and every path on four
    vertices has at least three colours. With the first condition the second is: for every
    edge (i, j), i has no other neighbour of j's colour or j none of i's colour (a path
    a-i-j-d with two colours has both).

    >>> path = np.eye(4, k=1) + np.eye(4, k=-1)
    >>> is_star_coloring(path, [0, 1, 2, 0]), is_star_coloring(path, [0, 1, 0, 1])
    (True, False)
    """
    matrix = _canonical(pattern)
    symmetric = _symmetrized(matrix)
    colors = _colors_array(colors, symmetric.shape[0], "colors (one per vertex)")
    if colors.size and colors.min() < 0:
        return False
    indptr, columns = _off_diagonal_arrays(symmetric)
    rows = np.repeat(np.arange(symmetric.shape[0], dtype=np.int64), np.diff(indptr))
    if np.any(colors[rows] == colors[columns]):
        return False
    if rows.size == 0:
        return True
    width = int(colors.max()) + 1
    keys = rows * width + colors[columns]
    distinct, counts = np.unique(keys, return_counts=True)
    alone_at_row = counts[np.searchsorted(distinct, keys)] == 1
    alone_at_column = counts[np.searchsorted(distinct, columns * width + colors[rows])] == 1
    return bool(np.all(alone_at_row | alone_at_column))


def is_bicoloring(pattern, column_colors, row_colors) -> bool:
    """Whether every nonzero (i, j) is directly recoverable: column j's colour is >= 0 and no
    other column of row i has it, or row i's colour is >= 0 and no other row of column j
    has it (-1: no colour).

    >>> pattern = np.array([[1, 1], [1, 0]])
    >>> is_bicoloring(pattern, [0, 1], [-1, -1]), is_bicoloring(pattern, [0, -1], [-1, -1])
    (True, False)
    """
    matrix = _canonical(pattern)
    m, n = matrix.shape
    column_colors = _colors_array(column_colors, n, "column_colors")
    row_colors = _colors_array(row_colors, m, "row_colors")
    if (column_colors.size and column_colors.min() < -1) or (
            row_colors.size and row_colors.min() < -1):
        return False
    rows = _row_of_each_entry(matrix)
    columns = np.asarray(matrix.indices, dtype=np.int64)
    return bool(np.all(_alone_in_slot(rows, column_colors[columns])
                       | _alone_in_slot(columns, row_colors[rows])))
