"""From decoder outputs and latent points back to cells of a space.

* :func:`node_labels`, :func:`edge_matrix` — probabilities → labels and a 0/1 upper triangle;
* :func:`decode_cells` — labels and edges → cells, dead nodes pruned, ``None`` where invalid;
* :class:`PoolSnapper` — latent points → cells of the measured pool: the
  decoded cell where it is valid, measured and not yet queried, else the
  nearest unqueried pool cell in latent space, counting what was rejected and why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from lib.cell import Cell
from lib.errors import InvalidCellError
from lib.spaces import SearchSpace
from lib.spaces.darts import SECOND_INPUT


def node_labels(ops: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
    """``(..., N, V)`` scores → ``(..., N)`` vocabulary indices (argmax).

    With a ``threshold`` (targets: ``0.5``), a row none of whose entries
    reaches it is padding, labelled ``-1``. Decoded rows are read by plain
    argmax, as arch2vec does: a decoded node that lies on no input→output
    path is removed by :func:`decode_cells`, which is how padding disappears.
    """
    values, index = ops.max(dim=-1)
    if threshold is None:
        return index
    return torch.where(values >= threshold, index, torch.full_like(index, -1))


def edge_matrix(adj: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Edge probabilities or a 0/1 adjacency → the 0/1 strict upper triangle (int8)."""
    return (adj >= threshold).to(torch.int8).triu(1)


