"""A cell: a labelled directed acyclic graph with one operation per node.

Every search space of the study is converted to this one form, which is what
graph VAEs consume. Node 0 is labelled ``"input"`` and the last node
``"output"``; the other labels are the space's operations.

Identity is decided by :meth:`Cell.fingerprint`, a Weisfeiler-Lehman style
hash of the labelled graph that does not depend on how the nodes are numbered
(the same algorithm as NAS-Bench-101's ``hash_module``), so two drawings of the
same cell are one architecture.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Hashable

import numpy as np

from lib.errors import InvalidCellError

INPUT = "input"
OUTPUT = "output"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def wl_hash(matrix: np.ndarray, labels: Sequence[Hashable]) -> str:
    """Hashes a labelled directed graph, invariant to node numbering.

    Each node starts from ``(out-degree, in-degree, label)`` and is re-hashed
    ``n`` times from the sorted hashes of its in- and out-neighbours; the graph
    hash is the md5 of the sorted node hashes. With NAS-Bench-101 labels
    (``-1`` input, ``-2`` output, operation indices otherwise) this reproduces
    the benchmark's own module hash.

    Args:
        matrix: ``(n, n)`` 0/1 adjacency, ``matrix[i, j] = 1`` for an edge i→j.
        labels: One label per node.

    Returns:
        A 32-character hexadecimal digest.
    """
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    out_deg = matrix.sum(axis=1).tolist()
    in_deg = matrix.sum(axis=0).tolist()
    hashes = [_md5(str((int(o), int(i), lab))) for o, i, lab in zip(out_deg, in_deg, labels)]
    preds = [np.flatnonzero(matrix[:, v]).tolist() for v in range(n)]
    succs = [np.flatnonzero(matrix[v, :]).tolist() for v in range(n)]
    for _ in range(n):
        hashes = [
            _md5(
                "".join(sorted(hashes[w] for w in preds[v]))
                + "|"
                + "".join(sorted(hashes[w] for w in succs[v]))
                + "|"
                + hashes[v]
            )
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


class Cell:
    """An immutable labelled DAG with node 0 the input and the last node the output.

    Args:
        adjacency: ``(n, n)`` 0/1 matrix; ``adjacency[i, j] = 1`` is an edge i→j.
        ops: ``n`` node labels, ``ops[0] == "input"`` and ``ops[-1] == "output"``.

    Raises:
        InvalidCellError: The matrix is not square 0/1, has self loops or a
            cycle, or the labels do not match it.
    """

    __slots__ = ("_adj", "_ops", "_fingerprint")

    def __init__(self, adjacency: np.ndarray | Sequence[Sequence[int]], ops: Sequence[str]):
        adj = np.array(adjacency, dtype=np.int8, copy=True)
        ops = tuple(str(op) for op in ops)
        if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
            raise InvalidCellError(f"adjacency must be a square matrix, got shape {adj.shape}")
        if adj.shape[0] < 2:
            raise InvalidCellError("a cell needs at least an input and an output node")
        if len(ops) != adj.shape[0]:
            raise InvalidCellError(
                f"{len(ops)} operations given for a {adj.shape[0]}-node adjacency matrix"
            )
        if adj.size and (adj.max() > 1 or adj.min() < 0):
            raise InvalidCellError("adjacency entries must be 0 or 1")
        if np.diag(adj).any():
            raise InvalidCellError("a cell cannot have self loops (non-zero diagonal)")
        if ops[0] != INPUT or ops[-1] != OUTPUT:
            raise InvalidCellError(
                f"node 0 must be {INPUT!r} and the last node {OUTPUT!r}, got {ops[0]!r} and {ops[-1]!r}"
            )
        if INPUT in ops[1:] or OUTPUT in ops[:-1]:
            raise InvalidCellError("only the first node may be 'input' and only the last 'output'")
        if _has_cycle(adj):
            raise InvalidCellError("the graph has a cycle; a cell must be acyclic")
        adj.setflags(write=False)
        self._adj = adj
        self._ops = ops
        self._fingerprint: str | None = None

    @property
    def adjacency(self) -> np.ndarray:
        """The read-only ``(n, n)`` int8 adjacency matrix."""
        return self._adj

    @property
    def ops(self) -> tuple[str, ...]:
        """The node labels, input first and output last."""
        return self._ops

    @property
    def num_nodes(self) -> int:
        return len(self._ops)

    @property
    def num_edges(self) -> int:
        return int(self._adj.sum())

    def edges(self) -> list[tuple[int, int]]:
        """Returns the edges as ``(source, target)`` pairs in row-major order."""
        return [tuple(map(int, e)) for e in np.argwhere(self._adj)]

    def is_upper_triangular(self) -> bool:
        """Whether every edge goes from a lower to a higher node index."""
        return _forward_only(self._adj)

    def fingerprint(self, label_map: Mapping[str, Hashable] | None = None) -> str:
        """Isomorphism-invariant hash of the cell (see :func:`wl_hash`).

        Args:
            label_map: Optional mapping from operation names to the labels fed
                to the hash (NB101 uses integer codes to match its official
                hashes). By default the operation names themselves are used.
        """
        if label_map is not None:
            return wl_hash(self._adj, [label_map[op] for op in self._ops])
        if self._fingerprint is None:
            self._fingerprint = wl_hash(self._adj, self._ops)
        return self._fingerprint

    def permute(self, order: Sequence[int]) -> "Cell":
        """Returns the same graph with nodes renumbered: new node k is old node ``order[k]``."""
        order = list(order)
        if sorted(order) != list(range(self.num_nodes)):
            raise InvalidCellError(f"{order} is not a permutation of the {self.num_nodes} nodes")
        if order[0] != 0 or order[-1] != self.num_nodes - 1:
            raise InvalidCellError("a permutation must keep the input first and the output last")
        adj = self._adj[np.ix_(order, order)]
        return Cell(adj, [self._ops[i] for i in order])

    def topological_order(self) -> list[int]:
        """Returns a topological order of the nodes (ties broken by index)."""
        indeg = self._adj.sum(axis=0).astype(int).tolist()
        ready = [v for v in range(self.num_nodes) if indeg[v] == 0]
        order = []
        while ready:
            ready.sort()
            v = ready.pop(0)
            order.append(v)
            for w in np.flatnonzero(self._adj[v]):
                indeg[w] -= 1
                if indeg[w] == 0:
                    ready.append(int(w))
        return order

    def reachable_from_input(self) -> np.ndarray:
        """Boolean mask of the nodes reachable from the input."""
        return _reach(self._adj, 0)

    def reaching_output(self) -> np.ndarray:
        """Boolean mask of the nodes from which the output is reachable."""
        return _reach(self._adj.T, self.num_nodes - 1)

    def prune(self) -> "Cell":
        """Removes the nodes that are not on a path from the input to the output.

        Raises:
            InvalidCellError: The output is not reachable from the input.
        """
        keep = self.reachable_from_input() & self.reaching_output()
        if not keep[-1]:
            raise InvalidCellError("the output is not reachable from the input (disconnected cell)")
        if keep.all():
            return self
        idx = np.flatnonzero(keep)
        return Cell(self._adj[np.ix_(idx, idx)], [self._ops[i] for i in idx])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cell):
            return NotImplemented
        return self.fingerprint() == other.fingerprint()

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def same_drawing(self, other: "Cell") -> bool:
        """Whether both cells have the same matrix and labels (not just isomorphic)."""
        return self._ops == other._ops and np.array_equal(self._adj, other._adj)

    def __repr__(self) -> str:
        rows = "".join("".join(map(str, r)) for r in self._adj.tolist())
        return f"Cell(n={self.num_nodes}, edges={self.num_edges}, adj={rows}, ops={list(self._ops)})"


def _reach(adj: np.ndarray, start: int) -> np.ndarray:
    seen = np.zeros(adj.shape[0], dtype=bool)
    seen[start] = True
    frontier = [start]
    while frontier:
        v = frontier.pop()
        for w in np.flatnonzero(adj[v]):
            if not seen[w]:
                seen[w] = True
                frontier.append(int(w))
    return seen


def _forward_only(adj: np.ndarray) -> bool:
    """Whether every edge of ``adj`` goes from a lower to a higher index (nothing on or below the diagonal)."""
    return not np.tril(adj).any()


def _has_cycle(adj: np.ndarray) -> bool:
    if _forward_only(adj):  # every edge goes forward: acyclic
        return False
    indeg = adj.sum(axis=0).astype(int)
    stack = list(np.flatnonzero(indeg == 0))
    visited = 0
    while stack:
        v = stack.pop()
        visited += 1
        for w in np.flatnonzero(adj[v]):
            indeg[w] -= 1
            if indeg[w] == 0:
                stack.append(w)
    return visited != adj.shape[0]
