"""NAS-Bench-Graph: GNN cells of 4 message-passing layers (Qin et al., NeurIPS 2022).

Native form: ``(link, ops)`` as in the ``nas_bench_graph`` package: ``ops[i]``
is one of 9 GNN operations and ``link[i]`` the input of layer ``i`` (0 is the
cell input, ``j`` the output of layer ``j``). Layers whose output nobody
consumes are aggregated into the cell output. The node-operation form has 6
nodes: input, the 4 layers in order, output.

The benchmark identifies an architecture by the package's ``valid_hash``,
which folds together links that are the same graph and skip connections that
change nothing; :meth:`NBGraphSpace.key` uses it, so two drawings of one
architecture query the same measurement.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial

import numpy as np

from lib.cell import INPUT, OUTPUT, Cell
from lib.errors import InvalidCellError
from lib.spaces.base import SearchSpace

OPERATIONS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
"""The package's ``gnn_list``, in its order (hash digits 0..8)."""
PROTEINS_OPERATIONS = ("gcn", "sage", "arma", "fc", "skip")
"""The reduced operation set measured on the ``proteins`` dataset."""
LINKS = (
    (0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3),
    (0, 1, 1, 1), (0, 1, 1, 2), (0, 1, 2, 2), (0, 1, 2, 3),
)  # fmt: skip
"""The package's 9 canonical link patterns (hash digit 0..8)."""
NUM_LAYERS = 4


def link_ops_to_cell(link: Sequence[int], ops: Sequence[str]) -> Cell:
    """Builds the 6-node cell of ``(link, ops)`` without checking membership."""
    if len(link) != NUM_LAYERS or len(ops) != NUM_LAYERS:
        raise InvalidCellError(f"NAS-Bench-Graph cells have {NUM_LAYERS} layers; got link={link}, ops={ops}")
    adj = np.zeros((NUM_LAYERS + 2, NUM_LAYERS + 2), dtype=np.int8)
    for layer, src in enumerate(link, start=1):
        src = int(src)
        if not 0 <= src < layer:
            raise InvalidCellError(
                f"link {list(link)}: layer {layer} reads {src}, but may only read the input (0) or an earlier layer"
            )
        adj[src, layer] = 1
    for layer in range(1, NUM_LAYERS + 1):
        if not adj[layer, 1 : NUM_LAYERS + 1].any():
            adj[layer, NUM_LAYERS + 1] = 1
    return Cell(adj, [INPUT, *ops, OUTPUT])


