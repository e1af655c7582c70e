"""The Cell value object and its isomorphism-invariant hash."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.cell import Cell, wl_hash
from lib.errors import InvalidCellError

OPS = ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]


@st.composite
def dags(draw, max_nodes=7):
    n = draw(st.integers(3, max_nodes))
    bits = draw(st.lists(st.integers(0, 1), min_size=n * (n - 1) // 2, max_size=n * (n - 1) // 2))
    adj = np.zeros((n, n), dtype=np.int8)
    adj[np.triu_indices(n, 1)] = bits
    ops = ["input"] + [draw(st.sampled_from(OPS)) for _ in range(n - 2)] + ["output"]
    return Cell(adj, ops)


@given(dags(), st.randoms(use_true_random=False))
@settings(max_examples=150, deadline=None)
def test_fingerprint_invariant_under_node_permutation(cell, random):
    interior = list(range(1, cell.num_nodes - 1))
    random.shuffle(interior)
    permuted = cell.permute([0, *interior, cell.num_nodes - 1])
    assert permuted.fingerprint() == cell.fingerprint()
    assert permuted == cell


def test_non_isomorphic_cells_differ():
    chain = Cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"])
    skip = Cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"])
    relabel = Cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv1x1-bn-relu", "output"])
    assert len({chain.fingerprint(), skip.fingerprint(), relabel.fingerprint()}) == 3


def test_hash_of_mirror_diamond_is_shared_but_labels_matter():
    a = Cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", OPS[0], OPS[1], "output"])
    b = Cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", OPS[1], OPS[0], "output"])
    c = Cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", OPS[0], OPS[0], "output"])
    assert a == b and a != c


def test_wl_hash_matches_known_nb101_module_hash():
    # The 2-node cell input->output of NAS-Bench-101 (first row of the shared structures table).
    assert wl_hash(np.array([[0, 1], [0, 0]]), [-1, -2]) == "043721b9c7fe8c5fad811d47d83132ec"


@pytest.mark.parametrize(
    "adj, ops, message",
    [
        ([[0, 1], [1, 0]], ["input", "output"], "cycle"),
        ([[1, 1], [0, 0]], ["input", "output"], "self loops"),
        ([[0, 2], [0, 0]], ["input", "output"], "0 or 1"),
        ([[0, 1], [0, 0]], ["input", "x", "output"], "3 operations"),
        ([[0, 1], [0, 0]], ["output", "input"], "node 0 must be"),
        ([[0, 1, 0]], ["input", "output"], "square"),
    ],
)
def test_invalid_cells_name_the_problem(adj, ops, message):
    with pytest.raises(InvalidCellError, match=message):
        Cell(adj, ops)


def test_prune_removes_dead_nodes_and_detects_disconnection():
    adj = np.zeros((5, 5), dtype=int)
    adj[0, 1] = adj[1, 4] = adj[0, 2] = adj[3, 4] = 1  # node 2 leads nowhere, node 3 is unreachable
    pruned = Cell(adj, ["input", OPS[0], OPS[1], OPS[2], "output"]).prune()
    assert pruned.ops == ("input", OPS[0], "output") and pruned.num_edges == 2
    with pytest.raises(InvalidCellError, match="not reachable"):
        Cell([[0, 0, 0], [0, 0, 1], [0, 0, 0]], ["input", OPS[0], "output"]).prune()


def test_cell_is_immutable():
    cell = Cell([[0, 1], [0, 0]], ["input", "output"])
    with pytest.raises(ValueError):
        cell.adjacency[0, 1] = 0
