"""nao_gvae: the DAG-GRU encoder's order invariance, the sequential decoder's reconstruction, the gradient step,
the search's accounting (invalid decodings counted, never queried; exact budget; only oracle metrics), and
beating random search on NB201 at a small budget. Tiny models throughout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.cell import Cell
from lib.config import ParameterError
from lib.encoding import encode_dense
from lib.latent.dag_gru import DAGGRUEncoder, JointDAGVAE, dag_nll, joint_loss
from lib.latent.decode import decode_cells
from lib.latent.train import fit
from lib.nao_gvae import search as nao_search
from lib.nao_gvae.config import default_config, paper_config
from lib.nao_gvae.train import WarmStarted, warm_start
from lib.spaces import NB101Space, NB201Space

NB101 = NB101Space()
C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"


def _diamond(order: list[str]) -> Cell:
    """input → a, input → b, a → c, b → c, c → output (a and b may be listed in either order)."""
    adj = np.zeros((5, 5), dtype=int)
    adj[0, 1] = adj[0, 2] = adj[1, 3] = adj[2, 3] = adj[3, 4] = 1
    return Cell(adj, ["input", *order, C1, "output"])


def test_encoder_is_invariant_to_topological_relabelling():
    torch.manual_seed(0)
    enc = DAGGRUEncoder(len(NB101.vocabulary), 16, 4).eval()
    # the same DAG with its two parallel nodes listed in the other order (both are topological orders)
    ops, adj = encode_dense(NB101, [_diamond([C3, MP]), _diamond([MP, C3])])
    mu, _ = enc(ops, adj)
    assert torch.allclose(mu[0], mu[1], atol=1e-6)
    # a different DAG (the conv now also feeds the pool) must encode differently, so the check can fail
    other = _diamond([C3, MP]).adjacency.copy()
    other[1, 2] = 1
    ops2, adj2 = encode_dense(NB101, [Cell(other, ["input", C3, MP, C1, "output"])])
    assert not torch.allclose(enc(ops2, adj2)[0][0], mu[0], atol=1e-4)


def _nb101_cells() -> list[Cell]:
    chain = lambda n: np.eye(n, k=1, dtype=int)  # noqa: E731
    seven = chain(7)
    seven[0, 6] = seven[1, 3] = 1
    return [Cell(chain(3), ["input", C3, "output"]), Cell(chain(5), ["input", C3, C3, C1, "output"]),
            Cell(chain(6), ["input", MP, C1, C3, C3, "output"]), _diamond([C3, MP]),
            Cell(seven, ["input", C3, MP, C1, C3, C1, "output"])]  # fmt: skip


def test_sequential_decoder_reconstructs_padded_cells_after_a_short_fit():
    cells = _nb101_cells()
    ops, adj = encode_dense(NB101, cells)
    build = lambda: JointDAGVAE(len(NB101.vocabulary), NB101.max_nodes, hidden_dim=32, latent_dim=8)  # noqa: E731
    model, history = fit(build, (ops, adj), joint_loss, epochs=300, batch_size=5, lr=1e-2, seed=0, device="cpu")
    assert history[-1]["nll"] < 0.1 * history[0]["nll"]
    decoded = decode_cells(NB101, *model.reconstruct(ops, adj))
    assert [c is not None and NB101.key(c) for c in decoded] == [NB101.key(c) for c in cells]


def test_nll_is_small_only_for_confident_right_predictions():
    ops, adj = encode_dense(NB101, _nb101_cells()[:2])
    pad = torch.nn.functional.one_hot(torch.full(ops.shape[:2], ops.shape[-1]), ops.shape[-1] + 1).float()
    types = torch.where(ops.sum(-1, keepdim=True) > 0, torch.cat([ops, torch.zeros_like(ops[..., :1])], -1), pad)
    right = dag_nll(types * 50 - 25, adj * 50 - 25, ops, adj)
    wrong = dag_nll(types * 50 - 25, 25 - adj * 50, ops, adj)
    assert right < 1e-6 < 1.0 < wrong


@pytest.mark.parametrize("lam", [0.0, 0.7])
def test_gradient_step_increases_the_objective(lam):
    torch.manual_seed(1)
    model = JointDAGVAE(len(NB101.vocabulary), NB101.max_nodes, hidden_dim=16, latent_dim=6).eval()
    z = torch.randn(8, 6)
    before = nao_search.objective(model, z, lam)
    after = nao_search.objective(model, nao_search.ascend(model, z, lam, steps=5, step_size=0.05), lam)
    assert (after > before).all(), (before, after)
    assert torch.equal(nao_search.ascend(model, z, lam, steps=0, step_size=1.0), z)


def test_config_paper_and_cheap_schedules():
    paper = paper_config("nb201")
    assert (paper.hidden_dim, paper.latent_dim, paper.lr, paper.batch_size, paper.epochs, paper.kl_weight) == \
        (501, 56, 1e-4, 32, 300, 0.005)  # fmt: skip
    cheap = default_config("nb201")
    assert cheap.epochs < paper.epochs and cheap.config_hash() != paper.config_hash()
    assert default_config("nb201", epochs=2).config_hash() != cheap.config_hash()
    with pytest.raises(ValueError, match="unknown nao_gvae setting"):
        default_config("nb201", hidden=3)
    with pytest.raises(ValueError, match="schedule"):
        default_config("nb201", schedule="fast")


@pytest.fixture(scope="module")
def _tiny_warm_trained(tmp_path_factory):
    """A tiny warm start (hidden 24, 2 epochs on 2,000 NB201 cells), trained once for this module's tests.

    Training is deterministic (seeded, one thread), so each test got this same
    model when it was trained per test; the search deep-copies it before
    fine-tuning, so no test changes it for the next.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LATENT_NAS_DATA", str(tmp_path_factory.mktemp("nao_gvae_data")))
        cfg = default_config("nb201", hidden_dim=24, latent_dim=8, epochs=2, lr=3e-3)
        ops, adj = NB201Space().pretraining_tensors()
        rows = torch.as_tensor(np.random.default_rng(0).choice(len(ops), 2000, replace=False))
        warm = warm_start(cfg, data=(ops[rows], adj[rows]), device="cpu", threads=1)
    assert isinstance(warm, WarmStarted) and not warm.from_cache
    assert warm.history[-1]["loss"] < warm.history[0]["loss"]
    return warm


