"""arch2vec: shapes, loss terms on hand-made graphs, a tiny training run, decoding, the cache, the searches.

Everything here runs on tiny data in well under two minutes on two CPU
cores; the full pretraining is measured by ``scripts/bench_pretrain.py``.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from lib.arch2vec import Arch2Vec, default_config, kl_divergence, pretrain, reconstruction_loss
from lib.arch2vec.config import Arch2VecConfig
from lib.arch2vec.train import PRETRAIN_THREADS
from lib.arch2vec.metrics import decode_cells, edge_matrix, node_labels, prior_validity, reconstruction_metrics
from lib.arch2vec.model import symmetrize
from lib.cell import Cell
from lib.encoding import encode_dense
from lib.spaces import NB101Space, NB201Space

NB101 = NB101Space()


def _nb101_cells() -> list[Cell]:
    """Six hand-made NB101 cells of 3 to 7 nodes (the small ones are padded)."""
    c3, c1, mp = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
    chain = lambda n: np.eye(n, k=1, dtype=int)  # noqa: E731
    seven = chain(7)
    seven[0, 6] = seven[1, 3] = 1
    return [
        Cell(chain(3), ["input", c3, "output"]),
        Cell(chain(4), ["input", c1, mp, "output"]),
        Cell(chain(5), ["input", c3, c3, c1, "output"]),
        Cell(chain(6), ["input", mp, c1, c3, c3, "output"]),
        Cell(chain(7), ["input", c1, c1, c3, mp, c3, "output"]),
        Cell(seven, ["input", c3, mp, c1, c3, c1, "output"]),
    ]


def tiny_config(**overrides) -> Arch2VecConfig:
    values = dict(epochs=1, hidden_dim=16, latent_dim=4, num_layers=2, batch_size=4)
    return default_config("nb101", **(values | overrides))


def test_encoder_decoder_shapes():
    cfg = tiny_config()
    ops, adj = encode_dense(NB101, _nb101_cells())
    model = Arch2Vec(ops.shape[-1], cfg).eval()
    ops_prob, adj_prob, mu, log_sigma = model(ops, adj)
    assert ops_prob.shape == ops.shape == (6, 7, 5)
    assert adj_prob.shape == adj.shape == (6, 7, 7)
    assert mu.shape == log_sigma.shape == (6, 7, 4)
    assert model.embed(ops, adj).shape == (6, 4)
    assert ((ops_prob > 0) & (ops_prob < 1)).all() and torch.allclose(adj_prob, adj_prob.transpose(1, 2))


def test_padding_keeps_output_last_and_symmetrize():
    ops, adj = encode_dense(NB101, _nb101_cells()[:1])  # 3 nodes padded to 7
    assert ops[0, 6, NB101.vocabulary.index("output")] == 1 and ops[0, 2:6].sum() == 0
    assert adj[0, 1, 6] == 1 and adj[0, 0, 1] == 1
    sym = symmetrize(adj[0])
    assert torch.equal(sym, sym.T) and sym[6, 1] == 1


def test_reconstruction_loss_counts_only_the_upper_triangle():
    ops = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    adj = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])
    perfect_ops = ops.clone()
    adj_prob = torch.tensor([[[0.9, 1.0], [0.7, 0.3]]])  # below/on the diagonal: ignored
    ops_loss, adj_loss = reconstruction_loss(perfect_ops, adj_prob, ops, adj)
    assert ops_loss.item() == pytest.approx(0.0, abs=1e-6)
    assert adj_loss.item() == pytest.approx(0.0, abs=1e-6)
    half = torch.tensor([[[0.0, 0.5], [0.0, 0.0]]])
    _, adj_loss = reconstruction_loss(perfect_ops, half, ops, adj)
    assert adj_loss.item() == pytest.approx(math.log(2) / 4, rel=1e-5)  # one of four entries wrong by log 2


def test_loss_weights_scale_the_reconstruction_terms():
    from lib.arch2vec.model import vae_loss

    space = NB201Space()
    ops, adj = encode_dense(space, [space.sample(np.random.default_rng(s)) for s in range(4)])
    parts = {}
    for weights in [(1.0, 1.0), (2.0, 0.0)]:
        torch.manual_seed(0)
        model = Arch2Vec(ops.shape[-1], default_config("nb201", ops_weight=weights[0], adj_weight=weights[1])).eval()
        loss, parts[weights] = vae_loss(model, ops, adj)
        assert loss.item() == pytest.approx(weights[0] * parts[weights]["ops"] + weights[1] * parts[weights]["adj"]
                                            + parts[weights]["kl"], rel=1e-5)  # fmt: skip
    assert parts[(1.0, 1.0)]["ops"] == pytest.approx(parts[(2.0, 0.0)]["ops"])  # same model, same terms
    with pytest.raises(ValueError, match="adj_weight"):
        default_config("nb201", adj_weight=-1.0)


def test_kl_divergence_values():
    mu, log_sigma = torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert kl_divergence(mu, log_sigma).item() == pytest.approx(0.0)
    mu = torch.ones(2, 3, 4)  # per node: 0.5 * sum(mu^2) = 2; authors divide by batch x nodes = 6
    assert kl_divergence(mu, log_sigma).item() == pytest.approx(2.0 / 6)
    log_sigma = torch.full((1, 1, 1), math.log(2.0))  # 0.5 * (sigma^2 - 1 - 2 log sigma)
    expected = 0.5 * (4 - 1 - 2 * math.log(2.0))
    assert kl_divergence(torch.zeros(1, 1, 1), log_sigma).item() == pytest.approx(expected)


def test_tiny_training_reaches_perfect_reconstruction(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path))
    torch.manual_seed(0)
    ops, adj = encode_dense(NB101, _nb101_cells())
    cfg = default_config("nb101", epochs=400, batch_size=6, dropout=0.0, lr=5e-3, train_fraction=1.0, seed=0)
    pre = pretrain(cfg, data=(ops, adj), device="cpu", progress=False)
    assert not pre.from_cache and pre.path.exists()
    assert pre.history[-1]["loss"] < pre.history[0]["loss"]
    rec = reconstruction_metrics(pre, ops, adj)
    assert rec["reconstruction"] == 100.0, rec
    decoded = decode_cells(NB101, *_decode(pre, ops, adj))
    assert [NB101.key(c) for c in decoded] == [NB101.key(c) for c in _nb101_cells()]
    again = pretrain(cfg, data=(ops, adj), device="cpu", progress=False)  # checkpoint cache hit
    assert again.from_cache and again.path == pre.path
    assert np.allclose(again.embed(_nb101_cells()), pre.embed(_nb101_cells()), atol=1e-6)
    other = pretrain(cfg, data=(ops[:4], adj[:4]), device="cpu", progress=False, use_cache=False)
    assert not other.from_cache


def _decode(pre, ops, adj):
    with torch.no_grad():
        mu, _ = pre.model.encoder(ops, adj)
        ops_prob, adj_prob = pre.model.decoder(mu)
    return node_labels(ops_prob), edge_matrix(adj_prob)


def test_checkpoint_is_loadable_with_weights_only(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path))
    ops, adj = encode_dense(NB101, _nb101_cells())
    pre = pretrain(tiny_config(), data=(ops, adj), device="cpu", progress=False)
    state = torch.load(pre.path, weights_only=True)
    assert state["version"] == 1 and "state_dict" in state
    # pretraining fixes its thread count, whatever the caller's (one thread per pytest-xdist worker, 2 by default here)
    assert pre.provenance["torch_threads"] == PRETRAIN_THREADS and pre.provenance["device"] == "cpu"
    again = pretrain(tiny_config(), data=(ops, adj), device="cpu", progress=False)
    assert again.from_cache and again.provenance == pre.provenance  # recorded in the checkpoint


def test_config_hash_changes_with_any_field():
    a, b = default_config("nb201"), default_config("nb201", epochs=9)
    assert a.config_hash() != b.config_hash() and a.config_hash() == default_config("nb201").config_hash()
    assert (a.epochs, a.batch_size, a.lr, a.latent_dim, a.hidden_dim, a.num_layers) == (10, 32, 1e-3, 16, 128, 4)
    assert default_config("nb101").epochs == 8 and default_config("darts").num_cells == 600_000
    with pytest.raises(ValueError, match="unknown arch2vec setting"):
        default_config("nb201", epoch=3)
    for name, value in [("ops_weight", 2.0), ("dropout", 0.1), ("seed", 1), ("encoder", "gcn")]:
        assert default_config("nb201", **{name: value}).config_hash() != a.config_hash(), name
    # a field added later is left out of the identity at its old default, so cached checkpoints keep their name
    assert "ops_weight" not in json.loads(a.identity()) and json.loads(a.identity())["dropout"] == 0.3
    with pytest.raises(ValueError, match="ops_weight"):
        default_config("nb201", ops_weight=0)


def test_validity_checker_on_decoded_samples():
    vocab = NB101.vocabulary
    labels = torch.tensor([
        [0, 2, -1, -1, -1, -1, 4],   # input → conv3x3 → output, padded: valid
        [0, 2, -1, -1, -1, -1, 4],   # same cell but disconnected: invalid
        [0, 0, -1, -1, -1, -1, 4],   # a second input node: invalid
        [0, 1, 3, -1, -1, -1, -1],   # no output (last row padding): invalid
    ])  # fmt: skip
    assert vocab[2] == "conv3x3-bn-relu"
    edges = torch.zeros(4, 7, 7, dtype=torch.int8)
    edges[0, 0, 1] = edges[0, 1, 6] = 1
    edges[2, 0, 1] = edges[2, 1, 6] = 1
    edges[3, 0, 1] = edges[3, 1, 2] = 1
    cells = decode_cells(NB101, labels, edges)
    assert cells[0] is not None and cells[0].num_nodes == 3
    assert cells[1:] == [None, None, None]
    labels[0, 2:6] = torch.tensor([0, 4, 1, 3])  # argmax labels on unconnected rows are pruned away
    assert decode_cells(NB101, labels, edges)[0].num_nodes == 3


def test_prior_validity_and_nb201_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path))
    space = NB201Space()
    rng = np.random.default_rng(0)
    ops, adj = encode_dense(space, [space.sample(rng) for _ in range(64)])
    cfg = default_config("nb201", epochs=2, hidden_dim=16, latent_dim=4, num_layers=2)
    pre = pretrain(cfg, data=(ops, adj), device="cpu", progress=False)
    result = prior_validity(pre, ops, adj, num_samples=200)
    assert 0.0 <= result["validity"] <= 100.0 and result["num_samples"] == 200
    assert result["validity"] <= result["validity_authors"] <= 100.0
    assert np.isnan(result["unique_architectures"]) or 0.0 < result["unique_architectures"] <= 100.0


def test_uniqueness_counts_drawings_the_authors_way_and_architectures_strictly():
    """Two decodings that differ only in a dead node: two graphs (authors' uniqueness), one architecture."""
    from lib.arch2vec.metrics import decoded_sample_stats

    vocab = NB101.vocabulary
    conv, pool = vocab.index("conv3x3-bn-relu"), vocab.index("maxpool3x3")
    inp, out = vocab.index("input"), vocab.index("output")
    edges = torch.zeros(3, 4, 4, dtype=torch.int8)
    edges[:, 0, 1] = edges[:, 1, 3] = 1  # input -> conv -> output; node 2 is dead (no edge)
    labels = torch.tensor([[inp, conv, conv, out], [inp, conv, pool, out], [inp, out, out, inp]])
    stats = decoded_sample_stats(NB101, labels, edges)
    assert stats["validity"] == stats["validity_authors"] == pytest.approx(200 / 3)  # NB101: the same check
    assert stats["uniqueness_authors"] == 100.0 and stats["unique_architectures"] == 50.0


def test_authors_validity_is_laxer_on_nb201_and_darts():
    from lib.arch2vec.metrics import authors_valid, decoded_sample_stats
    from lib.spaces import DartsSpace

    space = NB201Space()
    ops, adj = encode_dense(space, [space.sample(np.random.default_rng(0))])
    labels, edges = node_labels(ops, threshold=0.5), edge_matrix(adj)
    broken = edges.clone()
    broken[0, 0, -1] = 1 - broken[0, 0, -1]  # a wrong edge: not an NB201 cell, but the authors check labels only
    both_l, both_e = torch.cat([labels, labels]), torch.cat([edges, broken])
    assert authors_valid(space, both_l, both_e).tolist() == [True, True]
    stats = decoded_sample_stats(space, both_l, both_e)
    assert stats["validity"] == 50.0 and stats["validity_authors"] == 100.0 and stats["uniqueness_authors"] == 100.0
    wrong_label = labels.clone()
    wrong_label[0, 3] = space.vocabulary.index("output")
    assert not authors_valid(space, wrong_label, edges)[0]

    darts = DartsSpace()
    ops, adj = encode_dense(darts, [darts.sample(np.random.default_rng(1))])
    labels, edges = node_labels(ops, threshold=0.5), edge_matrix(adj)
    extra = edges.clone()
    extra[0, 0, 3] = extra[0, 1, 3] = 1  # node 3 reads both inputs: no DARTS cell, but passes the authors' check
    orphan = edges.clone()
    orphan[0, :, 5] = 0  # node 5 reads nothing
    result = authors_valid(darts, torch.cat([labels] * 3), torch.cat([edges, extra, orphan]))
    assert result.tolist() == [True, True, False]
    assert decode_cells(darts, labels, extra)[0] is None


class _StandIn:
    """Minimal oracle with the harness's interface, over 300 NB201 cells with a synthetic accuracy."""

    def __init__(self, budget):
        self.space = NB201Space()
        rng = np.random.default_rng(1)
        self._pool = [self.space.sample(rng) for _ in range(300)]
        self._acc = {self.space.key(c): 50 + 40 * np.mean([op == "nor_conv_3x3" for op in c.ops]) for c in self._pool}
        self.budget, self.benchmark_name, self.dataset = budget, "standin", "synthetic"
        self.queried: list[str] = []

    @property
    def remaining(self):
        return self.budget - len(set(self.queried))

    def pool(self):
        return self._pool

    def query(self, cell):
        from lib.errors import BudgetExhaustedError

        key = self.space.key(cell)
        if key not in self.queried:
            if self.remaining <= 0:
                raise BudgetExhaustedError("spent")
            self.queried.append(key)
        return {"val_acc": self._acc[key]}


@pytest.mark.parametrize("method", ["arch2vec_bo", "arch2vec_rl"])
def test_search_methods_spend_exactly_the_budget(method, tmp_path, monkeypatch):
    pytest.importorskip("lib.search")
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path))
    from lib.arch2vec import search
    from lib.arch2vec.train import embed_tensors

    oracle = _StandIn(budget=24)
    cfg = default_config("nb201", epochs=1, hidden_dim=16, latent_dim=4, num_layers=2)
    ops, adj = encode_dense(oracle.space, oracle.pool())
    pre = pretrain(cfg, data=(ops, adj), device="cpu", progress=False, use_cache=False)
    feats = embed_tensors(pre.model, ops, adj)
    monkeypatch.setattr(search, "pool_embeddings", lambda oracle, **_: feats)
    cls = search.Arch2VecBO if method == "arch2vec_bo" else search.Arch2VecRL
    hp = {"epochs": 5, "batch_size": 4} if method == "arch2vec_bo" else {"episode": 8}
    torch.manual_seed(0)
    cls(**hp).search(oracle, np.random.default_rng(0))
    assert len(oracle.queried) == len(set(oracle.queried)) == 24