class NBGraphSpace(SearchSpace):
    """The 26,206 NAS-Bench-Graph architectures (2,021 on ``proteins``).

    Args:
        operations: The operation set; :data:`PROTEINS_OPERATIONS` for ``proteins``.
    """

    name = "nbgraph"
    max_nodes = NUM_LAYERS + 2

    def __init__(self, operations: Sequence[str] = OPERATIONS):
        unknown = set(operations) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"unknown NAS-Bench-Graph operation(s) {sorted(unknown)}")
        self.operations = tuple(operations)

    def from_native(self, native: tuple[Sequence[int], Sequence[str]]) -> Cell:
        link, ops = native
        return self.validate(link_ops_to_cell(link, ops))

    def to_native(self, cell: Cell) -> tuple[list[int], list[str]]:
        """Returns ``(link, ops)`` with layers in topological order."""
        cell = self.validate(cell)
        return self._link_ops(cell)

    @staticmethod
    def _link_ops(cell: Cell) -> tuple[list[int], list[str]]:
        order = cell.topological_order()
        layers = [v for v in order if 0 < v < cell.num_nodes - 1]
        position = {0: 0, **{v: k for k, v in enumerate(layers, start=1)}}
        link = [position[int(np.flatnonzero(cell.adjacency[:, v])[0])] for v in layers]
        return link, [cell.ops[v] for v in layers]

    def validate(self, cell: Cell) -> Cell:
        """Checks the layer structure and returns the cell in topological numbering.

        Raises:
            InvalidCellError: Wrong node count, unknown operation, a layer
                without exactly one input, an output fed by a layer that is
                also consumed, or a cell made only of skip connections.
        """
        if cell.num_nodes != NUM_LAYERS + 2:
            raise InvalidCellError(
                f"NAS-Bench-Graph cells have {NUM_LAYERS} layers ({NUM_LAYERS + 2} nodes), got {cell.num_nodes} nodes"
            )
        unknown = set(cell.ops[1:-1]) - set(self.operations)
        if unknown:
            raise InvalidCellError(
                f"operation(s) {sorted(unknown)} not in this NAS-Bench-Graph space {list(self.operations)}"
            )
        adj = cell.adjacency
        out = cell.num_nodes - 1
        for v in range(1, out):
            if adj[:out, v].sum() != 1:
                raise InvalidCellError(f"layer node {v} must have exactly one input, has {int(adj[:out, v].sum())}")
            consumed = adj[v, 1:out].any()
            if bool(adj[v, out]) == bool(consumed):
                raise InvalidCellError(
                    f"layer node {v}: a layer feeds the output exactly when no other layer reads it"
                )
        if adj[0, out]:
            raise InvalidCellError("the input cannot feed the output directly")
        if all(op == "skip" for op in cell.ops[1:-1]):
            raise InvalidCellError("a cell of only skip connections is not in NAS-Bench-Graph")
        if cell.is_upper_triangular():
            # Already in topological numbering: the checks above make the
            # rebuild below give back this very adjacency and labels.
            return cell
        link, ops = self._link_ops(cell)
        return link_ops_to_cell(link, ops)

    def key(self, cell: Cell) -> str:
        """The package's ``valid_hash`` (as a string), the benchmark's row key."""
        from nas_bench_graph import Arch

        link, ops = self.to_native(cell)
        return str(Arch(list(link), list(ops)).valid_hash())

    def sample(self, rng: np.random.Generator) -> Cell:
        """Uniform link pattern and operations (the package's ``random_arch``), redrawn if all skips."""
        while True:
            link = LINKS[int(rng.integers(len(LINKS)))]
            ops = rng.choice(self.operations, size=NUM_LAYERS).tolist()
            if any(op != "skip" for op in ops):
                return link_ops_to_cell(link, ops)

    def neighbours(self, cell: Cell) -> list[Cell]:
        """Cells with one layer's operation or one layer's input changed, deduplicated by key."""
        link, ops = self.to_native(cell)
        candidates = []
        for i in range(NUM_LAYERS):
            for op in self.operations:
                if op != ops[i]:
                    candidates.append(partial(link_ops_to_cell, link, ops[:i] + [op] + ops[i + 1 :]))
            for src in range(i + 1):
                if src != link[i]:
                    candidates.append(partial(link_ops_to_cell, link[:i] + [src] + link[i + 1 :], ops))
        return self._distinct_valid(cell, candidates)

    @staticmethod
    def decode_key(key: int | str) -> tuple[list[int], list[str]]:
        """Inverts the package's ``hash_arch``: key → ``(link, ops)`` (base-10 digits)."""
        value = int(key)
        digits = []
        for _ in range(NUM_LAYERS):
            value, digit = divmod(value, len(OPERATIONS) + 1)
            digits.append(digit)
        if not 0 <= value < len(LINKS) or any(d >= len(OPERATIONS) for d in digits):
            raise InvalidCellError(f"{key} is not a NAS-Bench-Graph architecture key")
        return list(LINKS[value]), [OPERATIONS[d] for d in reversed(digits)]

    def pretraining_tensors(self, num_cells: int | None = None, seed: int = 0):
        """The benchmark's architectures in table order: 26,206 with the full operation set (every
        dataset's table but ``proteins``), 2,021 with a reduced set (``proteins``'); the first ``num_cells`` if given."""
        from lib.benchmark import load_benchmark
        from lib.encoding import encode_dense

        dataset = "cora" if set(self.operations) == set(OPERATIONS) else "proteins"
        ops, adj = encode_dense(self, load_benchmark("nbgraph", dataset).cells())
        return (ops, adj) if num_cells is None else (ops[:num_cells], adj[:num_cells])

    def enumerate(self) -> Iterator[Cell]:
        """Every (link pattern, ops) drawing; several drawings can share one key."""
        import itertools

        for link in LINKS:
            for ops in itertools.product(self.operations, repeat=NUM_LAYERS):
                if any(op != "skip" for op in ops):
                    yield link_ops_to_cell(link, list(ops))