@pytest.fixture
def tiny_warm(_tiny_warm_trained, monkeypatch, tmp_path):
    """The tiny warm start in place of the space's default (and the test's own data folder)."""
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path))
    state = {k: v.clone() for k, v in _tiny_warm_trained.model.state_dict().items()}
    monkeypatch.setattr(nao_search, "warm_start", lambda config: _tiny_warm_trained)
    yield _tiny_warm_trained
    after = _tiny_warm_trained.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in state.items()), "a test changed the shared warm start's weights"


class _Oracle:
    """A budgeted stand-in oracle over NB201 with a synthetic accuracy; it has no test column at all."""

    def __init__(self, budget: int):
        self.space = NB201Space()
        self.budget = budget
        self._pool = tuple(self.space.enumerate())
        self.benchmark_name = "nb201-synthetic"
        self.queried: list[str] = []
        self.asked: list[Cell] = []

    def pool(self):
        return self._pool

    def pool_digest(self):
        return "nb201-synthetic-enumeration"

    @property
    def remaining(self):
        return self.budget - len(self.queried)

    def query(self, cell):
        from lib.errors import BudgetExhaustedError

        self.asked.append(cell)
        key = self.space.key(cell)
        if key not in self.queried:
            if self.remaining <= 0:
                raise BudgetExhaustedError("spent")
            self.queried.append(key)
        convs = sum(op == "nor_conv_3x3" for op in cell.ops)
        return {"val_acc": 60.0 + 5.0 * convs, "params_M": 0.1 * convs + 0.01 * len(cell.ops)}


