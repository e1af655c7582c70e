"""Dense and PyG encodings, and the cached NB101 structure tensors."""

import numpy as np
import pytest
import torch

from lib.encoding import dense_to_pyg, encode_dense, nb101_structure_tensors, one_hot_ops, to_pyg, to_pyg_batch
from lib.spaces import DartsSpace, NB101Space, NB201Space, NBGraphSpace

from conftest import needs_nb101_all


@pytest.mark.parametrize("space", [NB101Space(), NB201Space(), NBGraphSpace(), DartsSpace()], ids=lambda s: s.name)
def test_dense_and_pyg_agree(space):
    rng = np.random.default_rng(0)
    cells = [space.sample(rng) for _ in range(5)]
    ops, adj = encode_dense(space, cells)
    assert ops.shape == (5, space.max_nodes, len(space.vocabulary)) and adj.shape == (5, space.max_nodes, space.max_nodes)
    batch = to_pyg_batch(space, cells)
    assert batch.num_graphs == 5
    assert batch.num_edges == int(adj.sum())
    assert batch.num_nodes == int(ops.sum())
    again = dense_to_pyg(ops, adj)
    assert torch.equal(again.x, batch.x) and torch.equal(again.edge_index, batch.edge_index)


def test_pyg_edges_follow_the_adjacency():
    space = NB101Space()
    cell = space.from_native(([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"]))
    data = to_pyg(space, cell)
    assert data.edge_index.tolist() == [[0, 0, 1], [1, 2, 2]]
    assert data.x.argmax(1).tolist() == [0, 3, 4]


def test_one_hot_ops_marks_padding_as_zero_rows():
    out = one_hot_ops(np.array([[0, 2, -1, 4]]), 5)
    assert out.shape == (1, 4, 5)
    assert out[0, 2].sum() == 0 and out[0, 1, 2] == 1 and out[0, 3, 4] == 1


@needs_nb101_all
def test_nb101_structure_tensors_match_cell_encoding(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path))
    from lib.data import load_nb101_structures_table

    arrays = nb101_structure_tensors()
    assert (tmp_path / "cache" / "nb101_structures_v1.npz").exists()
    assert arrays["ops"].shape == (423624, 7) and arrays["adj"].shape == (423624, 7, 7)
    table = load_nb101_structures_table()
    space = NB101Space()
    for i in np.random.default_rng(0).integers(0, len(table), 200).tolist() + [0]:
        row = table.iloc[i]
        ops, adj = space.encode(space.from_table_row(row.adj_upper_bits, row.ops, row.num_vertices))
        assert np.array_equal(adj, arrays["adj"][i])
        present = ops.max(1) > 0
        assert np.array_equal(ops[present].argmax(1), arrays["ops"][i][arrays["ops"][i] >= 0])
        assert arrays["hash"][i] == row.hash
    cached = nb101_structure_tensors()
    assert np.array_equal(cached["adj"], arrays["adj"])
