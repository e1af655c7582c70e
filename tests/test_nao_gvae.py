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