def test_search_spends_the_budget_and_records_rounds(tiny_warm):
    torch.manual_seed(0)
    method = nao_search.NaoGVAE(init_size=8, cells_per_round=6, steps=10, step_size=10.0, finetune_epochs=2)
    oracle = _Oracle(budget=30)
    method.search(oracle, np.random.default_rng(0))
    assert len(oracle.queried) == len(set(oracle.queried)) == 30
    assert method.rounds and sum(r["queried"] for r in method.rounds) == 30 - 8
    for r in method.rounds:
        assert r["invalid"] + r["known"] + r["unmeasured"] + r["new"] > 0
    ablation = nao_search.NaoGVAE(init_size=8, cells_per_round=6, steps=5, finetune_epochs=1, cmplx_weight=0.0)
    ablation.search(_Oracle(budget=20), np.random.default_rng(0))
    assert sum(r["queried"] for r in ablation.rounds) == 12
    with pytest.raises(ParameterError, match="complexity"):
        nao_search.NaoGVAE(complexity="flops_G", init_size=4).search(_Oracle(10), np.random.default_rng(0))


def test_invalid_decodings_are_counted_and_never_queried(tiny_warm, monkeypatch):
    def invalid(z):  # every slot padding: no cell of the space
        n = tiny_warm.model.decoder.max_nodes
        return torch.full((len(z), n), -1), torch.zeros(len(z), n, n, dtype=torch.int8)

    monkeypatch.setattr(type(tiny_warm.model.decoder), "generate", lambda self, z: invalid(z))
    method = nao_search.NaoGVAE(init_size=6, cells_per_round=5, steps=2, max_widen=1, finetune_epochs=1)
    oracle = _Oracle(budget=16)
    method.search(oracle, np.random.default_rng(0))
    assert len(oracle.queried) == 16
    assert all(oracle.space.validate(c) is not None for c in oracle.asked)
    # each round: the first try, one widening, one restart; every point (top_k or fewer) invalid
    for r in method.rounds:
        assert r["new"] == 0 and r["invalid"] == 2 * min(10, r["labelled"]) + 10 and r["widened"] == 1
        assert r["restarts"] == 1 and r["random_fill"] == r["queried"] > 0


def test_through_the_harness_spends_the_budget_and_beats_random(tiny_warm, monkeypatch):
    pytest.importorskip("lib.search")
    from lib.search import run_search

    hp = dict(init_size=10, cells_per_round=10, steps=20, step_size=10.0, finetune_epochs=3)
    monkeypatch.setattr(nao_search.NaoGVAE, "prepare", classmethod(lambda cls, benchmark, **_: None))
    best, rand = [], []
    for seed in range(3):
        run = run_search("nb201:cifar10", "nao_gvae", 50, seed, **hp)
        assert run.metadata["num_queried"] == 50
        stats = run.metadata["method_stats"]  # the per-round counts travel with the run record
        assert stats["totals"]["queried"] == sum(r["queried"] for r in stats["rounds"]) == 50 - 10
        best.append(max(r["val_acc"] for r in run.records))
        rand.append(max(r["val_acc"] for r in run_search("nb201:cifar10", "random", 50, seed).records))
    assert np.mean(best) > np.mean(rand), (best, rand)


# --------------------------------------------------------------------------- ablations: backbone × joint

VARIANTS = [("dvae", True), ("dvae", False), ("arch2vec", True), ("arch2vec", False)]
SMALL = dict(init_size=8, cells_per_round=6, steps=10, step_size=10.0, finetune_epochs=2, hidden_dim=16)


@pytest.fixture
def tiny_arch2vec(monkeypatch, tmp_path):
    """A tiny arch2vec GIN VAE (hidden 32, 2 epochs on 2,000 NB201 cells) in place of the cached default."""
    from lib.arch2vec.config import default_config as arch2vec_default
    from lib.arch2vec.train import pretrain

    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path))
    ops, adj = NB201Space().pretraining_tensors()
    rows = torch.as_tensor(np.random.default_rng(1).choice(len(ops), 2000, replace=False))
    pre = pretrain(arch2vec_default("nb201", hidden_dim=32, epochs=2), data=(ops[rows], adj[rows]), device="cpu",
                   progress=False, threads=1)  # fmt: skip
    monkeypatch.setattr(nao_search, "load_arch2vec", lambda space, epochs=None: pre)
    return pre


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _snapping_generate(space, dim: int, stride: int = 79, count: int = 200):
    """A stand-in decoder: a latent point → the pool cell whose fixed random code has the largest dot product
    with it (so decodings are valid, depend on every gradient step, and repeat, giving known cells too)."""
    from lib.latent.decode import node_labels

    cells = list(space.enumerate())[::stride][:count]
    ops, adj = encode_dense(space, cells)
    labels, edges = node_labels(ops, threshold=0.5), adj.to(torch.int8)
    codes = torch.randn(len(cells), dim, generator=torch.Generator().manual_seed(0))

    def generate(self, z):
        i = (z @ codes.T).argmax(1)
        return labels[i], edges[i]

    return generate


