"""The DARTS cell space (Liu et al., ICLR 2019): structure only, no accuracies.

A DARTS cell has two inputs (the outputs of the two previous cells,
``c_{k-2}`` and ``c_{k-1}``) and four intermediate nodes; intermediate node
``k`` sums two operations applied to two distinct earlier nodes, and the cell
output concatenates the four intermediate nodes. A network has a normal and a
reduction cell. Native form of one cell: the genotype's list of 8
``(operation, input)`` pairs, two per intermediate node, where input 0 is
``c_{k-2}``, 1 is ``c_{k-1}`` and ``2 + m`` is intermediate node ``m``.

Node-operation form (arch2vec's 11 nodes): ``c_{k-2}`` (``"input"``),
``c_{k-1}`` (``"input_1"``), the 8 operations in genotype order, output. The
operation node of pair ``p`` reads ``c_{k-2}``/``c_{k-1}`` directly or both
operation nodes of the intermediate node it reads; every operation node feeds
the output. Positions fix which two operation nodes form an intermediate
node, which keeps the conversion lossless.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from lib.cell import INPUT, OUTPUT, Cell
from lib.errors import InvalidCellError
from lib.spaces.base import SearchSpace

OPERATIONS = (
    "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
    "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)  # fmt: skip
"""DARTS primitives without ``none`` (a derived genotype never holds ``none``)."""
SECOND_INPUT = "input_1"
NUM_INTERMEDIATE = 4
NUM_NODES = 2 + 2 * NUM_INTERMEDIATE + 1

Genotype = list[tuple[str, int]]


class DartsSpace(SearchSpace):
    """One DARTS cell (normal or reduction) in the 11-node form."""

    name = "darts"
    operations = (SECOND_INPUT, *OPERATIONS)
    max_nodes = NUM_NODES

    def from_native(self, native: Sequence[tuple[str, int]]) -> Cell:
        """Builds the 11-node cell of a genotype's 8 ``(op, input)`` pairs."""
        return self._build(self._check_pairs(native))

    @staticmethod
    def _build(pairs: Genotype) -> Cell:
        adj = np.zeros((NUM_NODES, NUM_NODES), dtype=np.int8)
        for p, (_, src) in enumerate(pairs):
            node = 2 + p
            if src < 2:
                adj[src, node] = 1
            else:
                adj[2 + 2 * (src - 2), node] = 1
                adj[3 + 2 * (src - 2), node] = 1
            adj[node, NUM_NODES - 1] = 1
        return Cell(adj, [INPUT, SECOND_INPUT, *(op for op, _ in pairs), OUTPUT])

    def to_native(self, cell: Cell) -> Genotype:
        """Returns the 8 ``(op, input)`` pairs of a cell in the standard numbering."""
        cell = self.validate(cell)
        pairs = []
        for p in range(2 * NUM_INTERMEDIATE):
            node = 2 + p
            preds = np.flatnonzero(cell.adjacency[:, node]).tolist()
            src = preds[0] if preds[0] < 2 else 2 + (preds[0] - 2) // 2
            pairs.append((cell.ops[node], int(src)))
        return pairs

    def validate(self, cell: Cell) -> Cell:
        """Checks the cell is an 11-node DARTS cell in the standard numbering.

        Raises:
            InvalidCellError: Wrong size or labels, or edges that no genotype produces.
        """
        if cell.num_nodes != NUM_NODES:
            raise InvalidCellError(f"DARTS cells have {NUM_NODES} nodes in node form, got {cell.num_nodes}")
        if cell.ops[1] != SECOND_INPUT:
            raise InvalidCellError(f"node 1 of a DARTS cell must be {SECOND_INPUT!r} (the c_(k-1) input)")
        unknown = set(cell.ops[2:-1]) - set(OPERATIONS)
        if unknown:
            raise InvalidCellError(f"DARTS cells use {list(OPERATIONS)}; unknown operation(s) {sorted(unknown)}")
        pairs = []
        adj = cell.adjacency
        for p in range(2 * NUM_INTERMEDIATE):
            node = 2 + p
            preds = tuple(np.flatnonzero(adj[:, node]).tolist())
            sources = {(0,): 0, (1,): 1, **{(2 + 2 * m, 3 + 2 * m): 2 + m for m in range(p // 2)}}
            if preds not in sources:
                raise InvalidCellError(
                    f"operation node {node} reads nodes {list(preds)}: it must read c_(k-2), c_(k-1) "
                    "or both operation nodes of one earlier intermediate node"
                )
            pairs.append((cell.ops[node], sources[preds]))
        if not np.array_equal(self._build(pairs).adjacency, adj):
            raise InvalidCellError("the cell's edges to the output do not match the DARTS form")
        return self.from_native(pairs)

    def _check_pairs(self, native: Sequence[tuple[str, int]]) -> Genotype:
        pairs = [(str(op), int(src)) for op, src in native]
        if len(pairs) != 2 * NUM_INTERMEDIATE:
            raise InvalidCellError(f"a DARTS cell has {2 * NUM_INTERMEDIATE} (op, input) pairs, got {len(pairs)}")
        for p, (op, src) in enumerate(pairs):
            if op not in OPERATIONS:
                raise InvalidCellError(f"unknown DARTS operation {op!r}; use one of {list(OPERATIONS)}")
            if not 0 <= src < 2 + p // 2:
                raise InvalidCellError(f"pair {p} ({op}, {src}): intermediate node {p // 2} may read inputs 0..{1 + p // 2}")
        for k in range(NUM_INTERMEDIATE):
            a, b = pairs[2 * k], pairs[2 * k + 1]
            if a[1] == b[1]:
                raise InvalidCellError(f"intermediate node {k} reads input {a[1]} twice; its two inputs must differ")
            if (a[1], a[0]) > (b[1], b[0]):
                pairs[2 * k], pairs[2 * k + 1] = b, a
        return pairs

    def key(self, cell: Cell) -> str:
        """Canonical genotype text, e.g. ``"sep_conv_3x3~0|skip_connect~1|..."``."""
        return "|".join(f"{op}~{src}" for op, src in self.to_native(cell))

    def sample(self, rng: np.random.Generator) -> Cell:
        """Two distinct inputs and two uniform operations per intermediate node."""
        pairs = []
        for k in range(NUM_INTERMEDIATE):
            inputs = rng.choice(k + 2, size=2, replace=False)
            ops = rng.choice(OPERATIONS, size=2)
            pairs += [(str(ops[0]), int(inputs[0])), (str(ops[1]), int(inputs[1]))]
        return self.from_native(pairs)

    def neighbours(self, cell: Cell) -> list[Cell]:
        """Cells with one operation or one input of one pair changed."""
        pairs = self.to_native(cell)
        candidates = []
        for p, (op, src) in enumerate(pairs):
            options = [(o, src) for o in OPERATIONS if o != op]
            options += [(op, s) for s in range(2 + p // 2) if s != src]
            candidates += [partial(self.from_native, pairs[:p] + [option] + pairs[p + 1 :]) for option in options]
        return self._distinct_valid(cell, candidates)

    def sample_genotype(self, rng: np.random.Generator) -> dict[str, Genotype]:
        """A full network genotype: ``{"normal": pairs, "reduce": pairs}``."""
        return {"normal": self.to_native(self.sample(rng)), "reduce": self.to_native(self.sample(rng))}

    def pretraining_tensors(self, num_cells: int | None = None, seed: int = 0):
        """``num_cells`` cells (600,000 by default, as arch2vec) drawn uniformly with ``seed``.

        The draw is cached as ``.npz`` under the cache folder (sampling 600k takes minutes).
        """
        import torch

        from lib.encoding import encode_dense, one_hot_ops
        from lib.paths import atomic_target, cache_dir

        num_cells = num_cells or 600_000
        path = cache_dir() / f"darts_sample_{num_cells}_{seed}.npz"
        if path.exists():
            with np.load(path) as cached:
                index, adj = cached["ops"], cached["adj"]
        else:
            rng = np.random.default_rng(seed)
            ops, adj_t = encode_dense(self, [self.sample(rng) for _ in range(num_cells)])
            index = np.where(ops.sum(-1).numpy() > 0, ops.argmax(-1).numpy(), -1).astype(np.int8)
            adj = adj_t.numpy().astype(np.int8)
            with atomic_target(path, suffix=".npz") as tmp:
                np.savez(tmp, ops=index, adj=adj)
        return one_hot_ops(index, len(self.vocabulary)), torch.from_numpy(adj.astype(np.float32))