def _on_a_path(adj: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Nodes on a path from a source (node 0, or a second input) to the last node of an upper-triangular adjacency."""
    n = len(adj)
    forward = sources.copy()
    forward[0] = True
    backward = np.zeros(n, dtype=bool)
    backward[-1] = True
    for v in range(1, n):
        forward[v] |= bool((adj[:v, v] > 0)[forward[:v]].any())
    for v in range(n - 2, -1, -1):
        backward[v] = bool((adj[v, v + 1 :] > 0)[backward[v + 1 :]].any())
    return forward & backward


def decode_cells(space: SearchSpace, labels: torch.Tensor, edges: torch.Tensor) -> list[Cell | None]:
    """Builds cells from decoded labels and edges; ``None`` where the result is not a cell of the space.

    Padding rows (label ``-1``) are dropped, then every node that lies on no
    path from the input (first node) to the output (last node) is removed,
    as NAS-Bench-101's ``ModelSpec`` prunes (DARTS' second input counts as a
    source); what is left must pass ``space.validate``.

    Args:
        space: The space the cells must belong to.
        labels: ``(B, N)`` from :func:`node_labels`.
        edges: ``(B, N, N)`` from :func:`edge_matrix`.
    """
    vocab = space.vocabulary
    second_input = vocab.index(SECOND_INPUT) if SECOND_INPUT in vocab else -2  # DARTS' c_(k-1) is a source too
    cells: list[Cell | None] = []
    for lab, adj in zip(labels.cpu().numpy(), edges.cpu().numpy()):
        keep = np.flatnonzero(lab >= 0)
        adj, lab = adj[np.ix_(keep, keep)], lab[keep]
        if len(lab) < 2:
            cells.append(None)
            continue
        keep = np.flatnonzero(_on_a_path(adj, lab == second_input))
        try:
            cell = Cell(adj[np.ix_(keep, keep)], [vocab[int(i)] for i in lab[keep]])
            cells.append(space.validate(cell))
        except InvalidCellError:
            cells.append(None)
    return cells


@dataclass
class Snapped:
    """Where a batch of latent points landed.

    Attributes:
        index: ``(B,)`` pool index of each point's cell, ``-1`` when no pool cell was left.
        decoded: ``(B,)`` whether the point's own decoded cell was taken (not the nearest one).
        counts: This batch's tally: ``decoded`` (taken as decoded), ``invalid``
            (decoded to no cell of the space), ``unmeasured`` (a cell outside the
            pool), ``queried`` (already excluded or taken earlier in the batch),
            ``snapped`` (replaced by the nearest pool cell), ``exhausted``.
    """

    index: np.ndarray
    decoded: np.ndarray
    counts: Counter = field(default_factory=Counter)


class PoolSnapper:
    """Maps latent points to cells of a measured pool.

    A point's decoded cell (if any) is kept when it is valid, in the pool and
    not excluded; otherwise the point is *snapped* to the nearest pool cell
    that is not excluded, by Euclidean distance between the point and the
    pool's embeddings (computed as ``‖e − z‖`` of the differences, exact for
    ties, rather than by the expanded ``‖e‖² − 2e·z + ‖z‖²`` of ``cdist``).
    :attr:`counts` adds up every batch's tally.

    Args:
        space: The pool's space (its keys identify decoded cells).
        pool: The measured cells, e.g. ``oracle.pool()``.
        embeddings: ``(len(pool), d)`` latent vectors of the pool, in pool order.
    """

    def __init__(self, space: SearchSpace, pool: Sequence[Cell], embeddings: np.ndarray | torch.Tensor):
        if len(embeddings) != len(pool):
            raise ValueError(f"{len(embeddings)} embeddings for a pool of {len(pool)} cells")
        self.space, self.pool = space, pool
        self.embeddings = torch.as_tensor(embeddings, dtype=torch.float32)
        self._index: dict[str, int] | None = None
        self.counts: Counter = Counter()

    def pool_index(self, cell: Cell) -> int | None:
        """Position of ``cell``'s architecture in the pool, ``None`` if it is not there."""
        if self._index is None:
            self._index = {}
            for i, c in enumerate(self.pool):
                self._index.setdefault(self.space.key(c), i)
        return self._index.get(self.space.key(cell))

    def nearest(self, z: np.ndarray | torch.Tensor, exclude: np.ndarray | None = None) -> int:
        """Index of the pool cell nearest to one latent point ``z`` (``(d,)`` or ``(1, d)``), skipping ``exclude``.

        Returns:
            The index, or ``-1`` when every cell is excluded.
        """
        distance = torch.linalg.vector_norm(self.embeddings - torch.as_tensor(z, dtype=torch.float32), dim=1).numpy()
        if exclude is not None:
            if exclude.all():
                return -1
            distance[exclude] = np.inf
        return int(np.argmin(distance))

    def snap(self, z: np.ndarray | torch.Tensor, exclude: np.ndarray | None = None,
             decoded: Sequence[Cell | None] | None = None) -> Snapped:  # fmt: skip
        """Cells for a batch of latent points, distinct from each other and from ``exclude``.

        Args:
            z: ``(B, d)`` latent points in the space of the pool's embeddings.
            exclude: ``(len(pool),)`` boolean, cells not to return (e.g. queried ones).
            decoded: Optional ``B`` decoded cells of the points (``None`` entries:
                invalid), e.g. from :func:`decode_cells`; without them every point snaps.
        """
        taken = np.zeros(len(self.pool), dtype=bool) if exclude is None else np.asarray(exclude, dtype=bool).copy()
        z = torch.as_tensor(z, dtype=torch.float32).reshape(len(z), -1)
        index = np.full(len(z), -1, dtype=np.int64)
        used = np.zeros(len(z), dtype=bool)
        counts: Counter = Counter()
        for j in range(len(z)):
            if decoded is not None:
                cell = decoded[j]
                i = None if cell is None else self.pool_index(cell)
                if cell is None:
                    counts["invalid"] += 1
                elif i is None:
                    counts["unmeasured"] += 1
                elif taken[i]:
                    counts["queried"] += 1
                else:
                    index[j], used[j], taken[i] = i, True, True
                    counts["decoded"] += 1
                    continue
            i = self.nearest(z[j], taken)
            if i < 0:
                counts["exhausted"] += 1
                continue
            index[j], taken[i] = i, True
            counts["snapped"] += 1
        self.counts.update(counts)
        return Snapped(index, used, counts)
