"""NAS-Bench-101: cells of at most 7 nodes and 9 edges (Ying et al., 2019).

Native form: ``(matrix, ops)`` as in the benchmark's ``ModelSpec``, with ops
``"input"``, ``"conv3x3-bn-relu"``, ``"conv1x1-bn-relu"``, ``"maxpool3x3"``,
``"output"``. Cells are pruned to the nodes on an input→output path before
they are checked and hashed, as the benchmark does; the key is the
benchmark's own module hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from lib.cell import INPUT, OUTPUT, Cell
from lib.errors import InvalidCellError
from lib.spaces.base import SearchSpace

CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
TABLE_CODES = (CONV3X3, CONV1X1, MAXPOOL3X3)
"""Operation codes 0, 1, 2 of the study's NB101 tables."""

MAX_VERTICES = 7
MAX_EDGES = 9
_HASH_LABELS = {INPUT: -1, OUTPUT: -2, CONV3X3: 0, CONV1X1: 1, MAXPOOL3X3: 2}


class NB101Space(SearchSpace):
    """The NAS-Bench-101 cell space (423,624 distinct architectures)."""

    name = "nb101"
    operations = (CONV1X1, CONV3X3, MAXPOOL3X3)  # arch2vec's one-hot order
    max_nodes = MAX_VERTICES

    def from_native(self, native: tuple[np.ndarray, Sequence[str]]) -> Cell:
        """Builds a cell from ``(matrix, ops)``; pruned and validated."""
        matrix, ops = native
        return self.validate(Cell(matrix, ops))

    def to_native(self, cell: Cell) -> tuple[np.ndarray, list[str]]:
        """Returns ``(matrix, ops)`` of the pruned cell."""
        cell = self.validate(cell)
        return np.array(cell.adjacency), list(cell.ops)

    def validate(self, cell: Cell) -> Cell:
        """Prunes the cell and checks NB101's rules.

        Raises:
            InvalidCellError: Unknown operation, an edge that goes backwards,
                input and output disconnected, more than 7 nodes or more than
                9 edges after pruning.
        """
        unknown = set(cell.ops[1:-1]) - set(self.operations)
        if unknown:
            raise InvalidCellError(
                f"NB101 cells use {list(self.operations)}; unknown operation(s) {sorted(unknown)}"
            )
        if not cell.is_upper_triangular():
            order = cell.topological_order()
            cell = cell.permute(order)
        pruned = cell.prune()
        if pruned.num_nodes > MAX_VERTICES:
            raise InvalidCellError(
                f"NB101 cells have at most {MAX_VERTICES} nodes; this one has {pruned.num_nodes}"
            )
        if pruned.num_edges > MAX_EDGES:
            raise InvalidCellError(
                f"NB101 cells have at most {MAX_EDGES} edges; this one has {pruned.num_edges}"
            )
        return pruned

    def key(self, cell: Cell) -> str:
        """NAS-Bench-101's module hash of the pruned cell."""
        return self.validate(cell).fingerprint(_HASH_LABELS)

    def describe(self, cell: Cell) -> str:
        """``"<upper-triangle bits>/<op codes>"`` as in the study's tables, e.g. ``"0110001101/0,2,1"``."""
        row = self.to_table_row(self.validate(cell))
        return f"{row['adj_upper_bits']}/{row['ops']}"

    def sample(self, rng: np.random.Generator) -> Cell:
        """Uniform random matrix and ops, redrawn until valid (the benchmark's ``random_spec``)."""
        while True:
            matrix = np.triu(rng.integers(0, 2, size=(MAX_VERTICES, MAX_VERTICES)), 1)
            ops = [INPUT, *rng.choice(self.operations, size=MAX_VERTICES - 2).tolist(), OUTPUT]
            try:
                return self.validate(Cell(matrix, ops))
            except InvalidCellError:
                continue

    def neighbours(self, cell: Cell) -> list[Cell]:
        """Cells with one interior op changed or one edge flipped, deduplicated by key."""
        cell = self.validate(cell)
        n = cell.num_nodes
        candidates = []
        for v in range(1, n - 1):
            for op in self.operations:
                if op != cell.ops[v]:
                    ops = list(cell.ops)
                    ops[v] = op
                    candidates.append(partial(Cell, cell.adjacency, ops))
        for i in range(n):
            for j in range(i + 1, n):
                adj = np.array(cell.adjacency)
                adj[i, j] = 1 - adj[i, j]
                candidates.append(partial(Cell, adj, cell.ops))
        return self._distinct_valid(cell, candidates)

    @staticmethod
    def table_native(adj_upper_bits: str, ops_codes: str | float, num_vertices: int) -> tuple[np.ndarray, list[str]]:
        """Native ``(matrix, ops)`` from the study's table columns (see ``../shared/data/README.md``).

        Args:
            adj_upper_bits: Upper triangle, row by row, as a string of 0/1.
            ops_codes: Comma-separated interior codes (0 conv3x3, 1 conv1x1,
                2 maxpool) or empty/NaN for a cell with no interior node.
            num_vertices: Number of nodes.
        """
        n = int(num_vertices)
        bits = str(adj_upper_bits).zfill(n * (n - 1) // 2)
        adj = np.zeros((n, n), dtype=np.int8)
        adj[np.triu_indices(n, 1)] = [int(b) for b in bits]
        codes = [] if not isinstance(ops_codes, str) or not ops_codes else ops_codes.split(",")
        return adj, [INPUT, *(TABLE_CODES[int(c)] for c in codes), OUTPUT]

    @classmethod
    def from_table_row(cls, adj_upper_bits: str, ops_codes: str | float, num_vertices: int) -> Cell:
        """Builds the (unvalidated) cell of one table row; see :meth:`table_native`."""
        return Cell(*cls.table_native(adj_upper_bits, ops_codes, num_vertices))

    @staticmethod
    def to_table_row(cell: Cell) -> dict[str, object]:
        """Inverse of :meth:`from_table_row` for a pruned, upper-triangular cell."""
        n = cell.num_nodes
        bits = "".join(str(int(b)) for b in cell.adjacency[np.triu_indices(n, 1)])
        codes = ",".join(str(TABLE_CODES.index(op)) for op in cell.ops[1:-1])
        return {"num_vertices": n, "num_edges": cell.num_edges, "adj_upper_bits": bits, "ops": codes}
