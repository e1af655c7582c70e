"""NAS-Bench-101: cells of at most 7 nodes and 9 edges (Ying et al., 2019).

Native form: ``(matrix, ops)`` as in the benchmark's ``ModelSpec``, with ops
``"input"``, ``"conv3x3-bn-relu"``, ``"conv1x1-bn-relu"``, ``"maxpool3x3"``,
``"output"``. Cells are pruned to the nodes on an input→output path before
they are checked and hashed, as the benchmark does; the key is the
benchmark's own module hash.
"""

from __future__ import annotations

from collections.abc import Sequence
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

    def spec(self, cell: Cell, rng: np.random.Generator | None = None) -> Cell:
        """The unpruned 7-node drawing (``ModelSpec.original_matrix``) that moves operate on.

        A cell that already has 7 upper-triangular nodes is returned as it is
        (it may carry dangling nodes or edges from earlier moves, which later
        moves can connect). A smaller, pruned cell is padded with dangling
        nodes placed before the output; their operations are drawn with
        ``rng`` (``conv3x3-bn-relu`` without one).
        """
        if cell.num_nodes > MAX_VERTICES:
            cell = self.validate(cell)
        if not cell.is_upper_triangular():
            cell = cell.permute(cell.topological_order())
        n = cell.num_nodes
        if n == MAX_VERTICES:
            return cell
        adj = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int8)
        adj[: n - 1, : n - 1] = cell.adjacency[: n - 1, : n - 1]
        adj[: n - 1, -1] = cell.adjacency[: n - 1, -1]
        pad = MAX_VERTICES - n
        extra = [CONV3X3] * pad if rng is None else rng.choice(self.operations, size=pad).tolist()
        return Cell(adj, [*cell.ops[:-1], *extra, OUTPUT])

    def neighbours(self, cell: Cell) -> list[Cell]:
        """Valid cells one edit of the unpruned 7-node spec away (NASLib's ``get_nbhd``).

        Each interior operation changed, each of the 21 upper-triangular edges
        flipped, on :meth:`spec`; the candidates are returned *unpruned*, so a
        later move can connect a dangling node (cells grow as well as shrink).
        One per architecture, the cell's own architecture excluded.
        """
        spec = self.spec(cell)
        own = self.key(spec)
        candidates = []
        for v in range(1, MAX_VERTICES - 1):
            for op in self.operations:
                if op != spec.ops[v]:
                    ops = list(spec.ops)
                    ops[v] = op
                    candidates.append((spec.adjacency, ops))
        for i, j in zip(*np.triu_indices(MAX_VERTICES, 1)):
            adj = np.array(spec.adjacency)
            adj[i, j] = 1 - adj[i, j]
            candidates.append((adj, spec.ops))
        found: dict[str, Cell] = {}
        for adj, ops in candidates:
            candidate = Cell(adj, ops)
            try:
                key = self.key(candidate)
            except InvalidCellError:
                continue
            if key != own:
                found.setdefault(key, candidate)
        return list(found.values())

    def mutate(self, cell: Cell, rng: np.random.Generator, *, max_tries: int = 1000) -> Cell:
        """The official API's mutation (``mutate_spec`` of the NAS-Bench-101 tutorial, mutation rate 1).

        On the unpruned :meth:`spec`, each of the 21 edges flips with
        probability 1/7 and each of the 5 interior operations changes with
        probability 1/5, redrawn until the result is a valid cell of another
        architecture. Returned unpruned, like :meth:`neighbours`.

        Raises:
            InvalidCellError: No valid, different cell in ``max_tries`` draws.
        """
        spec = self.spec(cell, rng)
        own = self.key(spec)
        rows, cols = np.triu_indices(MAX_VERTICES, 1)
        for _ in range(max_tries):
            adj = np.array(spec.adjacency)
            flips = rng.random(len(rows)) < 1.0 / MAX_VERTICES
            adj[rows[flips], cols[flips]] = 1 - adj[rows[flips], cols[flips]]
            ops = list(spec.ops)
            for v in range(1, MAX_VERTICES - 1):
                if rng.random() < 1.0 / (MAX_VERTICES - 2):
                    others = [op for op in self.operations if op != ops[v]]
                    ops[v] = others[int(rng.integers(len(others)))]
            candidate = Cell(adj, ops)
            try:
                if self.key(candidate) != own:
                    return candidate
            except InvalidCellError:
                continue
        raise InvalidCellError(f"no valid mutation of {cell!r} in {max_tries} draws")

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

    def pretraining_tensors(self, num_cells: int | None = None, seed: int = 0):
        """All 423,624 structures in table order (:func:`lib.encoding.nb101_structure_tensors`), the first ``num_cells`` if given."""
        import torch

        from lib.encoding import nb101_structure_tensors, one_hot_ops

        raw = nb101_structure_tensors()
        ops, adj = one_hot_ops(raw["ops"], len(self.vocabulary)), torch.from_numpy(raw["adj"].astype(np.float32))
        return (ops, adj) if num_cells is None else (ops[:num_cells], adj[:num_cells])
