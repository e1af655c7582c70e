"""NAS-Bench-201 / NATS-Bench topology space (Dong & Yang, 2020).

A cell has 4 nodes joined by 6 edges, each edge carrying one of 5 operations;
the native form is the official arch string, e.g.
``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|``.

Graph VAEs use the usual 8-node node-operation form: input, one node per
edge in the arch string's order ``(0→1), (0→2), (1→2), (0→3), (1→3), (2→3)``,
output. The edge node ``a→b`` feeds every edge node leaving ``b``; the input
feeds the edges leaving node 0 and the edges entering node 3 feed the output.
``none`` edges stay as nodes labelled ``none`` so the form is fixed and the
conversion lossless; :meth:`NB201Space.functional_key` drops them to tell
functionally identical cells apart.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import networkx as nx
import numpy as np

from lib.cell import INPUT, OUTPUT, Cell
from lib.errors import InvalidCellError
from lib.spaces.base import SearchSpace

OPERATIONS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""Edges of the 4-node cell in arch-string order, as (source, target)."""

_TOKEN = re.compile(r"^([a-z0-9_]+)~(\d+)$")


def _template() -> np.ndarray:
    adj = np.zeros((8, 8), dtype=np.int8)
    for k, (src, dst) in enumerate(EDGES, start=1):
        if src == 0:
            adj[0, k] = 1
        if dst == 3:
            adj[k, 7] = 1
        for m, (src2, _) in enumerate(EDGES, start=1):
            if src2 == dst:
                adj[k, m] = 1
    return adj


TEMPLATE = _template()
"""The fixed 8×8 adjacency of the node-operation form."""


def parse_arch_str(arch_str: str) -> list[str]:
    """Returns the 6 edge operations of an arch string, in :data:`EDGES` order.

    Raises:
        InvalidCellError: The string is not a NAS-Bench-201 arch string.
    """
    parts = str(arch_str).strip().split("+")
    hint = "expected e.g. '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|'"
    if len(parts) != 3:
        raise InvalidCellError(f"{arch_str!r} is not an NB201 arch string: {hint}")
    ops = []
    for target, part in enumerate(parts, start=1):
        tokens = [t for t in part.split("|") if t]
        if len(tokens) != target:
            raise InvalidCellError(f"{arch_str!r}: node {target} needs {target} inputs; {hint}")
        for source, token in enumerate(tokens):
            match = _TOKEN.match(token)
            if not match or int(match.group(2)) != source:
                raise InvalidCellError(f"{arch_str!r}: bad token {token!r}; {hint}")
            if match.group(1) not in OPERATIONS:
                raise InvalidCellError(
                    f"{arch_str!r}: unknown operation {match.group(1)!r}; NB201 uses {list(OPERATIONS)}"
                )
            ops.append(match.group(1))
    return ops


def format_arch_str(ops: list[str]) -> str:
    """Inverse of :func:`parse_arch_str`."""
    tokens = [f"{op}~{src}" for op, (src, _) in zip(ops, EDGES)]
    return "|" + "|+|".join(["|".join(tokens[0:1]), "|".join(tokens[1:3]), "|".join(tokens[3:6])]) + "|"


class NB201Space(SearchSpace):
    """The 15,625 cells of NAS-Bench-201, in the 8-node node-operation form."""

    name = "nb201"
    operations = OPERATIONS
    max_nodes = 8

    def from_native(self, native: str) -> Cell:
        """Builds the 8-node cell of an arch string."""
        ops = parse_arch_str(native)
        return Cell(TEMPLATE, [INPUT, *ops, OUTPUT])

    def to_native(self, cell: Cell) -> str:
        """Returns the arch string of a cell (any node numbering of the 8-node form)."""
        return format_arch_str(list(self.validate(cell).ops[1:-1]))

    def validate(self, cell: Cell) -> Cell:
        """Brings the cell into the standard 8-node numbering.

        Raises:
            InvalidCellError: Unknown operation or a graph that is not the NB201 form.
        """
        unknown = set(cell.ops[1:-1]) - set(OPERATIONS)
        if unknown:
            raise InvalidCellError(f"NB201 cells use {list(OPERATIONS)}; unknown operation(s) {sorted(unknown)}")
        if cell.num_nodes != 8:
            raise InvalidCellError(f"NB201 cells have 8 nodes in node-operation form, got {cell.num_nodes}")
        if np.array_equal(cell.adjacency, TEMPLATE):
            return cell
        matcher = nx.isomorphism.DiGraphMatcher(
            nx.DiGraph(TEMPLATE.astype(int)), nx.DiGraph(np.asarray(cell.adjacency, dtype=int))
        )
        mapping = next(matcher.isomorphisms_iter(), None)
        if mapping is None:
            raise InvalidCellError("the graph is not the NB201 8-node form (edges do not match the cell template)")
        return cell.permute([mapping[k] for k in range(8)])

    def key(self, cell: Cell) -> str:
        """The arch string (the benchmark indexes every one of the 15,625)."""
        return self.to_native(cell)

    def functional_key(self, cell: Cell) -> str:
        """Hash of the cell with ``none`` edges removed and dead nodes pruned.

        Cells with the same functional key compute the same function up to
        weights (e.g. differing only on edges that lead nowhere). Cells whose
        input and output are disconnected all share the key ``"disconnected"``.
        """
        cell = self.validate(cell)
        keep = [i for i, op in enumerate(cell.ops) if op != "none"]
        sub = Cell(cell.adjacency[np.ix_(keep, keep)], [cell.ops[i] for i in keep])
        try:
            return sub.prune().fingerprint()
        except InvalidCellError:
            return "disconnected"

    def sample(self, rng: np.random.Generator) -> Cell:
        return self.from_native(format_arch_str(rng.choice(OPERATIONS, size=6).tolist()))

    def neighbours(self, cell: Cell) -> list[Cell]:
        """The 24 cells that differ on exactly one edge."""
        ops = list(self.validate(cell).ops[1:-1])
        result = []
        for k, op in itertools.product(range(6), OPERATIONS):
            if op != ops[k]:
                new = list(ops)
                new[k] = op
                result.append(Cell(TEMPLATE, [INPUT, *new, OUTPUT]))
        return result

    def enumerate(self) -> Iterator[Cell]:
        """All 15,625 cells, in NAS-Bench-201 index order."""
        for ops in itertools.product(OPERATIONS, repeat=6):
            yield Cell(TEMPLATE, [INPUT, *ops, OUTPUT])
