"""Tensor encodings of cells for graph models.

Two forms:

* dense: ``ops`` ``(B, N, V)`` one-hot and ``adj`` ``(B, N, N)`` padded to the
  space's ``max_nodes`` with the output node kept last (arch2vec's layout),
  see :meth:`lib.spaces.SearchSpace.encode`;
* sparse: PyTorch Geometric ``Data`` objects (``x`` one-hot, ``edge_index``);
* flat: :func:`adjacency_encoding`, the dense form as one vector per cell.

:func:`nb101_structure_tensors` builds the dense form of all 423,624 NB101
structures straight from the table with NumPy and caches it as ``.npz``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lib.cell import Cell
from lib.data import load_nb101_structures_table
from lib.paths import atomic_target, cache_dir
from lib.spaces import NB101Space, SearchSpace
from lib.spaces.nb101 import TABLE_CODES


def encode_dense(space: SearchSpace, cells: Sequence[Cell]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacks :meth:`SearchSpace.encode` over cells.

    Returns:
        ``(ops, adj)`` float32 tensors of shapes ``(B, N, V)`` and ``(B, N, N)``.
    """
    n, v = space.max_nodes, len(space.vocabulary)
    ops = np.zeros((len(cells), n, v), dtype=np.float32)
    adj = np.zeros((len(cells), n, n), dtype=np.float32)
    for i, cell in enumerate(cells):
        ops[i], adj[i] = space.encode(cell)
    return torch.from_numpy(ops), torch.from_numpy(adj)


def adjacency_encoding(ops: torch.Tensor | np.ndarray, adj: torch.Tensor | np.ndarray) -> np.ndarray:
    """The flat adjacency encoding: one-hot operations row by row, then the strict upper triangle.

    ``adjacency_encoding(*encode_dense(space, cells))`` encodes cells.

    Args:
        ops: ``(B, N, V)`` dense operations.
        adj: ``(B, N, N)`` dense adjacency.

    Returns:
        ``(B, N·V + N(N-1)/2)`` float32 array.
    """
    ops, adj = np.asarray(ops, dtype=np.float32), np.asarray(adj, dtype=np.float32)
    rows, cols = np.triu_indices(adj.shape[-1], 1)
    return np.concatenate([ops.reshape(len(ops), -1), adj[:, rows, cols]], axis=1)


def pool_encoding(space: SearchSpace, cells: Sequence[Cell]) -> tuple[np.ndarray, np.ndarray]:
    """Cells as ``(labels, edges)`` integer arrays for :func:`edit_distances`.

    ``labels`` is ``(B, N)`` with the label index of each slot of the dense
    encoding (``-1`` for padding) and ``edges`` ``(B, N(N-1)/2)`` the upper
    triangle of the padded adjacency.
    """
    ops, adj = encode_dense(space, cells)
    ops, adj = ops.numpy(), adj.numpy()
    labels = np.where(ops.sum(-1) > 0, ops.argmax(-1), -1).astype(np.int8)
    rows, cols = np.triu_indices(space.max_nodes, 1)
    return labels, adj[:, rows, cols].astype(np.int8)