def _digest(keys) -> str:
    import hashlib

    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def test_default_queries_are_those_of_the_code_before_the_ablations(tiny_warm, one_thread, monkeypatch):
    """Keys recorded from the code before ``backbone``/``joint`` existed (commit af1773f), one torch thread."""
    hp = dict(init_size=8, cells_per_round=6, steps=10, step_size=10.0, finetune_epochs=2)
    expected = {(False, 0.0): "3b5dc8b153200869", (True, 0.0): "5d311532b896ea71", (True, 0.7): "8b64fa94301677f2"}
    for patched, lam in expected:
        if patched:
            monkeypatch.setattr(type(tiny_warm.model.decoder), "generate", _snapping_generate(NB201Space(), 8))
        for extra in ({}, {"backbone": "dvae", "joint": True}):  # the defaults, implicit and explicit
            method = nao_search.NaoGVAE(lam=lam, **hp, **extra)
            oracle = _Oracle(budget=30)
            method.search(oracle, np.random.default_rng(0))
            assert _digest(oracle.queried) == expected[patched, lam], (patched, lam, extra)
            if patched:
                assert method.run_stats()["totals"]["new"] > 0  # decodings were queried, not only random fill


@pytest.mark.parametrize("backbone,joint", VARIANTS)
def test_every_variant_spends_the_budget_on_valid_decodings(backbone, joint, tiny_warm, tiny_arch2vec):
    torch.manual_seed(0)
    method = nao_search.NaoGVAE(backbone=backbone, joint=joint, **SMALL)
    oracle = _Oracle(budget=30)
    method.search(oracle, np.random.default_rng(0))
    assert len(oracle.queried) == len(set(oracle.queried)) == 30
    assert all(oracle.space.validate(c) is not None for c in oracle.asked)
    stats = method.run_stats()
    assert stats["totals"]["queried"] == sum(r["queried"] for r in stats["rounds"]) == 30 - 8
    for r in stats["rounds"]:
        assert r["invalid"] + r["known"] + r["unmeasured"] + r["new"] > 0
        assert r["queried"] <= r["new"] or r["random_fill"] == r["queried"]
    expected = type(method.latent_model).__name__
    assert expected == {"dvae": "DVAEBackbone", "arch2vec": "Arch2VecBackbone"}[backbone]


@pytest.mark.parametrize("backbone,joint", VARIANTS)
def test_every_variant_counts_invalid_decodings_and_never_queries_them(backbone, joint, tiny_warm, tiny_arch2vec,
                                                                       monkeypatch):  # fmt: skip
    def invalid(self, z):  # every slot padding: no cell of the space
        n = NB201Space().max_nodes
        return torch.full((len(z), n), -1), torch.zeros(len(z), n, n, dtype=torch.int8)

    from lib.nao_gvae.backbones import Arch2VecBackbone, DVAEBackbone

    monkeypatch.setattr(DVAEBackbone if backbone == "dvae" else Arch2VecBackbone, "generate", invalid)
    method = nao_search.NaoGVAE(backbone=backbone, joint=joint, **{**SMALL, "max_widen": 1})
    oracle = _Oracle(budget=20)
    method.search(oracle, np.random.default_rng(0))
    assert len(oracle.queried) == 20
    assert all(oracle.space.validate(c) is not None for c in oracle.asked)
    for r in method.rounds:  # the first try, one widening, one restart: every point invalid
        assert r["new"] == 0 and r["invalid"] == 2 * min(10, r["labelled"]) + 10
        assert r["random_fill"] == r["queried"] > 0


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("backbone", ["dvae", "arch2vec"])
def test_frozen_backbone_stays_bit_identical_while_the_heads_learn(backbone, tiny_warm, tiny_arch2vec):
    from lib.nao_gvae.backbones import Arch2VecBackbone

    if backbone == "dvae":
        before = {"encoder": _state(tiny_warm.model.encoder), "decoder": _state(tiny_warm.model.decoder)}
        heads_before = _state(tiny_warm.model.heads)
    else:
        before = {"vae": _state(tiny_arch2vec.model)}
        config = nao_search._config(NB201Space(), "cheap", None, SMALL["hidden_dim"])
        heads_before = _state(Arch2VecBackbone(tiny_arch2vec, config, False, 8).model.heads)
    for joint in (False, True):
        method = nao_search.NaoGVAE(backbone=backbone, joint=joint, **SMALL)
        method.search(_Oracle(budget=30), np.random.default_rng(0))
        model = method.latent_model.model
        parts = {"encoder": model.encoder, "decoder": model.decoder} if backbone == "dvae" else {"vae": model.vae}
        frozen = all(_same(before[k], _state(m)) for k, m in parts.items())
        assert frozen is (not joint), (backbone, joint)  # joint training changes them, so the check can fail
        assert not _same(heads_before, _state(model.heads)), (backbone, joint)
    # the search trained copies: the loaded models are untouched either way
    assert _same(before[next(iter(before))], _state(tiny_warm.model.encoder if backbone == "dvae" else tiny_arch2vec.model))