def test_expected_improvement_forms():
    from lib.latent.acquisition import expected_improvement, log_expected_improvement
    from lib.latent.predictors import DNGO

    mean, scale = np.array([0.5, 0.9, 0.9]), np.array([0.1, 0.1, 0.2])
    ei = expected_improvement(mean, scale, target=0.9)
    assert ei[1] == pytest.approx(0.1 / math.sqrt(2 * math.pi)) and ei[2] > ei[1] > ei[0] > 0
    assert np.allclose(np.exp(log_expected_improvement(mean, scale, 0.9)), ei)
    far = log_expected_improvement(np.array([0.0, 0.1]), np.array([1e-3, 1e-3]), 1.0)  # EI underflows to 0
    assert np.isfinite(far).all() and far[1] > far[0]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = x[:, 0] * 0.05 + 0.9
    mean, var = DNGO(epochs=30, rng=rng).fit(x, y).predict(x)
    assert np.corrcoef(mean, y)[0, 1] > 0.9 and (var > 0).all()


def test_dngo_marginal_likelihood_matches_the_direct_formula():
    """The eigen-form evidence equals the textbook one, and its gradient the finite differences."""
    from lib.latent.predictors import DNGO

    rng = np.random.default_rng(1)
    n, d = 30, 6
    phi, y = rng.normal(size=(n, d)), rng.normal(size=n)
    lam, vecs = np.linalg.eigh(phi.T @ phi)
    args = (n, float(y @ y), lam, vecs.T @ (phi.T @ y))
    for log_alpha, log_beta in [(0.0, 2.0), (-3.0, 5.0), (2.0, -1.0)]:
        alpha, beta = math.exp(log_alpha), math.exp(log_beta)
        a = beta * phi.T @ phi + alpha * np.eye(d)
        m = beta * np.linalg.solve(a, phi.T @ y)
        direct = (d / 2 * log_alpha + n / 2 * log_beta - beta / 2 * np.sum((y - phi @ m) ** 2) - alpha / 2 * m @ m
                  - np.linalg.slogdet(a)[1] / 2 - n / 2 * math.log(2 * math.pi))  # fmt: skip
        value, grad = DNGO._neg_log_marginal(np.array([log_alpha, log_beta]), *args)
        assert value == pytest.approx(-direct, rel=1e-9)
        h = 1e-6
        for k in range(2):
            step = np.zeros(2)
            step[k] = h
            up = DNGO._neg_log_marginal(np.array([log_alpha, log_beta]) + step, *args)[0]
            down = DNGO._neg_log_marginal(np.array([log_alpha, log_beta]) - step, *args)[0]
            assert grad[k] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-6)


