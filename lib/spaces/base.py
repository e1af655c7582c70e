"""The one interface every search space implements.

A space knows its operation vocabulary, converts cells to and from its native
form, says whether a cell belongs to it (raising :class:`InvalidCellError`
with the reason), gives each architecture a lookup key, samples, mutates and
lists neighbours. Search methods only talk to this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from lib.cell import INPUT, OUTPUT, Cell
from lib.errors import InvalidCellError


class SearchSpace(ABC):
    """Abstract search space over :class:`~lib.cell.Cell` objects.

    Attributes:
        name: Short identifier (``"nb101"``, ``"nb201"``, ``"darts"``, ``"nbgraph"``).
        operations: Interior operation names.
        max_nodes: Number of nodes of the padded tensor encoding.
    """

    name: str = ""
    operations: tuple[str, ...] = ()
    max_nodes: int = 0

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Node labels of the one-hot encoding: input, the operations, output."""
        return (INPUT, *self.operations, OUTPUT)

    @abstractmethod
    def from_native(self, native: Any) -> Cell:
        """Converts the space's native description into a validated cell."""

    @abstractmethod
    def to_native(self, cell: Cell) -> Any:
        """Converts a cell of this space to its native description."""

    @abstractmethod
    def validate(self, cell: Cell) -> Cell:
        """Returns the canonical form of ``cell`` or raises :class:`InvalidCellError`."""

    def key(self, cell: Cell) -> str:
        """Identity of the architecture, used to look it up in a benchmark table.

        Two drawings of the same architecture have the same key.
        """
        return self.validate(cell).fingerprint()

    def describe(self, cell: Cell) -> str:
        """The native form as one line of text (for tables and trajectories)."""
        return str(self.to_native(cell))

    def is_valid(self, cell: Cell) -> bool:
        """Whether ``cell`` belongs to the space (no exception)."""
        try:
            self.validate(cell)
        except InvalidCellError:
            return False
        return True

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Cell:
        """Draws one valid cell uniformly at random (as the space defines it)."""

    @abstractmethod
    def neighbours(self, cell: Cell) -> list[Cell]:
        """All valid cells one edit away (one operation or one edge changed)."""

    def _distinct_valid(self, cell: Cell, candidates: Iterable[Callable[[], Cell]]) -> list[Cell]:
        """Builds each candidate, keeps the valid ones whose key differs from ``cell``'s, one per key."""
        own = self.key(cell)
        found: dict[str, Cell] = {}
        for build in candidates:
            try:
                candidate = self.validate(build())
            except InvalidCellError:
                continue
            key = self.key(candidate)
            if key != own:
                found.setdefault(key, candidate)
        return list(found.values())

    def mutate(self, cell: Cell, rng: np.random.Generator) -> Cell:
        """Returns a random neighbour of ``cell``."""
        options = self.neighbours(cell)
        if not options:
            raise InvalidCellError(f"{cell!r} has no valid neighbour in {self.name}")
        return options[int(rng.integers(len(options)))]

    def enumerate(self) -> Iterator[Cell]:
        """Yields every cell of the space, where the space is small enough.

        Raises:
            NotImplementedError: The space is too large to enumerate.
        """
        raise NotImplementedError(f"the {self.name} space is not enumerated")

    def pretraining_tensors(self, num_cells: int | None = None, seed: int = 0):
        """The cells a graph model of this space pretrains on, as dense ``(ops, adj)`` float32 tensors.

        By default every cell of :meth:`enumerate`, in its order; a space
        too large to enumerate says which cells it pretrains on instead
        (NB101: all its structures; DARTS: a uniform sample).

        Args:
            num_cells: Keep the first ``num_cells`` (a sampled space draws that many).
            seed: Seed of a sampled space's draw.

        Returns:
            ``(ops, adj)`` of shapes ``(M, max_nodes, len(vocabulary))`` and ``(M, max_nodes, max_nodes)``.
        """
        from lib.encoding import encode_dense

        ops, adj = encode_dense(self, list(self.enumerate()))
        return (ops, adj) if num_cells is None else (ops[:num_cells], adj[:num_cells])

    def encode(self, cell: Cell) -> tuple[np.ndarray, np.ndarray]:
        """Dense encoding for graph models, padded to :attr:`max_nodes`.

        The cell's nodes come first in their order, except the output, which
        is always the last row; padding rows and columns are zero (the
        arch2vec convention for NB101 cells with fewer than seven nodes).

        Returns:
            ``(ops, adj)``: ``(max_nodes, len(vocabulary))`` one-hot float32
            operations and ``(max_nodes, max_nodes)`` float32 adjacency.
        """
        cell = self.validate(cell)
        n, m = cell.num_nodes, self.max_nodes
        index = {op: i for i, op in enumerate(self.vocabulary)}
        slots = list(range(n - 1)) + [m - 1]
        ops = np.zeros((m, len(index)), dtype=np.float32)
        ops[slots, [index[op] for op in cell.ops]] = 1.0
        adj = np.zeros((m, m), dtype=np.float32)
        adj[np.ix_(slots, slots)] = cell.adjacency
        return ops, adj

    def decode(self, ops: np.ndarray, adj: np.ndarray) -> Cell:
        """Inverse of :meth:`encode`: drops all-zero padding rows, then validates.

        Args:
            ops: ``(max_nodes, len(vocabulary))`` scores or one-hot rows; each
                row's argmax is its label, a row of zeros is padding.
            adj: ``(max_nodes, max_nodes)`` 0/1 (or probabilities ≥ 0.5).

        Raises:
            InvalidCellError: The decoded graph is not a cell of the space.
        """
        ops = np.asarray(ops)
        adj = (np.asarray(adj) >= 0.5).astype(np.int8)
        present = np.flatnonzero(ops.max(axis=1) > 0)
        labels = [self.vocabulary[int(i)] for i in ops[present].argmax(axis=1)]
        cell = Cell(adj[np.ix_(present, present)], labels)
        return self.validate(cell)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
