"""Search spaces: lossless native round trips, validity rules, neighbours, encodings."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.cell import Cell
from lib.errors import InvalidCellError
from lib.spaces import DartsSpace, NB101Space, NB201Space, NBGraphSpace
from lib.spaces.nb201 import format_arch_str, parse_arch_str

SPACES = [NB101Space(), NB201Space(), NBGraphSpace(), DartsSpace()]
seeds = st.integers(0, 2**32 - 1)


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
@given(seed=seeds)
@settings(max_examples=40, deadline=None)
def test_native_round_trip_and_encoding(space, seed):
    rng = np.random.default_rng(seed)
    cell = space.sample(rng)
    native = space.to_native(cell)
    again = space.from_native(native)
    assert space.key(again) == space.key(cell)
    assert repr(space.to_native(again)) == repr(native)
    ops, adj = space.encode(cell)
    assert ops.shape == (space.max_nodes, len(space.vocabulary))
    assert adj.shape == (space.max_nodes, space.max_nodes)
    assert ops[-1, space.vocabulary.index("output")] == 1
    assert space.key(space.decode(ops, adj)) == space.key(cell)


@pytest.mark.parametrize("space", [s for s in SPACES if s.name != "darts"], ids=lambda s: s.name)
@given(seed=seeds)
@settings(max_examples=15, deadline=None)
def test_key_invariant_under_renumbering(space, seed):
    # DARTS cells are positional (numbering says which operations form an intermediate node);
    # their invariance is the swap within a pair, tested with the genotype round trip.
    rng = np.random.default_rng(seed)
    cell = space.sample(rng)
    interior = list(range(1, cell.num_nodes - 1))
    rng.shuffle(interior)
    permuted = cell.permute([0, *interior, cell.num_nodes - 1])
    assert space.key(permuted) == space.key(cell)


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_neighbours_are_valid_distinct_and_one_edit_away(space):
    rng = np.random.default_rng(3)
    cell = space.sample(rng)
    while not space.neighbours(cell):
        cell = space.sample(rng)
    own = space.key(cell)
    keys = [space.key(n) for n in space.neighbours(cell)]
    assert own not in keys and len(keys) == len(set(keys))
    assert space.key(space.mutate(cell, rng)) in keys


def test_nb201_arch_string_round_trip_and_neighbour_count():
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    space = NB201Space()
    assert format_arch_str(parse_arch_str(arch)) == arch
    cell = space.from_native(arch)
    assert cell.ops[1:-1] == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect")
    assert len(space.neighbours(cell)) == 24
    assert sum(1 for _ in space.enumerate()) == 15625


@pytest.mark.parametrize(
    "arch, message",
    [
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation"),
        ("|none~0|+|none~0|none~1|", "not an NB201 arch string"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "bad token"),
    ],
)
def test_nb201_bad_arch_strings(arch, message):
    with pytest.raises(InvalidCellError, match=message):
        NB201Space().from_native(arch)


def test_nb201_functional_key_merges_dead_edges():
    space = NB201Space()
    a = space.from_native("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    b = space.from_native("|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert space.key(a) != space.key(b)
    assert space.functional_key(a) == space.functional_key(b)


def test_nb101_validity_errors():
    space = NB101Space()
    ops7 = ["input"] + ["conv3x3-bn-relu"] * 5 + ["output"]
    dense = np.triu(np.ones((7, 7), dtype=int), 1)
    with pytest.raises(InvalidCellError, match="at most 9 edges"):
        space.validate(Cell(dense, ops7))
    with pytest.raises(InvalidCellError, match="not reachable"):
        space.validate(Cell(np.zeros((7, 7), dtype=int), ops7))
    with pytest.raises(InvalidCellError, match="unknown operation"):
        space.validate(Cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"]))
    big = np.zeros((8, 8), dtype=int)
    for i in range(7):
        big[i, i + 1] = 1
    with pytest.raises(InvalidCellError, match="at most 7 nodes"):
        space.validate(Cell(big, ["input"] + ["maxpool3x3"] * 6 + ["output"]))


def test_nb101_encoding_pads_with_output_last():
    space = NB101Space()
    cell = space.from_native(([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"]))
    ops, adj = space.encode(cell)
    assert ops[:, :].sum() == 3 and ops[2:6].sum() == 0
    assert adj[0, 1] == 1 and adj[1, 6] == 1 and adj.sum() == 2


def test_nbgraph_keys_match_the_package():
    from nas_bench_graph import Arch

    space = NBGraphSpace()
    rng = np.random.default_rng(0)
    for _ in range(50):
        cell = space.sample(rng)
        link, ops = space.to_native(cell)
        assert space.key(cell) == str(Arch(link, ops).valid_hash())
    link, ops = NBGraphSpace.decode_key(78102)
    assert (link, ops) == ([0, 0, 0, 0], ["gin", "skip", "gin", "gcn"]) or space.key(space.from_native((link, ops)))


@given(seed=seeds)
@settings(max_examples=60, deadline=None)
def test_nbgraph_validate_shortcut_equals_the_rebuild(seed):
    """A cell already in topological numbering is returned as is; the full rebuild gives the same cell."""
    from lib.spaces.nbgraph import link_ops_to_cell

    space = NBGraphSpace()
    rng = np.random.default_rng(seed)
    cell = space.sample(rng)
    assert cell.is_upper_triangular()
    assert space.validate(cell) == link_ops_to_cell(*space._link_ops(cell))
    inner = [int(v) for v in rng.permutation(np.arange(1, cell.num_nodes - 1))]
    shuffled = cell.permute([0, *inner, cell.num_nodes - 1])
    assert space.key(space.validate(shuffled)) == space.key(cell)
    assert space.validate(shuffled).is_upper_triangular()


def test_cycle_found_whatever_the_numbering():
    adj = np.zeros((4, 4), dtype=int)
    adj[0, 1] = adj[1, 2] = adj[2, 1] = adj[2, 3] = 1  # back edge 2 -> 1
    with pytest.raises(InvalidCellError, match="cycle"):
        Cell(adj, ["input", "a", "b", "output"])
    with pytest.raises(InvalidCellError, match="0 or 1"):
        Cell([[0, 2], [0, 0]], ["input", "output"])
    with pytest.raises(InvalidCellError, match="0 or 1"):
        Cell([[0, -1], [0, 0]], ["input", "output"])


@pytest.mark.parametrize(
    "native, message",
    [
        (([0, 0, 0, 0], ["skip"] * 4), "only skip"),
        (([0, 2, 0, 0], ["gcn"] * 4), "earlier layer"),
        (([0, 0, 0], ["gcn"] * 3), "4 layers"),
        (([0, 0, 0, 0], ["gcn", "gcn", "gcn", "mlp"]), "not in this NAS-Bench-Graph space"),
    ],
)
def test_nbgraph_invalid(native, message):
    with pytest.raises(InvalidCellError, match=message):
        NBGraphSpace().from_native(native)


def test_darts_genotype_round_trip_is_lossless():
    genotype = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 1),
                ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)]  # DARTS-V2 normal
    space = DartsSpace()
    cell = space.from_native(genotype)
    assert cell.num_nodes == 11
    assert space.to_native(cell) == genotype
    swapped = genotype[:6] + [genotype[7], genotype[6]]
    assert space.key(space.from_native(swapped)) == space.key(cell)


@pytest.mark.parametrize(
    "genotype, message",
    [
        ([("sep_conv_3x3", 0)] * 8, "twice"),
        ([("sep_conv_3x3", 0), ("sep_conv_3x3", 2)] + [("skip_connect", 0), ("skip_connect", 1)] * 3, "may read inputs"),
        ([("conv_7x7", 0), ("sep_conv_3x3", 1)] + [("skip_connect", 0), ("skip_connect", 1)] * 3, "unknown DARTS"),
    ],
)
def test_darts_invalid(genotype, message):
    with pytest.raises(InvalidCellError, match=message):
        DartsSpace().from_native(genotype)