def test_registered_with_the_harness():
    search_pkg = pytest.importorskip("lib.search")
    import lib.arch2vec.search  # noqa: F401

    assert {"arch2vec_bo", "arch2vec_rl"} <= set(search_pkg.available_methods())


@pytest.mark.parametrize("space_name", ["nb101", "nb201", "nbgraph", "darts"])
def test_encoded_cells_decode_to_themselves(space_name):
    from lib.benchmark import load_space

    space = load_space(space_name)
    rng = np.random.default_rng(0)
    cells = [space.sample(rng) for _ in range(30)]
    ops, adj = encode_dense(space, cells)
    decoded = decode_cells(space, node_labels(ops, threshold=0.5), edge_matrix(adj))
    assert [space.key(c) for c in decoded] == [space.key(c) for c in cells]


def test_pretrain_leaves_the_global_random_stream_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path))
    ops, adj = encode_dense(NB101, _nb101_cells())
    for _ in range(2):  # trains, then loads from the cache
        torch.manual_seed(123)
        pretrain(tiny_config(), data=(ops, adj), device="cpu", progress=False)
        after = torch.rand(3)
        torch.manual_seed(123)
        assert torch.equal(after, torch.rand(3))


def test_uniqueness_ceiling_of_uniform_sampling():
    from lib.arch2vec.metrics import uniqueness_ceiling

    assert uniqueness_ceiling(2, 2) == pytest.approx(75.0)  # 2 draws of 2 items: 1.5 distinct on average
    assert uniqueness_ceiling(15_625, 10_000) == pytest.approx(73.86, abs=0.01)
    rng = np.random.default_rng(0)
    simulated = np.mean([len(set(rng.integers(500, size=300))) / 3 for _ in range(200)])
    assert uniqueness_ceiling(500, 300) == pytest.approx(simulated, abs=0.5)
    with pytest.raises(ValueError, match="positive"):
        uniqueness_ceiling(0, 10)


def test_log_expected_improvement_is_monotone_and_exact():
    from lib.latent.acquisition import expected_improvement, log_expected_improvement, log_h

    u = np.concatenate([-np.logspace(8, -3, 4000), np.linspace(0, 8, 400)])
    u = np.unique(u)
    values = log_h(u)
    assert np.isfinite(values).all()
    assert (np.diff(values) > 0).all(), "log h(u) must increase strictly with u"
    direct = np.log(expected_improvement(u, np.ones_like(u), 0.0))
    ok = np.isfinite(direct) & (u > -25)  # where plain EI is representable
    assert np.allclose(values[ok], direct[ok], rtol=1e-7, atol=1e-10)
    # around u = -20, where the former asymptotic branch dropped a term
    near = np.linspace(-21, -19, 2001)
    assert (np.diff(log_expected_improvement(near, np.ones_like(near), 0.0)) > 0).all()
    # the tail follows log φ(u) − 2 log|u| to leading order
    assert log_h(np.array([-1e6]))[0] == pytest.approx(-0.5 * 1e12 - 0.5 * np.log(2 * np.pi) - 2 * np.log(1e6), rel=1e-9)