def edit_distances(space: SearchSpace, cell: Cell, encoded: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Edit distance from ``cell`` to every encoded cell: differing node labels plus differing edges.

    Both sides use the dense, padded layout (output node last), so this is the
    number of single edits between the two padded drawings, an upper bound of
    the graph edit distance that is exact for cells of the same size and
    drawing; 0 means the same drawing.
    """
    labels, edges = pool_encoding(space, [cell])
    pool_labels, pool_edges = encoded
    return (pool_labels != labels[0]).sum(1) + (pool_edges != edges[0]).sum(1)


def to_pyg(space: SearchSpace, cell: Cell):
    """One cell as a ``torch_geometric.data.Data`` (unpadded; ``x`` one-hot over the vocabulary)."""
    from torch_geometric.data import Data

    cell = space.validate(cell)
    index = {op: i for i, op in enumerate(space.vocabulary)}
    x = torch.zeros(cell.num_nodes, len(index))
    x[torch.arange(cell.num_nodes), torch.tensor([index[op] for op in cell.ops])] = 1.0
    edge_index = torch.tensor(np.argwhere(cell.adjacency).T.copy(), dtype=torch.long).reshape(2, -1)
    return Data(x=x, edge_index=edge_index, num_nodes=cell.num_nodes)


def to_pyg_batch(space: SearchSpace, cells: Sequence[Cell]):
    """Cells as one ``torch_geometric.data.Batch``."""
    from torch_geometric.data import Batch

    return Batch.from_data_list([to_pyg(space, c) for c in cells])


def dense_to_pyg(ops: torch.Tensor, adj: torch.Tensor):
    """Dense padded batch → ``Batch`` with padding nodes dropped (rows of zeros in ``ops``)."""
    from torch_geometric.data import Batch, Data

    graphs = []
    for o, a in zip(ops, adj):
        keep = o.sum(-1) > 0
        sub = a[keep][:, keep]
        graphs.append(Data(x=o[keep], edge_index=sub.nonzero().T.contiguous(), num_nodes=int(keep.sum())))
    return Batch.from_data_list(graphs)


_NB101_VOCAB_INDEX = {code: NB101Space().vocabulary.index(op) for code, op in enumerate(TABLE_CODES)}


def nb101_structure_tensors(*, use_cache: bool = True) -> dict[str, np.ndarray]:
    """Dense encodings of every NB101 structure, in table order, cached as ``.npz``.

    Returns:
        ``{"ops": (M, 7) int8 vocabulary indices (-1 for padding),
        "adj": (M, 7, 7) int8, "hash": (M,) str}``; the output node is
        always index 6, as :meth:`SearchSpace.encode` lays it out. Use
        :func:`one_hot_ops` for the one-hot form.
    """
    path = cache_dir() / "nb101_structures_v1.npz"
    if use_cache and path.exists():
        with np.load(path, allow_pickle=False) as cached:
            return {k: cached[k] for k in cached.files}
    table = load_nb101_structures_table()
    m, size = len(table), NB101Space.max_nodes
    vocab = NB101Space().vocabulary
    ops = np.full((m, size), -1, dtype=np.int8)
    adj = np.zeros((m, size, size), dtype=np.int8)
    nv = table["num_vertices"].to_numpy()
    bits = table["adj_upper_bits"].astype(str).to_numpy()
    codes = table["ops"].fillna("").astype(str).to_numpy()
    for n in np.unique(nv):
        rows = np.flatnonzero(nv == n)
        slots = np.array(list(range(n - 1)) + [size - 1])
        width = n * (n - 1) // 2
        flat = np.frombuffer("".join(s.zfill(width) for s in bits[rows]).encode(), dtype=np.uint8) - ord("0")
        flat = flat.reshape(len(rows), width).astype(np.int8)
        iu, ju = np.triu_indices(n, 1)
        adj[rows[:, None], slots[iu][None, :], slots[ju][None, :]] = flat
        ops[rows, 0] = vocab.index("input")
        ops[rows, size - 1] = vocab.index("output")
        if n > 2:
            interior = np.frombuffer("".join(s.replace(",", "") for s in codes[rows]).encode(), dtype=np.uint8)
            interior = (interior - ord("0")).reshape(len(rows), n - 2)
            lookup = np.array([_NB101_VOCAB_INDEX[c] for c in range(len(TABLE_CODES))], dtype=np.int8)
            ops[rows, 1 : n - 1] = lookup[interior]
    result = {"ops": ops, "adj": adj, "hash": table["hash"].to_numpy().astype(str)}
    if use_cache:
        with atomic_target(path, suffix=".npz") as tmp:
            np.savez(tmp, **result)
    return result


def one_hot_ops(ops_index: np.ndarray, vocabulary_size: int) -> torch.Tensor:
    """``(..., N)`` int vocabulary indices (-1 = padding) → ``(..., N, V)`` float32 one-hot."""
    index = torch.as_tensor(ops_index, dtype=torch.long)
    out = torch.zeros(*index.shape, vocabulary_size)
    mask = index >= 0
    out[mask] = torch.nn.functional.one_hot(index[mask], vocabulary_size).float()
    return out