def test_move_nodes_moves_the_node_mean_as_the_graph_ascent_does():
    from lib.latent.dag_gru import latent_ascent
    from lib.latent.joint_heads import move_nodes, prediction_heads, HeadsOnly

    torch.manual_seed(0)
    heads = HeadsOnly(prediction_heads(4, 8))
    z = torch.randn(3, 5, 4)
    moved = move_nodes(heads, z, (1.0, -0.5), steps=4, step_size=0.3)
    graph = latent_ascent(heads, z.mean(1), (1.0, -0.5), steps=4, step_size=0.3)
    assert torch.allclose(moved.mean(1), graph, atol=1e-6)
    assert torch.allclose(moved - moved.mean(1, keepdim=True), z - z.mean(1, keepdim=True), atol=1e-6)
    assert not torch.allclose(moved, z)


def test_ablation_parameters_are_checked():
    with pytest.raises(ParameterError, match="backbone"):
        nao_search.NaoGVAE(backbone="gin")
    with pytest.raises(ParameterError, match="joint"):
        nao_search.NaoGVAE(joint="maybe")


@pytest.mark.parametrize("backbone,joint", VARIANTS[1:])
def test_variants_through_the_harness_never_see_test_accuracy(backbone, joint, tiny_warm, tiny_arch2vec, monkeypatch):
    from lib.benchmark import Benchmark, load_benchmark
    from lib.search import run_search

    monkeypatch.setattr(nao_search.NaoGVAE, "prepare", classmethod(lambda cls, benchmark, **_: None))
    bench = load_benchmark("nb201", "cifar10")
    hp = dict(backbone=backbone, joint=joint, **SMALL)
    first = run_search(bench, "nao_gvae", 30, 0, **hp)
    assert first.metadata["num_queried"] == 30 == len(set(first.keys))
    assert first.metadata["hyperparameters"]["backbone"] == backbone and first.metadata["hyperparameters"]["joint"] is joint
    stats = first.metadata["method_stats"]
    assert stats["totals"]["queried"] == 30 - 8
    table = bench.table.copy()
    table["test_acc"] = np.random.default_rng(0).permutation(table["test_acc"].to_numpy())
    again = run_search(Benchmark(bench.name, bench.dataset, bench.space, table), "nao_gvae", 30, 0, **hp)
    assert again.keys == first.keys


def test_prepare_names_the_model_the_backbone_loads(tiny_warm, tiny_arch2vec, monkeypatch):
    from lib.benchmark import load_benchmark
    from lib.latent.train import model_identity

    monkeypatch.setattr(nao_search, "warm_start", lambda config, **_: tiny_warm)
    bench = load_benchmark("nb201", "cifar10")
    assert nao_search.NaoGVAE.prepare(bench, backbone="arch2vec") == model_identity(tiny_arch2vec)
    assert nao_search.NaoGVAE.prepare(bench) == model_identity(tiny_warm)
    assert model_identity(tiny_arch2vec)["digest"] != model_identity(tiny_warm)["digest"]
