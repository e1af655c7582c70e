"""The latent-model layer (lib.latent): encoders, decoders, the VAE loss, training, decoding, predictors, acquisition.

Tiny hand-made tensors with exact expected values where the arithmetic allows;
the DenseGINConv-based layer is checked against the hand-written layer it
replaced, on the same state dict.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lib.cell import Cell
from lib.encoding import adjacency_encoding, encode_dense
from lib.latent.acquisition import (expected_improvement, log_expected_improvement, thompson_sample, top_indices,
                                    upper_confidence_bound)  # fmt: skip
from lib.latent.decode import PoolSnapper, decode_cells, edge_matrix, node_labels
from lib.latent.decoders import GraphDecoder
from lib.latent.encoders import GCNLayer, GINLayer, GraphEncoder, symmetrize
from lib.latent.predictors import DNGO, GaussianProcess, GINPredictor, MLPEnsemble
from lib.latent.predictors_reference import ReferenceDNGO, ReferenceMLPEnsemble
from lib.latent.train import CheckpointCache, Trained, fit, model_identity, state_digest, tensor_digest, train_cached
from lib.latent.vae import GraphVAE, kl_divergence, reconstruction_loss, vae_loss
from lib.paths import PROJECT_ROOT
from lib.spaces import DartsSpace, NB101Space, NB201Space

NB101 = NB101Space()
C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"


class HandWrittenGIN(nn.Module):
    """The GIN layer as written before DenseGINConv (lib/arch2vec/model.py at 2b332c6)."""

    def __init__(self, in_dim: int, hidden_dim: int):
        super().__init__()
        self.eps = nn.Parameter(torch.zeros(1))
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim)
        )
        self.norm = nn.BatchNorm1d(hidden_dim)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        h = (1 + self.eps) * x + adj @ x
        h = self.mlp(h.reshape(b * n, -1))
        return F.relu(self.norm(h)).reshape(b, n, -1)


def _graphs(batch: int = 3, nodes: int = 4, features: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, nodes, features, generator=g)
    adj = (torch.rand(batch, nodes, nodes, generator=g) > 0.5).float().triu(1)
    return x, symmetrize(adj)


# --------------------------------------------------------------------------- encoders


def test_gin_layer_equals_the_hand_written_layer_on_the_same_state_dict():
    torch.manual_seed(0)
    old = HandWrittenGIN(5, 8)
    torch.manual_seed(0)
    new = GINLayer(5, 8)
    assert list(new.state_dict()) == list(old.state_dict())  # names and order unchanged
    assert state_digest(new) == state_digest(old)  # same initialisation from the same seed
    with torch.no_grad():
        old.eps.fill_(0.25)
    new.load_state_dict(old.state_dict())
    x, adj = _graphs()
    for mode in (True, False):  # batch statistics and running statistics
        old.train(mode), new.train(mode)
        assert torch.equal(new(x, adj), old(x, adj))
    assert state_digest(new) == state_digest(old)


def test_gin_layer_reads_its_own_state_dict_back():
    layer = GINLayer(3, 4)
    other = GINLayer(3, 4)
    other.load_state_dict(layer.state_dict())
    assert state_digest(other) == state_digest(layer)
    assert "nn.mlp.0.weight" not in layer.state_dict() and "mlp.0.weight" in layer.state_dict()


def test_gin_layer_aggregation_by_hand():
    """With identity MLPs the layer is ReLU((1+ε)x + Ãx) (batch norm of a constant column is 0)."""
    layer = GINLayer(2, 2).eval()
    with torch.no_grad():
        for linear in (layer.nn.mlp[0], layer.nn.mlp[3]):
            linear.weight.copy_(torch.eye(2))
            linear.bias.zero_()
        layer.eps.fill_(1.0)
    x = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    adj = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    expected = torch.tensor([[[2.0, 2.0], [1.0, 4.0]]])  # 2x + swap(x); eval BN with fresh stats ≈ identity
    assert torch.allclose(layer(x, adj), expected / math.sqrt(1 + 1e-5) ** 2, atol=1e-5)


def test_gcn_layer_by_hand():
    layer = GCNLayer(1, 1)
    with torch.no_grad():
        layer.linear.weight.fill_(1.0)
        layer.linear.bias.fill_(0.0)
    x = torch.tensor([[[1.0], [3.0]]])
    adj = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])  # Ã + I = ones, degrees 2: every entry 1/2
    assert torch.allclose(layer(x, adj), torch.tensor([[[2.0], [2.0]]]))


def test_symmetrize():
    adj = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    assert torch.equal(symmetrize(adj), torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]))


def test_graph_encoder_shapes_and_unknown_layer():
    ops, adj = _graphs(2, 5, 6)
    mu, log_sigma = GraphEncoder(6, hidden_dim=8, latent_dim=3, num_layers=2).eval()(ops, adj.triu(1))
    assert mu.shape == log_sigma.shape == (2, 5, 3)
    with pytest.raises(ValueError, match="layer"):
        GraphEncoder(6, layer="gat")


def test_cached_arch2vec_checkpoint_keeps_its_digest():
    """The NB201 checkpoint cached before the move to DenseGINConv loads with its recorded digest."""
    path = PROJECT_ROOT / "data" / "cache" / "arch2vec" / "nb201-7e5523f07216.pt"
    if not path.exists():
        pytest.skip("no cached NB201 arch2vec checkpoint")
    from lib.arch2vec import Arch2Vec, default_config

    state = torch.load(path, weights_only=True)
    model = Arch2Vec(len(NB201Space().vocabulary), default_config("nb201"))
    model.load_state_dict(state["state_dict"])
    assert list(model.state_dict()) == list(state["state_dict"])
    assert state_digest(model) == "b556d3a1b2ac3e5d"


# --------------------------------------------------------------------------- decoder and loss


def test_inner_product_decoder_by_hand():
    decoder = GraphDecoder(2, 3, dropout=0.5).eval()  # dropout only while training
    with torch.no_grad():
        decoder.ops.weight.zero_()
        decoder.ops.bias.zero_()
    z = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    ops_prob, adj_prob = decoder(z)
    assert torch.equal(ops_prob, torch.full((1, 2, 3), 0.5))
    assert torch.equal(adj_prob, torch.sigmoid(torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])))


def test_vae_loss_combines_weighted_terms():
    ops, adj = encode_dense(NB101, [Cell(np.eye(3, k=1, dtype=int), ["input", C3, "output"])] * 2)
    vocab = ops.shape[-1]
    torch.manual_seed(0)
    model = GraphVAE(GraphEncoder(vocab, 8, 3, 2), GraphDecoder(3, vocab), ops_weight=2.0, adj_weight=0.5).eval()
    loss, parts = vae_loss(model, ops, adj)
    ops_prob, adj_prob, mu, log_sigma = model(ops, adj)
    ops_loss, adj_loss = reconstruction_loss(ops_prob, adj_prob, ops, adj)
    assert parts["ops"] == ops_loss.item() and parts["adj"] == adj_loss.item()
    assert parts["kl"] == kl_divergence(mu, log_sigma).item()
    assert loss.item() == pytest.approx(2.0 * parts["ops"] + 0.5 * parts["adj"] + parts["kl"], rel=1e-6)
    model.variational = False
    assert vae_loss(model, ops, adj)[1]["kl"] == 0.0
    assert torch.equal(model.embed(ops, adj), mu.mean(1))


# --------------------------------------------------------------------------- training


def _tiny_vae(vocab: int) -> GraphVAE:
    return GraphVAE(GraphEncoder(vocab, 8, 3, 2), GraphDecoder(3, vocab, dropout=0.1))


def _tiny_data():
    space = NB201Space()
    return encode_dense(space, [space.sample(np.random.default_rng(s)) for s in range(10)])


def test_fit_is_deterministic_given_a_seed():
    ops, adj = _tiny_data()
    runs = [fit(lambda: _tiny_vae(ops.shape[-1]), (ops, adj), vae_loss, epochs=2, batch_size=4, seed=s, device="cpu")
            for s in (3, 3, 4)]  # fmt: skip
    digests = [state_digest(model) for model, _ in runs]
    assert digests[0] == digests[1] != digests[2]
    model, history = runs[0]
    assert not model.training
    assert [h["epoch"] for h in history] == [1, 2]
    assert set(history[0]) == {"loss", "ops", "adj", "kl", "epoch", "seconds", "cells_per_s"}
    assert history[0]["loss"] == runs[1][1][0]["loss"]


def test_fit_multi_tensor_adam_gives_the_per_parameter_loop_s_weights(monkeypatch):
    """fit's foreach Adam and clipping train the very model torch's default CPU loop trains (bit for bit)."""
    import lib.latent.train as train

    ops, adj = _tiny_data()

    def run():
        model, _ = fit(lambda: _tiny_vae(ops.shape[-1]), (ops, adj), vae_loss, epochs=3, batch_size=4, seed=5,
                       grad_clip=0.5, device="cpu")  # fmt: skip
        return state_digest(model)

    fast = run()
    monkeypatch.setattr(train, "adam", lambda params, lr, fused=False: torch.optim.Adam(params, lr=lr, foreach=False))
    clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda p, c, foreach=None: clip(p, c, foreach=False))
    assert run() == fast


def test_fit_takes_a_built_model_too():
    """A built model keeps its initialisation; seeding then fixes the batches and the dropout noise."""
    ops, adj = _tiny_data()
    digests = []
    for _ in range(2):
        torch.manual_seed(11)
        built = _tiny_vae(ops.shape[-1])
        model, _ = fit(built, (ops, adj), vae_loss, epochs=1, batch_size=4, seed=7, grad_clip=1.0, device="cpu")
        assert model is built
        digests.append(state_digest(model))
    assert digests[0] == digests[1]


class _Config:
    def __init__(self, width: int):
        self.width = width

    def identity(self) -> str:
        return f'{{"width": {self.width}}}'

    def config_hash(self) -> str:
        return f"w{self.width}"


def test_train_cached_trains_once_and_leaves_the_random_state_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path))
    ops, adj = _tiny_data()
    cache = CheckpointCache("toy", version=3)
    calls = []

    def train(o, a, device):
        calls.append(len(o))
        return fit(lambda: _tiny_vae(o.shape[-1]), (o, a), vae_loss, epochs=1, batch_size=4, device=device)

    kwargs = dict(name="nb201", build=lambda: _tiny_vae(ops.shape[-1]), train=train, load_data=lambda: (ops, adj),
                  device="cpu")  # fmt: skip
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    first = train_cached(cache, _Config(8), **kwargs)
    assert torch.equal(torch.rand(1), before)
    second = train_cached(cache, _Config(8), **kwargs)
    assert calls == [10] and not first.from_cache and second.from_cache
    assert first.path == second.path == tmp_path / "cache" / "toy" / "nb201-w8.pt"
    assert model_identity(first) == model_identity(second)
    assert model_identity(first)["kind"] == "toy" and model_identity(first)["config_hash"] == "w8"
    assert first.provenance["torch_threads"] == 2
    third = train_cached(cache, _Config(8), data=(ops[:6], adj[:6]), **kwargs)  # other data: another file
    assert calls == [10, 6] and third.data_digest == tensor_digest(ops[:6], adj[:6])
    assert third.path.name == f"nb201-w8-data{third.data_digest}.pt"
    newer = train_cached(CheckpointCache("toy", version=4), _Config(8), **kwargs)  # a new version retrains
    assert calls == [10, 6, 10] and not newer.from_cache
    plain = train_cached(cache, _Config(9), use_cache=False, **kwargs)
    assert plain.path is None and isinstance(plain, Trained)


def test_digests_by_hand():
    assert tensor_digest(torch.zeros(2)) == tensor_digest(torch.zeros(2)) != tensor_digest(torch.ones(2))
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    b.load_state_dict(a.state_dict())
    assert state_digest(a) == state_digest(b)
    with torch.no_grad():
        b.bias.add_(1.0)
    assert state_digest(a) != state_digest(b)


# --------------------------------------------------------------------------- decoding


def test_node_labels_and_edge_matrix():
    ops = torch.tensor([[[0.9, 0.1], [0.2, 0.3], [0.4, 0.6]]])
    assert node_labels(ops).tolist() == [[0, 1, 1]]
    assert node_labels(ops, threshold=0.5).tolist() == [[0, -1, 1]]
    adj = torch.tensor([[[0.7, 0.5, 0.2], [0.9, 0.0, 0.6], [1.0, 1.0, 1.0]]])
    assert edge_matrix(adj).tolist() == [[[0, 1, 0], [0, 0, 1], [0, 0, 0]]]


def test_decode_cells_prunes_dead_nodes_and_rejects_invalid_ones():
    vocab = NB101.vocabulary
    index = {op: i for i, op in enumerate(vocab)}
    labels = torch.tensor([
        [index["input"], index[C3], index[MP], -1, -1, -1, index["output"]],  # node 2 is a dead end
        [index["input"], index["output"], index[MP], -1, -1, -1, index["output"]],  # an inner output: invalid
        [index["input"], -1, -1, -1, -1, -1, -1],  # one node
    ])  # fmt: skip
    edges = torch.zeros(3, 7, 7, dtype=torch.int8)
    edges[:, 0, 1] = edges[:, 1, 6] = edges[:, 1, 2] = 1
    cells = decode_cells(NB101, labels, edges)
    assert cells[0] is not None and cells[0].ops == ("input", C3, "output")
    assert NB101.key(cells[0]) == NB101.key(Cell(np.eye(3, k=1, dtype=int), ["input", C3, "output"]))
    assert cells[1] is None and cells[2] is None


def _snapper():
    space = NB201Space()
    pool = [space.sample(np.random.default_rng(s)) for s in range(4)]
    embeddings = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], dtype=np.float32)
    return space, pool, PoolSnapper(space, pool, embeddings)


def test_snapper_nearest_skips_excluded_cells():
    _, _, snapper = _snapper()
    assert snapper.nearest(np.array([0.9, 0.1])) == 1
    assert snapper.nearest(torch.tensor([[0.9, 0.1]]), exclude=np.array([False, True, False, False])) == 0
    assert snapper.nearest(np.zeros(2), exclude=np.ones(4, dtype=bool)) == -1


def test_snapper_counts_what_it_rejects():
    space, pool, snapper = _snapper()
    outside = next(c for s in range(100, 200) if space.key(c := space.sample(np.random.default_rng(s)))
                   not in {space.key(p) for p in pool})  # fmt: skip
    z = np.array([[2.9, 2.9], [0.0, 0.0], [0.1, 1.9], [1.0, 0.1], [0.0, 0.1]], dtype=np.float32)
    decoded = [pool[2], None, outside, pool[0], pool[2]]
    out = snapper.snap(z, exclude=np.array([True, False, False, False]), decoded=decoded)
    # pool[2] is taken as decoded; the invalid point snaps to the nearest free cell (1), the unmeasured one to
    # the last free cell (3); pool[0] is excluded and pool[2] taken already, and no free cell is left for them.
    assert out.index.tolist() == [2, 1, 3, -1, -1]
    assert out.decoded.tolist() == [True, False, False, False, False]
    assert out.counts == {"decoded": 1, "invalid": 1, "unmeasured": 1, "queried": 2, "snapped": 2, "exhausted": 2}
    assert snapper.counts == out.counts
    again = snapper.snap(z[:1])  # without decoded cells every point snaps
    assert again.index.tolist() == [3] and again.counts == {"snapped": 1}
    assert snapper.counts["snapped"] == 3
    with pytest.raises(ValueError, match="embeddings"):
        PoolSnapper(space, pool, np.zeros((3, 2)))


# --------------------------------------------------------------------------- predictors


def _one_dimensional(n: int = 40, seed: int = 0):
    x = np.linspace(0.0, 1.0, n)[:, None]
    y = np.sin(2 * np.pi * x[:, 0]) + 0.01 * np.random.default_rng(seed).normal(size=n)
    return x, y


@pytest.mark.parametrize("make", [
    lambda: DNGO(hidden=16, epochs=200, rng=0),
    lambda: MLPEnsemble(num_members=3, num_layers=2, layer_width=16, epochs=300, seed=0),
    lambda: GaussianProcess(seed=0),
], ids=["dngo", "mlp_ensemble", "gp"])  # fmt: skip
def test_predictors_fit_a_one_dimensional_function(make):
    x, y = _one_dimensional()
    test = np.linspace(0.0, 1.0, 13)[:, None]
    mean, var = make().fit(x, y).predict(test)
    assert mean.shape == var.shape == (13,)
    assert (var > 0).all()
    assert np.corrcoef(mean, np.sin(2 * np.pi * test[:, 0]))[0, 1] > 0.9


def test_gin_predictor_fits_a_count_of_operations():
    space = NB201Space()
    cells = [space.sample(np.random.default_rng(s)) for s in range(48)]
    ops, adj = encode_dense(space, cells)
    y = np.array([sum(op == "nor_conv_3x3" for op in c.ops) for c in cells], dtype=float)
    predictor = GINPredictor(num_members=2, hidden_dim=16, latent_dim=4, num_layers=2, epochs=40, lr=1e-2, seed=0)
    mean, var = predictor.fit((ops[:40], adj[:40]), y[:40]).predict((ops, adj))
    assert mean.shape == var.shape == (48,)
    assert (var > 0).all()
    assert np.corrcoef(mean[:40], y[:40])[0, 1] > 0.8
    assert predictor.embed((ops, adj)).shape == (48, 4)


def test_mlp_ensemble_members_train_as_if_alone():
    x, y = _one_dimensional(12)
    two = MLPEnsemble(num_members=2, num_layers=1, layer_width=4, epochs=20, seed=5).fit(x, y)
    mean, var = two.predict(x)
    members = two.predict_members(x)
    assert members.shape == (2, 12)
    assert np.array_equal(mean, members.mean(0)) and np.array_equal(np.sqrt(var), members.std(0))


@pytest.mark.parametrize("native", [True, False], ids=["c_kernel", "numpy"])
@pytest.mark.parametrize("num_layers,hidden,batch_size,n", [(1, 128, 10, 37), (1, 128, 10, 31), (1, 9, 1, 5),
                                                            (1, 16, 20, 8), (2, 17, 4, 23), (3, 6, 7, 30)])  # fmt: skip
def test_dngo_is_bit_identical_to_the_code_before_the_speed_work(num_layers, hidden, batch_size, n, native, monkeypatch):
    # neither the C kernel nor the in-place NumPy path may change one bit of the fit or the predictions (issue 13);
    # n = 31 ends each epoch on a batch of one row, n = 8 < batch_size makes one batch per epoch
    monkeypatch.setattr(DNGO, "native", native)
    generator = np.random.default_rng(n)
    x, y = generator.normal(size=(n, 5)), generator.normal(size=n)
    pool = generator.normal(size=(3001, 5))  # pool-sized predictions: BLAS and SIMD paths of a real search
    settings = dict(hidden=hidden, num_layers=num_layers, epochs=15, batch_size=batch_size)
    fast = DNGO(**settings, rng=np.random.default_rng(3)).fit(x, y)
    slow = ReferenceDNGO(**settings, rng=np.random.default_rng(3)).fit(x, y)
    assert len(fast.params) == len(slow.params) == 2 * num_layers + 2
    for a, b in zip(fast.params + [fast.m, fast.vecs, fast.inv], slow.params + [slow.m, slow.vecs, slow.inv]):
        assert np.array_equal(a, b)
    assert fast.beta == slow.beta
    for a, b in zip(fast.predict(pool), slow.predict(pool)):
        assert np.array_equal(a, b)
    assert fast.rng.integers(2**62) == slow.rng.integers(2**62)  # the generator was consumed alike


def test_dngo_c_kernel_builds_and_passes_its_own_check_where_a_compiler_exists():
    import shutil

    from lib.latent import dngo_kernel

    if os.environ.get(dngo_kernel.ENV_VAR) == "0" or not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler here (or LATENT_NAS_NATIVE=0): DNGO trains with NumPy, to the same bits")
    kernel = dngo_kernel.load()
    assert kernel is not None, "the kernel did not build, or disagreed with NumPy (see the warning)"
    assert dngo_kernel._agrees(kernel)


def test_torch_adam_operations_agree_between_their_simd_and_scalar_loops():
    # MLPEnsemble runs Adam once over the flat parameter vector, torch's optimiser once per tensor: the same
    # elementwise operations, but torch computes a tensor's last few elements in a scalar loop, so those must agree
    generator = torch.Generator().manual_seed(0)
    n = 4099
    a, b, d = (torch.randn(n, generator=generator) for _ in range(3))
    c = torch.rand(n, generator=generator) + 0.01
    operations = [
        lambda x, y, z, w: x.lerp_(y, 1 - 0.9),
        lambda x, y, z, w: x.mul_(0.999).addcmul_(y, z, value=1 - 0.999),
        lambda x, y, z, w: w.sqrt().div_(0.3**0.5).add_(1e-8),
        lambda x, y, z, w: x.addcdiv_(y, w, value=-0.0123),
    ]
    for operation in operations:
        whole = operation(*(t.clone() for t in (a, b, d, c)))
        pieces = torch.cat([operation(*(t[i : i + 3].clone() for t in (a, b, d, c))) for i in range(0, n, 3)])
        assert torch.equal(whole, pieces)


@pytest.mark.parametrize("foreach", [True, False], ids=["foreach_adam", "per_parameter_adam"])
def test_mlp_ensemble_is_bit_identical_to_torch_adam(foreach):
    # the direct foreach calls must give torch.optim.Adam's parameters bit for bit (issue 13)
    generator = np.random.default_rng(1)
    x = generator.integers(0, 3, size=(33, 19)).astype(np.float32)
    y = generator.normal(size=33).astype(np.float32)
    settings = dict(num_members=3, num_layers=4, layer_width=13, epochs=40, lr=0.01, seed=7)
    fast = MLPEnsemble(**settings).fit(x, y)
    slow = ReferenceMLPEnsemble(**settings, foreach=foreach).fit(x, y)
    assert all(torch.equal(a, b) for a, b in zip(fast.params, slow.params))
    assert np.array_equal(fast.predict_members(x), slow.predict_members(x))
    assert not torch.equal(fast.params[0], MLPEnsemble(**{**settings, "epochs": 39}).fit(x, y).params[0])


# --------------------------------------------------------------------------- acquisition


def test_top_indices_are_a_stable_argsort_of_the_negated_scores():
    # arch2vec_bo picks its next cells with it: ties, infinities, NaN and signed zeros must rank as argsort ranks them
    assert list(top_indices(np.array([1.0, 3.0, 3.0, -np.inf, 2.0]), 3)) == [1, 2, 4]
    generator = np.random.default_rng(0)
    for trial in range(600):
        n = int(generator.integers(1, 40))
        if trial % 2:
            score = generator.choice([-np.inf, np.inf, np.nan, 0.0, -0.0, 1.0, 2.0, -1.0], size=n)
        else:
            score = np.round(generator.normal(size=n), 1)
        for k in (0, 1, 2, 5, n, n + 3):
            assert np.array_equal(top_indices(score, k), np.argsort(-score, kind="stable")[:k])


def test_expected_improvement_by_hand_and_monotone():
    assert expected_improvement(np.array([0.9]), np.array([0.1]), 0.9)[0] == pytest.approx(0.1 / math.sqrt(2 * math.pi))
    mean = np.linspace(-3.0, 3.0, 61)
    for values in (expected_improvement(mean, np.ones_like(mean), 0.0),
                   log_expected_improvement(mean, np.ones_like(mean), 0.0)):  # fmt: skip
        assert (np.diff(values) > 0).all()
    scale = np.linspace(0.1, 3.0, 30)
    assert (np.diff(expected_improvement(np.zeros(30), scale, 1.0)) > 0).all()  # more uncertainty, more EI
    far = log_expected_improvement(np.array([0.0, 0.1]), np.array([1e-3, 1e-3]), 1.0)  # EI underflows to 0
    assert np.isfinite(far).all() and far[1] > far[0]


def test_upper_confidence_bound_by_hand_and_monotone():
    assert upper_confidence_bound(np.array([1.0]), np.array([2.0]), beta=2.0).tolist() == [3.0]
    assert upper_confidence_bound(np.array([1.0]), np.array([-1e-12])).tolist() == [1.0]  # rounding below zero
    grid = np.linspace(0.0, 1.0, 11)
    assert (np.diff(upper_confidence_bound(grid, np.ones(11))) > 0).all()
    assert (np.diff(upper_confidence_bound(np.ones(11), grid)) > 0).all()


def test_thompson_sample_draws_around_the_mean():
    mean, var = np.array([0.0, 10.0]), np.array([1.0, 0.0])
    a = thompson_sample(mean, var, np.random.default_rng(0))
    assert np.array_equal(a, thompson_sample(mean, var, np.random.default_rng(0)))
    assert a[1] == pytest.approx(10.0, abs=1e-7)  # no variance: the mean (up to the jitter)
    draws = np.array([thompson_sample(mean, var, np.random.default_rng(s))[0] for s in range(2000)])
    assert abs(draws.mean()) < 0.1 and abs(draws.std() - 1.0) < 0.1


# --------------------------------------------------------------------------- encodings and spaces


def test_adjacency_encoding_by_hand():
    ops = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
    adj = np.array([[[0.0, 1.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]])
    assert adjacency_encoding(ops, adj).tolist() == [[1, 0, 0, 1, 1, 0, 1, 1, 1]]
    cells = [NB201Space().sample(np.random.default_rng(s)) for s in range(3)]
    o, a = encode_dense(NB201Space(), cells)
    assert np.array_equal(adjacency_encoding(o, a), adjacency_encoding(o.numpy(), a.numpy()))
    assert adjacency_encoding(o, a).dtype == np.float32


def test_pretraining_tensors_of_an_enumerated_and_a_sampled_space(tmp_path, monkeypatch):
    space = NB201Space()
    ops, adj = space.pretraining_tensors(num_cells=5)
    first = list(space.enumerate())[:5]
    expected = encode_dense(space, first)
    assert torch.equal(ops, expected[0]) and torch.equal(adj, expected[1])
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path))
    darts = DartsSpace()
    drawn = darts.pretraining_tensors(num_cells=4, seed=1)
    assert drawn[0].shape == (4, darts.max_nodes, len(darts.vocabulary))
    cached = darts.pretraining_tensors(num_cells=4, seed=1)  # read back from the cache file
    assert (tmp_path / "cache" / "darts_sample_4_1.npz").exists()
    assert torch.equal(cached[0], drawn[0]) and torch.equal(cached[1], drawn[1])


# --------------------------------------------------------------------------- discovery


def test_a_method_in_a_new_package_is_found_by_name_in_a_fresh_process(tmp_path):
    package = tmp_path / "toy_latent"
    package.mkdir()
    (package / "__init__.py").write_text('"""A latent method that does not exist in the repository."""\n')
    (package / "search.py").write_text(textwrap.dedent('''
        from lib.search import register_method

        @register_method("toy_latent_method")
        class Toy:
            version = 1

            def search(self, oracle, rng):
                pass
    '''))
    script = textwrap.dedent(f'''
        import lib
        lib.__path__.append({str(tmp_path)!r})  # a subpackage of lib, without touching the repository
        from lib.search import get_method, registry
        assert "lib.toy_latent.search" in registry.method_modules()
        print(get_method("toy_latent_method").__module__)
    ''')
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "lib.toy_latent.search"
